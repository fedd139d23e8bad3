//! A binary that is nothing but a sandbox init, for the integration tests (the server binary
//! plays this role in production by calling `run_init_if_requested` at the top of `main`).
//!
//! `--host-crash-helper <id> <code_dir>` turns it into a tiny "host" that starts a sandbox and
//! then waits to be killed, so a test can check that sandboxes die with a crashed host.

use std::io::Write;

use lambent_sandbox::{PreparedSandbox, SandboxSpec};

fn main() {
    lambent_sandbox::run_init_if_requested();
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, id, code_dir] = args.as_slice()
        && flag == "--host-crash-helper"
    {
        std::process::exit(host_crash_helper(id, code_dir));
    }
    eprintln!("lambent-sandbox-test-init: only meant to be started by lambent-sandbox");
    std::process::exit(2);
}

fn host_crash_helper(id: &str, code_dir: &str) -> i32 {
    let spec = SandboxSpec {
        id: id.to_string(),
        init_exe: "/proc/self/exe".into(),
        code_dir: code_dir.into(),
        argv: vec!["/usr/bin/sleep".into(), "1000".into()],
        cwd: "/".into(),
        memory_mb: 64,
        tmp_mb: 1,
        pids_max: 16,
        uid: 993,
        gid: 993,
        ..Default::default()
    };
    match PreparedSandbox::create(&spec).and_then(PreparedSandbox::start) {
        Ok(sandbox) => {
            let dirs: Vec<String> = sandbox
                .cgroup_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            println!("{} {}", sandbox.pid(), dirs.join(","));
            let _ = std::io::stdout().flush();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1000));
            }
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
