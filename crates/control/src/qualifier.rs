//! What a qualifier names: `$LATEST`, a published version, or an alias.

use crate::ControlError;
use regex::Regex;
use std::sync::LazyLock;

/// Lambda's pattern for alias names: not all digits.
pub const ALIAS_PATTERN: &str = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)";
static ALIAS_CHARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_-]+$").expect("static pattern"));

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Latest,
    Version(u32),
    Alias(String),
}

impl Target {
    pub fn of(qualifier: Option<&str>) -> Target {
        match qualifier {
            None | Some("$LATEST") => Target::Latest,
            Some(q) => match q.parse::<u32>() {
                Ok(n) if q.bytes().all(|b| b.is_ascii_digit()) => Target::Version(n),
                _ => Target::Alias(q.to_owned()),
            },
        }
    }
}

/// Checks an alias name against Lambda's rules (1–128 characters, not all digits).
pub fn alias_name(name: &str) -> Result<(), ControlError> {
    let all_digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
    if name.is_empty() || name.len() > 128 || all_digits || !ALIAS_CHARS.is_match(name) {
        return Err(ControlError::constraint(
            name,
            "name",
            &format!("Member must satisfy regular expression pattern: {ALIAS_PATTERN}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers() {
        assert_eq!(Target::of(None), Target::Latest);
        assert_eq!(Target::of(Some("$LATEST")), Target::Latest);
        assert_eq!(Target::of(Some("3")), Target::Version(3));
        assert_eq!(Target::of(Some("prod")), Target::Alias("prod".into()));
        assert!(alias_name("2024").is_err());
        assert!(alias_name("prod-1_a").is_ok());
        assert!(alias_name("bad!").is_err());
    }
}
