//! Online backups with SQLite's backup API (safe while the server runs), restores that refuse
//! a database in use, and the data-dir lock that tells the two apart.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::{migrations, StoreError, DB_FILE};

pub const LOCK_FILE: &str = "pricealert.lock";

/// Held by a running server for its whole life: a second server, or a restore, sees it.
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::DataDir {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::InUse(data_dir.to_path_buf())),
            Err(TryLockError::Error(source)) => Err(StoreError::DataDir { path, source }),
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies the live database to `to` page by page; writers are not blocked for long.
pub fn backup(data_dir: &Path, to: &Path) -> Result<(), StoreError> {
    let source_path = data_dir.join(DB_FILE);
    if !source_path.exists() {
        return Err(StoreError::DataDir {
            path: source_path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no database here"),
        });
    }
    let folder = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(StoreError::Missing(format!(
            "cannot back up to {}: the folder {} does not exist",
            to.display(),
            folder.display()
        )));
    }
    let source = Connection::open_with_flags(&source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // Write next to the target, then rename: a half-written backup never has its name.
    let tmp = to.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut target = Connection::open(&tmp)?;
    Backup::new(&source, &mut target)?.run_to_completion(256, Duration::from_millis(5), None)?;
    let ok: String = target.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    drop(target);
    if ok != "ok" {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::Task(format!(
            "backup failed its integrity check: {ok}"
        )));
    }
    std::fs::rename(&tmp, to).map_err(io(to))?;
    Ok(())
}

/// Replaces the database with `from`; refuses while a server holds the data dir.
pub fn restore(data_dir: &Path, from: &Path) -> Result<PathBuf, StoreError> {
    if !from.is_file() {
        return Err(StoreError::Missing(format!(
            "cannot restore from {}: no such file",
            from.display()
        )));
    }
    let _lock = DataDirLock::acquire(data_dir)?;
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let ok: String = source.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(StoreError::Task(format!(
            "{} is damaged: {ok}",
            from.display()
        )));
    }
    migrations::ensure_known(&source)?;
    let target_path = data_dir.join(DB_FILE);
    let tmp = data_dir.join(format!("{DB_FILE}.restoring"));
    let _ = std::fs::remove_file(&tmp);
    let mut target = Connection::open(&tmp)?;
    Backup::new(&source, &mut target)?.run_to_completion(256, Duration::from_millis(0), None)?;
    drop(target);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("{DB_FILE}{suffix}")));
    }
    std::fs::rename(&tmp, &target_path).map_err(io(&target_path))?;
    Ok(target_path)
}
