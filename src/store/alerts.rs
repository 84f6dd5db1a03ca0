//! The `alerts` table, with each alert's channels and its latest fire's deliveries.

use std::collections::HashMap;

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::channels::{channels_json, default_channels, resolve_channels};
use super::{Store, StoreError};
use crate::clock::now_millis;
use crate::domain::{
    Alert, AlertEdit, AlertId, ChannelId, ChannelKind, Condition, Delivery, DeliveryStatus,
    Distance, Move, NewAlert, Price, Repeat, Status, Symbol, UserId,
};

/// An alert's own columns, as `alert_from_row` reads them.
pub(super) const COLUMNS: &str = "id, user_id, symbol, target_price, condition, status, \
    created_at, triggered_at, triggered_price, channels, note, armed_at, repeat_rearm, \
    repeat_cooldown_ms, fire_count, awaiting_reset, cooldown_until, last_trade_id, expires_at, \
    percent, window_ms, triggered_reference";

/// Which of a user's alerts to list. `status: None` means every alert that is not deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AlertFilter {
    pub status: Option<Status>,
    pub symbol: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    pub count: i64,
}

impl Store {
    /// Stores a new armed alert with its channels (checked to be the user's; by default all of
    /// the user's enabled ones), unless the user already has `max` alerts that are not deleted.
    pub async fn create_alert(
        &self,
        user: UserId,
        new: NewAlert,
        max: u32,
    ) -> Result<Alert, StoreError> {
        self.write(move |tx| {
            let live: i64 = tx
                .prepare_cached("SELECT live_alerts FROM users WHERE id = ?1")?
                .query_row([user.0], |row| row.get(0))
                .optional()?
                .ok_or(StoreError::UnknownUser)?;
            if live >= i64::from(max) {
                return Err(StoreError::AlertLimit(max));
            }
            let channels = if new.channels.is_empty() {
                default_channels(tx, user)?
            } else {
                resolve_channels(tx, user, &new.channels)?
            };
            let now = now_millis();
            tx.prepare_cached(
                "INSERT INTO alerts (user_id, symbol, target_price, condition, status, created_at,
                                     armed_at, channels, note, repeat_rearm, repeat_cooldown_ms,
                                     expires_at, percent, window_ms)
                 VALUES (?1, ?2, ?3, ?4, 'created', ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                user.0,
                new.symbol.as_str(),
                target_column(new.target, new.percent),
                new.condition.as_str(),
                now,
                channels_json(&channels),
                new.note,
                new.repeat.and_then(|r| r.rearm).map(|d| d.to_string()),
                new.repeat.map(|r| r.cooldown_ms),
                new.expires_at,
                new.percent.map(|m| m.percent.to_string()),
                new.percent.map(|m| m.window_ms),
            ])?;
            let id = tx.last_insert_rowid();
            Ok(Alert {
                id: AlertId(id),
                user_id: user,
                symbol: new.symbol,
                target: new.target,
                condition: new.condition,
                percent: new.percent,
                status: Status::Created,
                created_at: now,
                armed_at: now,
                triggered_at: None,
                triggered_price: None,
                triggered_reference: None,
                channels,
                note: new.note,
                repeat: new.repeat,
                fire_count: 0,
                awaiting_reset: false,
                cooldown_until: None,
                last_trade_id: None,
                expires_at: new.expires_at,
                deliveries: Vec::new(),
            })
        })
        .await
    }

    /// Changes an armed alert of the user's in one transaction; returns it before and after,
    /// or `None` when it is not theirs or is deleted. Its `armed_at` moves to now (and always
    /// forward), so trades before the edit never fire the new definition and a fire of the
    /// old one, still on its way, is recognised and dropped.
    pub async fn edit_alert(
        &self,
        user: UserId,
        id: AlertId,
        edit: AlertEdit,
    ) -> Result<Option<(Alert, Alert)>, StoreError> {
        self.write(move |tx| {
            let Some(old) = live_alert(tx, user, id)? else {
                return Ok(None);
            };
            if old.status != Status::Created {
                return Err(StoreError::WrongStatus {
                    id: id.0,
                    status: old.status.as_str(),
                    hint: format!(
                        "only an armed alert can be edited; re-arm it first \
                         (POST /alerts/{id}/rearm/)"
                    ),
                });
            }
            let channels = match edit.channels {
                None => old.channels.clone(),
                Some(ids) if ids.is_empty() => default_channels(tx, user)?,
                Some(ids) => resolve_channels(tx, user, &ids)?,
            };
            let mut new = old.clone();
            new.target = edit.target.unwrap_or(old.target);
            new.condition = edit.condition.unwrap_or(old.condition);
            new.note = edit.note.unwrap_or_else(|| old.note.clone());
            new.channels = channels;
            new.repeat = edit.repeat.unwrap_or(old.repeat);
            new.expires_at = edit.expires_at.unwrap_or(old.expires_at);
            new.percent = edit.percent.unwrap_or(old.percent);
            if new.percent.is_some() {
                new.target = Price::from_units(0, 0);
            }
            new.armed_at = now_millis().max(old.armed_at + 1);
            // A new definition starts armed: no re-arm to wait for, no cooldown.
            new.awaiting_reset = false;
            new.cooldown_until = None;
            tx.prepare_cached(
                "UPDATE alerts SET target_price = ?1, condition = ?2, note = ?3, channels = ?4,
                                   armed_at = ?5, repeat_rearm = ?6, repeat_cooldown_ms = ?7,
                                   awaiting_reset = 0, cooldown_until = NULL, expires_at = ?8,
                                   percent = ?9, window_ms = ?10
                 WHERE id = ?11",
            )?
            .execute(params![
                target_column(new.target, new.percent),
                new.condition.as_str(),
                new.note,
                channels_json(&new.channels),
                new.armed_at,
                new.repeat.and_then(|r| r.rearm).map(|d| d.to_string()),
                new.repeat.map(|r| r.cooldown_ms),
                new.expires_at,
                new.percent.map(|m| m.percent.to_string()),
                new.percent.map(|m| m.window_ms),
                id.0
            ])?;
            Ok(Some((old, new)))
        })
        .await
    }

    /// Arms a fired or expired alert of the user's again, from now on, with `expires_at` when
    /// given; one whose own expiry has passed (or that expired) needs a new one. `None` when it
    /// is not theirs or is deleted.
    pub async fn rearm_alert(
        &self,
        user: UserId,
        id: AlertId,
        expires_at: Option<i64>,
    ) -> Result<Option<Alert>, StoreError> {
        self.write(move |tx| {
            let Some(mut alert) = live_alert(tx, user, id)? else {
                return Ok(None);
            };
            if !matches!(alert.status, Status::Triggered | Status::Expired) {
                return Err(StoreError::WrongStatus {
                    id: id.0,
                    status: "armed already",
                    hint: "only a fired or expired alert can be re-armed".to_string(),
                });
            }
            let now = now_millis();
            let expired = alert.status == Status::Expired;
            if let (None, Some(at)) = (expires_at, alert.expires_at) {
                if expired || at <= now {
                    return Err(StoreError::ExpiryRequired { id: id.0, at });
                }
            }
            alert.status = Status::Created;
            alert.armed_at = now.max(alert.armed_at + 1);
            alert.expires_at = expires_at.or(alert.expires_at);
            tx.prepare_cached(
                "UPDATE alerts SET status = 'created', armed_at = ?1, expires_at = ?2 WHERE id = ?3",
            )?
            .execute(params![alert.armed_at, alert.expires_at, id.0])?;
            Ok(Some(alert))
        })
        .await
    }

    /// The user's alert with that id, deleted ones included; someone else's is `None`.
    pub async fn get_alert(&self, user: UserId, id: AlertId) -> Result<Option<Alert>, StoreError> {
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1 AND user_id = ?2");
            let alert = conn
                .prepare_cached(&sql)?
                .query_row(params![id.0, user.0], alert_from_row)
                .optional()?;
            let mut alerts: Vec<Alert> = alert.into_iter().collect();
            attach(conn, &mut alerts)?;
            Ok(alerts.pop())
        })
        .await
    }

    /// Newest first.
    pub async fn list_alerts(
        &self,
        user: UserId,
        filter: AlertFilter,
        limit: i64,
        offset: i64,
    ) -> Result<AlertPage, StoreError> {
        self.read(move |conn| {
            let status = filter.status.map(Status::as_str);
            const WHERE: &str = "WHERE user_id = ?1
                AND (CASE WHEN ?2 IS NULL THEN status != 'deleted' ELSE status = ?2 END)
                AND (?3 IS NULL OR symbol = ?3)";
            let count: i64 = conn
                .prepare_cached(&format!("SELECT COUNT(*) FROM alerts {WHERE}"))?
                .query_row(params![user.0, status, filter.symbol], |row| row.get(0))?;
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts {WHERE} ORDER BY id DESC LIMIT ?4 OFFSET ?5"
            ))?;
            let mut alerts = stmt
                .query_map(
                    params![user.0, status, filter.symbol, limit, offset],
                    alert_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            attach(conn, &mut alerts)?;
            Ok(AlertPage { alerts, count })
        })
        .await
    }

    /// Marks the alert deleted (kept as history). `None` when it is not the user's or already gone.
    pub async fn delete_alert(
        &self,
        user: UserId,
        id: AlertId,
    ) -> Result<Option<Alert>, StoreError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE alerts SET status = 'deleted', deleted_at = ?1
                 WHERE id = ?2 AND user_id = ?3 AND status != 'deleted'",
                params![now_millis(), id.0, user.0],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1");
            let mut alerts = vec![tx.query_row(&sql, [id.0], alert_from_row)?];
            attach(tx, &mut alerts)?;
            Ok(alerts.pop())
        })
        .await
    }
}

/// The user's alert, unless it is deleted, with no deliveries attached.
pub(super) fn live_alert(
    conn: &Connection,
    user: UserId,
    id: AlertId,
) -> Result<Option<Alert>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE id = ?1 AND user_id = ?2 AND status != 'deleted'"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id.0, user.0], alert_from_row)
        .optional()?)
}

fn bad_column(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, what.to_string().into())
}

/// An alert from `COLUMNS`, without its deliveries (see `attach`).
pub(super) fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    let symbol: String = row.get(2)?;
    let target: Option<String> = row.get(3)?;
    let condition: String = row.get(4)?;
    let status: String = row.get(5)?;
    let triggered_price: Option<String> = row.get(8)?;
    let channels: String = row.get(9)?;
    Ok(Alert {
        id: AlertId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        symbol: Symbol::parse(&symbol).map_err(|_| bad_column(2, "symbol"))?,
        target: target
            .map_or(Ok(Price::from_units(0, 0)), |t| Price::parse(&t))
            .map_err(|_| bad_column(3, "target_price"))?,
        condition: Condition::parse(&condition).ok_or_else(|| bad_column(4, "condition"))?,
        status: Status::parse(&status).ok_or_else(|| bad_column(5, "status"))?,
        created_at: row.get(6)?,
        triggered_at: row.get(7)?,
        triggered_price: triggered_price
            .map(|p| Price::parse(&p).map_err(|_| bad_column(8, "triggered_price")))
            .transpose()?,
        channels: serde_json::from_str::<Vec<i64>>(&channels)
            .map_err(|_| bad_column(9, "channels"))?
            .into_iter()
            .map(ChannelId)
            .collect(),
        note: row.get(10)?,
        armed_at: row.get(11)?,
        repeat: repeat_from_columns(row.get(12)?, row.get(13)?)
            .map_err(|_| bad_column(12, "repeat_rearm"))?,
        fire_count: row.get(14)?,
        awaiting_reset: row.get(15)?,
        cooldown_until: row.get(16)?,
        last_trade_id: row.get::<_, Option<i64>>(17)?.map(|id| id as u64),
        expires_at: row.get(18)?,
        percent: move_from_columns(row.get(19)?, row.get(20)?)
            .map_err(|_| bad_column(19, "percent"))?,
        triggered_reference: row
            .get::<_, Option<String>>(21)?
            .map(|p| Price::parse(&p).map_err(|_| bad_column(21, "triggered_reference")))
            .transpose()?,
        deliveries: Vec::new(),
    })
}

/// A repeating alert has a cooldown (`0` at least); a percent alert has no re-arm distance.
fn repeat_from_columns(
    rearm: Option<String>,
    cooldown_ms: Option<i64>,
) -> Result<Option<Repeat>, String> {
    let Some(cooldown_ms) = cooldown_ms else {
        return Ok(None);
    };
    Ok(Some(Repeat {
        rearm: rearm.map(|text| Distance::parse(&text)).transpose()?,
        cooldown_ms,
    }))
}

fn move_from_columns(
    percent: Option<String>,
    window_ms: Option<i64>,
) -> Result<Option<Move>, String> {
    match (percent, window_ms) {
        (Some(percent), Some(window_ms)) => Ok(Some(Move {
            percent: Price::parse(&percent).map_err(|e| e.to_string())?,
            window_ms,
        })),
        (None, None) => Ok(None),
        _ => Err("a percent without a window".into()),
    }
}

/// What `target_price` holds: nothing for a percent alert.
fn target_column(target: Price, percent: Option<Move>) -> Option<String> {
    percent.is_none().then(|| target.to_string())
}

/// Fills in each alert's latest fire's deliveries: one query for the lot.
pub(super) fn attach(conn: &Connection, alerts: &mut [Alert]) -> Result<(), StoreError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(&alerts.iter().map(|a| a.id.0).collect::<Vec<_>>())
        .map_err(|err| StoreError::Task(err.to_string()))?;
    let at: HashMap<i64, usize> = alerts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.0, i))
        .collect();
    let mut deliveries = conn.prepare_cached(&format!(
        "SELECT d.alert_id, {DELIVERY_COLUMNS}
         FROM deliveries d
         WHERE d.alert_id IN (SELECT value FROM json_each(?1))
           AND d.fire_id = (SELECT MAX(f.id) FROM fires f WHERE f.alert_id = d.alert_id)
         ORDER BY d.alert_id, d.channel_id"
    ))?;
    let mut rows = deliveries.query([&ids])?;
    while let Some(row) = rows.next()? {
        let Some(&i) = at.get(&row.get::<_, i64>(0)?) else {
            continue;
        };
        alerts[i].deliveries.push(delivery_from_row(row)?);
    }
    Ok(())
}

/// A delivery from `DELIVERY_COLUMNS`, read after one leading key column.
pub(super) const DELIVERY_COLUMNS: &str =
    "d.channel_id, d.kind, d.status, d.attempts, d.last_error, d.sent_at";

pub(super) fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let kind: String = row.get(2)?;
    let status: String = row.get(3)?;
    Ok(Delivery {
        channel_id: ChannelId(row.get(1)?),
        kind: ChannelKind::parse(&kind).ok_or_else(|| bad_column(2, "kind"))?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad_column(3, "status"))?,
        attempts: row.get(4)?,
        last_error: row.get(5)?,
        sent_at: row.get(6)?,
    })
}
