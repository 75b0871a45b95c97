//! `just demo`, the embedded default: starts NATS, the Kubernetes API emulator (or uses
//! `KUBECONFIG`), a Git server seeded with an example app, a registry and all four services,
//! walks through what Ferry does, then leaves the stack up until Ctrl-C (`--once` exits).

mod steps;

use std::process::ExitCode;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let once = std::env::args().any(|a| a == "--once");
    ferry_integration_tests::registry::install_crypto_provider();
    println!("Starting Ferry's embedded default:");
    let stack = match ferry_integration_tests::stack::Stack::start().await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("✗ could not start the stack: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = steps::walk(&stack).await {
        eprintln!("✗ {e:#}\n\nService logs:\n{}", stack.logs());
        return ExitCode::FAILURE;
    }
    println!(
        "\nFerry is up. Point kubectl at it:  export KUBECONFIG={}",
        stack.kube.kubeconfig().display()
    );
    println!(
        "Follow events:  target/debug/ferry events --nats-url {}",
        stack.nats.url()
    );
    if once {
        return ExitCode::SUCCESS;
    }
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    println!("stopping the demo");
    ExitCode::SUCCESS
}
