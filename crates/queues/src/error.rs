//! Failures of queue operations, one variant per SQS error code, each carrying the message SQS
//! sends, so every front end (the SQS JSON API, Lambda's destinations) can report them verbatim.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// `QueueDoesNotExist` (legacy `AWS.SimpleQueueService.NonExistentQueue`).
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    /// `QueueNameExists` (legacy `QueueAlreadyExists`).
    #[error("{0}")]
    QueueNameExists(String),
    #[error("{0}")]
    QueueDeletedRecently(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("{0}")]
    ReceiptHandleIsInvalid(String),
    #[error("{0}")]
    MessageNotInflight(String),
    #[error("{0}")]
    PurgeQueueInProgress(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    /// Storage failed: nothing the caller did wrong, and nothing was acknowledged.
    #[error("{0}")]
    Internal(String),
}

impl QueueError {
    pub(crate) fn invalid_value(
        parameter: &str,
        value: impl std::fmt::Display,
        reason: &str,
    ) -> Self {
        QueueError::InvalidParameterValue(format!(
            "Value {value} for parameter {parameter} is invalid. Reason: {reason}"
        ))
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        QueueError::Internal(format!("queue storage: {e}"))
    }
}

impl From<serde_json::Error> for QueueError {
    fn from(e: serde_json::Error) -> Self {
        QueueError::Internal(format!("queue storage record: {e}"))
    }
}
