"""Between invocations an environment is frozen (as on Lambda): background work started by a
handler makes no progress while the environment is idle, and resumes on the next call."""

from __future__ import annotations

import os
import time

import pytest

from invoke_support import OwnServer, deploy, function_pids, invoke, pid_lambent_cgroups, wait_until, zip_files
from lambent_util import unique

TICKER = zip_files({
    "app.py": (
        "import threading, time\n"
        "started = False\n"
        "def tick():\n"
        "    while True:\n"
        "        with open('/tmp/ticks', 'a') as f:\n"
        "            f.write('.')\n"
        "        time.sleep(0.005)\n"
        "def handler(event, context):\n"
        "    global started\n"
        "    if not started:\n"
        "        threading.Thread(target=tick, daemon=True).start()\n"
        "        started = True\n"
        "    return {'ok': True}\n"
    ),
})


@pytest.fixture(scope="module")
def own():
    server = OwnServer()
    yield server
    server.cleanup()


def ticks(pid: int) -> int:
    try:
        return os.path.getsize(f"/proc/{pid}/root/tmp/ticks")
    except OSError:
        return -1


def test_idle_environments_are_frozen_and_resume(own):
    lam = own.lam
    name = unique("ticker")
    deploy(lam, name, TICKER, "python3.12", "app.handler")
    assert invoke(lam, name, tail=False).status == 200
    pids = function_pids(name)
    freezers = [cg / "freezer.state" for pid in pids for cg in pid_lambent_cgroups(pid)
                if (cg / "freezer.state").exists()]
    if not freezers:
        pytest.skip("no cgroup v1 freezer on this host")
    assert wait_until(lambda: freezers[0].read_text().strip() == "FROZEN", 5), \
        f"the idle environment was not frozen: {freezers[0].read_text().strip()}"
    runtime = max(pids)
    before = ticks(runtime)
    time.sleep(0.3)  # the measurement window: a running ticker would add ~60 ticks
    assert ticks(runtime) == before, "background work ran while the environment was idle"
    assert invoke(lam, name, tail=False).status == 200
    assert wait_until(lambda: ticks(runtime) > before, 5), "the environment did not resume"
