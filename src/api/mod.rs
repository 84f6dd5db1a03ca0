//! The HTTP API: one `#[OpenApi]` struct per tag, Swagger UI, and the middleware around them.

mod alert_types;
mod alerts;
mod auth;
mod bearer;
mod body;
mod cached_json;
mod channel_types;
mod channels;
mod csp;
mod duplicate_keys;
pub mod error;
mod health;
mod list_cache;
mod live;
mod middleware;
mod nullable;
mod param_words;
mod price_input;
mod prices;
mod routes;
mod state;
mod text;

use std::sync::Arc;

use poem::middleware::{CatchPanic, NormalizePath, TrailingSlash};
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

pub use alert_types::render_alert;
pub use alerts::ListKey;
pub use list_cache::ListCache;
pub use middleware::MAX_BODY;
pub use state::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and tokens.
    Auth,
    /// Your price alerts.
    Alerts,
    /// Where you are told: email, webhook, ntfy, Telegram, Discord, Gotify.
    Channels,
    /// Last prices from the exchange.
    Prices,
    /// Liveness.
    Health,
}

type Apis = (
    health::HealthApi,
    auth::AuthApi,
    alerts::AlertsApi,
    channels::ChannelsApi,
    prices::PricesApi,
    live::LiveApi,
    crate::web::WebPage,
);

const DESCRIPTION: &str = "Self-hosted cryptocurrency price alerts. Register, log in, then press \
**Authorize** and paste the `access` token. Every path also works with a trailing slash. \
Every error is `{\"error\": \"<message>\"}`.";

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            health::HealthApi,
            auth::AuthApi,
            alerts::AlertsApi,
            channels::ChannelsApi,
            prices::PricesApi,
            live::LiveApi,
            crate::web::WebPage,
        ),
        "pricealert",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
}

/// The OpenAPI document as YAML: what `pricealert openapi` prints and `openapi.yaml` holds.
pub fn spec_yaml() -> String {
    service().spec_yaml()
}

pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    let api = service();
    let docs = api.swagger_ui();
    let spec_json = api.spec_endpoint();
    let spec_yaml = api.spec_endpoint_yaml();
    Route::new()
        .nest("/", api)
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .with(NormalizePath::new(TrailingSlash::Trim))
        .with(CatchPanic::new())
        .around(middleware::around)
        .data(state)
}
