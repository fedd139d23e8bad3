//! CloudWatch Logs' JSON 1.1 error shape: HTTP 400 and `{"__type": NAME, "message": ...}`, which
//! botocore turns into `ClientError` with that code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lambent_telemetry::LogStoreError;
use serde_json::json;

#[derive(Debug)]
pub struct LogsError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl LogsError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            message,
        )
    }

    pub fn group_not_found() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }

    pub fn stream_not_found() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceUnavailableException",
            message,
        )
    }
}

impl From<LogStoreError> for LogsError {
    fn from(e: LogStoreError) -> Self {
        match e {
            LogStoreError::GroupNotFound => Self::group_not_found(),
            LogStoreError::StreamNotFound => Self::stream_not_found(),
            LogStoreError::GroupExists => Self::new(
                StatusCode::BAD_REQUEST,
                "ResourceAlreadyExistsException",
                "The specified log group already exists",
            ),
            LogStoreError::StreamExists => Self::new(
                StatusCode::BAD_REQUEST,
                "ResourceAlreadyExistsException",
                "The specified log stream already exists",
            ),
            other => {
                tracing::error!(error = %other, "log store failure");
                Self::internal(other.to_string())
            }
        }
    }
}

impl IntoResponse for LogsError {
    fn into_response(self) -> Response {
        let body = json!({ "__type": self.kind, "message": self.message });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::CONTENT_TYPE),
        );
        response
    }
}
