//! Reserved concurrency: PutFunctionConcurrency, GetFunctionConcurrency,
//! DeleteFunctionConcurrency, and the account's concurrency pool.

use crate::ControlError;
use crate::names::FunctionRef;
use crate::service::FunctionService;
use std::sync::atomic::Ordering;

/// Lambda keeps at least this much concurrency unreserved for functions without a reservation.
pub const MIN_UNRESERVED_CONCURRENCY: u64 = 100;

impl FunctionService {
    /// The account's concurrency limit (`--max-concurrency`).
    pub fn concurrency_limit(&self) -> u64 {
        self.concurrency_limit
    }

    /// Concurrency left for functions without a reservation.
    pub fn unreserved_concurrency(&self) -> u64 {
        self.concurrency_limit
            .saturating_sub(self.reserved_total.load(Ordering::Relaxed))
    }

    /// Reads the reservations from the store (at start-up).
    pub async fn load_reservations(&self) -> Result<(), ControlError> {
        let total = self.store.reserved_concurrency_total(None).await?;
        self.reserved_total.store(total, Ordering::Relaxed);
        Ok(())
    }

    pub async fn put_function_concurrency(
        &self,
        reference: &FunctionRef,
        reserved: Option<i64>,
    ) -> Result<u32, ControlError> {
        require_function_only(reference)?;
        let reference = reference.or_latest();
        let reserved =
            reserved.ok_or_else(|| ControlError::null_member("reservedConcurrentExecutions"))?;
        let _guard = self.concurrency_lock.lock().await;
        self.record(&reference).await?;
        if reserved < 0 {
            return Err(ControlError::constraint(
                &reserved.to_string(),
                "reservedConcurrentExecutions",
                "Member must have value greater than or equal to 0",
            ));
        }
        let reserved = u32::try_from(reserved).map_err(|_| over_reserved())?;
        let others = self
            .store
            .reserved_concurrency_total(Some(&reference.name))
            .await?;
        if others + u64::from(reserved) + MIN_UNRESERVED_CONCURRENCY > self.concurrency_limit {
            return Err(over_reserved());
        }
        self.mutate(&reference, |current| {
            let mut next = current.clone();
            next.reserved_concurrency = Some(reserved);
            Ok((next, ()))
        })
        .await?;
        self.reserved_total
            .store(others + u64::from(reserved), Ordering::Relaxed);
        Ok(reserved)
    }

    pub async fn get_function_concurrency(
        &self,
        reference: &FunctionRef,
    ) -> Result<Option<u32>, ControlError> {
        require_function_only(reference)?;
        Ok(self
            .record(&reference.or_latest())
            .await?
            .reserved_concurrency)
    }

    pub async fn delete_function_concurrency(
        &self,
        reference: &FunctionRef,
    ) -> Result<(), ControlError> {
        require_function_only(reference)?;
        let reference = reference.or_latest();
        let _guard = self.concurrency_lock.lock().await;
        self.mutate(&reference, |current| {
            let mut next = current.clone();
            next.reserved_concurrency = None;
            Ok((next, ()))
        })
        .await?;
        self.load_reservations().await?;
        Ok(())
    }
}

fn require_function_only(reference: &FunctionRef) -> Result<(), ControlError> {
    if reference.qualifier.is_some() {
        return Err(ControlError::InvalidParameterValue(
            "This operation is permitted on Lambda functions only. Aliases and versions do not \
             support this operation. Please specify either a function name or an unqualified \
             function ARN."
                .into(),
        ));
    }
    Ok(())
}

fn over_reserved() -> ControlError {
    ControlError::InvalidParameterValue(format!(
        "Specified ReservedConcurrentExecutions for function decreases account's \
         UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED_CONCURRENCY}]."
    ))
}
