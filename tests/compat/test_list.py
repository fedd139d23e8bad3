"""ListFunctions pagination over 60 functions: the boto3 paginator, hand-driven Marker/MaxItems
and `aws lambda list-functions`. The server of this module holds exactly these 60 functions."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from lambent_util import aws_cli, create_function, lambda_client, make_zip

COUNT = 60
AWS_PAGE_MAX = 50


@pytest.fixture(scope="module")
def sixty(server, lam):
    # Created in a shuffled order, by a few threads, so sorted output is the server's doing.
    names = [f"list-{i:02d}-{'abcdefghij'[i % 10]}" for i in range(COUNT)]
    order = names[::2][::-1] + names[1::2]
    zip_bytes = make_zip(marker="list")

    def make(n):
        create_function(lambda_client(server.endpoint), n, zip_bytes)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(make, order))
    return sorted(names)


def test_default_page_is_50(lam, sixty):
    first = lam.list_functions()
    assert len(first["Functions"]) == AWS_PAGE_MAX
    assert first.get("NextMarker"), "a first page of 50 out of 60 must carry NextMarker"
    second = lam.list_functions(Marker=first["NextMarker"])
    assert len(second["Functions"]) == COUNT - AWS_PAGE_MAX
    assert "NextMarker" not in second, f"last page carries NextMarker={second.get('NextMarker')!r}"
    names = [f["FunctionName"] for f in first["Functions"] + second["Functions"]]
    assert names == sixty


def test_max_items_above_50_is_capped(lam, sixty):
    page = lam.list_functions(MaxItems=1000)
    assert len(page["Functions"]) == AWS_PAGE_MAX
    assert page.get("NextMarker")


def test_paginator(lam, sixty):
    pages = list(lam.get_paginator("list_functions").paginate())
    names = [f["FunctionName"] for p in pages for f in p["Functions"]]
    assert names == sixty, "every function exactly once, sorted by name"
    assert "NextMarker" not in pages[-1]

    pages = list(lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 7}))
    assert [len(p["Functions"]) for p in pages] == [7] * 8 + [4]
    names = [f["FunctionName"] for p in pages for f in p["Functions"]]
    assert names == sixty


@pytest.mark.parametrize("max_items", [1, 7, 13, 50, 59, 60])
def test_manual_marker(lam, sixty, max_items):
    seen, marker, pages = [], None, 0
    while True:
        kw = {"MaxItems": max_items}
        if marker:
            kw["Marker"] = marker
        page = lam.list_functions(**kw)
        pages += 1
        assert 1 <= len(page["Functions"]) <= max_items, f"page of {len(page['Functions'])} for MaxItems={max_items}"
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            assert "NextMarker" not in page, "the last page must leave NextMarker out, not send null"
            break
        assert pages <= COUNT, "pagination does not end"
    assert seen == sixty
    assert pages == -(-COUNT // min(max_items, AWS_PAGE_MAX))


def test_cli_list_functions(server, sixty):
    r = aws_cli(server.endpoint, "lambda", "list-functions")
    assert r.returncode == 0, r.stderr
    names = [f["FunctionName"] for f in json.loads(r.stdout)["Functions"]]
    assert names == sixty

    r = aws_cli(server.endpoint, "lambda", "list-functions", "--page-size", "7")
    assert r.returncode == 0, r.stderr
    assert [f["FunctionName"] for f in json.loads(r.stdout)["Functions"]] == sixty

    r = aws_cli(server.endpoint, "lambda", "list-functions", "--max-items", "10")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [f["FunctionName"] for f in out["Functions"]] == sixty[:10]
    assert out.get("NextToken")


def test_function_version_all(lam, sixty):
    """FunctionVersion=ALL lists every version; with none published that is each $LATEST, whose
    FunctionArn then carries the :$LATEST qualifier (as recorded from AWS)."""
    from lambent_util import recorded

    rec = recorded("function_crud.json", "TestLambdaFunction::test_list_functions", "list_all")["Functions"]
    assert any(f["FunctionArn"].endswith(":$LATEST") and f["Version"] == "$LATEST" for f in rec)
    pages = list(lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"))
    items = [f for p in pages for f in p["Functions"]]
    assert sorted(f["FunctionName"] for f in items) == sixty
    for f in items:
        assert f["Version"] == "$LATEST"
        assert f["FunctionArn"].endswith(f":function:{f['FunctionName']}:$LATEST"), f["FunctionArn"]


def test_function_version_invalid(lam, sixty):
    from lambent_util import expect_error

    expect_error(lam.list_functions, FunctionVersion="invalid", status=400, code="ValidationException",
                 message="1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy "
                 "constraint: Member must satisfy enum value set: [ALL]")
