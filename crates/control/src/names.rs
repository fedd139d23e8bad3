//! Function names as Lambda accepts them: `NAME`, `NAME:QUALIFIER`, the partial ARN
//! `ACCOUNT:function:NAME[:QUALIFIER]` and the full ARN
//! `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.

use crate::ControlError;
use regex::Regex;
use std::sync::LazyLock;

/// The API model's pattern for names of existing functions (dots allowed, `$LATEST.PUBLISHED`).
const LOOKUP_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";
/// The stricter pattern CreateFunction applies.
const CREATE_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";
const QUALIFIER_PATTERN: &str = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+";

static LOOKUP: LazyLock<Regex> = LazyLock::new(|| anchored(LOOKUP_PATTERN));
static CREATE: LazyLock<Regex> = LazyLock::new(|| anchored(CREATE_PATTERN));
static QUALIFIER: LazyLock<Regex> = LazyLock::new(|| anchored(QUALIFIER_PATTERN));

fn anchored(pattern: &str) -> Regex {
    // The patterns are compile-time constants covered by the tests below.
    Regex::new(&format!("^(?:{pattern})$")).expect("static function-name pattern")
}

/// The account and region this server answers for; ARNs naming others do not resolve.
#[derive(Clone, Debug)]
pub struct Account {
    pub region: String,
    pub account_id: String,
}

impl Account {
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }

    pub fn qualified_arn(&self, name: &str, qualifier: Option<&str>) -> String {
        match qualifier {
            Some(q) => format!("{}:{q}", self.function_arn(name)),
            None => self.function_arn(name),
        }
    }
}

/// A parsed reference to a function, with the qualifier from the name or the `Qualifier` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    pub qualifier: Option<String>,
}

/// Which operation the name is for: CreateFunction applies a stricter pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameUse {
    Create,
    Lookup,
}

impl FunctionRef {
    pub fn parse(
        input: &str,
        qualifier_param: Option<&str>,
        usage: NameUse,
        account: &Account,
    ) -> Result<FunctionRef, ControlError> {
        let (pattern, source) = match usage {
            NameUse::Create => (&*CREATE, CREATE_PATTERN),
            NameUse::Lookup => (&*LOOKUP, LOOKUP_PATTERN),
        };
        if input.chars().count() > 140 {
            return Err(ControlError::constraint(
                input,
                "functionName",
                "Member must have length less than or equal to 140",
            ));
        }
        let Some(caps) = pattern.captures(input) else {
            return Err(ControlError::constraint(
                input,
                "functionName",
                &format!("Member must satisfy regular expression pattern: {source}"),
            ));
        };
        if let Some(q) = qualifier_param {
            if q.chars().count() > 128 {
                return Err(ControlError::constraint(
                    q,
                    "qualifier",
                    "Member must have length less than or equal to 128",
                ));
            }
            if !QUALIFIER.is_match(q) {
                return Err(ControlError::constraint(
                    q,
                    "qualifier",
                    &format!("Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}"),
                ));
            }
        }
        let name = caps.get(11).map_or("", |m| m.as_str()).to_owned();
        let from_name = caps.get(13).map(|m| m.as_str().to_owned());
        let region = caps.get(3).map(|m| m.as_str().trim_end_matches(':'));
        let account_id = caps.get(9).map(|m| m.as_str().trim_end_matches(':'));
        let qualifier = match (from_name, qualifier_param) {
            (Some(a), Some(b)) if a != b => {
                return Err(ControlError::InvalidParameterValue(
                    "The derived qualifier from the function name does not match the specified \
                     qualifier."
                        .into(),
                ));
            }
            (Some(a), _) => Some(a),
            (None, b) => b.map(str::to_owned),
        };
        if let Some(region) = region
            && region != account.region
        {
            return Err(ControlError::ResourceNotFound(format!(
                "Functions from '{region}' are not reachable in this region ('{}')",
                account.region
            )));
        }
        let reference = FunctionRef { name, qualifier };
        if usage == NameUse::Create && reference.name.len() > 64 {
            return Err(ControlError::InvalidParameterValue(format!(
                "Value '{}' at 'functionName' failed to satisfy constraint: Member must have \
                 length less than or equal to 64",
                reference.name
            )));
        }
        if account_id.is_some_and(|a| a != account.account_id) || reference.name.len() > 64 {
            return Err(reference.not_found(account));
        }
        Ok(reference)
    }

    /// The same reference with an absent qualifier made explicit: an unqualified invocation runs
    /// `$LATEST`, and Lambda's errors then name it.
    pub fn or_latest(&self) -> FunctionRef {
        FunctionRef {
            name: self.name.clone(),
            qualifier: Some(self.qualifier.clone().unwrap_or_else(|| "$LATEST".into())),
        }
    }

    /// Lambda's "Function not found" error for this reference.
    pub fn not_found(&self, account: &Account) -> ControlError {
        ControlError::ResourceNotFound(format!(
            "Function not found: {}",
            account.qualified_arn(&self.name, self.qualifier.as_deref())
        ))
    }

    /// Only `$LATEST` exists until versions are published; any other qualifier names nothing.
    pub fn require_latest(&self, account: &Account) -> Result<(), ControlError> {
        match self.qualifier.as_deref() {
            None | Some("$LATEST") => Ok(()),
            Some(_) => Err(self.not_found(account)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }

    fn parse(input: &str, q: Option<&str>) -> Result<FunctionRef, ControlError> {
        FunctionRef::parse(input, q, NameUse::Lookup, &account())
    }

    #[test]
    fn accepts_every_form_lambda_accepts() {
        for input in [
            "f",
            "000000000000:function:f",
            "function:f",
            "arn:aws:lambda:us-east-1:000000000000:function:f",
        ] {
            assert_eq!(parse(input, None).expect(input).name, "f");
        }
        let r = parse(
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
            None,
        )
        .expect("qualified");
        assert_eq!(r.qualifier.as_deref(), Some("$LATEST"));
        assert_eq!(
            parse("f:prod", None).expect("alias").qualifier.as_deref(),
            Some("prod")
        );
    }

    #[test]
    fn refuses_what_lambda_refuses() {
        for bad in [
            "*",
            "my-function!",
            "function:f:$LATEST:extra",
            "arn:aws:lambda::000000000000:function:f",
        ] {
            assert!(
                matches!(parse(bad, None), Err(ControlError::Validation(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse("f:1", Some("2")),
            Err(ControlError::InvalidParameterValue(_))
        ));
        assert!(matches!(
            parse("f", Some("bad!")),
            Err(ControlError::Validation(_))
        ));
        assert!(matches!(
            parse("arn:aws:lambda:eu-west-1:000000000000:function:f", None),
            Err(ControlError::ResourceNotFound(_))
        ));
        assert!(matches!(
            parse("111111111111:function:f", None),
            Err(ControlError::ResourceNotFound(_))
        ));
        assert!(matches!(
            FunctionRef::parse("a.b", None, NameUse::Create, &account()),
            Err(ControlError::Validation(_))
        ));
    }
}
