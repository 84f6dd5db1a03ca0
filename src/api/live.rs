//! `GET /events`: a server-sent event stream of the caller's alert fires, notification
//! outcomes and, every two seconds, the prices of the symbols asked for. The web page reads it
//! with `fetch` so the token travels in the Authorization header, never in a URL.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use poem::web::Data;
use poem::IntoResponse;
use poem_openapi::param::Query;
use poem_openapi::payload::{EventStream, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use tokio::sync::broadcast;

use super::alert_types::AlertOut;
use super::bearer::BearerAuth;
use super::error::ApiError;
use super::nullable::Nullable;
use super::text::SymbolList;
use super::ApiTags;
use super::AppState;
use crate::alerts::AlertEvent;
use crate::clock::format_millis;
use crate::domain::{AlertId, Symbol, UserId};
use crate::notify::Delivered;

const PRICE_EVERY: Duration = Duration::from_secs(2);

pub struct LiveApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LiveKind {
    /// One of your alerts fired; `alert` is its new state.
    Triggered,
    /// A delivery attempt of an alert's email was recorded; `alert` shows it.
    Notification,
    /// Current prices of the symbols you asked for.
    Prices,
}

#[derive(Debug, Clone, Object)]
pub struct LivePrice {
    pub symbol: String,
    pub price: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Object)]
pub struct LiveEvent {
    pub kind: LiveKind,
    pub alert: Nullable<AlertOut>,
    pub prices: Vec<LivePrice>,
}

/// The event stream. OpenAPI 3.0 has no way to say "each event's data is JSON of this type",
/// so the schema describes one server-sent event as it is on the wire (`data`, `event`), as
/// SSE-aware tools read it, and its description says what `data` holds. (poem-openapi's own
/// `EventStream` documents an array, which no single event matches.)
pub struct LiveEvents(EventStream<BoxStream<'static, LiveEvent>>);

impl Payload for LiveEvents {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        let text = |description: &'static str| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                description: Some(description),
                ..MetaSchema::new("string")
            }))
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("One server-sent event; its `data` is a JSON `LiveEvent`."),
            required: vec!["data"],
            properties: vec![
                (
                    "data",
                    text(
                        "JSON: {\"kind\": \"triggered\"|\"notification\"|\"prices\", \"alert\": \
                         the alert as GET /alerts/{id}/ shows it, or null, \"prices\": \
                         [{\"symbol\", \"price\", \"updated_at\"}]}",
                    ),
                ),
                ("event", text("Always `message`")),
            ],
            ..MetaSchema::new("object")
        }))
    }

    fn register(registry: &mut Registry) {
        LiveEvent::register(registry);
    }
}

impl IntoResponse for LiveEvents {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

#[derive(ApiResponse)]
pub enum LiveStream {
    /// `text/event-stream`; each event's data is a JSON `LiveEvent`. The first event, sent at
    /// once, is a `prices` snapshot.
    #[oai(status = 200)]
    Ok(LiveEvents),
}

enum Tick {
    Alert(AlertEvent),
    Delivery(Delivered),
    Prices,
    Closed,
}

async fn alert_event(
    state: &AppState,
    user: UserId,
    id: AlertId,
    kind: LiveKind,
) -> Option<LiveEvent> {
    let alert = state.store.get_alert(user, id).await.ok().flatten()?;
    Some(LiveEvent {
        kind,
        alert: Some(AlertOut::new(&alert, &state.prices)).into(),
        prices: Vec::new(),
    })
}

fn prices_event(state: &AppState, symbols: &HashSet<Symbol>) -> LiveEvent {
    LiveEvent {
        kind: LiveKind::Prices,
        alert: None.into(),
        prices: state
            .prices
            .all(Some(symbols))
            .into_iter()
            .map(|(s, p, t)| LivePrice {
                symbol: s.to_string(),
                price: p.to_string(),
                updated_at: format_millis(t),
            })
            .collect(),
    }
}

#[OpenApi(tag = "ApiTags::Alerts")]
impl LiveApi {
    /// Live updates (server-sent events) for the web page and other clients.
    ///
    /// Events: `triggered` and `notification` carry the alert as `GET /alerts/{id}/` shows it;
    /// `prices` (every 2 s) carries the last prices of `symbols`.
    #[oai(path = "/events", method = "get", operation_id = "live_events")]
    async fn events(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Comma-separated symbols whose prices to send, e.g. `BTCUSDT,ETHUSDT`.
        symbols: Query<Option<SymbolList>>,
    ) -> Result<LiveStream, ApiError> {
        let user = auth.user(&state).await?;
        let symbols: HashSet<Symbol> = symbols.0.map(|list| list.symbols()).unwrap_or_default();
        let state: Arc<AppState> = state.0.clone();
        let events = (state.alerts.subscribe(), state.deliveries.subscribe());
        // The first tick fires at once: a client starts with a snapshot, even an empty one.
        let mut ticker = tokio::time::interval(PRICE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let first = true;
        let stream = stream::unfold(
            (state, events, ticker, symbols, first),
            move |(state, mut events, mut ticker, symbols, mut first)| async move {
                loop {
                    let tick = tokio::select! {
                        received = events.0.recv() => match received {
                            Ok(event) => Tick::Alert(event),
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => Tick::Closed,
                        },
                        received = events.1.recv() => match received {
                            Ok(delivery) => Tick::Delivery(delivery),
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => Tick::Closed,
                        },
                        _ = ticker.tick() => Tick::Prices,
                    };
                    let event = match tick {
                        Tick::Closed => return None,
                        Tick::Prices if symbols.is_empty() && !first => continue,
                        Tick::Prices => Some(prices_event(&state, &symbols)),
                        Tick::Alert(AlertEvent::Triggered(f)) if f.user == user => {
                            alert_event(&state, user, f.id, LiveKind::Triggered).await
                        }
                        Tick::Delivery(d) if d.user == user => {
                            alert_event(&state, user, d.alert, LiveKind::Notification).await
                        }
                        Tick::Alert(_) | Tick::Delivery(_) => continue,
                    };
                    if let Some(event) = event {
                        first = false;
                        return Some((event, (state, events, ticker, symbols, first)));
                    }
                }
            },
        );
        Ok(LiveStream::Ok(LiveEvents(
            EventStream::new(stream.boxed()).keep_alive(Duration::from_secs(15)),
        )))
    }
}
