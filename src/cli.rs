//! The command line: `check`, `plan`, `apply`, `undo`, `schema` and `run`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::account::Account;
use crate::accounts::Accounts;
use crate::aws::Clients;
use crate::error::Error;
use crate::execute::undo::{self, UndoResult};
use crate::execute::{ChangeBudget, Writes};
use crate::journal::{self, History, Journal, Made, Selection};
use crate::log;
use crate::metrics::Metrics;
use crate::observe;
use crate::plan::Plan;
use crate::policy::{Policy, PolicySet};
use crate::reconcile::{Pass, Reconciler};
use crate::report;
use crate::runtime::{controller, shutdown};
use crate::settings::{JournalLocation, LogFormat, Scope as AccountScope, Settings};
use crate::state::Caller;

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
    ///
    /// With --config naming accounts, also asks AWS which accounts each file
    /// of a policy directory governs, and reports selectors that match none.
    Check {
        #[command(flatten)]
        scope: Scope,
    },
    /// Read live state and print findings; exits 2 on drift.
    Plan {
        #[command(flatten)]
        scope: Scope,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// One enforcement pass; exits 2 if findings remain afterwards.
    ///
    /// Each change is first written to the journal (setting `journal`, env
    /// IAM_WARDEN_JOURNAL; by default ./iam-warden-journal.jsonl), which
    /// `undo` reads.
    Apply {
        #[command(flatten)]
        scope: Scope,
        /// Decide and log everything, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop changing AWS after this many changes in this pass.
        #[arg(long, default_value_t = 100)]
        max_changes: usize,
    },
    /// Reverse changes from the journal, newest first: each only if the
    /// resource is still as iam-warden left it (else "changed since"), and
    /// never stopping a trail. Exits 2 if something is not reversed.
    Undo {
        /// The journal: a file, or s3://BUCKET/PREFIX/; by default the
        /// settings' `journal` (./iam-warden-journal.jsonl).
        #[arg(long, value_name = "LOCATION")]
        journal: Option<JournalLocation>,
        /// Only the changes this CloudTrail event led to, alone or with others.
        #[arg(long, conflicts_with = "id")]
        event: Option<String>,
        /// Only changes made at or after this time (RFC 3339, like 2026-11-24T10:00:00Z).
        #[arg(long, conflicts_with = "id")]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Exactly this change, by its id in the journal: also a change an
        /// earlier undo made, to undo that undo.
        #[arg(long)]
        id: Option<String>,
        /// Say what would be reversed, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        reach: Reach,
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

/// What a one-shot command judges: the policy, and the accounts.
#[derive(Debug, clap::Args)]
struct Scope {
    /// The policy file; by default the settings' `policy`, else config/policy.yaml.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    reach: Reach,
}

/// The accounts a one-shot command works in: those the daemon's settings serve.
#[derive(Debug, clap::Args)]
struct Reach {
    /// Daemon settings (YAML), for the accounts they serve; IAM_WARDEN_<KEY> environment variables win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only this account (repeatable); every account the settings serve by default.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Exit codes: 0 in spec, 1 error, 2 drift (for `undo`: something cannot be reversed).
const DRIFT: u8 = 2;

/// An account down is an error, whatever the others found.
fn exit<T>(results: &report::Accounts<T>) -> ExitCode {
    if results.down() > 0 {
        ExitCode::FAILURE
    } else if results.all_in_spec() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DRIFT)
    }
}

pub async fn run(cli: Cli) -> ExitCode {
    if !matches!(cli.command, Command::Run { .. }) {
        log::init(LogFormat::Text);
    }
    let result = match cli.command {
        Command::Check { scope } => check(&scope).await,
        Command::Plan { scope, output } => plan_command(&scope, output).await,
        Command::Apply {
            scope,
            dry_run,
            max_changes,
        } => apply(&scope, dry_run, max_changes).await,
        Command::Run { config } => daemon(config.as_deref()).await,
        Command::Undo {
            journal,
            event,
            since,
            id,
            dry_run,
            reach,
        } => undo_command(journal, Selection { event, since, id }, dry_run, &reach).await,
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

async fn check(scope: &Scope) -> Result<ExitCode, Error> {
    let (policies, settings) = scope.load()?;
    for (file, policy) in &policies.files {
        emit(&format!("{}: valid policy `{}`\n", file.display(), policy.name));
    }
    if settings.accounts.scope == AccountScope::Own {
        return Ok(ExitCode::SUCCESS);
    }
    let clients = Clients::from_env(Metrics::new().aws_requests()).await;
    let accounts = Accounts::connect(clients, settings.accounts).await?;
    let (all, missing) = accounts.discover_all().await?;
    for entry in &missing {
        eprintln!("settings: accounts.organization.include: no active account or OU `{entry}` in the Organization");
    }
    let served = accounts.narrow(all, &scope.reach.accounts)?;
    let problems = policies.unmatched(&served);
    for (file, problem) in &problems {
        eprintln!("{}: {problem}", file.display());
    }
    for (file, governed) in policies.governed(&served) {
        emit(&format!("{}: governs {} account(s)\n", file.display(), governed.len()));
    }
    Ok(if problems.is_empty() && missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn plan_command(scope: &Scope, output: Format) -> Result<ExitCode, Error> {
    let (policies, settings) = scope.load()?;
    let metrics = Metrics::new();
    let (_, accounts, served, home) = reach(&metrics, &settings, &scope.reach).await?;
    let results = accounts
        .each(&served, async |account, clients| {
            let Some((file, policy)) = policies.governing(account) else {
                return Ok(None);
            };
            // Reads only: nothing is executed, so the budget is never asked.
            let budget = Arc::new(ChangeBudget::per_run(0));
            let reconciler = Reconciler::new(clients, Writes::DryRun, budget, home.clone()).await?;
            Ok(Some((file.clone(), reconciler.plan(policy).await?)))
        })
        .await;
    let in_spec = |governed: &Option<(PathBuf, Plan)>| governed.as_ref().is_none_or(|(_, plan)| plan.in_spec());
    let results = report::Accounts::new(accounts.is_own(), &served, results, in_spec)?;
    let many = !accounts.is_own();
    match output {
        Format::Text => emit(&results.text(|governed| report::governed(governed, many, report::plan_table))),
        Format::Json => emit(&format!(
            "{:#}\n",
            results.json(|governed| report::governed_json(governed, many, |plan| serde_json::json!(plan)))
        )),
    }
    log_requests(&metrics);
    Ok(exit(&results))
}

async fn apply(scope: &Scope, dry_run: bool, max_changes: usize) -> Result<ExitCode, Error> {
    let (policies, settings) = scope.load()?;
    let metrics = Metrics::new();
    let (base, accounts, served, home) = reach(&metrics, &settings, &scope.reach).await?;
    let writes = writes(dry_run, &settings.journal, &base).await?;
    let results = accounts
        .each(&served, async |account, clients| {
            let Some((file, policy)) = policies.governing(account) else {
                return Ok(None);
            };
            // A budget per account: one account's drift never holds back another's fixes.
            let budget = Arc::new(ChangeBudget::per_run(max_changes));
            let reconciler = Reconciler::new(clients, writes.clone(), budget, home.clone()).await?;
            Ok(Some((file.clone(), reconciler.apply(policy).await?)))
        })
        .await;
    if let Writes::Journaled(journal) = &writes {
        journal.flush().await;
    }
    let in_spec = |governed: &Option<(PathBuf, Pass)>| governed.as_ref().is_none_or(|(_, pass)| pass.remaining() == 0);
    let results = report::Accounts::new(accounts.is_own(), &served, results, in_spec)?;
    let many = !accounts.is_own();
    let table = report::apply_table;
    emit(&results.text(|governed| report::governed(governed, many, table)));
    log_requests(&metrics);
    Ok(exit(&results))
}

/// What a one-shot command starts from: the clients of the identity it runs
/// as, the accounts it works in (narrowed by `--account`), and that identity
/// where it is not each account's own.
type Reached = (Clients, Accounts, Vec<Account>, Option<Arc<Caller>>);

async fn reach(metrics: &Metrics, settings: &Settings, reach: &Reach) -> Result<Reached, Error> {
    let clients = Clients::from_env(metrics.aws_requests()).await;
    let home = match settings.accounts.scope {
        AccountScope::Own => None,
        _ => Some(Arc::new(observe::who(&clients).await?)),
    };
    let accounts = Accounts::connect(clients.clone(), settings.accounts.clone()).await?;
    let served = accounts.discover_only(&reach.accounts).await?;
    Ok((clients, accounts, served, home))
}

/// Where a command's changes go: the journal at `location`, or nowhere in a dry run.
async fn writes(dry_run: bool, location: &JournalLocation, clients: &Clients) -> Result<Writes, Error> {
    match dry_run {
        true => Ok(Writes::DryRun),
        false => Ok(Writes::Journaled(Journal::open(location, clients).await?)),
    }
}

async fn undo_command(
    journal: Option<JournalLocation>,
    selection: Selection,
    dry_run: bool,
    reach: &Reach,
) -> Result<ExitCode, Error> {
    let settings = Settings::load(reach.config.as_deref())?;
    let location = journal.unwrap_or_else(|| settings.journal.clone());
    let metrics = Metrics::new();
    let (base, accounts, served, home) = self::reach(&metrics, &settings, reach).await?;
    let history = History::of(journal::read(&location, &base, selection.since).await?);
    let picked = history.select(&selection);
    // Accounts left out with --account were left out on purpose.
    let unserved: Vec<&&Made> = picked
        .iter()
        .filter(|m| reach.accounts.is_empty() && !served.iter().any(|a| a.id == m.account))
        .collect();
    for made in &unserved {
        eprintln!(
            "undo: {} {} ({}) was made in account {}, which these settings do not serve; run undo with --config settings that do",
            made.intent.change.action(),
            made.intent.resource,
            made.id,
            made.account
        );
    }
    let writes = writes(dry_run, &location, &base).await?;
    let results = accounts
        .each(&served, async |account, clients| {
            let mine: Vec<&Made> = picked.iter().filter(|m| m.account == account.id).copied().collect();
            // Reversals are the operator's: no budget holds them back.
            let budget = Arc::new(ChangeBudget::per_run(usize::MAX));
            let reconciler = Reconciler::new(clients, writes.clone(), budget, home.clone()).await?;
            Ok(reconciler.undo(&history, &mine).await)
        })
        .await;
    if let Writes::Journaled(journal) = &writes {
        journal.flush().await;
    }
    let settled = |reversals: &Vec<undo::Reversal>| {
        reversals.iter().all(|r| {
            matches!(
                r.result,
                UndoResult::Reversed | UndoResult::DryRun | UndoResult::NotMade
            )
        })
    };
    let results = report::Accounts::new(accounts.is_own(), &served, results, settled)?;
    emit(&results.text(|reversals| report::undo_table(reversals)));
    log_requests(&metrics);
    let failed = results.any(|reversals| reversals.iter().any(|r| r.result == UndoResult::Failed));
    Ok(match (failed, unserved.is_empty()) {
        (true, _) => ExitCode::FAILURE,
        (false, false) => ExitCode::from(DRIFT),
        (false, true) => exit(&results),
    })
}

async fn daemon(config: Option<&Path>) -> Result<ExitCode, Error> {
    let settings = Settings::load(config)?;
    log::init(settings.log_format);
    controller::run(settings, shutdown::signal()).await?;
    Ok(ExitCode::SUCCESS)
}

impl Scope {
    fn load(&self) -> Result<(PolicySet, Settings), Error> {
        let settings = Settings::load(self.reach.config.as_deref())?;
        let path = self.policy.as_deref().unwrap_or(&settings.policy);
        Ok((PolicySet::load(path)?, settings))
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
