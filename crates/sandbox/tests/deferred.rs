//! Deferred sandboxes: a runtime started before its code is known, specialised later with
//! `attach_code` (root needed).

mod common;

use std::io::{BufRead, BufReader};

use common::*;
use lambent_sandbox::{PreparedSandbox, SandboxError};

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
        .attach_code(code.path(), Some(layer.path()), 32, 200)
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
    let again = sandbox.attach_code(code.path(), None, 16, 128);
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
    let refused = sandbox.attach_code(other.path(), None, 16, 128);
    assert!(
        matches!(&refused, Err(SandboxError::Init(msg)) if msg.contains("already")),
        "{refused:?}"
    );
    drop(sandbox);
}
