#!/usr/bin/env python3
"""Generate SigV4 test vectors for crates/api/tests/sigv4_vectors.rs with the real botocore.

Re-run (from the repository root):

    python3 -m venv /tmp/sigv4venv && /tmp/sigv4venv/bin/pip install botocore
    /tmp/sigv4venv/bin/python crates/api/tests/sigv4/generate.py

Every fixture records the request exactly as botocore hands it to its HTTP layer
(the prepared request: method, URL path and query as sent on the wire, headers, body)
plus the Host header that the HTTP layer adds and the signer signed.  The Rust test
never runs Python; it only reads the JSON files written here.
"""

import base64
import datetime
import json
import os
import sys
import uuid
from urllib.parse import urlsplit

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token/with=chars"
ENDPOINT = "http://localhost:9001"
SIGNING_TIME = datetime.datetime(2024, 5, 1, 10, 11, 12)


class Captured(Exception):
    pass


def freeze_clock(when):
    botocore.auth.get_current_datetime = lambda *a, **k: when


def host_header(url):
    # Added by urllib3/http.client on the wire; it is the value botocore signed.
    return botocore.auth._host_from_url(url)


def record(name, description, method, url, headers, body, *, service, region,
           signing_time, payload_signed=True, presigned=False, expires=None,
           token=None):
    parts = urlsplit(url)
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body or b""
    header_list = [["Host", host_header(url)]]
    for k, v in headers.items():
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        header_list.append([k, v])
    if body and not any(k.lower() == "content-length" for k, _ in header_list):
        header_list.append(["Content-Length", str(len(body))])
    try:
        body_text = body.decode("utf-8")
    except UnicodeDecodeError:
        body_text = None
    fixture = {
        "name": name,
        "description": description,
        "generator": f"botocore {botocore.__version__}",
        "access_key_id": AKID,
        "secret_access_key": SECRET,
        "session_token": token,
        "region": region,
        "service": service,
        "signing_time": signing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "presigned": presigned,
        "expires": expires,
        "payload_signed": payload_signed,
        "method": method,
        "raw_path": parts.path,
        "raw_query": parts.query if "?" in url else None,
        "headers": header_list,
        "body_b64": base64.b64encode(body).decode("ascii"),
        "body_text": body_text,
    }
    path = os.path.join(OUT_DIR, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}: {method} {parts.path}{'?' + parts.query if parts.query else ''}")


# --- Requests produced by a real botocore client (serializer + signer) -------------

def client(service, token=None, region="us-east-1", endpoint=ENDPOINT):
    session = botocore.session.get_session()
    c = session.create_client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    return c


def capture(c, op, params):
    seen = []

    def handler(request, **kwargs):
        seen.append(request)
        raise Captured()

    c.meta.events.register("before-send", handler)
    try:
        getattr(c, op)(**params)
    except Captured:
        pass
    except Exception as e:  # botocore may wrap it
        if not seen:
            raise
    finally:
        c.meta.events.unregister("before-send", handler)
    assert seen, f"{op}: request not captured"
    return seen[0]


def client_case(name, description, service, op, params, *, token=None,
                region="us-east-1", when=SIGNING_TIME, endpoint=ENDPOINT):
    freeze_clock(when)
    c = client(service, token=token, region=region, endpoint=endpoint)
    req = capture(c, op, params)
    record(name, description, req.method, req.url, dict(req.headers.items()),
           req.body, service=service, region=region, signing_time=when,
           token=token)


def client_presigned_case(name, description, op, params, expires, *, token=None,
                          when=SIGNING_TIME):
    freeze_clock(when)
    c = client("lambda", token=token)
    url = c.generate_presigned_url(op, Params=params, ExpiresIn=expires)
    method = c.meta.service_model.operation_model(
        c.meta.method_to_api_mapping[op]).http["method"]
    record(name, description, method, url, {}, b"", service="lambda",
           region="us-east-1", signing_time=when, presigned=True,
           expires=expires, token=token)


# --- Requests signed directly with SigV4Auth / SigV4QueryAuth ------------------------

def raw_case(name, description, method, url, *, headers=None, params=None,
             body=b"", service="lambda", region="us-east-1", signer=None,
             context=None, token=None, when=SIGNING_TIME, presigned=False,
             expires=None, payload_signed=True):
    freeze_clock(when)
    creds = Credentials(AKID, SECRET, token)
    req = AWSRequest(method=method, url=url, data=body, params=params or {})
    for k, v in (headers or []):
        req.headers[k] = v  # HTTPHeaders: assigning twice keeps both values
    if context:
        req.context.update(context)
    if signer is None:
        signer = botocore.auth.SigV4Auth(creds, service, region)
    else:
        signer = signer(creds)
    signer.add_auth(req)
    prepared = req.prepare()
    # The URL (path and query) is taken from the prepared request, i.e. what goes on
    # the wire.  Headers come from the signed AWSRequest because its HTTPHeaders keep
    # a header that was set twice (the prepared request's dict would silently keep
    # only the last value, although both were signed); prepare() only adds
    # Content-Length, which record() adds back.  record() expects a mapping but must
    # keep duplicates: pass an ordered list through a tiny shim.
    hdrs = list(req.headers.items())
    record_with_list(name, description, prepared.method, prepared.url, hdrs,
                     prepared.body, service=service, region=region,
                     signing_time=when, presigned=presigned, expires=expires,
                     payload_signed=payload_signed, token=token)


class _ListHeaders(dict):
    def __init__(self, pairs):
        super().__init__()
        self._pairs = pairs

    def items(self):
        return list(self._pairs)


def record_with_list(name, description, method, url, pairs, body, **kw):
    record(name, description, method, url, _ListHeaders(pairs), body, **kw)


def _deterministic_uuids():
    # amz-sdk-invocation-id is not signed; keep re-generated fixtures stable anyway.
    counter = iter(range(1, 1 << 30))
    uuid.uuid4 = lambda: uuid.UUID(int=next(counter), version=4)


def main():
    _deterministic_uuids()
    for f in os.listdir(OUT_DIR):
        if f.endswith(".json"):
            os.remove(os.path.join(OUT_DIR, f))

    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-function"

    client_case(
        "client_get_function_configuration_arn",
        "GetFunctionConfiguration with a full ARN (':' percent-encoded in the path) and Qualifier=$LATEST",
        "lambda", "get_function_configuration",
        {"FunctionName": arn, "Qualifier": "$LATEST"})
    client_case(
        "client_list_functions_query",
        "ListFunctions with MaxItems, FunctionVersion and a Marker full of reserved characters",
        "lambda", "list_functions",
        {"MaxItems": 10, "FunctionVersion": "ALL", "Marker": "a b+c/d=e&f~g*h%i"})
    client_case(
        "client_invoke_json",
        "Invoke (POST, no Content-Type) with a JSON payload, log type and client context",
        "lambda", "invoke",
        {"FunctionName": "my-function", "InvocationType": "RequestResponse",
         "LogType": "Tail",
         "ClientContext": base64.b64encode(b'{"custom":{"a":1}}').decode(),
         "Payload": b'{"key": "value", "n": [1, 2, 3]}'})
    client_case(
        "client_invoke_binary_payload",
        "Invoke with a payload that is not UTF-8",
        "lambda", "invoke",
        {"FunctionName": "my-function", "Payload": bytes(range(256))})
    client_case(
        "client_create_function_session_token",
        "CreateFunction (POST JSON) with temporary credentials (X-Amz-Security-Token is signed)",
        "lambda", "create_function",
        {"FunctionName": "my-function", "Runtime": "python3.12",
         "Role": "arn:aws:iam::123456789012:role/lambda-role",
         "Handler": "app.handler", "Code": {"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
         "Environment": {"Variables": {"GREETING": "héllo wörld"}}},
        token=TOKEN)
    client_case(
        "client_update_function_code_put",
        "UpdateFunctionCode (PUT with a JSON body)",
        "lambda", "update_function_code",
        {"FunctionName": "my-function", "ZipFile": b"PK\x05\x06" + b"\x00" * 18,
         "Publish": True})
    client_case(
        "client_untag_resource_delete",
        "UntagResource (DELETE, repeated tagKeys query parameters with special characters)",
        "lambda", "untag_resource",
        {"Resource": arn, "TagKeys": ["team name", "env", "a&b=c", "ünï", "x+y"]})
    client_case(
        "client_get_function_space_unicode",
        "GetFunction whose name contains a space, a slash-free unicode string and a tilde",
        "lambda", "get_function",
        {"FunctionName": "my func é✓~"})
    client_case(
        "client_delete_function_qualifier",
        "DeleteFunction with a version qualifier in the query string",
        "lambda", "delete_function",
        {"FunctionName": "my-function", "Qualifier": "7"})
    client_case(
        "client_logs_put_log_events",
        "CloudWatch Logs PutLogEvents (JSON 1.1, X-Amz-Target, service 'logs')",
        "logs", "put_log_events",
        {"logGroupName": "/aws/lambda/my-function",
         "logStreamName": "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef",
         "logEvents": [{"timestamp": 1714558272000, "message": "hello\tworld"}]})
    client_case(
        "client_list_functions_eu_midnight",
        "ListFunctions in eu-west-1 signed one second before midnight",
        "lambda", "list_functions", {},
        region="eu-west-1", when=datetime.datetime(2024, 12, 31, 23, 59, 59))

    client_presigned_case(
        "presigned_client_get_function",
        "generate_presigned_url for GetFunction (SigV4QueryAuth, X-Amz-Expires=900)",
        "get_function", {"FunctionName": arn, "Qualifier": "prod"}, 900)
    client_presigned_case(
        "presigned_client_list_functions_token",
        "generate_presigned_url for ListFunctions with a session token in the query",
        "list_functions", {"MaxItems": 5}, 3600, token=TOKEN)

    raw_case(
        "raw_get_repeated_query_keys",
        "GET with repeated keys, empty values, spaces (sent as '+'), '+', '~', '/', unicode",
        "GET", f"{ENDPOINT}/2015-03-31/functions/",
        params=[("b", "2"), ("a", "1"), ("a", "0"), ("empty", ""),
                ("plus", "x+y"), ("space", "a b"), ("tilde", "~-._"),
                ("slash", "p/q"), ("uni", "✓é"), ("A", "upper")],
        headers=[("Accept", "application/json")])
    raw_case(
        "raw_post_json_multi_value_headers",
        "POST with a JSON body, a header sent twice and a value with whitespace runs",
        "POST", f"{ENDPOINT}/2015-03-31/functions/my-function/invocations",
        headers=[("Content-Type", "application/json"),
                 ("X-Amz-Meta-Multi", "first"), ("X-Amz-Meta-Multi", "second  value"),
                 ("X-Amz-Meta-Spaces", "  a   lot    of   space  ")],
        body=b'{"hello": "world"}')
    raw_case(
        "raw_path_space_unicode",
        "Pre-encoded path with %20, UTF-8 percent-escapes and a literal '$'",
        "GET", f"{ENDPOINT}/2015-03-31/functions/my%20fn%E2%9C%93/versions/$LATEST/configuration")
    raw_case(
        "raw_date_header",
        "Signed with a Date header instead of X-Amz-Date",
        "GET", f"{ENDPOINT}/2015-03-31/functions/my-function",
        headers=[("Date", "Thu, 01 Jan 1970 00:00:00 GMT")])
    raw_case(
        "raw_unsigned_payload_https",
        "https with payload signing disabled: X-Amz-Content-SHA256: UNSIGNED-PAYLOAD",
        "PUT", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my-function/code",
        headers=[("Content-Type", "application/json")],
        body=b'{"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}',
        context={"payload_signing_enabled": False}, payload_signed=False)
    raw_case(
        "raw_s3_single_encoded_path",
        "S3SigV4Auth: S3 paths are not double-encoded and x-amz-content-sha256 is sent",
        "PUT", f"{ENDPOINT}/bucket/my%20key%2Bplus/%E2%9C%93.txt",
        body=b"object body", service="s3",
        signer=lambda c: botocore.auth.S3SigV4Auth(c, "s3", "us-east-1"))
    raw_case(
        "raw_presigned_query_auth",
        "SigV4QueryAuth presigned GET with extra query parameters and a session token",
        "GET", f"{ENDPOINT}/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn/configuration?Qualifier=%24LATEST",
        signer=lambda c: botocore.auth.SigV4QueryAuth(c, "lambda", "us-east-1", expires=300),
        token=TOKEN, presigned=True, expires=300)


if __name__ == "__main__":
    sys.exit(main())
