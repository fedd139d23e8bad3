//! Deferred sandboxes: a runtime started before its code is known, specialised later with
//! `attach_code` (root needed).

mod common;

use std::io::{BufRead, BufReader};

use common::*;
use lambent_sandbox::{CodeAttachment, Command, PreparedSandbox, SandboxError};

fn attachment(code: &std::path::Path) -> CodeAttachment {
    CodeAttachment {
        code_dir: code.to_path_buf(),
        opt_dir: None,
        tmp_mb: 16,
        memory_mb: 128,
        exec: None,
    }
}

/// Runs from `/var/runtime` before any code exists: reports who init is, waits for the code to
/// appear at `/var/task`, then reports what it sees.
const WAITER_PY: &str = r#"
import json, os, sys, time

def init_uid():
    with open("/proc/1/status") as f:
        return next(l.split()[1] for l in f if l.startswith("Uid:"))

print(json.dumps({"before": {"init_uid": init_uid(), "task": os.listdir("/var/task")}}), flush=True)
deadline = time.monotonic() + 60
while not os.path.exists("/var/task/handler.txt"):
    if time.monotonic() > deadline:
        sys.exit(3)
    time.sleep(0.005)
try:
    open("/var/task/new", "w")
    task_writable = True
except OSError:
    task_writable = False
st = os.statvfs("/tmp")
print(json.dumps({
    "handler": open("/var/task/handler.txt").read(),
    "layer": open("/opt/layer.txt").read(),
    "init_uid": init_uid(),
    "task_writable": task_writable,
    "tmp_mb": st.f_blocks * st.f_frsize // (1024 * 1024),
    "uid": os.getuid(),
}), flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_sandbox_runs_before_its_code_and_attaches_it_read_only() {
    let runtime = code_dir(&[("waiter.py", WAITER_PY)]);
    let code = code_dir(&[("handler.txt", "the function")]);
    let layer = code_dir(&[("layer.txt", "the layer")]);
    let mut spec = python_spec(
        "deferred",
        std::path::Path::new("/"),
        "/var/runtime/waiter.py",
    );
    spec.code_dir = std::path::PathBuf::new();
    spec.deferred_code = true;
    spec.runtime_dir = Some(runtime.path().to_path_buf());
    spec.memory_mb = 128;
    spec.tmp_mb = 8;
    let mut sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let stdout = sandbox.take_stdout().expect("stdout");
    let stderr = read_pipe(sandbox.take_stderr().expect("stderr"));
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    tokio::task::spawn_blocking(move || {
        for line in BufReader::new(std::fs::File::from(stdout)).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = async |lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>| {
        let line = tokio::time::timeout(RUN_TIMEOUT, lines.recv())
            .await
            .expect("runtime output in time")
            .expect("a line of output");
        serde_json::from_str::<serde_json::Value>(&line).expect("JSON line")
    };

    let before = next_line(&mut lines).await;
    assert_eq!(
        before["before"]["init_uid"], "0",
        "init is privileged until attached"
    );
    assert_eq!(before["before"]["task"], serde_json::json!([]));

    sandbox
        .attach_code(&CodeAttachment {
            code_dir: code.path().to_path_buf(),
            opt_dir: Some(layer.path().to_path_buf()),
            tmp_mb: 32,
            memory_mb: 200,
            exec: None,
        })
        .expect("attach");
    let memory_dir = sandbox
        .cgroup_dirs()
        .into_iter()
        .find(|d| d.join("memory.limit_in_bytes").exists() || d.join("memory.max").exists())
        .expect("memory cgroup");
    let limit = ["memory.limit_in_bytes", "memory.max"]
        .iter()
        .find_map(|f| std::fs::read_to_string(memory_dir.join(f)).ok())
        .expect("memory limit file");
    assert_eq!(limit.trim(), (200u64 << 20).to_string());

    let after = next_line(&mut lines).await;
    assert_eq!(after["handler"], "the function");
    assert_eq!(after["layer"], "the layer");
    assert_eq!(after["task_writable"], false);
    assert_eq!(after["tmp_mb"], 32);
    assert_eq!(after["uid"], 993);
    assert_eq!(
        after["init_uid"], "993",
        "init gave up root after attaching"
    );

    // A second attach is refused and changes nothing.
    let again = sandbox.attach_code(&attachment(code.path()));
    assert!(
        matches!(&again, Err(SandboxError::Init(msg)) if msg.contains("already")),
        "{again:?}"
    );
    let exit = tokio::time::timeout(RUN_TIMEOUT, sandbox.wait())
        .await
        .expect("exit in time")
        .expect("wait");
    let stderr = stderr.await.expect("stderr");
    assert!(exit.success(), "{exit:?}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_sandbox_refuses_attach() {
    let code = code_dir(&[("sleep.py", "import time\ntime.sleep(120)\n")]);
    let spec = python_spec("noattach", code.path(), "sleep.py");
    let sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let other = code_dir(&[("x", "y")]);
    let refused = sandbox.attach_code(&attachment(other.path()));
    assert!(
        matches!(&refused, Err(SandboxError::Init(msg)) if msg.contains("already")),
        "{refused:?}"
    );
    drop(sandbox);
}

/// A sandbox built with nothing running: the attachment names the program (a native runtime
/// such as `/var/task/bootstrap` is only known with the code), which starts confined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_sandbox_without_runtime_starts_the_one_named_at_attach() {
    let code = code_dir(&[(
        "main.py",
        "import json, os\n\
         init = next(l.split()[1] for l in open('/proc/1/status') if l.startswith('Uid:'))\n\
         print(json.dumps({'uid': os.getuid(), 'init_uid': init, 'who': os.environ['WHO'], \
         'env': sorted(k for k in os.environ if k != 'LC_CTYPE'), 'cwd': os.getcwd()}))\n",
    )]);
    let mut spec = python_spec("deferred-exec", std::path::Path::new("/"), "unused");
    spec.code_dir = std::path::PathBuf::new();
    spec.deferred_code = true;
    spec.argv = Vec::new();
    spec.env = Vec::new();
    let sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let mut attach = attachment(code.path());
    attach.exec = Some(Command {
        argv: vec![PYTHON.into(), "/var/task/main.py".into()],
        env: vec![("WHO".into(), "the function".into())],
    });
    sandbox.attach_code(&attach).expect("attach and exec");
    let out = finish(sandbox).await;
    assert!(out.exit.success(), "{:?}: {}", out.exit, out.stderr);
    let report = json(&out);
    assert_eq!(report["uid"], 993);
    assert_eq!(report["init_uid"], "993");
    assert_eq!(report["who"], "the function");
    // (Python itself adds LC_CTYPE when started in the C locale: PEP 538 coercion.)
    assert_eq!(
        report["env"],
        serde_json::json!(["WHO"]),
        "exactly the given environment"
    );
    assert_eq!(report["cwd"], "/var/task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_that_cannot_exec_reports_why_and_ends_the_sandbox() {
    let code = code_dir(&[("data.txt", "not a program")]);
    let mut spec = python_spec("deferred-noexec", std::path::Path::new("/"), "unused");
    spec.code_dir = std::path::PathBuf::new();
    spec.deferred_code = true;
    spec.argv = Vec::new();
    let mut sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let mut attach = attachment(code.path());
    attach.exec = Some(Command {
        argv: vec!["/var/task/bootstrap".into()],
        env: Vec::new(),
    });
    let failed = sandbox.attach_code(&attach);
    assert!(
        matches!(&failed, Err(SandboxError::Init(msg)) if msg.contains("exec /var/task/bootstrap")),
        "{failed:?}"
    );
    let exit = tokio::time::timeout(RUN_TIMEOUT, sandbox.wait())
        .await
        .expect("init exits")
        .expect("wait");
    assert!(!exit.success());
}
