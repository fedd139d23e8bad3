//! Query strings as the AWS SDKs send them (repeated keys allowed, e.g. `tagKeys`).

use axum::extract::RawQuery;

#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: &RawQuery) -> Self {
        let pairs = raw
            .0
            .as_deref()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Self(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl QueryParams {
    /// `MaxItems`, which must be a number when present.
    pub fn max_items(&self) -> Result<Option<i64>, crate::ApiError> {
        match self.get("MaxItems") {
            None => Ok(None),
            Some(raw) => raw.parse::<i64>().map(Some).map_err(|_| {
                crate::ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value '{raw}' at 'maxItems' failed to \
                         satisfy constraint: Member must be a number"
                    ),
                )
            }),
        }
    }
}
