//! Queue attributes: the settable ones are kept as SQS renders them (strings), so Get, Set and
//! CreateQueue's "same attributes?" comparison need no conversions; typed accessors parse them.

use crate::QueueError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest message SQS accepts (1 MiB since 2025), and the default of `MaximumMessageSize`.
pub const MAX_MESSAGE_SIZE: u32 = 1_048_576;

/// Attributes a queue owner may set, with their ranges (`None`: free text or enumerated).
const SETTABLE: &[(&str, Option<(u64, u64)>)] = &[
    ("DelaySeconds", Some((0, 900))),
    ("MaximumMessageSize", Some((1024, MAX_MESSAGE_SIZE as u64))),
    ("MessageRetentionPeriod", Some((60, 1_209_600))),
    ("ReceiveMessageWaitTimeSeconds", Some((0, 20))),
    ("VisibilityTimeout", Some((0, 43_200))),
    ("KmsDataKeyReusePeriodSeconds", Some((60, 86_400))),
    ("Policy", None),
    ("RedrivePolicy", None),
    ("RedriveAllowPolicy", None),
    ("KmsMasterKeyId", None),
    ("SqsManagedSseEnabled", None),
    ("FifoQueue", None),
    ("ContentBasedDeduplication", None),
    ("DeduplicationScope", None),
    ("FifoThroughputLimit", None),
];

/// Only FIFO queues know these.
const FIFO_ONLY: &[&str] = &[
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Computed on read, never set.
pub const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// `RedrivePolicy`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueAttributes(pub BTreeMap<String, String>);

impl QueueAttributes {
    /// SQS's defaults for a new queue.
    pub fn defaults(fifo: bool) -> Self {
        let mut map = BTreeMap::new();
        for (name, value) in [
            ("DelaySeconds", "0"),
            ("MaximumMessageSize", "1048576"),
            ("MessageRetentionPeriod", "345600"),
            ("ReceiveMessageWaitTimeSeconds", "0"),
            ("VisibilityTimeout", "30"),
            ("SqsManagedSseEnabled", "true"),
        ] {
            map.insert(name.to_owned(), value.to_owned());
        }
        if fifo {
            for (name, value) in [
                ("FifoQueue", "true"),
                ("ContentBasedDeduplication", "false"),
                ("DeduplicationScope", "queue"),
                ("FifoThroughputLimit", "perQueue"),
            ] {
                map.insert(name.to_owned(), value.to_owned());
            }
        }
        Self(map)
    }

    fn number(&self, name: &str, default: u32) -> u32 {
        self.0
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub fn is_fifo(&self) -> bool {
        self.0.get("FifoQueue").is_some_and(|v| v == "true")
    }

    pub fn content_based_deduplication(&self) -> bool {
        self.0
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v == "true")
    }

    /// Deduplication per message group instead of per queue.
    pub fn dedup_per_group(&self) -> bool {
        self.0
            .get("DeduplicationScope")
            .is_some_and(|v| v == "messageGroup")
    }

    pub fn delay_seconds(&self) -> u32 {
        self.number("DelaySeconds", 0)
    }

    pub fn maximum_message_size(&self) -> u32 {
        self.number("MaximumMessageSize", MAX_MESSAGE_SIZE)
    }

    pub fn retention_seconds(&self) -> u32 {
        self.number("MessageRetentionPeriod", 345_600)
    }

    pub fn receive_wait_seconds(&self) -> u32 {
        self.number("ReceiveMessageWaitTimeSeconds", 0)
    }

    pub fn visibility_timeout(&self) -> u32 {
        self.number("VisibilityTimeout", 30)
    }

    pub fn redrive_policy(&self) -> Option<RedrivePolicy> {
        self.0
            .get("RedrivePolicy")
            .and_then(|raw| parse_redrive_policy(raw).ok())
    }

    /// Validates `changes` against this queue's type and merges them in. An empty
    /// `RedrivePolicy` or `Policy` removes it.
    pub fn apply(
        &mut self,
        changes: &BTreeMap<String, String>,
        creating: bool,
    ) -> Result<(), QueueError> {
        let fifo = self.is_fifo();
        for (name, value) in changes {
            let normalized = normalize(name, value, fifo, creating)?;
            match normalized {
                Some(value) => self.0.insert(name.clone(), value),
                None => self.0.remove(name),
            };
        }
        Ok(())
    }
}

/// Validates one attribute and returns the value as SQS stores it (`None`: remove it).
pub fn normalize(
    name: &str,
    value: &str,
    fifo: bool,
    creating: bool,
) -> Result<Option<String>, QueueError> {
    let unknown = || QueueError::InvalidAttributeName(format!("Unknown Attribute {name}."));
    let invalid =
        || QueueError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."));
    let Some((_, range)) = SETTABLE.iter().find(|(n, _)| *n == name) else {
        return Err(unknown());
    };
    if !fifo && FIFO_ONLY.contains(&name) {
        return Err(unknown());
    }
    if let Some((low, high)) = range {
        let number: u64 = value.trim().parse().map_err(|_| invalid())?;
        if number < *low || number > *high {
            return Err(invalid());
        }
        return Ok(Some(number.to_string()));
    }
    match name {
        "FifoQueue" => {
            if !creating {
                return Err(QueueError::InvalidAttributeValue(
                    "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is \
                     not supported."
                        .into(),
                ));
            }
            boolean(value).ok_or_else(invalid).map(Some)
        }
        "ContentBasedDeduplication" | "SqsManagedSseEnabled" => {
            boolean(value).ok_or_else(invalid).map(Some)
        }
        "DeduplicationScope" => match value {
            "messageGroup" | "queue" => Ok(Some(value.to_owned())),
            _ => Err(invalid()),
        },
        "FifoThroughputLimit" => match value {
            "perQueue" | "perMessageGroupId" => Ok(Some(value.to_owned())),
            _ => Err(invalid()),
        },
        "RedrivePolicy" => {
            if value.is_empty() {
                return Ok(None);
            }
            let policy = parse_redrive_policy(value).map_err(|reason| {
                QueueError::InvalidParameterValue(format!(
                    "Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
                ))
            })?;
            Ok(Some(render_redrive_policy(&policy)))
        }
        "Policy" | "RedriveAllowPolicy" => {
            if value.is_empty() {
                return Ok(None);
            }
            serde_json::from_str::<serde_json::Value>(value).map_err(|_| invalid())?;
            Ok(Some(value.to_owned()))
        }
        _ => Ok(Some(value.to_owned())),
    }
}

fn boolean(value: &str) -> Option<String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Some("true".into()),
        "false" => Some("false".into()),
        _ => None,
    }
}

/// Parses `{"deadLetterTargetArn": ARN, "maxReceiveCount": N}` (N as number or string).
pub fn parse_redrive_policy(raw: &str) -> Result<RedrivePolicy, String> {
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|_| "Redrive policy is not a valid JSON map.".to_owned())?;
    let object = value
        .as_object()
        .ok_or_else(|| "Redrive policy is not a valid JSON map.".to_owned())?;
    let arn = object
        .get("deadLetterTargetArn")
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.".to_owned()
        })?;
    let count = match object.get("maxReceiveCount") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        None => {
            return Err(
                "Redrive policy does not contain mandatory attribute: maxReceiveCount.".into(),
            );
        }
        _ => None,
    };
    let count = count.filter(|c| (1..=1000).contains(c)).ok_or_else(|| {
        format!(
            "Invalid value for maxReceiveCount: {}, valid values are from 1 to 1000 both inclusive.",
            object.get("maxReceiveCount").map(|v| v.to_string()).unwrap_or_default()
        )
    })?;
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn.to_owned(),
        max_receive_count: count as u32,
    })
}

fn render_redrive_policy(policy: &RedrivePolicy) -> String {
    serde_json::json!({
        "deadLetterTargetArn": policy.dead_letter_target_arn,
        "maxReceiveCount": policy.max_receive_count,
    })
    .to_string()
}

/// Whether `name` may be asked for in GetQueueAttributes.
pub fn is_readable(name: &str) -> bool {
    name == "All" || COMPUTED.contains(&name) || SETTABLE.iter().any(|(n, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_names_are_checked() {
        let mut attrs = QueueAttributes::defaults(false);
        let mut change = BTreeMap::new();
        change.insert("VisibilityTimeout".to_owned(), "43201".to_owned());
        assert!(matches!(
            attrs.apply(&change, false),
            Err(QueueError::InvalidAttributeValue(_))
        ));
        change.clear();
        change.insert("ContentBasedDeduplication".to_owned(), "true".to_owned());
        assert!(matches!(
            attrs.apply(&change, false),
            Err(QueueError::InvalidAttributeName(_))
        ));
        change.clear();
        change.insert("VisibilityTimeout".to_owned(), "5".to_owned());
        attrs.apply(&change, false).unwrap();
        assert_eq!(attrs.visibility_timeout(), 5);
    }

    #[test]
    fn redrive_policy_accepts_string_counts_and_renders_numbers() {
        let policy = normalize(
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":"3"}"#,
            false,
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            policy,
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":3}"#
        );
        assert!(
            normalize(
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"a","maxReceiveCount":0}"#,
                false,
                true
            )
            .is_err()
        );
    }
}
