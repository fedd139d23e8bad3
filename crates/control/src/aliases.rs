//! Aliases: named pointers to a version, optionally splitting traffic with a second version.

use crate::ControlError;
use crate::input::AliasInput;
use crate::names::FunctionRef;
use crate::qualifier::{Target, alias_name};
use crate::service::{FunctionService, check_revision, new_revision, page_size};
use crate::views::AliasView;
use lambent_store::{AliasRecord, FunctionRecord};
use std::collections::BTreeMap;

impl FunctionService {
    pub async fn create_alias(
        &self,
        reference: &FunctionRef,
        input: AliasInput,
    ) -> Result<AliasView, ControlError> {
        let name = input
            .name
            .clone()
            .ok_or_else(|| ControlError::null_member("name"))?;
        alias_name(&name)?;
        let version = input
            .function_version
            .clone()
            .ok_or_else(|| ControlError::null_member("functionVersion"))?;
        let weights = weights_of(&input)?;
        if self.store.get_function(&reference.name).await?.is_none() {
            // Lambda names the version the alias was to point to.
            return Err(ControlError::ResourceNotFound(format!(
                "Function not found: {}",
                self.account.qualified_arn(&reference.name, Some(&version))
            )));
        }
        let (record, ()) = self
            .mutate(&unqualified(reference), |current| {
                self.check_alias_target(current, &version, &weights)?;
                if current.aliases.contains_key(&name) {
                    return Err(ControlError::ResourceConflict(format!(
                        "Alias already exists: {}",
                        self.account.qualified_arn(&current.name, Some(&name))
                    )));
                }
                let mut next = current.clone();
                next.aliases.insert(
                    name.clone(),
                    AliasRecord {
                        function_version: version.clone(),
                        description: input.description.clone().unwrap_or_default(),
                        additional_version_weights: weights.clone(),
                        revision_id: new_revision(),
                    },
                );
                Ok((next, ()))
            })
            .await?;
        self.alias_view(&record, &name)
    }

    pub async fn get_alias(
        &self,
        reference: &FunctionRef,
        name: &str,
    ) -> Result<AliasView, ControlError> {
        let record = self.record(&unqualified(reference)).await?;
        if !record.aliases.contains_key(name) {
            return Err(self.alias_missing(&record.name, name, "Cannot find alias arn:"));
        }
        self.alias_view(&record, name)
    }

    pub async fn update_alias(
        &self,
        reference: &FunctionRef,
        name: &str,
        input: AliasInput,
    ) -> Result<AliasView, ControlError> {
        let weights = input
            .routing_config
            .is_some()
            .then(|| weights_of(&input))
            .transpose()?;
        let (record, ()) = self
            .mutate(&unqualified(reference), |current| {
                let alias = current
                    .aliases
                    .get(name)
                    .ok_or_else(|| self.alias_missing(&current.name, name, "Alias not found:"))?;
                check_revision(input.revision_id.as_deref(), &alias.revision_id)?;
                let mut updated = alias.clone();
                if let Some(version) = &input.function_version {
                    updated.function_version = version.clone();
                }
                if let Some(weights) = &weights {
                    updated.additional_version_weights = weights.clone();
                }
                if let Some(description) = &input.description {
                    updated.description = description.clone();
                }
                self.check_alias_target(
                    current,
                    &updated.function_version,
                    &updated.additional_version_weights,
                )?;
                updated.revision_id = new_revision();
                let mut next = current.clone();
                next.aliases.insert(name.to_owned(), updated);
                Ok((next, ()))
            })
            .await?;
        self.alias_view(&record, name)
    }

    /// Deletes an alias; deleting one that does not exist succeeds, as on Lambda.
    pub async fn delete_alias(
        &self,
        reference: &FunctionRef,
        name: &str,
    ) -> Result<(), ControlError> {
        self.mutate(&unqualified(reference), |current| {
            let mut next = current.clone();
            next.aliases.remove(name);
            next.qualified_policies.remove(name);
            next.provisioned.remove(name);
            Ok((next, ()))
        })
        .await?;
        Ok(())
    }

    pub async fn list_aliases(
        &self,
        reference: &FunctionRef,
        function_version: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<AliasView>, Option<String>), ControlError> {
        let limit = page_size(max_items)?;
        let record = self.record(&unqualified(reference)).await?;
        let names: Vec<&String> = record
            .aliases
            .iter()
            .filter(|(_, a)| function_version.is_none_or(|v| a.function_version == v))
            .map(|(name, _)| name)
            .filter(|name| marker.is_none_or(|m| m.is_empty() || name.as_str() > m))
            .collect();
        let page: Vec<AliasView> = names
            .iter()
            .take(limit)
            .map(|name| self.alias_view(&record, name))
            .collect::<Result<_, _>>()?;
        let next = (names.len() > limit)
            .then(|| page.last().map(|a| a.name.clone()))
            .flatten();
        Ok((page, next))
    }

    fn alias_view(&self, record: &FunctionRecord, name: &str) -> Result<AliasView, ControlError> {
        let alias = record
            .aliases
            .get(name)
            .ok_or_else(|| self.alias_missing(&record.name, name, "Cannot find alias arn:"))?;
        Ok(AliasView {
            function_name: record.name.clone(),
            name: name.to_owned(),
            function_version: alias.function_version.clone(),
            description: alias.description.clone(),
            additional_version_weights: alias.additional_version_weights.clone(),
            revision_id: alias.revision_id.clone(),
        })
    }

    fn alias_missing(&self, function: &str, alias: &str, prefix: &str) -> ControlError {
        ControlError::ResourceNotFound(format!(
            "{prefix} {}",
            self.account.qualified_arn(function, Some(alias))
        ))
    }

    /// The version and weights must name existing versions; weights need published versions.
    fn check_alias_target(
        &self,
        record: &FunctionRecord,
        version: &str,
        weights: &BTreeMap<String, f64>,
    ) -> Result<(), ControlError> {
        let exists = |v: &str| match Target::of(Some(v)) {
            Target::Latest => true,
            Target::Version(n) => record.versions.contains_key(&n),
            Target::Alias(_) => false,
        };
        if !exists(version) {
            return Err(ControlError::ResourceNotFound(format!(
                "Function not found: {}",
                self.account.qualified_arn(&record.name, Some(version))
            )));
        }
        if weights.is_empty() {
            return Ok(());
        }
        if version == "$LATEST" {
            return Err(ControlError::InvalidParameterValue(
                "$LATEST is not supported for an alias pointing to more than 1 version".into(),
            ));
        }
        for extra in weights.keys() {
            if extra == version {
                return Err(ControlError::InvalidParameterValue(format!(
                    "Invalid function version {extra}. Function version {extra} is already \
                     included in routing configuration."
                )));
            }
            if !exists(extra) {
                return Err(ControlError::ResourceNotFound(format!(
                    "Function not found: {}",
                    self.account.qualified_arn(&record.name, Some(extra))
                )));
            }
        }
        Ok(())
    }
}

/// Checks `RoutingConfig.AdditionalVersionWeights` the way the API model and Lambda do.
fn weights_of(input: &AliasInput) -> Result<BTreeMap<String, f64>, ControlError> {
    let weights = input
        .routing_config
        .as_ref()
        .and_then(|r| r.additional_version_weights.clone())
        .unwrap_or_default();
    let rendered = || {
        let pairs: Vec<String> = weights.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{{{}}}", pairs.join(", "))
    };
    if weights
        .keys()
        .any(|k| k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ControlError::constraint(
            &rendered(),
            "routingConfig.additionalVersionWeights",
            "Map keys must satisfy constraint: [Member must have length less than or equal to \
             1024, Member must have length greater than or equal to 1, Member must satisfy \
             regular expression pattern: [0-9]+]",
        ));
    }
    if weights.values().any(|w| !(0.0..=1.0).contains(w)) {
        return Err(ControlError::constraint(
            &rendered(),
            "routingConfig.additionalVersionWeights",
            "Map value must satisfy constraint: [Member must have value less than or equal to \
             1.0, Member must have value greater than or equal to 0.0, Member must not be null]",
        ));
    }
    if weights.len() > 1 {
        return Err(ControlError::InvalidParameterValue(
            "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
        ));
    }
    Ok(weights)
}

fn unqualified(reference: &FunctionRef) -> FunctionRef {
    FunctionRef {
        name: reference.name.clone(),
        qualifier: None,
    }
}
