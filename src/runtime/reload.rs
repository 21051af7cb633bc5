//! Hot reload of the policy file. The directory is watched, not the file:
//! Kubernetes updates a ConfigMap by swapping a symlink in that directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::controller::resync_all;
use super::members::Members;
use super::queue::WorkQueue;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::policy::Policy;

/// Editors and the ConfigMap swap touch the directory several times per change.
const SETTLE: Duration = Duration::from_millis(200);

pub struct PolicyWatch {
    path: PathBuf,
    _watcher: notify::RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<()>,
}

impl PolicyWatch {
    pub fn start(path: &Path) -> Result<PolicyWatch, Error> {
        let (sender, changes) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |_event| {
            let _ = sender.send(());
        })
        .map_err(|e| Error::Watch(e.to_string()))?;
        let directory = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        watcher
            .watch(directory, RecursiveMode::NonRecursive)
            .map_err(|e| Error::Watch(e.to_string()))?;
        Ok(PolicyWatch {
            path: path.to_owned(),
            _watcher: watcher,
            changes,
        })
    }

    /// Publishes each valid new policy and queues a full reconcile; an invalid
    /// one is logged with its errors and the last good policy stays in force.
    pub async fn run(
        mut self,
        policy: watch::Sender<Arc<Policy>>,
        work: Arc<WorkQueue>,
        members: Arc<Members>,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) {
        // Other files in the directory change too; only a new text is worth parsing.
        let mut last_text = std::fs::read_to_string(&self.path).ok();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                change = self.changes.recv() => if change.is_none() { return },
            }
            tokio::time::sleep(SETTLE).await;
            while self.changes.try_recv().is_ok() {}
            let text = std::fs::read_to_string(&self.path).ok();
            if text == last_text {
                continue;
            }
            last_text.clone_from(&text);
            let parsed = match &text {
                Some(text) => Policy::parse(&self.path, text),
                None => Policy::load(&self.path),
            };
            metrics.policy_reload(parsed.is_ok());
            match parsed {
                Ok(new) if *policy.borrow().as_ref() == new => {}
                Ok(new) => {
                    tracing::info!(policy = %new.name, "policy reloaded; reconciling everything");
                    policy.send_replace(Arc::new(new));
                    resync_all(&work, &members.owned());
                }
                Err(errors) => {
                    tracing::error!(errors = %errors, "policy reload rejected; the last good policy stays in force");
                }
            }
        }
    }
}
