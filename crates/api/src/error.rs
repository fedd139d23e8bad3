//! Lambda's error wire format: status code, `x-amzn-ErrorType`, and a JSON body with `Type` and
//! the message under the key the API model uses for that error.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambent_control::ControlError;
use serde_json::json;

/// An error as the front door sends it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub aws_type: &'static str,
    pub message: String,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// Extra body members (e.g. a throttle's `Reason`).
    pub members: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, aws_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            aws_type,
            message: message.into(),
            headers: Vec::new(),
            members: Vec::new(),
        }
    }

    pub fn invalid_request_content(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {detail}"),
        )
    }

    pub fn service(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            message,
        )
    }

    /// An operation of the Lambda API that this release of Lambent does not implement.
    pub fn not_implemented(operation: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplementedException",
            format!("The {operation} operation is not implemented by this Lambent release yet."),
        )
    }

    fn message_key(&self) -> &'static str {
        // The API model spells the member `Message` for these errors and `message` for the rest.
        match self.aws_type {
            "ResourceNotFoundException"
            | "ServiceException"
            | "ValidationException"
            | "ResourceInUseException"
            | "InvalidRuntimeException"
            | "InvalidZipFileException"
            | "UnknownOperationException" => "Message",
            _ => "message",
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let status = match &e {
            ControlError::Validation(_)
            | ControlError::InvalidParameterValue(_)
            | ControlError::PolicyLengthExceeded(_) => StatusCode::BAD_REQUEST,
            ControlError::ResourceNotFound(_) | ControlError::ProvisionedConfigNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ControlError::RequestEntityTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ControlError::ResourceConflict(_) => StatusCode::CONFLICT,
            ControlError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ControlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let ControlError::Internal(detail) = &e {
            tracing::error!(%detail, "internal error");
        }
        Self::new(status, e.aws_type(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "Service"
        } else {
            "User"
        };
        let mut body = serde_json::Map::new();
        body.insert("Type".into(), json!(kind));
        body.insert(self.message_key().into(), json!(self.message));
        for (key, value) in &self.members {
            body.insert((*key).into(), json!(value));
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.aws_type));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}
