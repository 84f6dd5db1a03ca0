//! Refresh tokens. Each login starts a family; each refresh uses one token up and adds the next.
//! Presenting a used token again means it leaked, so the whole family is revoked.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::clock::now_millis;
use crate::domain::UserId;

#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live: it is now used and `next_jti` is stored in its place.
    Rotated { user_id: UserId, expires_at: i64 },
    /// The token was exchanged within the grace period: here is what replaced it, and when,
    /// so the same pair can be handed out again.
    Repeated {
        user_id: UserId,
        expires_at: i64,
        next_jti: String,
        rotated_at: i64,
    },
    /// The token had been used or revoked before; its family is now revoked.
    Reused,
    /// No such token, or it has expired.
    Invalid,
}

impl Store {
    pub async fn insert_refresh(
        &self,
        jti: String,
        family: String,
        user_id: UserId,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO refresh_tokens (jti, family, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![jti, family, user_id.0, now_millis(), expires_at],
            )?;
            Ok(())
        })
        .await
    }

    /// Atomically uses up `jti` and stores `next_jti` in the same family, keeping the
    /// family's absolute expiry.
    ///
    /// A token already used less than `grace_ms` ago, whose login is still live, is not reuse:
    /// two tabs of one browser refreshing at once both get the pair the first one got.
    pub async fn rotate_refresh(
        &self,
        jti: String,
        next_jti: String,
        grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        self.write(move |tx| {
            let now = now_millis();
            let row = tx
                .query_row(
                    "SELECT family, user_id, expires_at, used_at, revoked_at, replaced_by
                     FROM refresh_tokens WHERE jti = ?1",
                    [&jti],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, Option<i64>>(3)?,
                            row.get::<_, Option<i64>>(4)?,
                            row.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((family, user_id, expires_at, used_at, revoked_at, replaced_by)) = row else {
                return Ok(RefreshOutcome::Invalid);
            };
            if let (Some(used_at), None, Some(next_jti)) = (used_at, revoked_at, replaced_by) {
                if now - used_at <= grace_ms && expires_at > now {
                    return Ok(RefreshOutcome::Repeated {
                        user_id: UserId(user_id),
                        expires_at,
                        next_jti,
                        rotated_at: used_at,
                    });
                }
            }
            if used_at.is_some() || revoked_at.is_some() {
                revoke_family(tx, &family, now)?;
                return Ok(RefreshOutcome::Reused);
            }
            if expires_at <= now {
                return Ok(RefreshOutcome::Invalid);
            }
            tx.execute(
                "UPDATE refresh_tokens SET used_at = ?1, replaced_by = ?2 WHERE jti = ?3",
                params![now, next_jti, jti],
            )?;
            tx.execute(
                "INSERT INTO refresh_tokens (jti, family, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![next_jti, family, user_id, now, expires_at],
            )?;
            Ok(RefreshOutcome::Rotated {
                user_id: UserId(user_id),
                expires_at,
            })
        })
        .await
    }

    /// Revokes the family `jti` belongs to; returns it, or `None` when the token is unknown.
    pub async fn revoke_family_of(&self, jti: String) -> Result<Option<String>, StoreError> {
        self.write(move |tx| {
            let family: Option<String> = tx
                .query_row(
                    "SELECT family FROM refresh_tokens WHERE jti = ?1",
                    [&jti],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(family) = &family {
                revoke_family(tx, family, now_millis())?;
            }
            Ok(family)
        })
        .await
    }
}

fn revoke_family(tx: &rusqlite::Transaction<'_>, family: &str, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE refresh_tokens SET revoked_at = ?1 WHERE family = ?2 AND revoked_at IS NULL",
        params![now, family],
    )?;
    Ok(())
}
