//! Event invoke configuration (Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s)): how
//! asynchronous invocations of `$LATEST`, a version or an alias are retried and where their
//! results go, with Lambda's validation order and messages. [`FunctionService::async_settings`] is
//! what the asynchronous invocation engine reads when it processes an event.

use crate::ControlError;
use crate::names::{FunctionRef, NameUse};
use crate::qualifier::Target;
use crate::service::FunctionService;
use chrono::{DateTime, Utc};
use lambent_store::{EventInvokeConfigRecord, FunctionRecord};
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// Lambda's defaults when a member is not configured.
pub const DEFAULT_MAXIMUM_RETRY_ATTEMPTS: u32 = 2;
pub const DEFAULT_MAXIMUM_EVENT_AGE_SECONDS: u32 = 21_600;
/// ListFunctionEventInvokeConfigs returns at most this many per page.
const MAX_LIST_ITEMS: usize = 50;

/// The API model's pattern for a destination (an empty string is allowed and means "none").
const DESTINATION_PATTERN: &str = r"$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
static DESTINATION: LazyLock<Regex> = LazyLock::new(|| {
    // A compile-time constant covered by the tests below.
    Regex::new(&format!("^(?:{DESTINATION_PATTERN})$")).expect("static destination pattern")
});

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfigInput {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    pub destination_config: Option<DestinationConfigInput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfigInput {
    pub on_success: Option<DestinationInput>,
    pub on_failure: Option<DestinationInput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationInput {
    pub destination: Option<String>,
}

/// One configuration as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct EventInvokeConfigView {
    /// The qualified ARN (`…:function:NAME:$LATEST`, `:1`, `:alias`).
    pub function_arn: String,
    pub last_modified: DateTime<Utc>,
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_seconds: Option<u32>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
}

/// What the asynchronous invocation engine needs to process one event: the configuration of the
/// qualifier the event was sent to, with Lambda's defaults filled in, and the dead-letter queue of
/// the version that runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncSettings {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age_seconds: u32,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub dead_letter_target_arn: Option<String>,
    pub reserved_concurrency: Option<u32>,
}

/// Put replaces the configuration; Update changes only the members it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Put,
    Update,
}

impl FunctionService {
    pub async fn put_event_invoke_config(
        &self,
        reference: &FunctionRef,
        input: &EventInvokeConfigInput,
    ) -> Result<EventInvokeConfigView, ControlError> {
        self.write_event_invoke_config(reference, input, Write::Put)
            .await
    }

    pub async fn update_event_invoke_config(
        &self,
        reference: &FunctionRef,
        input: &EventInvokeConfigInput,
    ) -> Result<EventInvokeConfigView, ControlError> {
        self.write_event_invoke_config(reference, input, Write::Update)
            .await
    }

    pub async fn get_event_invoke_config(
        &self,
        reference: &FunctionRef,
    ) -> Result<EventInvokeConfigView, ControlError> {
        let key = qualifier_key(reference);
        let record = self
            .record(reference)
            .await
            .map_err(|_| self.no_config(reference))?;
        record
            .event_invoke_configs
            .get(&key)
            .map(|config| self.config_view(&record.name, &key, config))
            .ok_or_else(|| self.no_config(reference))
    }

    pub async fn delete_event_invoke_config(
        &self,
        reference: &FunctionRef,
    ) -> Result<(), ControlError> {
        let key = qualifier_key(reference);
        self.record(reference)
            .await
            .map_err(|_| self.no_config(reference))?;
        self.mutate(reference, |current| {
            if !target_exists(current, &key) || !current.event_invoke_configs.contains_key(&key) {
                return Err(self.no_config(reference));
            }
            let mut next = current.clone();
            next.event_invoke_configs.remove(&key);
            Ok((next, ()))
        })
        .await
        .map_err(|e| match e {
            ControlError::ResourceNotFound(_) => self.no_config(reference),
            other => other,
        })?;
        Ok(())
    }

    /// One page of a function's configurations ($LATEST, then versions, then aliases) and the
    /// marker of the next page.
    pub async fn list_event_invoke_configs(
        &self,
        reference: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<EventInvokeConfigView>, Option<String>), ControlError> {
        let limit = match max_items {
            None => MAX_LIST_ITEMS,
            Some(n) => in_range(n, "maxItems", 1, MAX_LIST_ITEMS as i64)? as usize,
        };
        let unqualified = FunctionRef {
            name: reference.name.clone(),
            qualifier: None,
        };
        let record = self
            .record(&unqualified)
            .await
            .map_err(|_| function_does_not_exist())?;
        let mut keys: Vec<&String> = record
            .event_invoke_configs
            .keys()
            .filter(|key| target_exists(&record, key))
            .collect();
        keys.sort_by_key(|key| list_order(key));
        let start = match marker {
            Some(m) => keys.iter().position(|k| k.as_str() == m).ok_or_else(|| {
                ControlError::InvalidParameterValue("Invalid marker value.".into())
            })?,
            None => 0,
        };
        let page: Vec<EventInvokeConfigView> = keys
            .iter()
            .skip(start)
            .take(limit)
            .filter_map(|key| {
                record
                    .event_invoke_configs
                    .get(*key)
                    .map(|c| self.config_view(&record.name, key, c))
            })
            .collect();
        let next = keys.get(start + limit).map(|k| (*k).clone());
        Ok((page, next))
    }

    /// The settings for processing an event sent to `invoked_qualifier` and run on
    /// `executed_version`; `None` once the function (or that qualifier) no longer exists.
    pub async fn async_settings(
        &self,
        function: &str,
        invoked_qualifier: &str,
        executed_version: &str,
    ) -> Result<Option<AsyncSettings>, ControlError> {
        let reference = FunctionRef {
            name: function.to_owned(),
            qualifier: Some(invoked_qualifier.to_owned()),
        };
        let record = match self.record(&reference).await {
            Ok(record) => record,
            Err(ControlError::ResourceNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let config = record.event_invoke_configs.get(invoked_qualifier);
        let dead_letter_target_arn = match Target::of(Some(executed_version)) {
            Target::Version(n) => record
                .versions
                .get(&n)
                .and_then(|v| v.config.dead_letter_target_arn.clone()),
            _ => record.config.dead_letter_target_arn.clone(),
        };
        Ok(Some(AsyncSettings {
            maximum_retry_attempts: config
                .and_then(|c| c.maximum_retry_attempts)
                .unwrap_or(DEFAULT_MAXIMUM_RETRY_ATTEMPTS),
            maximum_event_age_seconds: config
                .and_then(|c| c.maximum_event_age_seconds)
                .unwrap_or(DEFAULT_MAXIMUM_EVENT_AGE_SECONDS),
            on_success: config.and_then(|c| c.on_success.clone()),
            on_failure: config.and_then(|c| c.on_failure.clone()),
            dead_letter_target_arn,
            reserved_concurrency: record.reserved_concurrency,
        }))
    }

    async fn write_event_invoke_config(
        &self,
        reference: &FunctionRef,
        input: &EventInvokeConfigInput,
        write: Write,
    ) -> Result<EventInvokeConfigView, ControlError> {
        if input.maximum_retry_attempts.is_none()
            && input.maximum_event_age_in_seconds.is_none()
            && input.destination_config.is_none()
        {
            return Err(ControlError::InvalidParameterValue(
                "You must specify at least one of error handling or destination setting.".into(),
            ));
        }
        let retries = input
            .maximum_retry_attempts
            .map(|n| in_range(n, "maximumRetryAttempts", 0, 2))
            .transpose()?;
        let age = input
            .maximum_event_age_in_seconds
            .map(|n| in_range(n, "maximumEventAgeInSeconds", 60, 21_600))
            .transpose()?;
        let destinations = input.destination_config.as_ref();
        let on_success = destination_of(destinations.and_then(|d| d.on_success.as_ref()));
        let on_failure = destination_of(destinations.and_then(|d| d.on_failure.as_ref()));
        check_pattern(
            on_success.as_deref(),
            "destinationConfig.onSuccess.destination",
        )?;
        check_pattern(
            on_failure.as_deref(),
            "destinationConfig.onFailure.destination",
        )?;

        let key = qualifier_key(reference);
        let record = self
            .record(reference)
            .await
            .map_err(|_| function_does_not_exist())?;
        for destination in [&on_success, &on_failure].into_iter().flatten() {
            self.check_destination(&record, destination, destinations)
                .await?;
        }
        let (next, ()) = self
            .mutate(reference, |current| {
                if !target_exists(current, &key) {
                    return Err(function_does_not_exist());
                }
                let existing = current.event_invoke_configs.get(&key);
                let config = match (write, existing) {
                    (Write::Put, _) => EventInvokeConfigRecord {
                        maximum_retry_attempts: retries,
                        maximum_event_age_seconds: age,
                        on_success: on_success.clone(),
                        on_failure: on_failure.clone(),
                        last_modified: Utc::now(),
                    },
                    (Write::Update, None) => return Err(self.no_config(reference)),
                    (Write::Update, Some(old)) => EventInvokeConfigRecord {
                        maximum_retry_attempts: retries.or(old.maximum_retry_attempts),
                        maximum_event_age_seconds: age.or(old.maximum_event_age_seconds),
                        on_success: match destinations.and_then(|d| d.on_success.as_ref()) {
                            Some(_) => on_success.clone(),
                            None => old.on_success.clone(),
                        },
                        on_failure: match destinations.and_then(|d| d.on_failure.as_ref()) {
                            Some(_) => on_failure.clone(),
                            None => old.on_failure.clone(),
                        },
                        last_modified: Utc::now(),
                    },
                };
                let mut next = current.clone();
                next.event_invoke_configs.insert(key.clone(), config);
                Ok((next, ()))
            })
            .await
            .map_err(|e| match e {
                ControlError::ResourceNotFound(m) if m.starts_with("Function not found") => {
                    function_does_not_exist()
                }
                other => other,
            })?;
        next.event_invoke_configs
            .get(&key)
            .map(|c| self.config_view(&next.name, &key, c))
            .ok_or_else(|| ControlError::Internal("configuration vanished after writing".into()))
    }

    /// A destination must be a function other than this one that exists, or a queue.
    async fn check_destination(
        &self,
        record: &FunctionRecord,
        destination: &str,
        config: Option<&DestinationConfigInput>,
    ) -> Result<(), ControlError> {
        let service = destination.split(':').nth(2).unwrap_or_default();
        match service {
            "lambda" => {
                let invalid = || {
                    ControlError::InvalidParameterValue(format!(
                        "The destination ARN {destination} is invalid."
                    ))
                };
                let target = FunctionRef::parse(destination, None, NameUse::Lookup, &self.account)
                    .map_err(|_| invalid())?;
                if target.name == record.name {
                    return Err(ControlError::InvalidParameterValue(
                        "You can't specify the function as a destination for itself.".into(),
                    ));
                }
                self.record(&target).await.map_err(|_| invalid())?;
                Ok(())
            }
            "sqs" => Ok(()),
            _ => Err(ControlError::InvalidParameterValue(format!(
                "The provided destination config {} is invalid.",
                describe_destinations(config)
            ))),
        }
    }

    fn config_view(
        &self,
        function: &str,
        key: &str,
        config: &EventInvokeConfigRecord,
    ) -> EventInvokeConfigView {
        EventInvokeConfigView {
            function_arn: self.account.qualified_arn(function, Some(key)),
            last_modified: config.last_modified,
            maximum_retry_attempts: config.maximum_retry_attempts,
            maximum_event_age_seconds: config.maximum_event_age_seconds,
            on_success: config.on_success.clone(),
            on_failure: config.on_failure.clone(),
        }
    }

    /// Lambda's not-found error for Get, Delete and Update, naming the qualified ARN.
    fn no_config(&self, reference: &FunctionRef) -> ControlError {
        ControlError::ResourceNotFound(format!(
            "The function {} doesn't have an EventInvokeConfig",
            self.account
                .qualified_arn(&reference.name, Some(&qualifier_key(reference)))
        ))
    }
}

/// Put, Update and List on a missing function (or qualifier) answer this, unlike Get and Delete.
fn function_does_not_exist() -> ControlError {
    ControlError::ResourceNotFound("The function doesn't exist.".into())
}

fn qualifier_key(reference: &FunctionRef) -> String {
    reference
        .qualifier
        .clone()
        .unwrap_or_else(|| "$LATEST".into())
}

/// Whether the qualifier a configuration is keyed by still exists (a deleted alias or version
/// takes its configuration with it).
fn target_exists(record: &FunctionRecord, key: &str) -> bool {
    match Target::of(Some(key)) {
        Target::Latest => true,
        Target::Version(n) => record.versions.contains_key(&n),
        Target::Alias(a) => record.aliases.contains_key(&a),
    }
}

/// `$LATEST` first, then versions by number, then aliases by name.
fn list_order(key: &str) -> (u8, u64, String) {
    match Target::of(Some(key)) {
        Target::Latest => (0, 0, String::new()),
        Target::Version(n) => (1, u64::from(n), String::new()),
        Target::Alias(a) => (2, 0, a),
    }
}

/// An empty destination (or `{}`) means "no destination".
fn destination_of(input: Option<&DestinationInput>) -> Option<String> {
    input
        .and_then(|d| d.destination.clone())
        .filter(|d| !d.is_empty())
}

fn check_pattern(destination: Option<&str>, member: &str) -> Result<(), ControlError> {
    match destination {
        Some(d) if !DESTINATION.is_match(d) => Err(ControlError::constraint(
            d,
            member,
            &format!("Member must satisfy regular expression pattern: {DESTINATION_PATTERN}"),
        )),
        _ => Ok(()),
    }
}

fn in_range(value: i64, member: &str, min: i64, max: i64) -> Result<u32, ControlError> {
    let constraint = if value < min {
        format!("Member must have value greater than or equal to {min}")
    } else if value > max {
        format!("Member must have value less than or equal to {max}")
    } else {
        return u32::try_from(value)
            .map_err(|_| ControlError::Internal("integer out of range".into()));
    };
    Err(ControlError::constraint(
        &value.to_string(),
        member,
        &constraint,
    ))
}

/// The Java-style rendering Lambda quotes in its "invalid destination config" message.
fn describe_destinations(config: Option<&DestinationConfigInput>) -> String {
    let side = |kind: &str, input: Option<&DestinationInput>| match input {
        None => "null".to_owned(),
        Some(d) => format!(
            "{kind}(destination={})",
            d.destination.as_deref().unwrap_or("null")
        ),
    };
    format!(
        "DestinationConfig(onSuccess={}, onFailure={})",
        side("OnSuccess", config.and_then(|c| c.on_success.as_ref())),
        side("OnFailure", config.and_then(|c| c.on_failure.as_ref()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_pattern_matches_what_lambda_accepts() {
        assert!(DESTINATION.is_match("arn:aws:sqs:us-east-1:000000000000:q"));
        assert!(DESTINATION.is_match("arn:aws:lambda:us-east-1:000000000000:function:f"));
        assert!(DESTINATION.is_match(""));
        assert!(!DESTINATION.is_match("arn:aws:_-/!lambda:us-east-1:000000000000:function:f"));
        assert!(!DESTINATION.is_match("not-an-arn"));
    }

    #[test]
    fn ranges_and_descriptions() {
        assert!(in_range(3, "maximumRetryAttempts", 0, 2).is_err());
        assert_eq!(in_range(2, "maximumRetryAttempts", 0, 2).ok(), Some(2));
        assert!(in_range(59, "maximumEventAgeInSeconds", 60, 21_600).is_err());
        let config = DestinationConfigInput {
            on_success: Some(DestinationInput {
                destination: Some("arn:aws:iam::1:x".into()),
            }),
            on_failure: None,
        };
        assert_eq!(
            describe_destinations(Some(&config)),
            "DestinationConfig(onSuccess=OnSuccess(destination=arn:aws:iam::1:x), onFailure=null)"
        );
        let mut keys = vec!["prod", "10", "$LATEST", "2"];
        keys.sort_by_key(|k| list_order(k));
        assert_eq!(keys, vec!["$LATEST", "2", "10", "prod"]);
    }
}
