//! SigV4 verification of every API request when credentials are configured.

use crate::sigv4::{self, CredentialLookup, RequestParts};
use crate::{ApiError, AppState, body};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Access keys this server accepts, with their secrets.
#[derive(Clone, Debug, Default)]
pub struct CredentialSet(HashMap<String, String>);

impl CredentialSet {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl CredentialLookup for CredentialSet {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.0.get(access_key_id).cloned()
    }
}

/// Buffers the body (the signature covers it), verifies, and passes the request on unchanged.
pub async fn verify(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(credentials) = state.credentials.clone() else {
        return next.run(request).await;
    };
    let (parts, request_body) = request.into_parts();
    let bytes = match body::read(request_body, body::MAX_CONTROL_BODY, "this").await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let raw_path = parts.uri.path();
    let outcome = sigv4::verify(
        &RequestParts {
            method: parts.method.as_str(),
            raw_path,
            raw_query: parts.uri.query(),
            headers: &parts.headers,
            body: &bytes,
        },
        credentials.as_ref(),
        chrono::Utc::now(),
    );
    if let Err(e) = outcome {
        return ApiError::new(StatusCode::FORBIDDEN, e.aws_error_type(), e.message())
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
