//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the commit
//! that crosses its threshold and syncs the database file there, which stalls that commit (a
//! fired alert, a create) by milliseconds. While the server runs, the writer's automatic
//! checkpoint is off and this task checkpoints from its own connection instead, as often as the
//! automatic one would (every `EVERY_COMMITS` commits) and at least every second after a write.
//! Between commits the WAL then starts over by itself; under a steady stream of commits it is
//! made to once it passes `LONG_WAL_PAGES`: the writer's own WAL hook checkpoints right after the
//! commit that crossed it (holding the writer, which is what lets the next write start the WAL
//! over), so the bound holds whatever the scheduler does with this task.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{connect, run_blocking, Store, StoreError};

/// About SQLite's default of 1,000 WAL pages for the small commits this server makes.
const EVERY_COMMITS: u32 = 200;
const AT_LEAST_EVERY: Duration = Duration::from_secs(1);
/// A WAL this long (16 MB) is made to start over, holding the writer for a moment.
const LONG_WAL_PAGES: i64 = 4 * SQLITE_DEFAULT_PAGES;
/// Pages between two tries at the bound while a reader keeps the WAL from starting over.
const LONG_WAL_RETRY: i64 = 256;
/// SQLite's default `wal_autocheckpoint`, restored when the task stops.
const SQLITE_DEFAULT_PAGES: i64 = 1000;

/// Shared between the writer (which counts commits) and the checkpoint task.
#[derive(Default)]
pub(super) struct CheckpointState {
    running: AtomicBool,
    commits: AtomicU32,
    wake: Notify,
    /// Held while a checkpoint copies pages, by the task or by the writer's hook: SQLite
    /// never waits for another checkpointer, it fails at once, so the two take turns here.
    turn: Mutex<()>,
}

impl CheckpointState {
    fn take_turn(&self) -> std::sync::MutexGuard<'_, ()> {
        // Nothing is guarded but the turn itself, so a panic while holding it leaves no harm.
        self.turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CheckpointState {
    /// Called after every committed write transaction.
    pub(super) fn committed(&self) {
        if self.running.load(Ordering::Relaxed)
            && self.commits.fetch_add(1, Ordering::Relaxed) + 1 >= EVERY_COMMITS
        {
            self.wake.notify_one();
        }
    }
}

/// The writer's WAL hook, called after each commit with the WAL's length in pages. The WAL
/// starts over only when a write begins with every page copied, which a steady stream of
/// commits never allows: past `LONG_WAL_PAGES` the last pages are copied here, with the writer
/// held, every `LONG_WAL_RETRY` pages until it has started over. A background checkpoint
/// copying at that moment is waited for (it holds neither the writer nor any reader).
fn bound_the_wal(
    state: Arc<CheckpointState>,
) -> impl FnMut(&mut rusqlite::hooks::Wal, std::os::raw::c_int) -> rusqlite::Result<()> + Send + 'static
{
    let mut tried_at = 0;
    move |wal, pages| {
        let pages = i64::from(pages);
        if pages <= LONG_WAL_PAGES {
            tried_at = 0;
        } else if tried_at == 0 || pages >= tried_at + LONG_WAL_RETRY {
            // FULL waits (up to the busy timeout) for readers of older pages; the writer is
            // this connection, and the commit has released its lock. Never an error from
            // here: the commit has happened, and SQLite would report the hook's error as the
            // commit's. A failure (a reader past the busy timeout, another program
            // checkpointing) is tried again `LONG_WAL_RETRY` pages later.
            let _turn = state.take_turn();
            let _ = wal.checkpoint_v2(rusqlite::wal::CheckpointMode::FULL);
            tried_at = pages;
        }
        Ok(())
    }
}

/// PASSIVE copies what it can without waiting on readers or blocking the writer; returns the
/// WAL's length in pages.
fn passive_checkpoint(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?)
}

impl Store {
    /// Checkpoints the WAL in the background until `shutdown`; the writer's automatic
    /// checkpoint is off meanwhile and back on afterwards.
    pub async fn run_checkpointer(self, shutdown: CancellationToken) {
        if let Err(err) = self.checkpoint_loop(&shutdown).await {
            tracing::error!(error = %err, "background checkpoints stopped; SQLite checkpoints on commit");
        }
        let state = &self.inner.checkpoint;
        state.running.store(false, Ordering::Relaxed);
        let _ = self.set_autocheckpoint(SQLITE_DEFAULT_PAGES).await;
    }

    async fn checkpoint_loop(&self, shutdown: &CancellationToken) -> Result<(), StoreError> {
        let path = self.inner.path.clone();
        let busy_timeout = self.inner.busy_timeout;
        let mut conn = run_blocking(move || connect(&path, busy_timeout)).await?;
        let state = &self.inner.checkpoint;
        state.running.store(true, Ordering::Relaxed);
        let hook_state = state.clone();
        // In one step: the pragma replaces any WAL hook with SQLite's own, and writes between
        // the two would run unbounded.
        self.with_writer(|conn| {
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            conn.wal_hook(Some(bound_the_wal(hook_state)))?;
            Ok(())
        })
        .await?;
        loop {
            tokio::select! {
                _ = state.wake.notified() => {}
                _ = tokio::time::sleep(AT_LEAST_EVERY) => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
            if state.commits.swap(0, Ordering::Relaxed) == 0 {
                continue;
            }
            // The connection travels to the blocking pool and back; an error ends the loop.
            let turns = state.clone();
            let copied = run_blocking(move || {
                let pages = {
                    let _turn = turns.take_turn();
                    passive_checkpoint(&conn)?
                };
                Ok((conn, pages))
            })
            .await;
            let (back, wal_pages) = copied?;
            conn = back;
            tracing::trace!(wal_pages, "checkpointed");
        }
    }

    /// `storage.checkpoints = external`: no checkpoint from this process at all (SQLite's
    /// automatic one included), so that the replicating program alone decides when pages move
    /// from the WAL into the database file.
    pub async fn leave_checkpoints_to_another_program(&self) -> Result<(), StoreError> {
        self.set_autocheckpoint(0).await
    }

    async fn set_autocheckpoint(&self, pages: i64) -> Result<(), StoreError> {
        self.with_writer(move |conn| Ok(conn.pragma_update(None, "wal_autocheckpoint", pages)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` back-to-back commits of one small row each.
    async fn commit_rows(store: &Store, n: usize) {
        for i in 0..n {
            store
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO market_cursors (symbol, last_agg_id, trade_time) VALUES (?1, 1, 1)",
                        [format!("S{i}USDT")],
                    )?;
                    Ok(())
                })
                .await
                .unwrap();
        }
    }

    fn wal_pages(dir: &std::path::Path) -> u64 {
        std::fs::metadata(dir.join(super::super::DB_FILE).with_extension("db-wal"))
            .map(|m| m.len() / 4096)
            .unwrap_or(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_in_the_background_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Duration::from_secs(5)).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(store.clone().run_checkpointer(shutdown.clone()));
        // The task has switched the writer's own checkpoints off once it is running.
        let autocheckpoint = || async {
            store
                .with_writer(|c| {
                    Ok(c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get::<_, i64>(0))?)
                })
                .await
                .unwrap()
        };
        while !store.inner.checkpoint.running.load(Ordering::Relaxed) || autocheckpoint().await != 0
        {
            tokio::task::yield_now().await;
        }
        // 8,000 back-to-back commits of ~2 pages each: the WAL would pass 17,000 pages if it
        // never started over.
        commit_rows(&store, 8000).await;
        let pages = wal_pages(dir.path());
        assert!(pages < 7000, "WAL grew to {pages} pages");
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(autocheckpoint().await, SQLITE_DEFAULT_PAGES);
    }

    #[tokio::test]
    async fn with_checkpoints_left_to_another_program_the_server_makes_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Duration::from_secs(5)).unwrap();
        store.leave_checkpoints_to_another_program().await.unwrap();
        // SQLite's own checkpoint would start the WAL over every 1,000 pages.
        commit_rows(&store, 1500).await;
        let pages = wal_pages(dir.path());
        assert!(
            pages > 2 * SQLITE_DEFAULT_PAGES as u64,
            "the WAL started over at {pages} pages"
        );
    }
}
