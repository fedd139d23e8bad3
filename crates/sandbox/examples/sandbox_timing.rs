//! Measures sandbox start-up and freeze/thaw latency (run as root):
//!
//! ```sh
//! cargo run --release -p lambent-sandbox --example sandbox_timing -- [iterations] [--favordynmods]
//! ```
//!
//! It is also a complete example of the intended use: the binary is its own init
//! (`/proc/self/exe` + `run_init_if_requested` first thing in `main`).

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use lambent_sandbox::{PreparedSandbox, SandboxSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    lambent_sandbox::run_init_if_requested();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let iterations: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(20);
    let _setup = if args.iter().any(|a| a == "--favordynmods") {
        Some(lambent_sandbox::host_setup()?)
    } else {
        None
    };
    println!("host: {:?}", lambent_sandbox::probe_host()?);

    let code = tempfile::tempdir()?;
    std::fs::set_permissions(
        code.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    std::fs::write(code.path().join("hello.py"), "print('hello', flush=True)\n")?;
    std::fs::write(
        code.path().join("tick.py"),
        "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.01)\n",
    )?;
    let spec = |id: String, script: &str| SandboxSpec {
        id,
        init_exe: "/proc/self/exe".into(),
        code_dir: code.path().to_path_buf(),
        argv: vec!["/usr/bin/python3".into(), "-S".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/var/task".into(),
        memory_mb: 256,
        tmp_mb: 16,
        pids_max: 1024,
        cpu_weight_mb: 1769,
        uid: 993,
        gid: 993,
        ..Default::default()
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut create = Vec::new();
    let mut start = Vec::new();
    let mut first_line = Vec::new();
    let mut total = Vec::new();
    for i in 0..iterations {
        let t0 = Instant::now();
        let prepared = PreparedSandbox::create(&spec(
            format!("timing-{}-{i}", std::process::id()),
            "hello.py",
        ))?;
        let _listener = prepared.bind_tcp("127.0.0.1:9001".parse()?)?;
        let t1 = Instant::now();
        let mut sandbox = prepared.start()?;
        let t2 = Instant::now();
        let stdout = sandbox.take_stdout().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(std::fs::File::from(stdout)).read_line(&mut line)?;
        let t3 = Instant::now();
        assert_eq!(line.trim(), "hello");
        rt.block_on(sandbox.wait())?;
        drop(sandbox);
        create.push(t1 - t0);
        start.push(t2 - t1);
        first_line.push(t3 - t0);
        total.push(t0.elapsed());
    }
    report("create + bind_tcp", &mut create);
    report("start (go -> runtime exec'd)", &mut start);
    report("create -> first line", &mut first_line);
    report("create -> exit + drop", &mut total);

    // Freeze/thaw of a ticking process.
    let mut sandbox = PreparedSandbox::create(&spec(
        format!("timing-{}-tick", std::process::id()),
        "tick.py",
    ))?
    .start()?;
    let stdout = sandbox.take_stdout().ok_or("no stdout")?;
    let mut reader = BufReader::new(std::fs::File::from(stdout));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut freeze = Vec::new();
    let mut thaw = Vec::new();
    for _ in 0..iterations {
        let t = Instant::now();
        sandbox.freeze()?;
        freeze.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(5));
        let t = Instant::now();
        sandbox.thaw()?;
        thaw.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    report("freeze", &mut freeze);
    report("thaw", &mut thaw);
    let t = Instant::now();
    sandbox.kill();
    rt.block_on(sandbox.wait())?;
    drop(sandbox);
    println!("kill + wait + drop: {:?}", t.elapsed());
    Ok(())
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = samples.len();
    if n == 0 {
        return;
    }
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / n as f64;
    println!(
        "{what:32} min {:7.2} ms  p50 {:7.2} ms  mean {:7.2} ms  max {:7.2} ms  (n={n})",
        ms(samples[0]),
        ms(samples[n / 2]),
        mean,
        ms(samples[n - 1])
    );
}
