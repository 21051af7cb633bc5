use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    iam_warden::cli::run(iam_warden::cli::Cli::parse()).await
}
