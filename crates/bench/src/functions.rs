//! The benchmark functions (sources in `bench-functions/`): their code directories, their zips,
//! and how to start their runtimes outside the sandbox, exactly as Lambent starts them inside.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;

/// The three runtimes every scenario covers unless noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rt {
    Python,
    Node,
    Rust,
}

impl Rt {
    pub const ALL: [Rt; 3] = [Rt::Python, Rt::Node, Rt::Rust];

    /// The Lambda runtime identifier the function is created with.
    pub fn id(self) -> &'static str {
        match self {
            Rt::Python => "python3.12",
            Rt::Node => "nodejs20.x",
            Rt::Rust => "provided.al2023",
        }
    }

    /// Short name used in results and function names.
    pub fn label(self) -> &'static str {
        match self {
            Rt::Python => "python",
            Rt::Node => "node",
            Rt::Rust => "rust",
        }
    }

    pub fn handler(self) -> &'static str {
        match self {
            Rt::Python => "app.handler",
            Rt::Node => "index.handler",
            Rt::Rust => "bootstrap",
        }
    }

    pub fn parse(s: &str) -> Option<Rt> {
        match s {
            "python" | "python3.12" => Some(Rt::Python),
            "node" | "nodejs20.x" => Some(Rt::Node),
            "rust" | "provided.al2023" | "provided" => Some(Rt::Rust),
            _ => None,
        }
    }
}

/// A process environment.
pub type Env = Vec<(String, String)>;

/// Code directories and zips of the benchmark functions.
pub struct Packages {
    /// Code directories in [`Rt::ALL`] order.
    dirs: [PathBuf; 3],
    runtime_dir: PathBuf,
}

impl Packages {
    /// Builds the Rust function (`cargo build --release`, its own target directory) and lays out
    /// the three code directories under `scratch/code/<runtime>`.
    pub fn prepare(workspace: &Path, scratch: &Path, runtime_dir: &Path) -> Result<Packages> {
        let sources = workspace.join("bench-functions");
        let root = scratch.join("code");
        for rt in Rt::ALL {
            let dir = root.join(rt.label());
            std::fs::create_dir_all(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
        copy(
            &sources.join("python/app.py"),
            &root.join("python/app.py"),
            0o644,
        )?;
        copy(
            &sources.join("node/index.mjs"),
            &root.join("node/index.mjs"),
            0o644,
        )?;
        let bootstrap = build_rust_function(&sources)?;
        copy(&bootstrap, &root.join("rust/bootstrap"), 0o755)?;
        Ok(Packages {
            dirs: Rt::ALL.map(|rt| root.join(rt.label())),
            runtime_dir: runtime_dir.to_path_buf(),
        })
    }

    pub fn code_dir(&self, rt: Rt) -> &Path {
        &self.dirs[rt as usize]
    }

    /// The function's zip (every file of its code directory).
    pub fn zip(&self, rt: Rt) -> Result<Vec<u8>> {
        zip_dir(self.code_dir(rt), &[])
    }

    /// The argv and environment Lambent would use for `rt`, with the sandbox paths
    /// (`/var/task`, `/var/runtime`) replaced by host directories.
    pub fn launch_outside(
        &self,
        rt: Rt,
        code_dir: &Path,
        runtime_api: SocketAddr,
        stream: &str,
        memory_mb: u32,
    ) -> Result<(Vec<String>, Env)> {
        let launch = lambent_runtimes::RuntimeTable::default()
            .launch(rt.id())
            .ok_or("runtime not in Lambent's table")?;
        let task = code_dir.to_string_lossy().into_owned();
        let runtime = self.runtime_dir.to_string_lossy().into_owned();
        let host = |v: &str| {
            v.replace("/var/task", &task)
                .replace("/var/runtime", &runtime)
        };
        let argv = launch
            .resolve(|p| Path::new(&host(p)).exists())
            .ok_or("no bootstrap")?
            .iter()
            .map(|a| host(a))
            .collect();
        let mut env: Vec<(String, String)> = [
            ("_HANDLER", rt.handler()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "floor"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/floor"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
            (
                "LD_LIBRARY_PATH",
                "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
            ),
            ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), host(v)))
        .collect();
        env.push(("AWS_LAMBDA_RUNTIME_API".into(), runtime_api.to_string()));
        env.push((
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            memory_mb.to_string(),
        ));
        env.extend(launch.env.iter().map(|(k, v)| (k.clone(), host(v))));
        Ok((argv, env))
    }
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    std::fs::copy(from, to).map_err(|e| format!("copying {}: {e}", from.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// `cargo build --release` of `bench-functions/rust-echo` into `bench-functions/target`.
fn build_rust_function(sources: &Path) -> Result<PathBuf> {
    let manifest = sources.join("rust-echo/Cargo.toml");
    let target = sources.join("target");
    eprintln!("building the Rust benchmark function (lambda_runtime, release) ...");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()?;
    if !status.success() {
        return Err(format!("building {} failed", manifest.display()).into());
    }
    Ok(target.join("release/bootstrap"))
}

/// Zips every regular file of `dir` (not recursive; the functions are flat), plus `extra`
/// (name, bytes) entries stored uncompressed. Executables keep mode 0755.
pub fn zip_dir(dir: &Path, extra: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let meta = e.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o777;
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(mode);
            w.start_file(e.file_name().to_string_lossy(), options)?;
            w.write_all(&std::fs::read(e.path())?)?;
        }
        for (name, bytes) in extra {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(0o644);
            w.start_file(*name, options)?;
            w.write_all(bytes)?;
        }
        w.finish()?;
    }
    Ok(out.into_inner())
}

/// Deterministic incompressible bytes (xorshift64*), for the 10 MB deploy package.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}
