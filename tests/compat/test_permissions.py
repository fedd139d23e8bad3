"""Resource policies (AddPermission / GetPolicy / RemovePermission) and
GetFunctionCodeSigningConfig, against permissions.json. Statement and Policy are JSON *strings* on
the wire (the recording shows them parsed)."""

from __future__ import annotations

import json

import pytest

from lambent_util import (
    ACCOUNT,
    REGION,
    UUID_RE,
    create_function,
    expect_error,
    not_found_message,
    recorded,
    store_snapshot,
    strip_meta,
    unique,
)

PERM = "permissions.json"
NO_RESOURCE = "The resource you requested does not exist."
STALE = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


def arn_of(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def statement_shape(stmt: dict) -> dict:
    """A statement with values reduced to their kinds, for comparison with the recording."""
    def kind(v):
        if isinstance(v, dict):
            return {k: kind(x) for k, x in v.items()}
        return type(v).__name__
    return kind(stmt)


@pytest.fixture
def fn(lam):
    name = unique("perm")
    create_function(lam, name)
    return name


def test_add_get_remove(lam, fn):
    arn = arn_of(fn)
    src = "arn:aws:s3:::my-bucket"
    r1 = lam.add_permission(FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction",
                            Principal="s3.amazonaws.com", SourceArn=src)
    assert r1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert isinstance(r1["Statement"], str), "Statement must be a JSON string"
    s1 = json.loads(r1["Statement"])
    want1 = {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
             "Action": "lambda:InvokeFunction", "Resource": arn,
             "Condition": {"ArnLike": {"AWS:SourceArn": src}}}
    assert s1 == want1
    rec = recorded(PERM, "TestLambdaPermissions::test_add_lambda_permission_aws", "add_permission")["Statement"]
    assert statement_shape(s1) == statement_shape(rec)

    r2 = lam.add_permission(FunctionName=fn, StatementId="account-id", Action="lambda:InvokeFunction",
                            Principal="111122223333")
    s2 = json.loads(r2["Statement"])
    want2 = {"Sid": "account-id", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "lambda:InvokeFunction", "Resource": arn}
    assert s2 == want2
    rec = recorded(PERM, "TestLambdaPermissions::test_add_lambda_permission_fields",
                   "add_permission_principal_account")["Statement"]
    assert statement_shape(s2) == statement_shape(rec)

    r3 = lam.add_permission(FunctionName=fn, StatementId="wildcard", Action="lambda:InvokeFunction",
                            Principal="*", SourceAccount="111122223333")
    s3 = json.loads(r3["Statement"])
    want3 = {"Sid": "wildcard", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
             "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"}}}
    assert s3 == want3
    rec = recorded(PERM, "TestLambdaPermissions::test_add_lambda_permission_fields",
                   "add_permission_principal_wildcard")["Statement"]
    assert statement_shape(s3) == statement_shape(rec)

    got = lam.get_policy(FunctionName=fn)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert isinstance(got["Policy"], str), "Policy must be a JSON string"
    assert UUID_RE.match(got["RevisionId"]), got["RevisionId"]
    policy = json.loads(got["Policy"])
    assert policy == {"Version": "2012-10-17", "Id": "default", "Statement": [want1, want2, want3]}
    rec = recorded(PERM, "TestLambdaPermissions::test_add_lambda_permission_aws", "get_policy")
    assert set(strip_meta(got)) == set(strip_meta(rec)) == {"Policy", "RevisionId"}
    assert set(policy) == set(rec["Policy"])

    # The same works through the function's ARN.
    assert json.loads(lam.get_policy(FunctionName=arn)["Policy"]) == policy

    dup = expect_error(lam.add_permission, FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", status=409, code="ResourceConflictException",
                       message="The statement id (s3) provided already exists. Please provide a new statement id, "
                       "or remove the existing statement.")
    assert dup
    assert json.loads(lam.get_policy(FunctionName=fn)["Policy"]) == policy

    rm = lam.remove_permission(FunctionName=fn, StatementId="account-id")
    assert rm["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert json.loads(lam.get_policy(FunctionName=fn)["Policy"])["Statement"] == [want1, want3]

    expect_error(lam.remove_permission, FunctionName=fn, StatementId="non-existent", status=404,
                 code="ResourceNotFoundException", message="Statement non-existent is not found in resource policy.")
    assert json.loads(lam.get_policy(FunctionName=fn)["Policy"])["Statement"] == [want1, want3]

    lam.remove_permission(FunctionName=fn, StatementId="s3")
    lam.remove_permission(FunctionName=fn, StatementId="wildcard")
    # With every statement gone there is no policy.
    expect_error(lam.get_policy, FunctionName=fn, status=404, code="ResourceNotFoundException", message=NO_RESOURCE)


def test_get_policy_without_policy(lam, fn):
    rec = recorded(PERM, "TestLambdaPermissions::test_remove_multi_permissions", "get_policy_exception_removed_all")
    assert rec["Error"]["Message"] == NO_RESOURCE
    expect_error(lam.get_policy, FunctionName=fn, status=404, code="ResourceNotFoundException", message=NO_RESOURCE)
    expect_error(lam.remove_permission, FunctionName=fn, StatementId="nope", status=404,
                 code="ResourceNotFoundException", message="No policy is associated with the given resource.")


def test_permission_on_missing_function(lam):
    missing = unique("noperm")
    expect_error(lam.add_permission, FunctionName=missing, StatementId="s", Action="lambda:InvokeFunction",
                 Principal="s3.amazonaws.com", status=404, code="ResourceNotFoundException",
                 message=not_found_message(missing))
    expect_error(lam.get_policy, FunctionName=missing, status=404, code="ResourceNotFoundException",
                 message=NO_RESOURCE)


PERMISSION_EXCEPTIONS = [
    ("invalid_statement_id", dict(StatementId="example.com"), 400, "ValidationException",
     "1 validation error detected: Value 'example.com' at 'statementId' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"),
    ("latest_qualifier", dict(Qualifier="$LATEST"), 400, "InvalidParameterValueException",
     "We currently do not support adding policies for $LATEST."),
    ("qualifier_mismatch", dict(FunctionName="{fn}:1", Qualifier="2"), 400, "InvalidParameterValueException",
     "The derived qualifier from the function name does not match the specified qualifier."),
    ("stale_revision", dict(RevisionId="00000000-0000-0000-0000-000000000000"), 412, "PreconditionFailedException",
     STALE),
]


@pytest.mark.parametrize("overrides,status,code,message", [p[1:] for p in PERMISSION_EXCEPTIONS],
                         ids=[p[0] for p in PERMISSION_EXCEPTIONS])
def test_permission_exceptions(lam, fn, overrides, status, code, message):
    before = store_snapshot(lam)
    kw = dict(FunctionName=fn, StatementId="s", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    kw.update({k: v.replace("{fn}", fn) for k, v in overrides.items()})
    expect_error(lam.add_permission, status=status, code=code, message=message, **kw)
    expect_error(lam.get_policy, FunctionName=fn, status=404, code="ResourceNotFoundException", message=NO_RESOURCE)
    assert store_snapshot(lam) == before


def test_add_permission_with_current_revision(lam, fn):
    rev = lam.get_function(FunctionName=fn)["Configuration"]["RevisionId"]
    r = lam.add_permission(FunctionName=fn, StatementId="ok", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com", RevisionId=rev)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201


def test_policy_gone_with_function(lam):
    name = unique("permdel")
    create_function(lam, name)
    lam.add_permission(FunctionName=name, StatementId="s", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    lam.delete_function(FunctionName=name)
    create_function(lam, name)
    expect_error(lam.get_policy, FunctionName=name, status=404, code="ResourceNotFoundException",
                 message=NO_RESOURCE)


def test_get_function_code_signing_config(lam, fn):
    r = lam.get_function_code_signing_config(FunctionName=fn)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["FunctionName"] == fn
    assert isinstance(r.get("CodeSigningConfigArn", ""), str)
    missing = unique("nocsc")
    expect_error(lam.get_function_code_signing_config, FunctionName=missing, status=404,
                 code="ResourceNotFoundException", message=not_found_message(missing))
