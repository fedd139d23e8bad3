//! The processes a run drives: the floor server, the Lambent servers, and benchmark runtimes
//! started outside any sandbox for the floors.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::functions::{Packages, Rt};
use crate::http::Conn;

/// Kills and reaps a child process when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The floor server (`lambent-bench __floor-server`, see `floor.rs`) in its own process.
pub struct FloorServer {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl FloorServer {
    pub fn start() -> Result<FloorServer> {
        let mut child = Command::new("/proc/self/exe")
            .arg("__floor-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening ")
            .ok_or_else(|| format!("floor server said {line:?}"))?
            .parse()?;
        Ok(FloorServer {
            proc: Proc { child },
            addr,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Forgets the `/next` arrival times recorded so far.
    pub async fn reset(&self) -> Result<()> {
        let mut c = Conn::new(self.addr);
        c.request("POST", "/__reset", &[], b"").await?;
        Ok(())
    }

    /// CLOCK_MONOTONIC times (ns) of the `/next` polls received since the last reset.
    pub async fn nexts(&self) -> Result<Vec<u64>> {
        let mut c = Conn::new(self.addr);
        let r = c.request("GET", "/__nexts", &[], b"").await?;
        Ok(serde_json::from_slice(&r.body)?)
    }

    /// Waits until `n` polls arrived since the last reset (the floor server answers when they
    /// have, without polling), at most `limit`.
    pub async fn wait_nexts(&self, n: usize, limit: Duration) -> Result<Vec<u64>> {
        let mut c = Conn::new(self.addr);
        let r = tokio::time::timeout(
            limit,
            c.request("GET", &format!("/__nexts?n={n}"), &[], b""),
        )
        .await
        .map_err(|_| format!("runtimes did not poll /next {n} times within {limit:?}"))??;
        let v: Vec<u64> = serde_json::from_slice(&r.body)?;
        if v.len() < n {
            return Err(format!("only {} of {n} runtimes polled /next", v.len()).into());
        }
        Ok(v)
    }
}

/// `--memory-budget` of the benchmark servers: room for 100 environments of 1769 MB.
pub const MEMORY_BUDGET_MB: u32 = 200_000;

/// A `lambent serve` process with its own data directory, log captured to a file.
pub struct Lambent {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub isolation: String,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl Lambent {
    /// Starts a server with `--isolation isolation` and `--prestart prestart` (runtimes kept
    /// started ahead of demand per Python runtime; the default is 2).
    pub async fn start(
        bin: &Path,
        isolation: &str,
        prestart: usize,
        scratch: &Path,
    ) -> Result<Lambent> {
        let dir = scratch.join(format!("lambent-{isolation}-prestart{prestart}"));
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&dir)?;
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(bin);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(["--isolation", isolation, "--keep-alive", "30m"])
            .args(["--prestart", &prestart.to_string()])
            // Admission counts MemorySize, not memory used: the default budget (80 % of RAM)
            // admits only ten 1769 MB environments on a 23 GiB machine; S2 and S4 need 100.
            .args(["--memory-budget", &MEMORY_BUDGET_MB.to_string()])
            // No lambent.toml from the caller's directory, no inherited LAMBENT_* settings.
            .current_dir(&dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &dir)
            .env("NO_COLOR", "1")
            .env("LAMBENT_LOG", "info,lambent_invoker=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
        // which is async-signal-safe. It makes an interrupted benchmark take its server along.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command.spawn()?;
        let proc = Proc { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                break addr.parse::<SocketAddr>()?;
            }
            if Instant::now() > deadline {
                return Err(format!("lambent did not start; its log:\n{text}").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Lambent {
            proc,
            addr,
            isolation: isolation.to_owned(),
            data_dir,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The bootstraps this server installed (`<data-dir>/runtime`), the same files its
    /// environments mount at `/var/runtime`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.data_dir.join("runtime")
    }

    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    pub fn log_since(&self, offset: u64) -> String {
        let mut out = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log)
            && f.seek(SeekFrom::Start(offset)).is_ok()
        {
            let _ = f.read_to_string(&mut out);
        }
        out
    }

    /// SIGTERM, then SIGKILL after 20 s.
    pub async fn stop(mut self) {
        let pid = self.pid() as i32;
        // SAFETY: kill(2) on the pid of our own unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.proc.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Drop kills and reaps.
    }
}

/// A runtime process started outside any sandbox, pointed at the floor server.
pub fn spawn_runtime(
    packages: &Packages,
    rt: Rt,
    runtime_api: SocketAddr,
    code_dir: Option<&Path>,
    stream: &str,
) -> Result<Proc> {
    let code_dir = code_dir.unwrap_or_else(|| packages.code_dir(rt));
    let (argv, env) = packages.launch_outside(rt, code_dir, runtime_api, stream, 1769)?;
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env)
        .current_dir(code_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok(Proc { child })
}

use std::os::unix::process::CommandExt as _;
