"""Reserved concurrency, the account pool and the memory budget: Lambda's API shapes
(concurrency.json) and its throttling (429 TooManyRequestsException with a Reason and
Retry-After)."""

from __future__ import annotations

import threading

import pytest

from invoke_support import OwnServer, api_error, deploy, invoke, zip_files
from lambent_util import recorded, unique

SLEEPER = zip_files({
    "app.py": (
        "import time\n"
        "def handler(event, context):\n"
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
    # The first call holds the only slot for 2 s; retry until our probe lands inside that window.
    for _ in range(100):
        status, code, _, _ = throttle_of(lam, name)
        if status == 429:
            break
    else:
        pytest.fail("the second concurrent call was never throttled")
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
