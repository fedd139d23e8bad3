//! AWS Signature Version 4 verification, server side.
//!
//! There is no published verifier in the AWS SDKs, so this module verifies by
//! recomputing: it rebuilds the canonical request from the request as received
//! (method, raw path, raw query, only the headers named in `SignedHeaders`, the
//! payload hash), derives the signing key from the secret returned by a
//! [`CredentialLookup`], and compares the HMAC with the client's signature in
//! constant time.
//!
//! Two forms are accepted:
//!
//! * the `Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
//!   SignedHeaders=..., Signature=...` header (botocore, the AWS CLI, the JS/Go/Rust SDKs), with
//!   the time taken from `X-Amz-Date` or, failing that, `Date`;
//! * presigned URLs (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-SignedHeaders`,
//!   `X-Amz-Signature`, optional `X-Amz-Expires` and `X-Amz-Security-Token` query parameters).
//!
//! Canonicalisation follows botocore, which was used to generate the test vectors in
//! `tests/sigv4/`:
//!
//! * The canonical URI of every service except S3 is the *wire* path (still percent-encoded)
//!   with dot segments and empty segments removed, URI-encoded once more, so `%3A` in a Lambda
//!   ARN becomes `%253A`. S3 signs the wire path as it is.
//! * The canonical query string decodes every name and value (`%XX`, and `+` as a space, as the
//!   Go and Rust SDKs do), re-encodes them with the RFC 3986 unreserved set, keeps empty values
//!   (`a` becomes `a=`) and sorts by name, then value.
//! * Canonical headers come from the `SignedHeaders` list only; names are lowercased, values
//!   trimmed with inner runs of spaces and tabs collapsed, repeated headers joined with `,`.
//! * The payload hash is the `x-amz-content-sha256` header when present (a hex SHA-256, which
//!   must then match the body, or `UNSIGNED-PAYLOAD`), else the hex SHA-256 of the body.
//!
//! The application layer should decode query parameters the same way (`+` is a space) so that
//! what was signed is what is acted on.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use http::header::{AUTHORIZATION, DATE, HeaderName};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Largest accepted difference between the signing time and the server clock.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);
/// Largest accepted `X-Amz-Expires` of a presigned URL (seven days, as AWS).
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 60 * 60;
/// `x-amz-content-sha256` value of a request whose body is not covered by the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const TERMINATOR: &str = "aws4_request";
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
/// At most this many characters of client input are echoed back in error messages.
const MAX_ECHO_CHARS: usize = 512;

/// RFC 3986 unreserved characters stay as they are; everything else is `%XX` (upper-case hex).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Same, keeping `/` (path segments separators).
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// An access key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Source of secret keys.
pub trait CredentialLookup {
    /// The secret access key of `access_key_id`, or `None` if the key is unknown.
    fn secret_for(&self, access_key_id: &str) -> Option<String>;
}

impl CredentialLookup for Credentials {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        (self.access_key_id == access_key_id).then(|| self.secret_access_key.clone())
    }
}

impl CredentialLookup for [Credentials] {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.iter().find_map(|c| c.secret_for(access_key_id))
    }
}

impl CredentialLookup for Vec<Credentials> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.as_slice().secret_for(access_key_id)
    }
}

/// Access key id → secret access key.
impl<S: BuildHasher> CredentialLookup for HashMap<String, String, S> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

impl<T: CredentialLookup + ?Sized> CredentialLookup for std::sync::Arc<T> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        (**self).secret_for(access_key_id)
    }
}

/// The parts of an HTTP request that the signature covers.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as received on the wire, still percent-encoded, without the query
    /// (e.g. `/2015-03-31/functions/arn%3Aaws%3Alambda%3A.../configuration`).
    pub raw_path: &'a str,
    /// The query string as received on the wire, without the `?`.
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Who signed a request that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub access_key_id: String,
    /// Region of the credential scope (the client's region).
    pub region: String,
    /// Service of the credential scope (`lambda`, `logs`, ...). Callers decide whether
    /// it is acceptable; `verify` does not restrict it.
    pub service: String,
    /// Signing time (`X-Amz-Date`, or `Date`).
    pub signed_at: DateTime<Utc>,
    /// `X-Amz-Security-Token` (header, or query parameter of a presigned URL), if any.
    pub security_token: Option<String>,
    /// True for the presigned query-string form.
    pub presigned: bool,
    /// False when the client sent `x-amz-content-sha256: UNSIGNED-PAYLOAD`: the body
    /// is then not covered by the signature.
    pub payload_signed: bool,
}

/// Why a request was refused. [`SigV4Error::aws_error_type`] and [`SigV4Error::message`]
/// give what AWS answers in the `x-amzn-ErrorType` header and the body's message; every
/// variant is answered with HTTP 403 ([`SigV4Error::http_status`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("the request is not signed")]
    Missing,
    /// The signature information is incomplete or cannot be parsed; the text is the
    /// message sent to the client.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The access key id of the credential scope is not known.
    #[error("unknown access key id")]
    UnknownAccessKey,
    /// The recomputed signature differs from the one provided.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// The signing time is more than [`MAX_CLOCK_SKEW`] away from the server clock.
    #[error("signing time {signed_at} is more than 15 minutes away from {now}")]
    ClockSkew {
        signed_at: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// A presigned URL used after `X-Amz-Date + X-Amz-Expires`.
    #[error("presigned request signed at {signed_at} for {expires_secs} s has expired at {now}")]
    Expired {
        signed_at: DateTime<Utc>,
        expires_secs: u64,
        now: DateTime<Utc>,
    },
    /// Other inconsistencies AWS reports as `InvalidSignatureException` (credential
    /// scope date differing from the request date, body differing from
    /// `x-amz-content-sha256`); the text is the message sent to the client.
    #[error("invalid signature: {0}")]
    Invalid(String),
}

impl SigV4Error {
    /// The error code AWS uses (`x-amzn-ErrorType` / `__type`).
    pub fn aws_error_type(&self) -> &'static str {
        match self {
            SigV4Error::Missing => "MissingAuthenticationTokenException",
            SigV4Error::Malformed(_) => "IncompleteSignatureException",
            SigV4Error::UnknownAccessKey => "UnrecognizedClientException",
            SigV4Error::SignatureMismatch
            | SigV4Error::ClockSkew { .. }
            | SigV4Error::Expired { .. }
            | SigV4Error::Invalid(_) => "InvalidSignatureException",
        }
    }

    /// The HTTP status AWS Lambda answers with.
    pub fn http_status(&self) -> u16 {
        403
    }

    /// The message, worded as AWS words it.
    pub fn message(&self) -> String {
        match self {
            SigV4Error::Missing => "Missing Authentication Token".to_owned(),
            SigV4Error::Malformed(m) | SigV4Error::Invalid(m) => m.clone(),
            SigV4Error::UnknownAccessKey => {
                "The security token included in the request is invalid.".to_owned()
            }
            SigV4Error::SignatureMismatch => "The request signature we calculated does not match \
                 the signature you provided. Check your AWS Secret Access Key and signing \
                 method. Consult the service documentation for details."
                .to_owned(),
            SigV4Error::ClockSkew { signed_at, now } => {
                if signed_at < now {
                    format!(
                        "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                        amz_date(*signed_at),
                        amz_date(*now - MAX_CLOCK_SKEW),
                        amz_date(*now)
                    )
                } else {
                    format!(
                        "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                        amz_date(*signed_at),
                        amz_date(*now + MAX_CLOCK_SKEW),
                        amz_date(*now)
                    )
                }
            }
            SigV4Error::Expired {
                signed_at,
                expires_secs,
                now,
            } => {
                let expiry = i64::try_from(*expires_secs)
                    .ok()
                    .and_then(TimeDelta::try_seconds)
                    .and_then(|d| signed_at.checked_add_signed(d))
                    .unwrap_or(*signed_at);
                format!(
                    "Signature expired: {} is now earlier than {} ({} + {} sec.)",
                    amz_date(expiry),
                    amz_date(*now),
                    amz_date(*signed_at),
                    expires_secs
                )
            }
        }
    }
}

/// Verify the SigV4 signature of a request at time `now`.
pub fn verify(
    req: &RequestParts,
    creds: &dyn CredentialLookup,
    now: DateTime<Utc>,
) -> Result<VerifiedIdentity, SigV4Error> {
    let query = parse_query(req.raw_query.unwrap_or(""));
    let presigned = query.iter().any(|(k, _)| {
        matches!(
            k.as_slice(),
            b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"
        )
    });
    let mut auth_values = req.headers.get_all(AUTHORIZATION).iter();
    let auth = auth_values.next();
    let more_auth = auth_values.next().is_some();
    let auth = auth.filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace));

    let parsed = match (auth, presigned) {
        (None, false) => return Err(SigV4Error::Missing),
        (Some(_), true) => {
            return Err(SigV4Error::Malformed(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
                 Signature query string parameter or the Authorization header should be \
                 specified"
                    .to_owned(),
            ));
        }
        (Some(_), false) if more_auth => {
            return Err(SigV4Error::Malformed(
                "Only one Authorization header is allowed.".to_owned(),
            ));
        }
        (Some(value), false) => parse_authorization_header(value.as_bytes(), req.headers)?,
        (None, true) => parse_presigned_query(&query)?,
    };

    let scope = &parsed.scope;
    let date8 = parsed.amz_date.get(..8).unwrap_or_default();
    if scope.date != date8 {
        return Err(SigV4Error::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            echo(&scope.date),
            date8,
            parsed.date_source
        )));
    }
    let signed_headers = parse_signed_headers(&parsed.signed_headers)?;
    let canonical_headers = canonical_headers(req.headers, &signed_headers)?;

    let security_token = if parsed.presigned {
        parsed.security_token.clone()
    } else {
        req.headers
            .get(X_AMZ_SECURITY_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };

    let secret = creds
        .secret_for(&scope.access_key_id)
        .ok_or(SigV4Error::UnknownAccessKey)?;

    check_time(&parsed, now)?;

    let payload = payload_hash(req.headers, req.body)?;

    let provided = decode_signature(&parsed.signature);
    let key = signing_key(&secret, &scope.date, &scope.region, &scope.service);
    let credential_scope = format!(
        "{}/{}/{}/{}",
        scope.date, scope.region, scope.service, TERMINATOR
    );
    let canonical_query = canonical_query_string(&query, parsed.presigned);
    let signed_header_list = signed_headers.join(";");

    let mut matched = false;
    for uri in canonical_uri_candidates(req.raw_path, &scope.service) {
        let creq = assemble_canonical_request(
            req.method,
            &uri,
            &canonical_query,
            &canonical_headers,
            &signed_header_list,
            &payload.value,
        );
        let sts = string_to_sign(&parsed.amz_date, &credential_scope, &creq);
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts any key length");
        mac.update(sts.as_bytes());
        if let Some(provided) = &provided {
            // `verify_slice` compares in constant time.
            if mac.verify_slice(provided).is_ok() {
                matched = true;
                break;
            }
        }
    }
    if !matched {
        return Err(SigV4Error::SignatureMismatch);
    }

    if let Some(expected) = &payload.body_must_hash_to {
        let actual = Sha256::digest(req.body);
        if !expected.eq_ignore_ascii_case(&hex::encode(actual)) {
            return Err(SigV4Error::Invalid(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned(),
            ));
        }
    }

    Ok(VerifiedIdentity {
        access_key_id: scope.access_key_id.clone(),
        region: scope.region.clone(),
        service: scope.service.clone(),
        signed_at: parsed.signed_at,
        security_token,
        presigned: parsed.presigned,
        payload_signed: payload.signed,
    })
}

/// Compute the `Authorization` header value for `req` — the client side of [`verify`],
/// for tests and tools. The signing time is taken from the request's `X-Amz-Date` header
/// (which must be present, and should be among `signed_headers` together with `host`).
pub fn sign(
    req: &RequestParts,
    creds: &Credentials,
    region: &str,
    service: &str,
    signed_headers: &[&str],
) -> Result<String, SigV4Error> {
    let amz = req
        .headers
        .get(X_AMZ_DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| SigV4Error::Malformed("sign() needs an X-Amz-Date header".to_owned()))?;
    parse_amz_date(amz)?;
    let date8 = &amz[..8];
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let headers = canonical_headers(req.headers, &names)?;
    let payload = payload_hash(req.headers, req.body)?;
    let query = parse_query(req.raw_query.unwrap_or(""));
    let uri = canonical_uri_candidates(req.raw_path, service)
        .into_iter()
        .next()
        .unwrap_or_else(|| "/".to_owned());
    let signed_header_list = names.join(";");
    let creq = assemble_canonical_request(
        req.method,
        &uri,
        &canonical_query_string(&query, false),
        &headers,
        &signed_header_list,
        &payload.value,
    );
    let scope = format!("{date8}/{region}/{service}/{TERMINATOR}");
    let sts = string_to_sign(amz, &scope, &creq);
    let key = signing_key(&creds.secret_access_key, date8, region, service);
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(sts.as_bytes());
    Ok(format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_header_list}, Signature={}",
        creds.access_key_id,
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, TERMINATOR] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct Scope {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

#[derive(Debug)]
struct Parsed {
    scope: Scope,
    signed_headers: String,
    signature: String,
    /// Timestamp of the string to sign, `YYYYMMDDTHHMMSSZ`.
    amz_date: String,
    signed_at: DateTime<Utc>,
    /// Where the date came from, for error messages.
    date_source: &'static str,
    expires: Option<u64>,
    presigned: bool,
    security_token: Option<String>,
}

fn parse_authorization_header(raw: &[u8], headers: &HeaderMap) -> Result<Parsed, SigV4Error> {
    let auth = std::str::from_utf8(raw)
        .map_err(|_| {
            SigV4Error::Malformed("The Authorization header is not valid UTF-8.".to_owned())
        })?
        .trim();
    let (algorithm, rest) = match auth.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (&auth[..i], &auth[i..]),
        None => (auth, ""),
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Malformed(format!(
            "Unsupported AWS 'algorithm': '{}'. Authorization={}",
            echo(algorithm),
            echo(auth)
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            return Err(SigV4Error::Malformed(format!(
                "'{}' not a valid key=value pair (missing equal-sign) in Authorization header: \
                 '{}'.",
                echo(part),
                echo(auth)
            )));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value.trim()).is_some() {
            return Err(SigV4Error::Malformed(format!(
                "Authorization header contains '{}' more than once. Authorization={}",
                echo(key.trim()),
                echo(auth)
            )));
        }
    }

    let date_header = header_str(headers, X_AMZ_DATE)
        .map(|v| (v, X_AMZ_DATE))
        .or_else(|| header_str(headers, DATE.as_str()).map(|v| (v, "date")));
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if value.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if date_header.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some((date_value, source))) =
        (credential, signed_headers, signature, date_header)
    else {
        return Err(SigV4Error::Malformed(format!(
            "{missing}Authorization={}",
            echo(auth)
        )));
    };

    let signed_at = if source == X_AMZ_DATE {
        parse_amz_date(date_value)?
    } else {
        parse_http_date(date_value)?
    };
    Ok(Parsed {
        scope: parse_credential(credential)?,
        signed_headers: signed_headers.to_owned(),
        signature: signature.to_owned(),
        amz_date: amz_date(signed_at),
        signed_at,
        date_source: source,
        expires: None,
        presigned: false,
        security_token: None,
    })
}

fn parse_presigned_query(query: &[(Vec<u8>, Vec<u8>)]) -> Result<Parsed, SigV4Error> {
    let get = |name: &str| -> Result<Option<String>, SigV4Error> {
        let mut found = None;
        for (k, v) in query {
            if k.as_slice() == name.as_bytes() {
                if found.is_some() {
                    return Err(SigV4Error::Malformed(format!(
                        "The query parameter '{name}' is given more than once."
                    )));
                }
                let v = String::from_utf8(v.clone()).map_err(|_| {
                    SigV4Error::Malformed(format!(
                        "The query parameter '{name}' is not valid UTF-8."
                    ))
                })?;
                found = Some(v);
            }
        }
        Ok(found)
    };
    let algorithm = get("X-Amz-Algorithm")?;
    let credential = get("X-Amz-Credential")?;
    let date = get("X-Amz-Date")?;
    let signed_headers = get("X-Amz-SignedHeaders")?;
    let signature = get("X-Amz-Signature")?;
    let expires = get("X-Amz-Expires")?;
    let security_token = get("X-Amz-Security-Token")?;

    let (Some(algorithm), Some(credential), Some(date), Some(signed_headers), Some(signature)) =
        (algorithm, credential, date, signed_headers, signature)
    else {
        return Err(SigV4Error::Malformed(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', \
             'X-Amz-Signature', 'X-Amz-Date' and 'X-Amz-SignedHeaders'. Re-examine the \
             query-string parameters."
                .to_owned(),
        ));
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Malformed(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\", not '{}'.",
            echo(&algorithm)
        )));
    }
    let expires = match expires {
        None => None,
        Some(e) => {
            let secs = if !e.is_empty() && e.len() <= 20 && e.bytes().all(|b| b.is_ascii_digit()) {
                e.parse::<u64>().ok()
            } else {
                None
            }
            .ok_or_else(|| {
                SigV4Error::Malformed(format!(
                    "X-Amz-Expires should be a number, not '{}'.",
                    echo(&e)
                ))
            })?;
            if secs > MAX_PRESIGNED_EXPIRES_SECS {
                return Err(SigV4Error::Malformed(format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is \
                     {MAX_PRESIGNED_EXPIRES_SECS}"
                )));
            }
            Some(secs)
        }
    };
    let signed_at = parse_amz_date(&date)?;
    Ok(Parsed {
        scope: parse_credential(&credential)?,
        signed_headers,
        signature,
        amz_date: date,
        signed_at,
        date_source: "X-Amz-Date",
        expires,
        presigned: true,
        security_token,
    })
}

/// `AKID/YYYYMMDD/region/service/aws4_request`. The access key id is everything before
/// the last four `/`-separated fields.
fn parse_credential(credential: &str) -> Result<Scope, SigV4Error> {
    let mut fields = credential.rsplitn(5, '/');
    let terminator = fields.next().unwrap_or_default();
    let service = fields.next();
    let region = fields.next();
    let date = fields.next();
    let akid = fields.next();
    let (Some(service), Some(region), Some(date), Some(akid)) = (service, region, date, akid)
    else {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be of the form <access key id>/<YYYYMMDD>/<region>/<service>/\
             aws4_request, not '{}'.",
            echo(credential)
        )));
    };
    if terminator != TERMINATOR {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            echo(terminator)
        )));
    }
    if akid.is_empty() {
        return Err(SigV4Error::Malformed(format!(
            "Credential should name an access key id: '{}'.",
            echo(credential)
        )));
    }
    if region.is_empty() {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            echo(region)
        )));
    }
    if service.is_empty() {
        return Err(SigV4Error::Malformed(format!(
            "Credential should be scoped to a valid service, not '{}'.",
            echo(service)
        )));
    }
    Ok(Scope {
        access_key_id: akid.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// `SignedHeaders`: `;`-separated, lowercased; no empty or repeated names; `host` required.
fn parse_signed_headers(list: &str) -> Result<Vec<String>, SigV4Error> {
    let mut names: Vec<String> = Vec::new();
    for name in list.split(';') {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(SigV4Error::Malformed(format!(
                "SignedHeaders contains an empty header name: '{}'.",
                echo(list)
            )));
        }
        if names.contains(&name) {
            return Err(SigV4Error::Malformed(format!(
                "SignedHeaders names '{}' more than once.",
                echo(&name)
            )));
        }
        names.push(name);
    }
    if !names.iter().any(|n| n == "host" || n == ":authority") {
        return Err(SigV4Error::Malformed(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    Ok(names)
}

fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, SigV4Error> {
    let bad = || {
        SigV4Error::Malformed(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See \
             http://en.wikipedia.org/wiki/ISO_8601",
            echo(value)
        ))
    };
    // Exactly YYYYMMDDTHHMMSSZ: chrono alone would accept variants (e.g. signs, fewer digits).
    let b = value.as_bytes();
    let shape_ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[9..15].iter().all(u8::is_ascii_digit);
    if !shape_ok {
        return Err(bad());
    }
    NaiveDateTime::parse_from_str(value, AMZ_DATE_FORMAT)
        .map(|t| t.and_utc())
        .map_err(|_| bad())
}

fn parse_http_date(value: &str) -> Result<DateTime<Utc>, SigV4Error> {
    DateTime::parse_from_rfc2822(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            SigV4Error::Malformed(format!(
                "Date header must be an RFC 1123 date, not '{}'.",
                echo(value)
            ))
        })
}

fn check_time(parsed: &Parsed, now: DateTime<Utc>) -> Result<(), SigV4Error> {
    let signed_at = parsed.signed_at;
    if signed_at > now + MAX_CLOCK_SKEW {
        return Err(SigV4Error::ClockSkew { signed_at, now });
    }
    match parsed.expires {
        Some(expires_secs) => {
            let expiry = i64::try_from(expires_secs)
                .ok()
                .and_then(TimeDelta::try_seconds)
                .and_then(|d| signed_at.checked_add_signed(d));
            if expiry.is_none_or(|e| now > e) {
                return Err(SigV4Error::Expired {
                    signed_at,
                    expires_secs,
                    now,
                });
            }
        }
        None => {
            if signed_at < now - MAX_CLOCK_SKEW {
                return Err(SigV4Error::ClockSkew { signed_at, now });
            }
        }
    }
    Ok(())
}

/// The signature's 32 bytes, or `None` if it is not 64 hex digits (which can then
/// never match).
fn decode_signature(signature: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(signature.trim(), &mut out).ok()?;
    Some(out)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Client text echoed in a message: at most [`MAX_ECHO_CHARS`] characters.
fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO_CHARS) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

fn amz_date(t: DateTime<Utc>) -> String {
    t.format(AMZ_DATE_FORMAT).to_string()
}

// ---------------------------------------------------------------------------------------
// Canonical request
// ---------------------------------------------------------------------------------------

struct Payload {
    /// The last line of the canonical request.
    value: String,
    /// Whether the body is covered by the signature.
    signed: bool,
    /// A hash the client declared in `x-amz-content-sha256`, to check against the body.
    body_must_hash_to: Option<String>,
}

fn payload_hash(headers: &HeaderMap, body: &[u8]) -> Result<Payload, SigV4Error> {
    let mut values = headers.get_all(X_AMZ_CONTENT_SHA256).iter();
    let Some(declared) = values.next() else {
        return Ok(Payload {
            value: hex::encode(Sha256::digest(body)),
            signed: true,
            body_must_hash_to: None,
        });
    };
    if values.next().is_some() {
        return Err(SigV4Error::Malformed(
            "x-amz-content-sha256 is given more than once.".to_owned(),
        ));
    }
    let declared = std::str::from_utf8(declared.as_bytes()).unwrap_or_default();
    if declared == UNSIGNED_PAYLOAD {
        return Ok(Payload {
            value: declared.to_owned(),
            signed: false,
            body_must_hash_to: None,
        });
    }
    if declared.len() == 64 && declared.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Payload {
            value: declared.to_owned(),
            signed: true,
            body_must_hash_to: Some(declared.to_owned()),
        });
    }
    if declared.starts_with("STREAMING-") {
        return Err(SigV4Error::Malformed(format!(
            "x-amz-content-sha256 '{}' (aws-chunked payloads) is not supported by this \
             endpoint; send the payload in one piece.",
            echo(declared)
        )));
    }
    Err(SigV4Error::Malformed(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.".to_owned(),
    ))
}

/// `name:value\n` for each signed header, in the order of `SignedHeaders`.
fn canonical_headers(headers: &HeaderMap, names: &[String]) -> Result<Vec<u8>, SigV4Error> {
    let mut out = Vec::new();
    for name in names {
        let not_there = || {
            SigV4Error::Malformed(format!(
                "'{}' is named as a SignedHeader, but it does not exist in the HTTP request.",
                echo(name)
            ))
        };
        let lookup = if name == ":authority" { "host" } else { name };
        let header = HeaderName::from_bytes(lookup.as_bytes()).map_err(|_| not_there())?;
        let mut values = headers.get_all(&header).iter().peekable();
        if values.peek().is_none() {
            return Err(not_there());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// Append `value` without leading/trailing whitespace and with inner whitespace runs
/// collapsed to one space (the spec's Trimall).
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t');
    let mut first = true;
    for word in value.split(is_ws).filter(|w| !w.is_empty()) {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(word);
        first = false;
    }
}

/// Canonical URIs to try. Every service but S3 double-encodes: the wire path with dot
/// and empty segments removed (as botocore and the JS SDK normalise), encoded again; if
/// normalisation changed the path, the un-normalised path encoded again is also tried
/// (the Go SDK does not normalise). S3 signs the wire path as is.
fn canonical_uri_candidates(raw_path: &str, service: &str) -> Vec<String> {
    let raw_path = if raw_path.is_empty() { "/" } else { raw_path };
    if service == "s3" {
        return vec![raw_path.to_owned()];
    }
    let normalized = remove_dot_segments(raw_path);
    let mut candidates = vec![encode_path(&normalized)];
    if normalized != raw_path {
        candidates.push(encode_path(raw_path));
    }
    candidates
}

fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, UNRESERVED_AND_SLASH).to_string()
}

/// RFC 3986 dot-segment removal that also drops empty segments (`//`), keeping a
/// leading `/` and, if anything is left, a trailing `/` — botocore's `normalize_url_path`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut result = String::with_capacity(path.len());
    if path.starts_with('/') {
        result.push('/');
    }
    result.push_str(&out.join("/"));
    if path.ends_with('/') && !out.is_empty() {
        result.push('/');
    }
    if result.is_empty() {
        result.push('/');
    }
    result
}

/// Split a raw query into decoded `(name, value)` pairs (`%XX` and `+` decoded; a name
/// without `=` has an empty value; empty pieces between `&` are skipped).
fn parse_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_query_component(k), decode_query_component(v))
        })
        .collect()
}

fn decode_query_component(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = match b.get(i..i + 3) {
            Some([b'%', h, l]) => hex_val(*h).zip(hex_val(*l)),
            _ => None,
        };
        if let Some((h, l)) = escaped {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Encode every pair with the unreserved set, sort by name then value, join with `&`.
/// `X-Amz-Signature` is left out of presigned requests.
fn canonical_query_string(query: &[(Vec<u8>, Vec<u8>)], presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !(presigned && k.as_slice() == b"X-Amz-Signature"))
        .map(|(k, v)| (encode_query_component(k), encode_query_component(v)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn encode_query_component(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, UNRESERVED).to_string()
}

fn assemble_canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers: &[u8],
    signed_headers: &str,
    payload: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        method.len() + uri.len() + query.len() + headers.len() + signed_headers.len() + 80,
    );
    out.extend_from_slice(method.to_ascii_uppercase().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(uri.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(query.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(headers);
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload.as_bytes());
    out
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn t(s: &str) -> DateTime<Utc> {
        parse_amz_date(s).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn creds() -> Credentials {
        Credentials::new(AKID, SECRET)
    }

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        h: &'a HeaderMap,
        body: &'a [u8],
    ) -> RequestParts<'a> {
        RequestParts {
            method,
            raw_path: path,
            raw_query: query,
            headers: h,
            body,
        }
    }

    fn query_cq(raw: &str) -> String {
        canonical_query_string(&parse_query(raw), false)
    }

    // --- canonical pieces -----------------------------------------------------------

    #[test]
    fn canonical_uri_double_encodes_non_s3() {
        assert_eq!(
            canonical_uri_candidates(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/configuration",
                "lambda"
            ),
            vec![
                "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A1%253Afunction%253Af/configuration"
            ]
        );
        assert_eq!(
            canonical_uri_candidates("/a%20b/$LATEST/~x", "lambda"),
            vec!["/a%2520b/%24LATEST/~x"]
        );
        assert_eq!(canonical_uri_candidates("", "lambda"), vec!["/"]);
        assert_eq!(canonical_uri_candidates("/", "lambda"), vec!["/"]);
    }

    #[test]
    fn canonical_uri_normalizes_but_also_tries_raw() {
        assert_eq!(
            canonical_uri_candidates("/a//b/./c/../d/", "lambda"),
            vec!["/a/b/d/", "/a//b/./c/../d/"]
        );
        assert_eq!(canonical_uri_candidates("/..", "lambda"), vec!["/", "/.."]);
    }

    #[test]
    fn canonical_uri_s3_is_verbatim() {
        assert_eq!(
            canonical_uri_candidates("/bucket/a%20b//c", "s3"),
            vec!["/bucket/a%20b//c"]
        );
    }

    #[test]
    fn remove_dot_segments_like_botocore() {
        assert_eq!(remove_dot_segments("/"), "/");
        assert_eq!(remove_dot_segments("//"), "/");
        assert_eq!(remove_dot_segments("/a/b/"), "/a/b/");
        assert_eq!(remove_dot_segments("/a/../../b"), "/b");
        assert_eq!(remove_dot_segments("/./"), "/");
    }

    #[test]
    fn canonical_query_sorts_encodes_and_keeps_empty_values() {
        assert_eq!(query_cq(""), "");
        assert_eq!(query_cq("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query_cq("flag&x="), "flag=&x=");
        assert_eq!(query_cq("a+b=c+d"), "a%20b=c%20d");
        assert_eq!(query_cq("p=x%2By"), "p=x%2By");
        assert_eq!(query_cq("s=%e2%9c%93"), "s=%E2%9C%93");
        assert_eq!(query_cq("raw=$/:*'"), "raw=%24%2F%3A%2A%27");
        assert_eq!(query_cq("t=~-._"), "t=~-._");
        // '%' not followed by two hex digits is a literal percent sign.
        assert_eq!(query_cq("bad=%zz%4&e=%"), "bad=%25zz%254&e=%25");
        assert_eq!(query_cq("&&a=1&&"), "a=1");
        // Upper case sorts before lower case (byte order).
        assert_eq!(query_cq("b=1&B=2&a=3"), "B=2&a=3&b=1");
        // Non-UTF-8 after decoding is re-encoded byte by byte.
        assert_eq!(query_cq("x=%FF%FE"), "x=%FF%FE");
    }

    #[test]
    fn canonical_query_drops_signature_of_presigned_only() {
        let q = parse_query("X-Amz-Signature=abc&a=1");
        assert_eq!(canonical_query_string(&q, true), "a=1");
        assert_eq!(canonical_query_string(&q, false), "X-Amz-Signature=abc&a=1");
    }

    #[test]
    fn canonical_headers_trim_collapse_and_join() {
        let h = headers(&[
            ("Host", "example.com"),
            ("X-Multi", "  one  "),
            ("X-Multi", "two\t\t three"),
            ("X-Spaces", "a   b    c"),
            ("X-Unsigned", "ignored"),
        ]);
        let names: Vec<String> = ["host", "x-multi", "x-spaces"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            String::from_utf8(canonical_headers(&h, &names).unwrap()).unwrap(),
            "host:example.com\nx-multi:one,two three\nx-spaces:a b c\n"
        );
        let err = canonical_headers(&h, &["x-absent".to_owned()]).unwrap_err();
        assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
        assert!(
            err.message()
                .contains("'x-absent' is named as a SignedHeader")
        );
        assert!(canonical_headers(&h, &["bad header".to_owned()]).is_err());
    }

    #[test]
    fn non_utf8_header_values_are_signed_as_bytes() {
        let mut h = HeaderMap::new();
        h.insert("x-bin", HeaderValue::from_bytes(b"caf\xe9  x").unwrap());
        let out = canonical_headers(&h, &["x-bin".to_owned()]).unwrap();
        assert_eq!(out, b"x-bin:caf\xe9 x\n");
    }

    #[test]
    fn signed_headers_parsing() {
        assert_eq!(
            parse_signed_headers("host;X-Amz-Date").unwrap(),
            vec!["host", "x-amz-date"]
        );
        assert!(parse_signed_headers("host;;x-amz-date").is_err());
        assert!(parse_signed_headers("host;host").is_err());
        let err = parse_signed_headers("x-amz-date").unwrap_err();
        assert!(err.message().contains("'Host'"));
    }

    #[test]
    fn credential_parsing() {
        assert_eq!(
            parse_credential("AKID/20240501/us-east-1/lambda/aws4_request").unwrap(),
            Scope {
                access_key_id: "AKID".into(),
                date: "20240501".into(),
                region: "us-east-1".into(),
                service: "lambda".into()
            }
        );
        // An access key id containing '/' still parses (fields are taken from the right).
        assert_eq!(
            parse_credential("A/B/20240501/r/s/aws4_request")
                .unwrap()
                .access_key_id,
            "A/B"
        );
        for bad in [
            "",
            "AKID",
            "AKID/20240501/us-east-1/lambda",
            "AKID/20240501/us-east-1/lambda/aws5_request",
            "/20240501/us-east-1/lambda/aws4_request",
            "AKID/20240501//lambda/aws4_request",
            "AKID/20240501/us-east-1//aws4_request",
        ] {
            let err = parse_credential(bad).unwrap_err();
            assert_eq!(
                err.aws_error_type(),
                "IncompleteSignatureException",
                "{bad}"
            );
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            t("20240501T101112Z").to_rfc3339(),
            "2024-05-01T10:11:12+00:00"
        );
        for bad in [
            "",
            "2024-05-01T10:11:12Z",
            "20240501T101112",
            "20241301T101112Z",
            "20240501T251112Z",
            "+2024051T101112Z",
            "20240501t101112Z",
            "２０２４0501T101112Z",
        ] {
            assert!(parse_amz_date(bad).is_err(), "{bad}");
        }
        // botocore's email.utils.formatdate() uses "-0000".
        assert_eq!(
            parse_http_date("Wed, 01 May 2024 10:11:12 -0000").unwrap(),
            t("20240501T101112Z")
        );
        assert_eq!(
            parse_http_date("Wed, 01 May 2024 10:11:12 GMT").unwrap(),
            t("20240501T101112Z")
        );
        assert!(parse_http_date("yesterday").is_err());
    }

    #[test]
    fn authorization_header_parsing() {
        let h = headers(&[("X-Amz-Date", "20240501T101112Z")]);
        let p = parse_authorization_header(
            b"AWS4-HMAC-SHA256 Credential=AK/20240501/r/s/aws4_request,SignedHeaders=host;x-amz-date,Signature=ab",
            &h,
        )
        .unwrap();
        assert_eq!(p.scope.access_key_id, "AK");
        assert_eq!(p.signed_headers, "host;x-amz-date");
        assert_eq!(p.signature, "ab");
        assert_eq!(p.amz_date, "20240501T101112Z");

        let err = parse_authorization_header(b"AWS4-HMAC-SHA256 Credential=AK/20240501/r/s/aws4_request, SignedHeaders=host, Signature", &h).unwrap_err();
        assert!(
            err.message().contains("not a valid key=value pair"),
            "{err:?}"
        );

        let err =
            parse_authorization_header(b"AWS4-HMAC-SHA256 SignedHeaders=host", &h).unwrap_err();
        let m = err.message();
        assert!(m.contains("requires 'Credential' parameter"), "{m}");
        assert!(m.contains("requires 'Signature' parameter"), "{m}");
        assert!(!m.contains("requires 'SignedHeaders' parameter"), "{m}");

        let err = parse_authorization_header(
            b"AWS4-HMAC-SHA256 Credential=AK/20240501/r/s/aws4_request, SignedHeaders=host, Signature=ab",
            &HeaderMap::new(),
        )
        .unwrap_err();
        assert!(
            err.message()
                .contains("either a 'X-Amz-Date' or a 'Date' header")
        );

        let err = parse_authorization_header(b"Bearer abc", &h).unwrap_err();
        assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
        let err = parse_authorization_header(
            b"AWS4-HMAC-SHA256 Credential=a/20240501/r/s/aws4_request, Credential=b/20240501/r/s/aws4_request, SignedHeaders=host, Signature=ab",
            &h,
        )
        .unwrap_err();
        assert!(err.message().contains("more than once"));
    }

    #[test]
    fn echo_truncates() {
        let long = "x".repeat(10_000);
        assert_eq!(echo(&long).len(), MAX_ECHO_CHARS + 3);
        assert_eq!(echo("é✓"), "é✓");
    }

    // --- known answers from the AWS documentation / aws-sig-v4-test-suite ------------

    #[test]
    fn signing_key_known_answer() {
        // AWS General Reference, "Examples of how to derive a signing key".
        assert_eq!(
            hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn iam_list_users_example_verifies() {
        // The IAM ListUsers example of the SigV4 documentation.
        let h = headers(&[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            ),
        ]);
        let r = req(
            "GET",
            "/",
            Some("Action=ListUsers&Version=2010-05-08"),
            &h,
            b"",
        );
        let id = verify(&r, &creds(), t("20150830T123600Z")).unwrap();
        assert_eq!(id.service, "iam");
        assert_eq!(id.region, "us-east-1");
        assert!(id.payload_signed);
    }

    #[test]
    fn test_suite_get_vanilla_query_order_key_case() {
        // aws-sig-v4-test-suite: get-vanilla-query-order-key-case.
        let h = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ]);
        let r = req("GET", "/", Some("Param2=value2&Param1=value1"), &h, b"");
        verify(&r, &creds(), t("20150830T123600Z")).unwrap();
    }

    // --- verify() end to end with sign() ----------------------------------------------

    fn signed(
        method: &str,
        path: &str,
        query: Option<&str>,
        extra: &[(&str, &str)],
        body: &[u8],
        signed_names: &[&str],
    ) -> HeaderMap {
        let mut pairs = vec![
            ("Host", "localhost:9001"),
            ("X-Amz-Date", "20240501T101112Z"),
        ];
        pairs.extend_from_slice(extra);
        let mut h = headers(&pairs);
        let auth = sign(
            &req(method, path, query, &h, body),
            &creds(),
            "us-east-1",
            "lambda",
            signed_names,
        )
        .unwrap();
        h.insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
        h
    }

    const NOW: &str = "20240501T101112Z";

    #[test]
    fn sign_then_verify_round_trip_and_tamper() {
        let path =
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations";
        let h = signed(
            "POST",
            path,
            Some("Qualifier=%24LATEST"),
            &[("Content-Type", "application/json")],
            b"{}",
            &["host", "x-amz-date", "content-type"],
        );
        let ok = req("POST", path, Some("Qualifier=%24LATEST"), &h, b"{}");
        let id = verify(&ok, &creds(), t(NOW)).unwrap();
        assert_eq!(id.access_key_id, AKID);
        assert_eq!(id.signed_at, t(NOW));
        assert!(!id.presigned);

        let bad_method = req("PUT", path, Some("Qualifier=%24LATEST"), &h, b"{}");
        assert_eq!(
            verify(&bad_method, &creds(), t(NOW)),
            Err(SigV4Error::SignatureMismatch)
        );
        let bad_body = req("POST", path, Some("Qualifier=%24LATEST"), &h, b"{ }");
        assert_eq!(
            verify(&bad_body, &creds(), t(NOW)),
            Err(SigV4Error::SignatureMismatch)
        );
        let bad_query = req("POST", path, Some("Qualifier=1"), &h, b"{}");
        assert_eq!(
            verify(&bad_query, &creds(), t(NOW)),
            Err(SigV4Error::SignatureMismatch)
        );
        // Unsigned headers may change.
        let mut h2 = h.clone();
        h2.insert("user-agent", HeaderValue::from_static("other"));
        let r = req("POST", path, Some("Qualifier=%24LATEST"), &h2, b"{}");
        verify(&r, &creds(), t(NOW)).unwrap();
        // Signed ones may not.
        let mut h3 = h.clone();
        h3.insert("content-type", HeaderValue::from_static("text/plain"));
        let r = req("POST", path, Some("Qualifier=%24LATEST"), &h3, b"{}");
        assert_eq!(
            verify(&r, &creds(), t(NOW)),
            Err(SigV4Error::SignatureMismatch)
        );
    }

    #[test]
    fn clock_skew_boundaries() {
        let h = signed("GET", "/", None, &[], b"", &["host", "x-amz-date"]);
        let r = req("GET", "/", None, &h, b"");
        let signed_at = t(NOW);
        verify(&r, &creds(), signed_at + MAX_CLOCK_SKEW).unwrap();
        verify(&r, &creds(), signed_at - MAX_CLOCK_SKEW).unwrap();
        let late = signed_at + MAX_CLOCK_SKEW + TimeDelta::seconds(1);
        let err = verify(&r, &creds(), late).unwrap_err();
        assert_eq!(err.aws_error_type(), "InvalidSignatureException");
        assert_eq!(
            err.message(),
            "Signature expired: 20240501T101112Z is now earlier than 20240501T101113Z \
             (20240501T102613Z - 15 min.)"
        );
        let early = signed_at - MAX_CLOCK_SKEW - TimeDelta::seconds(1);
        let err = verify(&r, &creds(), early).unwrap_err();
        assert_eq!(
            err.message(),
            "Signature not yet current: 20240501T101112Z is still later than 20240501T101111Z \
             (20240501T095611Z + 15 min.)"
        );
    }

    #[test]
    fn content_sha256_header() {
        let body = b"payload";
        let digest = hex::encode(Sha256::digest(body));
        let h = signed(
            "PUT",
            "/x",
            None,
            &[("x-amz-content-sha256", &digest)],
            body,
            &["host", "x-amz-date", "x-amz-content-sha256"],
        );
        verify(&req("PUT", "/x", None, &h, body), &creds(), t(NOW)).unwrap();
        // The signature covers the declared hash, not the body: the body is checked
        // against the declared hash separately.
        let err = verify(&req("PUT", "/x", None, &h, b"other"), &creds(), t(NOW)).unwrap_err();
        assert_eq!(err.aws_error_type(), "InvalidSignatureException");
        assert!(err.message().contains("x-amz-content-sha256"));

        let h = signed(
            "PUT",
            "/x",
            None,
            &[("x-amz-content-sha256", UNSIGNED_PAYLOAD)],
            body,
            &["host", "x-amz-date"],
        );
        let id = verify(&req("PUT", "/x", None, &h, b"anything"), &creds(), t(NOW)).unwrap();
        assert!(!id.payload_signed);

        let mut h = signed("PUT", "/x", None, &[], body, &["host", "x-amz-date"]);
        h.insert(
            X_AMZ_CONTENT_SHA256,
            HeaderValue::from_static("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        );
        let err = verify(&req("PUT", "/x", None, &h, body), &creds(), t(NOW)).unwrap_err();
        assert_eq!(err.aws_error_type(), "IncompleteSignatureException");
        h.insert(X_AMZ_CONTENT_SHA256, HeaderValue::from_static("nonsense"));
        assert!(verify(&req("PUT", "/x", None, &h, body), &creds(), t(NOW)).is_err());
    }

    #[test]
    fn errors_map_to_aws_types() {
        let h = signed("GET", "/", None, &[], b"", &["host", "x-amz-date"]);
        let r = req("GET", "/", None, &h, b"");

        let none = HeaderMap::new();
        let err = verify(&req("GET", "/", None, &none, b""), &creds(), t(NOW)).unwrap_err();
        assert_eq!(err, SigV4Error::Missing);
        assert_eq!(err.aws_error_type(), "MissingAuthenticationTokenException");
        assert_eq!(err.message(), "Missing Authentication Token");
        assert_eq!(err.http_status(), 403);

        let other = Credentials::new("OTHER", SECRET);
        let err = verify(&r, &other, t(NOW)).unwrap_err();
        assert_eq!(err, SigV4Error::UnknownAccessKey);
        assert_eq!(err.aws_error_type(), "UnrecognizedClientException");
        assert_eq!(
            err.message(),
            "The security token included in the request is invalid."
        );

        let wrong = Credentials::new(AKID, "wrong");
        let err = verify(&r, &wrong, t(NOW)).unwrap_err();
        assert_eq!(err, SigV4Error::SignatureMismatch);
        assert_eq!(err.aws_error_type(), "InvalidSignatureException");
        assert!(err.message().starts_with(
            "The request signature we calculated does not match the signature you provided."
        ));
    }

    #[test]
    fn scope_date_must_match_request_date() {
        let mut h = signed("GET", "/", None, &[], b"", &["host", "x-amz-date"]);
        let auth = h[AUTHORIZATION]
            .to_str()
            .unwrap()
            .replace("/20240501/", "/20240502/");
        h.insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
        let err = verify(&req("GET", "/", None, &h, b""), &creds(), t(NOW)).unwrap_err();
        assert_eq!(err.aws_error_type(), "InvalidSignatureException");
        assert!(
            err.message().contains("'20240502' != '20240501'"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn both_mechanisms_or_two_authorization_headers_are_refused() {
        let mut h = signed("GET", "/", None, &[], b"", &["host", "x-amz-date"]);
        let r = req(
            "GET",
            "/",
            Some("X-Amz-Algorithm=AWS4-HMAC-SHA256"),
            &h,
            b"",
        );
        assert!(matches!(
            verify(&r, &creds(), t(NOW)),
            Err(SigV4Error::Malformed(_))
        ));
        let auth = h[AUTHORIZATION].clone();
        h.append(AUTHORIZATION, auth);
        let r = req("GET", "/", None, &h, b"");
        assert!(matches!(
            verify(&r, &creds(), t(NOW)),
            Err(SigV4Error::Malformed(_))
        ));
    }

    #[test]
    fn signature_that_is_not_hex_is_a_mismatch() {
        for sig in ["", "zz", "abc", &"a".repeat(63), &"a".repeat(66)] {
            let h = headers(&[
                ("Host", "h"),
                ("X-Amz-Date", NOW),
                (
                    "Authorization",
                    &format!(
                        "AWS4-HMAC-SHA256 Credential={AKID}/20240501/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
                    ),
                ),
            ]);
            assert_eq!(
                verify(&req("GET", "/", None, &h, b""), &creds(), t(NOW)),
                Err(SigV4Error::SignatureMismatch),
                "{sig}"
            );
        }
    }

    #[test]
    fn presigned_parameters_are_checked() {
        let h = headers(&[("Host", "h")]);
        let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240501%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20240501T101112Z&X-Amz-SignedHeaders=host";
        let cases = [
            base.to_owned(),
            format!("{base}&X-Amz-Signature=00&X-Amz-Expires=-1"),
            format!("{base}&X-Amz-Signature=00&X-Amz-Expires=604801"),
            format!("{base}&X-Amz-Signature=00&X-Amz-Expires=99999999999999999999999"),
            format!("{base}&X-Amz-Signature=00&X-Amz-Signature=00"),
            "X-Amz-Signature=00".to_owned(),
            base.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512") + "&X-Amz-Signature=00",
        ];
        for q in &cases {
            let err = verify(&req("GET", "/", Some(q), &h, b""), &creds(), t(NOW)).unwrap_err();
            assert_eq!(err.aws_error_type(), "IncompleteSignatureException", "{q}");
        }
        let q = format!("{base}&X-Amz-Expires=60&X-Amz-Signature=00");
        assert_eq!(
            verify(&req("GET", "/", Some(&q), &h, b""), &creds(), t(NOW)),
            Err(SigV4Error::SignatureMismatch)
        );
    }

    #[test]
    fn lookups() {
        let list = vec![Credentials::new("A", "a"), Credentials::new("B", "b")];
        assert_eq!(list.secret_for("B").as_deref(), Some("b"));
        assert_eq!(list.secret_for("C"), None);
        let map: HashMap<String, String> = [("A".to_owned(), "a".to_owned())].into();
        assert_eq!(map.secret_for("A").as_deref(), Some("a"));
        let shared = std::sync::Arc::new(map);
        assert_eq!(shared.secret_for("A").as_deref(), Some("a"));
        assert!(!format!("{:?}", Credentials::new("A", "topsecret")).contains("topsecret"));
    }

    /// Hostile input never panics: random bytes in every header and in path and query.
    #[test]
    fn garbage_never_panics() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: &[u8] = b"AWS4-HMAC-SHA256 Credential=/,;%+=&?SignedHeaders=Signature=\
            20240501T101112Z aws4_request host x-amz-date \t\x7f\x80\xff0123456789abcdefXYZ";
        let pieces = [
            "AWS4-HMAC-SHA256 ",
            "Credential=",
            "AKIDEXAMPLE/20240501/us-east-1/lambda/aws4_request",
            ", ",
            "SignedHeaders=",
            "host;x-amz-date",
            "Signature=",
            "=",
            ",",
            ";",
            "/",
        ];
        for _ in 0..3000 {
            let mut auth = Vec::new();
            for _ in 0..(next() % 12) {
                if next() % 2 == 0 {
                    auth.extend_from_slice(
                        pieces[(next() % pieces.len() as u64) as usize].as_bytes(),
                    );
                } else {
                    for _ in 0..(next() % 8) {
                        auth.push(alphabet[(next() % alphabet.len() as u64) as usize]);
                    }
                }
            }
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&auth) {
                h.insert(AUTHORIZATION, v);
            }
            let mut date = Vec::new();
            for _ in 0..(next() % 20) {
                date.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            if let Ok(v) = HeaderValue::from_bytes(&date) {
                h.insert(
                    if next() % 2 == 0 {
                        "x-amz-date"
                    } else {
                        "date"
                    },
                    v.clone(),
                );
                h.insert("host", v.clone());
                h.insert("x-amz-content-sha256", v);
            }
            let q: String = (0..(next() % 30))
                .map(|_| alphabet[(next() % 60) as usize] as char)
                .collect();
            let _ = verify(&req("GET", &q, Some(&q), &h, &auth), &creds(), t(NOW));
            let _ = verify(
                &req("GET", "/", Some(&q), &HeaderMap::new(), b""),
                &creds(),
                t(NOW),
            );
        }
    }

    #[test]
    fn huge_inputs_are_linear() {
        let big = "a".repeat(1 << 20);
        let mut h = headers(&[("Host", "h"), ("X-Amz-Date", NOW)]);
        h.insert("x-big", HeaderValue::from_str(&big).unwrap());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20240501/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date;x-big, Signature={}",
            "0".repeat(64)
        );
        h.insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
        let q = "a=b&".repeat(50_000);
        assert_eq!(
            verify(
                &req("GET", &big, Some(&q), &h, big.as_bytes()),
                &creds(),
                t(NOW)
            ),
            Err(SigV4Error::SignatureMismatch)
        );
        // A header named many times is refused instead of being hashed many times.
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20240501/us-east-1/lambda/aws4_request, SignedHeaders=host{}, Signature=00",
            ";x-big".repeat(1000)
        );
        h.insert(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
        assert!(matches!(
            verify(&req("GET", "/", None, &h, b""), &creds(), t(NOW)),
            Err(SigV4Error::Malformed(_))
        ));
    }
}
