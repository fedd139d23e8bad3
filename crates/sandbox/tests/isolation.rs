//! What a process inside the sandbox can see and do. Each test runs a real sandbox (root needed).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use lambent_sandbox::{PreparedSandbox, SandboxExit};

const IDENTITY_PY: &str = r#"
import json, os, pwd, resource, socket
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
env = [e.decode() for e in open('/proc/self/environ', 'rb').read().split(b'\0') if e]
try:
    open('/proc/1/environ').read()
    init_environ = 'readable'
except OSError as e:
    init_environ = e.errno
print(json.dumps({
    'pid': os.getpid(),
    'ppid': os.getppid(),
    'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
    'uid': os.getresuid(), 'gid': os.getresgid(), 'groups': os.getgroups(),
    'caps': {k: status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')},
    'no_new_privs': status['NoNewPrivs'].strip(),
    'seccomp': status['Seccomp'].strip(),
    'hostname': socket.gethostname(),
    'root': sorted(os.listdir('/')),
    'etc': sorted(os.listdir('/etc')),
    'dev': sorted(os.listdir('/dev')),
    'passwd': open('/etc/passwd').read(),
    'shadow': os.path.exists('/etc/shadow'),
    'user': pwd.getpwuid(os.getuid()).pw_name,
    'cwd': os.getcwd(),
    'env': env,
    'ifaces': [n for _, n in socket.if_nameindex()],
    'nofile': resource.getrlimit(resource.RLIMIT_NOFILE),
    'init_environ': init_environ,
    'sys_exists': os.path.exists('/sys/kernel'),
}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_privileges_and_view() {
    let code = code_dir(&[("identity.py", IDENTITY_PY)]);
    let spec = python_spec("identity", code.path(), "identity.py");
    let out = run(&spec).await;
    assert_eq!(out.exit, SandboxExit::Exited(0), "stderr:\n{}", out.stderr);
    assert!(!out.oom_killed);
    assert!(out.max_memory.is_some_and(|m| m > 0));
    let v = json(&out);

    // PID namespace: the runtime is pid 2 under init, and sees nothing else.
    assert_eq!(v["pid"], 2);
    assert_eq!(v["ppid"], 1);
    let pids: Vec<i64> = v["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    assert!(
        pids.iter().all(|p| *p == 1 || *p == 2),
        "visible pids {pids:?}"
    );
    assert!(pids.contains(&2));

    // Unprivileged, no capabilities, no way back.
    assert_eq!(v["uid"], serde_json::json!([993, 993, 993]));
    assert_eq!(v["gid"], serde_json::json!([993, 993, 993]));
    assert_eq!(v["groups"], serde_json::json!([]));
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(v["caps"][cap], "0000000000000000", "{cap}");
    }
    assert_eq!(v["no_new_privs"], "1");
    assert_eq!(v["seccomp"], "2");
    assert_eq!(v["user"], "sbx_user1051");
    assert_eq!(v["nofile"], serde_json::json!([1024, 1024]));
    // Init is root-owned in /proc (non-dumpable): its environment is not readable.
    assert_eq!(v["init_environ"], libc::EACCES);

    // UTS and network namespaces.
    assert_eq!(v["hostname"], "sandbox");
    assert_eq!(v["ifaces"], serde_json::json!(["lo"]));

    // The minimal root.
    let mut expected: BTreeSet<String> = ["dev", "etc", "opt", "proc", "tmp", "usr", "var"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for l in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if Path::new("/").join(l).symlink_metadata().is_ok() {
            expected.insert(l.to_string());
        }
    }
    let root: BTreeSet<String> = v["root"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(root, expected);
    assert_eq!(v["shadow"], false);
    assert_eq!(v["sys_exists"], false);
    let etc: Vec<&str> = v["etc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for f in ["passwd", "group", "hosts", "nsswitch.conf"] {
        assert!(etc.contains(&f), "/etc/{f} missing: {etc:?}");
    }
    for f in ["shadow", "gshadow", "sudoers", "ssh"] {
        assert!(!etc.contains(&f), "/etc/{f} must not be visible");
    }
    let passwd = v["passwd"].as_str().unwrap();
    assert!(!passwd.contains("/home/"), "host accounts leaked: {passwd}");
    let dev: BTreeSet<&str> = v["dev"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let expected_dev: BTreeSet<&str> = [
        "fd", "full", "null", "random", "stderr", "stdin", "stdout", "urandom", "zero",
    ]
    .into_iter()
    .collect();
    assert_eq!(dev, expected_dev);

    // Exactly the configured environment, nothing inherited from the host.
    let env: Vec<String> = v["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(env, want);
    assert_eq!(v["cwd"], "/var/task");
}

const FS_PY: &str = r#"
import errno, json, os, sys
res = {}
def attempt(path):
    try:
        with open(path, 'w') as f:
            f.write('x')
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
for name, path in [('task', '/var/task/x'), ('usr', '/usr/x'), ('usr_bin', '/usr/bin/x'), ('etc', '/etc/x'),
                   ('etc_passwd', '/etc/passwd'), ('root', '/x'), ('dev', '/dev/x'), ('runtime', '/var/runtime/x'),
                   ('opt', '/opt/x'), ('opt_sub', '/opt/sub/x'), ('ssl', '/etc/ssl/x'), ('tmp', '/tmp/ok'), ('devnull', '/dev/null')]:
    res[name] = attempt(path)
res['runtime_file'] = open('/var/runtime/bootstrap').read()
res['opt_file'] = open('/opt/sub/layer.txt').read()
written = 0
try:
    with open('/tmp/' + sys.argv[1], 'wb', buffering=0) as f:
        chunk = b'\1' * (1 << 20)
        while written < (64 << 20):
            f.write(chunk)
            written += len(chunk)
    res['fill'] = 'no error'
except OSError as e:
    res['fill'] = errno.errorcode.get(e.errno, str(e.errno))
res['filled_mb'] = written >> 20
print(json.dumps(res))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_read_only_and_tmp_limited() {
    let code = code_dir(&[("fs.py", FS_PY)]);
    let runtime = code_dir(&[("bootstrap", "#!/bin/sh\n")]);
    let opt = code_dir(&[]);
    std::fs::create_dir(opt.path().join("sub")).unwrap();
    std::fs::write(opt.path().join("sub/layer.txt"), "layer").unwrap();
    std::fs::set_permissions(
        opt.path().join("sub"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();

    let marker = format!("lambent-fill-{}", std::process::id());
    let mut spec = python_spec("fs", code.path(), "fs.py");
    spec.argv.push(marker.clone());
    spec.runtime_dir = Some(runtime.path().to_path_buf());
    spec.opt_dir = Some(opt.path().to_path_buf());
    spec.tmp_mb = 8;
    spec.memory_mb = 128;
    let before: Vec<_> = std::fs::read_dir(code.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();

    let out = run(&spec).await;
    assert_eq!(out.exit, SandboxExit::Exited(0), "stderr:\n{}", out.stderr);
    let v = json(&out);
    for key in [
        "task",
        "usr",
        "usr_bin",
        "etc",
        "etc_passwd",
        "root",
        "dev",
        "runtime",
        "opt",
        "opt_sub",
        "ssl",
    ] {
        assert_eq!(v[key], "EROFS", "{key}: {v}");
    }
    assert_eq!(v["tmp"], "ok");
    assert_eq!(v["devnull"], "ok");
    assert_eq!(v["runtime_file"], "#!/bin/sh\n");
    assert_eq!(v["opt_file"], "layer");
    assert_eq!(v["fill"], "ENOSPC");
    let filled = v["filled_mb"].as_u64().unwrap();
    assert!(
        (6..=8).contains(&filled),
        "filled {filled} MiB of an 8 MiB /tmp"
    );

    // The host saw none of it: no file in its /tmp, the code dir (and the world-writable opt
    // subdirectory) unchanged.
    assert!(!Path::new("/tmp").join(&marker).exists());
    let after: Vec<_> = std::fs::read_dir(code.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        std::fs::read_dir(opt.path().join("sub")).unwrap().count(),
        1
    );
}

const SYSCALLS_PY: &str = r#"
import ctypes, errno, json, os, signal, threading, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.ptrace.restype = ctypes.c_long
def res_of(r):
    return 'ok' if r != -1 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
def call(f, *args):
    ctypes.set_errno(0)
    return res_of(f(*args))
res = {}
res['mount_tmpfs'] = call(libc.mount, b'none', b'/tmp', b'tmpfs', ctypes.c_ulong(0), None)
res['remount_rw'] = call(libc.mount, None, b'/', None, ctypes.c_ulong(32 | 4096), None)
res['umount_proc'] = call(libc.umount2, b'/proc', 2)
res['unshare_user'] = call(libc.unshare, 0x10000000)
res['unshare_mnt'] = call(libc.unshare, 0x00020000)
res['unshare_net'] = call(libc.unshare, 0x40000000)
fd = os.open('/proc/self/ns/net', os.O_RDONLY)
res['setns'] = call(libc.setns, fd, 0)
res['ptrace_init'] = call(libc.ptrace, ctypes.c_long(16), ctypes.c_long(1), None, None)
res['setuid0'] = call(libc.setuid, 0)
res['setgid0'] = call(libc.setgid, 0)
res['chroot'] = call(libc.chroot, b'/tmp')
res['bpf'] = call(libc.syscall, ctypes.c_long(321), 0, None, 0)
res['io_uring'] = call(libc.syscall, ctypes.c_long(425), 8, None)
res['keyctl'] = call(libc.syscall, ctypes.c_long(250), 0, 0, 0)
res['perf_event_open'] = call(libc.syscall, ctypes.c_long(298), None, 0, -1, -1, 0)
res['clone3'] = call(libc.syscall, ctypes.c_long(435), None, ctypes.c_long(0))
# Raw clone(CLONE_NEWNET | SIGCHLD): must be refused; if it were not, the child must not continue.
ctypes.set_errno(0)
r = libc.syscall(ctypes.c_long(56), ctypes.c_ulong(0x40000000 | 17), None, None, None, None)
if r == 0:
    os._exit(0)
res['clone_newnet'] = res_of(r)
# x32 ABI variant of unshare (0x40000000 | 272): not an escape hatch.
res['x32_unshare'] = call(libc.syscall, ctypes.c_long(0x40000000 | 272), 0x10000000)
# Ordinary process and thread creation still work (clone fallback after clone3's ENOSYS).
pid = os.fork()
if pid == 0:
    os._exit(7)
res['fork_status'] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
box = []
t = threading.Thread(target=lambda: box.append(1)); t.start(); t.join()
res['thread'] = box == [1]
# Signals to init from inside the namespace are ignored; the sandbox keeps running.
os.kill(1, signal.SIGKILL)
os.kill(1, signal.SIGTERM)
time.sleep(0.1)
res['init_alive'] = os.path.exists('/proc/1')
try:
    open('/proc/1/mem', 'rb').read(1)
    res['init_mem'] = 'ok'
except OSError as e:
    res['init_mem'] = errno.errorcode.get(e.errno)
print(json.dumps(res))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_syscalls_fail() {
    let code = code_dir(&[("sys.py", SYSCALLS_PY)]);
    let out = run(&python_spec("syscalls", code.path(), "sys.py")).await;
    assert_eq!(out.exit, SandboxExit::Exited(0), "stderr:\n{}", out.stderr);
    let v = json(&out);
    for key in [
        "mount_tmpfs",
        "remount_rw",
        "umount_proc",
        "unshare_user",
        "unshare_mnt",
        "unshare_net",
        "setns",
        "ptrace_init",
        "setuid0",
        "setgid0",
        "chroot",
        "bpf",
        "io_uring",
        "keyctl",
        "perf_event_open",
        "clone_newnet",
    ] {
        assert_eq!(v[key], "EPERM", "{key}: {v}");
    }
    assert_eq!(v["clone3"], "ENOSYS");
    assert_eq!(v["x32_unshare"], "ENOSYS");
    assert_eq!(v["fork_status"], 7);
    assert_eq!(v["thread"], true);
    assert_eq!(v["init_alive"], true);
    assert_eq!(v["init_mem"], "EACCES");
}

const NET_PY: &str = r#"
import errno, json, os, socket, urllib.request
res = {}
port = int(os.environ['HOST_PORT'])
try:
    socket.create_connection(('127.0.0.1', port), timeout=3).close()
    res['host_port'] = 'connected'
except OSError as e:
    res['host_port'] = errno.errorcode.get(e.errno, str(e))
res['api'] = urllib.request.urlopen('http://127.0.0.1:9001/2018-06-01/runtime/invocation/next', timeout=10).read().decode()
s = socket.create_connection(('127.0.0.1', 9002), timeout=10)
s.sendall(b'ping\n')
res['line'] = s.makefile().readline().strip()
res['ifaces'] = [n for _, n in socket.if_nameindex()]
print(json.dumps(res))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_only_reaches_host_listeners_bound_inside() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    // A service on the host's loopback that the sandbox must NOT reach.
    let host_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    host_listener.set_nonblocking(true).unwrap();
    let host_port = host_listener.local_addr().unwrap().port();

    let code = code_dir(&[("net.py", NET_PY)]);
    let mut spec = python_spec("net", code.path(), "net.py");
    spec.env.push(("HOST_PORT".into(), host_port.to_string()));
    let prepared = PreparedSandbox::create(&spec).expect("create");

    // Runtime API style listener, served by tokio (as the server will).
    let api = prepared
        .bind_tcp("127.0.0.1:9001".parse().unwrap())
        .expect("bind 9001");
    api.set_nonblocking(true).unwrap();
    let api = tokio::net::TcpListener::from_std(api).unwrap();
    let api_task = tokio::spawn(async move {
        let (mut conn, _) = api.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = conn.read(&mut buf).await.unwrap();
        let request = String::from_utf8_lossy(&buf[..n]).to_string();
        let body = "hello-from-host";
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(resp.as_bytes()).await.unwrap();
        request
    });
    // A line protocol listener, to show several listeners per sandbox work.
    let line = prepared
        .bind_tcp("127.0.0.1:9002".parse().unwrap())
        .expect("bind 9002");
    line.set_nonblocking(true).unwrap();
    let line = tokio::net::TcpListener::from_std(line).unwrap();
    let line_task = tokio::spawn(async move {
        let (conn, _) = line.accept().await.unwrap();
        let (r, mut w) = conn.into_split();
        let mut l = String::new();
        BufReader::new(r).read_line(&mut l).await.unwrap();
        w.write_all(format!("pong:{}\n", l.trim()).as_bytes())
            .await
            .unwrap();
    });

    let out = finish(prepared.start().expect("start")).await;
    assert_eq!(out.exit, SandboxExit::Exited(0), "stderr:\n{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["host_port"], "ECONNREFUSED", "{v}");
    assert_eq!(v["api"], "hello-from-host");
    assert_eq!(v["line"], "pong:ping");
    assert_eq!(v["ifaces"], serde_json::json!(["lo"]));
    let request = api_task.await.unwrap();
    assert!(
        request.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{request}"
    );
    line_task.await.unwrap();
    // Nothing ever connected to the host's own listener.
    assert_eq!(
        host_listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_output_streams() {
    let code = code_dir(&[
        (
            "exit3.py",
            "import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr, flush=True)\nsys.exit(3)\n",
        ),
        (
            "term.py",
            "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n",
        ),
    ]);
    let out = run(&python_spec("exit3", code.path(), "exit3.py")).await;
    assert_eq!(out.exit, SandboxExit::Exited(3));
    assert_eq!(out.exit.code(), Some(3));
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");

    let out = run(&python_spec("term", code.path(), "term.py")).await;
    assert_eq!(out.exit, SandboxExit::Exited(128 + libc::SIGTERM));
    assert_eq!(out.exit.signal(), Some(libc::SIGTERM));
}
