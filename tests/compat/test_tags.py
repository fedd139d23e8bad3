"""TagResource / UntagResource / ListTags and tags in CreateFunction and GetFunction, against
tags.json."""

from __future__ import annotations

import pytest

from lambent_util import (
    ACCOUNT,
    REGION,
    assert_shape,
    create_function,
    expect_error,
    not_found_message,
    recorded,
    store_snapshot,
    unique,
    without,
)

TAGS = "tags.json"
QUALIFIED = "Tags on function aliases and versions are not supported. Please specify a function ARN."


def arn_of(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def test_tags_on_create(lam):
    name = unique("tagc")
    create_function(lam, name, Tags={"testtag": "value-1"})
    got = lam.get_function(FunctionName=name)
    assert got["Tags"] == {"testtag": "value-1"}
    # The recorded function had an (empty) Environment, this one has none.
    aws = recorded(TAGS, "TestLambdaTag::test_create_tag_on_fn_create", "get_function_result")
    aws = dict(aws, Configuration=without(aws["Configuration"], "Environment"))
    assert_shape(aws, got)
    listed = lam.list_tags(Resource=arn_of(name))
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert listed["Tags"] == {"testtag": "value-1"}


def test_tag_lifecycle(lam):
    """The sequence of TestLambdaTag::test_tag_lifecycle[lambda_function], response by response."""
    name = unique("tagl")
    create_function(lam, name)
    arn = arn_of(name)
    rec = recorded(TAGS, "TestLambdaTag::test_tag_lifecycle[lambda_function]", "tag_single_response")
    assert rec["ResponseMetadata"]["HTTPStatusCode"] == 204

    def step(call, key):
        resp = call()
        want = recorded(TAGS, "TestLambdaTag::test_tag_lifecycle[lambda_function]", key)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == want["ResponseMetadata"]["HTTPStatusCode"], key
        tags = lam.list_tags(Resource=arn)["Tags"]
        want_tags = recorded(TAGS, "TestLambdaTag::test_tag_lifecycle[lambda_function]", key + "_listtags")["Tags"]
        assert tags == want_tags, key

    step(lambda: lam.tag_resource(Resource=arn, Tags={"A": "tag-a"}), "tag_single_response")
    step(lambda: lam.tag_resource(Resource=arn, Tags={"B": "tag-b", "C": "tag-c"}), "tag_multiple_response")
    step(lambda: lam.tag_resource(Resource=arn, Tags={"C": "tag-c-newsuffix", "D": "tag-d"}), "tag_overlap_response")
    assert lam.get_function(FunctionName=name)["Tags"] == {"A": "tag-a", "B": "tag-b", "C": "tag-c-newsuffix",
                                                           "D": "tag-d"}
    step(lambda: lam.untag_resource(Resource=arn, TagKeys=["A"]), "untag_single_response")
    step(lambda: lam.untag_resource(Resource=arn, TagKeys=["B", "C"]), "untag_multiple_response")
    step(lambda: lam.untag_resource(Resource=arn, TagKeys=["F"]), "untag_nonexisting_response")
    step(lambda: lam.untag_resource(Resource=arn, TagKeys=["D", "F"]), "untag_existing_and_nonexisting_response")
    assert lam.get_function(FunctionName=name).get("Tags", {}) == {}


def test_tag_values_with_special_characters(lam):
    name = unique("tagx")
    create_function(lam, name)
    arn = arn_of(name)
    tags = {"with space": "a b", "k/slash": "v=1+x@y:z", "unicode-é": "ü", "empty": ""}
    lam.tag_resource(Resource=arn, Tags=tags)
    assert lam.list_tags(Resource=arn)["Tags"] == tags
    lam.untag_resource(Resource=arn, TagKeys=["with space", "k/slash", "unicode-é"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"empty": ""}


@pytest.mark.parametrize("suffix", [":$LATEST", ":1", ":myalias"])
def test_tagging_qualified_arn_is_refused(lam, suffix):
    name = unique("tagq")
    create_function(lam, name, Tags={"keep": "me"})
    expect_error(lam.tag_resource, Resource=arn_of(name) + suffix, Tags={"a": "b"}, status=400,
                 code="InvalidParameterValueException", message=QUALIFIED)
    assert lam.list_tags(Resource=arn_of(name))["Tags"] == {"keep": "me"}


def test_tags_on_missing_function(lam):
    missing = unique("gone")
    arn = arn_of(missing)
    msg = not_found_message(missing)
    rec = recorded(TAGS, "TestLambdaTag::test_tag_exceptions[lambda_function]", "not_found_exception_tag")
    assert rec["ResponseMetadata"]["HTTPStatusCode"] == 404
    expect_error(lam.tag_resource, Resource=arn, Tags={"a": "b"}, status=404, code="ResourceNotFoundException",
                 message=msg)
    expect_error(lam.untag_resource, Resource=arn, TagKeys=["a"], status=404, code="ResourceNotFoundException",
                 message=msg)
    expect_error(lam.list_tags, Resource=arn, status=404, code="ResourceNotFoundException", message=msg)


def test_tags_after_delete(lam):
    name = unique("tagd")
    create_function(lam, name, Tags={"a": "b"})
    lam.delete_function(FunctionName=name)
    expect_error(lam.list_tags, Resource=arn_of(name), status=404, code="ResourceNotFoundException",
                 message=not_found_message(name))
    # A new function of the same name starts without the old tags.
    create_function(lam, name)
    assert lam.list_tags(Resource=arn_of(name))["Tags"] == {}


TAG_EXCEPTIONS = [
    # id, call(lam, lam_novalidate, arn), code, message (exact) or prefix
    ("invalid_arn", lambda lam, nv, arn: lam.tag_resource(Resource="arn:aws:something", Tags={"a": "b"}),
     "ValidationException",
     ("prefix", "1 validation error detected: Value 'arn:aws:something' at 'resource' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: ")),
    ("empty_tags", lambda lam, nv, arn: lam.tag_resource(Resource=arn, Tags={}),
     "InvalidParameterValueException", ("exact", "An error occurred and the request cannot be processed.")),
    ("untag_no_keys", lambda lam, nv, arn: nv.untag_resource(Resource=arn, TagKeys=[]),
     "ValidationException",
     ("exact", "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
               "Member must not be null")),
]


@pytest.mark.parametrize("call,code,message", [t[1:] for t in TAG_EXCEPTIONS], ids=[t[0] for t in TAG_EXCEPTIONS])
def test_tag_exceptions(lam, lam_novalidate, call, code, message):
    name = unique("tage")
    create_function(lam, name, Tags={"keep": "me"})
    arn = arn_of(name)
    before = store_snapshot(lam)
    kind, text = message
    err = expect_error(call, lam, lam_novalidate, arn, status=400, code=code,
                       message=text if kind == "exact" else None)
    if kind == "prefix":
        assert err.message.startswith(text), err
    assert lam.list_tags(Resource=arn)["Tags"] == {"keep": "me"}
    assert store_snapshot(lam) == before


def test_tag_limit(lam):
    name = unique("taglim")
    create_function(lam, name)
    arn = arn_of(name)
    expect_error(lam.tag_resource, Resource=arn, Tags={f"{i}_key": f"{i}_value" for i in range(51)}, status=400,
                 code="InvalidParameterValueException", message="Number of tags exceeds resource tag limit.")
    assert lam.list_tags(Resource=arn)["Tags"] == {}
    fifty = {f"{i}_key": f"{i}_value" for i in range(50)}
    resp = lam.tag_resource(Resource=arn, Tags=fifty)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == fifty
    expect_error(lam.tag_resource, Resource=arn, Tags={"one_more": "x"}, status=400,
                 code="InvalidParameterValueException", message="Number of tags exceeds resource tag limit.")
    assert lam.get_function(FunctionName=name)["Tags"] == fifty
