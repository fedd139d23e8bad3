"""Function versions: PublishVersion (with its CodeSha256 and RevisionId guards),
ListVersionsByFunction (paginated), Publish on CreateFunction and UpdateFunctionCode, immutability
of published versions (code, configuration, environment; their execution environments apart from
$LATEST's), publishing unchanged code returning the existing version, every qualifier form, and
DeleteFunction of one version. Expected answers are AWS's: versions_aliases.json and
invoke_versions_aliases_concurrency.json (aws-snapshots), lambda-compat.md §1.1, §1.4, §4.1."""

from __future__ import annotations

import json
import threading

import pytest

from invoke_support import invoke_cli
from lambent_util import (
    ACCOUNT,
    assert_shape,
    aws_cli,
    download,
    expect_error,
    list_all_functions,
    not_found_message,
    recorded,
    sha256_b64,
    strip_meta,
    unique,
)
from layer_support import (
    IN_PROGRESS_ONLY,
    IVA,
    LIST_ITEM_OPTIONAL,
    MISMATCH,
    PENDING_ONLY,
    PRECONDITION,
    VA,
    check_version_invocation,
    deploy_probe,
    fn_arn,
    invoke_json,
    list_all,
    probe_zip,
    recorded_error,
    snapshot_state,
    stream_re,
)

T_ON_CREATE = "TestLambdaVersions::test_publish_version_on_create"
T_LIFECYCLE = "TestLambdaVersions::test_version_lifecycle"
T_WRONG_REV = "TestLambdaVersions::test_publish_with_wrong_revisionid"
T_WRONG_SHA = "TestLambdaVersions::test_publish_with_wrong_sha256"
T_WITH_UPDATE = "TestLambdaVersions::test_publish_with_update"
T_CODE_CHANGES = "TestLambdaVersions::test_lambda_versions_with_code_changes"


def versions_of(lam, name: str) -> list[str]:
    return [v["Version"] for v in list_all(lam.list_versions_by_function, "Versions", FunctionName=name)]


# ---------------------------------------------------------------------------------------------
# PublishVersion, Publish on create and on code update: shapes and values as AWS records them
# ---------------------------------------------------------------------------------------------


def test_publish_on_create_matches_aws(lam):
    name = unique("pubcreate")
    zip_bytes = probe_zip(name)
    created = deploy_probe(lam, name, mark=name, Publish=True)

    # AWS: 201, Version "1" (the unqualified FunctionArn: checked last, below).
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["Version"] == "1", created
    assert created["CodeSha256"] == sha256_b64(zip_bytes)
    assert_shape(recorded(VA, T_ON_CREATE, "create_response"), created, ignore=PENDING_ONLY,
                 optional=("LastUpdateStatus",))

    latest = lam.get_function(FunctionName=name)
    assert latest["Configuration"]["Version"] == "$LATEST"
    assert latest["Configuration"]["FunctionArn"] == fn_arn(name)
    assert_shape(recorded(VA, T_ON_CREATE, "get_function_result"), latest)

    v1 = lam.get_function(FunctionName=name, Qualifier="1")
    cfg1 = v1["Configuration"]
    assert cfg1["Version"] == "1" and cfg1["FunctionArn"] == fn_arn(name, "1"), cfg1
    assert cfg1["CodeSha256"] == created["CodeSha256"]
    assert cfg1["RevisionId"] != latest["Configuration"]["RevisionId"], "a version has its own RevisionId"
    assert_shape(recorded(VA, T_ON_CREATE, "get_function_version_result"), v1)
    assert download(v1["Code"]["Location"]) == zip_bytes

    explicit = lam.get_function(FunctionName=name, Qualifier="$LATEST")
    assert explicit["Configuration"]["FunctionArn"] == fn_arn(name, "$LATEST"), explicit["Configuration"]
    assert explicit["Configuration"]["Version"] == "$LATEST"
    assert_shape(recorded(VA, T_ON_CREATE, "get_function_latest_result"), explicit)

    listed = lam.list_versions_by_function(FunctionName=name)
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "NextMarker" not in listed, listed.get("NextMarker")
    items = listed["Versions"]
    assert [v["Version"] for v in items] == ["$LATEST", "1"]
    assert [v["FunctionArn"] for v in items] == [fn_arn(name, "$LATEST"), fn_arn(name, "1")]
    assert items[0]["RevisionId"] == latest["Configuration"]["RevisionId"]
    assert items[1]["RevisionId"] == cfg1["RevisionId"]
    rec_items = recorded(VA, T_ON_CREATE, "list_versions_result")["Versions"]
    for rec, ours in zip(rec_items, items):
        assert_shape(rec, ours, optional=LIST_ITEM_OPTIONAL)

    # Nothing changed since: publishing again answers the existing version 1 (201, same RevisionId).
    again = lam.publish_version(FunctionName=name)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert again["Version"] == "1" and again["FunctionArn"] == fn_arn(name, "1"), again
    assert again["RevisionId"] == cfg1["RevisionId"]
    assert_shape(recorded(VA, T_ON_CREATE, "repeated_publish_response"), again)
    assert versions_of(lam, name) == ["$LATEST", "1"]

    # AWS's CreateFunction answer with Publish=True says Version "1" but keeps the unqualified
    # FunctionArn (both recordings of it: test_publish_version_on_create and
    # test_notfound_and_invalid_routingconfigs).
    assert recorded(VA, T_ON_CREATE, "create_response")["FunctionArn"].endswith(":function:<function-name:1>")
    assert created["FunctionArn"] == fn_arn(name), f"CreateFunction(Publish=True) FunctionArn {created['FunctionArn']}"


def test_version_lifecycle_matches_aws(lam):
    name = unique("lifecycle")
    deploy_probe(lam, name, Description="No version :(")
    assert versions_of(lam, name) == ["$LATEST"]
    rec_list = recorded(VA, T_LIFECYCLE, "list_versions_result")
    assert_shape(rec_list["Versions"][0], lam.list_versions_by_function(FunctionName=name)["Versions"][0],
                 optional=LIST_ITEM_OPTIONAL)

    upd = lam.update_function_configuration(FunctionName=name, Description="First version :)")
    assert_shape(recorded(VA, T_LIFECYCLE, "first_update_response"), upd, ignore=IN_PROGRESS_ONLY)

    first = lam.publish_version(FunctionName=name, Description="First version description :)")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["Version"] == "1" and first["FunctionArn"] == fn_arn(name, "1")
    assert first["Description"] == "First version description :)"
    assert_shape(recorded(VA, T_LIFECYCLE, "first_publish_response"), first)

    got = lam.get_function(FunctionName=name, Qualifier="1")
    assert_shape(recorded(VA, T_LIFECYCLE, "first_publish_get_function"), got)
    assert got["Configuration"]["RevisionId"] == first["RevisionId"]
    conf = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert strip_meta(conf) == got["Configuration"]
    assert_shape(recorded(VA, T_LIFECYCLE, "first_publish_get_function_config"), conf)

    # Changing $LATEST leaves version 1 exactly as it was.
    lam.update_function_configuration(FunctionName=name, Description="Second version :))")
    after = lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert after == got["Configuration"], "version 1 changed when $LATEST was updated"

    # Without a Description the version takes $LATEST's.
    second = lam.publish_version(FunctionName=name)
    assert second["Version"] == "2" and second["Description"] == "Second version :))", second
    assert_shape(recorded(VA, T_LIFECYCLE, "second_publish_response"), second)

    # Nothing changed: the existing version 2, as it was (the new Description is ignored).
    third = lam.publish_version(FunctionName=name, Description="Third version description :)))")
    assert third["Version"] == "2", third
    assert third["Description"] == "Second version :))"
    assert third["RevisionId"] == second["RevisionId"]

    items = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in items] == ["$LATEST", "1", "2"]
    assert [v["Description"] for v in items] == ["Second version :))", "First version description :)",
                                                "Second version :))"]
    rec = recorded(VA, T_LIFECYCLE, "list_versions_result_after_third_publish")["Versions"]
    for r, ours in zip(rec, items):
        assert_shape(r, ours, optional=LIST_ITEM_OPTIONAL)

    deleted = lam.delete_function(FunctionName=name, Qualifier="1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert versions_of(lam, name) == ["$LATEST", "2"]

    # Version numbers are never reused: the next one is 3.
    lam.update_function_configuration(FunctionName=name, Description="Fourth")
    assert lam.publish_version(FunctionName=name)["Version"] == "3"
    assert versions_of(lam, name) == ["$LATEST", "2", "3"]


def test_publish_with_wrong_revision_id(lam):
    name = unique("pubrev")
    deploy_probe(lam, name)
    before = snapshot_state(lam, name)
    rid = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]

    status, code, message = recorded_error(VA, T_WRONG_REV, "publish_wrong_revisionid_exc")
    assert message == PRECONDITION
    expect_error(lam.publish_version, FunctionName=name, RevisionId="wrong", status=status, code=code,
                 message=message)
    expect_error(lam.publish_version, FunctionName=name, RevisionId="5b1c2c1b-6b3f-4d9e-9d3c-2b1f0e9a7c55",
                 status=status, code=code, message=message)
    assert snapshot_state(lam, name) == before, "a refused PublishVersion changed something"

    ok = lam.publish_version(FunctionName=name, RevisionId=rid)
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 201 and ok["Version"] == "1", ok
    assert_shape(recorded(VA, T_WRONG_SHA, "publish_result"), ok)
    # AWS: publishing a version changes $LATEST's RevisionId (TestLambdaRevisions, validated).
    assert lam.get_function(FunctionName=name)["Configuration"]["RevisionId"] != rid


def test_publish_with_wrong_code_sha256(lam):
    name = unique("pubsha")
    created = deploy_probe(lam, name)
    sha = created["CodeSha256"]
    before = snapshot_state(lam, name)

    status, code, message = recorded_error(VA, T_WRONG_SHA, "publish_wrong_sha256_exc", {"code-sha256:1": sha})
    assert message == (f"CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST "
                       f"({sha}). Please try again with the CodeSHA256 in $LATEST.")
    expect_error(lam.publish_version, FunctionName=name, CodeSha256="somenonexistentsha256", status=status,
                 code=code, message=message)
    assert snapshot_state(lam, name) == before, "a refused PublishVersion changed something"

    ok = lam.publish_version(FunctionName=name, CodeSha256=sha)
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 201 and ok["Version"] == "1", ok
    assert ok["CodeSha256"] == sha
    assert_shape(recorded(VA, T_WRONG_SHA, "publish_result"), ok)

    # Both guards together, both right.
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "two"}})
    rid = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    assert lam.publish_version(FunctionName=name, CodeSha256=sha, RevisionId=rid)["Version"] == "2"


def test_update_function_code_with_publish_matches_aws(lam):
    name = unique("pubupd")
    deploy_probe(lam, name, mark="A")
    new_zip = probe_zip("B")
    upd = lam.update_function_code(FunctionName=name, ZipFile=new_zip, Publish=True)
    # AWS answers with the new version: Version "1", the qualified ARN, the new code.
    assert upd["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert upd["Version"] == "1" and upd["FunctionArn"] == fn_arn(name, "1"), upd
    assert upd["CodeSha256"] == sha256_b64(new_zip)
    assert_shape(recorded(VA, T_WITH_UPDATE, "update_function_code_result"), upd, ignore=PENDING_ONLY,
                 optional=("LastUpdateStatus",))

    v1 = lam.get_function(FunctionName=name, Qualifier="1")
    assert v1["Configuration"]["CodeSha256"] == sha256_b64(new_zip)
    assert_shape(recorded(VA, T_WITH_UPDATE, "get_function_version_result"), v1,
                 ignore=tuple(f"Configuration.{k}" for k in PENDING_ONLY), optional=("Configuration.LastUpdateStatus",))
    latest = lam.get_function(FunctionName=name, Qualifier="$LATEST")
    assert latest["Configuration"]["CodeSha256"] == sha256_b64(new_zip)
    assert latest["Configuration"]["FunctionArn"] == fn_arn(name, "$LATEST")
    assert_shape(recorded(VA, T_WITH_UPDATE, "get_function_latest_result"), latest,
                 ignore=tuple(f"Configuration.{k}" for k in IN_PROGRESS_ONLY))

    # Another code change with Publish makes version 2; $LATEST keeps being updated too.
    upd2 = lam.update_function_code(FunctionName=name, ZipFile=probe_zip("C"), Publish=True)
    assert upd2["Version"] == "2", upd2
    assert versions_of(lam, name) == ["$LATEST", "1", "2"]
    inv, body = invoke_json(lam, name, qualifier="1")
    assert body["mark"] == "B"
    inv, body = invoke_json(lam, name)
    assert body["mark"] == "C"


# ---------------------------------------------------------------------------------------------
# Immutability and invocation of versions
# ---------------------------------------------------------------------------------------------


def test_published_version_is_frozen_and_runs_apart(lam):
    name = unique("frozen")
    zip_a = probe_zip("A")
    deploy_probe(lam, name, mark="A", Environment={"Variables": {"STAGE": "one"}}, Publish=True)
    v1_before = lam.get_function_configuration(FunctionName=name, Qualifier="1")

    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("B"))
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "two"}},
                                      Timeout=20, Description="changed")

    v1 = lam.get_function(FunctionName=name, Qualifier="1")
    assert strip_meta(v1["Configuration"]) == strip_meta(v1_before), "version 1's configuration changed"
    assert v1["Configuration"]["Environment"] == {"Variables": {"STAGE": "one"}}
    assert download(v1["Code"]["Location"]) == zip_a, "version 1's code changed"

    rec_v1 = recorded(IVA, T_CODE_CHANGES, "invocation_result_v1")
    rec_latest = recorded(IVA, T_CODE_CHANGES, "invocation_result_latest")

    inv1, body1 = invoke_json(lam, name, qualifier="1")
    assert (body1["mark"], body1["stage"]) == ("A", "one"), body1
    assert inv1.executed_version == rec_v1["ExecutedVersion"] == "1"
    check_version_invocation(inv1, body1, "1", fn_arn(name, "1"))

    invl, bodyl = invoke_json(lam, name)
    assert (bodyl["mark"], bodyl["stage"]) == ("B", "two"), bodyl
    assert invl.executed_version == rec_latest["ExecutedVersion"] == "$LATEST"
    check_version_invocation(invl, bodyl, "$LATEST", fn_arn(name))

    # Separate execution environments, each reused while warm.
    assert body1["stream"] != bodyl["stream"] and body1["pid"] is not None
    inv1b, body1b = invoke_json(lam, name, qualifier="1")
    assert body1b["stream"] == body1["stream"], "a warm version 1 environment should be reused"
    assert (body1b["mark"], body1b["stage"]) == ("A", "one")

    # Invoking $LATEST by its explicit qualifier reports the qualified ARN.
    invq, bodyq = invoke_json(lam, name, qualifier="$LATEST")
    check_version_invocation(invq, bodyq, "$LATEST", fn_arn(name, "$LATEST"))


def test_configuration_change_publishes_new_version(lam):
    name = unique("cfgpub")
    deploy_probe(lam, name, Environment={"Variables": {"STAGE": "one"}})
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    # Only the configuration changes (same code): a new version.
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "two"}})
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2" and v2["Environment"] == {"Variables": {"STAGE": "two"}}, v2
    # Back to what version 1 had: Lambda compares with the latest version only, so a new version.
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "one"}})
    v3 = lam.publish_version(FunctionName=name, Description="three")
    assert v3["Version"] == "3" and v3["Description"] == "three", v3
    # Unchanged since: the existing version 3 as it is; the new Description is not applied.
    again = lam.publish_version(FunctionName=name, Description="ignored")
    assert (again["Version"], again["Description"], again["RevisionId"]) == ("3", "three", v3["RevisionId"]), again
    for q, stage in (("1", "one"), ("2", "two"), ("3", "one")):
        inv, body = invoke_json(lam, name, qualifier=q)
        assert body["stage"] == stage and inv.executed_version == q, (q, body)


def test_concurrent_publish_is_atomic(lam):
    name = unique("pubrace")
    deploy_probe(lam, name)
    for expected in ("1", "2"):
        results, errors = [], []

        def publish():
            try:
                results.append(lam.publish_version(FunctionName=name)["Version"])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=publish) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not errors, errors
        assert results == [expected] * 8, f"8 concurrent publishes of one state gave {results}, want one version"
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": f"after{expected}"}})
    assert versions_of(lam, name) == ["$LATEST", "1", "2"]


# ---------------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------------


def test_list_versions_paginates(lam):
    name = unique("pages")
    deploy_probe(lam, name)
    for i in range(1, 7):
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": f"s{i}"}})
        assert lam.publish_version(FunctionName=name)["Version"] == str(i)
    want = ["$LATEST", "1", "2", "3", "4", "5", "6"]

    pages, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = lam.list_versions_by_function(FunctionName=name, MaxItems=2, **kw)
        pages.append([v["Version"] for v in page["Versions"]])
        marker = page.get("NextMarker")
        if not marker:
            assert "NextMarker" not in page
            break
        assert len(pages) < 10
    assert pages == [want[0:2], want[2:4], want[4:6], want[6:7]], pages

    full = lam.get_paginator("list_versions_by_function").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 3}).build_full_result()
    assert [v["Version"] for v in full["Versions"]] == want
    assert [v["Environment"]["Variables"]["STAGE"] for v in full["Versions"][1:]] == [f"s{i}" for i in range(1, 7)]

    # ListFunctions shows only $LATEST unless FunctionVersion=ALL.
    plain = [f for f in list_all_functions(lam) if f["FunctionName"] == name]
    assert [f["Version"] for f in plain] == ["$LATEST"]
    every, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = lam.list_functions(FunctionVersion="ALL", **kw)
        every += [f for f in page["Functions"] if f["FunctionName"] == name]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(f["Version"] for f in every) == sorted(want), [f["Version"] for f in every]


def test_versions_of_missing_function(lam):
    missing = unique("nosuch")
    for op in (lam.list_versions_by_function, lam.publish_version):
        expect_error(op, FunctionName=missing, status=404, code="ResourceNotFoundException",
                     message=not_found_message(missing))


# ---------------------------------------------------------------------------------------------
# Qualifiers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_versions(lam):
    """A function with versions 1 (mark A) and 2 (mark B); $LATEST has mark C."""
    name = unique("quals")
    deploy_probe(lam, name, mark="A", Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("B"), Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("C"))
    return name


@pytest.mark.parametrize("form", ["name_colon", "full_arn", "partial_arn", "qualifier", "arn_and_qualifier"])
def test_qualifier_forms_get(lam, two_versions, form):
    name = two_versions
    kw = {
        "name_colon": dict(FunctionName=f"{name}:1"),
        "full_arn": dict(FunctionName=fn_arn(name, "1")),
        "partial_arn": dict(FunctionName=f"{ACCOUNT}:function:{name}:1"),
        "qualifier": dict(FunctionName=name, Qualifier="1"),
        "arn_and_qualifier": dict(FunctionName=fn_arn(name, "1"), Qualifier="1"),
    }[form]
    cfg = lam.get_function(**kw)["Configuration"]
    assert (cfg["Version"], cfg["FunctionArn"]) == ("1", fn_arn(name, "1")), cfg
    conf = lam.get_function_configuration(**kw)
    assert (conf["Version"], conf["FunctionArn"]) == ("1", fn_arn(name, "1"))


@pytest.mark.parametrize("form", ["name_colon", "full_arn", "partial_arn", "qualifier"])
def test_qualifier_forms_invoke(lam, two_versions, form):
    name = two_versions
    target, qualifier = {
        "name_colon": (f"{name}:2", None),
        "full_arn": (fn_arn(name, "2"), None),
        "partial_arn": (f"{ACCOUNT}:function:{name}:2", None),
        "qualifier": (name, "2"),
    }[form]
    inv, body = invoke_json(lam, target, qualifier=qualifier)
    assert body["mark"] == "B"
    check_version_invocation(inv, body, "2", fn_arn(name, "2"))


@pytest.mark.parametrize("op", ["get_function", "get_function_configuration", "invoke", "delete_function"])
def test_qualifier_mismatch_with_versions(lam, two_versions, op):
    name = two_versions
    before = snapshot_state(lam, name)
    expect_error(getattr(lam, op), FunctionName=f"{name}:1", Qualifier="2", status=400,
                 code="InvalidParameterValueException", message=MISMATCH)
    expect_error(getattr(lam, op), FunctionName=fn_arn(name, "2"), Qualifier="$LATEST", status=400,
                 code="InvalidParameterValueException", message=MISMATCH)
    assert snapshot_state(lam, name) == before


@pytest.mark.parametrize("op", ["get_function", "get_function_configuration", "invoke"])
def test_unknown_version(lam, two_versions, op):
    name = two_versions
    rec = recorded("function_crud.json", "TestLambdaFunction::test_ops_on_nonexisting_version[get_function]",
                   "version_not_found_exception")
    assert rec["Error"]["Message"].endswith(":1221")
    for kw in (dict(FunctionName=name, Qualifier="1221"), dict(FunctionName=f"{name}:1221"),
               dict(FunctionName=fn_arn(name, "1221"))):
        expect_error(getattr(lam, op), status=404, code="ResourceNotFoundException",
                     message=not_found_message(f"{name}:1221"), **kw)


# ---------------------------------------------------------------------------------------------
# DeleteFunction with a qualifier
# ---------------------------------------------------------------------------------------------


def test_delete_one_version(lam):
    name = unique("delver")
    deploy_probe(lam, name, mark="A", Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("B"), Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("C"), Publish=True)
    invoke_json(lam, name, qualifier="1")  # a warm environment for version 1

    resp = lam.delete_function(FunctionName=name, Qualifier="1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert versions_of(lam, name) == ["$LATEST", "2", "3"]
    for op in (lam.get_function, lam.get_function_configuration, lam.invoke):
        expect_error(op, FunctionName=name, Qualifier="1", status=404, code="ResourceNotFoundException",
                     message=not_found_message(f"{name}:1"))
    # The other versions and $LATEST are untouched.
    assert invoke_json(lam, name, qualifier="2")[1]["mark"] == "B"
    assert invoke_json(lam, name)[1]["mark"] == "C"

    # The NAME:VERSION form deletes that version too.
    assert lam.delete_function(FunctionName=f"{name}:2")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert versions_of(lam, name) == ["$LATEST", "3"]

    expect_error(lam.delete_function, FunctionName=name, Qualifier="$LATEST", status=400,
                 code="InvalidParameterValueException",
                 message="$LATEST version cannot be deleted without deleting the function.")
    assert versions_of(lam, name) == ["$LATEST", "3"]

    # Version numbers are never reused.
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("D"))
    assert lam.publish_version(FunctionName=name)["Version"] == "4"


def test_delete_missing_version_is_idempotent(lam):
    """AWS accepts DeleteFunction of a version that does not exist (or no longer exists) and
    changes nothing (LocalStack's AWS-validated test_delete_on_nonexisting_version)."""
    name = unique("delmissing")
    deploy_probe(lam, name, Publish=True)
    lam.delete_function(FunctionName=name, Qualifier="1")
    before = snapshot_state(lam, name)
    for q in ("1233", "1233", "1"):
        resp = lam.delete_function(FunctionName=name, Qualifier=q)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert snapshot_state(lam, name) == before


def test_delete_function_deletes_its_versions(lam):
    name = unique("delall")
    deploy_probe(lam, name, mark="A", Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=probe_zip("B"), Publish=True)
    lam.delete_function(FunctionName=name)
    for q in ("1", "2"):
        expect_error(lam.get_function, FunctionName=name, Qualifier=q, status=404, code="ResourceNotFoundException")
    expect_error(lam.list_versions_by_function, FunctionName=name, status=404, code="ResourceNotFoundException",
                 message=not_found_message(name))
    # A new function of that name is a new resource: its versions start again at 1.
    deploy_probe(lam, name, mark="D")
    assert versions_of(lam, name) == ["$LATEST"]
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    assert invoke_json(lam, name, qualifier="1")[1]["mark"] == "D"

    # DeleteFunction with a qualifier on a function that does not exist: AWS names the
    # unqualified function.
    gone = unique("delgone")
    status, code, message = recorded_error("function_crud.json", "TestLambdaFunction::test_delete_on_nonexisting_version",
                                           "delete_function_response_non_existent_with_qualifier", {"fn-name": gone})
    expect_error(lam.delete_function, FunctionName=gone, Qualifier="1", status=status, code=code, message=message)


# ---------------------------------------------------------------------------------------------
# The AWS CLI
# ---------------------------------------------------------------------------------------------


def cli_json(server, *args):
    proc = aws_cli(server.endpoint, "lambda", *args)
    assert proc.returncode == 0, f"aws lambda {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def test_cli_versions(server, lam, tmp_path):
    name = unique("cliver")
    zpath = tmp_path / "a.zip"
    zpath.write_bytes(probe_zip("A"))
    created = cli_json(server, "create-function", "--function-name", name, "--runtime", "python3.12",
                       "--handler", "probe.info", "--role", f"arn:aws:iam::{ACCOUNT}:role/r",
                       "--memory-size", "1024", "--zip-file", f"fileb://{zpath}", "--publish")
    assert created["Version"] == "1", created
    cli_json(server, "update-function-configuration", "--function-name", name,
             "--environment", "Variables={STAGE=two}")
    published = cli_json(server, "publish-version", "--function-name", name, "--description", "second")
    assert (published["Version"], published["Description"]) == ("2", "second"), published

    listed = cli_json(server, "list-versions-by-function", "--function-name", name, "--max-items", "2")
    assert [v["Version"] for v in listed["Versions"]] == ["$LATEST", "1"] and listed.get("NextToken"), listed
    rest = cli_json(server, "list-versions-by-function", "--function-name", name,
                    "--starting-token", listed["NextToken"])
    assert [v["Version"] for v in rest["Versions"]] == ["2"], rest

    conf = cli_json(server, "get-function-configuration", "--function-name", name, "--qualifier", "2")
    assert conf["Environment"] == {"Variables": {"STAGE": "two"}} and conf["FunctionArn"] == fn_arn(name, "2")

    res = invoke_cli(server, name, b"{}", tail=False, workdir=tmp_path, extra=("--qualifier", "1"))
    assert res.returncode == 0 and res.output["StatusCode"] == 200, (res.output, res.stderr)
    assert res.output["ExecutedVersion"] == "1" and "FunctionError" not in res.output, res.output
    body = json.loads(res.payload)
    assert body["version"] == "1" and stream_re("1").match(body["stream"]), body

    cli_json(server, "delete-function", "--function-name", name, "--qualifier", "1")
    assert versions_of(lam, name) == ["$LATEST", "2"]
    proc = aws_cli(server.endpoint, "lambda", "get-function", "--function-name", f"{name}:1")
    assert proc.returncode != 0 and "ResourceNotFoundException" in proc.stderr, proc.stderr
    assert not_found_message(f"{name}:1") in proc.stderr, proc.stderr
