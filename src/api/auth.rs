//! `/auth/*`: register, log in, rotate refresh tokens, log out.

use std::sync::Arc;

use poem::web::Data;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::bearer::BearerAuth;
use super::body::JsonBody;
use super::error::ApiError;
use super::text::{Email, LoginName, LoginPassword, NewPassword, RefreshText, Username};
use super::ApiTags;
use super::AppState;
use crate::auth::TokenPair;

pub struct AuthApi;

#[derive(Debug, Object, serde::Deserialize)]
pub struct RegisterRequest {
    /// 3–32 characters of letters, digits, `_`, `.` and `-`.
    pub username: Username,
    /// 8–128 characters; used in full, never truncated.
    pub password: NewPassword,
    pub email: Email,
}

#[derive(Debug, Object)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
}

#[derive(Debug, Object, serde::Deserialize)]
pub struct LoginRequest {
    pub username: LoginName,
    pub password: LoginPassword,
}

#[derive(Debug, Object, serde::Deserialize)]
pub struct RefreshRequest {
    /// A refresh token from login or an earlier refresh.
    pub refresh: RefreshText,
}

#[derive(Debug, Object, serde::Deserialize)]
pub struct PasswordChange {
    pub current_password: LoginPassword,
    /// 8–128 characters.
    pub new_password: NewPassword,
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
pub enum PasswordChanged {
    /// The password is changed and every session of the account has ended, this one included:
    /// log in again with the new password.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    /// Every refresh token of this login is revoked.
    #[oai(status = 204)]
    NoContent,
}

/// The client's address, as the rate limits see it.
fn client(state: &AppState, req: &Request) -> std::net::IpAddr {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let forwarded = req.header("x-forwarded-for");
    crate::limits::client_ip(peer, forwarded, &state.config.server.trusted_proxies)
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
}

impl AuthApi {
    async fn do_register(
        state: &AppState,
        req: &Request,
        body: RegisterRequest,
    ) -> Result<Registered, ApiError> {
        state
            .limits
            .register(client(state, req))
            .map_err(ApiError::too_many)?;
        let user = state
            .accounts
            .register(
                body.username.into_inner(),
                body.email.into_inner(),
                body.password.into_inner(),
            )
            .await?;
        tracing::info!(user = %user.id, "account registered");
        Ok(Registered::Created(Json(UserOut {
            id: user.id.0,
            username: user.username,
            email: user.email,
        })))
    }

    async fn do_login(
        state: &AppState,
        req: &Request,
        body: LoginRequest,
    ) -> Result<Tokens, ApiError> {
        let ip = client(state, req);
        if let Err(wait) = state.limits.login_gate(ip, body.username.as_str()) {
            state.limits.log_throttled(ip, "login");
            return Err(ApiError::too_many(wait));
        }
        let username = body.username.text.clone();
        match state
            .accounts
            .login(body.username.into_inner(), body.password.into_inner())
            .await
        {
            Ok((user, pair)) => {
                state.limits.login_succeeded(ip, &username);
                tracing::info!(user = %user.id, %ip, "login succeeded");
                Ok(Tokens::Ok(Json(pair.into())))
            }
            Err(err) => {
                if matches!(err, crate::auth::AuthError::BadCredentials) {
                    state.limits.login_failed(ip, &username);
                }
                state.limits.log_failed(ip, "login", &err);
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
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<Registered, ApiError> {
        Self::do_register(&state, req, body.0).await
    }

    /// Log in with username and password.
    ///
    /// A wrong password and an unknown username get the same answer.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<Tokens, ApiError> {
        Self::do_login(&state, req, body.0).await
    }

    /// Exchange a refresh token for a new pair.
    ///
    /// The token presented is used up. Presenting a used token again revokes every token of
    /// that login.
    #[oai(path = "/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&Arc<AppState>>,
        body: JsonBody<RefreshRequest>,
    ) -> Result<Tokens, ApiError> {
        let pair = state.accounts.refresh(body.0.refresh.as_str()).await?;
        Ok(Tokens::Ok(Json(pair.into())))
    }

    /// Log out: revoke every refresh token of this login.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        body: JsonBody<RefreshRequest>,
    ) -> Result<LoggedOut, ApiError> {
        state.accounts.logout(body.0.refresh.as_str()).await?;
        Ok(LoggedOut::NoContent)
    }

    /// Change your password.
    ///
    /// Needs the current password; wrong ones count against the login limits (429 past them).
    /// Every session of the account ends at once, this one included.
    #[oai(
        path = "/auth/password",
        method = "post",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: BearerAuth,
        body: JsonBody<PasswordChange>,
    ) -> Result<PasswordChanged, ApiError> {
        let user = auth.user(&state).await?;
        // A stolen access token must not become a way to guess the password: the check counts
        // against the same limits as logins.
        let ip = client(&state, req);
        let username = state.accounts.username(user).await?;
        if let Err(wait) = state.limits.login_gate(ip, &username) {
            state.limits.log_throttled(ip, "password change");
            return Err(ApiError::too_many(wait));
        }
        let changed = state
            .accounts
            .change_password(
                user,
                body.0.current_password.into_inner(),
                body.0.new_password.into_inner(),
            )
            .await;
        if let Err(err) = &changed {
            if matches!(err, crate::auth::AuthError::BadCredentials) {
                state.limits.login_failed(ip, &username);
            }
            state.limits.log_failed(ip, "password change", err);
        }
        changed?;
        Ok(PasswordChanged::NoContent)
    }

    /// Alias of `POST /auth/register/` (the Flask original's path).
    #[oai(path = "/register", method = "post", operation_id = "register_alias")]
    async fn register_alias(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<Registered, ApiError> {
        Self::do_register(&state, req, body.0).await
    }

    /// Alias of `POST /auth/login/` (the Flask original's path).
    #[oai(path = "/login", method = "post", operation_id = "login_alias")]
    async fn login_alias(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<Tokens, ApiError> {
        Self::do_login(&state, req, body.0).await
    }
}
