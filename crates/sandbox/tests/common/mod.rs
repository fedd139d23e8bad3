//! Helpers shared by the integration tests. They build real sandboxes, so they need root.

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambent_sandbox::{PreparedSandbox, Sandbox, SandboxExit, SandboxSpec};
use tempfile::TempDir;

/// The system Python (not a pyenv shim, which lives outside the sandbox's view).
pub const PYTHON: &str = "/usr/bin/python3";

/// Generous upper bound for one sandboxed Python script on a busy 2-core machine.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

pub fn init_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lambent-sandbox-test-init"))
}

/// A sandbox id unique across concurrently running test processes.
pub fn unique_id(name: &str) -> String {
    format!("t{}-{name}", std::process::id())
}

/// A world-readable code directory holding `files` (the sandbox user must be able to read it).
pub fn code_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("lambent-sbx-test-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    for (name, content) in files {
        let path = dir.path().join(name);
        fs::write(&path, content).expect("write code file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    dir
}

/// A spec running `python3 <script>` from `code`, with small limits.
pub fn python_spec(name: &str, code: &Path, script: &str) -> SandboxSpec {
    SandboxSpec {
        id: unique_id(name),
        init_exe: init_exe(),
        code_dir: code.to_path_buf(),
        deferred_code: false,
        runtime_dir: None,
        opt_dir: None,
        argv: vec![PYTHON.into(), script.into()],
        env: vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("LAMBDA_TASK_ROOT".into(), "/var/task".into()),
            ("HOME".into(), "/tmp".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ],
        cwd: "/var/task".into(),
        memory_mb: 256,
        tmp_mb: 16,
        pids_max: 64,
        cpu_weight_mb: 1769,
        uid: 993,
        gid: 993,
    }
}

/// What a finished sandbox produced.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub exit: SandboxExit,
    pub oom_killed: bool,
    pub max_memory: Option<u64>,
}

/// Reads a pipe to EOF on a blocking thread.
pub fn read_pipe(fd: OwnedFd) -> tokio::task::JoinHandle<String> {
    tokio::task::spawn_blocking(move || {
        let mut s = String::new();
        let _ = fs::File::from(fd).read_to_string(&mut s);
        s
    })
}

/// Waits for a started sandbox and collects its output, killing it on timeout.
pub async fn finish(mut sandbox: Sandbox) -> Output {
    let out = read_pipe(sandbox.take_stdout().expect("stdout"));
    let err = read_pipe(sandbox.take_stderr().expect("stderr"));
    let exit = match tokio::time::timeout(RUN_TIMEOUT, sandbox.wait()).await {
        Ok(r) => r.expect("wait"),
        Err(_) => {
            sandbox.kill();
            panic!("sandbox did not finish within {RUN_TIMEOUT:?}");
        }
    };
    let output = Output {
        stdout: out.await.expect("stdout reader"),
        stderr: err.await.expect("stderr reader"),
        exit,
        oom_killed: sandbox.oom_killed(),
        max_memory: sandbox.max_memory_bytes(),
    };
    drop(sandbox);
    output
}

/// create → start → wait.
pub async fn run(spec: &SandboxSpec) -> Output {
    let sandbox = PreparedSandbox::create(spec)
        .expect("create")
        .start()
        .expect("start");
    finish(sandbox).await
}

/// Parses the last stdout line as JSON (scripts print one JSON object at the end).
pub fn json(out: &Output) -> serde_json::Value {
    let line = out
        .stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no stdout; exit {:?}; stderr:\n{}", out.exit, out.stderr));
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}; stderr:\n{}", out.stderr))
}

/// True if some process on the host is still in a cgroup of sandbox `id`.
pub fn any_process_in_cgroup(id: &str) -> bool {
    let needle = format!("/lambent/{id}");
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && fs::read_to_string(e.path().join("cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.ends_with(&needle)))
    })
}

/// Host pids of all processes in the sandbox (from a cgroup.procs file).
pub fn cgroup_pids(dirs: &[PathBuf]) -> Vec<i32> {
    let mut pids: Vec<i32> = dirs
        .iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Asserts nothing of sandbox `id` is left on the host.
pub fn assert_nothing_left(id: &str, dirs: &[PathBuf], pids: &[i32], code: &Path) {
    assert!(!dirs.is_empty(), "no cgroup dirs recorded");
    for d in dirs {
        assert!(!d.exists(), "cgroup dir {} left behind", d.display());
    }
    assert!(
        !any_process_in_cgroup(id),
        "a process is still in the sandbox's cgroup"
    );
    for pid in pids {
        // The pid may have been reused by an unrelated process; it must not be ours.
        if let Ok(cg) = fs::read_to_string(format!("/proc/{pid}/cgroup")) {
            assert!(
                !cg.contains(&format!("/lambent/{id}")),
                "process {pid} of the sandbox still alive"
            );
        }
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let code = code.to_string_lossy();
    assert!(
        !mountinfo.contains(code.as_ref()),
        "host mountinfo references the code dir"
    );
    assert!(
        !mountinfo.contains("/var/task"),
        "host mountinfo references /var/task"
    );
}
