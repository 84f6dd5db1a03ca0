//! The outbox: one delivery per fire and channel, taken by the delivery worker.

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::{
    AlertId, Channel, ChannelId, ChannelKind, Condition, Move, Price, Symbol, UserId,
};

/// A delivery due now, with what its message needs.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub id: i64,
    /// Stable across retries: receivers drop duplicates by it.
    pub key: String,
    pub alert_id: AlertId,
    pub user_id: UserId,
    pub attempts: i64,
    pub created_at: i64,
    pub username: String,
    pub channel: Channel,
    pub symbol: Symbol,
    pub condition: Condition,
    /// Zero for a percent alert.
    pub target: Price,
    /// A percent alert's move.
    pub percent: Option<Move>,
    /// The fire: the trade's price and time...
    pub price: Price,
    pub fired_at: i64,
    /// ...and, for a percent alert, the window low or high it was measured from.
    pub reference: Option<Price>,
    /// The alert's note.
    pub note: Option<String>,
}

impl DueDelivery {
    pub fn kind(&self) -> ChannelKind {
        self.channel.settings.kind()
    }
}

fn bad(index: usize) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(index, "outbox".into(), rusqlite::types::Type::Text)
}

impl Store {
    /// The channels with deliveries due now (email only `with_email`), with their kind.
    pub async fn due_channels(
        &self,
        now: i64,
        with_email: bool,
    ) -> Result<Vec<(ChannelId, ChannelKind)>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT channel_id, kind FROM deliveries
                 WHERE status = 'pending' AND next_attempt_at <= ?1 AND (?2 OR kind != 'email')",
            )?;
            let rows = stmt.query_map(params![now, with_email], |row| {
                let kind: String = row.get(1)?;
                Ok((
                    ChannelId(row.get(0)?),
                    ChannelKind::parse(&kind).ok_or_else(|| bad(1))?,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Up to `limit` of the channel's deliveries due now, oldest first, leaving out `busy` (in
    /// flight). An index read of a few rows, whatever else is pending.
    pub async fn due_for_channel(
        &self,
        channel: ChannelId,
        now: i64,
        limit: i64,
        busy: Vec<i64>,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.read(move |conn| {
            let busy = serde_json::to_string(&busy).map_err(|e| StoreError::Task(e.to_string()))?;
            let mut stmt = conn.prepare_cached(
                "SELECT d.id, d.delivery_key, d.alert_id, d.user_id, d.attempts, d.created_at,
                        u.username, c.id, c.name, c.enabled, c.created_at, c.settings,
                        a.symbol, a.condition, a.target_price, f.price, f.fired_at, a.note,
                        a.percent, a.window_ms, f.reference_price
                 FROM deliveries d
                 JOIN fires f ON f.id = d.fire_id
                 JOIN alerts a ON a.id = d.alert_id
                 JOIN users u ON u.id = d.user_id
                 JOIN channels c ON c.id = d.channel_id
                 WHERE d.channel_id = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2
                   AND d.id NOT IN (SELECT value FROM json_each(?4))
                 ORDER BY d.next_attempt_at, d.id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![channel.0, now, limit, busy], |row| {
                let settings: String = row.get(11)?;
                let symbol: String = row.get(12)?;
                let condition: String = row.get(13)?;
                let target: Option<String> = row.get(14)?;
                let price: String = row.get(15)?;
                let percent: Option<String> = row.get(18)?;
                let window_ms: Option<i64> = row.get(19)?;
                let reference: Option<String> = row.get(20)?;
                let user_id = UserId(row.get(3)?);
                Ok(DueDelivery {
                    id: row.get(0)?,
                    key: row.get(1)?,
                    alert_id: AlertId(row.get(2)?),
                    user_id,
                    attempts: row.get(4)?,
                    created_at: row.get(5)?,
                    username: row.get(6)?,
                    channel: Channel {
                        id: ChannelId(row.get(7)?),
                        user_id,
                        name: row.get(8)?,
                        enabled: row.get(9)?,
                        created_at: row.get(10)?,
                        settings: serde_json::from_str(&settings).map_err(|_| bad(11))?,
                    },
                    symbol: Symbol::parse(&symbol).map_err(|_| bad(12))?,
                    condition: Condition::parse(&condition).ok_or_else(|| bad(13))?,
                    target: target
                        .map_or(Ok(Price::from_units(0, 0)), |t| Price::parse(&t))
                        .map_err(|_| bad(14))?,
                    percent: match (percent, window_ms) {
                        (Some(p), Some(window_ms)) => Some(Move {
                            percent: Price::parse(&p).map_err(|_| bad(18))?,
                            window_ms,
                        }),
                        _ => None,
                    },
                    price: Price::parse(&price).map_err(|_| bad(15))?,
                    fired_at: row.get(16)?,
                    reference: reference
                        .map(|r| Price::parse(&r).map_err(|_| bad(20)))
                        .transpose()?,
                    note: row.get(17)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// When the next pending delivery is due, if any (email only `with_email`).
    pub async fn next_delivery_due(&self, with_email: bool) -> Result<Option<i64>, StoreError> {
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT MIN(next_attempt_at) FROM deliveries
                 WHERE status = 'pending' AND (?1 OR kind != 'email')",
                [with_email],
                |row| row.get(0),
            )?)
        })
        .await
    }

    pub async fn mark_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?1, attempts = attempts + 1,
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
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?1, next_attempt_at = ?2
                 WHERE id = ?3 AND status = 'pending'",
                params![error, next_at, id],
            )?;
            Ok(())
        })
        .await
    }

    /// Moves the channel's pending deliveries that are due earlier to `until` (it asked to be
    /// retried then: the others would meet the same answer).
    pub async fn hold_channel(&self, channel: ChannelId, until: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE deliveries SET next_attempt_at = ?2
                 WHERE channel_id = ?1 AND status = 'pending' AND next_attempt_at < ?2",
                params![channel.0, until],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn mark_failed(&self, id: i64, error: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?1
                 WHERE id = ?2 AND status = 'pending'",
                params![error, id],
            )?;
            Ok(())
        })
        .await
    }

    /// (pending, sent, failed) counts over all deliveries, for logs and metrics.
    pub async fn notification_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'sent'), 0),
                        COALESCE(SUM(status = 'failed'), 0)
                 FROM deliveries",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?)
        })
        .await
    }
}
