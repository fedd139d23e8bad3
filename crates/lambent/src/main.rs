//! `lambent`: the single binary. `lambent serve` runs the whole platform on one machine.

mod config;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lambent",
    version,
    about = "A self-hosted, AWS Lambda-compatible serverless platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the Lambda API, the code store and the embedded store.
    Serve(config::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    // The sandbox re-executes this binary as its init; that must happen before anything else.
    lambent_sandbox::run_init_if_requested();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAMBENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => {
            let settings = config::Settings::resolve(args)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve::run(settings))
        }
    }
}
