//! The ports implemented over the real control plane and invoker.

use crate::ports::{AsyncSettings, Attempted, Delivery, Functions, ResolvedTarget, Runner};
use async_trait::async_trait;
use lambent_control::{ControlError, FunctionRef, FunctionService};
use lambent_invoker::{InvokeError, InvokeRequest, Invoker};
use std::sync::Arc;

/// Runs events through the same invoker as synchronous calls, so they share the function's
/// reserved concurrency, the account's pool and warm environments.
pub struct InvokerRunner(pub Arc<Invoker>);

#[async_trait]
impl Runner for InvokerRunner {
    async fn run(&self, delivery: &Delivery) -> Attempted {
        // An unqualified event runs `$LATEST` with the unqualified ARN in its context; a
        // qualified one runs the version chosen when it was accepted.
        let qualifier = delivery
            .qualifier
            .as_ref()
            .map(|_| delivery.version.clone());
        let request = InvokeRequest {
            function: FunctionRef {
                name: delivery.function.clone(),
                qualifier,
            },
            payload: delivery.payload.clone(),
            tail_logs: false,
            client_context: None,
            trace_id: None,
            request_id: Some(delivery.request_id.clone()),
        };
        match self.0.invoke(request).await {
            Ok(response) => Attempted::Ran {
                executed_version: response.executed_version,
                payload: response.payload,
                function_error: response.function_error.map(str::to_owned),
            },
            Err(InvokeError::Throttled(reason)) => Attempted::Throttled(reason.as_str().into()),
            Err(InvokeError::Control(ControlError::ResourceNotFound(m))) => Attempted::Gone(m),
            Err(InvokeError::RequestTooLarge) => {
                Attempted::Gone(InvokeError::RequestTooLarge.to_string())
            }
            Err(e) => Attempted::SystemError(e.to_string()),
        }
    }
}

/// Reads settings and resolves destinations through the control plane.
pub struct ServiceFunctions(pub Arc<FunctionService>);

#[async_trait]
impl Functions for ServiceFunctions {
    async fn settings(
        &self,
        function: &str,
        qualifier: &str,
        version: &str,
    ) -> Result<Option<AsyncSettings>, String> {
        self.0
            .async_settings(function, qualifier, version)
            .await
            .map_err(|e| e.to_string())
    }

    async fn resolve(&self, function_arn: &str) -> Result<ResolvedTarget, String> {
        let reference = self
            .0
            .parse_ref(function_arn, None)
            .map_err(|e| e.to_string())?;
        let resolved = self
            .0
            .resolve(&reference.or_latest())
            .await
            .map_err(|e| e.to_string())?;
        Ok(ResolvedTarget {
            function: resolved.name,
            qualifier: reference.qualifier,
            version: resolved.version,
        })
    }

    fn qualified_arn(&self, function: &str, qualifier: &str) -> String {
        self.0.account().qualified_arn(function, Some(qualifier))
    }
}
