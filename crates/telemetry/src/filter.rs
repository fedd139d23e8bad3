//! CloudWatch Logs filter patterns (`FilterLogEvents.filterPattern`), parsed once per request and
//! matched against each event's message.
//!
//! Supported: the empty pattern (everything); terms and quoted phrases (all must appear, case
//! sensitive); `?term` alternatives (at least one must appear); `-term` exclusions (none may
//! appear); JSON patterns `{ SELECTOR OP VALUE }` combined with `&&`, `||` and parentheses, where
//! OP is `=`/`!=` for strings (with `*` wildcards) and numbers, `<`, `<=`, `>`, `>=` for numbers,
//! and `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`. Not yet: space-delimited patterns
//! (`[ip, user, ...]`) and `%regex%` terms; they are refused rather than silently matching
//! nothing.

use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilterPatternError {
    #[error("Invalid filter pattern: {0}")]
    Invalid(String),
    #[error("Unsupported filter pattern: {0}")]
    Unsupported(&'static str),
}

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterPattern {
    /// The empty pattern: every event matches.
    All,
    Terms {
        required: Vec<String>,
        any_of: Vec<String>,
        excluded: Vec<String>,
    },
    Json(JsonExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonExpr {
    And(Box<JsonExpr>, Box<JsonExpr>),
    Or(Box<JsonExpr>, Box<JsonExpr>),
    Compare {
        selector: Vec<Step>,
        op: Op,
        value: Literal,
    },
    IsNull(Vec<Step>),
    IsBool(Vec<Step>, bool),
    NotExists(Vec<Step>),
}

/// One step of a `$.a.b[0]` selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Text(String),
}

impl FilterPattern {
    pub fn parse(pattern: &str) -> Result<Self, FilterPatternError> {
        let trimmed = pattern.trim();
        if trimmed.is_empty() || trimmed == "\"\"" {
            return Ok(Self::All);
        }
        if trimmed.starts_with('{') {
            let inner = trimmed
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .ok_or_else(|| FilterPatternError::Invalid("unbalanced '{'".into()))?;
            let tokens = lex(inner)?;
            let mut parser = Parser { tokens, pos: 0 };
            let expr = parser.or()?;
            if parser.pos != parser.tokens.len() {
                return Err(FilterPatternError::Invalid(format!(
                    "unexpected {:?}",
                    parser.tokens[parser.pos]
                )));
            }
            return Ok(Self::Json(expr));
        }
        if trimmed.starts_with('[') {
            return Err(FilterPatternError::Unsupported(
                "space-delimited patterns ([...]) are not supported yet",
            ));
        }
        if trimmed.starts_with('%') {
            return Err(FilterPatternError::Unsupported(
                "regular expression patterns (%...%) are not supported yet",
            ));
        }
        parse_terms(trimmed)
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Self::All => true,
            Self::Terms {
                required,
                any_of,
                excluded,
            } => {
                required.iter().all(|t| message.contains(t.as_str()))
                    && (any_of.is_empty() || any_of.iter().any(|t| message.contains(t.as_str())))
                    && !excluded.iter().any(|t| message.contains(t.as_str()))
            }
            Self::Json(expr) => match serde_json::from_str::<Value>(message.trim()) {
                Ok(value) => expr.eval(&value),
                Err(_) => false,
            },
        }
    }
}

fn parse_terms(pattern: &str) -> Result<FilterPattern, FilterPatternError> {
    let mut required = Vec::new();
    let mut any_of = Vec::new();
    let mut excluded = Vec::new();
    let mut chars = pattern.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        let bucket = match first {
            '?' => {
                chars.next();
                &mut any_of
            }
            '-' => {
                chars.next();
                &mut excluded
            }
            _ => &mut required,
        };
        let mut term = String::new();
        if chars.next_if_eq(&'"').is_some() {
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            term.push(escaped);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => term.push(c),
                }
            }
            if !closed {
                return Err(FilterPatternError::Invalid("unterminated quote".into()));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                term.push(c);
            }
        }
        if term.is_empty() {
            return Err(FilterPatternError::Invalid("empty term".into()));
        }
        bucket.push(term);
    }
    if required.is_empty() && any_of.is_empty() && !excluded.is_empty() {
        // CloudWatch needs something to match before it can exclude.
        return Err(FilterPatternError::Invalid(
            "an exclusion needs at least one term to match".into(),
        ));
    }
    Ok(FilterPattern::Terms {
        required,
        any_of,
        excluded,
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Selector(Vec<Step>),
    Op(Op),
    And,
    Or,
    Open,
    Close,
    Quoted(String),
    Word(String),
}

fn lex(input: &str) -> Result<Vec<Token>, FilterPatternError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1
            }
            '&' if next == Some('&') => {
                tokens.push(Token::And);
                i += 2
            }
            '|' if next == Some('|') => {
                tokens.push(Token::Or);
                i += 2
            }
            '=' => {
                tokens.push(Token::Op(Op::Eq));
                i += if next == Some('=') { 2 } else { 1 }
            }
            '!' if next == Some('=') => {
                tokens.push(Token::Op(Op::Ne));
                i += 2
            }
            '<' | '>' => {
                let (op, width) = match (c, next) {
                    ('<', Some('=')) => (Op::Le, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', Some('=')) => (Op::Ge, 2),
                    _ => (Op::Gt, 1),
                };
                tokens.push(Token::Op(op));
                i += width
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if i + 1 < chars.len() => {
                            text.push(chars[i + 1]);
                            i += 2
                        }
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        other => {
                            text.push(other);
                            i += 1
                        }
                    }
                }
                if !closed {
                    return Err(FilterPatternError::Invalid("unterminated quote".into()));
                }
                tokens.push(Token::Quoted(text));
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && !chars[i].is_whitespace() && !"=!<>()&|".contains(chars[i])
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                tokens.push(Token::Selector(parse_selector(&text)?));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"=!<>()&|\"".contains(chars[i])
                {
                    i += 1;
                }
                if i == start {
                    return Err(FilterPatternError::Invalid(format!("unexpected '{c}'")));
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

/// `$.a.b[0].c` → steps; `$` alone selects the whole document.
fn parse_selector(text: &str) -> Result<Vec<Step>, FilterPatternError> {
    let invalid = || FilterPatternError::Invalid(format!("invalid selector {text}"));
    let mut rest = text.strip_prefix('$').ok_or_else(invalid)?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return Err(invalid());
            }
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(invalid)?;
            let index = after[..end].trim().parse().map_err(|_| invalid())?;
            steps.push(Step::Index(index));
            rest = &after[end + 1..];
        } else {
            return Err(invalid());
        }
    }
    Ok(steps)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<JsonExpr, FilterPatternError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            left = JsonExpr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<JsonExpr, FilterPatternError> {
        let mut left = self.primary()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            left = JsonExpr::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<JsonExpr, FilterPatternError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(FilterPatternError::Invalid("missing ')'".into())),
                }
            }
            Some(Token::Selector(selector)) => self.comparison(selector),
            other => Err(FilterPatternError::Invalid(format!(
                "expected a selector such as $.field, found {other:?}"
            ))),
        }
    }

    fn comparison(&mut self, selector: Vec<Step>) -> Result<JsonExpr, FilterPatternError> {
        match self.next() {
            Some(Token::Op(op)) => {
                let value = match self.next() {
                    Some(Token::Quoted(text)) => Literal::Text(text),
                    Some(Token::Word(word)) => match word.parse::<f64>() {
                        Ok(n) => Literal::Number(n),
                        Err(_) => Literal::Text(word),
                    },
                    other => {
                        return Err(FilterPatternError::Invalid(format!(
                            "expected a value, found {other:?}"
                        )));
                    }
                };
                if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge)
                    && !matches!(value, Literal::Number(_))
                {
                    return Err(FilterPatternError::Invalid(
                        "<, <=, > and >= compare numbers only".into(),
                    ));
                }
                Ok(JsonExpr::Compare {
                    selector,
                    op,
                    value,
                })
            }
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("IS") => match self.next() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("NULL") => {
                    Ok(JsonExpr::IsNull(selector))
                }
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("TRUE") => {
                    Ok(JsonExpr::IsBool(selector, true))
                }
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("FALSE") => {
                    Ok(JsonExpr::IsBool(selector, false))
                }
                other => Err(FilterPatternError::Invalid(format!(
                    "expected NULL, TRUE or FALSE after IS, found {other:?}"
                ))),
            },
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("NOT") => match self.next() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("EXISTS") => {
                    Ok(JsonExpr::NotExists(selector))
                }
                other => Err(FilterPatternError::Invalid(format!(
                    "expected EXISTS after NOT, found {other:?}"
                ))),
            },
            other => Err(FilterPatternError::Invalid(format!(
                "expected an operator, found {other:?}"
            ))),
        }
    }
}

fn select<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Key(key) => v.get(key.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

/// `*` matches any run of characters (CloudWatch's wildcard in string comparisons).
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl JsonExpr {
    fn eval(&self, doc: &Value) -> bool {
        match self {
            Self::And(a, b) => a.eval(doc) && b.eval(doc),
            Self::Or(a, b) => a.eval(doc) || b.eval(doc),
            Self::IsNull(sel) => matches!(select(doc, sel), Some(Value::Null)),
            Self::IsBool(sel, want) => select(doc, sel).and_then(Value::as_bool) == Some(*want),
            Self::NotExists(sel) => select(doc, sel).is_none(),
            Self::Compare {
                selector,
                op,
                value,
            } => {
                let Some(field) = select(doc, selector) else {
                    return false;
                };
                match value {
                    Literal::Number(n) => {
                        let Some(x) = field.as_f64() else {
                            return false;
                        };
                        match op {
                            Op::Eq => x == *n,
                            Op::Ne => x != *n,
                            Op::Lt => x < *n,
                            Op::Le => x <= *n,
                            Op::Gt => x > *n,
                            Op::Ge => x >= *n,
                        }
                    }
                    Literal::Text(text) => {
                        let actual = match field {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            _ => return false,
                        };
                        match op {
                            Op::Eq => glob(text, &actual),
                            Op::Ne => !glob(text, &actual),
                            _ => false,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, message: &str) -> bool {
        FilterPattern::parse(pattern)
            .expect("pattern parses")
            .matches(message)
    }

    #[test]
    fn empty_matches_everything() {
        assert!(m("", "anything"));
        assert!(m("  ", ""));
    }

    #[test]
    fn terms_all_must_appear_case_sensitive() {
        assert!(m("ERROR", "[ERROR] disk full"));
        assert!(!m("ERROR", "[error] disk full"));
        assert!(m("ERROR disk", "[ERROR] disk full"));
        assert!(!m("ERROR memory", "[ERROR] disk full"));
    }

    #[test]
    fn quoted_phrases_are_one_term() {
        assert!(m("\"disk full\"", "[ERROR] disk full"));
        assert!(!m("\"full disk\"", "[ERROR] disk full"));
        assert!(m("\"a \\\"quoted\\\" word\"", "a \"quoted\" word"));
    }

    #[test]
    fn alternatives_and_exclusions() {
        assert!(m("?ERROR ?WARN", "WARN low"));
        assert!(m("?ERROR ?WARN", "ERROR x"));
        assert!(!m("?ERROR ?WARN", "INFO x"));
        assert!(m("ERROR -retrying", "ERROR giving up"));
        assert!(!m("ERROR -retrying", "ERROR retrying in 1s"));
        assert!(FilterPattern::parse("-only").is_err());
    }

    #[test]
    fn json_string_and_wildcards() {
        let line =
            r#"{"level":"ERROR","msg":"timeout talking to db","user":{"id":7,"name":"ann"}}"#;
        assert!(m(r#"{ $.level = "ERROR" }"#, line));
        assert!(m("{ $.level = ERROR }", line));
        assert!(!m(r#"{ $.level = "INFO" }"#, line));
        assert!(m(r#"{ $.level != "INFO" }"#, line));
        assert!(m(r#"{ $.msg = "timeout*" }"#, line));
        assert!(m(r#"{ $.msg = "*db" }"#, line));
        assert!(m(r#"{ $.user.name = "ann" }"#, line));
        assert!(!m(r#"{ $.level = "ERROR" }"#, "ERROR not json"));
    }

    #[test]
    fn json_numbers_and_logic() {
        let line = r#"{"latency": 250, "ok": false, "tags": ["a","b"], "gone": null}"#;
        assert!(m("{ $.latency > 100 }", line));
        assert!(m("{ $.latency >= 250 }", line));
        assert!(!m("{ $.latency < 250 }", line));
        assert!(m("{ $.latency = 250 }", line));
        assert!(m("{ $.latency > 100 && $.ok IS FALSE }", line));
        assert!(m("{ $.latency > 1000 || $.tags[1] = \"b\" }", line));
        assert!(m(
            "{ ($.latency > 1000 || $.latency < 300) && $.missing NOT EXISTS }",
            line
        ));
        assert!(m("{ $.gone IS NULL }", line));
        assert!(!m("{ $.latency > 100 && $.ok IS TRUE }", line));
        assert!(!m("{ $.missing > 1 }", line));
    }

    #[test]
    fn refuses_malformed_and_unsupported() {
        assert!(FilterPattern::parse("{ $.level = }").is_err());
        assert!(FilterPattern::parse("{ $.level = \"x\"").is_err());
        assert!(FilterPattern::parse("{ $.a > \"x\" }").is_err());
        assert!(FilterPattern::parse("\"open").is_err());
        assert!(matches!(
            FilterPattern::parse("[ip, user]"),
            Err(FilterPatternError::Unsupported(_))
        ));
    }
}
