"""Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s) with the real boto3 client: shapes,
qualifiers (name, ARN, shorthand, Qualifier), Put versus Update, paging, and every error with
AWS's message. Oracle: aws-snapshots/event_invoke_config.json (TestLambdaEventInvokeConfig, the
same calls in the same order) and function_crud.json."""

from __future__ import annotations

import pytest

from lambent_util import ACCOUNT, REGION, create_function, expect_error, recorded, unique

EIC = "event_invoke_config.json"
EXC = "TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_exceptions"
LIFE = "TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_lifecycle"


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def rec(test: str, key: str) -> dict:
    return recorded(EIC, test, key)


def expect_like(fn, test: str, key: str, **kwargs):
    """Fails like the recording: same status, code and message, with our names substituted."""
    want = rec(test, key)
    names = kwargs.pop("names", {})
    message = want["Error"]["Message"]
    for placeholder, value in names.items():
        message = message.replace(placeholder, value)
    message = message.replace("arn:<partition>", "arn:aws").replace("<region>", REGION)
    message = message.replace("111111111111", ACCOUNT)
    return expect_error(fn, status=want["ResponseMetadata"]["HTTPStatusCode"], code=want["Error"]["Code"],
                        message=message, **kwargs)


def check(resp: dict, test: str, key: str, function_arn: str):
    """Same members and values as the recording (LastModified: a number, as a timestamp)."""
    want = {k: v for k, v in rec(test, key).items() if k != "ResponseMetadata"}
    got = {k: v for k, v in resp.items() if k != "ResponseMetadata"}
    assert set(got) == set(want), (got, want)
    assert got["FunctionArn"] == function_arn, got
    for k, v in want.items():
        if k not in ("FunctionArn", "LastModified", "DestinationConfig"):
            assert got[k] == v, (k, got, want)
    assert set(got["DestinationConfig"]) == {"OnSuccess", "OnFailure"}, got
    # boto3 parses the epoch-seconds number into a datetime
    assert hasattr(got["LastModified"], "timestamp"), got["LastModified"]


@pytest.fixture(scope="module")
def setup(lam):
    name, other = unique("eic"), unique("eic-2")
    create_function(lam, name)
    create_function(lam, other)
    version = lam.publish_version(FunctionName=name)["Version"]
    alias = lam.create_alias(FunctionName=name, Name="eventinvokealias", FunctionVersion=version)
    return name, other, version, alias["AliasArn"]


def test_exceptions_and_qualifiers_as_aws_answers_them(lam_novalidate, setup):
    lam = lam_novalidate
    name, other, version, alias_arn = setup
    names = {"<function-name:1>": name}
    fake = arn("doesnotexist")
    expect_like(lam.put_function_event_invoke_config, EXC, "put_functionname_name_notfound",
                FunctionName="doesnotexist", MaximumRetryAttempts=1)
    expect_like(lam.put_function_event_invoke_config, EXC, "put_functionname_arn_notfound",
                FunctionName=fake, MaximumRetryAttempts=1)
    expect_like(lam.put_function_event_invoke_config, EXC, "put_functionname_nootherargs",
                FunctionName="doesnotexist")
    expect_like(lam.put_function_event_invoke_config, EXC, "put_destination_lambda_doesntexist",
                FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": fake}})
    expect_like(lam.put_function_event_invoke_config, EXC, "put_destination_recursive",
                FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn(name)}})
    resp = lam.put_function_event_invoke_config(FunctionName=name,
                                                DestinationConfig={"OnSuccess": {"Destination": arn(other)}})
    check(resp, EXC, "put_destination_other_lambda", arn(name, "$LATEST"))
    assert resp["DestinationConfig"] == {"OnSuccess": {"Destination": arn(other)}, "OnFailure": {}}
    iam = arn(name).replace(":lambda:", ":iam:")
    expect_like(lam.put_function_event_invoke_config, EXC, "put_destination_invalid_service_arn",
                names=names, FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": iam}})
    for key, side in (("put_destination_success_no_destination_arn", "OnSuccess"),
                      ("put_destination_failure_no_destination_arn", "OnFailure")):
        resp = lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={side: {}})
        check(resp, EXC, key, arn(name, "$LATEST"))
        assert resp["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    bad = arn(name).replace(":lambda:", ":_-/!lambda:")
    expect_like(lam.put_function_event_invoke_config, EXC, "put_destination_invalid_arn_pattern",
                names=names, FunctionName=name, DestinationConfig={"OnFailure": {"Destination": bad}})

    ok_cases = [
        ("put_destination_latest", dict(FunctionName=name), "$LATEST"),
        ("put_destination_latest_explicit_qualifier", dict(FunctionName=name, Qualifier="$LATEST"), "$LATEST"),
        ("put_destination_version", dict(FunctionName=name, Qualifier=version), version),
        ("put_alias_functionname_qualifier", dict(FunctionName=name, Qualifier="eventinvokealias"),
         "eventinvokealias"),
        ("put_alias_qualifiedarn", dict(FunctionName=alias_arn), "eventinvokealias"),
        ("put_alias_qualifiedarn_qualifier", dict(FunctionName=alias_arn, Qualifier="eventinvokealias"),
         "eventinvokealias"),
        ("put_alias_shorthand", dict(FunctionName=f"{name}:eventinvokealias"), "eventinvokealias"),
        ("put_alias_shorthand_qualifier", dict(FunctionName=f"{name}:eventinvokealias",
                                               Qualifier="eventinvokealias"), "eventinvokealias"),
        ("put_version_shorthand", dict(FunctionName=f"{name}:{version}"), version),
        ("put_shorthand_qualifier_match", dict(FunctionName=f"{name}:$LATEST", Qualifier="$LATEST"), "$LATEST"),
    ]
    for key, kwargs, qualifier in ok_cases:
        check(lam.put_function_event_invoke_config(MaximumRetryAttempts=1, **kwargs), EXC, key, arn(name, qualifier))
    expect_like(lam.put_function_event_invoke_config, EXC, "put_alias_doesnotexist",
                FunctionName=name, Qualifier="eventinvokealiasdoesnotexist", MaximumRetryAttempts=1)
    for key, kwargs in [
        ("put_alias_qualifiedarn_qualifierconflict", dict(FunctionName=alias_arn, Qualifier="eventinvokealiasdoesnotexist")),
        ("put_alias_shorthand_qualifierconflict", dict(FunctionName=f"{name}:eventinvokealias",
                                                       Qualifier="eventinvokealiasdoesnotexist")),
        ("put_shorthand_qualifier_mismatch_1", dict(FunctionName=f"{name}:{version}", Qualifier="$LATEST")),
        ("put_shorthand_qualifier_mismatch_2", dict(FunctionName=f"{name}:$LATEST", Qualifier=version)),
        ("put_shorthand_qualifier_mismatch_3", dict(FunctionName=f"{name}:{version}", Qualifier="eventinvokealias")),
    ]:
        expect_like(lam.put_function_event_invoke_config, EXC, key, MaximumRetryAttempts=1, **kwargs)

    check(lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2,
                                               MaximumEventAgeInSeconds=21600),
          EXC, "put_maxevent_maxvalue_result", arn(name, "$LATEST"))
    # Put replaces, Update merges
    check(lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60),
          EXC, "put_pre_overwrite", arn(name, "$LATEST"))
    check(lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0),
          EXC, "put_post_overwrite", arn(name, "$LATEST"))
    check(lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0),
          EXC, "second_overwrite_existing_response", arn(name, "$LATEST"))
    got = lam.get_function_event_invoke_config(FunctionName=name)
    check(got, EXC, "get_post_overwrite", arn(name, "$LATEST"))
    assert got["MaximumRetryAttempts"] == 0 and "MaximumEventAgeInSeconds" not in got
    check(lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60),
          EXC, "pre_update_response", arn(name, "$LATEST"))
    check(lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0),
          EXC, "update_response", arn(name, "$LATEST"))
    check(lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0),
          EXC, "update_response_existing", arn(name, "$LATEST"))

    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    want = rec(EXC, "list_configs")["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(name, "$LATEST"), arn(name, version),
                                                   arn(name, "eventinvokealias")]
    for ours, theirs in zip(listed, want):
        assert {k for k in ours} == {k for k in theirs}, (ours, theirs)
    paged = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    assert len(paged["FunctionEventInvokeConfigs"]) == 2 and paged["NextMarker"]

    for qualifier in ("$LATEST", version, "eventinvokealias"):
        out = lam.delete_function_event_invoke_config(FunctionName=name, Qualifier=qualifier)
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []

    expect_like(lam.delete_function_event_invoke_config, EXC, "delete_function_not_found", names=names,
                FunctionName=name)
    expect_like(lam.delete_function_event_invoke_config, EXC, "delete_function_doesnotexist",
                FunctionName="doesnotexist")
    expect_like(lam.list_function_event_invoke_configs, EXC, "list_function_doesnotexist",
                FunctionName="doesnotexist")
    expect_like(lam.get_function_event_invoke_config, EXC, "get_function_doesnotexist",
                FunctionName="doesnotexist")
    expect_like(lam.get_function_event_invoke_config, EXC, "get_qualifier_doesnotexist", names=names,
                FunctionName=name, Qualifier="doesnotexist")
    expect_like(lam.update_function_event_invoke_config, EXC, "update_eventinvokeconfig_function_doesnotexist",
                FunctionName="doesnotexist", MaximumRetryAttempts=0)
    expect_like(lam.get_function_event_invoke_config, EXC, "get_eventinvokeconfig_doesnotexist", names=names,
                FunctionName=alias_arn)
    expect_like(lam.update_function_event_invoke_config, EXC,
                "update_eventinvokeconfig_config_doesnotexist_with_qualifier", names=names,
                FunctionName=alias_arn, MaximumRetryAttempts=0)
    expect_like(lam.update_function_event_invoke_config, EXC,
                "update_eventinvokeconfig_config_doesnotexist_without_qualifier", names=names,
                FunctionName=arn(name), MaximumRetryAttempts=0)


def test_lifecycle(lam):
    name = unique("eic-life")
    create_function(lam, name)
    latest = arn(name, "$LATEST")
    check(lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0),
          LIFE, "put_invokeconfig_retries_0", latest)
    check(lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60),
          LIFE, "put_invokeconfig_eventage_60", latest)
    check(lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60),
          LIFE, "update_invokeconfig_eventage_nochange", latest)
    check(lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1),
          LIFE, "update_invokeconfig_retries", latest)
    check(lam.get_function_event_invoke_config(FunctionName=name), LIFE, "get_invokeconfig", latest)
    check(lam.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST"),
          LIFE, "get_invokeconfig_latest", latest)
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1
    version = lam.publish_version(FunctionName=name)["Version"]
    expect_like(lam.get_function_event_invoke_config, LIFE, "get_invokeconfig_postpublish",
                names={"<function-name:1>": name}, FunctionName=name, Qualifier=version)
    check(lam.put_function_event_invoke_config(FunctionName=name, Qualifier=version, MaximumEventAgeInSeconds=120),
          LIFE, "put_published_invokeconfig", arn(name, version))
    check(lam.get_function_event_invoke_config(FunctionName=name, Qualifier=version),
          LIFE, "get_published_invokeconfig", arn(name, version))
    single = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=1)
    assert len(single["FunctionEventInvokeConfigs"]) == 1
    rest = lam.list_function_event_invoke_configs(FunctionName=name, Marker=single["NextMarker"], MaxItems=1)
    assert len(rest["FunctionEventInvokeConfigs"]) == 1 and "NextMarker" not in rest
    both = {single["FunctionEventInvokeConfigs"][0]["FunctionArn"], rest["FunctionEventInvokeConfigs"][0]["FunctionArn"]}
    assert both == {latest, arn(name, version)}
    lam.delete_function_event_invoke_config(FunctionName=name)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(name, version)]
    assert listed[0]["MaximumEventAgeInSeconds"] == 120 and "MaximumRetryAttempts" not in listed[0]


def test_range_errors(lam_novalidate):
    name = unique("eic-range")
    create_function(lam_novalidate, name)
    expect_error(lam_novalidate.put_function_event_invoke_config, FunctionName=name, MaximumRetryAttempts=3,
                 status=400, code="ValidationException",
                 message="1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy "
                         "constraint: Member must have value less than or equal to 2")
    expect_error(lam_novalidate.put_function_event_invoke_config, FunctionName=name, MaximumEventAgeInSeconds=59,
                 status=400, code="ValidationException",
                 message="1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy "
                         "constraint: Member must have value greater than or equal to 60")
    expect_error(lam_novalidate.put_function_event_invoke_config, FunctionName=name, MaximumEventAgeInSeconds=21601,
                 status=400, code="ValidationException",
                 message="1 validation error detected: Value '21601' at 'maximumEventAgeInSeconds' failed to "
                         "satisfy constraint: Member must have value less than or equal to 21600")


def test_deleting_the_function_deletes_its_configurations(lam):
    name = unique("eic-del")
    create_function(lam, name)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    lam.delete_function(FunctionName=name)
    create_function(lam, name)
    expect_error(lam.get_function_event_invoke_config, FunctionName=name, status=404,
                 code="ResourceNotFoundException",
                 message=f"The function {arn(name, '$LATEST')} doesn't have an EventInvokeConfig")
