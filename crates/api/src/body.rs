//! Reading request bodies with Lambda's size limits and JSON errors.

use crate::ApiError;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Lambda refuses control-plane requests larger than this (the CreateFunction limit, which covers
/// a 50 MB zip after base64).
pub const MAX_CONTROL_BODY: usize = 70_167_211;

pub async fn read(body: Body, limit: usize, operation: &str) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("Request must be smaller than {limit} bytes for the {operation} operation"),
        )
    })
}

/// Parses a JSON request body; an empty body means "no members", as the SDKs may send.
pub async fn json<T: DeserializeOwned + Default>(
    body: Body,
    operation: &str,
) -> Result<T, ApiError> {
    let bytes = read(body, MAX_CONTROL_BODY, operation).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(ApiError::invalid_request_content)
}
