"""CreateFunction / GetFunction / GetFunctionConfiguration / DeleteFunction, the forms a function
name may take, the waiters, and the AWS CLI on the same calls; checked against the responses
recorded from AWS in function_crud.json."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from lambent_util import (
    ACCOUNT,
    REGION,
    ROLE,
    assert_shape,
    aws_cli,
    check_function_configuration,
    create_function,
    download,
    expect_error,
    list_all_functions,
    make_zip,
    not_found_message,
    recorded,
    sha256_b64,
    strip_meta,
    unique,
    without,
)

CRUD = "function_crud.json"
T_ZIPLOC = "TestLambdaFunction::test_lambda_code_location_zipfile"
T_LIFECYCLE = "TestLambdaFunction::test_function_lifecycle"
T_LIST = "TestLambdaFunction::test_list_functions"

# Fields AWS sends only while a function is Pending; Lambent answers Active at once.
PENDING_ONLY = ("StateReason", "StateReasonCode")
MISMATCH = "The derived qualifier from the function name does not match the specified qualifier."


def arn_of(name: str, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


def test_create_response_matches_aws(lam):
    name = unique("create")
    zip_bytes = make_zip(marker=name)
    resp = create_function(lam, name, zip_bytes)

    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amzn-requestid"), f"no x-amzn-RequestId header: {headers}"
    assert headers.get("content-type", "").startswith("application/json"), headers

    if "LastUpdateStatus" in resp:
        assert resp["LastUpdateStatus"] == "Successful"

    check_function_configuration(resp, name)
    assert resp["CodeSha256"] == sha256_b64(zip_bytes)
    assert resp["CodeSize"] == len(zip_bytes)
    # Lambda's defaults.
    assert resp["Runtime"] == "python3.12"
    assert resp["Handler"] == "app.handler"
    assert resp["Role"] == ROLE
    assert resp["Description"] == ""
    assert resp["Timeout"] == 3
    assert resp["MemorySize"] == 128
    assert resp["Architectures"] == ["x86_64"]
    assert resp["EphemeralStorage"] == {"Size": 512}
    assert resp["TracingConfig"] == {"Mode": "PassThrough"}
    assert resp["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert resp["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert re.match(r"^arn:aws:lambda:us-east-1::runtime:\S+$", resp["RuntimeVersionConfig"]["RuntimeVersionArn"])

    # Field names and types as AWS records them (created without Environment, so none comes back).
    # An Active function may say LastUpdateStatus (AWS does once it is Active); nothing else extra.
    aws = recorded(CRUD, T_ZIPLOC, "create-response-zip-file")
    assert_shape(aws, resp, ignore=PENDING_ONLY, optional=("LastUpdateStatus",))


def test_get_function_code_location_and_configuration(lam):
    name = unique("get")
    zip_bytes = make_zip(marker=name)
    created = create_function(lam, name, zip_bytes)

    got = lam.get_function(FunctionName=name)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Code"]["RepositoryType"] == "S3"
    cfg = got["Configuration"]
    check_function_configuration(cfg, name)
    assert cfg["LastUpdateStatus"] == "Successful"
    assert cfg["CodeSha256"] == sha256_b64(zip_bytes) == created["CodeSha256"]
    assert cfg["RevisionId"] == created["RevisionId"]
    assert cfg["LastModified"] == created["LastModified"]

    # The Location is a URL from which the package downloads unchanged (no signing needed).
    assert download(got["Code"]["Location"]) == zip_bytes

    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert strip_meta(conf) == cfg

    listed = [f for f in list_all_functions(lam) if f["FunctionName"] == name]
    assert len(listed) == 1
    for k, v in listed[0].items():
        assert cfg.get(k) == v, f"ListFunctions item {k}={v!r}, GetFunction says {cfg.get(k)!r}"

    # Field names and types as AWS records them. AWS leaves State, LastUpdateStatus and
    # RuntimeVersionConfig out of ListFunctions items; tolerated here. The recorded list was of
    # functions created with an (empty) Environment, ours has none.
    assert_shape(recorded(CRUD, T_ZIPLOC, "get-function-response"), got)
    aws_item = without(recorded(CRUD, T_LIST, "list_default")["Functions"][0], "Environment")
    assert_shape(aws_item, listed[0], optional=("State", "LastUpdateStatus", "RuntimeVersionConfig"))


def test_waiters_succeed_at_once(lam):
    name = unique("wait")
    create_function(lam, name)
    fast = {"Delay": 1, "MaxAttempts": 2}
    for waiter in ("function_exists", "function_active_v2", "function_updated_v2", "function_active", "function_updated"):
        lam.get_waiter(waiter).wait(FunctionName=name, WaiterConfig=fast)


def test_cli_create_get_wait_delete(server, tmp_path):
    name = unique("cli")
    zip_bytes = make_zip(marker=name)
    zpath = tmp_path / "pkg.zip"
    zpath.write_bytes(zip_bytes)

    r = aws_cli(
        server.endpoint, "lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
        "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{zpath}",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["FunctionName"] == name and out["CodeSha256"] == sha256_b64(zip_bytes)

    r = aws_cli(server.endpoint, "lambda", "wait", "function-active-v2", "--function-name", name)
    assert r.returncode == 0, r.stderr
    r = aws_cli(server.endpoint, "lambda", "wait", "function-updated-v2", "--function-name", name)
    assert r.returncode == 0, r.stderr
    r = aws_cli(server.endpoint, "lambda", "wait", "function-exists", "--function-name", arn_of(name))
    assert r.returncode == 0, r.stderr

    r = aws_cli(server.endpoint, "lambda", "get-function", "--function-name", name)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Configuration"]["FunctionArn"] == arn_of(name)

    r = aws_cli(server.endpoint, "lambda", "delete-function", "--function-name", name)
    assert r.returncode == 0, r.stderr
    r = aws_cli(server.endpoint, "lambda", "get-function", "--function-name", name)
    assert r.returncode != 0
    assert "ResourceNotFoundException" in r.stderr and not_found_message(name) in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def named(lam):
    name = unique("names")
    create_function(lam, name)
    return name


@pytest.mark.parametrize(
    "form",
    ["name", "full_arn", "partial_arn", "name_latest", "full_arn_latest", "partial_arn_latest"],
)
def test_name_forms_resolve(lam, named, form):
    fn = {
        "name": named,
        "full_arn": arn_of(named),
        "partial_arn": f"{ACCOUNT}:function:{named}",
        "name_latest": f"{named}:$LATEST",
        "full_arn_latest": f"{arn_of(named)}:$LATEST",
        "partial_arn_latest": f"{ACCOUNT}:function:{named}:$LATEST",
    }[form]
    got = lam.get_function(FunctionName=fn)
    assert got["Configuration"]["FunctionName"] == named
    assert got["Configuration"]["Version"] == "$LATEST"
    conf = lam.get_function_configuration(FunctionName=fn)
    assert conf["FunctionName"] == named


def test_explicit_latest_qualifier(lam, named):
    assert lam.get_function(FunctionName=named, Qualifier="$LATEST")["Configuration"]["FunctionName"] == named
    assert lam.get_function(FunctionName=f"{named}:$LATEST", Qualifier="$LATEST")["Configuration"]["FunctionName"] == named


@pytest.mark.parametrize("encode", [True, False], ids=["percent_encoded", "literal_colons"])
def test_arn_in_path_raw(server, named, encode):
    arn = arn_of(named)
    path_name = urllib.parse.quote(arn, safe="") if encode else arn
    r = server.raw("GET", f"/2015-03-31/functions/{path_name}")
    assert r.status == 200, (r.status, r.body[:500])
    assert r.json()["Configuration"]["FunctionArn"] == arn
    r = server.raw("GET", f"/2015-03-31/functions/{urllib.parse.quote(named + ':$LATEST', safe='')}/configuration")
    assert r.status == 200, (r.status, r.body[:500])
    assert r.json()["FunctionName"] == named


@pytest.mark.parametrize("op", ["get_function", "get_function_configuration", "delete_function"])
def test_wrong_region_arn(lam, named, op):
    expect_error(
        getattr(lam, op),
        FunctionName=arn_of(named, "eu-west-1"),
        status=404,
        code="ResourceNotFoundException",
        message="Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    )
    lam.get_function(FunctionName=named)  # still there


@pytest.mark.parametrize(
    "bad",
    ["my-function!", "*", "has space", "arn:aws:ec2:us-east-1:000000000000:instance:i-1234567890abcdef0",
     "arn:aws:lambda:us-east-1:000000000000:function:my-function:1:2", "invalid-account:function:my-function"],
)
@pytest.mark.parametrize("op", ["get_function", "get_function_configuration", "delete_function"])
def test_invalid_function_name(lam, op, bad):
    err = expect_error(getattr(lam, op), FunctionName=bad, status=400, code="ValidationException")
    prefix = f"1 validation error detected: Value '{bad}' at 'functionName' failed to satisfy constraint: "
    assert err.message.startswith(prefix + "Member must satisfy regular expression pattern: "), err


@pytest.mark.parametrize("op", ["get_function", "get_function_configuration", "delete_function"])
def test_qualifier_mismatch(lam, named, op):
    expect_error(
        getattr(lam, op),
        FunctionName=f"{named}:1",
        Qualifier="$LATEST",
        status=400,
        code="InvalidParameterValueException",
        message=MISMATCH,
    )
    expect_error(
        getattr(lam, op),
        FunctionName=f"{arn_of(named)}:$LATEST",
        Qualifier="2",
        status=400,
        code="InvalidParameterValueException",
        message=MISMATCH,
    )
    lam.get_function(FunctionName=named)


def test_delete_latest_qualifier_is_refused(lam, named):
    expect_error(
        lam.delete_function,
        FunctionName=f"{arn_of(named)}:$LATEST",
        Qualifier="$LATEST",
        status=400,
        code="InvalidParameterValueException",
        message="$LATEST version cannot be deleted without deleting the function.",
    )
    lam.get_function(FunctionName=named)


def test_missing_names(lam, named):
    long_name = "a" * 65
    expect_error(lam.get_function, FunctionName=long_name, status=404, code="ResourceNotFoundException",
                 message=not_found_message(long_name))
    missing = unique("missing")
    for op in ("get_function", "get_function_configuration", "delete_function"):
        expect_error(getattr(lam, op), FunctionName=missing, status=404, code="ResourceNotFoundException",
                     message=not_found_message(missing))
    expect_error(lam.get_function, FunctionName=named, Qualifier="$latest", status=404,
                 code="ResourceNotFoundException", message=not_found_message(f"{named}:$latest"))


def test_not_found_wire_format(server):
    missing = unique("missing")
    r = server.raw("GET", f"/2015-03-31/functions/{missing}")
    assert r.status == 404
    assert (r.error_type() or "").split(":")[0] == "ResourceNotFoundException", r.headers
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert r.headers.get("x-amzn-requestid"), r.headers
    body = r.json()
    assert body.get("Type") == "User", body
    assert body.get("Message") == not_found_message(missing), body


# ---------------------------------------------------------------------------------------------
# Delete
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["name", "arn"])
def test_delete(lam, by):
    name = unique("del")
    create_function(lam, name)
    resp = lam.delete_function(FunctionName=name if by == "name" else arn_of(name))
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    msg = not_found_message(name)
    aws = recorded(CRUD, T_LIFECYCLE, "delete_postdelete")
    assert aws["Error"]["Code"] == "ResourceNotFoundException" and aws["ResponseMetadata"]["HTTPStatusCode"] == 404
    expect_error(lam.get_function, FunctionName=name, status=404, code="ResourceNotFoundException", message=msg)
    expect_error(lam.get_function_configuration, FunctionName=name, status=404,
                 code="ResourceNotFoundException", message=msg)
    expect_error(lam.delete_function, FunctionName=name, status=404, code="ResourceNotFoundException", message=msg)
    assert name not in {f["FunctionName"] for f in list_all_functions(lam)}
    # The name is free again.
    again = create_function(lam, name)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 201
    lam.delete_function(FunctionName=name)

