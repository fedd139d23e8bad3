//! `GetFunction`'s `Code.Location`: a URL on this server from which the zip can be downloaded,
//! signed like a presigned S3 URL so that it works without AWS credentials but cannot be forged
//! or reused after it expires.

use crate::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use lambent_control::code::CodeDigest;
use sha2::Sha256;

/// How long a download URL stays valid (Lambda's presigned URLs last 10 minutes).
const VALID_SECONDS: i64 = 600;
pub const ROUTE: &str = "/_lambent/code/{digest}";

pub struct CodeUrls {
    key: [u8; 32],
}

impl CodeUrls {
    /// A fresh signing key per server start: URLs die with the process, as they should.
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self { key }
    }

    fn signature(&self, digest_hex: &str, expires: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(digest_hex.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The download URL, on the host the client used to reach us.
    pub fn location(&self, headers: &HeaderMap, digest_hex: &str) -> String {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let expires = chrono::Utc::now().timestamp() + VALID_SECONDS;
        format!(
            "http://{host}/_lambent/code/{digest_hex}?Expires={expires}&Signature={}",
            self.signature(digest_hex, expires)
        )
    }

    fn check(&self, digest_hex: &str, expires: &str, signature: &str) -> bool {
        let Ok(expires) = expires.parse::<i64>() else {
            return false;
        };
        if expires < chrono::Utc::now().timestamp() {
            return false;
        }
        let Ok(given) = hex::decode(signature) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(digest_hex.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

impl Default for CodeUrls {
    fn default() -> Self {
        Self::new()
    }
}

pub async fn download(
    State(state): State<AppState>,
    Path(digest_hex): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let query = crate::query::QueryParams::parse(&query);
    let denied = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "The code download URL is invalid or has expired; call GetFunction for a new one.",
        )
    };
    let (Some(expires), Some(signature)) = (query.get("Expires"), query.get("Signature")) else {
        return Err(denied());
    };
    if !state.code_urls.check(&digest_hex, expires, signature) {
        return Err(denied());
    }
    let digest = CodeDigest::from_hex(&digest_hex).ok_or_else(denied)?;
    let path = state.service.code_store().blob_path(&digest);
    let bytes = tokio::fs::read(&path).await.map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "The code package no longer exists.",
        )
    })?;
    Ok((
        [(header::CONTENT_TYPE, "application/zip")],
        Body::from(bytes),
    )
        .into_response())
}
