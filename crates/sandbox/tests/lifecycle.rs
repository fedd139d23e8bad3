//! Limits, freezing, killing, cleanup and error reporting of real sandboxes (root needed).

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use lambent_sandbox::{CgroupVersion, PreparedSandbox, SandboxError, SandboxExit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_bomb_is_stopped_by_pids_max() {
    let code = code_dir(&[(
        "bomb.py",
        "import os, time\nprint('start', flush=True)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n",
    )]);
    let mut spec = python_spec("forkbomb", code.path(), "bomb.py");
    spec.pids_max = 32;
    spec.cpu_weight_mb = 885; // half a CPU: keep the host responsive
    let mut sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let dirs = sandbox.cgroup_dirs();
    let pids_dir = dirs
        .iter()
        .find(|d| d.join("pids.max").exists())
        .expect("pids cgroup")
        .clone();
    let stdout = sandbox.take_stdout().expect("stdout");
    let mut first = String::new();
    BufReader::new(std::fs::File::from(stdout))
        .read_line(&mut first)
        .expect("read");
    assert_eq!(first.trim(), "start");

    // Let the bomb hit the limit, then check it never went beyond it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let hit_limit = loop {
        let events = std::fs::read_to_string(pids_dir.join("pids.events")).unwrap_or_default();
        let max_events: u64 = events
            .lines()
            .find_map(|l| l.strip_prefix("max "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if max_events > 0 || Instant::now() > deadline {
            break max_events > 0;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(hit_limit, "the fork bomb never reached pids.max");
    let current: u64 = std::fs::read_to_string(pids_dir.join("pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(current <= 32, "pids.current {current} > pids.max");
    if let Ok(peak) = std::fs::read_to_string(pids_dir.join("pids.peak")) {
        assert!(peak.trim().parse::<u64>().unwrap() <= 32);
    }

    // kill() must stop the whole bomb, and nothing may be left afterwards.
    let id = spec.id.clone();
    let pids = cgroup_pids(&dirs);
    let t = Instant::now();
    sandbox.kill();
    let exit = tokio::time::timeout(Duration::from_secs(30), sandbox.wait())
        .await
        .expect("wait timed out")
        .expect("wait");
    assert_eq!(exit, SandboxExit::Signaled(libc::SIGKILL));
    drop(sandbox);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_nothing_left(&id, &dirs, &pids, code.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_oom_kills_and_is_reported() {
    let code = code_dir(&[(
        "hog.py",
        "chunks = []\nfor i in range(64):\n    chunks.append(b'\\1' * (8 << 20))\n    print(i, flush=True)\nprint('survived', flush=True)\n",
    )]);
    let mut spec = python_spec("oom", code.path(), "hog.py");
    spec.memory_mb = 64;
    let out = run(&spec).await;
    assert_eq!(
        out.exit,
        SandboxExit::Exited(128 + libc::SIGKILL),
        "stderr:\n{}",
        out.stderr
    );
    assert!(out.oom_killed, "oom_killed() must be true");
    assert!(!out.stdout.contains("survived"));
    let peak = out.max_memory.expect("peak memory");
    assert!(peak > 48 << 20 && peak <= 64 << 20, "peak {peak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_stops_and_thaw_resumes() {
    let code = code_dir(&[(
        "tick.py",
        "import time\ni = 0\nwhile True:\n    print(i, flush=True)\n    i += 1\n    time.sleep(0.02)\n",
    )]);
    let spec = python_spec("freeze", code.path(), "tick.py");
    let mut sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let stdout = sandbox.take_stdout().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(std::fs::File::from(stdout)).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for _ in 0..5 {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("tick before freeze");
    }

    let t = Instant::now();
    sandbox.freeze().expect("freeze");
    let freeze_time = t.elapsed();
    // Lines already in the pipe may still arrive; give them a moment, then drop them.
    std::thread::sleep(Duration::from_millis(50));
    while rx.try_recv().is_ok() {}
    std::thread::sleep(Duration::from_millis(400));
    let while_frozen = rx.try_iter().count();
    assert_eq!(while_frozen, 0, "ticks while frozen");

    let t = Instant::now();
    sandbox.thaw().expect("thaw");
    let thaw_time = t.elapsed();
    rx.recv_timeout(Duration::from_secs(5))
        .expect("tick after thaw");
    rx.recv_timeout(Duration::from_secs(5))
        .expect("second tick after thaw");
    eprintln!("freeze {freeze_time:?}, thaw {thaw_time:?}");

    // A frozen sandbox can still be killed.
    sandbox.freeze().expect("freeze again");
    sandbox.kill();
    let exit = tokio::time::timeout(Duration::from_secs(30), sandbox.wait())
        .await
        .expect("wait timed out")
        .expect("wait");
    assert_eq!(exit, SandboxExit::Signaled(libc::SIGKILL));
    drop(sandbox);
    reader.join().expect("reader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_drop_leave_nothing_behind() {
    let code = code_dir(&[(
        "tree.py",
        "import subprocess, time\nchild = subprocess.Popen(['/usr/bin/sleep', '1000'])\nprint('ready', child.pid, flush=True)\ntime.sleep(1000)\n",
    )]);
    let spec = python_spec("killdrop", code.path(), "tree.py");
    let mut sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let stdout = sandbox.take_stdout().expect("stdout");
    let mut line = String::new();
    BufReader::new(std::fs::File::from(stdout))
        .read_line(&mut line)
        .expect("read");
    assert!(line.starts_with("ready 3"), "{line}");

    let dirs = sandbox.cgroup_dirs();
    let pids = cgroup_pids(&dirs);
    assert_eq!(pids.len(), 3, "init, python and sleep: {pids:?}");
    assert!(pids.contains(&sandbox.pid()));
    sandbox.kill();
    let exit = tokio::time::timeout(Duration::from_secs(30), sandbox.wait())
        .await
        .expect("wait timed out")
        .expect("wait");
    assert_eq!(exit, SandboxExit::Signaled(libc::SIGKILL));
    // wait() is idempotent.
    assert_eq!(sandbox.wait().await.expect("wait again"), exit);
    drop(sandbox);
    assert_nothing_left(&spec.id, &dirs, &pids, code.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_sandbox_cleans_up() {
    let code = code_dir(&[(
        "sleep.py",
        "import time\nprint('up', flush=True)\ntime.sleep(1000)\n",
    )]);
    let spec = python_spec("droprun", code.path(), "sleep.py");
    let mut sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let stdout = sandbox.take_stdout().expect("stdout");
    let mut line = String::new();
    let mut reader = BufReader::new(std::fs::File::from(stdout));
    reader.read_line(&mut line).expect("read");
    let dirs = sandbox.cgroup_dirs();
    let pids = cgroup_pids(&dirs);
    drop(sandbox);
    assert_nothing_left(&spec.id, &dirs, &pids, code.path());
    // Every writer of the pipe is gone.
    line.clear();
    assert_eq!(reader.read_line(&mut line).expect("read"), 0);
}

#[test]
fn dropping_a_prepared_sandbox_cleans_up() {
    let code = code_dir(&[("x.py", "print('never runs')\n")]);
    let spec = python_spec("dropprep", code.path(), "x.py");
    let prepared = PreparedSandbox::create(&spec).expect("create");
    let _listener = prepared
        .bind_tcp("127.0.0.1:9001".parse().unwrap())
        .expect("bind");
    let dirs = prepared.cgroup_dirs();
    let pid = prepared.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(prepared);
    assert_nothing_left(&spec.id, &dirs, &[pid], code.path());
}

#[test]
fn setup_failures_are_reported() {
    let code = code_dir(&[("x.py", "print(1)\n")]);

    let mut spec = python_spec("badargv", code.path(), "x.py");
    spec.argv[0] = "/usr/bin/does-not-exist".into();
    match PreparedSandbox::create(&spec).expect("create").start() {
        Err(SandboxError::Init(msg)) => {
            assert!(
                msg.contains("exec /usr/bin/does-not-exist") && msg.contains("No such file"),
                "{msg}"
            );
        }
        other => panic!("expected Init error, got {other:?}"),
    }

    let mut spec = python_spec("badcwd", code.path(), "x.py");
    spec.cwd = "/var/task/missing".into();
    match PreparedSandbox::create(&spec).expect("create").start() {
        Err(SandboxError::Init(msg)) => assert!(msg.contains("chdir /var/task/missing"), "{msg}"),
        other => panic!("expected Init error, got {other:?}"),
    }

    let mut spec = python_spec("badinit", code.path(), "x.py");
    spec.init_exe = "/nonexistent/init".into();
    match PreparedSandbox::create(&spec).expect("create").start() {
        Err(SandboxError::Init(msg)) => assert!(
            msg.contains("execve init_exe") && msg.contains("errno 2"),
            "{msg}"
        ),
        other => panic!("expected Init error, got {other:?}"),
    }

    // A binary that is not a sandbox init exits without reporting.
    let mut spec = python_spec("notinit", code.path(), "x.py");
    spec.init_exe = "/usr/bin/true".into();
    match PreparedSandbox::create(&spec).expect("create").start() {
        Err(SandboxError::InitDied(msg)) => assert!(msg.contains("Exited(0)"), "{msg}"),
        other => panic!("expected InitDied, got {other:?}"),
    }

    // An unreadable code directory is reported as a clear chdir failure.
    let private = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        private.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let spec = python_spec("privcode", private.path(), "x.py");
    match PreparedSandbox::create(&spec).expect("create").start() {
        Err(SandboxError::Init(msg)) => assert!(
            msg.contains("chdir /var/task") && msg.contains("denied"),
            "{msg}"
        ),
        other => panic!("expected Init error, got {other:?}"),
    }

    let mut spec = python_spec("BAD id", code.path(), "x.py");
    spec.id = "BAD id".into();
    assert!(matches!(
        PreparedSandbox::create(&spec),
        Err(SandboxError::InvalidSpec(_))
    ));

    for name in ["badargv", "badcwd", "badinit", "notinit", "privcode"] {
        assert!(!any_process_in_cgroup(&unique_id(name)));
    }
}

#[test]
fn cgroup_limits_are_written() {
    let code = code_dir(&[("x.py", "print(1)\n")]);
    let mut spec = python_spec("limits", code.path(), "x.py");
    spec.memory_mb = 300;
    spec.pids_max = 77;
    spec.cpu_weight_mb = 3538;
    let prepared = PreparedSandbox::create(&spec).expect("create");
    let dirs = prepared.cgroup_dirs();
    let read = |file: &str| -> Option<String> {
        dirs.iter()
            .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
            .map(|s| s.trim().to_string())
    };
    match lambent_sandbox::detect_version() {
        CgroupVersion::V1 => {
            assert_eq!(read("memory.limit_in_bytes").as_deref(), Some("314572800"));
            if let Some(memsw) = read("memory.memsw.limit_in_bytes") {
                assert_eq!(memsw, "314572800");
            }
            assert_eq!(read("cpu.cfs_quota_us").as_deref(), Some("200000"));
            assert_eq!(read("cpu.cfs_period_us").as_deref(), Some("100000"));
        }
        CgroupVersion::V2 => {
            assert_eq!(read("memory.max").as_deref(), Some("314572800"));
            assert_eq!(read("cpu.max").as_deref(), Some("200000 100000"));
        }
    }
    assert_eq!(read("pids.max").as_deref(), Some("77"));
    // Init already sits in every cgroup of the sandbox.
    for d in &dirs {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs
                .lines()
                .any(|l| l.trim() == prepared.pid().to_string()),
            "{}",
            d.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sandboxes_in_parallel() {
    let code = code_dir(&[(
        "id.py",
        "import os\nprint(os.environ['N'], os.getpid(), flush=True)\n",
    )]);
    let mut handles = Vec::new();
    for n in 0..4 {
        let mut spec = python_spec(&format!("par{n}"), code.path(), "id.py");
        spec.env.push(("N".into(), n.to_string()));
        handles.push(tokio::spawn(async move { run(&spec).await }));
    }
    for (n, h) in handles.into_iter().enumerate() {
        let out = h.await.expect("join");
        assert_eq!(out.exit, SandboxExit::Exited(0), "stderr:\n{}", out.stderr);
        assert_eq!(out.stdout, format!("{n} 2\n"));
    }
}

#[test]
fn probe_host_accepts_this_machine() {
    let caps = lambent_sandbox::probe_host().expect("this root test machine can build sandboxes");
    assert_eq!(caps.cgroup_version, lambent_sandbox::detect_version());
    assert!(!caps.kernel_release.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn favordynmods_host_setup_mounts_and_unmounts() {
    let setup = lambent_sandbox::host_setup().expect("host_setup");
    let mount = setup.favordynmods_mount().map(|p| p.to_path_buf());
    if let Some(m) = &mount {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            mountinfo
                .lines()
                .any(|l| l.contains(m.to_str().unwrap()) && l.contains("favordynmods"))
        );
    }
    let code = code_dir(&[("x.py", "print('ok')\n")]);
    let out = run(&python_spec("fdm", code.path(), "x.py")).await;
    assert_eq!(out.stdout, "ok\n");
    lambent_sandbox::host_teardown(setup);
    if let Some(m) = &mount {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mountinfo.contains(m.to_str().unwrap()),
            "favordynmods mount left behind"
        );
        assert!(!m.exists(), "mount point directory left behind");
    }
}

#[test]
fn sandbox_dies_with_a_crashed_host() {
    use std::process::{Command, Stdio};

    // Orphaned inits are re-parented to this test process, which can then reap them.
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer argument only.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    let code = code_dir(&[]);
    let id = unique_id("hostcrash");
    let mut host = Command::new(init_exe())
        .args(["--host-crash-helper", &id, code.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let mut line = String::new();
    BufReader::new(host.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read helper");
    let mut parts = line.split_whitespace();
    let init_pid: i32 = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("helper said {line:?}"));
    let dirs: Vec<std::path::PathBuf> = parts.next().unwrap().split(',').map(Into::into).collect();
    assert!(any_process_in_cgroup(&id));

    // The "host" dies without any cleanup.
    host.kill().expect("kill helper");
    host.wait().expect("reap helper");

    // Init notices its lifeline closing, kills the sandbox and exits with 128 + SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(init_pid, &mut status, libc::WNOHANG) };
        if r == init_pid {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "orphaned sandbox init {init_pid} did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 128 + libc::SIGKILL,
        "status {status:#x}"
    );
    assert!(
        !any_process_in_cgroup(&id),
        "sandbox processes survived their host"
    );
    // Nobody was left to remove the (now empty) cgroups; a crashed server's successor would.
    for d in dirs {
        std::fs::remove_dir(&d).unwrap_or_else(|e| panic!("rmdir {}: {e}", d.display()));
    }
}

#[test]
fn cpu_share_can_be_changed_after_start() {
    let code = code_dir(&[("x.py", "import time\ntime.sleep(30)\n")]);
    let mut spec = python_spec("cpu-change", code.path(), "x.py");
    spec.cpu_weight_mb = 0;
    let sandbox = PreparedSandbox::create(&spec)
        .expect("create")
        .start()
        .expect("start");
    let dirs = sandbox.cgroup_dirs();
    let read = |file: &str| -> Option<String> {
        dirs.iter()
            .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
            .map(|s| s.trim().to_string())
    };
    let (file, unlimited, limited) = match lambent_sandbox::detect_version() {
        CgroupVersion::V1 => ("cpu.cfs_quota_us", "-1", "100000"),
        CgroupVersion::V2 => ("cpu.max", "max 100000", "100000 100000"),
    };
    assert_eq!(read(file).as_deref(), Some(unlimited));
    sandbox.set_cpu_weight_mb(1769).expect("set cpu");
    assert_eq!(read(file).as_deref(), Some(limited));
    sandbox.set_cpu_weight_mb(0).expect("unset cpu");
    assert_eq!(read(file).as_deref(), Some(unlimited));
}
