//! Tags: belong to the unqualified function ARN, at most 50 per function.

use crate::ControlError;
use crate::names::{Account, FunctionRef, NameUse};
use std::collections::BTreeMap;

const MAX_TAGS: usize = 50;

/// The API model's pattern for taggable resources.
const RESOURCE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})";
static RESOURCE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(&format!("^(?:{RESOURCE_PATTERN})$")).expect("static pattern")
});

/// The function a tagging call names. Lambda accepts only a function ARN here, never a qualified one.
pub(crate) fn resource(arn: &str, account: &Account) -> Result<FunctionRef, ControlError> {
    if !RESOURCE.is_match(arn) {
        return Err(ControlError::constraint(
            arn,
            "resource",
            &format!("Member must satisfy regular expression pattern: {RESOURCE_PATTERN}"),
        ));
    }
    let reference = FunctionRef::parse(arn, None, NameUse::Lookup, account)?;
    if reference.qualifier.is_some() {
        return Err(ControlError::InvalidParameterValue(
            "Tags on function aliases and versions are not supported. Please specify a function ARN."
                .into(),
        ));
    }
    Ok(reference)
}

pub(crate) fn validate(tags: &BTreeMap<String, String>) -> Result<(), ControlError> {
    if tags.len() > MAX_TAGS {
        return Err(ControlError::InvalidParameterValue(
            "Number of tags exceeds resource tag limit.".into(),
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(ControlError::InvalidParameterValue(format!(
                "Tag key '{key}' must be between 1 and 128 characters long."
            )));
        }
        if key.starts_with("aws:") {
            return Err(ControlError::InvalidParameterValue(format!(
                "Tag key '{key}' uses the reserved prefix 'aws:'."
            )));
        }
        if value.chars().count() > 256 {
            return Err(ControlError::InvalidParameterValue(format!(
                "The value of tag '{key}' must be at most 256 characters long."
            )));
        }
    }
    Ok(())
}
