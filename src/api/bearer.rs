//! The `Authorization: Bearer <access token>` scheme behind Swagger's Authorize button.

use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use super::error::ApiError;
use super::AppState;
use crate::domain::UserId;

/// An access token from `/auth/login/` or `/auth/refresh/`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(Bearer);

impl BearerAuth {
    /// The user this token speaks for; refresh tokens, bad signatures and unknown users get 401.
    pub async fn user(&self, state: &AppState) -> Result<UserId, ApiError> {
        let user = state
            .accounts
            .authenticate(&self.0.token)
            .await
            .map_err(ApiError::from)?;
        state.limits.api(user).map_err(ApiError::too_many)?;
        Ok(user)
    }
}
