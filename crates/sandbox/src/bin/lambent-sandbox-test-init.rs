//! A binary that is nothing but a sandbox init, for the integration tests (the server binary
//! plays this role in production by calling `run_init_if_requested` at the top of `main`).

fn main() {
    lambent_sandbox::run_init_if_requested();
    eprintln!("lambent-sandbox-test-init: only meant to be started by lambent-sandbox");
    std::process::exit(2);
}
