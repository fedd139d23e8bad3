"""The isolation battery: hostile functions (tests/functions/hostile/attacks.py) try to get out of
their sandbox, and each attempt must fail. After every test the functions are deleted and their
environments must vanish from the host (processes, cgroups); no sandbox mount may ever appear in
the host's mount namespace; and stopping the server with SIGTERM must exit 0 within 10 s and leave
nothing behind.

Sandbox facts relied on (lambda-compat.md §2.2, sandbox.md): uid 993, no capabilities,
no_new_privs, seccomp, read-only /usr, /var/task, /var/runtime, tmpfs /tmp of EphemeralStorage,
pids limit 1024, memory limit = MemorySize, a network namespace holding only loopback. Network
probes target loopback addresses only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager

import pytest

from invoke_support import (
    FUNCTIONS,
    SANDBOX_UID,
    OwnServer,
    deploy,
    function_pids,
    invoke,
    mounts_mentioning,
    pid_lambent_cgroups,
    pid_uid,
    process_memory_contains,
    wait_until,
    zip_dir,
)
from lambent_util import Server, lambda_client, lambent_bin, server_env, unique

ATTACKS = FUNCTIONS / "hostile"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def iso():
    own = OwnServer(args=["--keep-alive", "5s"])
    try:
        yield own
    finally:
        own.cleanup()


@pytest.fixture(scope="module")
def attack_zip():
    return zip_dir(ATTACKS)


def host_mount_problems(iso) -> list[str]:
    return mounts_mentioning(str(iso.data_dir / "code"), str(iso.data_dir / "runtime"))


def confinement_problems(name: str) -> list[str]:
    """Every host process of function `name` must sit in its own namespaces and in lambent cgroups
    (memory and pids at least), and run as the sandbox user."""
    problems = []
    own = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("mnt", "pid", "net", "ipc", "uts")}
    for pid in function_pids(name):
        try:
            for ns, host in own.items():
                if os.readlink(f"/proc/{pid}/ns/{ns}") == host:
                    problems.append(f"pid {pid} of {name} shares the host's {ns} namespace")
        except OSError:
            continue  # exited meanwhile
        cgs = [str(c) for c in pid_lambent_cgroups(pid)]
        for ctrl in ("memory", "pids"):
            if not any(f"/{ctrl}/" in c for c in cgs):
                problems.append(f"pid {pid} of {name} is not in a lambent {ctrl} cgroup: {cgs}")
        uid = pid_uid(pid)
        if uid is not None and uid != SANDBOX_UID:
            problems.append(f"pid {pid} of {name} runs as uid {uid}")
    return problems


@pytest.fixture
def make(iso, attack_zip):
    """make(handler, **config) -> a function of attacks.py; at the end of the test every function
    made is checked for confinement, deleted, and its environments must be gone from the host."""
    created = []

    def create(handler, code=None, **overrides):
        name = unique(handler.split(".")[-1].replace("_", "-"))
        overrides.setdefault("Timeout", 30)
        deploy(iso.lam, name, code or attack_zip, overrides.pop("Runtime", "python3.12"), handler, **overrides)
        created.append(name)
        return name

    yield create
    problems = []
    for name in created:
        problems += confinement_problems(name)
        pids = function_pids(name)
        cgroups = {cg for pid in pids for cg in pid_lambent_cgroups(pid)}
        if iso.server.running():
            iso.lam.delete_function(FunctionName=name)
        gone = wait_until(lambda: not function_pids(name) and not any(cg.exists() for cg in cgroups), 15)
        if not gone:
            problems.append(f"{name}: 15 s after DeleteFunction, processes {function_pids(name)} and cgroups "
                            f"{sorted(str(c) for c in cgroups if c.exists())} remain")
    problems += [f"sandbox mount visible on the host: {m}" for m in host_mount_problems(iso)]
    assert not problems, "\n".join(problems)


def ok(inv):
    assert inv.status == 200 and inv.function_error is None, inv.describe()
    return inv.json()


# ---------------------------------------------------------------------------------------------
# The victim: another function with secrets, running while the attacker runs
# ---------------------------------------------------------------------------------------------


class Victim:
    def __init__(self, iso):
        self.file_token = "file-secret-" + uuid.uuid4().hex
        self.env_token = "env-secret-" + uuid.uuid4().hex
        self.name = unique("victim")
        code = zip_dir(ATTACKS, extra={"secret.txt": self.file_token})
        deploy(iso.lam, self.name, code, "python3.12", "attacks.victim", Timeout=30,
               Environment={"Variables": {"SECRET": self.env_token}})
        self.iso = iso

    @contextmanager
    def running(self, seconds=4.0):
        """The victim is in the middle of an invocation for the duration of the block; afterwards
        its result must be its own, intact."""
        result = {}

        def run():
            try:
                result["inv"] = invoke(self.iso.lam, self.name, {"seconds": seconds})
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = repr(e)

        thread = threading.Thread(target=run)
        thread.start()

        def marker():
            for pid in function_pids(self.name):
                try:
                    with open(f"/proc/{pid}/root/tmp/victim-running") as f:
                        return f.read() or True
                except OSError:
                    pass
            return None

        assert wait_until(marker, 20), "the victim's invocation never started"
        yield
        assert thread.is_alive(), f"the attack took longer than the victim's {seconds} s invocation: no overlap"
        thread.join(timeout=seconds + 30)
        assert "error" not in result, result.get("error")
        body = ok(result["inv"])
        assert body["secret_env"] == self.env_token and body["secret_file"] == self.file_token, body
        assert body["request_id"] == result["inv"].request_id, body

    def host_processes_hold_the_secret(self) -> bool:
        """From the host (root), the victim's environment variables are readable (in
        /proc/PID/environ, or in its memory when a pre-started runtime received them after its
        start): the secret is there to be found, so an attacker that does not find it was really
        kept out."""
        for pid in function_pids(self.name):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if self.env_token.encode() in f.read():
                        return True
            except OSError:
                pass
            if process_memory_contains(pid, self.env_token.encode()):
                return True
        return False


@pytest.fixture(scope="module")
def victim(iso):
    return Victim(iso)


# ---------------------------------------------------------------------------------------------
# Attacks
# ---------------------------------------------------------------------------------------------


def test_cannot_read_another_functions_code_or_environment(iso, make, victim):
    trees = [p for p in iso.data_dir.rglob("secret.txt")]
    assert trees, f"precondition: the victim's code tree holds secret.txt somewhere under {iso.data_dir}"
    host_paths = [str(p) for p in trees] + [str(iso.data_dir / "lambent.sqlite3"), str(iso.data_dir),
                                            str(trees[0].parent), str(iso.data_dir / "code" / "blobs")]
    attacker = make("attacks.scan_secrets", MemorySize=1024)
    with victim.running(seconds=3):
        assert victim.host_processes_hold_the_secret(), "precondition: the victim's secret is in its environ"
        r = ok(invoke(iso.lam, attacker, {"tokens": [victim.file_token, victim.env_token],
                                          "host_paths": host_paths}))
    assert r["found"] == [], f"the attacker found the victim's secrets at {r['found']}"
    assert r["walked"] > 0 and "attacks.py" in r["own_task"], r
    assert "secret.txt" not in r["own_task"], "another function's code is mounted at /var/task"
    opened = {p: res for p, res in r["host"].items() if "ok" in res.values()}
    assert not opened, f"host paths of the data directory are reachable from the sandbox: {opened}"


def test_sees_only_its_own_processes(iso, make, victim):
    attacker = make("attacks.processes", MemorySize=1024)
    with victim.running(seconds=2):
        r = ok(invoke(iso.lam, attacker, {}))
    procs = r["processes"]
    assert len(procs) <= 3, f"the sandbox sees {len(procs)} processes: {json.dumps(procs)[:2000]}"
    assert r["self"] <= 3 and "1" in procs, f"not in its own PID namespace: self={r['self']} {procs}"
    for pid, info in procs.items():
        cmd = info["cmdline"]
        assert "serve" not in cmd and str(iso.data_dir) not in cmd and "victim" not in cmd, (pid, cmd)
        assert info["uid"] == SANDBOX_UID, f"pid {pid} runs as uid {info['uid']}: {cmd}"


def test_cannot_write_outside_tmp(iso, make):
    r = ok(invoke(iso.lam, make("attacks.write_probe"), {}))
    for d in ("/var/task", "/usr", "/usr/bin", "/var/runtime"):
        assert r[f"create {d}"] == "EROFS" and r[f"mkdir {d}"] == "EROFS", (d, r[f"create {d}"], r[f"mkdir {d}"])
    for d in ("/", "/etc", "/opt", "/var"):
        assert r[f"create {d}"] != "ok" and r[f"mkdir {d}"] != "ok", (d, r)
    assert r["create /tmp"] == "ok" and r["mkdir /tmp"] == "ok", f"/tmp must be writable: {r}"
    changed = {k: v for k, v in r.items() if k.split()[0] in ("append", "chmod", "unlink", "rename") and v == "ok"}
    assert not changed, f"read-only files were modified: {changed}"


def test_cannot_reach_the_host_network(iso, make):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    accepted, stop = [], threading.Event()

    def accept_loop():
        while not stop.is_set():
            try:
                conn, addr = listener.accept()
                accepted.append(addr)
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop)
    thread.start()
    try:
        r = ok(invoke(iso.lam, make("attacks.net_probe"), {"ports": [port, iso.server.port]}))
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert r["connect"]["own runtime api"] == "ok", f"control: the environment's own 127.0.0.1:9001: {r}"
    reached = {k: v for k, v in r["connect"].items() if k != "own runtime api" and v == "ok"}
    assert not reached, f"host loopback services reached from the sandbox: {reached}"
    assert accepted == [], f"the host listener on 127.0.0.1:{port} got connections: {accepted}"
    assert r["interfaces"] == ["lo"], f"the sandbox's network namespace should hold only lo: {r['interfaces']}"


def test_runtime_api_of_another_environment_is_unreachable(iso, make, victim):
    attacker = make("attacks.runtime_api_probe")
    with victim.running(seconds=2):
        inv = invoke(iso.lam, attacker, {})
    r = ok(inv)
    for key, (status, body) in r.items():
        assert status in (400, 403, 404), f"POST for a foreign request id ({key}) answered {status} {body}"


def test_no_privileges(iso, make):
    r = ok(invoke(iso.lam, make("attacks.privilege_probe"), {}))
    must_fail = ["mount tmpfs", "mount bind /", "umount /var/task", "unshare user", "unshare mount", "unshare net",
                 "unshare pid", "unshare uts", "unshare ipc", "unshare user+mount", "ptrace attach 1", "setuid 0",
                 "setgid 0", "setresuid 0", "setgroups", "sethostname", "mknod", "chown root", "write /proc/sys",
                 "open /dev/mem"]
    succeeded = {k: r[k] for k in must_fail if r[k] == "ok"}
    assert not succeeded, f"privileged operations succeeded in the sandbox: {succeeded}"
    assert r["uid"] == SANDBOX_UID and r["euid"] == SANDBOX_UID, r
    st = r["status"]
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"):
        assert int(st[cap], 16) == 0, f"{cap} = {st[cap]}: the sandbox must hold no capabilities"
    assert st["NoNewPrivs"] == "1", st
    assert st["Seccomp"] == "2", f"seccomp filter mode expected: {st}"
    assert "0" not in st["Groups"].split(), st
    if r["chmod u+s"] == "ok" and r["suid bit kept"]:
        opts = " ".join(r["tmp mount options"])
        assert "nosuid" in opts, f"a set-user-id file can be made in /tmp, which is not mounted nosuid: {opts}"


def test_kill_minus_one_does_not_reach_other_functions(iso, make, victim):
    attacker = make("attacks.kill_everything")
    with victim.running(seconds=2):
        r = ok(invoke(iso.lam, attacker, {}))
    assert r["alive"] is True


def test_fork_bomb_stops_at_the_pids_limit(iso, make):
    bomb = make("attacks.fork_bomb", MemorySize=1024, Timeout=60)
    started = time.monotonic()
    r = ok(invoke(iso.lam, bomb, {"max": 5000, "seconds": 25}))
    assert time.monotonic() - started < 40
    assert r["error"] == "EAGAIN", f"fork should fail with EAGAIN at the pids limit: {r}"
    assert 100 < r["children"] < 1024, f"{r['children']} children before the limit (pids.max 1024)"
    # the bomb's ~1000 processes are still there (frozen); other functions of the same uid still fork
    other = make("attacks.forker")
    r2 = ok(invoke(iso.lam, other, {"n": 50}))
    assert r2 == {"made": 50, "error": None}, f"another function cannot fork while the bomb lives: {r2}"


def test_tmp_is_limited_to_ephemeral_storage(iso, make):
    filler = make("attacks.fill_tmp", MemorySize=1024, Timeout=60, EphemeralStorage={"Size": 512})
    r = ok(invoke(iso.lam, filler, {"seconds": 40}))
    assert r["error"] == "ENOSPC", f"writing past EphemeralStorage should end in ENOSPC: {r}"
    assert 500 * MiB <= r["written"] <= 512 * MiB, f"{r['written'] / MiB:.1f} MiB written to a 512 MB /tmp"
    assert r["tmp_size"] == 512 * MiB, f"/tmp is {r['tmp_size'] / MiB:.1f} MiB"


def test_memory_limit(iso, make):
    hog = make("attacks.hog", MemorySize=128, Timeout=30)
    inv = invoke(iso.lam, hog, {})
    assert inv.function_error == "Unhandled", inv.describe()
    assert inv.json()["errorType"] == "Runtime.OutOfMemory", inv.describe()
    assert iso.server.running()


def test_environment_is_confined_on_the_host(iso, make):
    name = make("attacks.processes", MemorySize=256)
    ok(invoke(iso.lam, name, {}))
    pids = function_pids(name)
    assert pids, "the warm environment's processes should be visible to root on the host"
    assert not confinement_problems(name), confinement_problems(name)
    cgroups = {str(c) for pid in pids for c in pid_lambent_cgroups(pid)}
    memory = [c for c in cgroups if "/memory/" in c]
    limits = {open(os.path.join(c, "memory.limit_in_bytes")).read().strip() for c in memory}
    assert limits == {str(256 * MiB)}, f"memory.limit_in_bytes {limits}, want MemorySize 256 MB"
    pids_max = {open(os.path.join(c, "pids.max")).read().strip() for c in cgroups if "/pids/" in c}
    assert pids_max == {"1024"}, pids_max


# ---------------------------------------------------------------------------------------------
# Without isolation
# ---------------------------------------------------------------------------------------------


def test_isolation_none_warns_and_invokes(tmp_path):
    """`--isolation none` starts with a loud warning on stderr, and Python functions still run."""
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    cmd = [lambent_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
           "--isolation", "none"]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=server_env(),
                                cwd=tempfile.mkdtemp(prefix="lambent-cwd-"))
    server = Server(proc=proc, data_dir=tmp_path / "data", log_path=err_path, args=cmd)
    try:
        server.wait_ready()
        stderr = server.log()
        warning = [line for line in stderr.splitlines() if "WARN" in line.upper() and "ISOLATION" in line.upper()]
        assert warning, f"no warning about running without isolation on stderr:\n{stderr}"
        lam = lambda_client(server.endpoint)
        name = unique("noiso")
        deploy(lam, name, zip_dir(FUNCTIONS / "python"), "python3.12", "app.echo")
        inv = invoke(lam, name, {"é": [1, 2]})
        assert inv.status == 200 and inv.function_error is None, inv.describe()
        assert inv.payload == '{"é": [1, 2]}'.encode()
    finally:
        rc = server.stop()
    assert rc == 0, f"exit {rc}"


# ---------------------------------------------------------------------------------------------
# Shutdown (last: stops the module's server)
# ---------------------------------------------------------------------------------------------


def test_zy_sigterm_with_an_invocation_in_flight():
    """SIGTERM while a function is running (Timeout 60 s, sleeping 30 s): lambent must still exit 0
    within 10 s and take the environment with it."""
    own = OwnServer()
    try:
        lam = own.lam
        busy = unique("busy")
        deploy(lam, busy, zip_dir(ATTACKS, extra={"secret.txt": "s"}), "python3.12", "attacks.victim", Timeout=60,
               Environment={"Variables": {"SECRET": "x"}})
        outcome = {}

        def in_flight():
            try:
                outcome["inv"] = invoke(lam, busy, {"seconds": 30}, tail=False)
            except Exception as e:  # noqa: BLE001 - any answer or a dropped connection is fine
                outcome["error"] = repr(e)

        thread = threading.Thread(target=in_flight, daemon=True)
        thread.start()
        assert wait_until(lambda: any(os.path.exists(f"/proc/{p}/root/tmp/victim-running")
                                      for p in function_pids(busy)), 20), "the invocation never started"
        rc = own.stop()
        assert rc is not None, (
            f"lambent did not exit within 10 s of SIGTERM with an invocation in flight (killed); "
            f"log:\n{own.server.log()[-2000:]}")
        assert rc == 0, f"lambent exited with {rc} after SIGTERM; log:\n{own.server.log()[-2000:]}"
        leftovers = own.leftovers()
        assert leftovers == [], "once lambent has exited after SIGTERM:\n" + "\n".join(leftovers)
    finally:
        own.cleanup()


def test_zz_sigterm_exits_cleanly_and_leaves_nothing(iso, attack_zip):
    """The module's server, after the whole battery, with warm (frozen) environments of several
    functions and runtimes: SIGTERM → exit 0 within 10 s, no process, cgroup or mount left."""
    lam = iso.lam
    names = []
    for runtime, code, handler in (("python3.12", attack_zip, "attacks.processes"),
                                   ("python3.12", attack_zip, "attacks.forker"),
                                   ("nodejs20.x", zip_dir(FUNCTIONS / "node"), "index.echo")):
        name = unique("warm")
        deploy(lam, name, code, runtime, handler)
        ok(invoke(lam, name, {"n": 3}))
        names.append(name)
    assert all(function_pids(n) for n in names), "precondition: warm environments exist"
    rc = iso.stop()
    assert rc is not None, f"lambent did not exit within 10 s of SIGTERM; log:\n{iso.server.log()[-3000:]}"
    assert rc == 0, f"lambent exited with {rc} after SIGTERM; log:\n{iso.server.log()[-3000:]}"
    assert iso.stop_seconds < 10
    leftovers = iso.leftovers()
    assert leftovers == [], "once lambent has exited after SIGTERM:\n" + "\n".join(leftovers)
