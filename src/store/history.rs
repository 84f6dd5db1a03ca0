//! Fire history: every fire of an alert, or of all a user's alerts, with each channel's
//! delivery of it, newest first.

use rusqlite::{params, Connection};

use super::alerts::{delivery_from_row, live_alert, DELIVERY_COLUMNS};
use super::{Store, StoreError};
use crate::domain::{AlertId, FireRecord, Price, Symbol, UserId};

#[derive(Clone, Debug)]
pub struct FirePage {
    pub fires: Vec<FireRecord>,
    /// The fires on all pages.
    pub count: i64,
}

impl Store {
    /// A page of the fires of the user's alert `id`, newest first; `None` when the alert is
    /// not theirs or is deleted.
    pub async fn fire_history(
        &self,
        user: UserId,
        id: AlertId,
        limit: i64,
        offset: i64,
    ) -> Result<Option<FirePage>, StoreError> {
        self.read(move |conn| {
            if live_alert(conn, user, id)?.is_none() {
                return Ok(None);
            }
            fire_page(conn, Scope::Alert(id), limit, offset).map(Some)
        })
        .await
    }

    /// A page of the fires of all the user's alerts that are not deleted, newest first: the
    /// page's recent activity.
    pub async fn recent_fires(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<FirePage, StoreError> {
        self.read(move |conn| fire_page(conn, Scope::User(user), limit, offset))
            .await
    }
}

/// Whose fires a page holds.
#[derive(Clone, Copy)]
enum Scope {
    Alert(AlertId),
    User(UserId),
}

impl Scope {
    /// The condition on `fires f JOIN alerts a`, with its one parameter as `?1`.
    fn condition(self) -> (&'static str, i64) {
        match self {
            Scope::Alert(id) => ("f.alert_id = ?1", id.0),
            Scope::User(user) => ("a.user_id = ?1 AND a.status != 'deleted'", user.0),
        }
    }
}

fn fire_page(
    conn: &Connection,
    scope: Scope,
    limit: i64,
    offset: i64,
) -> Result<FirePage, StoreError> {
    let (condition, key) = scope.condition();
    let count: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM fires f JOIN alerts a ON a.id = f.alert_id WHERE {condition}"
        ))?
        .query_row([key], |row| row.get(0))?;
    let mut ids = Vec::new();
    let mut fires = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT f.id, f.alert_id, a.symbol, f.price, f.fired_at, f.reference_price
             FROM fires f JOIN alerts a ON a.id = f.alert_id WHERE {condition}
             ORDER BY f.id DESC LIMIT ?2 OFFSET ?3"
        ))?;
        let mut rows = stmt.query(params![key, limit, offset])?;
        while let Some(row) = rows.next()? {
            let fire_id: i64 = row.get(0)?;
            let bad = |what: &str| StoreError::Task(format!("fire {fire_id} has a bad {what}"));
            let symbol: String = row.get(2)?;
            let price: String = row.get(3)?;
            let reference: Option<String> = row.get(5)?;
            ids.push(fire_id);
            fires.push(FireRecord {
                alert: AlertId(row.get(1)?),
                symbol: Symbol::parse(&symbol).map_err(|_| bad("symbol"))?,
                price: Price::parse(&price).map_err(|_| bad("price"))?,
                fired_at: row.get(4)?,
                reference: reference
                    .map(|r| Price::parse(&r).map_err(|_| bad("reference price")))
                    .transpose()?,
                deliveries: Vec::new(),
            });
        }
    }
    if !ids.is_empty() {
        let json = serde_json::to_string(&ids).map_err(|e| StoreError::Task(e.to_string()))?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT d.fire_id, {DELIVERY_COLUMNS} FROM deliveries d
             WHERE d.fire_id IN (SELECT value FROM json_each(?1))
             ORDER BY d.fire_id, d.channel_id"
        ))?;
        let mut rows = stmt.query([json])?;
        while let Some(row) = rows.next()? {
            let fire_id: i64 = row.get(0)?;
            if let Some(i) = ids.iter().position(|&f| f == fire_id) {
                fires[i].deliveries.push(delivery_from_row(row)?);
            }
        }
    }
    Ok(FirePage { fires, count })
}
