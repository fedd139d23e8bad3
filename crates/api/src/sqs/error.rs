//! SQS's JSON error shape: `__type` names the modeled error, and `x-amzn-query-error` carries
//! the legacy (query protocol) code that botocore reports as the error code, e.g.
//! `AWS.SimpleQueueService.NonExistentQueue`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lambent_queues::QueueError;
use serde_json::json;

#[derive(Debug)]
pub struct SqsError {
    pub status: StatusCode,
    /// The error shape (`com.amazonaws.sqs#<shape>`).
    pub shape: &'static str,
    /// The legacy code sent in `x-amzn-query-error`.
    pub code: &'static str,
    pub message: String,
}

impl SqsError {
    pub fn new(shape: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            shape,
            code,
            message: message.into(),
        }
    }

    pub fn missing(parameter: &str) -> Self {
        QueueError::MissingParameter(format!(
            "The request must contain the parameter {parameter}."
        ))
        .into()
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        QueueError::InvalidParameterValue(message.into()).into()
    }

    /// `AWS.SimpleQueueService.<shape>` errors of the batch operations.
    pub fn batch(shape: &'static str, message: impl Into<String>) -> Self {
        let code = match shape {
            "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
            "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            "InvalidBatchEntryId" => "AWS.SimpleQueueService.InvalidBatchEntryId",
            _ => "AWS.SimpleQueueService.BatchRequestTooLong",
        };
        Self::new(shape, code, message)
    }
}

impl From<QueueError> for SqsError {
    fn from(e: QueueError) -> Self {
        let message = e.to_string();
        let (shape, code) = match &e {
            QueueError::QueueDoesNotExist => (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
            ),
            QueueError::QueueNameExists(_) => ("QueueNameExists", "QueueAlreadyExists"),
            QueueError::QueueDeletedRecently(_) => (
                "QueueDeletedRecently",
                "AWS.SimpleQueueService.QueueDeletedRecently",
            ),
            QueueError::InvalidAttributeName(_) => ("InvalidAttributeName", "InvalidAttributeName"),
            QueueError::InvalidAttributeValue(_) => {
                ("InvalidAttributeValue", "InvalidAttributeValue")
            }
            QueueError::InvalidParameterValue(_) => {
                ("InvalidParameterValueException", "InvalidParameterValue")
            }
            QueueError::MissingParameter(_) => {
                ("MissingRequiredParameterException", "MissingParameter")
            }
            QueueError::InvalidMessageContents(_) => {
                ("InvalidMessageContents", "InvalidMessageContents")
            }
            QueueError::ReceiptHandleIsInvalid(_) => {
                ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")
            }
            QueueError::MessageNotInflight(_) => (
                "MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
            ),
            QueueError::PurgeQueueInProgress(_) => (
                "PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
            ),
            QueueError::UnsupportedOperation(_) => (
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
            ),
            QueueError::Internal(detail) => {
                tracing::error!(%detail, "queue service failure");
                let mut error = SqsError::new("InternalError", "InternalError", message);
                error.status = StatusCode::INTERNAL_SERVER_ERROR;
                return error;
            }
        };
        SqsError::new(shape, code, message)
    }
}

impl IntoResponse for SqsError {
    fn into_response(self) -> Response {
        let fault = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let body = json!({
            "__type": format!("com.amazonaws.sqs#{}", self.shape),
            "message": self.message,
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::CONTENT_TYPE),
        );
        if let Ok(value) = HeaderValue::from_str(&format!("{};{fault}", self.code)) {
            headers.insert("x-amzn-query-error", value);
        }
        response
    }
}
