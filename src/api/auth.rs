//! `/auth/*`: register, log in, rotate refresh tokens, log out.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::ApiTags;
use crate::app::AppState;
use crate::auth::TokenPair;

pub struct AuthApi;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–32 characters of letters, digits, `_`, `.` and `-`.
    #[oai(validator(pattern = r"^[A-Za-z0-9_.-]{3,32}$"))]
    pub username: String,
    /// 8–128 characters; used in full, never truncated.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub password: String,
    #[oai(validator(
        max_length = 254,
        pattern = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    ))]
    pub email: String,
}

#[derive(Debug, Object)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub username: String,
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token from login or an earlier refresh.
    #[oai(validator(max_length = 4096))]
    pub refresh: String,
}

#[derive(Debug, Object)]
pub struct TokenOut {
    /// Bearer token for the API; short-lived.
    pub access: String,
    /// Exchange at `/auth/refresh/` for a new pair; each one works once.
    pub refresh: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `access` expires.
    pub expires_in: u64,
}

impl From<TokenPair> for TokenOut {
    fn from(pair: TokenPair) -> Self {
        Self {
            access: pair.access,
            refresh: pair.refresh,
            token_type: "Bearer".to_string(),
            expires_in: pair.expires_in,
        }
    }
}

#[derive(ApiResponse)]
pub enum Registered {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<UserOut>),
}

#[derive(ApiResponse)]
pub enum Tokens {
    /// A new access and refresh token pair.
    #[oai(status = 200)]
    Ok(Json<TokenOut>),
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    /// Every refresh token of this login is revoked.
    #[oai(status = 204)]
    NoContent,
}

impl AuthApi {
    async fn do_register(state: &AppState, body: RegisterRequest) -> Result<Registered, ApiError> {
        let user = state
            .accounts
            .register(body.username, body.email, body.password)
            .await?;
        tracing::info!(user = %user.id, "account registered");
        Ok(Registered::Created(Json(UserOut {
            id: user.id.0,
            username: user.username,
            email: user.email,
        })))
    }

    async fn do_login(state: &AppState, body: LoginRequest) -> Result<Tokens, ApiError> {
        match state.accounts.login(body.username, body.password).await {
            Ok((user, pair)) => {
                tracing::info!(user = %user.id, "login succeeded");
                Ok(Tokens::Ok(Json(pair.into())))
            }
            Err(err) => {
                tracing::info!(reason = %err, "login failed");
                Err(err.into())
            }
        }
    }
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<RegisterRequest>,
    ) -> Result<Registered, ApiError> {
        Self::do_register(&state, body.0).await
    }

    /// Log in with username and password.
    ///
    /// A wrong password and an unknown username get the same answer.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<LoginRequest>,
    ) -> Result<Tokens, ApiError> {
        Self::do_login(&state, body.0).await
    }

    /// Exchange a refresh token for a new pair.
    ///
    /// The token presented is used up. Presenting a used token again revokes every token of
    /// that login.
    #[oai(path = "/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<RefreshRequest>,
    ) -> Result<Tokens, ApiError> {
        let pair = state.accounts.refresh(&body.0.refresh).await?;
        Ok(Tokens::Ok(Json(pair.into())))
    }

    /// Log out: revoke every refresh token of this login.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<RefreshRequest>,
    ) -> Result<LoggedOut, ApiError> {
        state.accounts.logout(&body.0.refresh).await?;
        Ok(LoggedOut::NoContent)
    }

    /// Alias of `POST /auth/register/` (the Flask original's path).
    #[oai(path = "/register", method = "post", operation_id = "register_alias")]
    async fn register_alias(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<RegisterRequest>,
    ) -> Result<Registered, ApiError> {
        Self::do_register(&state, body.0).await
    }

    /// Alias of `POST /auth/login/` (the Flask original's path).
    #[oai(path = "/login", method = "post", operation_id = "login_alias")]
    async fn login_alias(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<LoginRequest>,
    ) -> Result<Tokens, ApiError> {
        Self::do_login(&state, body.0).await
    }
}
