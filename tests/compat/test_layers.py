"""Layers: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers,
ListLayerVersions (runtime and architecture filters, pagination), DeleteLayerVersion, layers in
function configurations (up to 5, one version per layer, same region), what a function sees at
/opt (merged in order, later layers win, read-only; Python, Node, /opt/bin and /opt/lib as on
Lambda; nothing for functions without the layer), size limits counting function plus layers, the
zip safety checks, deleted layer versions that keep working, and a restart that keeps versions,
aliases and layers. Expected answers are AWS's: layers.json (aws-snapshots), lambda-compat.md §1.1,
§2, §7."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from invoke_support import deploy
from lambent_util import (
    LAST_MODIFIED_RE,
    REGION,
    Server,
    assert_shape,
    aws_cli,
    download,
    expect_error,
    lambda_client,
    recorded,
    sha256_b64,
    strip_meta,
    unique,
    without,
)
from layer_support import (
    LAYERS,
    deploy_probe,
    file_layer_zip,
    invoke_json,
    layer_arn,
    list_all,
    node_layer_zip,
    node_probe_zip,
    probe_zip,
    python_layer_zip,
    recorded_error,
    snapshot_state,
)

T_EXC = "TestLambdaLayer::test_layer_exceptions"
T_LIFECYCLE = "TestLambdaLayer::test_layer_lifecycle"
T_FN_EXC = "TestLambdaLayer::test_layer_function_exceptions"
T_QUOTA = "TestLambdaLayer::test_layer_function_quota_exception"
T_COMPAT = "TestLambdaLayer::test_layer_compatibilities[runtimes0]"

NOT_A_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."
UNZIPPED_TOO_BIG = "Unzipped size must be smaller than 262144000 bytes"
LIMIT = 262_144_000


def dummy_layer() -> bytes:
    return file_layer_zip({"python/dummy.py": "X = 1\n"})


def publish(lam, name: str, zip_bytes: bytes | None = None, **kw) -> dict:
    kw.setdefault("CompatibleRuntimes", ["python3.12"])
    kw.setdefault("CompatibleArchitectures", ["x86_64"])
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_bytes or dummy_layer()}, **kw)


def layer_state(lam, *names: str) -> str:
    """ListLayers (all pages) and ListLayerVersions of `names`: a rejected request must not change them."""
    state = {"layers": list_all(lam.list_layers, "Layers")}
    for n in names:
        state[n] = list_all(lam.list_layer_versions, "LayerVersions", LayerName=n)
    return json.dumps(state, sort_keys=True, default=str)


def opt_probe(lam, name: str, event: dict, qualifier: str | None = None) -> dict:
    inv, body = invoke_json(lam, name, json.dumps(event).encode(), qualifier=qualifier)
    return body


# ---------------------------------------------------------------------------------------------
# Publish / get / list / delete as AWS records them
# ---------------------------------------------------------------------------------------------


def test_layer_lifecycle_matches_aws(lam):
    layer = unique("lyr")
    fname = unique("lyrfn")
    zip_bytes = dummy_layer()
    deploy_probe(lam, fname)

    p1 = publish(lam, layer, zip_bytes, Description="a description", LicenseInfo="MIT")
    assert p1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert_shape(recorded(LAYERS, T_LIFECYCLE, "publish_result"), p1)
    assert p1["LayerArn"] == layer_arn(layer) and p1["LayerVersionArn"] == layer_arn(layer, 1), p1
    assert p1["Version"] == 1 and isinstance(p1["Version"], int)
    assert (p1["Description"], p1["LicenseInfo"]) == ("a description", "MIT")
    assert (p1["CompatibleRuntimes"], p1["CompatibleArchitectures"]) == (["python3.12"], ["x86_64"])
    assert p1["Content"]["CodeSha256"] == sha256_b64(zip_bytes)
    assert p1["Content"]["CodeSize"] == len(zip_bytes)
    assert LAST_MODIFIED_RE.match(p1["CreatedDate"]), p1["CreatedDate"]
    assert download(p1["Content"]["Location"]) == zip_bytes

    # The same content again is a new version (AWS: no dedup for layers).
    p2 = publish(lam, layer, zip_bytes, Description="a description", LicenseInfo="MIT")
    assert p2["Version"] == 2 and p2["LayerVersionArn"] == layer_arn(layer, 2)
    assert p2["Content"]["CodeSha256"] == p1["Content"]["CodeSha256"]
    assert_shape(recorded(LAYERS, T_LIFECYCLE, "publish_result_2"), p2)

    upd = lam.update_function_configuration(FunctionName=fname, Layers=[p1["LayerVersionArn"]])
    assert upd["Layers"] == [{"Arn": layer_arn(layer, 1), "CodeSize": len(zip_bytes)}], upd.get("Layers")
    rec = without(recorded(LAYERS, T_LIFECYCLE, "update_fn_config"), "Environment")
    assert_shape(rec, upd, ignore=("LastUpdateStatusReason", "LastUpdateStatusReasonCode"))
    conf = lam.get_function_configuration(FunctionName=fname)
    assert conf["Layers"] == upd["Layers"]
    assert_shape(without(recorded(LAYERS, T_LIFECYCLE, "get_fn_config"), "Environment"), conf)

    got = lam.get_layer_version(LayerName=layer, VersionNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_shape(recorded(LAYERS, T_LIFECYCLE, "get_layer_ver_result"), got)
    by_arn = lam.get_layer_version_by_arn(Arn=p1["LayerVersionArn"])
    assert_shape(recorded(LAYERS, T_LIFECYCLE, "get_layer_by_arn_version"), by_arn)
    for resp in (got, by_arn):
        ours = {k: v for k, v in strip_meta(resp).items() if k != "Content"}
        want = {k: v for k, v in strip_meta(p1).items() if k != "Content"}
        assert ours == want
        assert {k: v for k, v in resp["Content"].items() if k != "Location"} == {
            k: v for k, v in p1["Content"].items() if k != "Location"}
        assert download(resp["Content"]["Location"]) == zip_bytes

    listed = lam.list_layer_versions(LayerName=layer)
    assert "NextMarker" not in listed
    assert [v["Version"] for v in listed["LayerVersions"]] == [2, 1], "newest first"
    rec_list = recorded(LAYERS, T_LIFECYCLE, "list_layer_versions_predelete")["LayerVersions"]
    for r, ours in zip(rec_list, listed["LayerVersions"]):
        assert_shape(r, ours)
    assert listed["LayerVersions"][1]["LayerVersionArn"] == layer_arn(layer, 1)

    # Deleting a version a function uses leaves the function's configuration as it was.
    d1 = lam.delete_layer_version(LayerName=layer, VersionNumber=1)
    assert d1["ResponseMetadata"]["HTTPStatusCode"] == 204
    after = lam.get_function_configuration(FunctionName=fname)
    assert after["Layers"] == conf["Layers"] and after["RevisionId"] == conf["RevisionId"]
    assert lam.delete_layer_version(LayerName=layer, VersionNumber=2)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_layer_versions(LayerName=layer)["LayerVersions"] == []
    assert layer not in [x["LayerName"] for x in list_all(lam.list_layers, "Layers")]

    # Version numbers go on after every version was deleted.
    p3 = publish(lam, layer, zip_bytes, Description="a description", LicenseInfo="MIT")
    assert p3["Version"] == 3 and p3["LayerVersionArn"] == layer_arn(layer, 3)
    assert_shape(recorded(LAYERS, T_LIFECYCLE, "publish_result_3"), p3)


def test_layer_exceptions_match_aws(lam_novalidate):
    lam = lam_novalidate
    layer = unique("lyrexc")
    p = publish(lam, layer)
    assert_shape(recorded(LAYERS, T_EXC, "publish_result"), p)
    subs = {"resource:1": layer}

    status, code, message = recorded_error(LAYERS, T_EXC, "list_layers_exc_compatibleruntime_invalid")
    err = expect_error(lam.list_layers, CompatibleRuntime="runtimedoesnotexist", status=status, code=code)
    prefix = message[: message.index("[") + 1]
    assert err.message.startswith(prefix) and err.message.endswith("]"), err
    for rt in ("python3.12", "nodejs20.x", "provided.al2023", "java21"):
        assert rt in err.message, f"{rt} missing from the enum in {err.message!r}"
    status, code, message = recorded_error(LAYERS, T_EXC, "list_layers_exc_compatiblearchitecture_invalid")
    expect_error(lam.list_layers, CompatibleArchitecture="archdoesnotexist", status=status, code=code,
                 message=message)

    empty = lam.list_layer_versions(LayerName=unique("layerdoesnotexist"))
    assert empty["ResponseMetadata"]["HTTPStatusCode"] == 200 and empty["LayerVersions"] == []
    assert "NextMarker" not in empty

    status, code, message = recorded_error(LAYERS, T_EXC, "get_layer_version_exc_layer_doesnotexist")
    expect_error(lam.get_layer_version, LayerName=unique("layerdoesnotexist"), VersionNumber=1, status=status,
                 code=code, message=message)
    for n, key in ((-1, "get_layer_version_exc_layer_version_doesnotexist_negative"),
                   (0, "get_layer_version_exc_layer_version_doesnotexist_zero")):
        status, code, message = recorded_error(LAYERS, T_EXC, key)
        expect_error(lam.get_layer_version, LayerName=layer, VersionNumber=n, status=status, code=code,
                     message=message)
    status, code, message = recorded_error(LAYERS, T_EXC, "get_layer_version_exc_layer_version_doesnotexist_2")
    expect_error(lam.get_layer_version, LayerName=layer, VersionNumber=2, status=status, code=code, message=message)

    status, code, message = recorded_error(LAYERS, T_EXC, "get_layer_version_by_arn_exc_invalidarn", subs)
    expect_error(lam.get_layer_version_by_arn, Arn=p["LayerArn"], status=status, code=code, message=message)
    status, code, message = recorded_error(LAYERS, T_EXC, "get_layer_version_by_arn_exc_nonexistentversion")
    expect_error(lam.get_layer_version_by_arn, Arn=f"{p['LayerArn']}:2", status=status, code=code, message=message)

    before = layer_state(lam, layer)
    for kw in (dict(LayerName=unique("layerdoesnotexist"), VersionNumber=1), dict(LayerName=layer, VersionNumber=2)):
        assert lam.delete_layer_version(**kw)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert layer_state(lam, layer) == before
    status, code, message = recorded_error(LAYERS, T_EXC, "delete_layer_version_exc_layerversion_invalid_version")
    expect_error(lam.delete_layer_version, LayerName=layer, VersionNumber=-1, status=status, code=code,
                 message=message)
    assert layer_state(lam, layer) == before

    assert lam.delete_layer_version(LayerName=layer, VersionNumber=1)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.delete_layer_version(LayerName=layer, VersionNumber=1)["ResponseMetadata"]["HTTPStatusCode"] == 204
    status, code, message = recorded_error(LAYERS, T_EXC, "get_layer_version_exc_layer_doesnotexist")
    expect_error(lam.get_layer_version, LayerName=layer, VersionNumber=1, status=status, code=code, message=message)

    # Empty compatibility lists are valid, and come back empty.
    empty_layer = unique("lyrempty")
    pe = lam.publish_layer_version(LayerName=empty_layer, Content={"ZipFile": dummy_layer()},
                                   CompatibleRuntimes=[], CompatibleArchitectures=[])
    assert (pe["CompatibleRuntimes"], pe["CompatibleArchitectures"]) == ([], []), pe
    assert_shape(recorded(LAYERS, T_EXC, "publish_empty_result"), pe)


@pytest.mark.parametrize("key,runtimes,archs", [
    ("publish_layer_version_exc_invalid_runtime_arch", ["invalidruntime"], ["invalidarch"]),
    ("publish_layer_version_exc_partially_invalid_values", ["invalidruntime", "invalidruntime2", "nodejs20.x"],
     ["invalidarch", "x86_64"]),
])
def test_publish_layer_invalid_compatibilities(lam_novalidate, key, runtimes, archs):
    lam = lam_novalidate
    layer = unique("lyrbad")
    before = layer_state(lam, layer)
    status, code, message = recorded_error(LAYERS, T_EXC, key)
    err = expect_error(lam.publish_layer_version, LayerName=layer, Content={"ZipFile": dummy_layer()},
                       CompatibleRuntimes=runtimes, CompatibleArchitectures=archs, status=status, code=code)
    # The runtime enum is AWS's current list (its order is AWS's own); the rest is exact.
    head = message[: message.index("enum value set: [") + len("enum value set: [")]
    tail = message[message.index("]; Value '"):]
    assert err.message.startswith(head), f"want {head!r}..., got {err.message!r}"
    assert err.message.endswith(tail), f"want ...{tail!r}, got {err.message!r}"
    assert layer_state(lam, layer) == before


def test_layer_compatibilities(lam):
    rec = recorded(LAYERS, T_COMPAT, "publish_result")
    # The runtimes of that (older) recording that AWS still accepts today: the enum of its newer
    # recorded PublishLayerVersion error.
    enum_msg = recorded(LAYERS, T_EXC, "publish_layer_version_exc_invalid_runtime_arch")["Error"]["Message"]
    current = enum_msg.split("enum value set: [", 1)[1].split("]", 1)[0].split(", ")
    runtimes = [r for r in rec["CompatibleRuntimes"] if r in current]
    assert len(runtimes) >= 10, runtimes
    layer = unique("lyrcompat")
    p = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": dummy_layer()}, CompatibleRuntimes=runtimes,
                                  CompatibleArchitectures=["arm64", "x86_64"])
    assert p["CompatibleRuntimes"] == runtimes
    assert p["CompatibleArchitectures"] == ["arm64", "x86_64"]
    assert_shape(rec, p)


def test_layer_name_as_arn(lam):
    layer = unique("lyrarn")
    p = publish(lam, layer)
    got = lam.get_layer_version(LayerName=p["LayerArn"], VersionNumber=1)
    assert got["LayerVersionArn"] == layer_arn(layer, 1)
    listed = lam.list_layer_versions(LayerName=p["LayerArn"])
    assert [v["Version"] for v in listed["LayerVersions"]] == [1]
    p2 = lam.publish_layer_version(LayerName=p["LayerArn"], Content={"ZipFile": dummy_layer()})
    assert p2["LayerVersionArn"] == layer_arn(layer, 2)


# ---------------------------------------------------------------------------------------------
# ListLayers / ListLayerVersions: filters and pages
# ---------------------------------------------------------------------------------------------


def test_list_filters_and_pages(lam):
    a, b = unique("lyrfa"), unique("lyrfb")
    publish(lam, a, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"], Description="a1")
    publish(lam, a, CompatibleRuntimes=["nodejs20.x"], CompatibleArchitectures=["arm64"], Description="a2")
    publish(lam, a, CompatibleRuntimes=["python3.12", "nodejs20.x"], CompatibleArchitectures=["arm64"],
            Description="a3")
    publish(lam, b, CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["x86_64", "arm64"], Description="b1")

    def versions(name, **kw):
        return [v["Version"] for v in list_all(lam.list_layer_versions, "LayerVersions", LayerName=name, **kw)]

    assert versions(a) == [3, 2, 1]
    assert versions(a, CompatibleRuntime="python3.12") == [3, 1]
    assert versions(a, CompatibleRuntime="nodejs20.x") == [3, 2]
    assert versions(a, CompatibleArchitecture="x86_64") == [1]
    assert versions(a, CompatibleArchitecture="arm64") == [3, 2]
    assert versions(a, CompatibleRuntime="python3.12", CompatibleArchitecture="x86_64") == [1]
    assert versions(a, CompatibleRuntime="java21") == []

    pages, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = lam.list_layer_versions(LayerName=a, MaxItems=2, **kw)
        pages.append([v["Version"] for v in page["LayerVersions"]])
        marker = page.get("NextMarker")
        if not marker:
            assert "NextMarker" not in page
            break
    assert pages == [[3, 2], [1]], pages

    def latest(**kw):
        return {x["LayerName"]: x for x in list_all(lam.list_layers, "Layers", **kw) if x["LayerName"] in (a, b)}

    everything = latest()
    assert set(everything) == {a, b}
    item = everything[a]
    assert item["LayerArn"] == layer_arn(a)
    lmv = item["LatestMatchingVersion"]
    assert (lmv["Version"], lmv["LayerVersionArn"], lmv["Description"]) == (3, layer_arn(a, 3), "a3"), item
    rec_item = recorded(LAYERS, T_LIFECYCLE, "list_layer_versions_predelete")["LayerVersions"][0]
    assert_shape(without(rec_item, "LicenseInfo"), lmv)
    assert sorted(item) == ["LatestMatchingVersion", "LayerArn", "LayerName"], item

    assert {k: v["LatestMatchingVersion"]["Version"] for k, v in latest(CompatibleRuntime="python3.12").items()} == {a: 3}
    assert {k: v["LatestMatchingVersion"]["Version"] for k, v in latest(CompatibleArchitecture="x86_64").items()} == {a: 1, b: 1}
    assert {k: v["LatestMatchingVersion"]["Version"]
            for k, v in latest(CompatibleRuntime="nodejs20.x", CompatibleArchitecture="arm64").items()} == {a: 3}
    assert latest(CompatibleRuntime="java21") == {}

    full = lam.get_paginator("list_layers").paginate(PaginationConfig={"PageSize": 1}).build_full_result()
    names = [x["LayerName"] for x in full["Layers"]]
    assert a in names and b in names and len(names) == len(set(names)), names


# ---------------------------------------------------------------------------------------------
# Layers in function configurations: Lambda's errors, nothing changed
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_versions(lam):
    layer = unique("lyrthree")
    arns = [publish(lam, layer, CompatibleRuntimes=[])["LayerVersionArn"] for _ in range(3)]
    fname = unique("lyrvictim")
    deploy_probe(lam, fname)
    return layer, arns, fname


def _function_layer_cases(layer: str, arns: list) -> list:
    other_region = arns[0].replace(f":{REGION}:", ":eu-west-1:")
    return [
        ("two_layer_versions_single_function_exc", [arns[0], arns[1]]),
        ("three_layer_versions_single_function_exc", [arns[0], arns[1], arns[2]]),
        ("two_identical_layer_versions_single_function_exc", [arns[0], arns[0]]),
        ("add_nonexistent_layer_exc", [layer_arn("doesnotexist", 1)]),
        ("add_nonexistent_layer_version_exc", [layer_arn(layer, 9)]),
        ("add_layer_arn_without_version_exc", [layer_arn(layer)]),
        ("create_function_with_layer_in_different_region", [other_region]),
    ]


FN_CASES = ["two_layer_versions_single_function_exc", "three_layer_versions_single_function_exc",
            "two_identical_layer_versions_single_function_exc", "add_nonexistent_layer_exc",
            "add_nonexistent_layer_version_exc", "add_layer_arn_without_version_exc",
            "create_function_with_layer_in_different_region"]


@pytest.mark.parametrize("key", FN_CASES)
@pytest.mark.parametrize("op", ["create", "update_config"])
def test_function_layer_errors(lam, three_versions, key, op):
    layer, arns, victim = three_versions
    layers = dict(_function_layer_cases(layer, arns))[key]
    status, code, message = recorded_error(LAYERS, T_FN_EXC, key, {"resource:1": layer})
    before = snapshot_state(lam, victim)
    if op == "create":
        new = unique("lyrbadfn")
        expect_error(deploy_probe, lam, new, Layers=layers, status=status, code=code, message=message)
    else:
        expect_error(lam.update_function_configuration, FunctionName=victim, Layers=layers, status=status, code=code,
                     message=message)
    assert snapshot_state(lam, victim) == before, "a refused request changed something"


@pytest.mark.parametrize("op", ["create", "update_config"])
def test_more_than_five_layers(lam, three_versions, op):
    _, _, victim = three_versions
    arns = [publish(lam, unique(f"lyr6{i}"), CompatibleRuntimes=[])["LayerVersionArn"] for i in range(6)]
    status, code, message = recorded_error(LAYERS, T_QUOTA, "create_function_with_six_layers")
    before = snapshot_state(lam, victim)
    if op == "create":
        expect_error(deploy_probe, lam, unique("lyr6fn"), Layers=arns, status=status, code=code, message=message)
    else:
        expect_error(lam.update_function_configuration, FunctionName=victim, Layers=arns, status=status, code=code,
                     message=message)
    assert snapshot_state(lam, victim) == before
    # Five is fine, and kept in order.
    upd = lam.update_function_configuration(FunctionName=victim, Layers=arns[:5])
    assert [x["Arn"] for x in upd["Layers"]] == arns[:5]
    lam.update_function_configuration(FunctionName=victim, Layers=[])


# ---------------------------------------------------------------------------------------------
# Layer zips: the same safety checks as function zips
# ---------------------------------------------------------------------------------------------


def _info(name, mode=0o100644):
    zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    zi.create_system = 3
    zi.external_attr = mode << 16
    zi.compress_type = zipfile.ZIP_DEFLATED
    return zi


def zeros_zip(name: str, size: int, extra: dict | None = None) -> bytes:
    """A zip holding `size` zero bytes in `name` (deflated to a few hundred KB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k, v in (extra or {}).items():
            zf.writestr(_info(k), v)
        chunk = bytes(1 << 20)
        with zf.open(_info(name), "w", force_zip64=True) as w:
            left = size
            while left:
                n = min(left, len(chunk))
                w.write(chunk[:n])
                left -= n
    return buf.getvalue()


def bad_layer_zip(kind: str) -> bytes:
    if kind == "not_a_zip":
        return b"this is certainly not a zip archive\n" * 20
    entries = {
        "absolute_path": [(_info("/etc/evil.py"), "x = 1\n")],
        "dotdot_path": [(_info("../../evil.py"), "x = 1\n")],
        "dotdot_inside_path": [(_info("python/../../../evil.py"), "x = 1\n")],
        "symlink": [(_info("python/link", mode=0o120777), "/etc/passwd")],
    }
    if kind == "bomb":
        return zeros_zip("python/zeros.bin", 300 << 20, {"python/ok.py": "x = 1\n"})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_info("python/ok.py"), "x = 1\n")
        for info, data in entries[kind]:
            zf.writestr(info, data)
    return buf.getvalue()


ZIP_CASES = [
    ("not_a_zip", NOT_A_ZIP, ()),
    ("absolute_path", None, ("absolute", "/etc/evil.py")),
    ("dotdot_path", None, ("..", "parent", "outside")),
    ("dotdot_inside_path", None, ("..", "parent", "outside")),
    ("symlink", None, ("symlink", "symbolic link", "link")),
    ("bomb", None, (UNZIPPED_TOO_BIG,)),
]


@pytest.mark.parametrize("kind,message,any_of", ZIP_CASES, ids=[c[0] for c in ZIP_CASES])
def test_layer_zip_safety(lam, kind, message, any_of):
    layer = unique("lyrzip")
    before = layer_state(lam, layer)
    err = expect_error(lam.publish_layer_version, LayerName=layer, Content={"ZipFile": bad_layer_zip(kind)},
                       status=400, code="InvalidParameterValueException", message=message)
    if any_of:
        assert any(a.lower() in err.message.lower() for a in any_of), f"message should mention one of {any_of}: {err}"
    if kind == "bomb":
        assert err.message.startswith(UNZIPPED_TOO_BIG), err
    assert layer_state(lam, layer) == before, "a refused PublishLayerVersion changed something"


def unzipped_size(z: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(z)) as zf:
        return sum(i.file_size for i in zf.infolist())


def test_code_size_limit_counts_layers(lam):
    """250 MB unzipped for the function and its layers together (lambda-compat.md §7)."""
    big1 = zeros_zip("data/one.bin", 130 << 20)
    big2 = zeros_zip("data/two.bin", 130 << 20)
    l1 = publish(lam, unique("lyrbig"), big1, CompatibleRuntimes=[])["LayerVersionArn"]
    l2 = publish(lam, unique("lyrbig"), big2, CompatibleRuntimes=[])["LayerVersionArn"]
    code = probe_zip("size")
    name = unique("lyrsize")
    deploy_probe(lam, name, mark="size", Layers=[l1])  # 130 MiB + a little: fine
    total = unzipped_size(code) + unzipped_size(big1) + unzipped_size(big2)
    assert total > LIMIT
    message = (f"Function code combined with layers exceeds the maximum allowed size of {LIMIT} bytes. "
               f"The actual size is {total} bytes.")

    before = snapshot_state(lam, name)
    expect_error(lam.update_function_configuration, FunctionName=name, Layers=[l1, l2], status=400,
                 code="InvalidParameterValueException", message=message)
    expect_error(deploy_probe, lam, unique("lyrsize"), mark="size", Layers=[l1, l2], status=400,
                 code="InvalidParameterValueException", message=message)
    # Code that fits alone but not with the layer already configured.
    code_big = zeros_zip("blob.bin", 125 << 20, {"probe.py": probe_zip_source()})
    total2 = unzipped_size(code_big) + unzipped_size(big1)
    assert total2 > LIMIT
    expect_error(lam.update_function_code, FunctionName=name, ZipFile=code_big, status=400,
                 code="InvalidParameterValueException",
                 message=(f"Function code combined with layers exceeds the maximum allowed size of {LIMIT} bytes. "
                          f"The actual size is {total2} bytes."))
    assert snapshot_state(lam, name) == before


def probe_zip_source() -> str:
    with zipfile.ZipFile(io.BytesIO(probe_zip("size"))) as zf:
        return zf.read("probe.py").decode()


# ---------------------------------------------------------------------------------------------
# What functions see at /opt
# ---------------------------------------------------------------------------------------------

PY_EVENT = {
    "imports": ["jmespath", "layer_direct"],
    "run": [["layer-tool", "arg"]],
    "libs": ["liblayertest.so"],
}


def test_python_layer_package_bin_and_lib(lam):
    layer = unique("lyrpy")
    p = publish(lam, layer, python_layer_zip("python3.12"))
    with_layer, without_layer = unique("lyrpyfn"), unique("lyrpyno")
    deploy_probe(lam, with_layer, handler="probe.opt", Layers=[p["LayerVersionArn"]])
    deploy_probe(lam, without_layer, handler="probe.opt")

    body = opt_probe(lam, with_layer, dict(PY_EVENT, jmespath={"expr": "a.b[1]", "data": {"a": {"b": [1, 42]}}}))
    site = "/opt/python/lib/python3.12/site-packages"
    assert body["imports"]["jmespath"].get("file") == f"{site}/jmespath/__init__.py", body["imports"]
    assert body["jmespath"] == 42
    assert body["imports"]["layer_direct"] == {"file": "/opt/python/layer_direct.py", "value": "direct-from-layer"}
    assert site in body["sys_path"] and "/opt/python" in body["sys_path"], body["sys_path"]
    assert body["run"]["layer-tool"] == {"rc": 0, "out": "layer-tool /opt/bin/layer-tool arg\n", "err": ""}, body["run"]
    assert "/opt/bin" in (body["PATH"] or "").split(":"), body["PATH"]
    assert "/opt/lib" in (body["LD_LIBRARY_PATH"] or "").split(":"), body["LD_LIBRARY_PATH"]
    assert body["libs"] == {"liblayertest.so": "loaded"}, body["libs"]
    assert body["write"] != "ok", "/opt must be read-only"
    assert "/opt/bin/layer-tool" in body["listing"] and "/opt/lib/liblayertest.so" in body["listing"]

    # A function without the layer sees none of it.
    other = opt_probe(lam, without_layer, PY_EVENT)
    assert other["listing"] == [], f"a function without layers sees {other['listing'][:20]} under /opt"
    assert "error" in other["imports"]["jmespath"] and "ModuleNotFoundError" in other["imports"]["jmespath"]["error"]
    assert "ModuleNotFoundError" in other["imports"]["layer_direct"].get("error", ""), other["imports"]
    assert "FileNotFoundError" in other["run"]["layer-tool"].get("error", ""), other["run"]
    assert other["libs"]["liblayertest.so"].startswith("error"), other["libs"]
    assert other["write"] != "ok"


def test_node_layer_module(lam):
    layer = unique("lyrnode")
    p = publish(lam, layer, node_layer_zip(), CompatibleRuntimes=["nodejs20.x"])
    with_layer, without_layer = unique("lyrnodefn"), unique("lyrnodeno")
    deploy(lam, with_layer, node_probe_zip(), "nodejs20.x", "index.handler", Layers=[p["LayerVersionArn"]])
    deploy(lam, without_layer, node_probe_zip(), "nodejs20.x", "index.handler")

    inv, body = invoke_json(lam, with_layer, json.dumps({"require": ["layer-greeter"]}).encode())
    assert body["requires"]["layer-greeter"] == {
        "value": "hello node from the layer", "path": "/opt/nodejs/node_modules/layer-greeter/index.js"}, body
    assert "/opt/nodejs/node_modules" in (body["nodePath"] or "").split(":"), body["nodePath"]
    assert body["opt"] == ["nodejs"], body["opt"]

    inv, body = invoke_json(lam, without_layer, json.dumps({"require": ["layer-greeter"]}).encode())
    assert body["requires"]["layer-greeter"] == {"error": "MODULE_NOT_FOUND"}, body
    assert body["opt"] in ([], "ENOENT"), body["opt"]


def test_layers_merge_in_order(lam):
    la = publish(lam, unique("lyrA"), file_layer_zip({
        "shared.txt": "A", "a_only.txt": "a", "python/which_layer.py": "VALUE = 'A'\n"}))["LayerVersionArn"]
    lb = publish(lam, unique("lyrB"), file_layer_zip({
        "shared.txt": "B", "b_only.txt": "b", "python/which_layer.py": "VALUE = 'B'\n"}))["LayerVersionArn"]
    name = unique("lyrorder")
    created = deploy_probe(lam, name, handler="probe.opt", Layers=[la, lb])
    assert [x["Arn"] for x in created["Layers"]] == [la, lb]
    event = {"read": ["/opt/shared.txt", "/opt/a_only.txt", "/opt/b_only.txt"], "imports": ["which_layer"]}

    body = opt_probe(lam, name, event)
    assert body["read"] == {"/opt/shared.txt": "B", "/opt/a_only.txt": "a", "/opt/b_only.txt": "b"}, body["read"]
    assert body["imports"]["which_layer"]["value"] == "B"
    assert body["write"] != "ok", "/opt must be read-only"

    upd = lam.update_function_configuration(FunctionName=name, Layers=[lb, la])
    assert [x["Arn"] for x in upd["Layers"]] == [lb, la]
    body = opt_probe(lam, name, event)
    assert body["read"]["/opt/shared.txt"] == "A" and body["imports"]["which_layer"]["value"] == "A", body

    lam.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in lam.get_function_configuration(FunctionName=name) or \
        lam.get_function_configuration(FunctionName=name)["Layers"] == []
    body = opt_probe(lam, name, event)
    assert body["listing"] == [] and body["read"]["/opt/shared.txt"] is None, body


def test_deleted_layer_version_keeps_working(lam):
    layer = unique("lyrdel")
    v1 = publish(lam, layer, file_layer_zip({"marker.txt": "L1"}))["LayerVersionArn"]
    name = unique("lyrdelfn")
    deploy_probe(lam, name, handler="probe.opt", Layers=[v1], Publish=True)  # version 1 uses layer version 1
    v2 = publish(lam, layer, file_layer_zip({"marker.txt": "L2"}))["LayerVersionArn"]
    lam.update_function_configuration(FunctionName=name, Layers=[v2])
    event = {"read": ["/opt/marker.txt"]}
    assert opt_probe(lam, name, event)["read"]["/opt/marker.txt"] == "L2"
    assert opt_probe(lam, name, event, qualifier="1")["read"]["/opt/marker.txt"] == "L1", "versions pin their layers"
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Layers"][0]["Arn"] == v1

    lam.delete_layer_version(LayerName=layer, VersionNumber=1)
    expect_error(lam.get_layer_version_by_arn, Arn=v1, status=404, code="ResourceNotFoundException")
    # Version 1 still runs with it (its environment may be the warm one; the restart test checks
    # new environments after a restart).
    assert opt_probe(lam, name, event, qualifier="1")["read"]["/opt/marker.txt"] == "L1"
    status, code, message = recorded_error(LAYERS, T_FN_EXC, "add_nonexistent_layer_version_exc",
                                           {"resource:1": layer})
    expect_error(lam.update_function_configuration, FunctionName=name, Layers=[v1], status=status, code=code,
                 message=message.replace(":9 ", ":1 "))
    expect_error(deploy_probe, lam, unique("lyrdelnew"), Layers=[v1], status=status, code=code,
                 message=message.replace(":9 ", ":1 "))

    # $LATEST keeps a deleted layer version too, across updates that start new environments.
    lam.delete_layer_version(LayerName=layer, VersionNumber=2)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "new-env"}})
    assert lam.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"] == v2
    body = opt_probe(lam, name, event)
    assert body["read"]["/opt/marker.txt"] == "L2", body
    # A version published now keeps the deleted layer version as well.
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    assert opt_probe(lam, name, event, qualifier="2")["read"]["/opt/marker.txt"] == "L2"


# ---------------------------------------------------------------------------------------------
# The AWS CLI
# ---------------------------------------------------------------------------------------------


def cli_json(server, *args):
    proc = aws_cli(server.endpoint, "lambda", *args)
    assert proc.returncode == 0, f"aws lambda {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def test_cli_layers(server, lam, tmp_path):
    layer = unique("clilyr")
    zpath = tmp_path / "layer.zip"
    zpath.write_bytes(dummy_layer())
    p = cli_json(server, "publish-layer-version", "--layer-name", layer, "--zip-file", f"fileb://{zpath}",
                 "--compatible-runtimes", "python3.12", "python3.11", "--compatible-architectures", "x86_64",
                 "--description", "cli layer", "--license-info", "MIT")
    assert (p["Version"], p["LayerVersionArn"], p["Description"]) == (1, layer_arn(layer, 1), "cli layer"), p
    assert p["CompatibleRuntimes"] == ["python3.12", "python3.11"]
    listed = cli_json(server, "list-layer-versions", "--layer-name", layer, "--compatible-runtime", "python3.11")
    assert [v["Version"] for v in listed["LayerVersions"]] == [1], listed
    got = cli_json(server, "get-layer-version-by-arn", "--arn", layer_arn(layer, 1))
    assert got["Content"]["CodeSha256"] == p["Content"]["CodeSha256"]
    layers = cli_json(server, "list-layers", "--compatible-runtime", "python3.11")
    assert layer in [x["LayerName"] for x in layers["Layers"]], layers
    assert cli_json(server, "delete-layer-version", "--layer-name", layer, "--version-number", "1") is None
    proc = aws_cli(server.endpoint, "lambda", "get-layer-version", "--layer-name", layer, "--version-number", "1")
    assert proc.returncode != 0 and "ResourceNotFoundException" in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------------------------
# Restart
# ---------------------------------------------------------------------------------------------


def _without_locations(obj):
    if isinstance(obj, dict):
        return {k: _without_locations(v) for k, v in obj.items() if k not in ("Location", "ResponseMetadata")}
    if isinstance(obj, list):
        return [_without_locations(v) for v in obj]
    return obj


def test_restart_keeps_versions_aliases_and_layers(tmp_path):
    """Publish, alias, layer; SIGTERM; start again on the same data directory: everything is
    still there, unchanged, and invokable (a deleted layer version still in use included)."""
    srv = Server.start(tmp_path / "data")
    try:
        lam = lambda_client(srv.endpoint)
        layer, gone = unique("rstlyr"), unique("rstgone")
        lv = publish(lam, layer, file_layer_zip({"marker.txt": "kept"}))
        gv = publish(lam, gone, file_layer_zip({"gone.txt": "still here"}))
        name = unique("rstfn")
        deploy_probe(lam, name, mark="one", handler="probe.opt", Layers=[lv["LayerVersionArn"]],
                     Environment={"Variables": {"STAGE": "one"}}, Publish=True)
        lam.update_function_code(FunctionName=name, ZipFile=probe_zip("two"))
        lam.update_function_configuration(FunctionName=name, Layers=[lv["LayerVersionArn"], gv["LayerVersionArn"]],
                                          Environment={"Variables": {"STAGE": "two"}})
        assert lam.publish_version(FunctionName=name)["Version"] == "2"
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        lam.create_alias(FunctionName=name, Name="stable", FunctionVersion="2", Description="the second")
        lam.delete_layer_version(LayerName=gone, VersionNumber=1)

        def state():
            return _without_locations({
                "versions": list_all(lam.list_versions_by_function, "Versions", FunctionName=name),
                "aliases": list_all(lam.list_aliases, "Aliases", FunctionName=name),
                "alias": lam.get_alias(FunctionName=name, Name="live"),
                "layer": lam.get_layer_version(LayerName=layer, VersionNumber=1),
                "layer_versions": lam.list_layer_versions(LayerName=layer),
                "gone": lam.list_layer_versions(LayerName=gone),
                "function": lam.get_function(FunctionName=name, Qualifier="stable"),
            })

        before = state()
        assert srv.stop() == 0, f"lambent exited with {srv.proc.returncode} after SIGTERM"

        srv = Server.start(tmp_path / "data")
        lam = lambda_client(srv.endpoint)
        after = state()
        assert after == before, "the store changed across a restart"
        assert download(lam.get_layer_version(LayerName=layer, VersionNumber=1)["Content"]["Location"]) == \
            file_layer_zip({"marker.txt": "kept"})

        event = {"read": ["/opt/marker.txt", "/opt/gone.txt"]}
        inv, body = invoke_json(lam, name, json.dumps(event).encode(), qualifier="stable")
        assert inv.executed_version == "2" and body["mark"] == "two"
        assert body["read"] == {"/opt/marker.txt": "kept", "/opt/gone.txt": "still here"}, body["read"]
        inv, body = invoke_json(lam, name, json.dumps(event).encode(), qualifier="1")
        assert body["mark"] == "one" and body["read"] == {"/opt/marker.txt": "kept", "/opt/gone.txt": None}
        seen = set()
        for _ in range(40):
            inv, body = invoke_json(lam, name, json.dumps(event).encode(), qualifier="live")
            seen.add(inv.executed_version)
            if seen == {"1", "2"}:
                break
        assert seen == {"1", "2"}, f"the alias's routing did not survive the restart: only {seen} ran"
        # Numbering goes on where it was.
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "three"}})
        assert lam.publish_version(FunctionName=name)["Version"] == "3"
        assert publish(lam, layer)["Version"] == 2
        assert publish(lam, gone)["Version"] == 2
    finally:
        if srv.running():
            srv.stop()
