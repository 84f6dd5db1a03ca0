//! `/alerts/*`: create, list, read and delete the caller's alerts.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::alert_types::{
    AlertCreate, AlertList, AlertOut, AlertPatch, ConditionIn, FireList, FireOut, RearmBody,
    StatusFilter,
};
use super::any_case::AnyCase;
use super::bearer::BearerAuth;
use super::body::{JsonBody, OptionalBody};
use super::cached_json::CachedJson;
use super::error::ApiError;
use super::price_input::PriceInput;
use super::text::{NoteText, SymbolText};
use super::ApiTags;
use super::AppState;
use crate::alerts::{AlertEditRequest, AlertError, AlertRequest};
use crate::domain::{AlertId, ChannelId, Price, Symbol, UserId};
use crate::store::{AlertFilter, FirePage};

pub const DEFAULT_PAGE_SIZE: u64 = 10;
/// A larger page size is clamped to this.
pub const MAX_PAGE_SIZE: u64 = 100;

pub struct AlertsApi;

/// The last page of `count` items in pages of `size` (1 when there are none); a `page` past it
/// is 404.
fn last_page(page: u64, count: i64, size: u64) -> Result<u64, ApiError> {
    let last = (count.max(0) as u64).div_ceil(size).max(1);
    if page > last {
        return Err(ApiError::not_found(format!(
            "page {page} does not exist; the last page is {last}"
        )));
    }
    Ok(last)
}

/// How many items come before page `page` (from 1) of `size`, as SQL's OFFSET takes it.
fn offset(page: u64, size: u64) -> i64 {
    (page - 1).saturating_mul(size).min(i64::MAX as u64) as i64
}

/// A page asked for: its number and size.
struct Pages {
    page: u64,
    size: u64,
}

impl Pages {
    fn new(page: Option<u64>, page_size: Option<u64>, per_page: Option<u64>) -> Self {
        Self {
            page: page.unwrap_or(1),
            size: effective_page_size(page_size, per_page),
        }
    }

    fn limit(&self) -> i64 {
        self.size as i64
    }

    fn offset(&self) -> i64 {
        offset(self.page, self.size)
    }

    /// The page of fires `found`, linking its neighbours under `path`.
    fn fires(
        &self,
        state: &AppState,
        req: &poem::Request,
        path: &str,
        found: FirePage,
    ) -> Result<FireList, ApiError> {
        let (page, size) = (self.page, self.size);
        let last_page = last_page(page, found.count, size)?;
        let base = super::links::base_url(state, req);
        let url = |n: u64| format!("{base}{path}?page={n}&page_size={size}");
        Ok(FireList {
            results: found.fires.iter().map(FireOut::new).collect(),
            count: found.count,
            next: (page < last_page).then(|| url(page + 1)).into(),
            previous: (page > 1).then(|| url(page - 1)).into(),
        })
    }
}

/// A decimal field as given (`target_price`, `percent`), read exactly.
fn decimal(input: Option<PriceInput>, field: &str) -> Result<Option<Price>, ApiError> {
    input
        .map(|p| p.to_decimal(field).map_err(ApiError::bad_request))
        .transpose()
}

/// A note as given: "" is none.
fn given_note(note: Option<NoteText>) -> Option<String> {
    note.map(NoteText::into_inner).filter(|n| !n.is_empty())
}

/// `page_size` (or its alias `per_page`), default 10, clamped to 100.
fn effective_page_size(page_size: Option<u64>, per_page: Option<u64>) -> u64 {
    page_size
        .or(per_page)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .min(MAX_PAGE_SIZE)
}

/// One cached list response: a user's filters and page.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListKey {
    /// The links' base (`links.rs`): a page reached through another host links there.
    base: String,
    status: Option<StatusFilter>,
    symbol: Option<String>,
    page: u64,
    page_size: u64,
}

#[derive(ApiResponse)]
pub enum AlertCreated {
    /// The alert is armed.
    #[oai(status = 201)]
    Created(Json<AlertOut>),
}

#[derive(ApiResponse)]
pub enum AlertFound {
    #[oai(status = 200)]
    Ok(Json<AlertOut>),
}

#[derive(ApiResponse)]
pub enum AlertListed {
    /// A page of alerts, newest first.
    #[oai(status = 200)]
    Ok(CachedJson<AlertList>),
}

#[derive(ApiResponse)]
pub enum FiresListed {
    /// A page of fires, newest first.
    #[oai(status = 200)]
    Ok(Json<FireList>),
}

#[derive(ApiResponse)]
pub enum AlertDeleted {
    /// The alert is deleted (kept as history, listed with `status=deleted`).
    #[oai(status = 204)]
    NoContent,
}

impl AlertsApi {
    async fn do_create(
        state: &AppState,
        auth: BearerAuth,
        body: AlertCreate,
    ) -> Result<AlertCreated, ApiError> {
        let user = auth.user(state).await?;
        let request = AlertRequest {
            symbol: Symbol::parse(body.cryptocurrency.as_str())
                .map_err(|msg| ApiError::bad_request(format!("cryptocurrency {msg}")))?,
            target: decimal(body.target_price, "target_price")?,
            percent: decimal(body.percent, "percent")?,
            window_ms: body.window.map(|w| w.millis()),
            condition: body.condition.and_then(|c| c.0).map(ConditionIn::condition),
            channels: body
                .channels
                .unwrap_or_default()
                .into_iter()
                .map(ChannelId)
                .collect(),
            note: given_note(body.note.and_then(|n| n.0)),
            repeat: body
                .repeat
                .and_then(|r| r.0)
                .map(|r| r.repeat().map_err(ApiError::bad_request))
                .transpose()?,
            expires_at: body.expires_at.and_then(|t| t.0).map(|t| t.millis()),
        };
        let alert = state.alerts.create(user, request).await?;
        Ok(AlertCreated::Created(Json(AlertOut::new(
            &alert,
            &state.prices,
        ))))
    }

    async fn do_delete(
        state: &AppState,
        auth: BearerAuth,
        id: i64,
    ) -> Result<AlertDeleted, ApiError> {
        let user = auth.user(state).await?;
        state.alerts.delete(user, AlertId(id)).await?;
        Ok(AlertDeleted::NoContent)
    }

    fn page_url(key: &ListKey, page: u64) -> String {
        let mut url = format!(
            "{}/alerts/?page={page}&page_size={}",
            key.base, key.page_size
        );
        if let Some(status) = key.status {
            url.push_str("&status=");
            url.push_str(status.as_str());
        }
        if let Some(symbol) = &key.symbol {
            url.push_str("&cryptocurrency=");
            url.push_str(symbol);
        }
        url
    }

    async fn load_page(
        state: &AppState,
        user: UserId,
        key: &ListKey,
    ) -> Result<CachedJson<AlertList>, ApiError> {
        let filter = AlertFilter {
            status: key.status.map(StatusFilter::status),
            symbol: key.symbol.clone(),
        };
        let limit = key.page_size as i64;
        let offset = offset(key.page, key.page_size);
        let page = state.alerts.list(user, filter, limit, offset).await?;
        let last_page = last_page(key.page, page.count, key.page_size)?;
        let list = AlertList {
            results: page
                .alerts
                .iter()
                .map(|a| AlertOut::new(a, &state.prices))
                .collect(),
            count: page.count,
            next: (key.page < last_page)
                .then(|| Self::page_url(key, key.page + 1))
                .into(),
            previous: (key.page > 1)
                .then(|| Self::page_url(key, key.page - 1))
                .into(),
        };
        Ok(CachedJson::serialize(&list))
    }
}

#[OpenApi(tag = "ApiTags::Alerts")]
impl AlertsApi {
    /// Create an alert.
    ///
    /// `target_price` is compared exactly. Without `condition` the alert fires on the first
    /// crossing in either direction from the price when it was created.
    #[oai(
        path = "/alerts/create",
        method = "post",
        operation_id = "create_alert"
    )]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: JsonBody<AlertCreate>,
    ) -> Result<AlertCreated, ApiError> {
        Self::do_create(&state, auth, body.0).await
    }

    /// Create an alert (same as `POST /alerts/create/`).
    #[oai(path = "/alerts", method = "post", operation_id = "create_alert_alias")]
    async fn create_alias(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: JsonBody<AlertCreate>,
    ) -> Result<AlertCreated, ApiError> {
        Self::do_create(&state, auth, body.0).await
    }

    /// List your alerts, newest first.
    ///
    /// Deleted alerts appear only with `status=deleted`.
    #[oai(path = "/alerts", method = "get", operation_id = "list_alerts")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        req: &poem::Request,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        page: Query<Option<u64>>,
        /// Alerts per page (default 10); more than 100 gives 100, as Django REST Framework's
        /// `max_page_size` does.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        page_size: Query<Option<u64>>,
        /// Alias of `page_size`.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        per_page: Query<Option<u64>>,
        /// `created` (or its alias `active`), `triggered` or `deleted`, in any case.
        status: Query<Option<AnyCase<StatusFilter>>>,
        /// Only alerts for this symbol (any case).
        cryptocurrency: Query<Option<SymbolText>>,
    ) -> Result<AlertListed, ApiError> {
        let user = auth.user(&state).await?;
        let symbol = cryptocurrency
            .0
            .map(|s| Symbol::parse(s.as_str()).map(|s| s.to_string()))
            .transpose()
            .map_err(|msg| ApiError::bad_request(format!("cryptocurrency {msg}")))?;
        let key = ListKey {
            base: super::links::base_url(&state, req),
            status: status.0.map(|s| s.0),
            symbol,
            page: page.0.unwrap_or(1),
            page_size: effective_page_size(page_size.0, per_page.0),
        };
        let (hit, generation, key) = state.lists.get(user, key);
        if let Some(bytes) = hit {
            return Ok(AlertListed::Ok(CachedJson::from_bytes((*bytes).clone())));
        }
        let body = Self::load_page(&state, user, &key).await?;
        state
            .lists
            .insert(user, generation, key, Arc::new(body.bytes()));
        Ok(AlertListed::Ok(body))
    }

    /// The fires of one of your alerts, newest first.
    ///
    /// Each fire is the trade that fired the alert, with every channel's delivery of it.
    #[oai(
        path = "/alerts/:id/fires",
        method = "get",
        operation_id = "list_fires"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn fires(
        &self,
        req: &poem::Request,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        page: Query<Option<u64>>,
        /// Fires per page (default 10); more than 100 gives 100.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        page_size: Query<Option<u64>>,
        /// Alias of `page_size`.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        per_page: Query<Option<u64>>,
    ) -> Result<FiresListed, ApiError> {
        let user = auth.user(&state).await?;
        let pages = Pages::new(page.0, page_size.0, per_page.0);
        let found = state
            .alerts
            .fires(user, AlertId(id.0), pages.limit(), pages.offset())
            .await?;
        let path = format!("/alerts/{}/fires/", id.0);
        Ok(FiresListed::Ok(Json(
            pages.fires(&state, req, &path, found)?,
        )))
    }

    /// Recent activity: the fires of all your alerts, newest first.
    ///
    /// Every fire of every alert you have not deleted, with each channel's delivery of it;
    /// `alert_id` says which alert fired.
    #[oai(path = "/fires", method = "get", operation_id = "list_recent_fires")]
    async fn recent_fires(
        &self,
        req: &poem::Request,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Page number, from 1.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        page: Query<Option<u64>>,
        /// Fires per page (default 10); more than 100 gives 100.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        page_size: Query<Option<u64>>,
        /// Alias of `page_size`.
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000000")))]
        per_page: Query<Option<u64>>,
    ) -> Result<FiresListed, ApiError> {
        let user = auth.user(&state).await?;
        let pages = Pages::new(page.0, page_size.0, per_page.0);
        let found = state
            .alerts
            .recent_fires(user, pages.limit(), pages.offset())
            .await?;
        Ok(FiresListed::Ok(Json(
            pages.fires(&state, req, "/fires/", found)?,
        )))
    }

    /// Change an armed alert: its target, condition, note or channels.
    ///
    /// Only an alert that has not fired can be edited (409 otherwise: re-arm it first). The
    /// change is atomic: no trade is matched against half of it, and trades before the edit
    /// never fire the new definition. The symbol cannot be changed. An empty body changes
    /// nothing and answers the alert as it is. A channel that is not yours is 409.
    #[oai(path = "/alerts/:id", method = "patch", operation_id = "edit_alert")]
    async fn edit(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
        body: JsonBody<AlertPatch>,
    ) -> Result<AlertFound, ApiError> {
        let user = auth.user(&state).await?;
        let body = body.0;
        let request = AlertEditRequest {
            target: decimal(body.target_price, "target_price")?,
            percent: decimal(body.percent, "percent")?,
            window_ms: body.window.map(|w| w.millis()),
            condition: body.condition.map(|c| c.0.map(ConditionIn::condition)),
            note: body.note.map(|n| given_note(n.0)),
            channels: body
                .channels
                .map(|ids| ids.into_iter().map(ChannelId).collect()),
            repeat: body
                .repeat
                .map(|r| {
                    r.0.map(|r| r.repeat().map_err(ApiError::bad_request))
                        .transpose()
                })
                .transpose()?,
            expires_at: body.expires_at.map(|t| t.0.map(|t| t.millis())),
        };
        let nothing = request.target.is_none()
            && request.percent.is_none()
            && request.window_ms.is_none()
            && request.condition.is_none()
            && request.note.is_none()
            && request.channels.is_none()
            && request.repeat.is_none()
            && request.expires_at.is_none();
        // An empty edit changes nothing, not even when it was last armed.
        let alert = if nothing {
            state.alerts.get(user, AlertId(id.0)).await?
        } else {
            // The alert in the path exists, so a channel in the body that is not yours is not
            // a 404 (that would say the alert is missing): it conflicts with your channels.
            state
                .alerts
                .edit(user, AlertId(id.0), request)
                .await
                .map_err(|err| match err {
                    AlertError::UnknownChannel(_) => {
                        ApiError::new(poem::http::StatusCode::CONFLICT, err.to_string())
                    }
                    other => other.into(),
                })?
        };
        Ok(AlertFound::Ok(Json(AlertOut::new(&alert, &state.prices))))
    }

    /// Arm a fired or expired alert again.
    ///
    /// It goes back to `created` and fires at the next crossing; trades before now never fire
    /// it. Its earlier fires stay in `GET /alerts/{id}/fires/`. 409 if it is armed already.
    /// The body is optional: `expires_at` sets a new expiry, and is required (400) when the
    /// alert's own has passed.
    #[oai(
        path = "/alerts/:id/rearm",
        method = "post",
        operation_id = "rearm_alert"
    )]
    async fn rearm(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
        body: OptionalBody<RearmBody>,
    ) -> Result<AlertFound, ApiError> {
        let user = auth.user(&state).await?;
        let expires_at = body.0.expires_at.map(|t| t.millis());
        let alert = state.alerts.rearm(user, AlertId(id.0), expires_at).await?;
        Ok(AlertFound::Ok(Json(AlertOut::new(&alert, &state.prices))))
    }

    /// One of your alerts. A deleted alert is 404 here; it stays listed with `status=deleted`.
    #[oai(path = "/alerts/:id", method = "get", operation_id = "get_alert")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
    ) -> Result<AlertFound, ApiError> {
        let user = auth.user(&state).await?;
        let alert = state.alerts.get(user, AlertId(id.0)).await?;
        Ok(AlertFound::Ok(Json(AlertOut::new(&alert, &state.prices))))
    }

    /// Delete one of your alerts; it stays in the history with status `deleted`.
    #[oai(path = "/alerts/:id", method = "delete", operation_id = "delete_alert")]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
    ) -> Result<AlertDeleted, ApiError> {
        Self::do_delete(&state, auth, id.0).await
    }

    /// Delete one of your alerts (same as `DELETE /alerts/{id}/`).
    #[oai(
        path = "/alerts/delete/:id",
        method = "delete",
        operation_id = "delete_alert_alias"
    )]
    async fn delete_alias(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<i64>,
    ) -> Result<AlertDeleted, ApiError> {
        Self::do_delete(&state, auth, id.0).await
    }
}
