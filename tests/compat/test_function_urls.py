"""Function URLs: the configuration API against the AWS recordings (function_url_config.json,
function_url_invoke.json) and the URL front door: payload 2.0 events, Lambda's response rules,
authorization (NONE with the resource policy, AWS_IAM with SigV4), CORS, errors and limits."""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from http_front_support import create_zip_function, public_url, request, zip_files
from lambent_util import (
    ACCOUNT,
    REGION,
    Server,
    assert_shape,
    expect_error,
    lambda_client,
    recorded,
    unique,
)

CONFIG = "function_url_config.json"
INVOKE = "function_url_invoke.json"
URL_RE = re.compile(r"^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
FORBIDDEN = recorded(INVOKE, "TestLambdaPermissions::test_lambda_permission_url_invocation",
                     "lambda_url_invocation_missing_permission")["Message"]

ECHO = '''
import base64, json, time
def handler(event, context):
    path = event["rawPath"]
    if path == "/value":
        return json.loads(event["body"])
    if path == "/respond":
        return json.loads(event["body"])
    if path == "/fail":
        raise ValueError("nope")
    if path == "/sleep":
        time.sleep(float(event["queryStringParameters"]["s"]))
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"event": event, "request_id": context.aws_request_id})}
'''


def arn(name, qualifier=None):
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


@pytest.fixture(scope="module")
def echo(lam):
    name = unique("url")
    create_zip_function(lam, name, zip_files({"app.py": ECHO}), Timeout=3)
    v = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v)
    return name


@pytest.fixture(scope="module")
def echo_url(lam, echo):
    return public_url(lam, echo)


# ------------------------------------------------------------------------------------------
# Configuration API
# ------------------------------------------------------------------------------------------


def test_lifecycle_matches_aws(server, lam):
    name = unique("urlcfg")
    create_zip_function(lam, name, zip_files({"app.py": ECHO}))
    rec = lambda key: recorded(CONFIG, "TestLambdaUrl::test_url_config_lifecycle", key)
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert_shape(rec("url_creation"), created)
    m = URL_RE.match(created["FunctionUrl"])
    assert m and int(m.group(2)) == server.port, created["FunctionUrl"]
    assert created["FunctionArn"] == arn(name) and TIME_RE.match(created["CreationTime"])

    err = expect_error(lam.create_function_url_config, FunctionName=name, AuthType="NONE",
                       status=409, code="ResourceConflictException")
    want = rec("failed_duplication")["Error"]["Message"].replace(
        "arn:<partition>:lambda:<region>:111111111111:function:<resource:1>", arn(name))
    assert err.message == want

    got = lam.get_function_url_config(FunctionName=name)
    assert_shape(rec("get_url_config"), got)
    assert got["InvokeMode"] == "BUFFERED" and got["FunctionUrl"] == created["FunctionUrl"]

    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert_shape(rec("updated_url_config"), updated)
    assert updated["AuthType"] == "AWS_IAM" and updated["FunctionUrl"] == created["FunctionUrl"]

    assert lam.delete_function_url_config(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lam.get_function_url_config, FunctionName=name, status=404,
                 code="ResourceNotFoundException", message=rec("failed_getter")["Error"]["Message"])


def test_aliases_listing_and_errors_match_aws(lam, echo, echo_url):
    test = "TestLambdaUrl::test_url_config_exceptions"
    rec = lambda key: recorded(CONFIG, test, key)["Error"]
    missing = unique("nofn")
    for op, extra in [("create", {"AuthType": "NONE"}), ("get", {}), ("delete", {}), ("update", {"AuthType": "NONE"})]:
        fn = getattr(lam, f"{op}_function_url_config")
        r = rec(f"{op}_function_url_config_name_doesnotexist")
        expect_error(fn, FunctionName=missing, **extra, status=404, code=r["Code"], message=r["Message"])
        for q, key in [("1", "qualifier_version"), ("$LATEST", "qualifier_latest")]:
            r = rec(f"{op}_function_url_config_{key}")
            expect_error(fn, FunctionName=echo, Qualifier=q, **extra, status=400, code=r["Code"],
                         message=r["Message"])
        r = rec(f"{op}_function_url_config_qualifier_alias_doesnotexist")
        expect_error(fn, FunctionName=echo, Qualifier="nosuchalias", **extra, status=404, code=r["Code"],
                     message=r["Message"])
    r = rec("get_function_url_config_qualifier_alias_doesnotmatch_arn")
    expect_error(lam.get_function_url_config, FunctionName=f"{echo}:live", Qualifier="other",
                 status=400, code=r["Code"], message=r["Message"])
    err = recorded(INVOKE, "TestLambdaURL::test_lambda_url_invalid_invoke_mode",
                   "invoke_function_invalid_invoke_type")["Error"]

    alias = lam.create_function_url_config(FunctionName=echo, Qualifier="live", AuthType="NONE",
                                           Cors={"AllowOrigins": ["https://a.example"], "MaxAge": 60})
    assert alias["FunctionArn"] == arn(echo, "live")
    assert alias["Cors"] == {"AllowOrigins": ["https://a.example"], "MaxAge": 60}
    listed = lam.list_function_url_configs(FunctionName=echo)["FunctionUrlConfigs"]
    assert_shape(recorded(CONFIG, "TestLambdaUrl::test_url_config_list_paging", "list_all")["FunctionUrlConfigs"][0],
                 listed[0], optional=("Cors",))
    assert arn(echo, "live") in [c["FunctionArn"] for c in listed]
    page = lam.list_function_url_configs(FunctionName=echo, MaxItems=1)
    assert len(page["FunctionUrlConfigs"]) == 1 and page["NextMarker"]
    r = recorded(CONFIG, "TestLambdaUrl::test_url_config_list_paging", "list_function_notfound")["Error"]
    expect_error(lam.list_function_url_configs, FunctionName=missing, status=404, code=r["Code"], message=r["Message"])
    lam_nv = lambda_client(lam.meta.endpoint_url, validate=False)
    expect_error(lam_nv.update_function_url_config, FunctionName=echo, Qualifier="live",
                 InvokeMode="UNKNOWN", status=400, code=err["Code"], message=err["Message"])
    # Deleting the unqualified URL leaves the alias's (recorded behaviour).
    lam.delete_function_url_config(FunctionName=echo, Qualifier="live")


# ------------------------------------------------------------------------------------------
# The front door
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["dict", "http-response", "http-response-json", "list-mixed", "string",
                                  "integer", "float", "boolean"])
def test_result_values_as_aws_answers(server, echo_url, case):
    results = {
        "dict": {"hello": "world"},
        "http-response": {"statusCode": 200, "body": "body123"},
        "http-response-json": {"statusCode": 200, "body": json.dumps({"hello": "world"})},
        "list-mixed": ["hello", 3, True],
        "string": "hello",
        "integer": 3,
        "float": 3.1,
        "boolean": True,
    }
    rec = recorded(INVOKE, f"TestLambdaURL::test_lambda_url_invocation[{case}]", "lambda_url_invocation")
    r = request(server, echo_url + "value", "POST", json.dumps(results[case]).encode(),
                {"content-type": "application/json"})
    assert r.status == rec["statuscode"]
    assert r.header("content-type") == rec["headers"]["Content-Type"]
    assert r.header("content-length") == rec["headers"]["Content-Length"], r.body
    content = rec["content"]
    assert (json.loads(r.body) if isinstance(content, dict) else r.body.decode()) == content


def test_event_is_payload_2(server, echo, echo_url):
    r = request(server, echo_url + "my/path?a=1&a=2&b=x%20y", "POST", b"Hello",
                {"content-type": "text/plain", "cookie": "c1=v1; c2=v2", "x-multi": "v1",
                 "user-agent": "test/echo"})
    assert r.status == 200, r.body
    out = r.json()
    e, url_id = out["event"], URL_RE.match(echo_url).group(1)
    assert e["version"] == "2.0" and e["routeKey"] == "$default"
    assert e["rawPath"] == "/my/path" and e["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert e["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in e["headers"]
    assert e["headers"]["x-multi"] == "v1" and e["headers"]["content-type"] == "text/plain"
    assert e["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert e["body"] == "Hello" and e["isBase64Encoded"] is False
    rc = e["requestContext"]
    assert rc["accountId"] == ACCOUNT and rc["apiId"] == url_id and rc["domainPrefix"] == url_id
    assert rc["domainName"] == f"{url_id}.lambda-url.{REGION}.localhost"
    assert rc["http"] == {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "test/echo"}
    assert rc["routeKey"] == "$default" and rc["stage"] == "$default"
    assert rc["requestId"] == out["request_id"] == r.header("x-amzn-requestid")
    assert re.match(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$", rc["time"])
    assert abs(rc["timeEpoch"] / 1000 - time.time()) < 60
    assert "authorizer" not in rc and "pathParameters" not in e
    binary = bytes(range(200))
    e = request(server, echo_url, "PUT", binary, {"content-type": "image/png"}).json()["event"]
    assert e["isBase64Encoded"] is True and base64.b64decode(e["body"]) == binary
    assert "body" not in request(server, echo_url).json()["event"]


def test_structured_responses_cookies_and_base64(server, echo_url):
    result = {"statusCode": 418, "headers": {"x-one": "1"}, "cookies": ["a=1; Path=/", "b=2"],
              "body": base64.b64encode(b"\x00\xffbin").decode(), "isBase64Encoded": True}
    r = request(server, echo_url + "respond", "POST", json.dumps(result).encode(),
                {"content-type": "application/json"})
    assert r.status == 418 and r.body == b"\x00\xffbin" and r.header("x-one") == "1"
    assert r.all("set-cookie") == ["a=1; Path=/", "b=2"]
    bad = {"statusCode": "teapot"}
    r = request(server, echo_url + "respond", "POST", json.dumps(bad).encode(),
                {"content-type": "application/json"})
    assert r.status == 502, r.body


def test_function_errors_and_timeouts_are_502(server, echo_url):
    r = request(server, echo_url + "fail")
    assert r.status == 502 and r.json() == {"Message": "Internal Server Error"}, (r.status, r.body)
    r = request(server, echo_url + "sleep?s=10")  # the function's timeout is 3 s
    assert r.status == 502, (r.status, r.body)


def test_public_url_needs_the_permission_and_a_deleted_alias_is_forbidden(server, lam, echo):
    name = unique("noperm")
    create_zip_function(lam, name, zip_files({"app.py": ECHO}))
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    r = request(server, url)
    assert r.status == 403 and r.json() == {"Message": FORBIDDEN}
    assert r.header("x-amzn-errortype") == "AccessDeniedException"
    # Permission for InvokeFunction alone is not enough.
    lam.add_permission(FunctionName=name, StatementId="inv", Action="lambda:InvokeFunction", Principal="*")
    assert request(server, url).status == 403
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    assert request(server, url).status == 200
    lam.delete_function_url_config(FunctionName=name)
    assert request(server, url).status == 403

    v = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="gone", FunctionVersion=v)
    alias_url = public_url(lam, name, qualifier="gone")
    assert request(server, alias_url).status == 200
    lam.delete_alias(FunctionName=name, Name="gone")
    assert request(server, alias_url).status == 403


def test_cors_preflight_is_answered_without_invoking(server, lam):
    name = unique("cors")
    create_zip_function(lam, name, zip_files({"app.py": "def handler(e, c):\n    raise Exception('invoked')\n"}))
    url = public_url(lam, name, Cors={"AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
                                      "AllowHeaders": ["content-type"], "ExposeHeaders": ["x-id"],
                                      "MaxAge": 600, "AllowCredentials": True})
    r = request(server, url, "OPTIONS", headers={"origin": "https://app.example.com",
                                                 "access-control-request-method": "POST",
                                                 "access-control-request-headers": "content-type"})
    assert r.status == 200, (r.status, r.body)
    assert r.header("access-control-allow-origin") == "https://app.example.com"
    assert r.header("access-control-allow-methods") == "GET,POST"
    assert r.header("access-control-allow-headers") == "content-type"
    assert r.header("access-control-max-age") == "600"
    assert r.header("access-control-allow-credentials") == "true"
    r = request(server, url, "OPTIONS", headers={"origin": "https://evil.example",
                                                 "access-control-request-method": "POST"})
    assert r.status == 200 and r.header("access-control-allow-origin") is None
    # An actual request carries the headers too (here with the function's error).
    r = request(server, url, headers={"origin": "https://app.example.com"})
    assert r.status == 502 and r.header("access-control-expose-headers") == "x-id"


def test_limits(server, echo_url):
    r = request(server, echo_url, "POST", b"x" * (6 * 1024 * 1024 + 1), {"content-type": "text/plain"})
    assert r.status == 413, (r.status, r.body[:200])
    r = request(server, echo_url, headers={"x-big": "a" * 11_000})
    assert r.status == 431, (r.status, r.body[:200])
    # Base64 makes a 5 MB binary body an event over 6 MB.
    r = request(server, echo_url, "POST", b"\x00" * (5 * 1024 * 1024), {"content-type": "application/octet-stream"})
    assert r.status == 413, (r.status, r.body[:200])


def test_a_hung_function_does_not_block_other_requests(server, lam, echo_url):
    name = unique("quick")
    create_zip_function(lam, name, zip_files({"app.py": "def handler(e, c):\n    return 'quick'\n"}))
    quick = public_url(lam, name)
    slow = {}
    t = threading.Thread(target=lambda: slow.setdefault("r", request(server, echo_url + "sleep?s=2.5")))
    t.start()
    try:
        for _ in range(5):
            r = request(server, quick)
            assert r.status == 200 and r.body == b"quick"
        assert t.is_alive(), "the slow request should still be running"
    finally:
        t.join()
    assert slow["r"].status == 200


KEY, SECRET = "AKIDURLTEST", "url-secret"


@pytest.fixture(scope="module")
def signed_server():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-url-signed-"))
    srv = Server.start(tmp / "data", env={"LAMBENT_ACCESS_KEY_ID": KEY, "LAMBENT_SECRET_ACCESS_KEY": SECRET})
    try:
        yield srv
    finally:
        running = srv.running()
        if running:
            srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)
    assert running, srv.log()[-4000:]


def test_iam_urls_need_a_valid_signature(signed_server):
    lam = lambda_client(signed_server.endpoint, key=KEY, secret=SECRET)
    name = unique("iam")
    create_zip_function(lam, name, zip_files({"app.py": ECHO}))
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    r = request(signed_server, url + "who", sign=(KEY, SECRET))
    assert r.status == 200, (r.status, r.body)
    iam = r.json()["event"]["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == KEY and iam["accountId"] == ACCOUNT
    r = request(signed_server, url + "who", "POST", b'{"x": 1}', {"content-type": "application/json"},
                sign=(KEY, SECRET))
    assert r.status == 200 and r.json()["event"]["body"] == '{"x": 1}'
    for sign in [None, (KEY, "wrong"), ("AKIDOTHER", SECRET)]:
        r = request(signed_server, url + "who", sign=sign)
        assert r.status == 403 and r.json() == {"Message": FORBIDDEN}, (sign, r.status, r.body)
    # A NONE URL needs no signature even though the server checks the Lambda API's.
    lam.update_function_url_config(FunctionName=name, AuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    assert request(signed_server, url + "who").status == 200
