//! Every other Lambda operation: answered with Lambda's error shape and the operation's name, so
//! tools that probe many operations (Terraform, SAM) get an error they can show, not a bare 404.

use crate::ApiError;
use axum::http::{Method, StatusCode, Uri};
use regex::Regex;
use std::sync::LazyLock;

/// (method, path pattern, operation) for the Lambda operations Lambent does not implement yet.
const OPERATIONS: &[(&str, &str, &str)] = &[
    (
        "POST",
        r"/2014-11-13/functions/[^/]+/invoke-async/?",
        "InvokeAsync",
    ),
    (
        "POST",
        r"/2015-03-31/functions/[^/]+/versions",
        "PublishVersion",
    ),
    (
        "GET",
        r"/2015-03-31/functions/[^/]+/versions",
        "ListVersionsByFunction",
    ),
    (
        "POST",
        r"/2015-03-31/functions/[^/]+/aliases",
        "CreateAlias",
    ),
    (
        "GET",
        r"/2015-03-31/functions/[^/]+/aliases/[^/]+",
        "GetAlias",
    ),
    (
        "PUT",
        r"/2015-03-31/functions/[^/]+/aliases/[^/]+",
        "UpdateAlias",
    ),
    (
        "DELETE",
        r"/2015-03-31/functions/[^/]+/aliases/[^/]+",
        "DeleteAlias",
    ),
    (
        "PUT",
        r"/2017-10-31/functions/[^/]+/concurrency",
        "PutFunctionConcurrency",
    ),
    (
        "DELETE",
        r"/2017-10-31/functions/[^/]+/concurrency",
        "DeleteFunctionConcurrency",
    ),
    (
        "GET",
        r"/2019-09-30/functions/[^/]+/concurrency",
        "GetFunctionConcurrency",
    ),
    (
        "POST",
        r"/2018-10-31/layers/[^/]+/versions",
        "PublishLayerVersion",
    ),
    (
        "GET",
        r"/2018-10-31/layers/[^/]+/versions",
        "ListLayerVersions",
    ),
    (
        "GET",
        r"/2018-10-31/layers/[^/]+/versions/[^/]+",
        "GetLayerVersion",
    ),
    (
        "DELETE",
        r"/2018-10-31/layers/[^/]+/versions/[^/]+",
        "DeleteLayerVersion",
    ),
    (
        "POST",
        r"/2018-10-31/layers/[^/]+/versions/[^/]+/policy",
        "AddLayerVersionPermission",
    ),
    (
        "GET",
        r"/2018-10-31/layers/[^/]+/versions/[^/]+/policy",
        "GetLayerVersionPolicy",
    ),
    (
        "DELETE",
        r"/2018-10-31/layers/[^/]+/versions/[^/]+/policy/[^/]+",
        "RemoveLayerVersionPermission",
    ),
    (
        "PUT",
        r"/2020-06-30/functions/[^/]+/code-signing-config",
        "PutFunctionCodeSigningConfig",
    ),
    (
        "DELETE",
        r"/2020-06-30/functions/[^/]+/code-signing-config",
        "DeleteFunctionCodeSigningConfig",
    ),
    (
        "POST",
        r"/2020-04-22/code-signing-configs/?",
        "CreateCodeSigningConfig",
    ),
    (
        "GET",
        r"/2020-04-22/code-signing-configs/?",
        "ListCodeSigningConfigs",
    ),
    (
        "GET",
        r"/2020-04-22/code-signing-configs/[^/]+",
        "GetCodeSigningConfig",
    ),
    (
        "PUT",
        r"/2020-04-22/code-signing-configs/[^/]+",
        "UpdateCodeSigningConfig",
    ),
    (
        "DELETE",
        r"/2020-04-22/code-signing-configs/[^/]+",
        "DeleteCodeSigningConfig",
    ),
    (
        "GET",
        r"/2020-04-22/code-signing-configs/[^/]+/functions",
        "ListFunctionsByCodeSigningConfig",
    ),
    (
        "GET",
        r"/2021-07-20/functions/[^/]+/runtime-management-config",
        "GetRuntimeManagementConfig",
    ),
    (
        "PUT",
        r"/2021-07-20/functions/[^/]+/runtime-management-config",
        "PutRuntimeManagementConfig",
    ),
    (
        "GET",
        r"/2024-08-31/functions/[^/]+/recursion-config",
        "GetFunctionRecursionConfig",
    ),
    (
        "PUT",
        r"/2024-08-31/functions/[^/]+/recursion-config",
        "PutFunctionRecursionConfig",
    ),
];

static MATCHERS: LazyLock<Vec<(Method, Regex, &'static str)>> = LazyLock::new(|| {
    OPERATIONS
        .iter()
        .filter_map(|(method, pattern, op)| {
            let method = Method::from_bytes(method.as_bytes()).ok()?;
            let regex = Regex::new(&format!("^{pattern}$")).ok()?;
            Some((method, regex, *op))
        })
        .collect()
});

/// The name of the Lambda operation a request is for, if it is one Lambent does not implement.
pub fn operation_for(method: &Method, path: &str) -> Option<&'static str> {
    MATCHERS
        .iter()
        .find(|(m, regex, _)| m == method && regex.is_match(path))
        .map(|(_, _, op)| *op)
}

pub async fn fallback(method: Method, uri: Uri) -> ApiError {
    match operation_for(&method, uri.path()) {
        Some(op) => ApiError::not_implemented(op),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("No Lambda operation matches {method} {}", uri.path()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_matches() {
        assert_eq!(MATCHERS.len(), OPERATIONS.len());
        assert_eq!(
            operation_for(&Method::POST, "/2014-11-13/functions/f/invoke-async/"),
            Some("InvokeAsync")
        );
        assert_eq!(operation_for(&Method::GET, "/nope"), None);
    }
}
