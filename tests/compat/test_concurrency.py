"""Reserved concurrency, the account pool and the memory budget: Lambda's API shapes
(concurrency.json) and its throttling (429 TooManyRequestsException with a Reason and
Retry-After)."""

from __future__ import annotations

import threading

import pytest

import os

from invoke_support import OwnServer, api_error, deploy, function_pids, invoke, wait_until, zip_files
from lambent_util import recorded, unique

SLEEPER = zip_files({
    "app.py": (
        "import time\n"
        "def handler(event, context):\n"
        "    if event.get('seconds'):\n"
        "        open('/tmp/running', 'w').close()\n"
        "    time.sleep(event.get('seconds', 0))\n"
        "    return {'ok': True}\n"
    ),
})

CONCURRENCY = "concurrency.json"


@pytest.fixture(scope="module")
def own():
    server = OwnServer(args=["--max-concurrency", "150", "--memory-budget", "3072"])
    yield server
    server.cleanup()


def throttle_of(lam, name, payload=b"{}"):
    status, code, message, headers = api_error(lam.invoke, FunctionName=name, Payload=payload)
    return status, code, message, headers


def test_reserved_concurrency_lifecycle_matches_aws(own):
    lam = own.lam
    name = unique("conc")
    deploy(lam, name, SLEEPER, "python3.12", "app.handler")
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    want = recorded(CONCURRENCY, "TestLambdaReservedConcurrency::test_function_concurrency",
                    "put_function_concurrency_with_reserved_1")
    assert put["ReservedConcurrentExecutions"] == want["ReservedConcurrentExecutions"]
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 1
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 1}
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 150
    assert settings["UnreservedConcurrentExecutions"] == 149
    lam.delete_function_concurrency(FunctionName=name)
    after = lam.get_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in after
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 150


def test_reservation_errors(own):
    lam = own.lam
    name = unique("concerr")
    deploy(lam, name, SLEEPER, "python3.12", "app.handler")
    lam.publish_version(FunctionName=name)
    status, code, message, _ = api_error(
        lam.put_function_concurrency, FunctionName=f"{name}:1", ReservedConcurrentExecutions=1)
    want = recorded(CONCURRENCY, "TestLambdaReservedConcurrency::test_function_concurrency_exceptions",
                    "put_function_concurrency_with_qualified_arn")
    assert (status, code, message) == (400, want["Error"]["Code"], want["Error"]["Message"])
    status, code, message, _ = api_error(
        lam.put_function_concurrency, FunctionName="doesnotexist", ReservedConcurrentExecutions=1)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message.endswith(":function:doesnotexist:$LATEST"), message
    # 150 in the account, 100 must stay unreserved: 51 is one too many.
    status, code, message, _ = api_error(
        lam.put_function_concurrency, FunctionName=name, ReservedConcurrentExecutions=51)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message == ("Specified ReservedConcurrentExecutions for function decreases account's "
                       "UnreservedConcurrentExecution below its minimum value of [100].")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=50)
    lam.delete_function_concurrency(FunctionName=name)


def test_zero_reserved_disables_the_function(own):
    lam = own.lam
    name = unique("off")
    deploy(lam, name, SLEEPER, "python3.12", "app.handler")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    status, code, message, headers = throttle_of(lam, name)
    assert (status, code, message) == (429, "TooManyRequestsException", "Rate Exceeded.")
    assert headers.get("retry-after"), headers
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert caught.value.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    assert invoke(lam, name, tail=False).status == 200


def test_reserved_limit_throttles_the_second_concurrent_call(own):
    lam = own.lam
    name = unique("one")
    deploy(lam, name, SLEEPER, "python3.12", "app.handler")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    invoke(lam, name, tail=False)  # warm
    running = threading.Event()
    result = {}

    def long_call():
        running.set()
        result["first"] = invoke(lam, name, {"seconds": 2}, tail=False)

    thread = threading.Thread(target=long_call)
    thread.start()
    running.wait()
    # Probe only once the first call is really running in its environment (it marks /tmp).
    assert wait_until(lambda: any(os.path.exists(f"/proc/{p}/root/tmp/running") for p in function_pids(name)),
                      20), "the first call never started"
    status, code, _, _ = throttle_of(lam, name)
    assert status == 429
    assert code == "TooManyRequestsException"
    thread.join(30)
    assert result["first"].status == 200 and result["first"].function_error is None


def test_memory_budget_reclaims_idle_environments_before_throttling(own):
    lam = own.lam
    # The budget is 3072 MB: three idle 1024 MB environments fill it; a fourth function's first
    # call must reclaim one of them rather than be throttled.
    names = [unique("mem") for _ in range(4)]
    for name in names:
        deploy(lam, name, SLEEPER, "python3.12", "app.handler", MemorySize=1024)
    for name in names:
        assert invoke(lam, name, tail=False).status == 200
    # And a single environment larger than the whole budget is throttled with Lambda's shape.
    big = unique("big")
    deploy(lam, big, SLEEPER, "python3.12", "app.handler", MemorySize=4096)
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=big, Payload=b"{}")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response.get("Reason") == "ConcurrentInvocationLimitExceeded"


PROVISIONED = zip_files({
    "app.py": (
        "import os\n"
        "def handler(event, context):\n"
        "    if event.get('crash'):\n"
        "        os._exit(3)\n"
        "    return {'init': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE'],\n"
        "            'stream': os.environ['AWS_LAMBDA_LOG_STREAM_NAME']}\n"
    ),
})


def wait_provisioned(lam, name, qualifier, allocated, timeout=30.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if got["AllocatedProvisionedConcurrentExecutions"] == allocated and got["Status"] == "READY":
            return got
        time.sleep(0.1)
    pytest.fail(f"provisioned concurrency of {name}:{qualifier} never reached {allocated}: {got}")


def test_provisioned_environments_are_ready_before_the_first_call(own):
    lam = own.lam
    name = unique("prov")
    deploy(lam, name, PROVISIONED, "python3.12", "app.handler", MemorySize=256)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                                 ProvisionedConcurrentExecutions=2)
    want = recorded(CONCURRENCY, "TestLambdaProvisionedConcurrency::test_lambda_provisioned_lifecycle",
                    "put_provisioned_on_version")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert set(put) - {"ResponseMetadata"} == set(want) - {"ResponseMetadata"}
    wait_provisioned(lam, name, "live", 2)
    first = invoke(lam, name, qualifier="live")
    assert first.json()["init"] == "provisioned-concurrency"
    assert first.executed_version == version
    assert "Init Duration" not in first.log, first.log
    assert f"[{version}]" in first.json()["stream"]
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed] == ["live"]

    # A provisioned environment that dies is re-created.
    crashed = invoke(lam, name, {"crash": True}, qualifier="live", tail=False)
    assert crashed.function_error == "Unhandled"
    wait_provisioned(lam, name, "live", 2)

    # The same version cannot get a second configuration through its alias.
    status, code, message, _ = api_error(lam.put_provisioned_concurrency_config, FunctionName=name,
                                         Qualifier=version, ProvisionedConcurrentExecutions=1)
    assert (status, code) == (409, "ResourceConflictException"), (status, code, message)

    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    status, code, message, _ = api_error(lam.get_provisioned_concurrency_config, FunctionName=name,
                                         Qualifier="live")
    assert (status, code, message) == (404, "ProvisionedConcurrencyConfigNotFoundException",
                                       "No Provisioned Concurrency Config found for this function")


def test_provisioned_concurrency_errors(own):
    lam = own.lam
    name = unique("provx")
    deploy(lam, name, PROVISIONED, "python3.12", "app.handler", MemorySize=256)
    lam.publish_version(FunctionName=name)
    status, code, message, _ = api_error(lam.put_provisioned_concurrency_config, FunctionName=name,
                                         Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message == "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
    status, code, message, _ = api_error(lam.get_provisioned_concurrency_config, FunctionName=name,
                                         Qualifier="noalias")
    want = recorded(CONCURRENCY, "TestLambdaProvisionedConcurrency::test_provisioned_concurrency_exceptions",
                    "get_provisioned_qualifier_doesnotexist")
    assert (status, code) == (404, want["Error"]["Code"])
    assert message == f"Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:{name}:noalias"
    status, code, message, _ = api_error(lam.get_provisioned_concurrency_config, FunctionName=name,
                                         Qualifier="10")
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}:10"
    status, code, message, _ = api_error(lam.get_provisioned_concurrency_config, FunctionName=name,
                                         Qualifier="1")
    assert (status, code) == (404, "ProvisionedConcurrencyConfigNotFoundException")


def test_scaling_view_counts_cold_starts_and_throttles(own):
    """GET /_lambent/scaling: Lambent's own per-function view for operators and metrics."""
    import json
    import urllib.request

    lam = own.lam
    name = unique("scale")
    deploy(lam, name, SLEEPER, "python3.12", "app.handler", MemorySize=256)
    invoke(lam, name, tail=False)
    invoke(lam, name, tail=False)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert throttle_of(lam, name)[0] == 429
    lam.delete_function_concurrency(FunctionName=name)
    with urllib.request.urlopen(own.server.endpoint + "/_lambent/scaling", timeout=10) as response:
        functions = {f["FunctionName"]: f for f in json.load(response)["Functions"]}
    mine = functions[name]
    assert mine["ColdStarts"] == 1, mine
    assert mine["Throttles"] == 1, mine
    assert (mine["Busy"], mine["Idle"], mine["Initializing"]) == (0, 1, 0), mine
