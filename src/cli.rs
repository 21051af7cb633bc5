//! The command line: `check`, `plan`, `apply`, `undo`, `schema` and `run`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::aws::Clients;
use crate::error::Error;
use crate::execute::ChangeBudget;
use crate::execute::undo::{self, Selection, UndoResult};
use crate::metrics::Metrics;
use crate::observe;
use crate::policy::Policy;
use crate::reconcile::Reconciler;
use crate::report;
use crate::runtime::{controller, shutdown};
use crate::settings::{LogFormat, Settings};

const DEFAULT_POLICY: &str = "config/policy.yaml";

/// Keeps an AWS account's IAM hygiene at the state a policy file declares.
///
/// AWS settings come from the standard environment: the credential chain,
/// AWS_REGION, and AWS_ENDPOINT_URL to point every client at an emulator.
#[derive(Debug, Parser)]
#[command(name = "iam-warden", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a policy file; errors are printed as FILE:LINE:COLUMN: message.
    Check {
        #[arg(long, default_value = DEFAULT_POLICY)]
        policy: PathBuf,
    },
    /// Read live state and print findings; exits 2 on drift.
    Plan {
        #[arg(long, default_value = DEFAULT_POLICY)]
        policy: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// One enforcement pass; exits 2 if findings remain afterwards.
    Apply {
        #[arg(long, default_value = DEFAULT_POLICY)]
        policy: PathBuf,
        /// Decide and log everything, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop changing AWS after this many changes in this pass.
        #[arg(long, default_value_t = 100)]
        max_changes: usize,
    },
    /// Reverse applied changes from their audit lines, newest first, where AWS
    /// allows; say what cannot come back. Exits 2 if something cannot.
    Undo {
        /// The audit log (the JSON lines iam-warden writes on stderr); standard input if absent.
        #[arg(long)]
        audit_log: Option<PathBuf>,
        /// Only the changes this CloudTrail event caused.
        #[arg(long, conflicts_with = "since")]
        event: Option<String>,
        /// Only changes made at or after this time (RFC 3339, like 2026-11-24T10:00:00Z).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Say what would be reversed, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the JSON Schema of the policy file.
    Schema,
    /// The controller daemon: events from SQS, deadlines and periodic resyncs.
    Run {
        /// Daemon settings (YAML); IAM_WARDEN_<KEY> environment variables win.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Exit codes: 0 in spec, 1 error, 2 drift (for `undo`: something cannot be reversed).
const DRIFT: u8 = 2;

pub async fn run(cli: Cli) -> ExitCode {
    if !matches!(cli.command, Command::Run { .. }) {
        init_logging(LogFormat::Text);
    }
    let result = match cli.command {
        Command::Check { policy } => check(&policy),
        Command::Plan { policy, output } => plan_command(&policy, output).await,
        Command::Apply {
            policy,
            dry_run,
            max_changes,
        } => apply(&policy, dry_run, max_changes).await,
        Command::Run { config } => daemon(config.as_deref()).await,
        Command::Undo {
            audit_log,
            event,
            since,
            dry_run,
        } => undo_command(audit_log.as_deref(), Selection { event, since }, dry_run).await,
        Command::Schema => {
            emit(&format!("{:#}\n", Policy::json_schema()));
            Ok(ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|error| {
        match error {
            // Already one `FILE:LINE:COLUMN: message` per line, as editors parse them.
            Error::Policy(errors) => eprintln!("{errors}"),
            other => eprintln!("error: {other}"),
        }
        ExitCode::FAILURE
    })
}

fn check(path: &Path) -> Result<ExitCode, Error> {
    let policy = Policy::load(path)?;
    emit(&format!("{}: valid policy `{}`\n", path.display(), policy.name));
    Ok(ExitCode::SUCCESS)
}

async fn plan_command(path: &Path, output: Format) -> Result<ExitCode, Error> {
    let policy = Policy::load(path)?;
    let metrics = Metrics::new();
    let clients = Clients::from_env(metrics.aws_requests()).await;
    // Reads only: nothing is executed, so the budget is never asked.
    let reconciler = Reconciler::new(clients, true, Arc::new(ChangeBudget::per_run(0))).await?;
    let plan = reconciler.plan(&policy).await?;
    match output {
        Format::Text => emit(&report::plan_table(&plan)),
        Format::Json => emit(&format!("{:#}\n", serde_json::json!(plan))),
    }
    log_requests(&metrics);
    Ok(if plan.in_spec() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DRIFT)
    })
}

async fn apply(path: &Path, dry_run: bool, max_changes: usize) -> Result<ExitCode, Error> {
    let policy = Policy::load(path)?;
    let metrics = Metrics::new();
    let clients = Clients::from_env(metrics.aws_requests()).await;
    let reconciler = Reconciler::new(clients.clone(), dry_run, Arc::new(ChangeBudget::per_run(max_changes))).await?;
    let pass = reconciler.apply(&policy).await?;
    let remaining = pass.remaining();
    emit(&report::apply_table(&pass.plan, &pass.outcomes, remaining));
    log_requests(&metrics);
    Ok(if remaining == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DRIFT)
    })
}

async fn undo_command(audit_log: Option<&Path>, selection: Selection, dry_run: bool) -> Result<ExitCode, Error> {
    let text = match audit_log {
        Some(path) => std::fs::read_to_string(path),
        None => std::io::read_to_string(std::io::stdin()),
    }
    .map_err(|e| Error::Settings(format!("cannot read the audit log: {e}")))?;
    let changes = undo::applied_changes(&text, &selection);
    let metrics = Metrics::new();
    let clients = Clients::from_env(metrics.aws_requests()).await;
    let caller = observe::caller(&clients).await?;
    let reversals = undo::undo(&clients, &caller, &changes, dry_run).await;
    emit(&report::undo_table(&reversals));
    log_requests(&metrics);
    let failed = reversals.iter().any(|r| r.result == UndoResult::Failed);
    let irreversible = reversals.iter().any(|r| r.result == UndoResult::Irreversible);
    Ok(if failed {
        ExitCode::FAILURE
    } else if irreversible {
        ExitCode::from(DRIFT)
    } else {
        ExitCode::SUCCESS
    })
}

async fn daemon(config: Option<&Path>) -> Result<ExitCode, Error> {
    let settings = Settings::load(config)?;
    init_logging(settings.log_format);
    controller::run(settings, shutdown::signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr, so stdout carries only a command's own output.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if format == LogFormat::Json { "info" } else { "warn" })
    });
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Json => subscriber.json().flatten_event(true).init(),
        LogFormat::Text => subscriber
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// Writes a command's output; a reader that went away (`| head`) is not an error.
fn emit(text: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
}

/// The cost of the pass in API calls, for people tuning or budgeting it.
fn log_requests(metrics: &Metrics) {
    let (total, each) = metrics.aws_request_summary();
    tracing::info!(total, requests = %each, "AWS requests");
}
