//! The `Authorization: Bearer <access token>` scheme behind Swagger's Authorize button.

use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use super::error::ApiError;
use super::AppState;
use crate::auth::Session;
use crate::domain::UserId;

/// An access token from `/auth/login/` or `/auth/refresh/`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(Bearer);

impl BearerAuth {
    /// The user this token speaks for; refresh tokens, bad signatures and unknown users get 401.
    pub async fn user(&self, state: &AppState) -> Result<UserId, ApiError> {
        Ok(self.session(state).await?.user)
    }

    /// As `user`, with the token's login and expiry (for streams that must end with it).
    pub async fn session(&self, state: &AppState) -> Result<Session, ApiError> {
        let session = state
            .accounts
            .authenticate(&self.0.token)
            .await
            .map_err(ApiError::from)?;
        state.limits.api(session.user).map_err(ApiError::too_many)?;
        Ok(session)
    }

    pub fn token(&self) -> &str {
        &self.0.token
    }
}
