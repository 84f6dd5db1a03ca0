//! An alert's fire history: every fire with each channel's delivery of it, newest first.

use rusqlite::params;

use super::alerts::{delivery_from_row, live_alert, DELIVERY_COLUMNS};
use super::{Store, StoreError};
use crate::domain::{AlertId, FireRecord, Price, UserId};

#[derive(Clone, Debug)]
pub struct FirePage {
    pub fires: Vec<FireRecord>,
    /// The alert's fires on all pages.
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
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM fires WHERE alert_id = ?1")?
                .query_row([id.0], |row| row.get(0))?;
            let mut ids = Vec::new();
            let mut fires = Vec::new();
            {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, price, fired_at FROM fires WHERE alert_id = ?1
                     ORDER BY id DESC LIMIT ?2 OFFSET ?3",
                )?;
                let mut rows = stmt.query(params![id.0, limit, offset])?;
                while let Some(row) = rows.next()? {
                    let fire_id: i64 = row.get(0)?;
                    let price: String = row.get(1)?;
                    let price = Price::parse(&price)
                        .map_err(|_| StoreError::Task(format!("fire {fire_id} has a bad price")))?;
                    ids.push(fire_id);
                    fires.push(FireRecord {
                        price,
                        fired_at: row.get(2)?,
                        deliveries: Vec::new(),
                    });
                }
            }
            if !ids.is_empty() {
                let json =
                    serde_json::to_string(&ids).map_err(|e| StoreError::Task(e.to_string()))?;
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
            Ok(Some(FirePage { fires, count }))
        })
        .await
    }
}
