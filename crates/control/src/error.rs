use lambent_store::StoreError;
use thiserror::Error;

/// Why a control-plane operation was refused. Each variant is one of Lambda's error types; the
/// front door maps them to status codes and wire shapes. A refused operation changed nothing.
#[derive(Debug, Error)]
pub enum ControlError {
    /// A request member broke the API model's constraints (`ValidationException`, 400).
    #[error("{0}")]
    Validation(String),
    /// A value is well-formed but not acceptable (`InvalidParameterValueException`, 400).
    #[error("{0}")]
    InvalidParameterValue(String),
    /// `ResourceNotFoundException` (404).
    #[error("{0}")]
    ResourceNotFound(String),
    /// `ResourceConflictException` (409).
    #[error("{0}")]
    ResourceConflict(String),
    /// A stale RevisionId (`PreconditionFailedException`, 412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// A code package over the direct-upload limit (`RequestEntityTooLargeException`, 413).
    #[error("{0}")]
    RequestEntityTooLarge(String),
    /// The resource policy would exceed 20 KB (`PolicyLengthExceededException`, 400).
    #[error("{0}")]
    PolicyLengthExceeded(String),
    /// `ProvisionedConcurrencyConfigNotFoundException` (404).
    #[error("{0}")]
    ProvisionedConfigNotFound(String),
    /// Something went wrong on our side (`ServiceException`, 500).
    #[error("{0}")]
    Internal(String),
}

impl ControlError {
    /// Lambda's name for this error, as sent in `x-amzn-ErrorType`.
    pub fn aws_type(&self) -> &'static str {
        match self {
            ControlError::Validation(_) => "ValidationException",
            ControlError::InvalidParameterValue(_) => "InvalidParameterValueException",
            ControlError::ResourceNotFound(_) => "ResourceNotFoundException",
            ControlError::ResourceConflict(_) => "ResourceConflictException",
            ControlError::PreconditionFailed(_) => "PreconditionFailedException",
            ControlError::PolicyLengthExceeded(_) => "PolicyLengthExceededException",
            ControlError::RequestEntityTooLarge(_) => "RequestEntityTooLargeException",
            ControlError::ProvisionedConfigNotFound(_) => {
                "ProvisionedConcurrencyConfigNotFoundException"
            }
            ControlError::Internal(_) => "ServiceException",
        }
    }

    /// Lambda's error for a required member that is missing.
    pub(crate) fn null_member(member: &str) -> Self {
        ControlError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
             Member must not be null"
        ))
    }

    /// Message of Lambda's "1 validation error detected" form for a member breaking a constraint.
    pub(crate) fn constraint(value: &str, member: &str, constraint: &str) -> Self {
        ControlError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
             constraint: {constraint}"
        ))
    }
}

impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        ControlError::Internal(format!("storage failure: {e}"))
    }
}

pub(crate) const STALE_REVISION: &str = "The Revision Id provided does not match the latest \
     Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id";
