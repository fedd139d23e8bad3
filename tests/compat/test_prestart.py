"""Pre-started runtimes (issue 6, millisecond cold starts): once a runtime has been used, Lambent
keeps sandboxes with the interpreter already started; a cold start attaches the function's code,
limits and variables to one of them. These tests check that such an environment is exactly what an
ordinary start gives (variables, working directory, sys.path, limits, REPORT with Init Duration)
and that environments made this way are isolated from each other: own /tmp, own memory limit,
fresh randomness, a crash in one leaves the others running."""

from __future__ import annotations

import os

import pytest

from invoke_support import (
    OwnServer,
    deploy,
    function_pids,
    invoke,
    pid_lambent_cgroups,
    report_re,
    wait_until,
    zip_files,
)
from lambent_util import unique

PROBE = zip_files({
    "app.py": (
        "import json, os, random, sys, uuid\n"
        "TOKEN = uuid.uuid4().hex\n"
        "def handler(event, context):\n"
        "    if event.get('write'):\n"
        "        with open('/tmp/mark', 'w') as f:\n"
        "            f.write(event['write'])\n"
        "    if event.get('crash'):\n"
        "        os._exit(3)\n"
        "    st = os.statvfs('/tmp')\n"
        "    try:\n"
        "        mark = open('/tmp/mark').read()\n"
        "    except OSError:\n"
        "        mark = None\n"
        "    return {\n"
        "        'name': os.environ.get('AWS_LAMBDA_FUNCTION_NAME'),\n"
        "        'var': os.environ.get('PROBE_VAR'),\n"
        "        'memory': os.environ.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE'),\n"
        "        'lang': os.environ.get('LANG'),\n"
        "        'prestart_marker': 'LAMBENT_PRESTART' in os.environ,\n"
        "        'cwd': os.getcwd(),\n"
        "        'path0': sys.path[0],\n"
        "        'tmp_mb': st.f_blocks * st.f_frsize // (1024 * 1024),\n"
        "        'mark': mark,\n"
        "        'token': TOKEN,\n"
        "        'random': random.random(),\n"
        "        'pid': os.getpid(),\n"
        "        'text': 'd\\u00e9j\\u00e0',\n"
        "        'stream': context.log_stream_name,\n"
        "    }\n"
    ),
})


NODE_PROBE = zip_files({
    "index.mjs": (
        "export const handler = async (event, context) => ({\n"
        "  name: process.env.AWS_LAMBDA_FUNCTION_NAME,\n"
        "  var: process.env.PROBE_VAR,\n"
        "  prestartMarker: 'LAMBENT_PRESTART' in process.env,\n"
        "  cwd: process.cwd(),\n"
        "  stream: context.logStreamName,\n"
        "  memory: context.memoryLimitInMB,\n"
        "});\n"
    ),
})


CUSTOM_RUNTIME = zip_files({
    "bootstrap": ((
        "#!/usr/bin/python3 -I\n"
        "import json, os, sys, urllib.request\n"
        "api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'\n"
        "while True:\n"
        "    nxt = urllib.request.urlopen(api + 'next')\n"
        "    request_id = nxt.headers['Lambda-Runtime-Aws-Request-Id']\n"
        "    body = json.dumps({'name': os.environ.get('AWS_LAMBDA_FUNCTION_NAME'),\n"
        "                       'var': os.environ.get('PROBE_VAR'), 'lang': os.environ.get('LANG'),\n"
        "                       'cwd': os.getcwd(), 'argv0': sys.argv[0], 'uid': os.getuid()})\n"
        "    urllib.request.urlopen(urllib.request.Request(api + request_id + '/response',\n"
        "                                                  data=body.encode(), method='POST'))\n"
    ), 0o755),
})


@pytest.fixture(scope="module")
def own():
    server = OwnServer()
    yield server
    server.cleanup()


def prestarted(own, runtime: str) -> int:
    resp = own.server.raw("GET", "/_lambent/scaling")
    assert resp.status == 200, resp.body
    return resp.json().get("PrestartedRuntimes", {}).get(runtime, 0)


def fill_pool(own, runtime: str = "python3.12") -> None:
    """The first cold start of a runtime activates its pool; wait until it is full (2)."""
    if prestarted(own, runtime) < 2:
        name = unique("activate")
        deploy(own.lam, name, PROBE, runtime, "app.handler")
        assert invoke(own.lam, name, tail=False).status == 200
    assert wait_until(lambda: prestarted(own, runtime) >= 2, 30), "the pool never filled"


def memory_limit_mb(name: str) -> int:
    for pid in function_pids(name):
        for cg in pid_lambent_cgroups(pid):
            for file in ("memory.limit_in_bytes", "memory.max"):
                path = cg / file
                if path.exists():
                    return int(path.read_text().strip()) // (1024 * 1024)
    raise AssertionError(f"no memory cgroup found for {name}")


def test_pool_fills_after_first_use_and_a_cold_start_takes_from_it(own):
    fill_pool(own)
    name = unique("prestarted")
    deploy(own.lam, name, PROBE, "python3.12", "app.handler", MemorySize=256,
           EphemeralStorage={"Size": 1024}, Environment={"Variables": {"PROBE_VAR": "value-1"}})
    inv = invoke(own.lam, name)
    assert inv.status == 200 and inv.function_error is None, inv.describe()
    # The pool gave one runtime away (and refills it in the background).
    body = inv.json()
    assert body["name"] == name
    assert body["var"] == "value-1"
    assert body["memory"] == "256"
    assert body["lang"] == "en_US.UTF-8"
    assert body["prestart_marker"] is False, "Lambent's own marker must not reach the function"
    assert body["cwd"] == "/var/task"
    assert body["path0"] == "/var/task"
    assert body["tmp_mb"] == 1024
    assert body["mark"] is None
    # python3.12 returns non-ASCII unescaped, as on Lambda: derived from the specialised env.
    assert '"déjà"' in inv.payload.decode(), inv.payload
    report = next(line for line in inv.log_lines() if line.startswith("REPORT"))
    assert report_re(inv.request_id, 256, cold=True).match(report), report
    assert memory_limit_mb(name) == 256
    assert wait_until(lambda: prestarted(own, "python3.12") >= 2, 30), "the pool did not refill"


def test_node_functions_start_from_pre_started_runtimes_too(own):
    if prestarted(own, "nodejs20.x") < 2:
        warm = unique("node-activate")
        deploy(own.lam, warm, NODE_PROBE, "nodejs20.x", "index.handler")
        assert invoke(own.lam, warm, tail=False).status == 200
    assert wait_until(lambda: prestarted(own, "nodejs20.x") >= 2, 30), "the node pool never filled"
    name = unique("node-prestarted")
    deploy(own.lam, name, NODE_PROBE, "nodejs20.x", "index.handler", MemorySize=256,
           Environment={"Variables": {"PROBE_VAR": "node-value"}})
    inv = invoke(own.lam, name)
    assert inv.status == 200 and inv.function_error is None, inv.describe()
    body = inv.json()
    assert body == {
        "name": name, "var": "node-value", "prestartMarker": False, "cwd": "/var/task",
        "stream": body["stream"], "memory": "256",
    }, body
    assert body["stream"].endswith(tuple(own_environment_ids(own, name))), body["stream"]
    report = next(line for line in inv.log_lines() if line.startswith("REPORT"))
    assert report_re(inv.request_id, 256, cold=True).match(report), report


def test_custom_runtimes_start_in_pre_built_sandboxes(own):
    """provided.al2023: the function's own bootstrap is the runtime, so the pool holds sandboxes
    with nothing running; the attachment mounts the code and starts /var/task/bootstrap with the
    function's variables from its first instruction (even start-up ones such as LANG)."""
    if prestarted(own, "provided.al2023") < 2:
        warm = unique("custom-activate")
        deploy(own.lam, warm, CUSTOM_RUNTIME, "provided.al2023", "unused")
        assert invoke(own.lam, warm, tail=False).status == 200
    assert wait_until(lambda: prestarted(own, "provided.al2023") >= 2, 30), "the sandbox pool never filled"
    name = unique("custom-prestarted")
    deploy(own.lam, name, CUSTOM_RUNTIME, "provided.al2023", "unused",
           Environment={"Variables": {"PROBE_VAR": "custom", "LANG": "C.UTF-8"}})
    inv = invoke(own.lam, name)
    assert inv.status == 200 and inv.function_error is None, inv.describe()
    assert inv.json() == {"name": name, "var": "custom", "lang": "C.UTF-8", "cwd": "/var/task",
                          "argv0": "/var/task/bootstrap", "uid": 993}, inv.payload
    environ = b"".join(open(f"/proc/{p}/environ", "rb").read() for p in function_pids(name)
                       if os.path.exists(f"/proc/{p}/environ"))
    assert b"PROBE_VAR=custom" in environ, "exec'd with the function's environment"
    report = next(line for line in inv.log_lines() if line.startswith("REPORT"))
    assert report_re(inv.request_id, 1024, cold=True).match(report), report


def own_environment_ids(own, name: str) -> list[str]:
    for entry in own.server.raw("GET", "/_lambent/scaling").json()["Functions"]:
        if entry["FunctionName"] == name:
            return entry["EnvironmentIds"]
    return []


def test_environments_from_the_pool_are_isolated_from_each_other(own):
    fill_pool(own)
    first, second = unique("iso-a"), unique("iso-b")
    deploy(own.lam, first, PROBE, "python3.12", "app.handler", MemorySize=128)
    deploy(own.lam, second, PROBE, "python3.12", "app.handler", MemorySize=512)
    a = invoke(own.lam, first, {"write": "from-a"}, tail=False).json()
    b = invoke(own.lam, second, tail=False).json()
    assert a["mark"] == "from-a" and b["mark"] is None, "each environment has its own /tmp"
    assert a["token"] != b["token"] and a["random"] != b["random"], "fresh randomness per environment"
    assert memory_limit_mb(first) == 128 and memory_limit_mb(second) == 512
    assert not set(function_pids(first)) & set(function_pids(second))

    crashed = invoke(own.lam, first, {"crash": True})
    assert crashed.function_error == "Unhandled", crashed.describe()
    assert "Runtime.ExitError" in crashed.payload.decode()
    again = invoke(own.lam, second, tail=False)
    assert again.status == 200 and again.json()["pid"] == b["pid"], \
        "the other environment kept running, warm"


def test_functions_that_change_start_up_variables_start_the_ordinary_way(own):
    fill_pool(own)
    before = prestarted(own, "python3.12")
    name = unique("own-locale")
    deploy(own.lam, name, PROBE, "python3.12", "app.handler",
           Environment={"Variables": {"LANG": "C.UTF-8"}})
    body = invoke(own.lam, name, tail=False).json()
    assert body["lang"] == "C.UTF-8"
    env_pids = function_pids(name)
    environ = b"".join(open(f"/proc/{p}/environ", "rb").read() for p in env_pids if os.path.exists(f"/proc/{p}"))
    assert b"LANG=C.UTF-8" in environ, "started with the function's LANG from the first instruction"
    assert prestarted(own, "python3.12") == before, "no pre-started runtime was used"


def test_stopping_the_server_stops_pre_started_runtimes(own):
    fill_pool(own)
    assert own.stop() == 0
    assert own.leftovers() == []
