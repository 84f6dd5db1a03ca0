//! `/channels/*`: the caller's notification channels. Another user's channel is 404.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::bearer::BearerAuth;
use super::body::JsonBody;
use super::channel_types::{ChannelCreateBody, ChannelList, ChannelOut, ChannelPatch, TestResult};
use super::error::ApiError;
use super::{ApiTags, AppState};
use crate::domain::ChannelId;

pub struct ChannelsApi;

#[derive(ApiResponse)]
pub enum ChannelCreated {
    #[oai(status = 201)]
    Created(Json<ChannelOut>),
}

#[derive(ApiResponse)]
pub enum ChannelFound {
    #[oai(status = 200)]
    Ok(Json<ChannelOut>),
}

#[derive(ApiResponse)]
pub enum ChannelsListed {
    #[oai(status = 200)]
    Ok(Json<ChannelList>),
}

#[derive(ApiResponse)]
pub enum ChannelDeleted {
    /// Deleted: it notifies no alert any more; its past deliveries stay readable, pending ones
    /// are marked failed.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum ChannelTested {
    /// Whether the service accepted the test message.
    #[oai(status = 200)]
    Ok(Json<TestResult>),
}

#[OpenApi(tag = "ApiTags::Channels")]
impl ChannelsApi {
    /// Add a channel.
    ///
    /// Targets must be public addresses unless `notify.allow_private_targets` is on (403
    /// otherwise). At most `limits.max_channels_per_user` channels (409 beyond).
    #[oai(path = "/channels", method = "post", operation_id = "create_channel")]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: ChannelCreateBody,
    ) -> Result<ChannelCreated, ApiError> {
        let user = auth.user(&state).await?;
        let channel = state.channels.create(user, body.0.draft()).await?;
        Ok(ChannelCreated::Created(Json(ChannelOut::new(&channel))))
    }

    /// Your channels, oldest first.
    #[oai(path = "/channels", method = "get", operation_id = "list_channels")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
    ) -> Result<ChannelsListed, ApiError> {
        let user = auth.user(&state).await?;
        let results: Vec<ChannelOut> = state
            .channels
            .list(user)
            .await?
            .iter()
            .map(ChannelOut::new)
            .collect();
        Ok(ChannelsListed::Ok(Json(ChannelList {
            count: results.len(),
            results,
        })))
    }

    /// One of your channels.
    #[oai(path = "/channels/:id", method = "get", operation_id = "get_channel")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
    ) -> Result<ChannelFound, ApiError> {
        let user = auth.user(&state).await?;
        let channel = state.channels.get(user, ChannelId(id.0)).await?;
        Ok(ChannelFound::Ok(Json(ChannelOut::new(&channel))))
    }

    /// Change a channel: `name`, `enabled` and the kind's fields. Disabling it marks its pending
    /// deliveries failed.
    #[oai(
        path = "/channels/:id",
        method = "patch",
        operation_id = "update_channel"
    )]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<ChannelPatch>,
    ) -> Result<ChannelFound, ApiError> {
        let user = auth.user(&state).await?;
        let channel = state
            .channels
            .update(user, ChannelId(id.0), body.0.edit())
            .await?;
        Ok(ChannelFound::Ok(Json(ChannelOut::new(&channel))))
    }

    /// Delete a channel.
    #[oai(
        path = "/channels/:id",
        method = "delete",
        operation_id = "delete_channel"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
    ) -> Result<ChannelDeleted, ApiError> {
        let user = auth.user(&state).await?;
        state.channels.delete(user, ChannelId(id.0)).await?;
        Ok(ChannelDeleted::NoContent)
    }

    /// Send a test message through the channel now.
    ///
    /// 200 `{"delivered": true}` when the service accepted it, otherwise 200
    /// `{"delivered": false, "error": "..."}` with what it answered or why it could not be
    /// reached.
    #[oai(
        path = "/channels/:id/test",
        method = "post",
        operation_id = "test_channel"
    )]
    async fn test(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
    ) -> Result<ChannelTested, ApiError> {
        let user = auth.user(&state).await?;
        let username = state.accounts.username(user).await?;
        let outcome = state
            .channels
            .test(user, &username, ChannelId(id.0))
            .await?;
        Ok(ChannelTested::Ok(Json(TestResult {
            delivered: outcome.is_ok(),
            error: outcome.err(),
        })))
    }
}
