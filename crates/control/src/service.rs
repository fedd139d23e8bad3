//! The control-plane operations on functions. Every operation validates first, then writes once:
//! a refused request changes nothing, and a crash leaves the previous or the next state.

use crate::code::{CodeDigest, CodeLimits, CodeStore, ZipRejection, inspect_zip};
use crate::error::STALE_REVISION;
use crate::input::{
    AddPermissionInput, CreateFunctionInput, UpdateCodeInput, UpdateConfigurationInput,
};
use crate::names::{Account, FunctionRef, NameUse};
use crate::{ControlError, policy, tags, validate};
use base64::Engine;
use chrono::Utc;
use lambent_store::{FunctionRecord, FunctionStore, StateInfo, StoreError};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Mutex, broadcast};

/// ListFunctions returns at most this many functions per page, as Lambda does.
pub const MAX_LIST_ITEMS: usize = 50;

/// Sent whenever a function's code or configuration changes or the function is deleted, so that
/// environments running the old version can be retired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionChanged {
    pub name: String,
}

/// What an invocation needs to know about a function: its configuration and where its code is.
#[derive(Clone, Debug)]
pub struct ResolvedFunction {
    pub record: FunctionRecord,
    pub version: String,
    pub code_dir: PathBuf,
}

pub struct FunctionService {
    store: Arc<dyn FunctionStore>,
    code: Arc<CodeStore>,
    limits: CodeLimits,
    account: Account,
    /// Held while code is stored and committed and while unreferenced code is collected, so that a
    /// package being attached to a function is never collected underneath it.
    code_lock: Mutex<()>,
    changes: broadcast::Sender<FunctionChanged>,
}

impl FunctionService {
    pub fn new(
        store: Arc<dyn FunctionStore>,
        code: Arc<CodeStore>,
        limits: CodeLimits,
        account: Account,
    ) -> Self {
        let (changes, _) = broadcast::channel(256);
        Self {
            store,
            code,
            limits,
            account,
            code_lock: Mutex::new(()),
            changes,
        }
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    pub fn code_store(&self) -> &CodeStore {
        &self.code
    }

    pub fn code_store_limits(&self) -> &CodeLimits {
        &self.limits
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FunctionChanged> {
        self.changes.subscribe()
    }

    pub fn parse_ref(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionRef, ControlError> {
        FunctionRef::parse(name, qualifier, NameUse::Lookup, &self.account)
    }

    /// Removes code packages no function references (after a crash between storing a package and
    /// committing the function, or between deleting a function and removing its package).
    pub async fn collect_garbage(&self) -> Result<usize, ControlError> {
        let _guard = self.code_lock.lock().await;
        let referenced: HashSet<CodeDigest> = self
            .store
            .referenced_code()
            .await?
            .iter()
            .filter_map(|hex| CodeDigest::from_hex(hex))
            .collect();
        let code = Arc::clone(&self.code);
        blocking(move || code.sweep(&referenced).map_err(internal)).await
    }

    pub async fn create_function(
        &self,
        input: CreateFunctionInput,
    ) -> Result<FunctionRecord, ControlError> {
        let raw_name = input
            .function_name
            .as_deref()
            .ok_or_else(|| missing("FunctionName"))?;
        let reference = FunctionRef::parse(raw_name, None, NameUse::Create, &self.account)?;
        if reference.qualifier.is_some() {
            return Err(ControlError::InvalidParameterValue(
                "Function name cannot include a qualifier on CreateFunction.".into(),
            ));
        }
        let name = reference.name;
        if input.config.role.is_none() {
            return Err(missing("Role"));
        }
        if let Some(kind) = input.package_type.as_deref()
            && kind != "Zip"
        {
            return Err(ControlError::InvalidParameterValue(format!(
                "PackageType {kind} is not supported by Lambent; deploy a .zip file archive \
                 (PackageType Zip)."
            )));
        }
        if input.publish == Some(true) {
            return Err(not_yet("Publishing versions (Publish=true)"));
        }
        let mut config = validate::apply(&validate::defaults(&name), &input.config)?;
        if input.config.runtime.is_none() {
            return Err(ControlError::InvalidParameterValue(
                "Runtime is required for a .zip file archive (PackageType Zip).".into(),
            ));
        }
        if input.config.handler.is_none() {
            return Err(ControlError::InvalidParameterValue(
                "Handler is required for a .zip file archive (PackageType Zip).".into(),
            ));
        }
        if let Some(list) = &input.architectures {
            config.architectures = validate::architectures(list)?;
        }
        let tags = input.tags.unwrap_or_default();
        tags::validate(&tags)?;
        let code = input.code.ok_or_else(|| missing("Code"))?;
        if code.s3_bucket.is_some() || code.s3_key.is_some() || code.image_uri.is_some() {
            return Err(unsupported_code_source());
        }
        let zip = decode_zip(code.zip_file.as_deref())?;

        let _guard = self.code_lock.lock().await;
        if self.store.get_function(&name).await?.is_some() {
            return Err(self.already_exists(&name));
        }
        let (digest, size) = self.store_code(zip).await?;
        let now = Utc::now();
        let record = FunctionRecord {
            name: name.clone(),
            config,
            code_sha256_hex: digest.hex(),
            code_size: size,
            revision_id: new_revision(),
            last_modified: now,
            state: active(),
            tags,
            policy: Vec::new(),
        };
        match self.store.insert_function(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::AlreadyExists) => Err(self.already_exists(&name)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_function(
        &self,
        reference: &FunctionRef,
    ) -> Result<FunctionRecord, ControlError> {
        reference.require_latest(&self.account)?;
        self.store
            .get_function(&reference.name)
            .await?
            .ok_or_else(|| reference.not_found(&self.account))
    }

    /// Resolves a function for an invocation: the version to run and its unpacked code.
    pub async fn resolve(&self, reference: &FunctionRef) -> Result<ResolvedFunction, ControlError> {
        let record = self.get_function(reference).await?;
        let digest = CodeDigest::from_hex(&record.code_sha256_hex)
            .ok_or_else(|| ControlError::Internal("stored code digest is malformed".into()))?;
        Ok(ResolvedFunction {
            code_dir: self.code.tree_path(&digest),
            version: "$LATEST".into(),
            record,
        })
    }

    /// One page of functions and the marker of the next page, if any.
    pub async fn list_functions(
        &self,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<FunctionRecord>, Option<String>), ControlError> {
        let limit = match max_items {
            None => MAX_LIST_ITEMS,
            Some(n) if (1..=10_000).contains(&n) => (n as usize).min(MAX_LIST_ITEMS),
            Some(n) => {
                return Err(ControlError::constraint(
                    &n.to_string(),
                    "maxItems",
                    "Member must have value between 1 and 10000",
                ));
            }
        };
        let mut page = self
            .store
            .list_functions(marker.filter(|m| !m.is_empty()), limit + 1)
            .await?;
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|r| r.name.clone())
        } else {
            None
        };
        Ok((page, next))
    }

    pub async fn update_configuration(
        &self,
        reference: &FunctionRef,
        input: UpdateConfigurationInput,
    ) -> Result<FunctionRecord, ControlError> {
        reference.require_latest(&self.account)?;
        let updated = self
            .mutate(reference, input.revision_id.as_deref(), |current| {
                let mut next = current.clone();
                next.config = validate::apply(&current.config, &input.config)?;
                next.last_modified = Utc::now();
                Ok(next)
            })
            .await?;
        self.announce(&updated.name);
        Ok(updated)
    }

    pub async fn update_code(
        &self,
        reference: &FunctionRef,
        input: UpdateCodeInput,
    ) -> Result<FunctionRecord, ControlError> {
        reference.require_latest(&self.account)?;
        if input.s3_bucket.is_some() || input.s3_key.is_some() || input.image_uri.is_some() {
            return Err(unsupported_code_source());
        }
        if input.publish == Some(true) {
            return Err(not_yet("Publishing versions (Publish=true)"));
        }
        let architectures = input
            .architectures
            .as_deref()
            .map(validate::architectures)
            .transpose()?;
        let zip = decode_zip(input.zip_file.as_deref())?;
        let current = self.get_function(reference).await?;
        if let Some(expected) = input.revision_id.as_deref()
            && expected != current.revision_id
        {
            return Err(ControlError::PreconditionFailed(STALE_REVISION.into()));
        }
        if input.dry_run == Some(true) {
            let limits = self.limits.clone();
            let inspected =
                blocking(move || inspect_zip(&zip, &limits).map_err(invalid_zip)).await?;
            let mut preview = current;
            preview.code_sha256_hex = inspected.digest.hex();
            preview.code_size = inspected.zipped_size;
            return Ok(preview);
        }

        let guard = self.code_lock.lock().await;
        let (digest, size) = self.store_code(zip).await?;
        let result = self
            .mutate(reference, input.revision_id.as_deref(), |current| {
                let mut next = current.clone();
                next.code_sha256_hex = digest.hex();
                next.code_size = size;
                if let Some(a) = &architectures {
                    next.config.architectures = a.clone();
                }
                next.last_modified = Utc::now();
                Ok(next)
            })
            .await;
        drop(guard);
        // The old package, or the new one if the update failed, may now be unreferenced.
        self.collect_garbage().await?;
        let updated = result?;
        self.announce(&updated.name);
        Ok(updated)
    }

    pub async fn delete_function(&self, reference: &FunctionRef) -> Result<(), ControlError> {
        if let Some(q) = reference.qualifier.as_deref()
            && q != "$LATEST"
        {
            return Err(ControlError::InvalidParameterValue(
                "Deletion of aliases is not currently supported.".into(),
            ));
        }
        if reference.qualifier.is_some() {
            return Err(ControlError::InvalidParameterValue(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            ));
        }
        match self.store.delete_function(&reference.name).await? {
            None => Err(reference.not_found(&self.account)),
            Some(_) => {
                self.announce(&reference.name);
                self.collect_garbage().await?;
                Ok(())
            }
        }
    }

    pub async fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ControlError> {
        let reference = tags::resource(arn, &self.account)?;
        Ok(self.get_function(&reference).await?.tags)
    }

    pub async fn tag_resource(
        &self,
        arn: &str,
        new_tags: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        let reference = tags::resource(arn, &self.account)?;
        tags::validate(&new_tags)?;
        self.mutate(&reference, None, |current| {
            let mut next = current.clone();
            next.tags.extend(new_tags.clone());
            tags::validate(&next.tags)?;
            Ok(next)
        })
        .await
        .map(drop)
    }

    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), ControlError> {
        let reference = tags::resource(arn, &self.account)?;
        self.mutate(&reference, None, |current| {
            let mut next = current.clone();
            for key in keys {
                next.tags.remove(key);
            }
            Ok(next)
        })
        .await
        .map(drop)
    }

    /// Adds a statement to the resource policy; returns the statement as Lambda does (JSON text).
    pub async fn add_permission(
        &self,
        reference: &FunctionRef,
        input: AddPermissionInput,
    ) -> Result<String, ControlError> {
        reference.require_latest(&self.account)?;
        let resource = self
            .account
            .qualified_arn(&reference.name, reference.qualifier.as_deref());
        let statement = policy::statement(&input, &resource, &self.account)?;
        let text = statement.statement.to_string();
        self.mutate(reference, input.revision_id.as_deref(), |current| {
            let mut next = current.clone();
            policy::add(&mut next.policy, statement.clone())?;
            Ok(next)
        })
        .await?;
        Ok(text)
    }

    pub async fn remove_permission(
        &self,
        reference: &FunctionRef,
        statement_id: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ControlError> {
        reference.require_latest(&self.account)?;
        self.mutate(reference, revision_id, |current| {
            let mut next = current.clone();
            policy::remove(&mut next.policy, statement_id)?;
            Ok(next)
        })
        .await
        .map(drop)
    }

    /// The resource policy as Lambda's JSON text and the function's revision.
    pub async fn get_policy(
        &self,
        reference: &FunctionRef,
    ) -> Result<(String, String), ControlError> {
        let record = self.get_function(reference).await?;
        let document = policy::document(&record.policy).ok_or_else(|| {
            ControlError::ResourceNotFound("The resource you requested does not exist.".into())
        })?;
        Ok((document, record.revision_id))
    }

    /// Number of functions and their total zipped code size.
    pub async fn usage(&self) -> Result<(u64, u64), ControlError> {
        Ok(self.store.usage().await?)
    }

    /// Read-modify-write with compare-and-swap on the revision. With an explicit RevisionId a lost
    /// race is the caller's 412; without one the change is re-applied to the newer state.
    async fn mutate<F>(
        &self,
        reference: &FunctionRef,
        expected: Option<&str>,
        change: F,
    ) -> Result<FunctionRecord, ControlError>
    where
        F: Fn(&FunctionRecord) -> Result<FunctionRecord, ControlError>,
    {
        loop {
            let current = self.get_function(reference).await?;
            if let Some(expected) = expected
                && expected != current.revision_id
            {
                return Err(ControlError::PreconditionFailed(STALE_REVISION.into()));
            }
            let mut next = change(&current)?;
            next.revision_id = new_revision();
            match self
                .store
                .replace_function(&next, &current.revision_id)
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::RevisionMismatch) if expected.is_some() => {
                    return Err(ControlError::PreconditionFailed(STALE_REVISION.into()));
                }
                Err(StoreError::RevisionMismatch) => continue,
                Err(StoreError::NotFound) => return Err(reference.not_found(&self.account)),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Checks and stores a zip; the caller holds `code_lock` until the function row commits.
    async fn store_code(&self, zip: Vec<u8>) -> Result<(CodeDigest, u64), ControlError> {
        let limits = self.limits.clone();
        let code = Arc::clone(&self.code);
        blocking(move || {
            let inspected = inspect_zip(&zip, &limits).map_err(invalid_zip)?;
            let digest = code.put(&zip, &inspected).map_err(internal)?;
            Ok((digest, inspected.zipped_size))
        })
        .await
    }

    fn already_exists(&self, name: &str) -> ControlError {
        ControlError::ResourceConflict(format!("Function already exist: {name}"))
    }

    fn announce(&self, name: &str) {
        // Nobody listening is fine: no environments exist for the function then.
        let _ = self.changes.send(FunctionChanged { name: name.into() });
    }
}

async fn blocking<T, F>(work: F) -> Result<T, ControlError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ControlError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ControlError::Internal(format!("worker failed: {e}")))?
}

fn decode_zip(zip_file: Option<&str>) -> Result<Vec<u8>, ControlError> {
    let encoded = zip_file.ok_or_else(|| {
        ControlError::InvalidParameterValue(
            "Please provide a source for function code (Code.ZipFile).".into(),
        )
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| {
            ControlError::InvalidParameterValue(
                "ZipFile is not valid base64; send the zip's bytes base64-encoded.".into(),
            )
        })
}

fn invalid_zip(rejection: crate::code::ZipRejection) -> ControlError {
    match rejection {
        ZipRejection::TooLarge { limit, .. } => ControlError::RequestEntityTooLarge(format!(
            "Zipped size must be smaller than {limit} bytes"
        )),
        other => ControlError::InvalidParameterValue(other.to_string()),
    }
}

fn internal(e: impl std::fmt::Display) -> ControlError {
    ControlError::Internal(e.to_string())
}

fn missing(member: &str) -> ControlError {
    ControlError::Validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member \
         must not be null",
        lower_first(member)
    ))
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn not_yet(what: &str) -> ControlError {
    ControlError::InvalidParameterValue(format!(
        "{what} is not supported by this Lambent release yet."
    ))
}

fn unsupported_code_source() -> ControlError {
    ControlError::InvalidParameterValue(
        "Lambent accepts function code only as Code.ZipFile (base64 of a .zip file); S3 and \
         container image sources are not supported."
            .into(),
    )
}

fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Lambent unpacks code while the request is handled, so a function is ready when it is answered.
fn active() -> StateInfo {
    StateInfo {
        state: "Active".into(),
        state_reason: None,
        state_reason_code: None,
        last_update_status: "Successful".into(),
        last_update_status_reason: None,
        last_update_status_reason_code: None,
    }
}
