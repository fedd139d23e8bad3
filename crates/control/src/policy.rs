//! Resource policies in Lambda's IAM statement format. Stored and returned now; enforced once
//! callers other than the account itself exist.

use crate::ControlError;
use crate::input::AddPermissionInput;
use lambent_store::PolicyStatementRecord;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// Lambda's limit on the policy document.
const MAX_POLICY_BYTES: usize = 20 * 1024;
const STATEMENT_ID_PATTERN: &str = r"([a-zA-Z0-9-_]+)";
const ACTION_PATTERN: &str = r"(lambda:[*]|lambda:[a-zA-Z]+|[*])";

static STATEMENT_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{STATEMENT_ID_PATTERN}$")).expect("static pattern"));
static ACTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{ACTION_PATTERN}$")).expect("static pattern"));

/// Builds the IAM statement Lambda stores for an AddPermission call.
pub(crate) fn statement(
    input: &AddPermissionInput,
    resource: &str,
) -> Result<PolicyStatementRecord, ControlError> {
    let sid = required(input.statement_id.as_deref(), "statementId")?;
    if sid.len() > 100 || !STATEMENT_ID.is_match(sid) {
        return Err(ControlError::constraint(
            sid,
            "statementId",
            &format!("Member must satisfy regular expression pattern: {STATEMENT_ID_PATTERN}"),
        ));
    }
    let action = required(input.action.as_deref(), "action")?;
    if !ACTION.is_match(action) {
        return Err(ControlError::constraint(
            action,
            "action",
            &format!("Member must satisfy regular expression pattern: {ACTION_PATTERN}"),
        ));
    }
    let principal = required(input.principal.as_deref(), "principal")?;
    let principal_value = if principal == "*" {
        json!("*")
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
    } else if principal.starts_with("arn:") {
        json!({ "AWS": principal })
    } else if principal.contains('.') {
        json!({ "Service": principal })
    } else {
        return Err(ControlError::InvalidParameterValue(format!(
            "The provided principal was invalid. Please check the principal and try again: {principal}"
        )));
    };
    let mut condition = Map::new();
    let mut add = |operator: &str, key: &str, value: Option<&String>| {
        if let Some(value) = value {
            let entry = condition
                .entry(operator.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = entry {
                map.insert(key.to_owned(), json!(value));
            }
        }
    };
    add("ArnLike", "AWS:SourceArn", input.source_arn.as_ref());
    add(
        "StringEquals",
        "AWS:SourceAccount",
        input.source_account.as_ref(),
    );
    add(
        "StringEquals",
        "aws:PrincipalOrgID",
        input.principal_org_id.as_ref(),
    );
    add(
        "StringEquals",
        "lambda:EventSourceToken",
        input.event_source_token.as_ref(),
    );
    add(
        "StringEquals",
        "lambda:FunctionUrlAuthType",
        input.function_url_auth_type.as_ref(),
    );
    if input.invoked_via_function_url == Some(true) {
        add(
            "Bool",
            "lambda:InvokedViaFunctionUrl",
            Some(&"true".to_owned()),
        );
    }
    let mut body = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal_value,
        "Action": action,
        "Resource": resource,
    });
    if !condition.is_empty()
        && let Value::Object(map) = &mut body
    {
        map.insert("Condition".into(), Value::Object(condition));
    }
    Ok(PolicyStatementRecord {
        sid: sid.to_owned(),
        statement: body,
    })
}

pub(crate) fn add(
    policy: &mut Vec<PolicyStatementRecord>,
    statement: PolicyStatementRecord,
) -> Result<(), ControlError> {
    if policy.iter().any(|s| s.sid == statement.sid) {
        return Err(ControlError::ResourceConflict(format!(
            "The statement id ({}) provided already exists. Please provide a new statement id, or \
             remove the existing statement.",
            statement.sid
        )));
    }
    policy.push(statement);
    if document(policy).is_some_and(|d| d.len() > MAX_POLICY_BYTES) {
        return Err(ControlError::PolicyLengthExceeded(
            "The final policy size is bigger than the limit.".into(),
        ));
    }
    Ok(())
}

pub(crate) fn remove(
    policy: &mut Vec<PolicyStatementRecord>,
    statement_id: &str,
) -> Result<(), ControlError> {
    if policy.is_empty() {
        return Err(ControlError::ResourceNotFound(
            "No policy is associated with the given resource.".into(),
        ));
    }
    let before = policy.len();
    policy.retain(|s| s.sid != statement_id);
    if policy.len() == before {
        return Err(ControlError::ResourceNotFound(format!(
            "Statement {statement_id} is not found in resource policy."
        )));
    }
    Ok(())
}

/// The whole policy document as Lambda returns it from GetPolicy, or `None` when it is empty.
pub(crate) fn document(policy: &[PolicyStatementRecord]) -> Option<String> {
    if policy.is_empty() {
        return None;
    }
    let statements: Vec<&Value> = policy.iter().map(|s| &s.statement).collect();
    Some(json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements }).to_string())
}

fn required<'a>(value: Option<&'a str>, member: &str) -> Result<&'a str, ControlError> {
    value.ok_or_else(|| ControlError::null_member(member))
}
