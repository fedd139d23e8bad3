//! Function URLs (Create/Get/Update/Delete/ListFunctionUrlConfigs): a dedicated HTTP endpoint for
//! the unqualified function or one alias, with Lambda's validation order and messages (recorded
//! in `tests/conformance/aws-snapshots/function_url_config.json`).
//!
//! A URL is stored in its function's record (so deleting the function deletes it in the same
//! transaction); [`UrlIndex`] maps URL ids back to function names for the HTTP front door, which
//! only knows the host name a request arrived on.

use crate::ControlError;
use crate::names::FunctionRef;
use crate::qualifier::Target;
use crate::service::{FunctionService, page_size};
use chrono::Utc;
use lambent_store::{CorsRecord, FunctionRecord, FunctionUrlRecord, PolicyStatementRecord};
use serde::Deserialize;
use std::collections::HashMap;

/// The qualifier pattern Lambda applies to URL operations: an alias, never `$LATEST` or a version.
const URL_QUALIFIER_PATTERN: &str = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)";
/// Length of a URL id, as Lambda's.
pub const URL_ID_LEN: usize = 32;
/// Lambda's limits on the Cors members.
const MAX_CORS_ITEMS: usize = 100;
const MAX_METHOD_LEN: usize = 6;
const MAX_ORIGIN_LEN: usize = 253;
const MAX_HEADER_LEN: usize = 1024;
const MAX_AGE: i64 = 86_400;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlInput {
    pub auth_type: Option<String>,
    pub cors: Option<CorsInput>,
    pub invoke_mode: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CorsInput {
    pub allow_credentials: Option<bool>,
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origins: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<i64>,
}

/// One URL configuration as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionUrlView {
    pub url_id: String,
    /// The unqualified ARN for the function's own URL, the alias ARN for an alias's.
    pub function_arn: String,
    pub auth_type: String,
    pub cors: Option<CorsRecord>,
    pub invoke_mode: Option<String>,
    pub created: chrono::DateTime<Utc>,
    pub last_modified: chrono::DateTime<Utc>,
}

/// What the HTTP front door needs to serve a request to a URL.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionUrlTarget {
    pub function: String,
    /// `None` for the unqualified function (which runs `$LATEST`), else the alias.
    pub qualifier: Option<String>,
    pub url_id: String,
    pub auth_type: String,
    pub cors: Option<CorsRecord>,
    /// `BUFFERED` unless `RESPONSE_STREAM` was configured.
    pub invoke_mode: String,
    /// Whether the resource policy of the URL's function or alias lets anyone (`Principal: *`)
    /// call `lambda:InvokeFunctionUrl` for this auth type, as Lambda requires of `NONE` URLs.
    pub public_access: bool,
    /// False once the alias the URL was made for is deleted (Lambda then answers 403).
    pub target_exists: bool,
}

/// URL id → function name, filled from the store on first use and extended whenever a URL is
/// created. Entries are only hints: a lookup re-reads the function and checks that the id is
/// still one of its URLs, so an entry left by a deleted URL or function is harmless.
#[derive(Default)]
pub struct UrlIndex {
    map: std::sync::RwLock<HashMap<String, String>>,
    loaded: tokio::sync::OnceCell<()>,
}

impl UrlIndex {
    fn get(&self, url_id: &str) -> Option<String> {
        self.map.read().ok().and_then(|m| m.get(url_id).cloned())
    }

    fn insert(&self, url_id: &str, function: &str) {
        if let Ok(mut map) = self.map.write() {
            map.insert(url_id.to_owned(), function.to_owned());
        }
    }
}

/// Create replaces nothing, Update changes the members it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Create,
    Update,
}

impl FunctionService {
    pub async fn create_function_url(
        &self,
        reference: &FunctionRef,
        input: &FunctionUrlInput,
    ) -> Result<FunctionUrlView, ControlError> {
        self.write_function_url(reference, input, Write::Create)
            .await
    }

    pub async fn update_function_url(
        &self,
        reference: &FunctionRef,
        input: &FunctionUrlInput,
    ) -> Result<FunctionUrlView, ControlError> {
        self.write_function_url(reference, input, Write::Update)
            .await
    }

    pub async fn get_function_url(
        &self,
        reference: &FunctionRef,
    ) -> Result<FunctionUrlView, ControlError> {
        check_url_qualifier(reference)?;
        let key = url_key(reference);
        let record = self.record(reference).await.map_err(|_| no_resource())?;
        record
            .function_urls
            .get(&key)
            .map(|url| self.url_view(&record.name, &key, url))
            .ok_or_else(no_resource)
    }

    pub async fn delete_function_url(&self, reference: &FunctionRef) -> Result<(), ControlError> {
        check_url_qualifier(reference)?;
        let key = url_key(reference);
        self.record(reference).await.map_err(|_| no_resource())?;
        self.mutate(reference, |current| {
            if !url_target_exists(current, &key) || !current.function_urls.contains_key(&key) {
                return Err(no_resource());
            }
            let mut next = current.clone();
            next.function_urls.remove(&key);
            Ok((next, ()))
        })
        .await
        .map_err(|e| match e {
            ControlError::ResourceNotFound(_) => no_resource(),
            other => other,
        })?;
        Ok(())
    }

    /// One page of a function's URLs (the function's own first, then aliases by name).
    pub async fn list_function_urls(
        &self,
        reference: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<FunctionUrlView>, Option<String>), ControlError> {
        let limit = page_size(max_items)?;
        let unqualified = FunctionRef {
            name: reference.name.clone(),
            qualifier: None,
        };
        let record = self
            .record(&unqualified)
            .await
            .map_err(|_| function_does_not_exist())?;
        let mut keys: Vec<&String> = record.function_urls.keys().collect();
        keys.sort_by_key(|k| (k.as_str() != "$LATEST", k.as_str()));
        let start = match marker.filter(|m| !m.is_empty()) {
            Some(m) => keys.iter().position(|k| k.as_str() == m).ok_or_else(|| {
                ControlError::InvalidParameterValue("Invalid marker value.".into())
            })?,
            None => 0,
        };
        let page = keys
            .iter()
            .skip(start)
            .take(limit)
            .filter_map(|key| {
                record
                    .function_urls
                    .get(*key)
                    .map(|url| self.url_view(&record.name, key, url))
            })
            .collect();
        let next = keys.get(start + limit).map(|k| (*k).clone());
        Ok((page, next))
    }

    /// The URL whose id is `url_id`, or `None` if no function has it.
    pub async fn function_url_by_id(
        &self,
        url_id: &str,
    ) -> Result<Option<FunctionUrlTarget>, ControlError> {
        self.load_url_index().await?;
        let Some(function) = self.url_index.get(url_id) else {
            return Ok(None);
        };
        let reference = FunctionRef {
            name: function,
            qualifier: None,
        };
        let record = match self.record(&reference).await {
            Ok(record) => record,
            Err(ControlError::ResourceNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some((key, url)) = record
            .function_urls
            .iter()
            .find(|(_, url)| url.url_id == url_id)
        else {
            return Ok(None);
        };
        let policy = if key == "$LATEST" {
            Some(&record.policy)
        } else {
            record.qualified_policies.get(key)
        };
        Ok(Some(FunctionUrlTarget {
            function: record.name.clone(),
            qualifier: (key != "$LATEST").then(|| key.clone()),
            url_id: url.url_id.clone(),
            auth_type: url.auth_type.clone(),
            cors: url.cors.clone(),
            invoke_mode: url.invoke_mode.clone().unwrap_or_else(|| "BUFFERED".into()),
            public_access: policy.is_some_and(|p| allows_public_url_access(p, &url.auth_type)),
            target_exists: url_target_exists(&record, key),
        }))
    }

    /// Reads every function once to learn which URL ids exist (they survive restarts in the
    /// records; the index does not).
    async fn load_url_index(&self) -> Result<(), ControlError> {
        self.url_index
            .loaded
            .get_or_try_init(|| async {
                let mut marker: Option<String> = None;
                loop {
                    let page = self.store.list_functions(marker.as_deref(), 100).await?;
                    for record in &page {
                        for url in record.function_urls.values() {
                            self.url_index.insert(&url.url_id, &record.name);
                        }
                    }
                    match page.last() {
                        Some(last) if page.len() == 100 => marker = Some(last.name.clone()),
                        _ => return Ok::<(), ControlError>(()),
                    }
                }
            })
            .await
            .map(drop)
    }

    async fn write_function_url(
        &self,
        reference: &FunctionRef,
        input: &FunctionUrlInput,
        write: Write,
    ) -> Result<FunctionUrlView, ControlError> {
        check_url_qualifier(reference)?;
        let auth_type = match (&input.auth_type, write) {
            (None, Write::Create) => return Err(ControlError::null_member("authType")),
            (auth, _) => auth.clone(),
        };
        if let Some(auth) = &auth_type
            && !matches!(auth.as_str(), "NONE" | "AWS_IAM")
        {
            return Err(ControlError::constraint(
                auth,
                "authType",
                "Member must satisfy enum value set: [AWS_IAM, NONE]",
            ));
        }
        if let Some(mode) = &input.invoke_mode
            && !matches!(mode.as_str(), "BUFFERED" | "RESPONSE_STREAM")
        {
            return Err(ControlError::constraint(
                mode,
                "invokeMode",
                "Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]",
            ));
        }
        let cors = input.cors.as_ref().map(validate_cors).transpose()?;
        let key = url_key(reference);
        // Make sure the index knows every existing id before a new one is drawn.
        self.load_url_index().await?;
        self.record(reference)
            .await
            .map_err(|_| function_does_not_exist())?;
        let arn = self
            .account
            .qualified_arn(&reference.name, reference.qualifier.as_deref());
        let (next, ()) = self
            .mutate(reference, |current| {
                if !url_target_exists(current, &key) {
                    return Err(function_does_not_exist());
                }
                let now = Utc::now();
                let url = match (write, current.function_urls.get(&key)) {
                    (Write::Create, Some(_)) => {
                        return Err(ControlError::ResourceConflict(format!(
                            "Failed to create function url config for [functionArn = {arn}]. \
                             Error message:  FunctionUrlConfig exists for this Lambda function"
                        )));
                    }
                    (Write::Create, None) => FunctionUrlRecord {
                        url_id: self.new_url_id(),
                        auth_type: auth_type.clone().unwrap_or_else(|| "NONE".into()),
                        cors: cors.clone(),
                        invoke_mode: input.invoke_mode.clone(),
                        created: now,
                        last_modified: now,
                    },
                    (Write::Update, None) => return Err(no_resource()),
                    (Write::Update, Some(old)) => FunctionUrlRecord {
                        url_id: old.url_id.clone(),
                        auth_type: auth_type.clone().unwrap_or_else(|| old.auth_type.clone()),
                        cors: if input.cors.is_some() {
                            cors.clone()
                        } else {
                            old.cors.clone()
                        },
                        invoke_mode: input
                            .invoke_mode
                            .clone()
                            .or_else(|| old.invoke_mode.clone()),
                        created: old.created,
                        last_modified: now,
                    },
                };
                let mut next = current.clone();
                next.function_urls.insert(key.clone(), url);
                Ok((next, ()))
            })
            .await
            .map_err(|e| match e {
                ControlError::ResourceNotFound(m) if m.starts_with("Function not found") => {
                    function_does_not_exist()
                }
                other => other,
            })?;
        let url = next
            .function_urls
            .get(&key)
            .ok_or_else(|| ControlError::Internal("URL vanished after writing".into()))?;
        self.url_index.insert(&url.url_id, &next.name);
        Ok(self.url_view(&next.name, &key, url))
    }

    /// A fresh id that no URL has (32 lowercase letters and digits, like Lambda's).
    fn new_url_id(&self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            // Two v4 UUIDs give 32 random bytes (244 random bits); the modulo bias is harmless
            // for an identifier.
            let bytes = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
            let id: String = bytes
                .iter()
                .flat_map(|u| *u.as_bytes())
                .take(URL_ID_LEN)
                .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
                .collect();
            if self.url_index.get(&id).is_none() {
                return id;
            }
        }
    }

    fn url_view(&self, function: &str, key: &str, url: &FunctionUrlRecord) -> FunctionUrlView {
        let qualifier = (key != "$LATEST").then_some(key);
        FunctionUrlView {
            url_id: url.url_id.clone(),
            function_arn: self.account.qualified_arn(function, qualifier),
            auth_type: url.auth_type.clone(),
            cors: url.cors.clone(),
            invoke_mode: url.invoke_mode.clone(),
            created: url.created,
            last_modified: url.last_modified,
        }
    }
}

/// Whether a resource policy grants everyone `lambda:InvokeFunctionUrl` for URLs of `auth_type`
/// (the statement AddPermission makes with `Principal: *` and `FunctionUrlAuthType`). Conditions
/// other than the auth type are not evaluated, so a statement carrying any is not a grant.
pub fn allows_public_url_access(policy: &[PolicyStatementRecord], auth_type: &str) -> bool {
    policy.iter().any(|statement| {
        let s = &statement.statement;
        let allow = s.get("Effect").and_then(|v| v.as_str()) == Some("Allow");
        let action = matches!(
            s.get("Action").and_then(|v| v.as_str()),
            Some("lambda:InvokeFunctionUrl" | "lambda:*" | "*")
        );
        let anyone = s.get("Principal").and_then(|v| v.as_str()) == Some("*");
        let condition_ok = match s.get("Condition").and_then(|c| c.as_object()) {
            None => true,
            Some(condition) => {
                condition.len() == 1
                    && condition
                        .get("StringEquals")
                        .and_then(|c| c.as_object())
                        .is_some_and(|eq| {
                            eq.len() == 1
                                && eq
                                    .get("lambda:FunctionUrlAuthType")
                                    .and_then(|v| v.as_str())
                                    == Some(auth_type)
                        })
            }
        };
        allow && action && anyone && condition_ok
    })
}

fn validate_cors(input: &CorsInput) -> Result<CorsRecord, ControlError> {
    let list = |values: &Option<Vec<String>>, member: &str, max_len: usize| {
        if let Some(values) = values {
            if values.len() > MAX_CORS_ITEMS {
                return Err(ControlError::constraint(
                    &format!("{values:?}"),
                    member,
                    &format!("Member must have length less than or equal to {MAX_CORS_ITEMS}"),
                ));
            }
            for value in values {
                if value.is_empty() || value.len() > max_len {
                    return Err(ControlError::constraint(
                        &format!("{values:?}"),
                        member,
                        &format!(
                            "Member must satisfy constraint: [Member must have length less than \
                             or equal to {max_len}, Member must have length greater than or \
                             equal to 1]"
                        ),
                    ));
                }
            }
        }
        Ok(values.clone())
    };
    let max_age = match input.max_age {
        None => None,
        Some(n) if (0..=MAX_AGE).contains(&n) => u32::try_from(n).ok(),
        Some(n) => {
            return Err(ControlError::constraint(
                &n.to_string(),
                "cors.maxAge",
                &if n < 0 {
                    "Member must have value greater than or equal to 0".to_owned()
                } else {
                    format!("Member must have value less than or equal to {MAX_AGE}")
                },
            ));
        }
    };
    Ok(CorsRecord {
        allow_credentials: input.allow_credentials,
        allow_headers: list(&input.allow_headers, "cors.allowHeaders", MAX_HEADER_LEN)?,
        allow_methods: list(&input.allow_methods, "cors.allowMethods", MAX_METHOD_LEN)?,
        allow_origins: list(&input.allow_origins, "cors.allowOrigins", MAX_ORIGIN_LEN)?,
        expose_headers: list(&input.expose_headers, "cors.exposeHeaders", MAX_HEADER_LEN)?,
        max_age,
    })
}

/// URL operations take an alias or nothing: `$LATEST` and version numbers are refused before the
/// function is even looked up.
fn check_url_qualifier(reference: &FunctionRef) -> Result<(), ControlError> {
    match reference.qualifier.as_deref() {
        None => Ok(()),
        Some(q) if matches!(Target::of(Some(q)), Target::Alias(_)) && !q.contains('$') => Ok(()),
        Some(q) => Err(ControlError::constraint(
            q,
            "qualifier",
            &format!("Member must satisfy regular expression pattern: {URL_QUALIFIER_PATTERN}"),
        )),
    }
}

fn url_key(reference: &FunctionRef) -> String {
    reference
        .qualifier
        .clone()
        .unwrap_or_else(|| "$LATEST".into())
}

fn url_target_exists(record: &FunctionRecord, key: &str) -> bool {
    match Target::of(Some(key)) {
        Target::Latest => true,
        Target::Version(_) => false,
        Target::Alias(a) => record.aliases.contains_key(&a),
    }
}

/// Create, Update and List on a missing function or alias.
fn function_does_not_exist() -> ControlError {
    ControlError::ResourceNotFound("Function does not exist".into())
}

/// Get and Delete on a missing function, alias or URL, and Update on a missing URL.
fn no_resource() -> ControlError {
    ControlError::ResourceNotFound("The resource you requested does not exist.".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn statement(value: serde_json::Value) -> PolicyStatementRecord {
        PolicyStatementRecord {
            sid: "s".into(),
            statement: value,
        }
    }

    #[test]
    fn public_access_needs_the_url_permission_for_the_auth_type() {
        let grant = statement(json!({
            "Sid": "s", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
            "Resource": "arn", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
        }));
        assert!(allows_public_url_access(
            std::slice::from_ref(&grant),
            "NONE"
        ));
        assert!(!allows_public_url_access(&[grant], "AWS_IAM"));
        let invoke_only = statement(json!({
            "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"
        }));
        assert!(!allows_public_url_access(&[invoke_only], "NONE"));
        let other_account = statement(json!({
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
            "Action": "lambda:InvokeFunctionUrl"
        }));
        assert!(!allows_public_url_access(&[other_account], "NONE"));
        let with_source = statement(json!({
            "Effect": "Allow", "Principal": "*", "Action": "lambda:*",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:x"}}
        }));
        assert!(!allows_public_url_access(&[with_source], "NONE"));
    }

    #[test]
    fn qualifiers_and_cors_limits() {
        let r = |q: Option<&str>| FunctionRef {
            name: "f".into(),
            qualifier: q.map(str::to_owned),
        };
        assert!(check_url_qualifier(&r(None)).is_ok());
        assert!(check_url_qualifier(&r(Some("live"))).is_ok());
        assert!(check_url_qualifier(&r(Some("1"))).is_err());
        assert!(check_url_qualifier(&r(Some("$LATEST"))).is_err());
        let cors = CorsInput {
            allow_methods: Some(vec!["GETTING".into()]),
            ..CorsInput::default()
        };
        assert!(validate_cors(&cors).is_err());
        let cors = CorsInput {
            max_age: Some(86_401),
            ..CorsInput::default()
        };
        assert!(validate_cors(&cors).is_err());
        let cors = CorsInput {
            allow_origins: Some(vec!["*".into()]),
            max_age: Some(60),
            ..CorsInput::default()
        };
        assert_eq!(validate_cors(&cors).ok().and_then(|c| c.max_age), Some(60));
    }
}
