//! The journal as a local file: each batch of records appended in one write
//! and synced to disk before the call returns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::record::{self, Record};
use crate::error::Error;

pub(super) struct FileSink {
    path: PathBuf,
    file: Arc<Mutex<std::fs::File>>,
}

impl FileSink {
    pub(super) fn open(path: &Path) -> Result<FileSink, Error> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        // Deleted documents are in it: for its owner's eyes.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(path)
            .map_err(|e| Error::Journal(format!("cannot open {}: {e}", path.display())))?;
        Ok(FileSink {
            path: path.to_owned(),
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Appends the records and syncs the file: on `Ok`, they are on disk.
    pub(super) async fn append(&self, records: &[Record]) -> Result<(), Error> {
        let text = record::lines(records);
        let file = self.file.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            file.write_all(text.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        written.map_err(|e| Error::Journal(format!("cannot write {}: {e}", self.path.display())))
    }
}

/// Every record in the file at `path`.
pub(super) fn read(path: &Path) -> Result<Vec<Record>, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Journal(format!("cannot read {}: {e}", path.display())))?;
    let mut records = Vec::new();
    record::parse(&text, &path.display().to_string(), &mut records);
    Ok(records)
}
