//! How pollers run the function: synchronously, through the invoker, so mapping invocations
//! share the function's concurrency and throttling with every other caller.

use async_trait::async_trait;
use bytes::Bytes;
use lambent_control::FunctionService;
use lambent_invoker::{InvokeError, InvokeRequest, Invoker};
use std::sync::Arc;

#[derive(Debug)]
pub enum InvokeOutcome {
    /// The function returned; its response payload.
    Success(Bytes),
    /// The function raised or crashed (`X-Amz-Function-Error`).
    FunctionError,
    /// Over a concurrency limit: try again later.
    Throttled,
    /// Could not run at all (function gone, not ready, ...).
    Failed(String),
}

#[async_trait]
pub trait FunctionInvoker: Send + Sync {
    async fn invoke(&self, function_arn: &str, payload: Bytes) -> InvokeOutcome;
}

/// The production invoker.
pub struct LambentInvoker {
    pub invoker: Arc<Invoker>,
    pub functions: Arc<FunctionService>,
}

#[async_trait]
impl FunctionInvoker for LambentInvoker {
    async fn invoke(&self, function_arn: &str, payload: Bytes) -> InvokeOutcome {
        let function = match self.functions.parse_ref(function_arn, None) {
            Ok(reference) => reference,
            Err(e) => return InvokeOutcome::Failed(e.to_string()),
        };
        let request = InvokeRequest {
            function,
            payload,
            tail_logs: false,
            client_context: None,
            trace_id: None,
            request_id: None,
        };
        match self.invoker.invoke(request).await {
            Ok(response) if response.function_error.is_some() => InvokeOutcome::FunctionError,
            Ok(response) => InvokeOutcome::Success(response.payload),
            Err(InvokeError::Throttled(_)) => InvokeOutcome::Throttled,
            Err(e) => InvokeOutcome::Failed(e.to_string()),
        }
    }
}
