//! Event source mappings: Lambda's Create/Get/Update/Delete/ListEventSourceMappings, persisted
//! in `event-sources.sqlite3` and resumed at start, with pollers that feed batches from a
//! source to a function.
//!
//! The mapping machinery is source-agnostic: a [`SourceFactory`] recognises an event source ARN
//! and opens a [`Source`]; the poller scales, batches, invokes and acknowledges the same way for
//! every kind. Lambent's own SQS queues are the first source; others (Kafka, RabbitMQ, NATS,
//! Redis Streams, PostgreSQL changes) plug in as further factories.
//!
//! Delivery is at least once: a record is acknowledged (for SQS: deleted) only after the
//! function returned successfully for it.

mod config;
mod error;
mod filter;
mod invoke;
mod poller;
mod source;
mod store;

pub use config::{CreateInput, MappingRecord, UpdateInput};
pub use error::EsmError;
pub use filter::Filters;
pub use invoke::{FunctionInvoker, InvokeOutcome, LambentInvoker};
pub use source::{OpenedSource, Source, SourceFactory, SourceRecord, SqsSourceFactory};

use config::{
    DEFAULT_BATCH_SIZE, DEFAULT_MAX_CONCURRENCY, apply_settings, now_seconds, render, validate_tags,
};
use lambent_control::FunctionService;
use poller::{PollerSettings, Runner};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::MappingStore;

/// ListEventSourceMappings' default and largest page.
const DEFAULT_MAX_ITEMS: usize = 100;
const MAX_ITEMS: usize = 10_000;

struct Entry {
    record: MappingRecord,
    /// Creating, Enabled, Updating, Disabling, Disabled (shared with the task that moves it on).
    state: Arc<Mutex<String>>,
    runner: Option<Runner>,
}

pub struct EventSourceMappings {
    region: String,
    account_id: String,
    store: MappingStore,
    functions: Arc<FunctionService>,
    invoker: Arc<dyn FunctionInvoker>,
    factories: Vec<Arc<dyn SourceFactory>>,
    mappings: tokio::sync::Mutex<BTreeMap<String, Entry>>,
}

impl EventSourceMappings {
    /// Opens the store at `path` and resumes every enabled mapping.
    pub fn open(
        path: &Path,
        functions: Arc<FunctionService>,
        invoker: Arc<dyn FunctionInvoker>,
        factories: Vec<Arc<dyn SourceFactory>>,
    ) -> Result<Self, EsmError> {
        let store = MappingStore::open(path)?;
        let account = functions.account().clone();
        let mut this = Self {
            region: account.region,
            account_id: account.account_id,
            store,
            functions,
            invoker,
            factories,
            mappings: tokio::sync::Mutex::new(BTreeMap::new()),
        };
        let mut entries = BTreeMap::new();
        for record in this.store.load()? {
            let runner = if record.enabled {
                this.start_runner(&record, None)
            } else {
                None
            };
            let state = if record.enabled {
                "Enabled"
            } else {
                "Disabled"
            };
            entries.insert(
                record.uuid.clone(),
                Entry {
                    record,
                    state: Arc::new(Mutex::new(state.into())),
                    runner,
                },
            );
        }
        this.mappings = tokio::sync::Mutex::new(entries);
        Ok(this)
    }

    pub fn mapping_arn(&self, uuid: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:event-source-mapping:{uuid}",
            self.region, self.account_id
        )
    }

    fn open_source(&self, arn: &str) -> Result<OpenedSource, EsmError> {
        self.factories
            .iter()
            .find_map(|f| f.open(arn))
            .unwrap_or_else(|| {
                Err(EsmError::InvalidParameterValue(format!(
                    "Unrecognized event source, must be kinesis, dynamodb stream, sqs or a \
                     source Lambent supports. Unsupported source arn : {arn}"
                )))
            })
    }

    /// Starts the pollers of an enabled mapping, after `previous` (its pollers before an
    /// update) finished their batches.
    fn start_runner(&self, record: &MappingRecord, previous: Option<Runner>) -> Option<Runner> {
        let opened = match self.open_source(&record.event_source_arn) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(uuid = %record.uuid, error = %e, "event source unavailable; mapping not started");
                return None;
            }
        };
        // Stored criteria were checked when they were set; one that no longer compiles must not
        // turn into "no filter", which would hand the function every message.
        let filters = match Filters::parse(record.filter_criteria.as_ref()) {
            Ok(filters) => filters,
            Err(e) => {
                tracing::error!(uuid = %record.uuid, error = %e, "stored filter criteria invalid; mapping not started");
                return None;
            }
        };
        let settings = PollerSettings {
            function_arn: record.function_arn.clone(),
            batch_size: record.batch_size as usize,
            window: Duration::from_secs(record.maximum_batching_window.into()),
            max_concurrency: record
                .maximum_concurrency
                .unwrap_or(DEFAULT_MAX_CONCURRENCY) as usize,
            report_batch_item_failures: record.report_batch_item_failures,
            filters,
            ordered: opened.fifo,
        };
        Some(Runner::start(
            settings,
            opened.source,
            Arc::clone(&self.invoker),
            previous,
        ))
    }

    /// The function ARN a mapping stores for `name` (qualified when a qualifier is given), after
    /// checking that the function (version, alias) exists.
    async fn function_arn(&self, name: &str) -> Result<String, EsmError> {
        let reference = self.functions.parse_ref(name, None)?;
        self.functions.resolve(&reference).await?;
        Ok(self
            .functions
            .account()
            .qualified_arn(&reference.name, reference.qualifier.as_deref()))
    }

    /// Moves `state` on once the mapping's runner is in place (the API answers first, with the
    /// transitional state, as Lambda does).
    fn settle(state: &Arc<Mutex<String>>, enabled: bool) {
        let state = Arc::clone(state);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let mut current = state.lock().unwrap_or_else(|p| p.into_inner());
            *current = if enabled { "Enabled" } else { "Disabled" }.into();
        });
    }

    pub async fn create(&self, input: CreateInput) -> Result<Value, EsmError> {
        let name = input.function_name.as_deref().ok_or_else(|| {
            EsmError::InvalidParameterValue("FunctionName must be provided.".into())
        })?;
        let arn = input.event_source_arn.clone().ok_or_else(|| {
            EsmError::InvalidParameterValue(
                "Unrecognized event source, must be kinesis, dynamodb stream or sqs.".into(),
            )
        })?;
        let opened = self.open_source(&arn)?;
        if input.starting_position.is_some() {
            return Err(EsmError::InvalidParameterValue(
                "StartingPosition is not valid for SQS event sources.".into(),
            ));
        }
        let filter_criteria = checked_filter_criteria(input.filter_criteria.as_ref())?;
        let tags = input.tags.clone().unwrap_or_default();
        validate_tags(&tags)?;
        let function_arn = self.function_arn(name).await?;
        let mut record = MappingRecord {
            uuid: uuid::Uuid::new_v4().to_string(),
            event_source_arn: arn.clone(),
            function_arn: function_arn.clone(),
            enabled: input.enabled.unwrap_or(true),
            batch_size: DEFAULT_BATCH_SIZE,
            maximum_batching_window: 0,
            report_batch_item_failures: false,
            maximum_concurrency: None,
            filter_criteria,
            tags,
            last_modified: now_seconds(),
        };
        apply_settings(
            &mut record,
            input.batch_size,
            input.maximum_batching_window_in_seconds,
            input.function_response_types.as_deref(),
            input.scaling_config.as_ref(),
            opened.fifo,
        )?;
        let mut mappings = self.mappings.lock().await;
        if let Some(existing) = mappings
            .values()
            .find(|e| e.record.event_source_arn == arn && e.record.function_arn == function_arn)
        {
            return Err(EsmError::Conflict(format!(
                "An event source mapping with SQS arn (\" {arn} \") and function (\" {function_arn} \") \
                 already exists. Please update or delete the existing mapping with UUID {}",
                existing.record.uuid
            )));
        }
        self.store.put(&record).await?;
        let state = Arc::new(Mutex::new("Creating".to_owned()));
        let response = render(&record, "Creating", &self.mapping_arn(&record.uuid));
        let runner = if record.enabled {
            self.start_runner(&record, None)
        } else {
            None
        };
        Self::settle(&state, record.enabled);
        mappings.insert(
            record.uuid.clone(),
            Entry {
                record,
                state,
                runner,
            },
        );
        Ok(response)
    }

    fn view(&self, entry: &Entry) -> Value {
        let state = entry
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        render(&entry.record, &state, &self.mapping_arn(&entry.record.uuid))
    }

    pub async fn get(&self, uuid: &str) -> Result<Value, EsmError> {
        let mappings = self.mappings.lock().await;
        let entry = mappings.get(uuid).ok_or_else(EsmError::not_found)?;
        Ok(self.view(entry))
    }

    pub async fn update(&self, uuid: &str, input: UpdateInput) -> Result<Value, EsmError> {
        let mut mappings = self.mappings.lock().await;
        let entry = mappings.get(uuid).ok_or_else(EsmError::not_found)?;
        let mut record = entry.record.clone();
        let opened = self.open_source(&record.event_source_arn);
        let fifo = opened.as_ref().is_ok_and(|o| o.fifo);
        if let Some(name) = &input.function_name {
            record.function_arn = self.function_arn(name).await?;
        }
        if let Some(enabled) = input.enabled {
            record.enabled = enabled;
        }
        if input.filter_criteria.is_some() {
            record.filter_criteria = checked_filter_criteria(input.filter_criteria.as_ref())?;
        }
        apply_settings(
            &mut record,
            input.batch_size,
            input.maximum_batching_window_in_seconds,
            input.function_response_types.as_deref(),
            input.scaling_config.as_ref(),
            fifo,
        )?;
        record.last_modified = now_seconds();
        self.store.put(&record).await?;
        let was_enabled = entry.record.enabled;
        let transition = if was_enabled && !record.enabled {
            "Disabling"
        } else if !was_enabled && record.enabled {
            "Enabling"
        } else {
            "Updating"
        };
        let state = Arc::new(Mutex::new(transition.to_owned()));
        let response = render(&record, transition, &self.mapping_arn(uuid));
        // The old pollers stop now; new ones start once the old batches are done.
        let previous = mappings.get_mut(uuid).and_then(|e| e.runner.take());
        let runner = if record.enabled {
            self.start_runner(&record, previous)
        } else {
            drop(previous);
            None
        };
        Self::settle(&state, record.enabled);
        mappings.insert(
            uuid.to_owned(),
            Entry {
                record,
                state,
                runner,
            },
        );
        Ok(response)
    }

    pub async fn delete(&self, uuid: &str) -> Result<Value, EsmError> {
        let mut mappings = self.mappings.lock().await;
        if !mappings.contains_key(uuid) {
            return Err(EsmError::not_found());
        }
        self.store.delete(uuid).await?;
        let entry = mappings.remove(uuid).ok_or_else(EsmError::not_found)?;
        drop(entry.runner);
        Ok(render(&entry.record, "Deleting", &self.mapping_arn(uuid)))
    }

    /// ListEventSourceMappings, filtered by source ARN and/or function, paged by `marker` (an
    /// opaque position).
    pub async fn list(
        &self,
        event_source_arn: Option<&str>,
        function_name: Option<&str>,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<Value, EsmError> {
        let function = match function_name {
            Some(name) => Some(self.functions.parse_ref(name, None)?),
            None => None,
        };
        let limit = max_items.unwrap_or(DEFAULT_MAX_ITEMS).clamp(1, MAX_ITEMS);
        let start: usize = match marker {
            Some(m) => m
                .parse()
                .map_err(|_| EsmError::InvalidParameterValue("Invalid marker.".into()))?,
            None => 0,
        };
        let mappings = self.mappings.lock().await;
        let matching: Vec<&Entry> = mappings
            .values()
            .filter(|e| event_source_arn.is_none_or(|a| e.record.event_source_arn == a))
            .filter(|e| {
                function.as_ref().is_none_or(|f| {
                    let arn = self
                        .functions
                        .account()
                        .qualified_arn(&f.name, f.qualifier.as_deref());
                    e.record.function_arn == arn
                        || (f.qualifier.is_none()
                            && e.record.function_arn.starts_with(&format!("{arn}:")))
                })
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(limit)
            .map(|e| self.view(e))
            .collect();
        let mut out = json!({ "EventSourceMappings": page });
        if start + limit < matching.len() {
            out["NextMarker"] = json!((start + limit).to_string());
        }
        Ok(out)
    }

    /// Whether `arn` has the form of an event source mapping ARN (any region or account):
    /// TagResource, UntagResource and ListTags on such an ARN belong to this service.
    pub fn is_mapping_arn(arn: &str) -> bool {
        let parts: Vec<&str> = arn.split(':').collect();
        matches!(
            parts.as_slice(),
            ["arn", partition, "lambda", region, account, "event-source-mapping", uuid]
                if partition.starts_with("aws")
                    && !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && uuid::Uuid::try_parse(uuid).is_ok()
                    && uuid.len() == 36
        )
    }

    /// ListTags on a mapping ARN.
    pub async fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, EsmError> {
        let uuid = self.uuid_of(arn).ok_or_else(EsmError::not_found)?;
        let mappings = self.mappings.lock().await;
        mappings
            .get(&uuid)
            .map(|e| e.record.tags.clone())
            .ok_or_else(EsmError::not_found)
    }

    /// TagResource on a mapping ARN: adds or replaces tags, with Lambda's rules.
    pub async fn tag_resource(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), EsmError> {
        if tags.is_empty() {
            return Err(EsmError::InvalidParameterValue(
                "An error occurred and the request cannot be processed.".into(),
            ));
        }
        validate_tags(tags)?;
        self.change_tags(arn, |current| {
            current.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            validate_tags(current)
        })
        .await
    }

    /// UntagResource on a mapping ARN; keys the mapping does not have are ignored.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), EsmError> {
        if keys.is_empty() {
            return Err(EsmError::Validation(
                "1 validation error detected: Value null at 'tagKeys' failed to satisfy \
                 constraint: Member must not be null"
                    .into(),
            ));
        }
        self.change_tags(arn, |current| {
            current.retain(|k, _| !keys.contains(k));
            Ok(())
        })
        .await
    }

    /// Applies `change` to a copy of the mapping's tags and stores it; nothing changes when
    /// `change` refuses or the store fails.
    async fn change_tags(
        &self,
        arn: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), EsmError>,
    ) -> Result<(), EsmError> {
        let uuid = self.uuid_of(arn).ok_or_else(EsmError::not_found)?;
        let mut mappings = self.mappings.lock().await;
        let entry = mappings.get_mut(&uuid).ok_or_else(EsmError::not_found)?;
        let mut record = entry.record.clone();
        change(&mut record.tags)?;
        self.store.put(&record).await?;
        entry.record = record;
        Ok(())
    }

    /// The UUID an ARN names, when it is a mapping ARN of this region and account.
    fn uuid_of(&self, arn: &str) -> Option<String> {
        let uuid = arn.rsplit(':').next()?;
        (self.mapping_arn(uuid) == arn).then(|| uuid.to_owned())
    }
}

/// Checks `FilterCriteria` and returns what a mapping stores: `None` when it filters nothing.
fn checked_filter_criteria(criteria: Option<&Value>) -> Result<Option<Value>, EsmError> {
    Ok(Filters::parse(criteria)?.and(criteria.cloned()))
}
