//! SQLite storage: one file in the data dir, WAL, a single writer connection and a few readers.
//! rusqlite is blocking, so every call runs on tokio's blocking pool, never on the runtime.

mod alerts;
pub mod backup;
mod channels;
mod checkpoint;
mod deliveries;
mod fires;
mod health;
mod history;
pub use fires::{Committed, Matched};
pub mod migrations;
mod tokens;
mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction};
use tokio::sync::Semaphore;

pub use alerts::{AlertFilter, AlertPage};
pub use channels::ChannelChange;
pub use deliveries::DueDelivery;
pub use history::FirePage;
pub use tokens::RefreshOutcome;
pub use users::UserRecord;

pub const DB_FILE: &str = "pricealert.db";
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error("alert limit of {0} reached")]
    AlertLimit(u32),
    #[error("channel limit of {0} reached")]
    ChannelLimit(u32),
    /// A channel id that is not one of the user's channels.
    #[error("channel {0} not found")]
    UnknownChannel(i64),
    #[error("the user no longer exists")]
    UnknownUser,
    /// An edit or re-arm that the alert's status does not allow.
    #[error("alert {id} is {status}: {hint}")]
    WrongStatus {
        id: i64,
        status: &'static str,
        hint: String,
    },
    /// A re-arm without a new expiry of an alert whose own has passed (or that expired).
    #[error("alert {id} expired: re-arming it needs a new expires_at in the future")]
    ExpiryRequired { id: i64, at: i64 },
    #[error(
        "the database schema is version {found}, newer than this pricealert knows ({known}); \
         run a newer pricealert or restore a backup"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is in use by a running pricealert; stop it first")]
    InUse(PathBuf),
    /// A file or folder given to a command is not there.
    #[error("{0}")]
    Missing(String),
    #[error(
        "cannot write {path}: {why}. Give the user that runs pricealert write access to it and \
         to its -wal and -shm files (for example: chown <that user> {path}*), or run pricealert \
         as the user that owns them"
    )]
    NotWritable { path: PathBuf, why: String },
    #[error("database task failed: {0}")]
    Task(String),
    /// The database cannot be written: its file is gone, the disk is full, an I/O error.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    busy_timeout: Duration,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Semaphore,
    checkpoint: std::sync::Arc<checkpoint::CheckpointState>,
    /// The database file as opened, to notice it being deleted or replaced.
    file_id: Option<health::FileId>,
    health: health::Health,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and applies pending migrations.
    /// Refuses a database whose schema is newer than this build knows.
    pub fn open(data_dir: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let (writer, _) = open_and_migrate(data_dir, busy_timeout)?;
        let path = data_dir.join(DB_FILE);
        let file_id = health::file_id(&path).ok().flatten();
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                busy_timeout,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                reader_slots: Semaphore::new(READERS),
                checkpoint: Default::default(),
                file_id,
                health: Default::default(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` inside one write transaction, committed only if `f` succeeds. Refused with
    /// `Unavailable` once the database file is gone; a storage failure (disk full, I/O error)
    /// comes back as `Unavailable` too, and shows in `problem()` until a write succeeds.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        if let Some(reason) = self.inner.health.lost() {
            return Err(StoreError::Unavailable(reason));
        }
        let inner = self.inner.clone();
        let result = run_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| StoreError::Task("writer lock poisoned".into()))?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            inner.checkpoint.committed();
            Ok(value)
        })
        .await;
        match result {
            Ok(value) => {
                self.inner.health.write_succeeded();
                Ok(value)
            }
            Err(err) => Err(self.inner.health.write_failed(&self.inner.path, err)),
        }
    }

    /// Runs `f` on a read-only connection; WAL lets reads proceed while the writer commits.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _slot = self
            .inner
            .reader_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Task("store closed".into()))?;
        let inner = self.inner.clone();
        run_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut pool| pool.pop());
            let conn = match pooled {
                Some(conn) => conn,
                None => connect_read_only(&inner.path, inner.busy_timeout)?,
            };
            let result = f(&conn);
            if let Ok(mut pool) = inner.readers.lock() {
                pool.push(conn);
            }
            result
        })
        .await
    }

    /// Runs `f` on the writer connection outside a transaction; for admin work such as backups.
    pub async fn with_writer<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| StoreError::Task("writer lock poisoned".into()))?;
            f(&mut conn)
        })
        .await
    }
}

/// Applies pending migrations to the database in `data_dir`; returns (version before, after).
pub fn migrate(data_dir: &Path, busy_timeout: Duration) -> Result<(i64, i64), StoreError> {
    open_and_migrate(data_dir, busy_timeout).map(|(_, versions)| versions)
}

fn open_and_migrate(
    data_dir: &Path,
    busy_timeout: Duration,
) -> Result<(Connection, (i64, i64)), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let path = data_dir.join(DB_FILE);
    // Each file first: SQLite opens a file it cannot write read-only, without a word.
    for file in [
        path.clone(),
        path.with_extension("db-wal"),
        path.with_extension("db-shm"),
    ] {
        if file.exists() {
            if let Err(err) = std::fs::OpenOptions::new().write(true).open(&file) {
                return Err(StoreError::NotWritable {
                    path: file,
                    why: err.to_string(),
                });
            }
        }
    }
    let mut conn = connect(&path, busy_timeout)?;
    check_writable(&conn, &path)?;
    let versions = migrations::apply(&mut conn)?;
    Ok((conn, versions))
}

/// Refuses a connection SQLite opened read-only: every write would fail later with "attempt to
/// write a readonly database".
fn check_writable(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(StoreError::NotWritable {
            path: path.to_path_buf(),
            why: "it opens read-only for this user".to_string(),
        });
    }
    Ok(())
}

async fn run_blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| StoreError::Task(err.to_string()))?
}

/// Statements each connection keeps prepared. rusqlite's default (16) is fewer than the writer
/// runs in turn (alerts, fires, deliveries, channels, tokens, users), and an evicted statement
/// is parsed again on its next use: profiling `POST /alerts/create/` showed SQLite's parser.
const STATEMENT_CACHE: usize = 64;

fn configure(conn: &Connection, busy_timeout: Duration) -> Result<(), StoreError> {
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    configure(&conn, busy_timeout)?;
    // WAL: readers never block the writer. NORMAL sync is durable against process crashes
    // (kill -9); only an OS crash or power loss can drop the last commits.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

fn connect_read_only(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn, busy_timeout)?;
    Ok(conn)
}

/// Maps a UNIQUE violation on `table.column` to a `Conflict` naming the field.
fn unique_violation(err: rusqlite::Error, fields: &[(&str, &'static str)]) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, Some(message)) = &err {
        if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE {
            for (column, field) in fields {
                if message.contains(column) {
                    return StoreError::Conflict(field);
                }
            }
        }
    }
    StoreError::Sqlite(err)
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[test]
    fn a_database_that_opens_read_only_is_refused_naming_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), Duration::from_secs(1)).unwrap());
        let path = dir.path().join(DB_FILE);
        let writable = Connection::open(&path).unwrap();
        assert!(check_writable(&writable, &path).is_ok());
        // What SQLite falls back to when the user cannot write the file.
        let read_only =
            Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let err = check_writable(&read_only, &path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains("write access") && err.contains("-wal"),
            "{err}"
        );
    }
}
