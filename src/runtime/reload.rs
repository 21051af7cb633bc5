//! Hot reload of the policy file, or of a directory of them. The directory is
//! watched, not the file: Kubernetes updates a ConfigMap by swapping a
//! symlink in that directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::members::Members;
use super::queue::WorkQueue;
use crate::error::Error;
use crate::metrics::{Metrics, Success};
use crate::policy::PolicySet;

/// Editors and the ConfigMap swap touch the directory several times per change.
const SETTLE: Duration = Duration::from_millis(200);

pub struct PolicyWatch {
    path: PathBuf,
    _debouncer: Debouncer<RecommendedWatcher>,
    changes: mpsc::UnboundedReceiver<()>,
}

impl PolicyWatch {
    pub fn start(path: &Path) -> Result<PolicyWatch, Error> {
        let (sender, changes) = mpsc::unbounded_channel();
        let mut debouncer = new_debouncer(SETTLE, move |events: DebounceEventResult| {
            if events.is_ok() {
                let _ = sender.send(());
            }
        })
        .map_err(|e| Error::Watch(e.to_string()))?;
        let directory = match path.is_dir() {
            true => path,
            false => path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        };
        debouncer
            .watcher()
            .watch(directory, RecursiveMode::NonRecursive)
            .map_err(|e| Error::Watch(e.to_string()))?;
        Ok(PolicyWatch {
            path: path.to_owned(),
            _debouncer: debouncer,
            changes,
        })
    }

    /// Publishes each valid new policy and queues a full resync; an invalid
    /// one is logged with its errors and the last good policy stays in force.
    pub async fn run(
        mut self,
        policy: watch::Sender<Arc<PolicySet>>,
        queue: Arc<WorkQueue>,
        members: Arc<Members>,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) {
        // Other files in the directory change too; only new texts are worth parsing.
        let mut last_texts = texts(&self.path);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                change = self.changes.recv() => if change.is_none() { return },
            }
            let now = texts(&self.path);
            if now == last_texts {
                continue;
            }
            last_texts = now;
            let parsed = PolicySet::load(&self.path);
            metrics.policy_reload(Success::from(parsed.is_ok()));
            match parsed {
                Ok(new) if *policy.borrow().as_ref() == new => {}
                Ok(new) => {
                    let names: Vec<&str> = new.files.iter().map(|(_, p)| p.name.as_str()).collect();
                    tracing::info!(policy = %names.join(", "), "policy reloaded; reconciling everything");
                    policy.send_replace(Arc::new(new));
                    queue.resync_all(&members.owned());
                }
                Err(errors) => {
                    tracing::error!(errors = %errors, "policy reload rejected; the last good policy stays in force");
                }
            }
        }
    }
}

/// The policy file's text, or each policy file's of a directory.
fn texts(path: &Path) -> Vec<(PathBuf, Option<String>)> {
    let files = match std::fs::read_dir(path) {
        Ok(entries) => {
            let mut files: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
            files.sort();
            files
        }
        Err(_) => vec![path.to_owned()],
    };
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).ok();
            (file, text)
        })
        .collect()
}
