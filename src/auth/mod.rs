//! Accounts: registration, login, refresh-token rotation and logout, and which sessions are
//! still alive. Every token carries its login (`fam`) and its user's token generation (`gen`):
//! logging out ends the login's tokens, a password change or reset (or deleting the account)
//! ends all of the user's, at once — and `SessionEnded` tells open live streams.

mod jwt;
mod password;
mod secret_file;

use rand::RngCore;
use tokio::sync::broadcast;

pub use jwt::{Claims, TokenKeys, TokenKind};
pub use password::PasswordHashes;
pub use secret_file::{load_or_create_jwt_secret, SECRET_FILE};

use crate::config::AuthConfig;
use crate::domain::{account, UserId};
use crate::log_summary::Summary;
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

/// An access token's checked meaning: whose it is, which login, until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user: UserId,
    pub family: Option<String>,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// Sessions that ended, for whoever holds one open (live streams).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnded {
    pub user: UserId,
    /// One login (logout), or every login of the user (`None`: password changed or reset,
    /// account deleted).
    pub family: Option<String>,
}

impl SessionEnded {
    pub fn ends(&self, session: &Session) -> bool {
        self.user == session.user && (self.family.is_none() || self.family == session.family)
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
    /// Sessions recently checked against the database (`auth.user_recheck`): (user, login) →
    /// the user's token generation then. A request with an access token then costs no database
    /// read. `None` when the recheck interval is zero.
    verified: Option<moka::sync::Cache<(UserId, Option<String>), i64>>,
    keys: TokenKeys,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
    refresh_grace_ms: i64,
    ended: broadcast::Sender<SessionEnded>,
    /// A used refresh token presented again, logged once per user and minute with a count.
    reused: std::sync::Arc<Summary>,
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Bounded: one entry per active login (keys come only from validly signed tokens), dropped
/// `recheck` after it was checked.
fn verified_cache(
    recheck: std::time::Duration,
) -> Option<moka::sync::Cache<(UserId, Option<String>), i64>> {
    (!recheck.is_zero()).then(|| {
        moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(recheck)
            .support_invalidation_closures()
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
            verified: verified_cache(config.user_recheck.get()),
            keys: TokenKeys::new(secret),
            access_ttl_secs: config.access_ttl.get().as_secs() as i64,
            refresh_ttl_secs: config.refresh_ttl.get().as_secs() as i64,
            refresh_grace_ms: config.refresh_grace.get().as_millis() as i64,
            ended: broadcast::channel(256).0,
            reused: std::sync::Arc::new(Summary::new(
                "used refresh token presented again; its login is revoked",
                std::time::Duration::from_secs(60),
                100,
            )),
        })
    }

    /// Sessions as they end, for live streams.
    pub fn subscribe_ended(&self) -> broadcast::Receiver<SessionEnded> {
        self.ended.subscribe()
    }

    /// Forgets which sessions were checked, so the next request of each reads the database:
    /// for changes made outside this process (the admin commands).
    pub fn forget_checked_sessions(&self) {
        if let Some(verified) = &self.verified {
            verified.invalidate_all();
        }
    }

    /// Ends sessions now: forgets them as checked and tells live streams.
    fn end_sessions(&self, ended: SessionEnded) {
        if let Some(verified) = &self.verified {
            let gone = ended.clone();
            let _ = verified.invalidate_entries_if(move |(user, family), _| {
                *user == gone.user && (gone.family.is_none() || *family == gone.family)
            });
        }
        let _ = self.ended.send(ended);
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
        let pair = self.start_family(&user).await?;
        Ok((user, pair))
    }

    async fn start_family(&self, user: &UserRecord) -> Result<TokenPair, AuthError> {
        let family = random_id();
        let jti = random_id();
        let now = now_secs();
        let expires_at = now + self.refresh_ttl_secs;
        self.store
            .insert_refresh(jti.clone(), family.clone(), user.id, expires_at * 1000)
            .await?;
        self.pair(&Issue {
            user: user.id,
            generation: user.token_generation,
            jti,
            family,
            refresh_exp: expires_at,
            issued_at: now,
        })
    }

    /// Signs a pair. The same `Issue` always gives the same two tokens (HS256 is
    /// deterministic), which is how a refresh repeated within the grace period gets the pair
    /// the first one got.
    fn pair(&self, issue: &Issue) -> Result<TokenPair, AuthError> {
        let claims = |typ, exp, jti| Claims {
            sub: issue.user.0.to_string(),
            iss: jwt::ISSUER.to_string(),
            iat: issue.issued_at,
            exp,
            typ,
            jti,
            fam: Some(issue.family.clone()),
            gen: issue.generation,
            nbf: None,
        };
        let access_exp = issue.issued_at + self.access_ttl_secs;
        let access = self
            .keys
            .sign(&claims(TokenKind::Access, access_exp, None))?;
        let refresh = self.keys.sign(&claims(
            TokenKind::Refresh,
            issue.refresh_exp,
            Some(issue.jti.clone()),
        ))?;
        Ok(TokenPair {
            access,
            refresh,
            expires_in: (access_exp - now_secs()).max(0) as u64,
        })
    }

    /// Uses up the refresh token and returns the next pair of the same login. A token used
    /// twice revokes the whole login.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, AuthError> {
        let claims = self.keys.verify(token, TokenKind::Refresh)?;
        let user = claims.user_id()?;
        let (Some(jti), Some(family)) = (claims.jti, claims.fam) else {
            return Err(AuthError::InvalidToken);
        };
        let next = random_id();
        let outcome = self
            .store
            .rotate_refresh(jti, next.clone(), self.refresh_grace_ms)
            .await?;
        let issue = |user, jti, refresh_exp: i64, issued_at| Issue {
            user,
            generation: claims.gen,
            jti,
            family: family.clone(),
            refresh_exp: refresh_exp / 1000,
            issued_at,
        };
        match outcome {
            RefreshOutcome::Rotated {
                user_id,
                expires_at,
            } => self.pair(&issue(user_id, next, expires_at, now_secs())),
            RefreshOutcome::Repeated {
                user_id,
                expires_at,
                next_jti,
                rotated_at,
            } => self.pair(&issue(user_id, next_jti, expires_at, rotated_at / 1000)),
            RefreshOutcome::Reused => {
                self.reused.record(&user, String::new);
                self.end_sessions(SessionEnded {
                    user,
                    family: Some(family),
                });
                Err(AuthError::TokenReused)
            }
            RefreshOutcome::Invalid => Err(AuthError::InvalidToken),
        }
    }

    /// Ends the login this refresh token belongs to: its refresh tokens are revoked and its
    /// access tokens stop working at once.
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        let claims = self.keys.verify(token, TokenKind::Refresh)?;
        let jti = claims.jti.clone().ok_or(AuthError::InvalidToken)?;
        let family = self
            .store
            .revoke_family_of(jti)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        self.end_sessions(SessionEnded {
            user: claims.user_id()?,
            family: Some(family),
        });
        Ok(())
    }

    /// The user's name, for limits keyed by account.
    pub async fn username(&self, user: UserId) -> Result<String, AuthError> {
        Ok(self
            .store
            .user_by_id(user)
            .await?
            .ok_or(AuthError::InvalidToken)?
            .username)
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
        self.end_sessions(SessionEnded { user, family: None });
        tracing::info!(user = %user, "password changed; every session ended");
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
        self.end_sessions(SessionEnded {
            user: record.id,
            family: None,
        });
        tracing::info!(user = %record.id, "password reset; every session ended");
        Ok(record)
    }

    /// The admin path: deletes the account with its alerts; its tokens stop working at once.
    pub async fn delete_user(&self, username: String) -> Result<UserRecord, AuthError> {
        let record = self
            .store
            .user_by_username(username.clone())
            .await?
            .ok_or_else(|| AuthError::Invalid(format!("no user named {username}")))?;
        self.store.delete_user(record.id).await?;
        self.end_sessions(SessionEnded {
            user: record.id,
            family: None,
        });
        tracing::info!(user = %record.id, "account deleted");
        Ok(record)
    }

    /// The session an access token speaks for, if the token is valid, its user still exists
    /// with the same token generation and its login was not ended (as of at most
    /// `auth.user_recheck` ago for changes made outside this process; at once for the rest).
    pub async fn authenticate(&self, token: &str) -> Result<Session, AuthError> {
        let claims = self.keys.verify(token, TokenKind::Access)?;
        let session = Session {
            user: claims.user_id()?,
            family: claims.fam,
            expires_at: claims.exp,
        };
        let key = (session.user, session.family.clone());
        if let Some(verified) = &self.verified {
            if verified.get(&key) == Some(claims.gen) {
                return Ok(session);
            }
        }
        match self
            .store
            .session_state(session.user, session.family.clone())
            .await?
        {
            Some((generation, false)) if generation == claims.gen => {
                if let Some(verified) = &self.verified {
                    verified.insert(key, generation);
                }
                Ok(session)
            }
            _ => Err(AuthError::InvalidToken),
        }
    }
}

/// What a token pair is made of.
struct Issue {
    user: UserId,
    generation: i64,
    jti: String,
    family: String,
    /// Seconds since the epoch.
    refresh_exp: i64,
    issued_at: i64,
}
