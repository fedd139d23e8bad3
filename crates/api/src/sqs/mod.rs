//! The SQS JSON protocol (`POST /` with `X-Amz-Target: AmazonSQS.<Operation>` and
//! `application/x-amz-json-1.0` bodies), as current boto3, the AWS CLI and SDKs speak it, in
//! front of the built-in queue service. It parses and renders; `lambent-queues` decides.

mod error;
mod messages;
mod queues;

pub use error::SqsError;

use crate::{AppState, body};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "AmazonSQS.";

/// What every operation needs to know about the request besides its body.
pub struct Context<'a> {
    pub queues: &'a lambent_queues::QueueService,
    /// `http://<Host header>`: queue URLs use the name the client reached the server by.
    pub base_url: String,
    /// `SenderId` of sent messages: the caller's access key id, else the account id.
    pub sender_id: String,
}

impl Context<'_> {
    pub fn queue_url(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.base_url, self.queues.account_id())
    }

    /// The queue a request's `QueueUrl` names.
    pub fn queue_name(&self, url: Option<&str>) -> Result<String, SqsError> {
        let url = url.ok_or_else(|| SqsError::missing("QueueUrl"))?;
        Ok(self.queues.name_from_url(url)?)
    }
}

/// `POST /`: an SQS request when it carries an `AmazonSQS.` target, otherwise whatever the
/// Lambda API answers for an unknown path.
pub async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: Body,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_owned);
    let Some(operation) = target else {
        return crate::unimplemented::fallback(method, uri)
            .await
            .into_response();
    };
    let bytes = match body::read(request, body::MAX_CONTROL_BODY, &operation).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let input: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(e) => return serialization_error(e).into_response(),
        }
    };
    let Some(queues) = state.queues.as_deref() else {
        return SqsError::new(
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
            "The queue service is not enabled on this server.",
        )
        .into_response();
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let context = Context {
        queues,
        base_url: format!("http://{host}"),
        sender_id: sender_id(&headers).unwrap_or_else(|| queues.account_id().to_owned()),
    };
    match dispatch(&context, &operation, input).await {
        Ok(output) => {
            let mut response = (StatusCode::OK, output.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn dispatch(context: &Context<'_>, operation: &str, input: Value) -> Result<Value, SqsError> {
    match operation {
        "CreateQueue" => queues::create(context, parse(input)?).await,
        "GetQueueUrl" => queues::get_url(context, parse(input)?),
        "ListQueues" => queues::list(context, parse(input)?),
        "DeleteQueue" => queues::delete(context, parse(input)?).await,
        "GetQueueAttributes" => queues::get_attributes(context, parse(input)?),
        "SetQueueAttributes" => queues::set_attributes(context, parse(input)?).await,
        "PurgeQueue" => queues::purge(context, parse(input)?).await,
        "TagQueue" => queues::tag(context, parse(input)?).await,
        "UntagQueue" => queues::untag(context, parse(input)?).await,
        "ListQueueTags" => queues::list_tags(context, parse(input)?),
        "ListDeadLetterSourceQueues" => queues::dead_letter_sources(context, parse(input)?),
        "SendMessage" => messages::send(context, parse(input)?).await,
        "SendMessageBatch" => messages::send_batch(context, parse(input)?).await,
        "ReceiveMessage" => messages::receive(context, parse(input)?).await,
        "DeleteMessage" => messages::delete(context, parse(input)?).await,
        "DeleteMessageBatch" => messages::delete_batch(context, parse(input)?).await,
        "ChangeMessageVisibility" => messages::change_visibility(context, parse(input)?),
        "ChangeMessageVisibilityBatch" => messages::change_visibility_batch(context, parse(input)?),
        "AddPermission"
        | "RemovePermission"
        | "StartMessageMoveTask"
        | "CancelMessageMoveTask"
        | "ListMessageMoveTasks" => Err(SqsError::new(
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
            format!("The {operation} operation is not implemented by this Lambent release yet."),
        )),
        _ => Err(SqsError::new(
            "UnknownOperationException",
            "UnknownOperationException",
            format!("Unknown operation {operation}"),
        )),
    }
}

fn parse<T: DeserializeOwned>(input: Value) -> Result<T, SqsError> {
    serde_json::from_value(input).map_err(serialization_error)
}

fn serialization_error(e: serde_json::Error) -> SqsError {
    SqsError::new(
        "SerializationException",
        "SerializationException",
        format!("Could not parse the request: {e}"),
    )
}

/// The access key id in `Authorization: AWS4-HMAC-SHA256 Credential=AKID/...`.
fn sender_id(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    let akid = credential.split('/').next()?.trim();
    (!akid.is_empty()).then(|| akid.to_owned())
}

/// Errors answered before an SQS request reaches [`handle`] (signature checks, body limits) are
/// rendered in Lambda's shape by the shared middleware; SQS clients read `__type` and
/// `x-amzn-query-error` instead, so this re-renders them for requests aimed at SQS.
pub async fn translate_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_sqs = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(TARGET_PREFIX));
    let response = next.run(request).await;
    if !is_sqs || !response.headers().contains_key("x-amzn-ErrorType") {
        return response;
    }
    let status = response.status();
    let lambda_type = response
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = body
        .get("message")
        .or_else(|| body.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // The query protocol's names for the signature failures.
    let (shape, code) = match lambda_type.as_str() {
        "InvalidSignatureException" => ("InvalidSignatureException", "SignatureDoesNotMatch"),
        "UnrecognizedClientException" => ("UnrecognizedClientException", "InvalidClientTokenId"),
        "IncompleteSignatureException" => ("IncompleteSignatureException", "IncompleteSignature"),
        "MissingAuthenticationTokenException" => (
            "MissingAuthenticationTokenException",
            "MissingAuthenticationToken",
        ),
        _ => ("InvalidRequest", "InvalidRequest"),
    };
    let mut error = SqsError::new(shape, code, message);
    error.status = status;
    error.into_response()
}
