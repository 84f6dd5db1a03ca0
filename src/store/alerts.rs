//! The `alerts` table.

use rusqlite::types::Type;
use rusqlite::{params, OptionalExtension, Row};

use super::{Store, StoreError};
use crate::clock::now_millis;
use crate::domain::{
    Alert, AlertId, Condition, DeliveryStatus, NewAlert, Notification, Price, Status, Symbol,
    UserId,
};

/// An alert's columns and its notification's, from `alerts a LEFT JOIN notifications n`.
const COLUMNS: &str = "a.id, a.user_id, a.symbol, a.target_price, a.condition, a.status, \
    a.created_at, a.triggered_at, a.triggered_price, n.status, n.attempts, n.last_error, n.sent_at";
const FROM: &str = "alerts a LEFT JOIN notifications n ON n.alert_id = a.id";

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
    /// Stores a new armed alert, unless the user already has `max` that are not deleted.
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
            let now = now_millis();
            tx.prepare_cached(
                "INSERT INTO alerts (user_id, symbol, target_price, condition, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'created', ?5)",
            )?
            .execute(params![
                user.0,
                new.symbol.as_str(),
                new.target.to_string(),
                new.condition.as_str(),
                now
            ])?;
            Ok(Alert {
                id: AlertId(tx.last_insert_rowid()),
                user_id: user,
                symbol: new.symbol,
                target: new.target,
                condition: new.condition,
                status: Status::Created,
                created_at: now,
                triggered_at: None,
                triggered_price: None,
                notification: None,
            })
        })
        .await
    }

    /// The user's alert with that id, deleted ones included; someone else's is `None`.
    pub async fn get_alert(&self, user: UserId, id: AlertId) -> Result<Option<Alert>, StoreError> {
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = ?1 AND a.user_id = ?2");
            Ok(conn
                .query_row(&sql, params![id.0, user.0], alert_with_notification)
                .optional()?)
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
                "SELECT {COLUMNS} FROM {FROM} WHERE a.id IN \
                 (SELECT id FROM alerts {WHERE} ORDER BY id DESC LIMIT ?4 OFFSET ?5) \
                 ORDER BY a.id DESC"
            ))?;
            let alerts = stmt
                .query_map(
                    params![user.0, status, filter.symbol, limit, offset],
                    alert_with_notification,
                )?
                .collect::<Result<Vec<_>, _>>()?;
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
            let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE a.id = ?1");
            Ok(Some(tx.query_row(&sql, [id.0], alert_with_notification)?))
        })
        .await
    }
}

fn bad_column(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, what.to_string().into())
}

pub(super) fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    let symbol: String = row.get(2)?;
    let target: String = row.get(3)?;
    let condition: String = row.get(4)?;
    let status: String = row.get(5)?;
    let triggered_price: Option<String> = row.get(8)?;
    Ok(Alert {
        id: AlertId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        symbol: Symbol::parse(&symbol).map_err(|_| bad_column(2, "symbol"))?,
        target: Price::parse(&target).map_err(|_| bad_column(3, "target_price"))?,
        condition: Condition::parse(&condition).ok_or_else(|| bad_column(4, "condition"))?,
        status: Status::parse(&status).ok_or_else(|| bad_column(5, "status"))?,
        created_at: row.get(6)?,
        triggered_at: row.get(7)?,
        triggered_price: triggered_price
            .map(|p| Price::parse(&p).map_err(|_| bad_column(8, "triggered_price")))
            .transpose()?,
        notification: None,
    })
}

/// `alert_from_row` plus the notification columns that follow (absent without a fire).
fn alert_with_notification(row: &Row<'_>) -> rusqlite::Result<Alert> {
    let mut alert = alert_from_row(row)?;
    let status: Option<String> = row.get(9)?;
    if let Some(status) = status {
        alert.notification = Some(Notification {
            status: DeliveryStatus::parse(&status)
                .ok_or_else(|| bad_column(9, "notification status"))?,
            attempts: row.get(10)?,
            last_error: row.get(11)?,
            sent_at: row.get(12)?,
        });
    }
    Ok(alert)
}
