//! The control-plane operations on functions and their versions. Every operation validates
//! first, then writes once: a refused request changes nothing, and a crash leaves the previous or
//! the next state.

use crate::code::{CodeDigest, CodeLimits, CodeStore, ZipRejection, inspect_zip};
use crate::error::STALE_REVISION;
use crate::input::{
    AddPermissionInput, CodeInput, CreateFunctionInput, PublishVersionInput, UpdateCodeInput,
    UpdateConfigurationInput,
};
use crate::names::{Account, FunctionRef, NameUse};
use crate::qualifier::Target;
use crate::views::VersionView;
use crate::{ControlError, policy, tags, validate};
use base64::Engine;
use chrono::Utc;
use lambent_store::{
    FunctionConfig, FunctionRecord, PolicyStatementRecord, StateInfo, Store, StoreError,
    VersionRecord,
};
use std::collections::{BTreeMap, HashMap, HashSet};
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

/// What an invocation needs: the version that runs (an alias already resolved), its
/// configuration, and where its code and layers are unpacked.
#[derive(Clone, Debug)]
pub struct ResolvedFunction {
    pub name: String,
    /// `$LATEST` or the version number.
    pub version: String,
    pub config: FunctionConfig,
    pub code_sha256_hex: String,
    pub code_dir: PathBuf,
    /// Reserved concurrency of the function, if any (0 = disabled).
    pub reserved_concurrency: Option<u32>,
    /// The function's layers merged in order, mounted read-only at `/opt`; `None` without layers.
    pub opt_dir: Option<PathBuf>,
    pub state: StateInfo,
}

pub struct FunctionService {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) code: Arc<CodeStore>,
    pub(crate) limits: CodeLimits,
    pub(crate) account: Account,
    /// Held while code is stored and committed and while unreferenced code is collected, so that a
    /// package being attached to a function is never collected underneath it.
    pub(crate) code_lock: Mutex<()>,
    /// Serialises reservation changes, so two cannot over-reserve the account together.
    pub(crate) concurrency_lock: Mutex<()>,
    pub(crate) concurrency_limit: u64,
    /// Sum of all functions' reserved concurrency, kept for admission on the invoke path.
    pub(crate) reserved_total: std::sync::atomic::AtomicU64,
    /// Functions as last read or written by this process, so that the invoke path does not read
    /// and decode the store on every call. Every write goes through this service and updates it;
    /// an entry is only ever replaced by a newer generation.
    cache: std::sync::RwLock<HashMap<String, Arc<FunctionRecord>>>,
    /// Counts deletions, so that a read that raced with a deletion is not cached.
    deletions: std::sync::atomic::AtomicU64,
    changes: broadcast::Sender<FunctionChanged>,
    /// Which function each function URL id belongs to (see `function_urls.rs`).
    pub(crate) url_index: crate::function_urls::UrlIndex,
}

impl FunctionService {
    pub fn new(
        store: Arc<dyn Store>,
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
            concurrency_lock: Mutex::new(()),
            concurrency_limit: 1000,
            reserved_total: std::sync::atomic::AtomicU64::new(0),
            cache: std::sync::RwLock::new(HashMap::new()),
            deletions: std::sync::atomic::AtomicU64::new(0),
            changes,
            url_index: crate::function_urls::UrlIndex::default(),
        }
    }

    /// Sets the account concurrency limit (Lambda's default is 1,000).
    pub fn with_concurrency_limit(mut self, limit: u64) -> Self {
        self.concurrency_limit = limit;
        self
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

    /// Removes code packages nothing references (after a crash between storing a package and
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
    ) -> Result<VersionView, ControlError> {
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
        let layers = self.resolve_layers(input.config.layers.as_deref()).await?;
        let mut config = validate::apply(&validate::defaults(&name), &input.config, layers)?;
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
        let zip = zip_of(&input.code.ok_or_else(|| missing("Code"))?)?;

        let guard = self.code_lock.lock().await;
        if self.store.get_function(&name).await?.is_some() {
            return Err(self.already_exists(&name));
        }
        let (digest, size, unzipped) = self.store_code(zip).await?;
        check_total_size(unzipped, &config)?;
        let mut record = FunctionRecord {
            name: name.clone(),
            config,
            code_sha256_hex: digest.hex(),
            code_size: size,
            code_unzipped_size: unzipped,
            revision_id: new_revision(),
            last_modified: Utc::now(),
            state: active(),
            tags,
            policy: Vec::new(),
            versions: BTreeMap::new(),
            last_version: 0,
            aliases: BTreeMap::new(),
            qualified_policies: BTreeMap::new(),
            event_invoke_configs: BTreeMap::new(),
            function_urls: BTreeMap::new(),
            reserved_concurrency: None,
            provisioned: BTreeMap::new(),
            generation: 0,
        };
        let published = if input.publish == Some(true) {
            Some(publish_into(&mut record, None))
        } else {
            None
        };
        let inserted = self.store.insert_function(&record).await;
        drop(guard);
        match inserted {
            Ok(()) => self.remember(FunctionRecord {
                generation: 1,
                ..record.clone()
            }),
            Err(StoreError::AlreadyExists) => return Err(self.already_exists(&name)),
            Err(e) => return Err(e.into()),
        }
        // Lambda answers with the new version's configuration under the unqualified ARN.
        Ok(match published {
            Some(n) => version_view(&record, n, None)?,
            None => latest_view(&record, None),
        })
    }

    /// The configuration a qualified name refers to, the function's tags and its reserved
    /// concurrency.
    pub async fn get_function(
        &self,
        reference: &FunctionRef,
    ) -> Result<(VersionView, BTreeMap<String, String>, Option<u32>), ControlError> {
        let record = self.record(reference).await?;
        let view = self.view_of(&record, reference)?;
        Ok((view, record.tags, record.reserved_concurrency))
    }

    /// Resolves a function for an invocation: an alias picks its version by weight.
    pub async fn resolve(&self, reference: &FunctionRef) -> Result<ResolvedFunction, ControlError> {
        let record = self.record(reference).await?;
        let version = match Target::of(reference.qualifier.as_deref()) {
            Target::Alias(alias) => {
                let alias = record
                    .aliases
                    .get(&alias)
                    .ok_or_else(|| reference.not_found(&self.account))?;
                pick_weighted(&alias.function_version, &alias.additional_version_weights)
            }
            Target::Version(n) => n.to_string(),
            Target::Latest => "$LATEST".to_owned(),
        };
        let view = match Target::of(Some(&version)) {
            Target::Version(n) => version_view(&record, n, None)?,
            _ => latest_view(&record, None),
        };
        let digest = CodeDigest::from_hex(&view.code_sha256_hex)
            .ok_or_else(|| ControlError::Internal("stored code digest is malformed".into()))?;
        let layer_dirs = view
            .config
            .layers
            .iter()
            .map(|layer| {
                CodeDigest::from_hex(&layer.code_sha256_hex)
                    .map(|d| self.code.tree_path(&d))
                    .ok_or_else(|| {
                        ControlError::Internal("stored layer digest is malformed".into())
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let opt_dir = if layer_dirs.is_empty() {
            None
        } else {
            Some(self.merged_layers(&layer_dirs).await?)
        };
        Ok(ResolvedFunction {
            name: record.name,
            version: view.version,
            config: view.config,
            code_sha256_hex: view.code_sha256_hex,
            code_dir: self.code.tree_path(&digest),
            reserved_concurrency: record.reserved_concurrency,
            opt_dir,
            state: view.state,
        })
    }

    /// One page of functions (with `all_versions`, every published version too) and the marker
    /// of the next page, if any.
    pub async fn list_functions(
        &self,
        marker: Option<&str>,
        max_items: Option<i64>,
        all_versions: bool,
    ) -> Result<(Vec<VersionView>, Option<String>), ControlError> {
        let limit = page_size(max_items)?;
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
        let mut views = Vec::new();
        for record in &page {
            if all_versions {
                views.push(latest_view(record, Some("$LATEST".into())));
                for n in record.versions.keys() {
                    views.push(version_view(record, *n, Some(n.to_string()))?);
                }
            } else {
                views.push(latest_view(record, None));
            }
        }
        Ok((views, next))
    }

    pub async fn update_configuration(
        &self,
        reference: &FunctionRef,
        input: UpdateConfigurationInput,
    ) -> Result<VersionView, ControlError> {
        require_unqualified(reference, &self.account)?;
        let layers = self.resolve_layers(input.config.layers.as_deref()).await?;
        let updated = self
            .mutate(reference, |current| {
                check_revision(input.revision_id.as_deref(), &current.revision_id)?;
                let mut next = current.clone();
                next.config = validate::apply(&current.config, &input.config, layers.clone())?;
                check_total_size(next.code_unzipped_size, &next.config)?;
                next.revision_id = new_revision();
                next.last_modified = Utc::now();
                Ok((next, ()))
            })
            .await?
            .0;
        self.announce(&updated.name);
        Ok(latest_view(&updated, None))
    }

    pub async fn update_code(
        &self,
        reference: &FunctionRef,
        input: UpdateCodeInput,
    ) -> Result<VersionView, ControlError> {
        require_unqualified(reference, &self.account)?;
        let architectures = input
            .architectures
            .as_deref()
            .map(validate::architectures)
            .transpose()?;
        let zip = zip_of(&input.code)?;
        let current = self.record(reference).await?;
        check_revision(input.revision_id.as_deref(), &current.revision_id)?;
        if input.dry_run == Some(true) {
            let limits = self.limits.clone();
            let inspected =
                blocking(move || inspect_zip(&zip, &limits).map_err(invalid_zip)).await?;
            let mut preview = latest_view(&current, None);
            preview.code_sha256_hex = inspected.digest.hex();
            preview.code_size = inspected.zipped_size;
            return Ok(preview);
        }

        let guard = self.code_lock.lock().await;
        let (digest, size, unzipped) = self.store_code(zip).await?;
        let publish = input.publish == Some(true);
        let result = self
            .mutate(reference, |current| {
                check_revision(input.revision_id.as_deref(), &current.revision_id)?;
                let mut next = current.clone();
                next.code_sha256_hex = digest.hex();
                next.code_size = size;
                next.code_unzipped_size = unzipped;
                if let Some(a) = &architectures {
                    next.config.architectures = a.clone();
                }
                check_total_size(unzipped, &next.config)?;
                next.revision_id = new_revision();
                next.last_modified = Utc::now();
                let published = publish.then(|| publish_into(&mut next, None));
                Ok((next, published))
            })
            .await;
        drop(guard);
        // The old package, or the new one if the update failed, may now be unreferenced.
        self.collect_garbage().await?;
        let (updated, published) = result?;
        self.announce(&updated.name);
        match published {
            Some(n) => version_view(&updated, n, Some(n.to_string())),
            None => Ok(latest_view(&updated, None)),
        }
    }

    pub async fn delete_function(&self, reference: &FunctionRef) -> Result<(), ControlError> {
        match Target::of(reference.qualifier.as_deref()) {
            Target::Alias(_) => Err(ControlError::InvalidParameterValue(
                "Deletion of aliases is not currently supported.".into(),
            )),
            Target::Latest if reference.qualifier.is_some() => {
                Err(ControlError::InvalidParameterValue(
                    "$LATEST version cannot be deleted without deleting the function.".into(),
                ))
            }
            Target::Version(n) => {
                let unqualified = FunctionRef {
                    name: reference.name.clone(),
                    qualifier: None,
                };
                self.mutate(&unqualified, |current| {
                    if !current.versions.contains_key(&n) {
                        // Deleting a version that is not there succeeds, as on Lambda.
                        return Ok((current.clone(), ()));
                    }
                    let users: Vec<&str> = current
                        .aliases
                        .iter()
                        .filter(|(_, a)| {
                            a.function_version == n.to_string()
                                || a.additional_version_weights.contains_key(&n.to_string())
                        })
                        .map(|(name, _)| name.as_str())
                        .collect();
                    if !users.is_empty() {
                        return Err(ControlError::ResourceConflict(format!(
                            "Unable to delete version because the following aliases reference \
                             it: [{}]",
                            users.join(", ")
                        )));
                    }
                    let mut next = current.clone();
                    next.versions.remove(&n);
                    next.qualified_policies.remove(&n.to_string());
                    next.provisioned.remove(&n.to_string());
                    Ok((next, ()))
                })
                .await?;
                self.announce(&reference.name);
                self.collect_garbage().await?;
                Ok(())
            }
            Target::Latest => match self.store.delete_function(&reference.name).await? {
                None => Err(reference.not_found(&self.account)),
                Some(_) => {
                    self.forget(&reference.name);
                    self.announce(&reference.name);
                    self.collect_garbage().await?;
                    Ok(())
                }
            },
        }
    }

    pub async fn publish_version(
        &self,
        reference: &FunctionRef,
        input: PublishVersionInput,
    ) -> Result<VersionView, ControlError> {
        require_unqualified(reference, &self.account)?;
        if let Some(description) = &input.description {
            validate::description(description)?;
        }
        let (record, version) = self
            .mutate(reference, |current| {
                check_revision(input.revision_id.as_deref(), &current.revision_id)?;
                if let Some(sha) = input.code_sha256.as_deref() {
                    let actual = crate::code::CodeDigest::from_hex(&current.code_sha256_hex)
                        .map(|d| d.base64())
                        .unwrap_or_default();
                    if sha != actual {
                        return Err(ControlError::InvalidParameterValue(format!(
                            "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST \
                             ({actual}). Please try again with the CodeSHA256 in $LATEST."
                        )));
                    }
                }
                let mut next = current.clone();
                let version = publish_into(&mut next, input.description.clone());
                Ok((next, version))
            })
            .await?;
        version_view(&record, version, Some(version.to_string()))
    }

    /// `$LATEST` first, then the published versions in order.
    pub async fn list_versions(
        &self,
        reference: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<VersionView>, Option<String>), ControlError> {
        let limit = page_size(max_items)?;
        let record = self
            .record(&FunctionRef {
                name: reference.name.clone(),
                qualifier: None,
            })
            .await?;
        let mut all = vec![latest_view(&record, Some("$LATEST".into()))];
        for n in record.versions.keys() {
            all.push(version_view(&record, *n, Some(n.to_string()))?);
        }
        let start = match marker.filter(|m| !m.is_empty()) {
            Some(m) => all
                .iter()
                .position(|v| v.version == m)
                .map_or(all.len(), |p| p + 1),
            None => 0,
        };
        let page: Vec<VersionView> = all.iter().skip(start).take(limit).cloned().collect();
        let next = (start + page.len() < all.len())
            .then(|| page.last().map(|v| v.version.clone()))
            .flatten();
        Ok((page, next))
    }

    pub async fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ControlError> {
        let reference = tags::resource(arn, &self.account)?;
        Ok(self.record(&reference).await?.tags)
    }

    pub async fn tag_resource(
        &self,
        arn: &str,
        new_tags: BTreeMap<String, String>,
    ) -> Result<(), ControlError> {
        let reference = tags::resource(arn, &self.account)?;
        if new_tags.is_empty() {
            return Err(ControlError::InvalidParameterValue(
                "An error occurred and the request cannot be processed.".into(),
            ));
        }
        tags::validate(&new_tags)?;
        self.mutate(&reference, |current| {
            let mut next = current.clone();
            next.tags.extend(new_tags.clone());
            tags::validate(&next.tags)?;
            Ok((next, ()))
        })
        .await
        .map(drop)
    }

    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), ControlError> {
        let reference = tags::resource(arn, &self.account)?;
        if keys.is_empty() {
            return Err(ControlError::null_member("tagKeys"));
        }
        self.mutate(&reference, |current| {
            let mut next = current.clone();
            for key in keys {
                next.tags.remove(key);
            }
            Ok((next, ()))
        })
        .await
        .map(drop)
    }

    /// Adds a statement to the resource policy of the function or of one version or alias;
    /// returns the statement as Lambda does (JSON text).
    pub async fn add_permission(
        &self,
        reference: &FunctionRef,
        input: AddPermissionInput,
    ) -> Result<String, ControlError> {
        if reference.qualifier.as_deref() == Some("$LATEST") {
            return Err(ControlError::InvalidParameterValue(
                "We currently do not support adding policies for $LATEST.".into(),
            ));
        }
        let resource = self
            .account
            .qualified_arn(&reference.name, reference.qualifier.as_deref());
        let statement = policy::statement(&input, &resource)?;
        let text = statement.statement.to_string();
        self.mutate(reference, |current| {
            check_revision(input.revision_id.as_deref(), &current.revision_id)?;
            self.require_policy_target(current, reference)?;
            let mut next = current.clone();
            policy::add(policy_of(&mut next, reference), statement.clone())?;
            next.revision_id = new_revision();
            Ok((next, ()))
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
        self.mutate(reference, |current| {
            check_revision(revision_id, &current.revision_id)?;
            self.require_policy_target(current, reference)?;
            let mut next = current.clone();
            policy::remove(policy_of(&mut next, reference), statement_id)?;
            next.revision_id = new_revision();
            Ok((next, ()))
        })
        .await
        .map(drop)
    }

    /// The resource policy as Lambda's JSON text and the function's revision.
    pub async fn get_policy(
        &self,
        reference: &FunctionRef,
    ) -> Result<(String, String), ControlError> {
        let not_found =
            || ControlError::ResourceNotFound("The resource you requested does not exist.".into());
        let mut record = self
            .store
            .get_function(&reference.name)
            .await?
            .ok_or_else(not_found)?;
        self.require_policy_target(&record, reference)?;
        let revision = record.revision_id.clone();
        let document = policy::document(policy_of(&mut record, reference)).ok_or_else(not_found)?;
        Ok((document, revision))
    }

    /// Number of functions and their total zipped code size.
    pub async fn usage(&self) -> Result<(u64, u64), ControlError> {
        Ok(self.store.usage().await?)
    }

    /// The stored function a reference names; its qualifier must exist.
    pub(crate) async fn record(
        &self,
        reference: &FunctionRef,
    ) -> Result<FunctionRecord, ControlError> {
        let record = self
            .cached(&reference.name)
            .await?
            .ok_or_else(|| reference.not_found(&self.account))?;
        self.require_target(&record, reference)?;
        Ok(FunctionRecord::clone(&record))
    }

    /// A function from the cache, or from the store (then cached).
    async fn cached(&self, name: &str) -> Result<Option<Arc<FunctionRecord>>, ControlError> {
        if let Ok(cache) = self.cache.read()
            && let Some(record) = cache.get(name)
        {
            return Ok(Some(Arc::clone(record)));
        }
        let deletions = self.deletions.load(std::sync::atomic::Ordering::SeqCst);
        let Some(record) = self.store.get_function(name).await? else {
            return Ok(None);
        };
        self.cache_record(record.clone(), Some(deletions));
        Ok(Some(Arc::new(record)))
    }

    /// Caches a record just written.
    fn remember(&self, record: FunctionRecord) {
        self.cache_record(record, None);
    }

    /// Caches `record` unless the same or a newer generation is cached already, or (for a read,
    /// `read_after` = the deletion count before it) a deletion happened since the read began: a
    /// function deleted meanwhile must not come back through the cache.
    fn cache_record(&self, record: FunctionRecord, read_after: Option<u64>) {
        if let Ok(mut cache) = self.cache.write() {
            let deleted_since = read_after.is_some_and(|seen| {
                self.deletions.load(std::sync::atomic::Ordering::SeqCst) != seen
            });
            let newer_cached = cache
                .get(&record.name)
                .is_some_and(|cached| cached.generation >= record.generation);
            if !deleted_since && !newer_cached {
                cache.insert(record.name.clone(), Arc::new(record));
            }
        }
    }

    fn forget(&self, name: &str) {
        if let Ok(mut cache) = self.cache.write() {
            self.deletions
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            cache.remove(name);
        }
    }

    fn require_target(
        &self,
        record: &FunctionRecord,
        reference: &FunctionRef,
    ) -> Result<(), ControlError> {
        let exists = match Target::of(reference.qualifier.as_deref()) {
            Target::Latest => true,
            Target::Version(n) => record.versions.contains_key(&n),
            Target::Alias(a) => record.aliases.contains_key(&a),
        };
        if exists {
            Ok(())
        } else {
            Err(reference.not_found(&self.account))
        }
    }

    /// Like [`Self::require_target`], with the policy operations' wording for a missing alias.
    fn require_policy_target(
        &self,
        record: &FunctionRecord,
        reference: &FunctionRef,
    ) -> Result<(), ControlError> {
        self.require_target(record, reference)
            .map_err(|_| self.missing_target(reference))
    }

    /// The configuration a reference shows: an alias shows its primary version.
    fn view_of(
        &self,
        record: &FunctionRecord,
        reference: &FunctionRef,
    ) -> Result<VersionView, ControlError> {
        match Target::of(reference.qualifier.as_deref()) {
            Target::Latest => Ok(latest_view(record, reference.qualifier.clone())),
            Target::Version(n) => version_view(record, n, Some(n.to_string())),
            Target::Alias(alias) => {
                let primary = &record
                    .aliases
                    .get(&alias)
                    .ok_or_else(|| reference.not_found(&self.account))?
                    .function_version;
                match Target::of(Some(primary)) {
                    Target::Version(n) => version_view(record, n, Some(alias)),
                    _ => Ok(latest_view(record, Some(alias))),
                }
            }
        }
    }

    /// Read-modify-write with compare-and-swap: a change made from a stale read is re-applied to
    /// the newer state, where RevisionId checks inside `change` see the newer revisions.
    pub(crate) async fn mutate<T, F>(
        &self,
        reference: &FunctionRef,
        change: F,
    ) -> Result<(FunctionRecord, T), ControlError>
    where
        F: Fn(&FunctionRecord) -> Result<(FunctionRecord, T), ControlError>,
    {
        loop {
            let current = self
                .store
                .get_function(&reference.name)
                .await?
                .ok_or_else(|| reference.not_found(&self.account))?;
            let (next, result) = change(&current)?;
            match self.store.replace_function(&next).await {
                Ok(()) => {
                    self.remember(FunctionRecord {
                        generation: next.generation + 1,
                        ..next.clone()
                    });
                    return Ok((next, result));
                }
                Err(StoreError::RevisionMismatch) => continue,
                Err(StoreError::NotFound) => return Err(reference.not_found(&self.account)),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Checks and stores a zip; the caller holds `code_lock` until the row referencing it commits.
    pub(crate) async fn store_code(
        &self,
        zip: Vec<u8>,
    ) -> Result<(CodeDigest, u64, u64), ControlError> {
        let limits = self.limits.clone();
        let code = Arc::clone(&self.code);
        blocking(move || {
            let inspected = inspect_zip(&zip, &limits).map_err(invalid_zip)?;
            let digest = code.put(&zip, &inspected).map_err(internal)?;
            Ok((digest, inspected.zipped_size, inspected.unzipped_size))
        })
        .await
    }

    fn already_exists(&self, name: &str) -> ControlError {
        ControlError::ResourceConflict(format!("Function already exist: {name}"))
    }

    pub(crate) fn announce(&self, name: &str) {
        // Nobody listening is fine: no environments exist for the function then.
        let _ = self.changes.send(FunctionChanged { name: name.into() });
    }
}

/// Publishes `$LATEST` as a new version, or returns the newest version if nothing changed since
/// it was published (as Lambda does).
fn publish_into(record: &mut FunctionRecord, description: Option<String>) -> u32 {
    if let Some((n, newest)) = record.versions.iter().next_back()
        && newest.published_at_revision.as_deref() == Some(record.revision_id.as_str())
    {
        return *n;
    }
    let mut config = record.config.clone();
    if let Some(description) = description {
        config.description = description;
    }
    // Publishing is a change of the function: $LATEST gets a new RevisionId, as on Lambda.
    record.revision_id = new_revision();
    record.last_version += 1;
    let version = record.last_version;
    record.versions.insert(
        version,
        VersionRecord {
            config,
            published_at_revision: Some(record.revision_id.clone()),
            code_sha256_hex: record.code_sha256_hex.clone(),
            code_size: record.code_size,
            code_unzipped_size: record.code_unzipped_size,
            revision_id: new_revision(),
            last_modified: Utc::now(),
        },
    );
    version
}

/// Chooses the version an alias invocation runs: each additional version with its weight, the
/// primary with the rest.
fn pick_weighted(primary: &str, weights: &BTreeMap<String, f64>) -> String {
    // uuid v4 draws from the OS random source; 53 bits give a uniform float in [0, 1).
    let draw = (uuid::Uuid::new_v4().as_u64_pair().0 >> 11) as f64 / (1u64 << 53) as f64;
    let mut cumulative = 0.0;
    for (version, weight) in weights {
        cumulative += weight;
        if draw < cumulative {
            return version.clone();
        }
    }
    primary.to_owned()
}

pub(crate) fn latest_view(record: &FunctionRecord, arn_qualifier: Option<String>) -> VersionView {
    VersionView {
        name: record.name.clone(),
        arn_qualifier,
        version: "$LATEST".into(),
        config: record.config.clone(),
        code_sha256_hex: record.code_sha256_hex.clone(),
        code_size: record.code_size,
        revision_id: record.revision_id.clone(),
        last_modified: record.last_modified,
        state: record.state.clone(),
    }
}

pub(crate) fn version_view(
    record: &FunctionRecord,
    version: u32,
    arn_qualifier: Option<String>,
) -> Result<VersionView, ControlError> {
    let v = record.versions.get(&version).ok_or_else(|| {
        ControlError::ResourceNotFound(format!("Function not found: {}:{version}", record.name))
    })?;
    Ok(VersionView {
        name: record.name.clone(),
        arn_qualifier,
        version: version.to_string(),
        config: v.config.clone(),
        code_sha256_hex: v.code_sha256_hex.clone(),
        code_size: v.code_size,
        revision_id: v.revision_id.clone(),
        last_modified: v.last_modified,
        state: record.state.clone(),
    })
}

fn policy_of<'a>(
    record: &'a mut FunctionRecord,
    reference: &FunctionRef,
) -> &'a mut Vec<PolicyStatementRecord> {
    match reference.qualifier.as_deref() {
        None | Some("$LATEST") => &mut record.policy,
        Some(q) => record.qualified_policies.entry(q.to_owned()).or_default(),
    }
}

fn require_unqualified(reference: &FunctionRef, account: &Account) -> Result<(), ControlError> {
    match reference.qualifier.as_deref() {
        None | Some("$LATEST") => Ok(()),
        Some(_) => Err(reference.not_found(account)),
    }
}

pub(crate) fn check_revision(expected: Option<&str>, actual: &str) -> Result<(), ControlError> {
    match expected {
        Some(expected) if expected != actual => {
            Err(ControlError::PreconditionFailed(STALE_REVISION.into()))
        }
        _ => Ok(()),
    }
}

/// Lambda's limit on a function's code and layers together, unzipped.
fn check_total_size(function_unzipped: u64, config: &FunctionConfig) -> Result<(), ControlError> {
    let limit = crate::code::CodeLimits::default().max_unzipped_bytes;
    let total = function_unzipped
        + config
            .layers
            .iter()
            .map(|l| l.code_unzipped_size)
            .sum::<u64>();
    if total > limit {
        return Err(ControlError::InvalidParameterValue(format!(
            "Function code combined with layers exceeds the maximum allowed size of {limit} \
             bytes. The actual size is {total} bytes."
        )));
    }
    Ok(())
}

pub(crate) fn page_size(max_items: Option<i64>) -> Result<usize, ControlError> {
    match max_items {
        None => Ok(MAX_LIST_ITEMS),
        Some(n) if (1..=10_000).contains(&n) => Ok((n as usize).min(MAX_LIST_ITEMS)),
        Some(n) => Err(ControlError::constraint(
            &n.to_string(),
            "maxItems",
            "Member must have value between 1 and 10000",
        )),
    }
}

pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ControlError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ControlError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ControlError::Internal(format!("worker failed: {e}")))?
}

/// The zip of a `Code` member: only `ZipFile` is accepted.
fn zip_of(code: &CodeInput) -> Result<Vec<u8>, ControlError> {
    if code.s3_bucket.is_some() || code.s3_key.is_some() || code.image_uri.is_some() {
        return Err(unsupported_code_source());
    }
    decode_zip(code.zip_file.as_deref())
}

pub(crate) fn decode_zip(zip_file: Option<&str>) -> Result<Vec<u8>, ControlError> {
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

fn invalid_zip(rejection: ZipRejection) -> ControlError {
    match rejection {
        ZipRejection::TooLarge { limit, .. } => ControlError::RequestEntityTooLarge(format!(
            "Zipped size must be smaller than {limit} bytes"
        )),
        other => ControlError::InvalidParameterValue(other.to_string()),
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ControlError {
    ControlError::Internal(e.to_string())
}

pub(crate) fn missing(member: &str) -> ControlError {
    let mut chars = member.chars();
    let lowered: String = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    ControlError::null_member(&lowered)
}

pub(crate) fn unsupported_code_source() -> ControlError {
    ControlError::InvalidParameterValue(
        "Lambent accepts code only as a base64 ZipFile; S3 and container image sources are not \
         supported."
            .into(),
    )
}

pub(crate) fn new_revision() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_choice_follows_the_weights() {
        let weights = BTreeMap::from([("2".to_owned(), 0.1)]);
        let picks = (0..20_000)
            .filter(|_| pick_weighted("1", &weights) == "2")
            .count();
        let share = picks as f64 / 20_000.0;
        assert!((0.085..0.115).contains(&share), "share {share}");
    }
}
