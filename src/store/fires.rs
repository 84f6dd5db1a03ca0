//! What the matcher reads and writes: armed alerts at start, fires, resolutions and stream cursors.

use std::collections::BTreeSet;

use rusqlite::params;

use super::alerts::{alert_from_row, COLUMNS};
use super::{Store, StoreError};
use crate::clock::now_millis;
use crate::domain::{Alert, AlertId, Cursor, Expired, Fired, Rearmed, Resolved, Symbol, UserId};

/// What the matcher decided, to be recorded in one transaction.
#[derive(Clone, Debug, Default)]
pub struct Matched {
    pub fired: Vec<Fired>,
    pub resolved: Vec<Resolved>,
    pub rearmed: Vec<Rearmed>,
    pub expired: Vec<Expired>,
    pub cursors: Vec<Cursor>,
}

/// What a fire transaction changed.
#[derive(Debug, Default)]
pub struct Committed {
    /// Fires recorded now: one-shot alerts that became `triggered` and fires of repeating
    /// alerts (a fire replayed after a restart is not here).
    pub triggered: Vec<Fired>,
    /// Alerts that became `expired`, with their owners.
    pub expired: Vec<(AlertId, UserId)>,
    /// Owners whose alerts changed.
    pub users: Vec<UserId>,
}

impl Store {
    /// Up to `limit` alerts still `created` with ids above `after`, in id order: the matcher
    /// loads its index page by page so start-up never holds every row at once.
    pub async fn armed_alerts_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts WHERE status = 'created' AND id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let alerts = stmt
                .query_map(params![after, limit], alert_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(alerts)
        })
        .await
    }

    /// In one transaction: marks fired one-shot alerts triggered (only those still `created`)
    /// and counts the fires of repeating ones (each only at the count before it, and then
    /// waiting for its re-arm), records each fire with one outbox row (delivery) per channel,
    /// and records resolved conditions, re-arms, expiries and stream cursors.
    pub async fn apply_fires(&self, matched: Matched) -> Result<Committed, StoreError> {
        let Matched {
            fired,
            resolved,
            rearmed,
            expired,
            cursors,
        } = matched;
        self.write(move |tx| {
            let now = now_millis();
            let mut users = BTreeSet::new();
            let mut triggered = Vec::new();
            let mut trigger = tx.prepare_cached(
                "UPDATE alerts SET status = 'triggered', triggered_at = ?1, triggered_price = ?2,
                                   fire_count = fire_count + 1, triggered_reference = ?5
                 WHERE id = ?3 AND status = 'created' AND armed_at = ?4
                     AND repeat_cooldown_ms IS NULL",
            )?;
            let mut repeat = tx.prepare_cached(
                "UPDATE alerts SET triggered_at = ?1, triggered_price = ?2, fire_count = ?5,
                                   awaiting_reset = (percent IS NULL), last_trade_id = ?6,
                                   cooldown_until = ?1 + coalesce(repeat_cooldown_ms, 0),
                                   triggered_reference = ?7
                 WHERE id = ?3 AND status = 'created' AND armed_at = ?4
                     AND repeat_cooldown_ms IS NOT NULL AND fire_count = ?5 - 1",
            )?;
            let mut record = tx.prepare_cached(
                "INSERT INTO fires (alert_id, price, fired_at, created_at, reference_price)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            // One delivery per channel the alert notifies that is still enabled, each with a key
            // that every retry of it carries.
            let mut outbox = tx.prepare_cached(
                "INSERT INTO deliveries (fire_id, alert_id, channel_id, user_id, kind, delivery_key,
                                         status, next_attempt_at, created_at)
                 SELECT ?1, ?2, c.id, ?3, c.kind, lower(hex(randomblob(16))), 'pending', ?4, ?4
                 FROM alerts a, json_each(a.channels) j JOIN channels c ON c.id = j.value
                 WHERE a.id = ?2 AND c.enabled = 1 AND c.deleted_at IS NULL",
            )?;
            for fire in &fired {
                let price = fire.price.to_string();
                let reference = fire.reference.map(|p| p.to_string());
                let changed = match fire.repeat {
                    None => trigger.execute(params![
                        fire.time,
                        price,
                        fire.id.0,
                        fire.armed_at,
                        reference
                    ])?,
                    Some(count) => repeat.execute(params![
                        fire.time,
                        price,
                        fire.id.0,
                        fire.armed_at,
                        count,
                        fire.trade as i64,
                        reference
                    ])?,
                };
                if changed == 1 {
                    record.execute(params![fire.id.0, price, fire.time, now, reference])?;
                    let fire_id = tx.last_insert_rowid();
                    outbox.execute(params![fire_id, fire.id.0, fire.user.0, now])?;
                    users.insert(fire.user);
                    triggered.push(fire.clone());
                    tracing::info!(alert = %fire.id, symbol = %fire.symbol, price = %fire.price, "alert triggered");
                }
            }
            let mut resolve = tx.prepare_cached(
                "UPDATE alerts SET condition = ?1
                 WHERE id = ?2 AND condition = 'cross' AND armed_at = ?3
                 RETURNING user_id",
            )?;
            for r in &resolved {
                let mut rows = resolve.query(params![r.condition.as_str(), r.id.0, r.armed_at])?;
                if let Some(row) = rows.next()? {
                    users.insert(UserId(row.get(0)?));
                }
            }
            let mut rearm = tx.prepare_cached(
                "UPDATE alerts SET awaiting_reset = 0, last_trade_id = ?4
                 WHERE id = ?1 AND status = 'created' AND armed_at = ?2 AND fire_count = ?3
                     AND awaiting_reset = 1
                 RETURNING user_id",
            )?;
            for r in &rearmed {
                let mut rows =
                    rearm.query(params![r.id.0, r.armed_at, r.fire_count, r.trade as i64])?;
                if let Some(row) = rows.next()? {
                    users.insert(UserId(row.get(0)?));
                }
            }
            let mut expire = tx.prepare_cached(
                "UPDATE alerts SET status = 'expired'
                 WHERE id = ?1 AND status = 'created' AND armed_at = ?2
                 RETURNING user_id",
            )?;
            let mut expired_now = Vec::new();
            for e in &expired {
                let mut rows = expire.query(params![e.id.0, e.armed_at])?;
                if let Some(row) = rows.next()? {
                    let user = UserId(row.get(0)?);
                    users.insert(user);
                    expired_now.push((e.id, user));
                    tracing::info!(alert = %e.id, "alert expired");
                }
            }
            let mut cursor = tx.prepare_cached(
                "INSERT INTO market_cursors (symbol, last_agg_id, trade_time) VALUES (?1, ?2, ?3)
                 ON CONFLICT (symbol) DO UPDATE SET last_agg_id = excluded.last_agg_id,
                     trade_time = excluded.trade_time
                 WHERE excluded.last_agg_id > market_cursors.last_agg_id",
            )?;
            for c in &cursors {
                cursor.execute(params![c.symbol.as_str(), c.last_agg_id as i64, c.trade_time])?;
            }
            Ok(Committed {
                triggered,
                expired: expired_now,
                users: users.into_iter().collect(),
            })
        })
        .await
    }

    /// Where each symbol's trade stream was last processed.
    pub async fn market_cursors(&self) -> Result<Vec<Cursor>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT symbol, last_agg_id, trade_time FROM market_cursors")?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (symbol, id, time) = row?;
                if let Ok(symbol) = Symbol::parse(&symbol) {
                    out.push(Cursor {
                        symbol,
                        last_agg_id: id as u64,
                        trade_time: time,
                    });
                }
            }
            Ok(out)
        })
        .await
    }
}

impl Store {
    /// Fills an empty database with `alerts` armed alerts over `symbols` symbols, for
    /// benchmarks; one transaction.
    #[doc(hidden)]
    pub async fn seed_bench_alerts(&self, alerts: usize, symbols: usize) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO users (id, username, email, password_hash, created_at)
                 VALUES (1, 'bench', 'bench@example.com', 'x', 0)",
                [],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO channels (id, user_id, kind, name, settings, created_at)
                 VALUES (1, 1, 'email', 'Email', '{\"kind\":\"email\",\"address\":\"bench@example.com\"}', 0)",
                [],
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO alerts (user_id, symbol, target_price, condition, status, created_at)
                 VALUES (1, ?1, ?2, ?3, 'created', ?4)",
            )?;
            for i in 0..alerts {
                let symbol = format!("S{:04}USDT", i % symbols);
                let (target, condition) = if i.is_multiple_of(2) {
                    (format!("{}.5", 2000 + i % 100_000), "above")
                } else {
                    (format!("{}.25", 1 + i % 400), "below")
                };
                insert.execute(params![symbol, target, condition, now_millis()])?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{AlertEdit, Condition, NewAlert, Price, Resolved, Status};

    fn price(text: &str) -> Price {
        Price::parse(text).unwrap()
    }

    /// A fire or a resolution of an alert's old definition, still on its way to the store when
    /// the alert was edited, changes nothing; one of the new definition does.
    #[tokio::test]
    async fn only_the_current_definition_of_an_alert_fires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Duration::from_secs(5)).unwrap();
        let user = store
            .create_user("ann".into(), "ann@example.com".into(), "hash".into())
            .await
            .unwrap()
            .id;
        let new = NewAlert {
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            target: price("100"),
            condition: Condition::Cross,
            percent: None,
            channels: Vec::new(),
            note: None,
            repeat: None,
            expires_at: None,
        };
        let old = store.create_alert(user, new, 10).await.unwrap();
        let edit = AlertEdit {
            target: Some(price("200")),
            ..AlertEdit::default()
        };
        let (_, edited) = store.edit_alert(user, old.id, edit).await.unwrap().unwrap();
        assert!(edited.armed_at > old.armed_at);
        let fire = |armed_at| Fired {
            id: old.id,
            user,
            armed_at,
            symbol: old.symbol.clone(),
            price: price("100"),
            time: edited.armed_at + 5,
            trade: 1,
            reference: None,
            repeat: None,
        };
        let resolve = |armed_at| Resolved {
            id: old.id,
            armed_at,
            condition: Condition::Below,
        };
        let stale = store
            .apply_fires(Matched {
                fired: vec![fire(old.armed_at)],
                resolved: vec![resolve(old.armed_at)],
                ..Matched::default()
            })
            .await
            .unwrap();
        assert!(stale.triggered.is_empty() && stale.users.is_empty());
        let now = store.get_alert(user, old.id).await.unwrap().unwrap();
        assert_eq!(
            (now.status, now.condition),
            (Status::Created, Condition::Cross)
        );

        let current = store
            .apply_fires(Matched {
                fired: vec![fire(edited.armed_at)],
                ..Matched::default()
            })
            .await
            .unwrap();
        assert_eq!(current.triggered.len(), 1);
        let now = store.get_alert(user, old.id).await.unwrap().unwrap();
        assert_eq!(now.status, Status::Triggered);
    }
}
