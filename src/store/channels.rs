//! The `channels` table, and which channels each alert notifies (`alerts.channels`, a JSON
//! array of ids).

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{Store, StoreError};
use crate::clock::now_millis;
use crate::domain::{Channel, ChannelId, ChannelSettings, UserId};

const COLUMNS: &str = "id, user_id, name, enabled, created_at, settings";

fn channel_from_row(row: &Row<'_>) -> rusqlite::Result<Channel> {
    let settings: String = row.get(5)?;
    Ok(Channel {
        id: ChannelId(row.get(0)?),
        user_id: UserId(row.get(1)?),
        name: row.get(2)?,
        enabled: row.get(3)?,
        created_at: row.get(4)?,
        settings: serde_json::from_str(&settings).map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, err.into())
        })?,
    })
}

fn settings_json(settings: &ChannelSettings) -> Result<String, StoreError> {
    serde_json::to_string(settings).map_err(|err| StoreError::Task(err.to_string()))
}

/// What a change to a channel sets; `None` leaves it.
#[derive(Debug, Default)]
pub struct ChannelChange {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub settings: Option<ChannelSettings>,
}

/// Inserts a channel (the caller checked the cap, or it is the account's first).
pub(super) fn insert_channel(
    tx: &Transaction<'_>,
    user: UserId,
    name: &str,
    settings: &ChannelSettings,
    now: i64,
) -> Result<Channel, StoreError> {
    tx.prepare_cached(
        "INSERT INTO channels (user_id, kind, name, settings, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        user.0,
        settings.kind().as_str(),
        name,
        settings_json(settings)?,
        now
    ])?;
    Ok(Channel {
        id: ChannelId(tx.last_insert_rowid()),
        user_id: user,
        name: name.to_string(),
        enabled: true,
        created_at: now,
        settings: settings.clone(),
    })
}

/// Marks the channel's pending deliveries failed with `reason` (it was deleted or disabled).
fn drop_pending(tx: &Transaction<'_>, channel: ChannelId, reason: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE deliveries SET status = 'failed', last_error = ?1
         WHERE channel_id = ?2 AND status = 'pending'",
        params![reason, channel.0],
    )?;
    Ok(())
}

impl Store {
    /// Stores a new channel, unless the user already has `max`.
    pub async fn create_channel(
        &self,
        user: UserId,
        name: String,
        settings: ChannelSettings,
        max: u32,
    ) -> Result<Channel, StoreError> {
        self.write(move |tx| {
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM channels WHERE user_id = ?1 AND deleted_at IS NULL",
                [user.0],
                |row| row.get(0),
            )?;
            if count >= i64::from(max) {
                return Err(StoreError::ChannelLimit(max));
            }
            insert_channel(tx, user, &name, &settings, now_millis())
        })
        .await
    }

    /// The user's channels that are not deleted, oldest first.
    pub async fn list_channels(&self, user: UserId) -> Result<Vec<Channel>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM channels WHERE user_id = ?1 AND deleted_at IS NULL ORDER BY id"
            ))?;
            let channels = stmt
                .query_map([user.0], channel_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(channels)
        })
        .await
    }

    /// One of the user's channels that is not deleted; someone else's is `None`.
    pub async fn get_channel(
        &self,
        user: UserId,
        id: ChannelId,
    ) -> Result<Option<Channel>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM channels
                     WHERE id = ?1 AND user_id = ?2 AND deleted_at IS NULL"
                ))?
                .query_row(params![id.0, user.0], channel_from_row)
                .optional()?)
        })
        .await
    }

    /// Applies a change; disabling drops the channel's pending deliveries as failed.
    pub async fn update_channel(
        &self,
        user: UserId,
        id: ChannelId,
        change: ChannelChange,
    ) -> Result<Option<Channel>, StoreError> {
        self.write(move |tx| {
            let current = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM channels
                     WHERE id = ?1 AND user_id = ?2 AND deleted_at IS NULL"
                ))?
                .query_row(params![id.0, user.0], channel_from_row)
                .optional()?;
            let Some(mut channel) = current else {
                return Ok(None);
            };
            if let Some(name) = change.name {
                channel.name = name;
            }
            if let Some(settings) = change.settings {
                channel.settings = settings;
            }
            if let Some(enabled) = change.enabled {
                if channel.enabled && !enabled {
                    drop_pending(tx, id, "the channel was disabled")?;
                }
                channel.enabled = enabled;
            }
            tx.execute(
                "UPDATE channels SET name = ?1, enabled = ?2, settings = ?3 WHERE id = ?4",
                params![
                    channel.name,
                    channel.enabled,
                    settings_json(&channel.settings)?,
                    id.0
                ],
            )?;
            Ok(Some(channel))
        })
        .await
    }

    /// Deletes the channel: kept for the deliveries it made, taken off every alert, its pending
    /// deliveries failed. Returns false when it is not the user's or already gone.
    pub async fn delete_channel(&self, user: UserId, id: ChannelId) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE channels SET deleted_at = ?1
                 WHERE id = ?2 AND user_id = ?3 AND deleted_at IS NULL",
                params![now_millis(), id.0, user.0],
            )?;
            if changed == 0 {
                return Ok(false);
            }
            // Off the owner's alerts (at most limits.max_alerts_per_user rows).
            tx.execute(
                "UPDATE alerts SET channels = (
                     SELECT json_group_array(value) FROM json_each(alerts.channels)
                     WHERE value != ?1)
                 WHERE user_id = ?2
                   AND EXISTS (SELECT 1 FROM json_each(alerts.channels) WHERE value = ?1)",
                params![id.0, user.0],
            )?;
            drop_pending(tx, id, "the channel was deleted")?;
            Ok(true)
        })
        .await
    }
}

/// Every enabled channel of `user`: what a new alert notifies by default.
pub(super) fn default_channels(
    tx: &Transaction<'_>,
    user: UserId,
) -> Result<Vec<ChannelId>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id FROM channels
         WHERE user_id = ?1 AND deleted_at IS NULL AND enabled = 1 ORDER BY id",
    )?;
    let ids = stmt
        .query_map([user.0], |row| Ok(ChannelId(row.get(0)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// The channels an alert is asked to notify, checked to be the user's live channels.
pub(super) fn resolve_channels(
    tx: &Transaction<'_>,
    user: UserId,
    requested: &[ChannelId],
) -> Result<Vec<ChannelId>, StoreError> {
    let mut owned = tx.prepare_cached(
        "SELECT 1 FROM channels WHERE id = ?1 AND user_id = ?2 AND deleted_at IS NULL",
    )?;
    let mut ids = requested.to_vec();
    ids.sort();
    ids.dedup();
    for id in &ids {
        if owned
            .query_row(params![id.0, user.0], |_| Ok(()))
            .optional()?
            .is_none()
        {
            return Err(StoreError::UnknownChannel(id.0));
        }
    }
    Ok(ids)
}

/// Channel ids as stored on an alert: a JSON array.
pub(super) fn channels_json(channels: &[ChannelId]) -> String {
    let ids: Vec<String> = channels.iter().map(|c| c.0.to_string()).collect();
    format!("[{}]", ids.join(","))
}
