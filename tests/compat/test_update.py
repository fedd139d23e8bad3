"""UpdateFunctionCode and UpdateFunctionConfiguration: what changes, what stays, RevisionId
preconditions (412) and concurrent updates racing on one RevisionId."""

from __future__ import annotations

import threading

import pytest

from lambent_util import (
    ROLE,
    assert_shape,
    check_function_configuration,
    create_function,
    download,
    expect_error,
    lambda_client,
    make_zip,
    recorded,
    sha256_b64,
    store_snapshot,
    strip_meta,
    unique,
    without,
)

CRUD = "function_crud.json"
T_LIFECYCLE = "TestLambdaFunction::test_function_lifecycle"
STALE = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
UPDATE_ONLY = ("LastUpdateStatusReason", "LastUpdateStatusReasonCode")


def test_update_code(lam):
    name = unique("upcode")
    first = make_zip(marker=name + "-1")
    created = create_function(lam, name, first, Description="keep me", Timeout=7)
    second = make_zip(marker=name + "-2", files={"app.py": "def handler(e, c):\n    return 2\n", "lib/x.txt": "x"})

    resp = lam.update_function_code(FunctionName=name, ZipFile=second)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    # The recorded function had an Environment, this one has none.
    aws = without(recorded(CRUD, T_LIFECYCLE, "update_code_response"), "Environment")
    assert_shape(aws, resp, ignore=UPDATE_ONLY)
    check_function_configuration(resp, name)
    assert resp["LastUpdateStatus"] == "Successful"
    assert resp["CodeSha256"] == sha256_b64(second) != created["CodeSha256"]
    assert resp["CodeSize"] == len(second)
    assert resp["RevisionId"] != created["RevisionId"]
    assert resp["LastModified"] != created["LastModified"]
    assert resp["LastModified"] > created["LastModified"]
    for k in ("Description", "Timeout", "MemorySize", "Handler", "Runtime", "Role", "FunctionArn", "Architectures"):
        assert resp[k] == created[k], k

    got = lam.get_function(FunctionName=name)
    assert strip_meta(got["Configuration"]) == strip_meta(lam.get_function_configuration(FunctionName=name))
    assert got["Configuration"]["CodeSha256"] == resp["CodeSha256"]
    assert got["Configuration"]["RevisionId"] == resp["RevisionId"]
    assert download(got["Code"]["Location"]) == second

    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 2})


def test_update_configuration_all_fields(lam):
    name = unique("upconf")
    zip_bytes = make_zip(marker=name)
    created = create_function(lam, name, zip_bytes)

    resp = lam.update_function_configuration(
        FunctionName=name,
        Timeout=30,
        MemorySize=1024,
        Environment={"Variables": {"AA": "1", "BB": "two"}},
        Description="changed",
        Handler="app.other",
        Runtime="python3.11",
        EphemeralStorage={"Size": 2048},
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN"},
        TracingConfig={"Mode": "Active"},
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    aws = recorded(CRUD, T_LIFECYCLE, "update_func_conf_response")
    assert_shape(aws, resp, ignore=UPDATE_ONLY,
                 optional=("LoggingConfig.ApplicationLogLevel", "LoggingConfig.SystemLogLevel"))
    check_function_configuration(resp, name)
    assert resp["Timeout"] == 30
    assert resp["MemorySize"] == 1024
    assert resp["Environment"] == {"Variables": {"AA": "1", "BB": "two"}}
    assert resp["Description"] == "changed"
    assert resp["Handler"] == "app.other"
    assert resp["Runtime"] == "python3.11"
    assert resp["EphemeralStorage"] == {"Size": 2048}
    assert resp["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "DEBUG",
        "SystemLogLevel": "WARN",
        "LogGroup": f"/aws/lambda/{name}",
    }
    assert resp["TracingConfig"] == {"Mode": "Active"}
    # Untouched.
    assert resp["CodeSha256"] == created["CodeSha256"] == sha256_b64(zip_bytes)
    assert resp["CodeSize"] == created["CodeSize"]
    assert resp["Role"] == ROLE
    assert resp["Architectures"] == ["x86_64"]
    assert resp["RevisionId"] != created["RevisionId"]
    assert resp["LastModified"] > created["LastModified"]

    conf = strip_meta(lam.get_function_configuration(FunctionName=name))
    assert conf == strip_meta(resp) | {"LastUpdateStatus": "Successful"}

    # A partial update changes only what it names.
    resp2 = lam.update_function_configuration(FunctionName=name, Description="again")
    assert resp2["Description"] == "again"
    for k in ("Timeout", "MemorySize", "Environment", "Handler", "Runtime", "EphemeralStorage", "LoggingConfig",
              "TracingConfig", "CodeSha256", "CodeSize", "Role"):
        assert resp2[k] == resp[k], k
    assert resp2["RevisionId"] != resp["RevisionId"]

    # The code did not move.
    assert download(lam.get_function(FunctionName=name)["Code"]["Location"]) == zip_bytes


def test_json_logging_defaults_levels(lam):
    name = unique("logjson")
    create_function(lam, name)
    resp = lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON"})
    assert resp["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }


def test_switch_json_to_text_drops_levels(lam):
    name = unique("logtext")
    create_function(lam, name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG",
                                              "SystemLogLevel": "WARN"})
    resp = lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    assert resp["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"] == resp["LoggingConfig"]


def test_environment_can_be_cleared(lam):
    name = unique("envclear")
    create_function(lam, name, Environment={"Variables": {"KK": "v"}})
    resp = lam.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
    assert resp.get("Environment", {"Variables": {}}) == {"Variables": {}}
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf.get("Environment", {}).get("Variables", {}) == {}


@pytest.mark.parametrize("op", ["config", "code"])
def test_stale_revision_id_is_412(lam, op):
    name = unique("stale")
    created = create_function(lam, name)
    current = lam.update_function_configuration(FunctionName=name, Description="v2")
    stale = created["RevisionId"]
    before_store = store_snapshot(lam)
    before = strip_meta(lam.get_function_configuration(FunctionName=name))

    call = (
        (lambda rev: lam.update_function_configuration(FunctionName=name, Description="v3", RevisionId=rev))
        if op == "config"
        else (lambda rev: lam.update_function_code(FunctionName=name, ZipFile=make_zip(marker="v3"), RevisionId=rev))
    )
    expect_error(call, stale, status=412, code="PreconditionFailedException", message=STALE)
    expect_error(call, "00000000-0000-0000-0000-000000000000", status=412, code="PreconditionFailedException",
                 message=STALE)
    assert strip_meta(lam.get_function_configuration(FunctionName=name)) == before
    assert store_snapshot(lam) == before_store

    ok = call(current["RevisionId"])
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert ok["RevisionId"] != current["RevisionId"]


@pytest.mark.parametrize("op", ["config", "code"])
def test_concurrent_updates_one_revision(server, lam, op):
    """Eight clients race to update with the same RevisionId: exactly one wins, the rest get 412."""
    name = unique("race")
    created = create_function(lam, name)
    rev = created["RevisionId"]
    n = 8
    clients = [lambda_client(server.endpoint) for _ in range(n)]
    barrier = threading.Barrier(n)
    results = [None] * n
    zips = [make_zip(marker=f"{name}-{i}") for i in range(n)]

    def run(i):
        c = clients[i]
        barrier.wait()
        try:
            if op == "config":
                r = c.update_function_configuration(FunctionName=name, Description=f"writer-{i}", RevisionId=rev)
            else:
                r = c.update_function_code(FunctionName=name, ZipFile=zips[i], RevisionId=rev)
            results[i] = ("ok", r)
        except Exception as e:  # noqa: BLE001 - collected and checked below
            results[i] = ("err", e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wins = [i for i, r in enumerate(results) if r and r[0] == "ok"]
    losses = [r[1] for r in results if r and r[0] == "err"]
    assert len(wins) == 1, f"{len(wins)} updates with the same RevisionId succeeded (want exactly 1)"
    for e in losses:
        resp = getattr(e, "response", {})
        assert resp.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412, repr(e)
        assert resp["Error"]["Code"] == "PreconditionFailedException", repr(e)
    winner = wins[0]
    final = lam.get_function(FunctionName=name)
    assert final["Configuration"]["RevisionId"] == results[winner][1]["RevisionId"]
    if op == "config":
        assert final["Configuration"]["Description"] == f"writer-{winner}"
    else:
        assert final["Configuration"]["CodeSha256"] == sha256_b64(zips[winner])
        assert download(final["Code"]["Location"]) == zips[winner]


def test_update_missing_function(lam):
    missing = unique("missing")
    msg = f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{missing}"
    expect_error(lam.update_function_configuration, FunctionName=missing, Description="x", status=404,
                 code="ResourceNotFoundException", message=msg)
    expect_error(lam.update_function_code, FunctionName=missing, ZipFile=make_zip(), status=404,
                 code="ResourceNotFoundException", message=msg)
