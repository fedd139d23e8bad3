//! Function URL requests: find the URL, answer CORS preflights, authenticate as its `AuthType`
//! says, invoke with a payload 2.0 event and map the result by Lambda's rules.
//!
//! Authorization: a `NONE` URL needs a resource-policy statement letting `Principal: *` call
//! `lambda:InvokeFunctionUrl` (with `lambda:FunctionUrlAuthType: NONE` if conditioned), as on
//! Lambda; without it the answer is Lambda's 403. An `AWS_IAM` URL needs a SigV4 signature for
//! service `lambda` made with this server's credentials; those are the account's own
//! credentials, whose identity policy allows everything, so no resource policy is consulted.
//! A server without credentials accepts any signature (as its Lambda API does) but still
//! refuses unsigned requests to `AWS_IAM` URLs.

use super::invoke::{Outcome, message, read_request, request_refusal, run, write};
use super::stream;
use crate::AppState;
use crate::sigv4::{self, RequestParts, SigV4Error};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::response::Response;
use lambent_control::FunctionRef;
use lambent_control::function_urls::FunctionUrlTarget;
use lambent_http_gateway::event::{EventContext, IamCaller};
use lambent_http_gateway::host::url_host;
use lambent_http_gateway::{HttpRequest, HttpResponse, cors, event, response};
use lambent_invoker::{InvokeError, InvokeRequest};
use std::collections::BTreeMap;

/// Lambda's answer to a request its authorization refuses.
const FORBIDDEN: &str = "Forbidden. For troubleshooting Function URL authorization issues, see: \
     https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html";

pub async fn serve(
    state: &AppState,
    url_id: String,
    host: String,
    raw_path: String,
    request: Request,
) -> Response {
    let target = match state.service.function_url_by_id(&url_id).await {
        Ok(Some(target)) => target,
        Ok(None) => return forbidden(),
        Err(e) => {
            tracing::error!(error = %e, "looking up a function URL");
            return message(500, "Message", "Internal Server Error", None);
        }
    };
    let (parts, http) = match read_request(request, &raw_path).await {
        Ok(read) => read,
        Err(e) => return request_refusal(&e, "Message"),
    };
    if let Some(cors) = &target.cors
        && cors::is_preflight(&http)
    {
        return write(
            cors::preflight(cors, &http),
            &uuid::Uuid::new_v4().to_string(),
        );
    }
    let Ok(iam) = authorize(state, &target, &parts, &http) else {
        return forbidden();
    };
    if !target.target_exists {
        return forbidden();
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let region = &state.service.account().region;
    let domain_name = match lambent_http_gateway::host::url_id(&host) {
        Some(_) => host
            .rsplit_once(':')
            .map_or(host.as_str(), |(h, _)| h)
            .to_owned(),
        None => url_host(&url_id, region),
    };
    let ctx = EventContext {
        account_id: state.service.account().account_id.clone(),
        api_id: url_id.clone(),
        domain_name,
        domain_prefix: url_id.clone(),
        route_key: "$default".into(),
        stage: "$default".into(),
        request_id: request_id.clone(),
        resource: "$default".into(),
        path_parameters: BTreeMap::new(),
        iam,
        time: chrono::Utc::now(),
    };
    let function = FunctionRef {
        name: target.function.clone(),
        qualifier: target.qualifier.clone(),
    };
    let event = event::v2(&http, &ctx);
    if target.invoke_mode == "RESPONSE_STREAM" {
        return serve_streamed(state, &target, &http, function, &event, &request_id).await;
    }
    let outcome = run(state, function, &event, &request_id, None).await;
    let mut answer = match outcome {
        Outcome::Done(done) if done.function_error.is_none() => response::from_v2(&done.payload)
            .unwrap_or_else(|e| {
                tracing::info!(url = %url_id, error = %e, "function URL result is not a response");
                internal_error()
            }),
        Outcome::Done(_) => internal_error(),
        Outcome::Refused(e) => return refusal(e),
        Outcome::TimedOut => internal_error(),
    };
    if let Some(cors) = &target.cors {
        cors::decorate(cors, &http, &mut answer);
    }
    write(answer, &request_id)
}

/// A `RESPONSE_STREAM` URL: the body is sent as the function writes it (see [`stream`]). Failures
/// before the response began get the same answers as on a buffered URL.
async fn serve_streamed(
    state: &AppState,
    target: &FunctionUrlTarget,
    http: &HttpRequest,
    function: FunctionRef,
    event: &serde_json::Value,
    request_id: &str,
) -> Response {
    let payload = bytes::Bytes::from(event.to_string());
    if payload.len() > lambent_http_gateway::MAX_PAYLOAD {
        return refusal(InvokeError::RequestTooLarge);
    }
    let request = InvokeRequest {
        function,
        payload,
        tail_logs: false,
        client_context: None,
        trace_id: None,
        request_id: Some(request_id.to_owned()),
    };
    // `invoke_stream` runs the invocation on a task of its own: a client that leaves while this
    // waits for the response to begin does not cancel it.
    let invocation = match state.invoker.invoke_stream(request).await {
        Ok(invocation) => invocation,
        Err(e) => return refusal(e),
    };
    let started = match stream::start(invocation).await {
        Ok(started) => started,
        Err(e) => {
            tracing::info!(url = %target.url_id, error = %e, "streamed function URL response failed");
            let mut answer = internal_error();
            if let Some(cors) = &target.cors {
                cors::decorate(cors, http, &mut answer);
            }
            return write(answer, request_id);
        }
    };
    let mut head = started.head;
    if let Some(cors) = &target.cors {
        cors::decorate(cors, http, &mut head);
    }
    stream::write_streamed(head, started.body, request_id)
}

/// Checks the URL's auth type; for `AWS_IAM`, who signed.
fn authorize(
    state: &AppState,
    target: &FunctionUrlTarget,
    parts: &Parts,
    http: &HttpRequest,
) -> Result<Option<IamCaller>, Denied> {
    if target.auth_type != "AWS_IAM" {
        return if target.public_access {
            Ok(None)
        } else {
            Err(Denied)
        };
    }
    let signed = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &http.body,
    };
    let account_id = state.service.account().account_id.clone();
    let Some(credentials) = &state.credentials else {
        // No credentials configured: any signature is accepted, but there must be one.
        return match sigv4::verify(&signed, &AnyKey, chrono::Utc::now()) {
            Err(SigV4Error::Missing) | Err(SigV4Error::Malformed(_)) => Err(Denied),
            _ => Ok(Some(IamCaller {
                access_key: access_key_of(parts).unwrap_or_default(),
                account_id,
            })),
        };
    };
    match sigv4::verify(&signed, credentials.as_ref(), chrono::Utc::now()) {
        Ok(identity) if identity.service == "lambda" => Ok(Some(IamCaller {
            access_key: identity.access_key_id,
            account_id,
        })),
        Ok(_) => Err(Denied),
        Err(e) => {
            tracing::debug!(error = %e, "function URL signature refused");
            Err(Denied)
        }
    }
}

/// The URL's authorization refused the request (Lambda answers 403 without saying why).
struct Denied;

/// Lets `sigv4::verify` parse a signature without checking it: every key has the same made-up
/// secret, so a parsed signature ends as a mismatch rather than as missing or malformed.
struct AnyKey;

impl sigv4::CredentialLookup for AnyKey {
    fn secret_for(&self, _access_key_id: &str) -> Option<String> {
        Some(String::new())
    }
}

/// The access key of the `Authorization` header's credential scope, if any.
fn access_key_of(parts: &Parts) -> Option<String> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    credential.split('/').next().map(str::to_owned)
}

fn forbidden() -> Response {
    message(403, "Message", FORBIDDEN, Some("AccessDeniedException"))
}

/// A function error, timeout or unreadable result: Lambda's 502.
fn internal_error() -> HttpResponse {
    HttpResponse::json_message(502, "Message", "Internal Server Error")
}

fn refusal(e: InvokeError) -> Response {
    match e {
        InvokeError::Throttled(_) => message(
            429,
            "Message",
            "Rate Exceeded.",
            Some("TooManyRequestsException"),
        ),
        InvokeError::RequestTooLarge => request_refusal(
            &lambent_http_gateway::RequestError::BodyTooLarge {
                limit: lambent_http_gateway::MAX_PAYLOAD,
            },
            "Message",
        ),
        // The alias (or function) went away after the lookup.
        InvokeError::Control(lambent_control::ControlError::ResourceNotFound(_)) => forbidden(),
        other => {
            tracing::warn!(error = %other, "function URL invocation failed");
            message(502, "Message", "Internal Server Error", None)
        }
    }
}
