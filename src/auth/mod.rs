//! Accounts: registration, login, refresh-token rotation and logout.

mod jwt;
mod password;
mod secret_file;

use rand::RngCore;

pub use jwt::{Claims, TokenKeys, TokenKind};
pub use password::PasswordHashes;
pub use secret_file::load_or_create_jwt_secret;

use crate::config::AuthConfig;
use crate::domain::{account, UserId};
use crate::store::{RefreshOutcome, Store, StoreError, UserRecord};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is already taken")]
    Taken(&'static str),
    #[error("invalid username or password")]
    BadCredentials,
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("refresh token was already used; every token of this login is now revoked")]
    TokenReused,
    #[error("too many password checks in progress; try again shortly")]
    Busy,
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(field) => AuthError::Taken(field),
            other => AuthError::Store(other),
        }
    }
}

/// A freshly issued access + refresh pair.
#[derive(Debug)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[derive(Clone)]
pub struct Accounts {
    store: Store,
    hashes: PasswordHashes,
    /// Users recently found in the database (`auth.user_recheck`), so that a request with an
    /// access token costs no database read; `None` when the recheck interval is zero.
    verified_users: Option<moka::sync::Cache<UserId, ()>>,
    keys: TokenKeys,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Bounded: one entry per active user, dropped `recheck` after it was checked.
fn verified_users_cache(recheck: std::time::Duration) -> Option<moka::sync::Cache<UserId, ()>> {
    (!recheck.is_zero()).then(|| {
        moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(recheck)
            .build()
    })
}

fn now_secs() -> i64 {
    crate::clock::now_millis() / 1000
}

impl Accounts {
    pub fn new(
        store: Store,
        config: &AuthConfig,
        secret: &crate::config::Secret,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            store,
            hashes: PasswordHashes::new(config.hash_concurrency, config.hash_queue)?,
            verified_users: verified_users_cache(config.user_recheck.get()),
            keys: TokenKeys::new(secret),
            access_ttl_secs: config.access_ttl.get().as_secs() as i64,
            refresh_ttl_secs: config.refresh_ttl.get().as_secs() as i64,
        })
    }

    pub async fn register(
        &self,
        username: String,
        email: String,
        password: String,
    ) -> Result<UserRecord, AuthError> {
        account::check_username(&username).map_err(AuthError::Invalid)?;
        account::check_email(&email).map_err(AuthError::Invalid)?;
        account::check_password(&password).map_err(AuthError::Invalid)?;
        let hash = self.hashes.hash(password).await?;
        Ok(self.store.create_user(username, email, hash).await?)
    }

    /// The same answer, and the same cost, for an unknown user and a wrong password.
    pub async fn login(
        &self,
        username: String,
        password: String,
    ) -> Result<(UserRecord, TokenPair), AuthError> {
        let user = if account::check_username(&username).is_ok() {
            self.store.user_by_username(username).await?
        } else {
            None
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        if !self.hashes.verify(password, hash).await? {
            return Err(AuthError::BadCredentials);
        }
        let user = user.ok_or(AuthError::BadCredentials)?;
        let pair = self.start_family(user.id).await?;
        Ok((user, pair))
    }

    async fn start_family(&self, user: UserId) -> Result<TokenPair, AuthError> {
        let family = random_id();
        let jti = random_id();
        let expires_at = now_secs() + self.refresh_ttl_secs;
        self.store
            .insert_refresh(jti.clone(), family.clone(), user, expires_at * 1000)
            .await?;
        self.pair(user, jti, family, expires_at)
    }

    fn pair(
        &self,
        user: UserId,
        jti: String,
        family: String,
        refresh_exp: i64,
    ) -> Result<TokenPair, AuthError> {
        let now = now_secs();
        let access = self.keys.sign(&Claims {
            sub: user.0.to_string(),
            iss: jwt::ISSUER.to_string(),
            iat: now,
            exp: now + self.access_ttl_secs,
            typ: TokenKind::Access,
            jti: None,
            fam: None,
        })?;
        let refresh = self.keys.sign(&Claims {
            sub: user.0.to_string(),
            iss: jwt::ISSUER.to_string(),
            iat: now,
            exp: refresh_exp,
            typ: TokenKind::Refresh,
            jti: Some(jti),
            fam: Some(family),
        })?;
        Ok(TokenPair {
            access,
            refresh,
            expires_in: self.access_ttl_secs as u64,
        })
    }

    /// Uses up the refresh token and returns the next pair of the same login. A token used
    /// twice revokes the whole login.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, AuthError> {
        let claims = self.keys.verify(token, TokenKind::Refresh)?;
        let (Some(jti), Some(family)) = (claims.jti, claims.fam) else {
            return Err(AuthError::InvalidToken);
        };
        let next = random_id();
        match self.store.rotate_refresh(jti, next.clone()).await? {
            RefreshOutcome::Rotated {
                user_id,
                expires_at,
            } => self.pair(user_id, next, family, expires_at / 1000),
            RefreshOutcome::Reused => {
                tracing::warn!(user = %claims.sub, "refresh token reused; login revoked");
                Err(AuthError::TokenReused)
            }
            RefreshOutcome::Invalid => Err(AuthError::InvalidToken),
        }
    }

    /// Revokes every refresh token of the login this token belongs to.
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        let claims = self.keys.verify(token, TokenKind::Refresh)?;
        let jti = claims.jti.ok_or(AuthError::InvalidToken)?;
        if self.store.revoke_family_of(jti).await? {
            Ok(())
        } else {
            Err(AuthError::InvalidToken)
        }
    }

    /// Checks the current password, then sets the new one and revokes every refresh token.
    pub async fn change_password(
        &self,
        user: UserId,
        current: String,
        new: String,
    ) -> Result<(), AuthError> {
        let record = self
            .store
            .user_by_id(user)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if !self
            .hashes
            .verify(current, Some(record.password_hash))
            .await?
        {
            return Err(AuthError::BadCredentials);
        }
        account::check_password(&new).map_err(AuthError::Invalid)?;
        let hash = self.hashes.hash(new).await?;
        self.store.set_password(user, hash).await?;
        tracing::info!(user = %user, "password changed; every refresh token revoked");
        Ok(())
    }

    /// The admin path: no current password needed.
    pub async fn reset_password(
        &self,
        username: String,
        new: String,
    ) -> Result<UserRecord, AuthError> {
        let record = self
            .store
            .user_by_username(username.clone())
            .await?
            .ok_or_else(|| AuthError::Invalid(format!("no user named {username}")))?;
        account::check_password(&new).map_err(AuthError::Invalid)?;
        let hash = self.hashes.hash(new).await?;
        self.store.set_password(record.id, hash).await?;
        tracing::info!(user = %record.id, "password reset; every refresh token revoked");
        Ok(record)
    }

    /// The user an access token speaks for, if the token is valid and the user still exists
    /// (as of at most `auth.user_recheck` ago).
    pub async fn authenticate(&self, token: &str) -> Result<UserId, AuthError> {
        let user = self.keys.verify(token, TokenKind::Access)?.user_id()?;
        if let Some(verified) = &self.verified_users {
            if verified.contains_key(&user) {
                return Ok(user);
            }
        }
        if !self.store.user_exists(user).await? {
            return Err(AuthError::InvalidToken);
        }
        if let Some(verified) = &self.verified_users {
            verified.insert(user, ());
        }
        Ok(user)
    }
}
