"""Metrics and metering (issue 10, items 2 and 4): after a scripted mix of successes, errors, a
timeout, throttles and cold starts, `/metrics` (Prometheus text), `/_lambent/metrics` (JSON,
1-minute datapoints) and `/_lambent/usage` (JSON and CSV) agree with what the REPORT lines said:
the usage report reconciles exactly with Billed Duration × Memory Size of every REPORT line."""

from __future__ import annotations

import csv
import io
import re
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from invoke_support import OwnServer, deploy, invoke, zip_files
from lambent_util import Server, unique

CODE = zip_files({
    "app.py": (
        "import time\n"
        "def handler(event, context):\n"
        "    if event.get('sleep'):\n"
        "        time.sleep(event['sleep'])\n"
        "    if event.get('fail'):\n"
        "        raise ValueError('scripted failure')\n"
        "    return {'ok': True}\n"
    ),
})

REPORT_RE = re.compile(
    r"^REPORT RequestId: (?P<id>\S+)\tDuration: (?P<duration>\d+\.\d{2}) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: \d+ MB\t(?P<init>Init Duration: \d+\.\d{2} ms\t)?(?P<status>Status: timeout\t)?$"
)


def report_of(inv) -> dict:
    lines = [line for line in inv.log_lines() if line.startswith("REPORT ")]
    assert len(lines) == 1, inv.describe()
    m = REPORT_RE.match(lines[0])
    assert m, lines[0]
    assert m["id"] == inv.request_id
    return {"billed": int(m["billed"]), "memory": int(m["memory"]), "cold": m["init"] is not None}


def prometheus(server) -> dict:
    """{(name, frozenset(labels)): value} from an unsigned GET /metrics (as Prometheus scrapes)."""
    r = server.raw("GET", "/metrics", sign=False)
    assert r.status == 200, r.body[:500]
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in r.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        samples[(name, pairs)] = float(value)
    return samples


def sample(samples, name, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def usage(server, **params) -> object:
    r = server.raw("GET", "/_lambent/usage?" + urllib.parse.urlencode(params))
    assert r.status == 200, r.body[:500]
    return r


@pytest.fixture(scope="module")
def scripted(server, lam):
    """Runs the script once for the module; returns what the REPORT lines and the client saw."""
    busy = unique("metered")
    deploy(lam, busy, CODE, "python3.12", "app.handler", MemorySize=256, Timeout=2,
           EphemeralStorage={"Size": 1024})
    script = [{}] + [{}] * 3 + [{"fail": True}] * 2 + [{"sleep": 3}] + [{}]
    reports = []
    errors = 0
    for event in script:
        inv = invoke(lam, busy, event)
        assert inv.status == 200, inv.describe()
        errors += inv.function_error is not None
        reports.append(report_of(inv))
    assert reports[0]["cold"] and reports[-1]["cold"], "first call and the call after a timeout are cold"

    throttled = unique("throttled")
    deploy(lam, throttled, CODE, "python3.12", "app.handler", MemorySize=128)
    first = invoke(lam, throttled, {})
    throttled_reports = [report_of(first)]
    lam.put_function_concurrency(FunctionName=throttled, ReservedConcurrentExecutions=0)
    throttles = 0
    for _ in range(3):
        with pytest.raises(ClientError) as e:
            invoke(lam, throttled, {})
        assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
        throttles += 1
    return {
        "busy": busy,
        "reports": reports,
        "errors": errors,
        "throttled": throttled,
        "throttled_reports": throttled_reports,
        "throttles": throttles,
    }


def test_prometheus_counts_match_the_script(server, scripted):
    samples = prometheus(server)
    busy, reports = scripted["busy"], scripted["reports"]
    labels = {"function": busy, "version": "$LATEST"}
    assert sample(samples, "lambent_invocations_total", **labels) == len(reports)
    assert sample(samples, "lambent_errors_total", **labels) == scripted["errors"] == 3
    assert sample(samples, "lambent_throttles_total", **labels) == 0
    cold = sum(r["cold"] for r in reports)
    assert sample(samples, "lambent_cold_starts_total", **labels) == cold == 2
    assert sample(samples, "lambent_duration_milliseconds_count", **labels) == len(reports)
    assert sample(samples, "lambent_duration_milliseconds_bucket", **labels, le="+Inf") == len(reports)
    assert sample(samples, "lambent_init_duration_milliseconds_count", **labels) == cold
    # The timed-out call lasted about 2 s: the sum of durations shows it.
    assert sample(samples, "lambent_duration_milliseconds_sum", **labels) >= 1900
    p99 = sample(samples, "lambent_duration_quantile_milliseconds", **labels, quantile="0.99")
    p50 = sample(samples, "lambent_duration_quantile_milliseconds", **labels, quantile="0.5")
    assert p99 is not None and p50 is not None and p50 <= p99
    assert sample(samples, "lambent_concurrent_executions", function=busy) == 0

    t = {"function": scripted["throttled"], "version": "$LATEST"}
    assert sample(samples, "lambent_throttles_total", **t) == scripted["throttles"] == 3
    assert sample(samples, "lambent_invocations_total", **t) == 1
    assert sample(samples, "lambent_cold_starts_total", **t) == 1


def test_json_metrics_api_has_one_minute_datapoints(server, scripted):
    busy = scripted["busy"]
    r = server.raw("GET", "/_lambent/metrics?" + urllib.parse.urlencode({"function": busy}))
    assert r.status == 200, r.body[:500]
    body = r.json()
    assert body["PeriodSeconds"] == 60 and body["Label"] == busy
    assert body["Sum"]["Invocations"] == len(scripted["reports"])
    assert body["Sum"]["Errors"] == 3
    assert body["Sum"]["ColdStarts"] == 2
    assert body["Sum"]["MaxConcurrentExecutions"] == 1
    points = body["Datapoints"]
    assert points and all(p["Timestamp"] % 60000 == 0 for p in points)
    assert sum(p["Invocations"] for p in points) == len(scripted["reports"])
    for p in points:
        if p["Invocations"]:
            assert p["DurationAverageMs"] > 0
            assert p["DurationP50Ms"] <= p["DurationP90Ms"] <= p["DurationP99Ms"]

    r = server.raw("GET", "/_lambent/metrics?" + urllib.parse.urlencode({"function": scripted["throttled"]}))
    assert r.json()["Sum"]["Throttles"] == 3

    # A range in the past is empty; a bad time is a 400.
    r = server.raw("GET", "/_lambent/metrics?" + urllib.parse.urlencode({"function": busy, "start": 0, "end": 60}))
    assert r.status == 200 and r.json()["Datapoints"] == []
    r = server.raw("GET", "/_lambent/metrics?" + urllib.parse.urlencode({"function": busy, "start": "yesterday"}))
    assert r.status == 400
    assert server.raw("GET", "/_lambent/metrics").status == 400


def test_usage_reconciles_exactly_with_the_report_lines(server, scripted):
    for granularity in ("day", "month"):
        body = usage(server, granularity=granularity).json()
        for name, reports in ((scripted["busy"], scripted["reports"]),
                              (scripted["throttled"], scripted["throttled_reports"])):
            rows = [row for row in body["Usage"] if row["FunctionName"] == name]
            assert rows, body
            billed = sum(r["billed"] for r in reports)
            mb_ms = sum(r["billed"] * r["memory"] for r in reports)
            assert sum(row["Requests"] for row in rows) == len(reports), "throttles are not billed"
            assert sum(row["BilledDurationMs"] for row in rows) == billed
            assert sum(row["MbMilliseconds"] for row in rows) == mb_ms
            assert sum(row["GbSeconds"] for row in rows) == pytest.approx(mb_ms / 1024 / 1000, rel=1e-12)
            for row in rows:
                assert row["ComputeCost"] == pytest.approx(row["GbSeconds"] * 0.0000166667, rel=1e-9)
                assert row["RequestCost"] == pytest.approx(row["Requests"] * 0.20 / 1e6, rel=1e-9)
                assert row["TotalCost"] == pytest.approx(
                    row["ComputeCost"] + row["RequestCost"] + row["EphemeralStorageCost"], rel=1e-9)
        # 1024 MB of ephemeral storage: 512 MB above the free 512, billed for the busy function only.
        busy_rows = [row for row in body["Usage"] if row["FunctionName"] == scripted["busy"]]
        billed = sum(r["billed"] for r in scripted["reports"])
        assert sum(row["EphemeralGbSeconds"] for row in busy_rows) == pytest.approx(billed * 512 / 1024 / 1000)
        assert all(row["EphemeralGbSeconds"] == 0 for row in body["Usage"]
                   if row["FunctionName"] == scripted["throttled"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}" if granularity == "day" else r"\d{4}-\d{2}", busy_rows[0]["Period"])


def test_usage_as_csv(server, scripted):
    as_json = usage(server, granularity="month").json()["Usage"]
    r = usage(server, granularity="month", format="csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert [row["FunctionName"] for row in rows] == [row["FunctionName"] for row in as_json]
    for c, j in zip(rows, as_json):
        assert int(c["Requests"]) == j["Requests"]
        assert int(c["MbMilliseconds"]) == j["MbMilliseconds"]
        assert float(c["TotalCost"]) == pytest.approx(j["TotalCost"])
    assert server.raw("GET", "/_lambent/usage?format=xml").status == 400
    assert server.raw("GET", "/_lambent/usage?granularity=week").status == 400


def test_usage_survives_a_restart_and_prices_are_configurable():
    own = OwnServer(args=["--price-per-gb-second", "1", "--price-per-million-requests", "1000000"])
    try:
        name = unique("persisted")
        deploy(own.lam, name, CODE, "python3.12", "app.handler", MemorySize=128)
        reports = [report_of(invoke(own.lam, name, {})) for _ in range(3)]
        # No query before the stop: what was used must reach the disk on a clean shutdown.
        assert own.stop() == 0, own.server.log()[-2000:]
        again = Server.start(own.data_dir, args=["--price-per-gb-second", "1",
                                                 "--price-per-million-requests", "1000000"])
        try:
            body = usage(again, granularity="day").json()
            [row] = [row for row in body["Usage"] if row["FunctionName"] == name]
            mb_ms = sum(r["billed"] * r["memory"] for r in reports)
            assert row["Requests"] == 3 and row["MbMilliseconds"] == mb_ms
            assert row["RequestCost"] == pytest.approx(3.0)
            assert row["ComputeCost"] == pytest.approx(mb_ms / 1024 / 1000)
            # Metrics history is in memory: it starts empty after a restart (documented).
            r = again.raw("GET", "/_lambent/metrics?" + urllib.parse.urlencode({"function": name}))
            assert r.json()["Datapoints"] == []
        finally:
            again.stop_and_check()
    finally:
        own.cleanup()
