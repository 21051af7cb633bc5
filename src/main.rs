use std::process::ExitCode;

use clap::Parser;

// One thread: the work is waiting on AWS, and wake-ups across worker threads
// cost more CPU per event than anything the daemon computes (scripts/bench:
// 2.43 ms to 2.13 ms per key event).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    iam_warden::cli::run(iam_warden::cli::Cli::parse()).await
}
