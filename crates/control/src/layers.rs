//! Layers: published zips merged read-only at `/opt` for the functions that use them.

use crate::ControlError;
use crate::input::PublishLayerInput;
use crate::service::{FunctionService, blocking, decode_zip, internal, page_size};
use crate::validate::LAMBDA_RUNTIME_ENUM;
use crate::views::LayerVersionView;
use chrono::Utc;
use lambent_store::{LayerRef, LayerVersionRecord};
use regex::Regex;
use std::sync::LazyLock;

/// Lambda allows at most this many layers per function.
const MAX_LAYERS: usize = 5;
const LAYER_NAME_PATTERN: &str =
    r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+";
const LAYER_VERSION_ARN_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)";

static LAYER_NAME: LazyLock<Regex> = LazyLock::new(|| anchored(LAYER_NAME_PATTERN));
static LAYER_VERSION_ARN: LazyLock<Regex> = LazyLock::new(|| anchored(LAYER_VERSION_ARN_PATTERN));

fn anchored(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("static layer pattern")
}

/// A layer version ARN split into its parts.
struct LayerVersionArn {
    region: String,
    account: String,
    name: String,
    version: u32,
}

fn parse_version_arn(arn: &str) -> Option<LayerVersionArn> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, account, "layer", name, version] => Some(LayerVersionArn {
            region: (*region).to_owned(),
            account: (*account).to_owned(),
            name: (*name).to_owned(),
            version: version.parse().ok()?,
        }),
        _ => None,
    }
}

impl FunctionService {
    pub fn layer_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{name}",
            self.account.region, self.account.account_id
        )
    }

    fn layer_view(&self, record: LayerVersionRecord) -> LayerVersionView {
        let layer_arn = self.layer_arn(&record.name);
        LayerVersionView {
            layer_version_arn: format!("{layer_arn}:{}", record.version),
            layer_arn,
            record,
        }
    }

    /// The bare layer name of `LayerName`, which may also be a layer ARN.
    fn layer_name(&self, raw: &str) -> Result<String, ControlError> {
        if raw.is_empty() || raw.len() > 140 || !LAYER_NAME.is_match(raw) {
            return Err(ControlError::constraint(
                raw,
                "layerName",
                &format!("Member must satisfy regular expression pattern: {LAYER_NAME_PATTERN}"),
            ));
        }
        Ok(raw.rsplit(':').next().unwrap_or(raw).to_owned())
    }

    pub async fn publish_layer_version(
        &self,
        layer_name: &str,
        input: PublishLayerInput,
    ) -> Result<LayerVersionView, ControlError> {
        let name = self.layer_name(layer_name)?;
        let runtimes = input.compatible_runtimes.clone().unwrap_or_default();
        let architectures = input.compatible_architectures.clone().unwrap_or_default();
        check_compatibility(&runtimes, &architectures)?;
        let description = input.description.clone().unwrap_or_default();
        crate::validate::description(&description)?;
        let content = input
            .content
            .ok_or_else(|| ControlError::null_member("content"))?;
        if content.s3_bucket.is_some() || content.s3_key.is_some() {
            return Err(crate::service::unsupported_code_source());
        }
        let zip = decode_zip(content.zip_file.as_deref())?;
        let _guard = self.code_lock.lock().await;
        let (digest, size, unzipped) = self.store_code(zip).await?;
        let mut record = LayerVersionRecord {
            name,
            version: 0,
            description,
            created: Utc::now(),
            compatible_runtimes: runtimes,
            compatible_architectures: architectures,
            license_info: input.license_info,
            code_sha256_hex: digest.hex(),
            code_size: size,
            code_unzipped_size: unzipped,
        };
        record.version = self.store.publish_layer_version(&record).await?;
        Ok(self.layer_view(record))
    }

    pub async fn get_layer_version(
        &self,
        layer_name: &str,
        version: i64,
    ) -> Result<LayerVersionView, ControlError> {
        let name = self.layer_name(layer_name)?;
        let version = positive_version(version)?;
        let record = self
            .store
            .get_layer_version(&name, version, false)
            .await?
            .ok_or_else(missing_resource)?;
        Ok(self.layer_view(record))
    }

    pub async fn get_layer_version_by_arn(
        &self,
        arn: &str,
    ) -> Result<LayerVersionView, ControlError> {
        let parsed = LAYER_VERSION_ARN
            .is_match(arn)
            .then(|| parse_version_arn(arn))
            .flatten()
            .ok_or_else(|| {
                ControlError::constraint(
                    arn,
                    "arn",
                    &format!(
                        "Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}"
                    ),
                )
            })?;
        if parsed.region != self.account.region || parsed.account != self.account.account_id {
            return Err(missing_resource());
        }
        let record = self
            .store
            .get_layer_version(&parsed.name, parsed.version, false)
            .await?
            .ok_or_else(missing_resource)?;
        Ok(self.layer_view(record))
    }

    /// Each layer with its newest version matching the filters, by name.
    pub async fn list_layers(
        &self,
        runtime: Option<&str>,
        architecture: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<LayerVersionView>, Option<String>), ControlError> {
        check_filters(runtime, architecture)?;
        let limit = page_size(max_items)?;
        let mut matching = Vec::new();
        for name in self.store.list_layer_names().await? {
            if marker.is_some_and(|m| !m.is_empty() && name.as_str() <= m) {
                continue;
            }
            let newest = self
                .store
                .list_layer_versions(&name)
                .await?
                .into_iter()
                .find(|l| matches_filters(l, runtime, architecture));
            if let Some(layer) = newest {
                matching.push(self.layer_view(layer));
            }
        }
        Ok(paginate(matching, limit, |v| v.record.name.clone()))
    }

    /// The live versions of a layer matching the filters, newest first.
    pub async fn list_layer_versions(
        &self,
        layer_name: &str,
        runtime: Option<&str>,
        architecture: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<LayerVersionView>, Option<String>), ControlError> {
        let name = self.layer_name(layer_name)?;
        check_filters(runtime, architecture)?;
        let limit = page_size(max_items)?;
        let after: Option<u32> = marker.and_then(|m| m.parse().ok());
        let versions: Vec<LayerVersionView> = self
            .store
            .list_layer_versions(&name)
            .await?
            .into_iter()
            .filter(|l| matches_filters(l, runtime, architecture))
            .filter(|l| after.is_none_or(|a| l.version < a))
            .map(|l| self.layer_view(l))
            .collect();
        Ok(paginate(versions, limit, |v| v.record.version.to_string()))
    }

    /// Deletes a layer version (idempotent). Functions using it keep working.
    pub async fn delete_layer_version(
        &self,
        layer_name: &str,
        version: i64,
    ) -> Result<(), ControlError> {
        let name = self.layer_name(layer_name)?;
        let version = positive_version(version)?;
        self.store.delete_layer_version(&name, version).await?;
        Ok(())
    }

    /// Resolves a function's `Layers` member: checks Lambda's rules and looks each one up.
    pub(crate) async fn resolve_layers(
        &self,
        arns: Option<&[String]>,
    ) -> Result<Option<Vec<LayerRef>>, ControlError> {
        let Some(arns) = arns else {
            return Ok(None);
        };
        if arns.len() > MAX_LAYERS {
            return Err(ControlError::InvalidParameterValue(
                "Cannot reference more than 5 layers.".into(),
            ));
        }
        if arns.iter().any(|a| !LAYER_VERSION_ARN.is_match(a)) {
            return Err(ControlError::constraint(
                &format!("[{}]", arns.join(", ")),
                "layers",
                &format!(
                    "Member must satisfy constraint: [Member must have length less than or equal \
                     to 2048, Member must have length greater than or equal to 1, Member must \
                     satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}, Member must \
                     not be null]"
                ),
            ));
        }
        let mut resolved: Vec<(LayerVersionArn, &String)> = Vec::new();
        for arn in arns {
            let parsed = parse_version_arn(arn).ok_or_else(|| does_not_exist(arn))?;
            if parsed.region != self.account.region {
                return Err(ControlError::InvalidParameterValue(format!(
                    "Layers are not in the same region as the function. Layers are expected to be \
                     in region {}.",
                    self.account.region
                )));
            }
            if let Some((_, earlier)) = resolved.iter().find(|(p, _)| p.name == parsed.name) {
                return Err(ControlError::InvalidParameterValue(format!(
                    "Two different versions of the same layer are not allowed to be referenced in \
                     the same function. {earlier} and {arn} are versions of the same layer."
                )));
            }
            resolved.push((parsed, arn));
        }
        let mut layers = Vec::new();
        for (parsed, arn) in resolved {
            if parsed.account != self.account.account_id {
                return Err(does_not_exist(arn));
            }
            let record = self
                .store
                .get_layer_version(&parsed.name, parsed.version, false)
                .await?
                .ok_or_else(|| does_not_exist(arn))?;
            layers.push(LayerRef {
                arn: arn.clone(),
                code_sha256_hex: record.code_sha256_hex,
                code_size: record.code_size,
                code_unzipped_size: record.code_unzipped_size,
            });
        }
        Ok(Some(layers))
    }

    /// A directory holding `layers` merged in order (later layers override earlier ones), built
    /// once per distinct list and mounted read-only at `/opt`.
    pub async fn merged_layers(
        &self,
        layer_dirs: &[std::path::PathBuf],
    ) -> Result<std::path::PathBuf, ControlError> {
        let code = std::sync::Arc::clone(&self.code);
        let dirs = layer_dirs.to_vec();
        blocking(move || code.merged(&dirs).map_err(internal)).await
    }
}

fn positive_version(version: i64) -> Result<u32, ControlError> {
    if version < 1 {
        return Err(ControlError::InvalidParameterValue(
            "Layer Version Cannot be less than 1".into(),
        ));
    }
    u32::try_from(version).map_err(|_| missing_resource())
}

fn missing_resource() -> ControlError {
    ControlError::ResourceNotFound("The resource you requested does not exist.".into())
}

fn does_not_exist(arn: &str) -> ControlError {
    ControlError::InvalidParameterValue(format!("Layer version {arn} does not exist."))
}

fn lambda_runtimes() -> Vec<&'static str> {
    LAMBDA_RUNTIME_ENUM
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .collect()
}

fn check_compatibility(runtimes: &[String], architectures: &[String]) -> Result<(), ControlError> {
    let known = lambda_runtimes();
    let mut errors = Vec::new();
    if runtimes.len() > 15 || runtimes.iter().any(|r| !known.contains(&r.as_str())) {
        errors.push(format!(
            "Value '[{}]' at 'compatibleRuntimes' failed to satisfy constraint: Member must \
             satisfy enum value set: {LAMBDA_RUNTIME_ENUM}",
            runtimes.join(", ")
        ));
    }
    if architectures.len() > 2 || architectures.iter().any(|a| a != "x86_64" && a != "arm64") {
        errors.push(format!(
            "Value '[{}]' at 'compatibleArchitectures' failed to satisfy constraint: Member must \
             satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must \
             not be null]",
            architectures.join(", ")
        ));
    }
    match errors.len() {
        0 => Ok(()),
        n => Err(ControlError::Validation(format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            errors.join("; ")
        ))),
    }
}

fn check_filters(runtime: Option<&str>, architecture: Option<&str>) -> Result<(), ControlError> {
    if let Some(r) = runtime
        && !lambda_runtimes().contains(&r)
    {
        return Err(ControlError::constraint(
            r,
            "compatibleRuntime",
            &format!("Member must satisfy enum value set: {LAMBDA_RUNTIME_ENUM}"),
        ));
    }
    if let Some(a) = architecture
        && a != "x86_64"
        && a != "arm64"
    {
        return Err(ControlError::constraint(
            a,
            "compatibleArchitecture",
            "Member must satisfy enum value set: [x86_64, arm64]",
        ));
    }
    Ok(())
}

fn matches_filters(
    layer: &LayerVersionRecord,
    runtime: Option<&str>,
    architecture: Option<&str>,
) -> bool {
    runtime.is_none_or(|r| layer.compatible_runtimes.iter().any(|c| c == r))
        && architecture.is_none_or(|a| layer.compatible_architectures.iter().any(|c| c == a))
}

fn paginate<T>(
    items: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = items.len() > limit;
    let page: Vec<T> = items.into_iter().take(limit).collect();
    let next = more.then(|| page.last().map(&key)).flatten();
    (page, next)
}
