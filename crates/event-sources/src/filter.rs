//! `FilterCriteria`: Lambda's event filtering, checked when a mapping is created or updated and
//! applied to every record before the function sees it.
//!
//! A pattern is the EventBridge-style grammar Lambda documents for event filtering: a JSON
//! object whose keys follow the record's structure and whose leaves are arrays of rules (any
//! rule may match). The rules are exact values (string, number, boolean), `null`, `""` (empty),
//! `prefix`, `suffix`, `equals-ignore-case`, `anything-but` (a value, a list, or a
//! `prefix`/`suffix`/`equals-ignore-case`), `numeric` (one comparison or a range) and `exists`.
//! A mapping matches a record when any of its filters matches (OR); within a pattern every key
//! must match (AND). Operators outside that list (`wildcard`, `cidr`, `$or`) are refused, as
//! Lambda refuses what its filtering does not document, because a pattern that silently never
//! matched would delete every message.

use crate::EsmError;
use serde_json::{Map, Value};

/// The API model's bound on one pattern's length.
const MAX_PATTERN_LENGTH: usize = 4096;

/// Lambda's message for any pattern it cannot use.
const INVALID_PATTERN: &str = "Invalid filter pattern definition.";

fn invalid() -> EsmError {
    EsmError::InvalidParameterValue(INVALID_PATTERN.into())
}

/// The compiled filters of one mapping; a record passes when any of them matches.
#[derive(Debug, Clone)]
pub struct Filters {
    patterns: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    /// Keys of an object, all of which must match.
    Object(Vec<(String, Node)>),
    /// A leaf: any rule may match.
    Rules(Vec<Rule>),
}

#[derive(Debug, Clone)]
enum Rule {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    Prefix { text: String, ignore_case: bool },
    Suffix { text: String, ignore_case: bool },
    EqualsIgnoreCase(String),
    AnythingBut(AnythingBut),
    Numeric(Vec<(Comparison, f64)>),
    Exists(bool),
}

#[derive(Debug, Clone)]
enum AnythingBut {
    Values(Vec<Rule>),
    Prefix(String),
    Suffix(String),
    IgnoreCase(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparison {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Filters {
    /// Checks a request's `FilterCriteria` and compiles it. `Ok(None)`: no filtering (absent,
    /// `{}`, or an empty `Filters` list, which is how an update removes the filters).
    pub fn parse(criteria: Option<&Value>) -> Result<Option<Filters>, EsmError> {
        let Some(criteria) = criteria else {
            return Ok(None);
        };
        if criteria.is_null() {
            return Ok(None);
        }
        let object = criteria.as_object().ok_or_else(invalid)?;
        let filters = match object.get("Filters") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(filters)) => filters,
            Some(_) => return Err(invalid()),
        };
        let mut patterns = Vec::with_capacity(filters.len());
        for (index, filter) in filters.iter().enumerate() {
            let pattern = filter
                .as_object()
                .and_then(|f| f.get("Pattern"))
                .and_then(Value::as_str)
                .ok_or_else(invalid)?;
            if pattern.chars().count() > MAX_PATTERN_LENGTH {
                return Err(EsmError::InvalidParameterValue(format!(
                    "1 validation error detected: Value '{pattern}' at \
                     'filterCriteria.filters.{}.member.pattern' failed to satisfy constraint: \
                     Member must have length less than or equal to {MAX_PATTERN_LENGTH}",
                    index + 1
                )));
            }
            let value: Value = serde_json::from_str(pattern).map_err(|_| invalid())?;
            let object = value.as_object().ok_or_else(invalid)?;
            patterns.push(compile_object(object)?);
        }
        if patterns.is_empty() {
            return Ok(None);
        }
        Ok(Some(Filters { patterns }))
    }

    /// Whether a record (as the source presents it for filtering) passes.
    pub fn matches(&self, record: &Value) -> bool {
        self.patterns.iter().any(|p| p.matches(Some(record)))
    }
}

fn compile_object(object: &Map<String, Value>) -> Result<Node, EsmError> {
    if object.is_empty() {
        return Err(invalid());
    }
    let mut keys = Vec::with_capacity(object.len());
    for (key, value) in object {
        let node = match value {
            Value::Object(inner) => compile_object(inner)?,
            Value::Array(rules) if !rules.is_empty() => {
                Node::Rules(rules.iter().map(compile_rule).collect::<Result<_, _>>()?)
            }
            _ => return Err(invalid()),
        };
        keys.push((key.clone(), node));
    }
    Ok(Node::Object(keys))
}

fn compile_scalar(value: &Value) -> Option<Rule> {
    match value {
        Value::String(s) => Some(Rule::String(s.clone())),
        Value::Number(n) => n.as_f64().map(Rule::Number),
        Value::Bool(b) => Some(Rule::Bool(*b)),
        Value::Null => Some(Rule::Null),
        _ => None,
    }
}

/// `"text"` or `{"equals-ignore-case": "text"}` (the operand of prefix and suffix).
fn text_operand(value: &Value) -> Result<(String, bool), EsmError> {
    match value {
        Value::String(s) => Ok((s.clone(), false)),
        Value::Object(o) if o.len() == 1 => match o.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok((s.clone(), true)),
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

fn compile_rule(value: &Value) -> Result<Rule, EsmError> {
    if let Some(rule) = compile_scalar(value) {
        return Ok(rule);
    }
    let object = value.as_object().ok_or_else(invalid)?;
    let mut entries = object.iter();
    let (Some((operator, operand)), None) = (entries.next(), entries.next()) else {
        return Err(invalid());
    };
    match operator.as_str() {
        "prefix" => {
            let (text, ignore_case) = text_operand(operand)?;
            Ok(Rule::Prefix { text, ignore_case })
        }
        "suffix" => {
            let (text, ignore_case) = text_operand(operand)?;
            Ok(Rule::Suffix { text, ignore_case })
        }
        "equals-ignore-case" => match operand {
            Value::String(s) => Ok(Rule::EqualsIgnoreCase(s.clone())),
            _ => Err(invalid()),
        },
        "exists" => match operand {
            Value::Bool(b) => Ok(Rule::Exists(*b)),
            _ => Err(invalid()),
        },
        "numeric" => compile_numeric(operand),
        "anything-but" => compile_anything_but(operand).map(Rule::AnythingBut),
        _ => Err(invalid()),
    }
}

fn compile_anything_but(operand: &Value) -> Result<AnythingBut, EsmError> {
    let plain = |v: &Value| match v {
        Value::String(_) | Value::Number(_) => compile_scalar(v).ok_or_else(invalid),
        _ => Err(invalid()),
    };
    match operand {
        Value::String(_) | Value::Number(_) => Ok(AnythingBut::Values(vec![plain(operand)?])),
        Value::Array(values) if !values.is_empty() => Ok(AnythingBut::Values(
            values.iter().map(plain).collect::<Result<_, _>>()?,
        )),
        Value::Object(o) if o.len() == 1 => match o.iter().next() {
            Some((op, Value::String(s))) if op == "prefix" => Ok(AnythingBut::Prefix(s.clone())),
            Some((op, Value::String(s))) if op == "suffix" => Ok(AnythingBut::Suffix(s.clone())),
            Some((op, Value::String(s))) if op == "equals-ignore-case" => {
                Ok(AnythingBut::IgnoreCase(vec![s.clone()]))
            }
            Some((op, Value::Array(items))) if op == "equals-ignore-case" && !items.is_empty() => {
                let texts = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).ok_or_else(invalid))
                    .collect::<Result<_, _>>()?;
                Ok(AnythingBut::IgnoreCase(texts))
            }
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

fn compile_numeric(operand: &Value) -> Result<Rule, EsmError> {
    let items = operand.as_array().ok_or_else(invalid)?;
    let comparison = |op: &Value| match op.as_str() {
        Some("=") => Ok(Comparison::Eq),
        Some("<") => Ok(Comparison::Lt),
        Some("<=") => Ok(Comparison::Le),
        Some(">") => Ok(Comparison::Gt),
        Some(">=") => Ok(Comparison::Ge),
        _ => Err(invalid()),
    };
    let number = |v: &Value| v.as_f64().ok_or_else(invalid);
    match items.as_slice() {
        [op, n] => Ok(Rule::Numeric(vec![(comparison(op)?, number(n)?)])),
        // A range: a lower bound first, then an upper bound above it.
        [op1, n1, op2, n2] => {
            let (low, high) = (comparison(op1)?, comparison(op2)?);
            let (a, b) = (number(n1)?, number(n2)?);
            let lower = matches!(low, Comparison::Gt | Comparison::Ge);
            let upper = matches!(high, Comparison::Lt | Comparison::Le);
            if !lower || !upper || a >= b {
                return Err(invalid());
            }
            Ok(Rule::Numeric(vec![(low, a), (high, b)]))
        }
        _ => Err(invalid()),
    }
}

impl Node {
    /// `value` is `None` when the key is absent from the record.
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Node::Object(keys) => {
                let object = match value {
                    None => None,
                    Some(Value::Object(o)) => Some(o),
                    // A structured pattern never matches a scalar (a JSON pattern on a body
                    // that is not a JSON object: Lambda drops the message).
                    Some(_) => return false,
                };
                keys.iter()
                    .all(|(key, node)| node.matches(object.and_then(|o| o.get(key))))
            }
            Node::Rules(rules) => match value {
                None => rules.iter().any(|r| matches!(r, Rule::Exists(false))),
                Some(Value::Array(items)) => rules.iter().any(|r| match r {
                    Rule::Exists(present) => *present,
                    _ => items.iter().any(|item| r.matches(item)),
                }),
                Some(Value::Object(_)) => false,
                Some(scalar) => rules.iter().any(|r| r.matches(scalar)),
            },
        }
    }
}

fn same_number(value: &Value, n: f64) -> bool {
    value.as_f64().is_some_and(|v| v == n)
}

impl Rule {
    fn matches(&self, value: &Value) -> bool {
        match self {
            Rule::String(s) => value.as_str() == Some(s.as_str()),
            Rule::Number(n) => same_number(value, *n),
            Rule::Bool(b) => value.as_bool() == Some(*b),
            Rule::Null => value.is_null(),
            Rule::Prefix { text, ignore_case } => value.as_str().is_some_and(|v| {
                if *ignore_case {
                    v.to_lowercase().starts_with(&text.to_lowercase())
                } else {
                    v.starts_with(text.as_str())
                }
            }),
            Rule::Suffix { text, ignore_case } => value.as_str().is_some_and(|v| {
                if *ignore_case {
                    v.to_lowercase().ends_with(&text.to_lowercase())
                } else {
                    v.ends_with(text.as_str())
                }
            }),
            Rule::EqualsIgnoreCase(s) => value
                .as_str()
                .is_some_and(|v| v.to_lowercase() == s.to_lowercase()),
            Rule::AnythingBut(but) => {
                if value.is_null() {
                    return false;
                }
                match but {
                    AnythingBut::Values(values) => !values.iter().any(|r| r.matches(value)),
                    AnythingBut::Prefix(p) => value.as_str().is_some_and(|v| !v.starts_with(p)),
                    AnythingBut::Suffix(s) => value.as_str().is_some_and(|v| !v.ends_with(s)),
                    AnythingBut::IgnoreCase(texts) => value.as_str().is_some_and(|v| {
                        let v = v.to_lowercase();
                        !texts.iter().any(|t| t.to_lowercase() == v)
                    }),
                }
            }
            Rule::Numeric(conditions) => value.as_f64().is_some_and(|v| {
                conditions.iter().all(|(op, n)| match op {
                    Comparison::Eq => v == *n,
                    Comparison::Lt => v < *n,
                    Comparison::Le => v <= *n,
                    Comparison::Gt => v > *n,
                    Comparison::Ge => v >= *n,
                })
            }),
            Rule::Exists(present) => *present,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filters(patterns: &[Value]) -> Filters {
        let criteria = json!({
            "Filters": patterns.iter().map(|p| json!({"Pattern": p.to_string()})).collect::<Vec<_>>()
        });
        Filters::parse(Some(&criteria))
            .expect("valid")
            .expect("some filters")
    }

    fn one(pattern: Value, record: Value) -> bool {
        filters(&[pattern]).matches(&record)
    }

    #[test]
    fn exact_values_and_or_across_filters() {
        let f = filters(&[
            json!({"body": {"kind": ["a", "b"]}}),
            json!({"body": {"n": [5]}}),
        ]);
        assert!(f.matches(&json!({"body": {"kind": "a"}})));
        assert!(f.matches(&json!({"body": {"kind": "b"}})));
        assert!(f.matches(&json!({"body": {"n": 5.0}})));
        assert!(!f.matches(&json!({"body": {"kind": "c"}})));
        assert!(!f.matches(&json!({"body": "kind a"})));
        assert!(!f.matches(&json!({"body": {"n": "5"}})));
        // Every key of one pattern must match.
        assert!(!one(
            json!({"body": {"a": ["x"], "b": ["y"]}}),
            json!({"body": {"a": "x", "b": "z"}})
        ));
        assert!(one(
            json!({"body": {"t": [true]}}),
            json!({"body": {"t": true}})
        ));
    }

    #[test]
    fn arrays_in_records_match_any_element() {
        assert!(one(
            json!({"body": {"tags": ["red"]}}),
            json!({"body": {"tags": ["blue", "red"]}})
        ));
        assert!(!one(
            json!({"body": {"tags": ["red"]}}),
            json!({"body": {"tags": ["blue"]}})
        ));
    }

    #[test]
    fn prefix_suffix_and_case() {
        let rec = json!({"body": {"file": "Report.PDF"}});
        assert!(one(
            json!({"body": {"file": [{"prefix": "Rep"}]}}),
            rec.clone()
        ));
        assert!(!one(
            json!({"body": {"file": [{"prefix": "rep"}]}}),
            rec.clone()
        ));
        assert!(one(
            json!({"body": {"file": [{"prefix": {"equals-ignore-case": "rep"}}]}}),
            rec.clone()
        ));
        assert!(one(
            json!({"body": {"file": [{"suffix": ".PDF"}]}}),
            rec.clone()
        ));
        assert!(!one(
            json!({"body": {"file": [{"suffix": ".pdf"}]}}),
            rec.clone()
        ));
        assert!(one(
            json!({"body": {"file": [{"equals-ignore-case": "report.pdf"}]}}),
            rec
        ));
    }

    #[test]
    fn anything_but() {
        let p = json!({"body": {"state": [{"anything-but": ["raining", "snowing"]}]}});
        assert!(one(p.clone(), json!({"body": {"state": "sunny"}})));
        assert!(!one(p.clone(), json!({"body": {"state": "raining"}})));
        assert!(!one(p, json!({"body": {}})));
        assert!(one(
            json!({"body": {"n": [{"anything-but": 3}]}}),
            json!({"body": {"n": 4}})
        ));
        assert!(!one(
            json!({"body": {"r": [{"anything-but": {"prefix": "us-"}}]}}),
            json!({"body": {"r": "us-east-1"}})
        ));
        assert!(one(
            json!({"body": {"r": [{"anything-but": {"suffix": ".png"}}]}}),
            json!({"body": {"r": "a.jpg"}})
        ));
    }

    #[test]
    fn numeric_ranges() {
        let p = json!({"body": {"price": [{"numeric": [">", 10, "<=", 20]}]}});
        assert!(!one(p.clone(), json!({"body": {"price": 10}})));
        assert!(one(p.clone(), json!({"body": {"price": 10.5}})));
        assert!(one(p.clone(), json!({"body": {"price": 20}})));
        assert!(!one(p.clone(), json!({"body": {"price": 21}})));
        assert!(!one(p, json!({"body": {"price": "15"}})));
        assert!(one(
            json!({"body": {"n": [{"numeric": ["=", 100]}]}}),
            json!({"body": {"n": 100.0}})
        ));
    }

    #[test]
    fn exists_null_and_empty() {
        let exists = json!({"body": {"id": [{"exists": true}]}});
        assert!(one(exists.clone(), json!({"body": {"id": "x"}})));
        assert!(!one(exists, json!({"body": {"other": 1}})));
        let absent = json!({"body": {"id": [{"exists": false}]}});
        assert!(one(absent.clone(), json!({"body": {"other": 1}})));
        assert!(!one(absent, json!({"body": {"id": 1}})));
        assert!(one(
            json!({"body": {"id": [null]}}),
            json!({"body": {"id": null}})
        ));
        assert!(!one(json!({"body": {"id": [null]}}), json!({"body": {}})));
        assert!(one(
            json!({"body": {"id": [""]}}),
            json!({"body": {"id": ""}})
        ));
        assert!(!one(
            json!({"body": {"id": [""]}}),
            json!({"body": {"id": null}})
        ));
    }

    #[test]
    fn metadata_keys_and_plain_bodies() {
        let rec = json!({"body": "hello", "attributes": {"ApproximateReceiveCount": "1"},
                         "messageAttributes": {"color": {"stringValue": "blue"}}});
        assert!(one(json!({"body": ["hello"]}), rec.clone()));
        assert!(one(json!({"body": [{"prefix": "he"}]}), rec.clone()));
        assert!(one(
            json!({"messageAttributes": {"color": {"stringValue": ["blue"]}}}),
            rec.clone()
        ));
        assert!(one(
            json!({"attributes": {"ApproximateReceiveCount": ["1"]}}),
            rec.clone()
        ));
        // A JSON pattern never matches a plain-string body.
        assert!(!one(json!({"body": {"x": [{"exists": false}]}}), rec));
        // A plain pattern never matches a JSON body.
        assert!(!one(json!({"body": ["{}"]}), json!({"body": {}})));
    }

    #[test]
    fn invalid_patterns_are_refused_with_lambdas_message() {
        for pattern in [
            "not json",
            "[]",
            "{}",
            r#"{"body": "x"}"#,
            r#"{"body": []}"#,
            r#"{"body": {"a": {}}}"#,
            r#"{"body": {"a": [{"wildcard": "*"}]}}"#,
            r#"{"body": {"a": [{"prefix": 1}]}}"#,
            r#"{"body": {"a": [{"exists": "yes"}]}}"#,
            r#"{"body": {"a": [{"numeric": [">", "x"]}]}}"#,
            r#"{"body": {"a": [{"numeric": ["<", 5, ">", 1]}]}}"#,
            r#"{"body": {"a": [{"numeric": [">", 5, "<", 1]}]}}"#,
            r#"{"body": {"a": [{"numeric": ["~", 5]}]}}"#,
            r#"{"body": {"a": [{"prefix": "x", "suffix": "y"}]}}"#,
            r#"{"body": {"a": [{"anything-but": []}]}}"#,
            r#"{"body": {"a": [["nested"]]}}"#,
        ] {
            let criteria = json!({"Filters": [{"Pattern": pattern}]});
            match Filters::parse(Some(&criteria)) {
                Err(EsmError::InvalidParameterValue(m)) => {
                    assert_eq!(m, INVALID_PATTERN, "{pattern}")
                }
                other => panic!("{pattern}: {other:?}"),
            }
        }
        let long = format!(r#"{{"body": ["{}"]}}"#, "x".repeat(5000));
        let criteria = json!({"Filters": [{"Pattern": long}]});
        assert!(matches!(
            Filters::parse(Some(&criteria)),
            Err(EsmError::InvalidParameterValue(m)) if m.contains("length less than or equal to 4096")
        ));
    }

    #[test]
    fn empty_criteria_mean_no_filtering() {
        assert!(Filters::parse(None).expect("ok").is_none());
        assert!(Filters::parse(Some(&json!({}))).expect("ok").is_none());
        assert!(
            Filters::parse(Some(&json!({"Filters": []})))
                .expect("ok")
                .is_none()
        );
    }
}
