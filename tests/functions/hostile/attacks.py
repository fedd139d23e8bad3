"""Hostile Python functions for tests/compat/test_isolation.py. Every handler tries to get out of
its sandbox and returns what it managed; it never raises, so that the test sees each attempt's
outcome. Network probes only ever target loopback addresses."""

import ctypes
import ctypes.util
import errno
import http.client
import json
import os
import signal
import socket
import stat
import time
import uuid

LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _outcome(fn, *args):
    """'ok' or the errno name of the OSError raised."""
    try:
        fn(*args)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"


def _libc(name, *args):
    rc = getattr(LIBC, name)(*args)
    if rc == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc


def _read(path, limit=4 * 1024 * 1024):
    with open(path, "rb") as f:
        return f.read(limit)


# ---------------------------------------------------------------------------------------------
# Another function's code and secrets
# ---------------------------------------------------------------------------------------------


def scan_secrets(event, context):
    tokens = [t.encode() for t in event["tokens"]]
    found = []
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())

    def look(where, data):
        for t in tokens:
            if t in data:
                found.append(where)

    for pid in pids:
        for leaf in ("environ", "cmdline"):
            try:
                look(f"/proc/{pid}/{leaf}", _read(f"/proc/{pid}/{leaf}"))
            except OSError:
                pass
        for base in (f"/proc/{pid}/root", f"/proc/{pid}/cwd"):
            for sub in ("var/task", ""):
                d = os.path.join(base, sub)
                try:
                    names = os.listdir(d)
                except OSError:
                    continue
                for name in names:
                    p = os.path.join(d, name)
                    if os.path.isfile(p):
                        try:
                            look(p, _read(p))
                        except OSError:
                            pass
    # everything this sandbox can see, except the kernel's pseudo file systems and the host /usr
    walked = 0
    for top in ("/",):
        for root, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/usr", "/dev")]
            for name in files:
                p = os.path.join(root, name)
                walked += 1
                try:
                    if os.path.isfile(p) and os.path.getsize(p) < 8 * 1024 * 1024:
                        look(p, _read(p))
                except OSError:
                    pass
    host = {}
    for p in event.get("host_paths", []):
        host[p] = {"open": _outcome(lambda: _read(p)), "stat": _outcome(os.stat, p),
                   "listdir": _outcome(os.listdir, os.path.dirname(p))}
    return {
        "found": sorted(set(found)),
        "walked": walked,
        "pids": pids,
        "host": host,
        "own_task": sorted(os.listdir("/var/task")),
    }


def processes(event, context):
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        info = {}
        try:
            info["cmdline"] = _read(f"/proc/{p}/cmdline").replace(b"\0", b" ").decode(errors="replace")
        except OSError as e:
            info["cmdline"] = f"<{errno.errorcode.get(e.errno)}>"
        try:
            status = _read(f"/proc/{p}/status").decode()
            info["uid"] = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration):
            info["uid"] = None
        out[p] = info
    return {"processes": out, "self": os.getpid(), "ppid": os.getppid(), "hostname": socket.gethostname()}


# ---------------------------------------------------------------------------------------------
# Writes outside /tmp
# ---------------------------------------------------------------------------------------------


def write_probe(event, context):
    name = "lambent-probe-" + uuid.uuid4().hex[:8]

    def create(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"x")
        os.close(fd)

    def append(path):
        with open(path, "ab") as f:
            f.write(b"#")

    results = {}
    for d in ("/var/task", "/usr", "/usr/bin", "/var/runtime", "/", "/etc", "/opt", "/var", "/tmp"):
        results[f"create {d}"] = _outcome(create, os.path.join(d, name))
        results[f"mkdir {d}"] = _outcome(os.mkdir, os.path.join(d, name + "-dir"))
    for f in ("/var/task/attacks.py", "/usr/bin/python3", "/var/runtime/python/bootstrap.py"):
        results[f"append {f}"] = _outcome(append, f)
        results[f"chmod {f}"] = _outcome(os.chmod, f, 0o777)
        results[f"unlink {f}"] = _outcome(os.unlink, f)
    results["rename /var/task"] = _outcome(os.rename, "/var/task/attacks.py", "/var/task/moved.py")
    return results


# ---------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------


def _connect(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    finally:
        s.close()


def net_probe(event, context):
    results = {}
    for port in event["ports"]:
        results[f"127.0.0.1:{port}"] = _outcome(_connect, "127.0.0.1", port)
        results[f"[::1]:{port}"] = _outcome(_connect, "::1", port, socket.AF_INET6)
    # control: the environment's own Runtime API is reachable
    results["own runtime api"] = _outcome(_connect, "127.0.0.1", 9001)
    return {"connect": results, "interfaces": [name for _, name in socket.if_nameindex()]}


def runtime_api_probe(event, context):
    """Posts results for request ids that are not this invocation's."""
    out = {}
    for label, rid in (("random", str(uuid.uuid4())), ("given", event.get("victim_request_id") or str(uuid.uuid4()))):
        for kind in ("response", "error"):
            conn = http.client.HTTPConnection("127.0.0.1", 9001, timeout=5)
            try:
                conn.request("POST", f"/2018-06-01/runtime/invocation/{rid}/{kind}", body=b'"hijacked"',
                             headers={"Content-Type": "application/json"})
                reply = conn.getresponse()
                out[f"{label} {kind}"] = [reply.status, reply.read().decode(errors="replace")]
            except OSError as e:
                out[f"{label} {kind}"] = [None, repr(e)]
            finally:
                conn.close()
    return out


# ---------------------------------------------------------------------------------------------
# Privileges
# ---------------------------------------------------------------------------------------------

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PTRACE_ATTACH = 16
PTRACE_TRACEME = 0
MS_BIND = 4096


def privilege_probe(event, context):
    r = {}
    os.makedirs("/tmp/mnt", exist_ok=True)
    r["mount tmpfs"] = _outcome(_libc, "mount", b"none", b"/tmp/mnt", b"tmpfs", ctypes.c_ulong(0), None)
    r["mount bind /"] = _outcome(_libc, "mount", b"/", b"/tmp/mnt", None, ctypes.c_ulong(MS_BIND), None)
    r["umount /var/task"] = _outcome(_libc, "umount2", b"/var/task", 2)
    for name, flag in (("user", CLONE_NEWUSER), ("mount", CLONE_NEWNS), ("net", CLONE_NEWNET),
                       ("pid", CLONE_NEWPID), ("uts", CLONE_NEWUTS), ("ipc", CLONE_NEWIPC),
                       ("user+mount", CLONE_NEWUSER | CLONE_NEWNS)):
        r[f"unshare {name}"] = _in_child(_libc, "unshare", flag)
    LIBC.ptrace.restype = ctypes.c_long
    LIBC.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    r["ptrace attach 1"] = _outcome(_libc, "ptrace", PTRACE_ATTACH, 1, None, None)
    r["setuid 0"] = _outcome(os.setuid, 0)
    r["setgid 0"] = _outcome(os.setgid, 0)
    r["setresuid 0"] = _outcome(os.setresuid, 0, 0, 0)
    r["setgroups"] = _outcome(os.setgroups, [0])
    r["sethostname"] = _outcome(socket.sethostname, "pwned")
    r["mknod"] = _outcome(os.mknod, "/tmp/disk", stat.S_IFBLK | 0o600, os.makedev(8, 0))
    r["chown root"] = _outcome(lambda: (open("/tmp/owned", "w").close(), os.chown("/tmp/owned", 0, 0)))
    r["write /proc/sys"] = _outcome(lambda: open("/proc/sys/kernel/hostname", "w").write("pwned"))
    r["open /dev/mem"] = _outcome(lambda: open("/dev/mem", "rb").read(1))
    # a set-user-id copy of something: the bit must not take, or must not matter
    suid = "/tmp/suid-python"
    with open("/usr/bin/python3", "rb") as src, open(suid, "wb") as dst:
        dst.write(src.read())
    r["chmod u+s"] = _outcome(os.chmod, suid, 0o4755)
    r["suid bit kept"] = bool(os.stat(suid).st_mode & stat.S_ISUID)
    status = _read("/proc/self/status").decode()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    r["status"] = {k: fields[k].strip() for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd",
                                                  "CapAmb", "NoNewPrivs", "Seccomp") if k in fields}
    mountinfo = _read("/proc/self/mountinfo").decode()
    r["tmp mount options"] = [line for line in mountinfo.splitlines() if line.split()[4] == "/tmp"]
    r["uid"] = os.getuid()
    r["euid"] = os.geteuid()
    # last: SIGKILL to the sandbox's init. From inside its PID namespace the kernel drops it; if
    # it did arrive, the whole environment would die and this invocation would not return.
    r["kill 1"] = _outcome(os.kill, 1, signal.SIGKILL)
    return r


def _in_child(fn, *args):
    """Runs fn in a forked child (so that a success does not change this process) and returns
    its _outcome."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, _outcome(fn, *args).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        result = f.read().decode()
    os.waitpid(pid, 0)
    return result or "child died"


def kill_everything(event, context):
    """Signals every process it is allowed to signal (kill -1), which outside a PID namespace
    would include every other function running under the same uid."""
    return {"kill -1": _outcome(os.kill, -1, signal.SIGKILL), "alive": True}


# ---------------------------------------------------------------------------------------------
# Resource limits
# ---------------------------------------------------------------------------------------------


def fork_bomb(event, context):
    started = time.monotonic()
    children = 0
    error = None
    limit = int(event.get("max", 5000))
    while children < limit and time.monotonic() - started < float(event.get("seconds", 20)):
        try:
            pid = os.fork()
        except OSError as e:
            error = errno.errorcode.get(e.errno, str(e.errno))
            break
        if pid == 0:
            try:
                while True:
                    signal.pause()
            finally:
                os._exit(0)
        children += 1
    return {"children": children, "error": error, "seconds": time.monotonic() - started}


def forker(event, context):
    """Forks `n` short-lived children and waits for them."""
    made, error = 0, None
    for _ in range(int(event.get("n", 50))):
        try:
            pid = os.fork()
        except OSError as e:
            error = errno.errorcode.get(e.errno, str(e.errno))
            break
        if pid == 0:
            os._exit(0)
        made += 1
        os.waitpid(pid, 0)
    return {"made": made, "error": error}


def fill_tmp(event, context):
    chunk = b"\xa5" * (1024 * 1024)
    written, error = 0, None
    path = "/tmp/fill"
    started = time.monotonic()
    try:
        with open(path, "wb") as f:
            while time.monotonic() - started < float(event.get("seconds", 30)):
                f.write(chunk)
                f.flush()
                written += len(chunk)
    except OSError as e:
        error = errno.errorcode.get(e.errno, str(e.errno))
        try:
            written = os.path.getsize(path)
        except OSError:
            pass
    st = os.statvfs("/tmp")
    size = st.f_blocks * st.f_frsize
    try:
        os.unlink(path)
    except OSError:
        pass
    return {"written": written, "error": error, "tmp_size": size, "seconds": time.monotonic() - started}


def hog(event, context):
    chunks = []
    while True:
        chunks.append(bytearray(b"x" * (16 * 1024 * 1024)))


# ---------------------------------------------------------------------------------------------
# The victim
# ---------------------------------------------------------------------------------------------


def victim(event, context):
    """Marks that it is running (the test watches for the marker from the host), sleeps, then
    reports its own secrets, which must be intact."""
    with open("/tmp/victim-running", "w") as f:
        f.write(context.aws_request_id)
    deadline = time.monotonic() + float(event.get("seconds", 0))
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return {
        "request_id": context.aws_request_id,
        "secret_env": os.environ.get("SECRET"),
        "secret_file": open("/var/task/secret.txt").read(),
    }
