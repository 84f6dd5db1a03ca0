//! The HTTP API: one `#[OpenApi]` struct per tag, Swagger UI, and the middleware around them.

mod alert_types;
mod alerts;
mod any_case;
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
mod links;
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

/// The OpenAPI document as YAML: what `pricealert openapi` prints, `openapi.yaml` holds and
/// `/openapi.yaml` serves.
pub fn spec_yaml() -> String {
    with_alert_examples(&plain_numbers(&service().spec_yaml()))
}

/// One request example per kind of alert, named, for the create operations (poem-openapi
/// writes a schema's single example only).
const ALERT_EXAMPLES: &str = r#"examples:
  above:
    summary: Fire once when BTCUSDT trades at or above 65,000
    value: {cryptocurrency: BTCUSDT, target_price: '65000', condition: above}
  below_with_note:
    summary: Fire once at or below a price, with a note in the notification
    value: {cryptocurrency: ETHUSDT, target_price: '2500.5', condition: below, note: Buy the dip}
  either_way:
    summary: Let the current price choose the side
    value: {cryptocurrency: BTCUSDT, target_price: '70000'}
  repeat:
    summary: Fire at every crossing after the price came back 1 % and 15 minutes passed
    value: {cryptocurrency: BTCUSDT, target_price: '65000', condition: above, repeat: {rearm: 1%, cooldown: 15m}}
  expires:
    summary: Stop watching at a moment (then the status is expired)
    value: {cryptocurrency: BTCUSDT, target_price: '60000', condition: below, expires_at: '2030-01-01T00:00:00Z'}
  percent_up:
    summary: Fire when the price is 5 % above its lowest of the last hour
    value: {cryptocurrency: BTCUSDT, condition: percent_up, percent: '5', window: 1h}
  percent_down:
    summary: Fire when the price is 3 % below its highest of the last 15 minutes
    value: {cryptocurrency: SOLUSDT, condition: percent_down, percent: '3', window: 15m}
  percent_move_repeating:
    summary: A 2 % move either way within 5 minutes, at most once an hour
    value: {cryptocurrency: BTCUSDT, condition: percent_move, percent: '2', window: 5m, repeat: {cooldown: 1h}}
"#;

/// Puts `ALERT_EXAMPLES` beside every request schema of `AlertCreate`.
fn with_alert_examples(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + 4 * ALERT_EXAMPLES.len());
    for line in yaml.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == "$ref: '#/components/schemas/AlertCreate'" {
            let indent = line.len() - line.trim_start().len() - 2;
            for example in ALERT_EXAMPLES.lines() {
                out.push_str(&" ".repeat(indent));
                out.push_str(example);
                out.push('\n');
            }
        }
    }
    out
}

/// serde_json's exact numbers (the `arbitrary_precision` feature, kept for exact prices)
/// reach YAML as a one-key map; writes them as the plain numbers they are.
fn plain_numbers(yaml: &str) -> String {
    const MARK: &str = "$serde_json::private::Number: ";
    let mut out = String::with_capacity(yaml.len());
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let number = lines
            .peek()
            .and_then(|next| next.trim_start().strip_prefix(MARK))
            .filter(|_| line.ends_with(':'));
        match number {
            Some(number) => {
                out.push_str(line);
                out.push(' ');
                out.push_str(number.trim_matches('\''));
                lines.next();
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    let api = service();
    let docs = api.swagger_ui();
    let spec_json = api.spec_endpoint();
    let yaml = spec_yaml();
    let spec_yaml = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/x-yaml")
            .body(yaml.clone())
    });
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

#[cfg(test)]
mod spec_tests {
    #[test]
    fn numbers_in_the_yaml_are_plain_numbers() {
        let yaml = super::spec_yaml();
        assert!(
            !yaml.contains("serde_json"),
            "an exact number leaked as a map"
        );
        assert!(yaml.contains("example: 65000\n"), "the number example");
    }
}
