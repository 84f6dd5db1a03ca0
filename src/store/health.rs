//! Whether the database can still be written, as seen from the inside. SQLite keeps writing
//! into a database file that was deleted (its inode lives on until closed), so "every write
//! succeeded" can mean "everything was lost": the watcher compares the open file with the path
//! every second and refuses writes once they differ. A full disk or an I/O error on a write is
//! reported until a later write succeeds. Both show in `/healthz` (503) and as 503 answers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_blocking, Store, StoreError};

/// How often the database file and outside writes are looked for.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The database file's identity (device, inode), where the platform has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId(u64, u64);

pub(super) fn file_id(path: &Path) -> std::io::Result<Option<FileId>> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(Some(FileId(meta.dev(), meta.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

#[derive(Default)]
pub(super) struct Health {
    /// Set once the file is gone or replaced; never cleared (the server must restart).
    lost: Mutex<Option<String>>,
    /// The last write's storage failure, cleared by the next successful write.
    failing: Mutex<Option<String>>,
}

impl Health {
    pub(super) fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    fn set_lost(&self, reason: String) -> bool {
        match self.lost.lock() {
            Ok(mut lost) if lost.is_none() => {
                *lost = Some(reason);
                true
            }
            _ => false,
        }
    }

    pub(super) fn write_succeeded(&self) {
        if let Ok(mut failing) = self.failing.lock() {
            if failing.take().is_some() {
                tracing::info!("database writes succeed again");
            }
        }
    }

    /// Turns a storage failure on write into `StoreError::Unavailable` and remembers it.
    pub(super) fn write_failed(&self, path: &Path, err: StoreError) -> StoreError {
        let Some(reason) = storage_failure(path, &err) else {
            return err;
        };
        if let Ok(mut failing) = self.failing.lock() {
            if failing.is_none() {
                tracing::error!(path = %path.display(), %reason, "database write failed");
            }
            *failing = Some(reason.clone());
        }
        StoreError::Unavailable(reason)
    }

    fn problem(&self) -> Option<String> {
        self.lost()
            .or_else(|| self.failing.lock().ok().and_then(|f| f.clone()))
    }
}

/// What a client and `/healthz` are told when a write failed for lack of storage, if it did.
fn storage_failure(path: &Path, err: &StoreError) -> Option<String> {
    use rusqlite::ErrorCode;
    let StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, _)) = err else {
        return None;
    };
    let file = path.display();
    match code.code {
        ErrorCode::DiskFull => Some(format!("storage full: the disk holding {file} is full")),
        ErrorCode::SystemIoFailure => {
            Some(format!("storage error: cannot write {file} (I/O error)"))
        }
        ErrorCode::ReadOnly => Some(format!(
            "storage error: {file} cannot be written (read-only)"
        )),
        ErrorCode::CannotOpen => Some(format!("storage error: cannot open {file}")),
        _ => None,
    }
}

impl Store {
    /// Why the database cannot be written now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.inner.health.problem()
    }

    /// Every second until `shutdown`: checks that the database file is still the one open, and
    /// calls `on_outside_write` when another process (an admin command) committed to it.
    pub async fn watch(
        self,
        on_outside_write: impl Fn() + Send + 'static,
        shutdown: CancellationToken,
    ) {
        let mut version = self.data_version().await.ok();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => {},
                _ = shutdown.cancelled() => return,
            }
            self.check_file();
            let now = self.data_version().await.ok();
            if now.is_some() && version.is_some() && now != version {
                on_outside_write();
            }
            version = now.or(version);
        }
    }

    fn check_file(&self) {
        let path: PathBuf = self.inner.path.clone();
        let found = file_id(&path);
        let reason = match (found, self.inner.file_id) {
            (Err(err), _) if err.kind() == std::io::ErrorKind::NotFound => format!(
                "the database file {} was deleted while the server ran; writes are refused \
                 (restart the server; restore a backup if the data is lost)",
                path.display()
            ),
            (Ok(Some(now)), Some(opened)) if now != opened => format!(
                "the database file {} was replaced while the server ran; writes are refused \
                 (restart the server to use the new file)",
                path.display()
            ),
            _ => return,
        };
        if self.inner.health.set_lost(reason.clone()) {
            tracing::error!(path = %path.display(), "{reason}");
        }
    }

    /// SQLite's count of commits by other connections, read on the writer: it changes exactly
    /// when another process wrote (this process writes only through the writer).
    async fn data_version(&self) -> Result<i64, StoreError> {
        let inner = self.inner.clone();
        run_blocking(move || {
            let conn = inner
                .writer
                .lock()
                .map_err(|_| StoreError::Task("writer lock poisoned".into()))?;
            Ok(conn.query_row("PRAGMA data_version", [], |row| row.get(0))?)
        })
        .await
    }
}
