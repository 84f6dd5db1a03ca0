//! Commits fires: each fired alert becomes `triggered` (or, repeating, counts the fire and waits
//! for its re-arm) and gets its outbox rows in one SQLite transaction. The store's guards (still
//! `created`; for a repeating alert, still at the count before the fire) make a repeated fire a
//! no-op, so a crossing fires at most once even across duplicate trades and restarts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::TradeOutcome;
use crate::domain::Cursor;
use crate::store::{Committed, Matched, Store};

/// Most work items folded into one transaction.
const BATCH: usize = 512;

pub enum Work {
    Trade(TradeOutcome),
    /// Where to resume each symbol's stream after a restart.
    Cursors(Vec<Cursor>),
}

/// Runs until shutdown, then commits what is queued and returns.
pub async fn run_persister(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Work>,
    on_commit: Arc<dyn Fn(Committed) + Send + Sync>,
    shutdown: CancellationToken,
) {
    let mut batch: Vec<Work> = Vec::new();
    loop {
        if batch.is_empty() {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => batch.push(item),
                    None => return,
                },
                _ = shutdown.cancelled() => {
                    while let Ok(item) = rx.try_recv() {
                        batch.push(item);
                    }
                    if !batch.is_empty() {
                        let _ = commit(&store, std::mem::take(&mut batch), &on_commit).await;
                    }
                    return;
                }
            }
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        match commit(&store, std::mem::take(&mut batch), &on_commit).await {
            Ok(()) => {}
            Err(failed) => {
                batch = failed;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// On failure the batch comes back to be retried.
async fn commit(
    store: &Store,
    batch: Vec<Work>,
    on_commit: &Arc<dyn Fn(Committed) + Send + Sync>,
) -> Result<(), Vec<Work>> {
    let mut matched = Matched::default();
    for work in &batch {
        match work {
            Work::Trade(outcome) => {
                matched.fired.extend(outcome.fired.iter().cloned());
                matched.resolved.extend(outcome.resolved.iter().copied());
                matched.rearmed.extend(outcome.rearmed.iter().copied());
                matched.expired.extend(outcome.expired.iter().copied());
            }
            Work::Cursors(list) => matched.cursors.extend(list.iter().cloned()),
        }
    }
    match store.apply_fires(matched).await {
        Ok(committed) => {
            on_commit(committed);
            Ok(())
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot commit fired alerts; retrying");
            Err(batch)
        }
    }
}
