//! Provisioned concurrency: PutProvisionedConcurrencyConfig, Get, Delete, List. The invoker
//! keeps the requested number of environments initialised ([`FunctionService::provisioned_targets`]).

use crate::ControlError;
use crate::concurrency::MIN_UNRESERVED_CONCURRENCY;
use crate::names::FunctionRef;
use crate::qualifier::Target;
use crate::service::FunctionService;
use chrono::{DateTime, Utc};
use lambent_store::{FunctionRecord, ProvisionedRecord};

/// One configuration as the API reports it (the allocation comes from the invoker).
#[derive(Clone, Debug)]
pub struct ProvisionedView {
    pub function_name: String,
    pub qualifier: String,
    pub requested: u32,
    pub last_modified: DateTime<Utc>,
}

/// What the invoker must keep warm: `requested` environments of `version` of `function`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionedTarget {
    pub function: String,
    /// The qualifier the configuration is on (a version or an alias).
    pub qualifier: String,
    /// The version the environments run (an alias's primary version).
    pub version: String,
    pub requested: u32,
}

impl FunctionService {
    pub async fn put_provisioned_concurrency(
        &self,
        reference: &FunctionRef,
        requested: Option<i64>,
    ) -> Result<ProvisionedView, ControlError> {
        let qualifier = provisioned_qualifier(reference)?;
        let requested = requested
            .ok_or_else(|| ControlError::null_member("provisionedConcurrentExecutions"))?;
        if requested < 1 {
            return Err(ControlError::constraint(
                &requested.to_string(),
                "provisionedConcurrentExecutions",
                "Member must have value greater than or equal to 1",
            ));
        }
        let requested = u32::try_from(requested).map_err(|_| self.over_unreserved())?;
        let unreserved = self.unreserved_concurrency();
        if u64::from(requested) > unreserved {
            return Err(ControlError::InvalidParameterValue(format!(
                "Specified ConcurrentExecutions for function is greater than account's \
                 unreserved concurrency [{unreserved}]."
            )));
        }
        if u64::from(requested) + MIN_UNRESERVED_CONCURRENCY > unreserved {
            return Err(self.over_unreserved());
        }
        let (record, ()) = self
            .mutate(reference, |current| {
                self.require_provisioning_target(current, reference, &qualifier)?;
                // One version gets environments through one configuration: on the version
                // itself or on one alias of it.
                let version_of = |q: &str| match Target::of(Some(q)) {
                    Target::Alias(alias) => current
                        .aliases
                        .get(&alias)
                        .map(|a| a.function_version.clone()),
                    _ => Some(q.to_owned()),
                };
                let this_version = version_of(&qualifier);
                if current
                    .provisioned
                    .keys()
                    .any(|other| *other != qualifier && version_of(other) == this_version)
                {
                    return Err(ControlError::ResourceConflict(
                        "Alias can't be used for Provisioned Concurrency configuration on an \
                         already Provisioned version"
                            .into(),
                    ));
                }
                let mut next = current.clone();
                next.provisioned.insert(
                    qualifier.clone(),
                    ProvisionedRecord {
                        requested,
                        last_modified: Utc::now(),
                    },
                );
                Ok((next, ()))
            })
            .await?;
        view(&record, &qualifier)
    }

    pub async fn get_provisioned_concurrency(
        &self,
        reference: &FunctionRef,
    ) -> Result<ProvisionedView, ControlError> {
        let qualifier = provisioned_qualifier(reference)?;
        let record = self.record_for_provisioning(reference).await?;
        view(&record, &qualifier)
    }

    pub async fn delete_provisioned_concurrency(
        &self,
        reference: &FunctionRef,
    ) -> Result<(), ControlError> {
        let qualifier = provisioned_qualifier(reference)?;
        self.mutate(reference, |current| {
            self.require_provisioning_target(current, reference, &qualifier)?;
            if !current.provisioned.contains_key(&qualifier) {
                return Err(not_configured());
            }
            let mut next = current.clone();
            next.provisioned.remove(&qualifier);
            Ok((next, ()))
        })
        .await?;
        Ok(())
    }

    pub async fn list_provisioned_concurrency(
        &self,
        reference: &FunctionRef,
    ) -> Result<Vec<ProvisionedView>, ControlError> {
        let record = self
            .record(&FunctionRef {
                name: reference.name.clone(),
                qualifier: None,
            })
            .await?;
        record
            .provisioned
            .keys()
            .map(|qualifier| view(&record, qualifier))
            .collect()
    }

    /// Every configuration of every function, resolved to the version its environments run.
    pub async fn provisioned_targets(&self) -> Result<Vec<ProvisionedTarget>, ControlError> {
        let mut targets = Vec::new();
        for record in self.store.functions_with_provisioning().await? {
            for (qualifier, config) in &record.provisioned {
                let version = match Target::of(Some(qualifier)) {
                    Target::Alias(alias) => match record.aliases.get(&alias) {
                        Some(a) => a.function_version.clone(),
                        None => continue,
                    },
                    _ => qualifier.clone(),
                };
                targets.push(ProvisionedTarget {
                    function: record.name.clone(),
                    qualifier: qualifier.clone(),
                    version,
                    requested: config.requested,
                });
            }
        }
        Ok(targets)
    }

    async fn record_for_provisioning(
        &self,
        reference: &FunctionRef,
    ) -> Result<FunctionRecord, ControlError> {
        let record = self
            .store
            .get_function(&reference.name)
            .await?
            .ok_or_else(|| self.missing_target(reference))?;
        let qualifier = provisioned_qualifier(reference)?;
        self.require_provisioning_target(&record, reference, &qualifier)?;
        Ok(record)
    }

    fn require_provisioning_target(
        &self,
        record: &FunctionRecord,
        reference: &FunctionRef,
        qualifier: &str,
    ) -> Result<(), ControlError> {
        let exists = match Target::of(Some(qualifier)) {
            Target::Version(n) => record.versions.contains_key(&n),
            Target::Alias(a) => record.aliases.contains_key(&a),
            Target::Latest => false,
        };
        if exists {
            Ok(())
        } else {
            Err(self.missing_target(reference))
        }
    }

    /// Lambda names a missing alias "Cannot find alias arn: …" and a missing version "Function
    /// not found: …".
    pub(crate) fn missing_target(&self, reference: &FunctionRef) -> ControlError {
        match Target::of(reference.qualifier.as_deref()) {
            Target::Alias(alias) => ControlError::ResourceNotFound(format!(
                "Cannot find alias arn: {}",
                self.account.qualified_arn(&reference.name, Some(&alias))
            )),
            _ => reference.not_found(&self.account),
        }
    }

    fn over_unreserved(&self) -> ControlError {
        ControlError::InvalidParameterValue(format!(
            "Specified ConcurrentExecutions for function decreases account's \
             UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED_CONCURRENCY}]."
        ))
    }
}

fn provisioned_qualifier(reference: &FunctionRef) -> Result<String, ControlError> {
    match reference.qualifier.as_deref() {
        None => Err(ControlError::null_member("qualifier")),
        Some("$LATEST") => Err(ControlError::InvalidParameterValue(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
                .into(),
        )),
        Some(q) => Ok(q.to_owned()),
    }
}

fn not_configured() -> ControlError {
    ControlError::ProvisionedConfigNotFound(
        "No Provisioned Concurrency Config found for this function".into(),
    )
}

fn view(record: &FunctionRecord, qualifier: &str) -> Result<ProvisionedView, ControlError> {
    let config = record
        .provisioned
        .get(qualifier)
        .ok_or_else(not_configured)?;
    Ok(ProvisionedView {
        function_name: record.name.clone(),
        qualifier: qualifier.to_owned(),
        requested: config.requested,
        last_modified: config.last_modified,
    })
}
