//! The `users` table.

use rusqlite::{params, OptionalExtension};

use super::channels::insert_channel;
use super::{unique_violation, Store, StoreError};
use crate::clock::now_millis;
use crate::domain::{ChannelSettings, UserId};

#[derive(Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    /// Carried by every token; bumped when every session of the user must end.
    pub token_generation: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("token_generation", &self.token_generation)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Fails with `Conflict("username")` or `Conflict("email")` when either is taken
    /// (compared case-insensitively). The account starts with an email channel for its address.
    pub async fn create_user(
        &self,
        username: String,
        email: String,
        password_hash: String,
    ) -> Result<UserRecord, StoreError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO users (username, email, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![username, email, password_hash, now_millis()],
            )
            .map_err(|err| {
                unique_violation(
                    err,
                    &[("users.username", "username"), ("users.email", "email")],
                )
            })?;
            let id = UserId(tx.last_insert_rowid());
            let email_channel = ChannelSettings::Email {
                address: email.clone(),
            };
            insert_channel(tx, id, "Email", &email_channel, now_millis())?;
            Ok(UserRecord {
                id,
                username,
                email,
                password_hash,
                token_generation: 0,
            })
        })
        .await
    }

    pub async fn user_by_username(
        &self,
        username: String,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("username = ?1", username).await
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("id = ?1", id.0).await
    }

    /// One user by a fixed condition (our own SQL) on a bound value.
    async fn user_where<V>(
        &self,
        condition: &'static str,
        value: V,
    ) -> Result<Option<UserRecord>, StoreError>
    where
        V: rusqlite::ToSql + Send + 'static,
    {
        self.read(move |conn| {
            let sql = format!(
                "SELECT id, username, email, password_hash, token_generation FROM users
                 WHERE {condition}"
            );
            Ok(conn
                .query_row(&sql, [value], |row| {
                    Ok(UserRecord {
                        id: UserId(row.get(0)?),
                        username: row.get(1)?,
                        email: row.get(2)?,
                        password_hash: row.get(3)?,
                        token_generation: row.get(4)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    /// Replaces the password hash, bumps the token generation (every access token of the user
    /// dies) and revokes every refresh token, in one transaction. Returns false when there is
    /// no such user.
    pub async fn set_password(
        &self,
        id: UserId,
        password_hash: String,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?1, token_generation = token_generation + 1
                 WHERE id = ?2",
                params![password_hash, id.0],
            )?;
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
                params![now_millis(), id.0],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    /// Deletes the user with their alerts, notifications and tokens (by cascade). Returns
    /// false when there is no such user.
    pub async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.write(move |tx| Ok(tx.execute("DELETE FROM users WHERE id = ?1", [id.0])? == 1))
            .await
    }

    /// What a token of `id` is checked against: the user's token generation (`None`: no such
    /// user) and whether `family`'s login was ended (logout, reuse).
    pub async fn session_state(
        &self,
        id: UserId,
        family: Option<String>,
    ) -> Result<Option<(i64, bool)>, StoreError> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT token_generation, ?2 IS NOT NULL AND EXISTS (
                         SELECT 1 FROM refresh_tokens
                         WHERE family = ?2 AND user_id = ?1 AND revoked_at IS NOT NULL)
                     FROM users WHERE id = ?1",
                )?
                .query_row(params![id.0, family], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?)
        })
        .await
    }
}
