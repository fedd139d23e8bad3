//! SigV4 verification against requests signed by the real botocore.
//!
//! The fixtures in `tests/sigv4/*.json` were written by `tests/sigv4/generate.py`
//! (botocore's client serializer + `SigV4Auth` / `SigV4QueryAuth`); each holds the request
//! as botocore puts it on the wire, the secret and the signing time. Python is not needed
//! to run this test.

use std::path::PathBuf;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use lambent_api::sigv4::{self, Credentials, RequestParts, SigV4Error, VerifiedIdentity};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Fixture {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
    service: String,
    #[serde(deserialize_with = "rfc3339")]
    signing_time: DateTime<Utc>,
    presigned: bool,
    expires: Option<i64>,
    payload_signed: bool,
    method: String,
    raw_path: String,
    raw_query: Option<String>,
    headers: Vec<(String, String)>,
    body_b64: String,
}

impl Fixture {
    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            // The generator wrote raw header bytes as latin-1.
            let bytes: Vec<u8> = if value.chars().all(|c| (c as u32) < 256) {
                value.chars().map(|c| c as u8).collect()
            } else {
                value.as_bytes().to_vec()
            };
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(&bytes).unwrap(),
            );
        }
        map
    }

    fn body(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body_b64)
            .unwrap()
    }

    fn creds(&self) -> Credentials {
        Credentials::new(&self.access_key_id, &self.secret_access_key)
    }

    fn signed_header_names(&self) -> Vec<String> {
        let list = if self.presigned {
            query_param(self.raw_query.as_deref().unwrap(), "X-Amz-SignedHeaders")
                .unwrap()
                .replace("%3B", ";")
        } else {
            let auth = self
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.clone())
                .unwrap();
            let start = auth.find("SignedHeaders=").unwrap() + "SignedHeaders=".len();
            let end = auth[start..].find(',').unwrap() + start;
            auth[start..end].to_owned()
        };
        list.split(';').map(str::to_owned).collect()
    }
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

fn fixtures() -> Vec<Fixture> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let fixtures: Vec<Fixture> = paths
        .iter()
        .map(|p| {
            serde_json::from_slice(&std::fs::read(p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect();
    assert!(
        fixtures.len() >= 15,
        "fixtures missing in {}",
        dir.display()
    );
    fixtures
}

/// Verify the fixture with one part changed.
struct Case {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
    creds: Credentials,
    now: DateTime<Utc>,
}

impl Case {
    fn new(f: &Fixture) -> Self {
        Case {
            method: f.method.clone(),
            path: f.raw_path.clone(),
            query: f.raw_query.clone(),
            headers: f.header_map(),
            body: f.body(),
            creds: f.creds(),
            now: f.signing_time,
        }
    }

    fn verify(&self) -> Result<VerifiedIdentity, SigV4Error> {
        sigv4::verify(
            &RequestParts {
                method: &self.method,
                raw_path: &self.path,
                raw_query: self.query.as_deref(),
                headers: &self.headers,
                body: &self.body,
            },
            &self.creds,
            self.now,
        )
    }
}

#[test]
fn botocore_requests_verify_at_signing_time() {
    for f in fixtures() {
        let id = Case::new(&f)
            .verify()
            .unwrap_or_else(|e| panic!("{}: {e:?} ({})", f.name, e.message()));
        assert_eq!(id.access_key_id, f.access_key_id, "{}", f.name);
        assert_eq!(id.region, f.region, "{}", f.name);
        assert_eq!(id.service, f.service, "{}", f.name);
        assert_eq!(id.signed_at, f.signing_time, "{}", f.name);
        assert_eq!(id.presigned, f.presigned, "{}", f.name);
        assert_eq!(id.payload_signed, f.payload_signed, "{}", f.name);
        assert_eq!(id.security_token, f.session_token, "{}", f.name);
    }
}

#[test]
fn botocore_requests_verify_within_the_allowed_window() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        let window = match f.expires {
            Some(secs) if f.presigned => TimeDelta::seconds(secs),
            _ => TimeDelta::minutes(15),
        };
        c.now = f.signing_time + window;
        c.verify()
            .unwrap_or_else(|e| panic!("{} at +window: {e:?}", f.name));
        c.now = f.signing_time - TimeDelta::minutes(15);
        c.verify()
            .unwrap_or_else(|e| panic!("{} at -15 min: {e:?}", f.name));
    }
}

#[test]
fn wrong_secret_is_rejected() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        c.creds = Credentials::new(&f.access_key_id, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ");
        assert_eq!(c.verify(), Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
}

#[test]
fn unknown_access_key_is_rejected() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        c.creds = Credentials::new("AKIDOTHER", &f.secret_access_key);
        let err = c.verify().unwrap_err();
        assert_eq!(err, SigV4Error::UnknownAccessKey, "{}", f.name);
        assert_eq!(err.aws_error_type(), "UnrecognizedClientException");
        assert_eq!(
            err.message(),
            "The security token included in the request is invalid."
        );
    }
}

#[test]
fn modified_body_is_rejected_unless_unsigned() {
    for f in fixtures() {
        for body in [
            b"{}".to_vec(),
            [f.body(), b" ".to_vec()].concat(),
            Vec::new(),
        ] {
            if body == f.body() {
                continue;
            }
            let mut c = Case::new(&f);
            c.body = body;
            let result = c.verify();
            if f.payload_signed {
                let err = result.unwrap_err();
                assert_eq!(
                    err.aws_error_type(),
                    "InvalidSignatureException",
                    "{}",
                    f.name
                );
            } else {
                assert!(
                    result.is_ok(),
                    "{}: UNSIGNED-PAYLOAD body is not covered",
                    f.name
                );
            }
        }
    }
}

#[test]
fn modified_signed_header_is_rejected() {
    for f in fixtures() {
        for name in f.signed_header_names() {
            let mut c = Case::new(&f);
            let header = HeaderName::from_bytes(name.as_bytes()).unwrap();
            let later = f.signing_time + TimeDelta::seconds(1);
            let new = match name.as_str() {
                // Keep dates well-formed: a different time must fail the signature.
                "x-amz-date" => later.format("%Y%m%dT%H%M%SZ").to_string().into_bytes(),
                "date" => later.to_rfc2822().into_bytes(),
                "x-amz-content-sha256" => match c.headers.get(&header).unwrap().to_str().unwrap() {
                    // Claiming a signed payload changes the canonical request.
                    "UNSIGNED-PAYLOAD" => hex_sha256(&c.body).into_bytes(),
                    hash => flip_last_hex(hash).into_bytes(),
                },
                _ => [c.headers.get(&header).unwrap().as_bytes(), b"x"].concat(),
            };
            c.headers
                .insert(header.clone(), HeaderValue::from_bytes(&new).unwrap());
            let err = c.verify().unwrap_err();
            assert_eq!(
                err.aws_error_type(),
                "InvalidSignatureException",
                "{}: header {name}",
                f.name
            );
            // Removing a signed header is reported as such.
            c.headers.remove(&header);
            assert!(c.verify().is_err(), "{}: header {name} removed", f.name);
        }
    }
}

#[test]
fn unsigned_headers_may_change() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        c.headers
            .insert("user-agent", HeaderValue::from_static("curl/8.0"));
        c.headers
            .insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        c.verify().unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
    }
}

#[test]
fn modified_path_is_rejected() {
    for f in fixtures() {
        let decoded = percent_encoding::percent_decode_str(&f.raw_path)
            .decode_utf8_lossy()
            .into_owned();
        let mut variants = vec![
            format!("{}x", f.raw_path),
            f.raw_path.replacen("/2015-03-31/", "/2015-03-30/", 1),
            f.raw_path.replace("function", "funktion"),
            // A server that decoded the path before verifying would sign this.
            decoded,
        ];
        if f.raw_path != "/" {
            variants.push("/".to_owned());
        }
        for path in variants {
            if path == f.raw_path {
                continue;
            }
            let mut c = Case::new(&f);
            c.path = path.clone();
            assert_eq!(
                c.verify(),
                Err(SigV4Error::SignatureMismatch),
                "{}: path {path}",
                f.name
            );
        }
    }
}

#[test]
fn modified_query_is_rejected() {
    for f in fixtures() {
        let mut variants: Vec<Option<String>> = Vec::new();
        match &f.raw_query {
            None => variants.push(Some("a=1".to_owned())),
            Some(q) => {
                variants.push(Some(format!("{q}&extra=1")));
                variants.push(Some(format!("{q}&X-Amz-Date=20240501T101112Z")));
                if let Some((first, rest)) = q.split_once('&') {
                    // Drop the first parameter.
                    variants.push(Some(rest.to_owned()));
                    // Change the first parameter's value.
                    variants.push(Some(format!("{first}0&{rest}")));
                } else {
                    variants.push(Some(format!("{q}0")));
                    variants.push(None);
                }
            }
        }
        for query in variants {
            let mut c = Case::new(&f);
            c.query = query.clone();
            let err = c.verify().unwrap_err();
            assert!(
                matches!(
                    err,
                    SigV4Error::SignatureMismatch | SigV4Error::Malformed(_)
                ),
                "{}: query {query:?}: {err:?}",
                f.name
            );
        }
    }
}

#[test]
fn reordered_query_still_verifies() {
    for f in fixtures() {
        let Some(q) = &f.raw_query else { continue };
        let mut parts: Vec<&str> = q.split('&').collect();
        parts.reverse();
        let mut c = Case::new(&f);
        c.query = Some(parts.join("&"));
        c.verify().unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
    }
}

#[test]
fn modified_method_is_rejected() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        c.method = if f.method == "GET" { "HEAD" } else { "GET" }.to_owned();
        assert_eq!(c.verify(), Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
}

#[test]
fn tampered_signature_is_rejected() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        if f.presigned {
            let q = f.raw_query.clone().unwrap();
            let sig = query_param(&q, "X-Amz-Signature").unwrap();
            let flipped = flip_last_hex(sig);
            c.query = Some(q.replace(sig, &flipped));
        } else {
            let auth = c.headers[AUTHORIZATION].to_str().unwrap().to_owned();
            c.headers.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&flip_last_hex(&auth)).unwrap(),
            );
        }
        assert_eq!(c.verify(), Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
}

fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

fn flip_last_hex(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.last_mut().unwrap();
    *last = if *last == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

#[test]
fn missing_authorization_is_rejected() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        if f.presigned {
            // Without the X-Amz-* parameters the request is simply unsigned.
            let q = f.raw_query.clone().unwrap();
            let kept: Vec<&str> = q.split('&').filter(|p| !p.starts_with("X-Amz-")).collect();
            c.query = (!kept.is_empty()).then(|| kept.join("&"));
        } else {
            c.headers.remove(AUTHORIZATION);
        }
        let err = c.verify().unwrap_err();
        assert_eq!(err, SigV4Error::Missing, "{}", f.name);
        assert_eq!(err.aws_error_type(), "MissingAuthenticationTokenException");
        assert_eq!(err.message(), "Missing Authentication Token");
    }
}

#[test]
fn partial_presigned_parameters_are_incomplete() {
    for f in fixtures().into_iter().filter(|f| f.presigned) {
        let mut c = Case::new(&f);
        let q = f.raw_query.clone().unwrap();
        let kept: Vec<&str> = q
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-Credential="))
            .collect();
        c.query = Some(kept.join("&"));
        let err = c.verify().unwrap_err();
        assert_eq!(
            err.aws_error_type(),
            "IncompleteSignatureException",
            "{}",
            f.name
        );
    }
}

#[test]
fn signature_twenty_minutes_old_is_rejected() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        c.now = f.signing_time + TimeDelta::minutes(20);
        if f.presigned {
            // A presigned URL lives for X-Amz-Expires seconds.
            c.now = f.signing_time + TimeDelta::seconds(f.expires.unwrap()) + TimeDelta::seconds(1);
            let err = c.verify().unwrap_err();
            assert!(
                matches!(err, SigV4Error::Expired { .. }),
                "{}: {err:?}",
                f.name
            );
            assert_eq!(err.aws_error_type(), "InvalidSignatureException");
        } else {
            let err = c.verify().unwrap_err();
            assert!(
                matches!(err, SigV4Error::ClockSkew { .. }),
                "{}: {err:?}",
                f.name
            );
            assert_eq!(err.aws_error_type(), "InvalidSignatureException");
            assert!(
                err.message().starts_with(&format!(
                    "Signature expired: {} is now earlier than ",
                    f.signing_time.format("%Y%m%dT%H%M%SZ")
                )),
                "{}",
                err.message()
            );
        }
    }
}

#[test]
fn signature_from_the_future_is_rejected() {
    for f in fixtures() {
        let mut c = Case::new(&f);
        c.now = f.signing_time - TimeDelta::minutes(20);
        let err = c.verify().unwrap_err();
        assert!(
            matches!(err, SigV4Error::ClockSkew { .. }),
            "{}: {err:?}",
            f.name
        );
        assert!(err.message().starts_with("Signature not yet current: "));
    }
}

#[test]
fn fixtures_cover_the_representative_cases() {
    let all = fixtures();
    let has = |pred: &dyn Fn(&Fixture) -> bool| all.iter().any(pred);
    assert!(has(&|f| f.method == "GET" && f.raw_path.contains("%3A")));
    assert!(has(&|f| f.method == "POST" && f.body().starts_with(b"{")));
    assert!(has(&|f| f.method == "PUT"));
    assert!(has(&|f| f.method == "DELETE"
        && f.raw_query
            .as_deref()
            .is_some_and(|q| q.matches("tagKeys=").count() > 1)));
    assert!(has(&|f| f.session_token.is_some() && !f.presigned));
    assert!(has(&|f| f.presigned));
    assert!(has(
        &|f| f.raw_path.contains("%20") && f.raw_path.contains("%C3%A9")
    ));
    assert!(has(&|f| f.service == "logs"));
    assert!(has(&|f| !f.payload_signed));
    assert!(has(&|f| f.headers.iter().any(|(k, _)| k == "Date")));
    for f in &all {
        assert!(
            !f.raw_path.contains('?'),
            "{}: raw_path holds a query",
            f.name
        );
    }
}
