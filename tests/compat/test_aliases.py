"""Aliases: CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases (filter, pagination),
RevisionId guards, every invalid routing configuration, alias names, aliases as qualifiers
everywhere, invocation through an alias (X-Amz-Executed-Version, context, log stream), moving an
alias, the weighted split measured over 10,000 invocations, and the interplay with versions
(deleting a version an alias uses). Expected answers are AWS's: versions_aliases.json and
invoke_versions_aliases_concurrency.json (aws-snapshots), lambda-compat.md §1.1, §1.4, §4.1."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from invoke_support import invoke_cli
from lambent_util import (
    ACCOUNT,
    assert_shape,
    aws_cli,
    expect_error,
    recorded,
    strip_meta,
    unique,
)
from layer_support import (
    IVA,
    MISMATCH,
    PRECONDITION,
    VA,
    check_version_invocation,
    deploy_probe,
    error_problems,
    fn_arn,
    invoke_json,
    list_all,
    probe_zip,
    recorded_error,
    snapshot_state,
)

T_LIFECYCLE = "TestLambdaAlias::test_alias_lifecycle"
T_INVALID = "TestLambdaAlias::test_notfound_and_invalid_routingconfigs"
T_NAMING = "TestLambdaAlias::test_alias_naming"
T_DEL_MISSING = "TestLambdaAlias::test_non_existent_alias_deletion"
T_UPD_MISSING = "TestLambdaAlias::test_non_existent_alias_update"
T_MOVING = "TestLambdaAliases::test_lambda_alias_moving"
T_ROUTING = "TestLambdaAliases::test_alias_routingconfig"


def alias_names(lam, name: str, **kw) -> list[str]:
    return [a["Name"] for a in list_all(lam.list_aliases, "Aliases", FunctionName=name, **kw)]


def staged_function(lam, name: str, **overrides) -> None:
    """AWS's scenario: version 1 with testenv=staging, version 2 with testenv=prod."""
    deploy_probe(lam, name, Environment={"Variables": {"testenv": "staging"}}, **overrides)
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"testenv": "prod"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


# ---------------------------------------------------------------------------------------------
# CRUD as AWS records it
# ---------------------------------------------------------------------------------------------


def test_alias_lifecycle_matches_aws(lam):
    name = unique("alias")
    staged_function(lam, name)

    a11 = lam.create_alias(FunctionName=name, Name="aliasname1_1", FunctionVersion="1", Description="custom-alias",
                           RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
    rec = recorded(VA, T_LIFECYCLE, "create_alias_1_1")
    assert a11["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert_shape(rec, a11)
    assert a11["AliasArn"] == fn_arn(name, "aliasname1_1")
    assert (a11["Name"], a11["FunctionVersion"], a11["Description"]) == ("aliasname1_1", "1", "custom-alias")
    assert a11["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.2}}

    got = lam.get_alias(FunctionName=name, Name="aliasname1_1")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert strip_meta(got) == strip_meta(a11)
    assert_shape(recorded(VA, T_LIFECYCLE, "get_alias_1_1"), got)

    # GetFunction through the alias: the alias ARN, the primary version's configuration.
    for kw in (dict(FunctionName=name, Qualifier="aliasname1_1"), dict(FunctionName=a11["AliasArn"])):
        fn = lam.get_function(**kw)
        cfg = fn["Configuration"]
        assert cfg["FunctionArn"] == fn_arn(name, "aliasname1_1") and cfg["Version"] == "1", cfg
        assert cfg["Environment"] == {"Variables": {"testenv": "staging"}}
        assert_shape(recorded(VA, T_LIFECYCLE, "get_function_alias_1_1"), fn)
    for kw in (dict(FunctionName=name, Qualifier="aliasdoesnotexist"),
               dict(FunctionName=fn_arn(name, "aliasdoesnotexist"))):
        status, code, message = recorded_error(VA, T_LIFECYCLE, "get_function_alias_notfound_exc",
                                               {"function-name:1": name})
        expect_error(lam.get_function, status=status, code=code, message=message, **kw)

    a12 = lam.create_alias(FunctionName=name, Name="aliasname1_2", FunctionVersion="1", Description="custom-alias")
    assert "RoutingConfig" not in a12, a12
    assert_shape(recorded(VA, T_LIFECYCLE, "create_alias_1_2"), a12)
    a13 = lam.create_alias(FunctionName=name, Name="aliasname1_3", FunctionVersion="1")
    assert a13["Description"] == ""
    assert_shape(recorded(VA, T_LIFECYCLE, "create_alias_1_3"), a13)
    a2 = lam.create_alias(FunctionName=name, Name="aliasname2", FunctionVersion="2", Description="custom-alias")
    assert_shape(recorded(VA, T_LIFECYCLE, "get_alias_2"), lam.get_alias(FunctionName=name, Name="aliasname2"))
    assert len({a11["RevisionId"], a12["RevisionId"], a13["RevisionId"], a2["RevisionId"]}) == 4

    # ListAliases through the paginator, one per page.
    full = lam.get_paginator("list_aliases").paginate(FunctionName=name,
                                                      PaginationConfig={"PageSize": 1}).build_full_result()
    assert sorted(a["Name"] for a in full["Aliases"]) == ["aliasname1_1", "aliasname1_2", "aliasname1_3",
                                                          "aliasname2"]
    rec_list = recorded(VA, T_LIFECYCLE, "list_aliases_for_fnname")["Aliases"]
    by_name = {a["Name"]: a for a in full["Aliases"]}
    for r in rec_list:
        assert_shape(r, by_name[r["Name"]])
        assert (by_name[r["Name"]]["FunctionVersion"], by_name[r["Name"]]["Description"]) == (
            r["FunctionVersion"], r["Description"])

    # An empty AdditionalVersionWeights removes the routing configuration.
    u11 = lam.update_alias(FunctionName=name, Name="aliasname1_1", RoutingConfig={"AdditionalVersionWeights": {}})
    assert u11["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "RoutingConfig" not in u11, u11
    assert u11["RevisionId"] != a11["RevisionId"]
    assert_shape(recorded(VA, T_LIFECYCLE, "update_alias_1_1"), u11)
    assert strip_meta(lam.get_alias(FunctionName=name, Name="aliasname1_1")) == strip_meta(u11)

    # An update without changes still gives a new RevisionId and keeps everything else.
    u12 = lam.update_alias(FunctionName=name, Name="aliasname1_2")
    assert u12["RevisionId"] != a12["RevisionId"]
    assert (u12["FunctionVersion"], u12["Description"]) == ("1", "custom-alias")
    assert_shape(recorded(VA, T_LIFECYCLE, "update_alias_1_2"), u12)

    assert sorted(alias_names(lam, name, FunctionVersion="1")) == ["aliasname1_1", "aliasname1_2", "aliasname1_3"]
    assert alias_names(lam, name, FunctionVersion="2") == ["aliasname2"]

    deleted = lam.delete_alias(FunctionName=name, Name="aliasname1_1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert sorted(alias_names(lam, name)) == ["aliasname1_2", "aliasname1_3", "aliasname2"]
    status, code, message = recorded_error(VA, T_INVALID, "alias_does_not_exist_esc",
                                           {"function-name:1": name})
    expect_error(lam.get_alias, FunctionName=name, Name="aliasname1_1", status=status, code=code,
                 message=message.replace(":non-existent", ":aliasname1_1"))


def test_list_aliases_pages(lam):
    name = unique("aliaspages")
    deploy_probe(lam, name, Publish=True)
    names = [f"a{i}" for i in range(5)]
    for n in names:
        lam.create_alias(FunctionName=name, Name=n, FunctionVersion="1")
    pages, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = lam.list_aliases(FunctionName=name, MaxItems=2, **kw)
        pages.append([a["Name"] for a in page["Aliases"]])
        marker = page.get("NextMarker")
        if not marker:
            assert "NextMarker" not in page
            break
        assert len(pages) < 10
    assert [len(p) for p in pages] == [2, 2, 1], pages
    assert sorted(sum(pages, [])) == names
    assert alias_names(lam, name, FunctionVersion="2") == []


def test_alias_naming(lam):
    name = unique("aliasnames")
    deploy_probe(lam, name, Publish=True)
    dated = lam.create_alias(FunctionName=name, Name="2024-01-02", FunctionVersion="1", Description="custom-alias")
    assert dated["AliasArn"] == fn_arn(name, "2024-01-02")
    assert_shape(recorded(VA, T_NAMING, "create_alias_date"), dated)
    assert_shape(recorded(VA, T_NAMING, "get_alias_date"), lam.get_alias(FunctionName=name, Name="2024-01-02"))

    before = snapshot_state(lam, name)
    status, code, message = recorded_error(VA, T_NAMING, "create_alias_number_exception")
    expect_error(lam.create_alias, FunctionName=name, Name="2024", FunctionVersion="1", status=status, code=code,
                 message=message)
    assert snapshot_state(lam, name) == before


def test_missing_aliases(lam):
    name = unique("aliasmissing")
    deploy_probe(lam, name, Publish=True)
    before = snapshot_state(lam, name)
    resp = lam.delete_alias(FunctionName=name, Name="non-existent")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204  # AWS: idempotent
    status, code, message = recorded_error(VA, T_UPD_MISSING, "update_alias_response", {"function-name:1": name})
    expect_error(lam.update_alias, FunctionName=name, Name="non-existent", FunctionVersion="1", status=status,
                 code=code, message=message)
    status, code, message = recorded_error(VA, T_INVALID, "alias_does_not_exist_esc", {"function-name:1": name})
    expect_error(lam.get_alias, FunctionName=name, Name="non-existent", status=status, code=code, message=message)
    status, code, message = recorded_error(IVA, T_MOVING, "invocation_exc_not_existent", {"function-name:1": name})
    expect_error(lam.invoke, FunctionName=name, Qualifier="non-existent-alias", status=status, code=code,
                 message=message)
    assert snapshot_state(lam, name) == before


# ---------------------------------------------------------------------------------------------
# Invalid input: Lambda's error, nothing changed
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def routed(lam):
    """AWS's scenario for invalid routing configurations: created with Publish=True, versions 1
    (staging) and 2 (prod)."""
    name = unique("routing")
    created = deploy_probe(lam, name, Environment={"Variables": {"testenv": "staging"}}, Publish=True)
    assert created["Version"] == "1"
    # Nothing changed: PublishVersion answers version 1 again.
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"testenv": "prod"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    return name


INVALID_CREATE = [
    # snapshot key, CreateAlias arguments
    ("routing_config_exc_toomany", dict(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.8, "2": 0.2}})),
    ("routing_config_exc_toohigh", dict(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 2}})),
    ("routing_config_exc_subzero", dict(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": -1}})),
    ("routing_config_exc_sameversion", dict(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})),
    ("target_version_doesnotexist", dict(FunctionVersion="10", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})),
    ("routing_config_exc_version_doesnotexist", dict(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"10": 0.5}})),
    ("target_version_exc_version_latest", dict(FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})),
    ("routing_config_exc_version_latest", dict(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}})),
]


@pytest.mark.parametrize("key,kwargs", INVALID_CREATE, ids=[c[0] for c in INVALID_CREATE])
def test_invalid_routing_config_on_create(lam_novalidate, routed, key, kwargs):
    lam = lam_novalidate
    before = snapshot_state(lam, routed)
    status, code, message = recorded_error(VA, T_INVALID, key, {"function-name:1": routed})
    expect_error(lam.create_alias, FunctionName=routed, Name="custom", status=status, code=code, message=message,
                 **kwargs)
    assert snapshot_state(lam, routed) == before, "a refused CreateAlias changed something"
    expect_error(lam.get_alias, FunctionName=routed, Name="custom", status=404, code="ResourceNotFoundException")


@pytest.mark.parametrize("key,kwargs", INVALID_CREATE, ids=[c[0] for c in INVALID_CREATE])
def test_invalid_routing_config_on_update(lam_novalidate, routed, key, kwargs):
    """UpdateAlias applies the same rules as CreateAlias, and a refused update changes nothing."""
    lam = lam_novalidate
    alias = f"upd-{key.replace('_', '-')}"[:60]
    lam.create_alias(FunctionName=routed, Name=alias, FunctionVersion="1")
    before = snapshot_state(lam, routed)
    status, code, message = recorded_error(VA, T_INVALID, key, {"function-name:1": routed})
    expect_error(lam.update_alias, FunctionName=routed, Name=alias, status=status, code=code, message=message,
                 **kwargs)
    assert snapshot_state(lam, routed) == before, "a refused UpdateAlias changed something"


def test_valid_alias_edge_cases(lam_novalidate, routed):
    lam = lam_novalidate
    latest = lam.create_alias(FunctionName=routed, Name="custom-latest", FunctionVersion="$LATEST")
    assert latest["FunctionVersion"] == "$LATEST"
    assert_shape(recorded(VA, T_INVALID, "create-alias-latest"), latest)

    empty = lam.create_alias(FunctionName=routed, Name="custom-empty-routingconfig", FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in empty, empty
    assert_shape(recorded(VA, T_INVALID, "create_alias_empty_routingconfig"), empty)

    custom = lam.create_alias(FunctionName=routed, Name="custom", FunctionVersion="1",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    assert custom["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    assert_shape(recorded(VA, T_INVALID, "create_alias_response"), custom)
    assert_shape(recorded(IVA, T_ROUTING, "create_alias_response"), custom)

    before = snapshot_state(lam, routed)
    status, code, message = recorded_error(VA, T_INVALID, "routing_config_exc_already_exist",
                                           {"function-name:1": routed})
    expect_error(lam.create_alias, FunctionName=routed, Name="custom", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}, status=status, code=code, message=message)
    assert snapshot_state(lam, routed) == before


def test_create_alias_on_missing_function(lam, routed):
    missing = f"{routed}-unknown"
    before = snapshot_state(lam)
    status, code, message = recorded_error(VA, T_INVALID, "routing_config_exc_fn_doesnotexist",
                                           {"function-name:1": routed})
    assert message.endswith(f"function:{missing}:1"), message  # AWS names the version asked for
    expect_error(lam.create_alias, FunctionName=missing, Name="custom", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}, status=status, code=code, message=message)
    assert snapshot_state(lam) == before


def test_alias_revision_id(lam):
    name = unique("aliasrev")
    staged_function(lam, name)
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    fn_rid = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    before = snapshot_state(lam, name)
    expect_error(lam.update_alias, FunctionName=name, Name="live", FunctionVersion="2", RevisionId="wrong",
                 status=412, code="PreconditionFailedException", message=PRECONDITION)
    expect_error(lam.update_alias, FunctionName=name, Name="live", FunctionVersion="2",
                 RevisionId=fn_rid, status=412, code="PreconditionFailedException", message=PRECONDITION)
    assert snapshot_state(lam, name) == before
    moved = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"])
    assert moved["FunctionVersion"] == "2" and moved["RevisionId"] != created["RevisionId"]
    # Aliases have their own RevisionIds: $LATEST's did not change.
    assert lam.get_function(FunctionName=name)["Configuration"]["RevisionId"] == fn_rid


# ---------------------------------------------------------------------------------------------
# Aliases as qualifiers; invoking through an alias
# ---------------------------------------------------------------------------------------------


def test_invoke_through_alias_and_move_it(lam):
    name = unique("moving")
    deploy_probe(lam, name, mark="v1", Description="No version :(")
    assert lam.publish_version(FunctionName=name, Description="First version description :)")["Version"] == "1"
    created = lam.create_alias(FunctionName=name, Name="alias1", FunctionVersion="1")
    assert_shape(recorded(IVA, T_MOVING, "create_alias_response"), created)
    alias_arn = fn_arn(name, "alias1")
    rec = recorded(IVA, T_MOVING, "invocation_result_qualifier_v1")
    assert rec["ExecutedVersion"] == "1" and rec["Payload"]["invoked_arn"].endswith(":alias1")

    for target, qualifier in ((name, "alias1"), (alias_arn, None), (f"{name}:alias1", None),
                              (f"{ACCOUNT}:function:{name}:alias1", None), (alias_arn, "alias1")):
        inv, body = invoke_json(lam, target, qualifier=qualifier)
        assert body["mark"] == "v1"
        check_version_invocation(inv, body, "1", alias_arn)

    # Updating $LATEST does not move the alias.
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("v2"))
    inv, body = invoke_json(lam, name, qualifier="alias1")
    assert body["mark"] == "v1"
    check_version_invocation(inv, body, "1", alias_arn)

    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    inv, body = invoke_json(lam, name, qualifier="alias1")
    assert body["mark"] == "v1" and inv.executed_version == "1"

    moved = lam.update_alias(FunctionName=name, Name="alias1", FunctionVersion="2")
    assert moved["FunctionVersion"] == "2"
    assert_shape(recorded(IVA, T_MOVING, "update_alias_response"), moved)
    inv, body = invoke_json(lam, name, qualifier="alias1")
    assert body["mark"] == "v2"
    check_version_invocation(inv, body, "2", alias_arn)

    # GetFunction / GetFunctionConfiguration by alias follow the move.
    for kw in (dict(FunctionName=name, Qualifier="alias1"), dict(FunctionName=f"{name}:alias1"),
               dict(FunctionName=alias_arn)):
        conf = lam.get_function_configuration(**kw)
        assert (conf["Version"], conf["FunctionArn"]) == ("2", alias_arn), conf


def test_alias_to_latest_follows_latest(lam):
    name = unique("aliaslatest")
    deploy_probe(lam, name, mark="one")
    lam.create_alias(FunctionName=name, Name="dev", FunctionVersion="$LATEST")
    inv, body = invoke_json(lam, name, qualifier="dev")
    assert body["mark"] == "one"
    check_version_invocation(inv, body, "$LATEST", fn_arn(name, "dev"))
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("two"))
    inv, body = invoke_json(lam, name, qualifier="dev")
    assert body["mark"] == "two" and inv.executed_version == "$LATEST"


@pytest.mark.parametrize("op", ["get_function", "get_function_configuration", "invoke"])
def test_alias_qualifier_mismatch(lam, op):
    name = unique("aliasmis")
    deploy_probe(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for kw in (dict(FunctionName=f"{name}:live", Qualifier="1"), dict(FunctionName=fn_arn(name, "1"), Qualifier="live")):
        expect_error(getattr(lam, op), status=400, code="InvalidParameterValueException", message=MISMATCH, **kw)


def test_delete_version_used_by_alias_is_refused(lam):
    name = unique("aliasdelver")
    staged_function(lam, name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    before = snapshot_state(lam, name)
    expect_error(lam.delete_function, FunctionName=name, Qualifier="1", status=409, code="ResourceConflictException",
                 message="Unable to delete version because the following aliases reference it: [live]")
    assert snapshot_state(lam, name) == before
    assert invoke_json(lam, name, qualifier="live")[0].executed_version == "1"

    # Once the alias points elsewhere, the version can go.
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "2"]
    # An alias cannot point at a deleted version.
    status, code, message = recorded_error(VA, T_INVALID, "target_version_doesnotexist", {"function-name:1": name})
    expect_error(lam.update_alias, FunctionName=name, Name="live", FunctionVersion="1", status=status, code=code,
                 message=message.replace(":10", ":1"))


def test_delete_function_deletes_aliases(lam):
    name = unique("aliasgone")
    deploy_probe(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.delete_function(FunctionName=name)
    expect_error(lam.get_alias, FunctionName=name, Name="live", status=404, code="ResourceNotFoundException")
    expect_error(lam.invoke, FunctionName=name, Qualifier="live", status=404, code="ResourceNotFoundException")
    deploy_probe(lam, name)
    assert alias_names(lam, name) == []
    expect_error(lam.get_function, FunctionName=name, Qualifier="live", status=404, code="ResourceNotFoundException")


def test_permissions_on_versions_and_aliases(lam):
    """AddPermission / GetPolicy / RemovePermission take versions and aliases as qualifiers: each
    has its own policy (permissions.json, TestLambdaPermissions::test_lambda_permission_fn_versioning
    and test_permission_exceptions)."""
    name = unique("aliaspolicy")
    deploy_probe(lam, name)
    stmt = dict(Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                SourceArn="arn:aws:s3:::some-bucket")
    lam.add_permission(FunctionName=name, StatementId="s3", **stmt)
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    rec = recorded("permissions.json", "TestLambdaPermissions::test_lambda_permission_fn_versioning",
                   "get_policy_after_publishing_new_version")
    # A new version does not inherit $LATEST's policy.
    expect_error(lam.get_policy, FunctionName=name, Qualifier="1", status=404, code=rec["Error"]["Code"],
                 message=rec["Error"]["Message"])

    added = lam.add_permission(FunctionName=name, Qualifier="1", StatementId="s3", **stmt)
    assert json.loads(added["Statement"])["Resource"] == fn_arn(name, "1"), added["Statement"]
    pol = json.loads(lam.get_policy(FunctionName=f"{name}:1")["Policy"])
    assert [s_["Resource"] for s_ in pol["Statement"]] == [fn_arn(name, "1")], pol

    lam.create_alias(FunctionName=name, Name="permission-alias", FunctionVersion="1")
    added = lam.add_permission(FunctionName=fn_arn(name, "permission-alias"), StatementId="s3", **stmt)
    assert json.loads(added["Statement"])["Resource"] == fn_arn(name, "permission-alias")
    pol = json.loads(lam.get_policy(FunctionName=name, Qualifier="permission-alias")["Policy"])
    assert [s_["Resource"] for s_ in pol["Statement"]] == [fn_arn(name, "permission-alias")], pol
    pol = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert [s_["Resource"] for s_ in pol["Statement"]] == [fn_arn(name)], "the unqualified policy changed"

    assert lam.remove_permission(FunctionName=name, Qualifier="1", StatementId="s3")[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert json.loads(lam.get_policy(FunctionName=name, Qualifier="permission-alias")["Policy"])["Statement"]

    exc = "TestLambdaPermissions::test_permission_exceptions"
    subs = {"function-name": name}
    problems = error_problems([
        ("AddPermission, missing alias", lam.add_permission,
         dict(FunctionName=name, Qualifier="alias-doesnotexist", StatementId="s9", **stmt),
         recorded_error("permissions.json", exc, "add_permission_fn_alias_doesnotexist", subs)),
        ("RemovePermission, missing alias", lam.remove_permission,
         dict(FunctionName=name, Qualifier="alias-doesnotexist", StatementId="s3"),
         recorded_error("permissions.json", exc, "remove_permission_fn_alias_doesnotexist", subs)),
        ("AddPermission, missing version", lam.add_permission,
         dict(FunctionName=name, Qualifier="42", StatementId="s9", **stmt),
         recorded_error("permissions.json", exc, "add_permission_fn_version_doesnotexist", subs)),
    ])
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Weighted routing
# ---------------------------------------------------------------------------------------------


def post_invokes(server, path: str, count: int, threads: int = 4) -> tuple[dict, list]:
    """`count` invocations as plain keep-alive HTTP POSTs (no signature: loopback without
    credentials) from `threads` threads. Returns {executed version: count} and the problems seen
    (non-200 answers, or a body that disagrees with X-Amz-Executed-Version)."""
    host, port = server.address.rsplit(":", 1)
    counts: dict = {}
    problems: list = []
    lock = threading.Lock()

    def worker(n):
        local, bad = {}, []
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        for _ in range(n):
            conn.request("POST", path, body=b"{}", headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            body = resp.read()
            version = resp.getheader("X-Amz-Executed-Version")
            if resp.status != 200 or resp.getheader("X-Amz-Function-Error") or json.loads(body) != version:
                bad.append((resp.status, version, body[:200]))
            local[version] = local.get(version, 0) + 1
        conn.close()
        with lock:
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v
            problems.extend(bad)

    per = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(n,)) for n in per]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return counts, problems


def test_canary_split_over_10000_invocations(server, lam):
    """RoutingConfig {"2": 0.1}: 10% ± 1.5% of 10,000 invocations run version 2, the rest version 1,
    and every answer's X-Amz-Executed-Version is the version that really ran."""
    name = unique("canary")
    deploy_probe(lam, name, handler="probe.tiny", Publish=True)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "canary"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})

    started = time.monotonic()
    counts, problems = post_invokes(server, f"/2015-03-31/functions/{name}:live/invocations", 10_000)
    elapsed = time.monotonic() - started
    assert not problems, f"{len(problems)} bad answers, e.g. {problems[:5]}"
    assert set(counts) == {"1", "2"}, counts
    assert sum(counts.values()) == 10_000
    share = counts["2"] / 10_000
    assert abs(share - 0.1) <= 0.015, f"version 2 ran {counts['2']} times of 10,000 ({share:.2%}), want 10% ± 1.5%"
    print(f"canary: {counts} in {elapsed:.1f} s")

    # Without the routing configuration everything goes to the primary version.
    lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
    counts, problems = post_invokes(server, f"/2015-03-31/functions/{name}:live/invocations", 300)
    assert not problems and counts == {"1": 300}, (counts, problems[:5])


def test_routed_invocation_reports_the_version_that_ran(lam):
    """Through a 50/50 alias, each answer's version, context, environment and log stream agree."""
    name = unique("split")
    staged_function(lam, name)
    lam.create_alias(FunctionName=name, Name="half", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    seen = set()
    for _ in range(40):
        inv, body = invoke_json(lam, name, qualifier="half")
        check_version_invocation(inv, body, inv.executed_version, fn_arn(name, "half"))
        assert inv.executed_version in ("1", "2")
        seen.add(inv.executed_version)
        if seen == {"1", "2"}:
            break
    assert seen == {"1", "2"}, f"40 invocations of a 50/50 alias all ran version {seen}"


# ---------------------------------------------------------------------------------------------
# The AWS CLI
# ---------------------------------------------------------------------------------------------


def cli_json(server, *args):
    proc = aws_cli(server.endpoint, "lambda", *args)
    assert proc.returncode == 0, f"aws lambda {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def test_cli_aliases(server, lam, tmp_path):
    name = unique("clialias")
    staged_function(lam, name)
    created = cli_json(server, "create-alias", "--function-name", name, "--name", "live", "--function-version", "1",
                       "--description", "prod traffic", "--routing-config", "AdditionalVersionWeights={2=0.25}")
    assert created["AliasArn"] == fn_arn(name, "live"), created
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}, created
    got = cli_json(server, "get-alias", "--function-name", name, "--name", "live")
    assert got == created
    updated = cli_json(server, "update-alias", "--function-name", name, "--name", "live", "--function-version", "2",
                       "--routing-config", "AdditionalVersionWeights={}")
    assert updated["FunctionVersion"] == "2" and "RoutingConfig" not in updated, updated
    listed = cli_json(server, "list-aliases", "--function-name", name, "--function-version", "2")
    assert [a["Name"] for a in listed["Aliases"]] == ["live"], listed
    res = invoke_cli(server, f"{name}:live", b"{}", tail=False, workdir=tmp_path)
    assert res.returncode == 0 and res.output["ExecutedVersion"] == "2", (res.output, res.stderr)
    assert "FunctionError" not in res.output, res.payload
    assert json.loads(res.payload)["arn"] == fn_arn(name, "live")
    assert cli_json(server, "delete-alias", "--function-name", name, "--name", "live") is None
    proc = aws_cli(server.endpoint, "lambda", "get-alias", "--function-name", name, "--name", "live")
    assert proc.returncode != 0 and "ResourceNotFoundException" in proc.stderr, proc.stderr
