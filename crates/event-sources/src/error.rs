//! Failures of mapping operations, each naming the Lambda error it is reported as.

use lambent_control::ControlError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EsmError {
    /// `InvalidParameterValueException` (400).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// `ValidationException` (400): a request member breaks the API model's constraints.
    #[error("{0}")]
    Validation(String),
    /// `ResourceNotFoundException` (404).
    #[error("{0}")]
    NotFound(String),
    /// `ResourceConflictException` (409).
    #[error("{0}")]
    Conflict(String),
    /// `ResourceInUseException` (400).
    #[error("{0}")]
    InUse(String),
    /// An error of the function lookup, reported as the control plane reports it.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// `ServiceException` (500).
    #[error("{0}")]
    Internal(String),
}

impl EsmError {
    pub fn not_found() -> Self {
        EsmError::NotFound("The resource you requested does not exist.".into())
    }
}

impl From<rusqlite::Error> for EsmError {
    fn from(e: rusqlite::Error) -> Self {
        EsmError::Internal(format!("event source mapping storage: {e}"))
    }
}

impl From<serde_json::Error> for EsmError {
    fn from(e: serde_json::Error) -> Self {
        EsmError::Internal(format!("event source mapping record: {e}"))
    }
}
