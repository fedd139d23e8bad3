"""Operations Lambent does not implement yet must answer an AWS-shaped error that names the
operation (never HTML, never a bare 404); unknown paths answer like AWS; GetAccountSettings has
AWS's shape and counts functions.

When one of the operations below gets implemented, move it out of UNIMPLEMENTED."""

from __future__ import annotations

import json

import pytest

from lambent_util import create_function, lambda_client, make_zip, recorded, unique

CRUD = "function_crud.json"

# (boto3 method, the operation name AWS uses, kwargs; "{fn}" is replaced by an existing function)
UNIMPLEMENTED = [
    ("list_code_signing_configs", "ListCodeSigningConfigs", {}),
    ("get_layer_version_policy", "GetLayerVersionPolicy", {"LayerName": "lyr", "VersionNumber": 1}),
]


@pytest.fixture(scope="module")
def fn(lam):
    name = unique("unimpl")
    create_function(lam, name)
    return name


@pytest.mark.parametrize("method,op,kwargs", UNIMPLEMENTED, ids=[u[1] for u in UNIMPLEMENTED])
def test_unimplemented_operation_names_itself(lam, fn, method, op, kwargs):
    kwargs = {k: (v.replace("{fn}", fn) if isinstance(v, str) else v) for k, v in kwargs.items()}
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as ei:
        getattr(lam, method)(**kwargs)
    r = ei.value.response
    status = r["ResponseMetadata"]["HTTPStatusCode"]
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert status >= 400
    assert headers.get("x-amzn-errortype"), f"no x-amzn-ErrorType header: {headers}"
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert headers.get("x-amzn-requestid"), headers
    assert r["Error"]["Code"], r
    assert op in r["Error"]["Message"], f"the error should name {op}: {r['Error']}"
    assert (status, r["Error"]["Code"]) == (501, "NotImplementedException"), r["Error"]


@pytest.mark.parametrize("method,path", [("GET", "/2015-03-31/nothing-here"), ("POST", "/no/such/api"),
                                          ("GET", "/2099-01-01/functions")])
def test_unknown_path_is_aws_shaped(server, method, path):
    r = server.raw(method, path, body=b"{}" if method == "POST" else b"")
    assert r.status == 404, (r.status, r.body[:300])
    assert (r.error_type() or "").split(":")[0] == "UnknownOperationException", r.headers
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    json.loads(r.body)  # not HTML


def test_wrong_method_is_aws_shaped(server):
    r = server.raw("PATCH", "/2015-03-31/functions")
    assert 400 <= r.status < 500, r.status
    assert r.error_type(), r.headers
    json.loads(r.body)


# ---------------------------------------------------------------------------------------------
# GetAccountSettings
# ---------------------------------------------------------------------------------------------


def test_account_settings(fresh_server):
    lam = lambda_client(fresh_server.endpoint)
    rec = recorded(CRUD, "TestLambdaAccountSettings::test_account_settings", "acc_settings_modded")
    s0 = lam.get_account_settings()
    assert s0["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sorted(s0["AccountLimit"]) == sorted(rec["AccountLimit"])
    assert sorted(s0["AccountUsage"]) == sorted(rec["AccountUsage"])
    for section in ("AccountLimit", "AccountUsage"):
        for k, v in s0[section].items():
            assert isinstance(v, int) and not isinstance(v, bool), (section, k, v)
    assert s0["AccountLimit"]["CodeSizeZipped"] == 52428800
    assert s0["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert s0["AccountUsage"]["FunctionCount"] == 0
    assert s0["AccountUsage"]["TotalCodeSize"] == 0

    z1, z2 = make_zip(marker="one"), make_zip(marker="two-two")
    a, b = unique("acct"), unique("acct")
    create_function(lam, a, z1)
    create_function(lam, b, z2)
    s1 = lam.get_account_settings()["AccountUsage"]
    assert s1["FunctionCount"] == 2
    assert s1["TotalCodeSize"] == len(z1) + len(z2)

    lam.delete_function(FunctionName=a)
    s2 = lam.get_account_settings()["AccountUsage"]
    assert s2["FunctionCount"] == 1
    assert s2["TotalCodeSize"] == len(z2)

    z3 = make_zip(marker="three-three-three")
    lam.update_function_code(FunctionName=b, ZipFile=z3)
    assert lam.get_account_settings()["AccountUsage"]["TotalCodeSize"] == len(z3)
