//! The outbox: one row per fired alert, delivered by the notify worker.

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::{AlertId, Condition, Price, Symbol, UserId};

/// A notification due for delivery, with what its email needs.
#[derive(Clone, Debug)]
pub struct OutboxItem {
    pub id: i64,
    pub alert_id: AlertId,
    pub user_id: UserId,
    pub attempts: i64,
    pub created_at: i64,
    pub email: String,
    pub username: String,
    pub symbol: Symbol,
    pub condition: Condition,
    pub target: Price,
    pub triggered_price: Option<Price>,
    pub triggered_at: Option<i64>,
}

fn bad(index: usize) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(index, "outbox".into(), rusqlite::types::Type::Text)
}

impl Store {
    /// Pending notifications whose next attempt is due, oldest first.
    pub async fn due_notifications(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT n.id, n.alert_id, n.attempts, n.created_at, u.email, u.username,
                        a.symbol, a.condition, a.target_price, a.triggered_price, a.triggered_at,
                        n.user_id
                 FROM notifications n
                 JOIN alerts a ON a.id = n.alert_id
                 JOIN users u ON u.id = n.user_id
                 WHERE n.status = 'pending' AND n.next_attempt_at <= ?1
                 ORDER BY n.next_attempt_at, n.id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now, limit], |row| {
                let symbol: String = row.get(6)?;
                let condition: String = row.get(7)?;
                let target: String = row.get(8)?;
                let triggered: Option<String> = row.get(9)?;
                Ok(OutboxItem {
                    id: row.get(0)?,
                    alert_id: AlertId(row.get(1)?),
                    attempts: row.get(2)?,
                    created_at: row.get(3)?,
                    email: row.get(4)?,
                    username: row.get(5)?,
                    symbol: Symbol::parse(&symbol).map_err(|_| bad(6))?,
                    condition: Condition::parse(&condition).ok_or_else(|| bad(7))?,
                    target: Price::parse(&target).map_err(|_| bad(8))?,
                    triggered_price: triggered
                        .map(|p| Price::parse(&p).map_err(|_| bad(9)))
                        .transpose()?,
                    triggered_at: row.get(10)?,
                    user_id: UserId(row.get(11)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// When the next pending notification is due, if any.
    pub async fn next_notification_due(&self) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT MIN(next_attempt_at) FROM notifications WHERE status = 'pending'",
                [],
                |row| row.get(0),
            )?)
        })
        .await
    }

    pub async fn mark_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE notifications SET status = 'sent', sent_at = ?1, attempts = attempts + 1,
                     last_error = NULL
                 WHERE id = ?2 AND status = 'pending'",
                params![now, id],
            )?;
            Ok(())
        })
        .await
    }

    /// Records a temporary failure and when to try again.
    pub async fn mark_retry(&self, id: i64, next_at: i64, error: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?1, next_attempt_at = ?2
                 WHERE id = ?3 AND status = 'pending'",
                params![error, next_at, id],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn mark_failed(&self, id: i64, error: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, last_error = ?1
                 WHERE id = ?2 AND status = 'pending'",
                params![error, id],
            )?;
            Ok(())
        })
        .await
    }

    /// (pending, sent, failed) counts, for logs and metrics.
    pub async fn notification_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'sent'), 0),
                        COALESCE(SUM(status = 'failed'), 0)
                 FROM notifications",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?)
        })
        .await
    }
}
