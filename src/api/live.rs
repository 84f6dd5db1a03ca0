//! `GET /events`: a server-sent event stream of the caller's alert fires, notification
//! outcomes and, every two seconds, the prices of the symbols asked for. The web page reads it
//! with `fetch` so the token travels in the Authorization header, never in a URL.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use poem::http::StatusCode;
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
use crate::auth::{Session, SessionEnded};
use crate::clock::format_millis;
use crate::clock::now_millis;
use crate::domain::{AlertId, Symbol, UserId};
use crate::limits::StreamSlot;
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
    /// One of your alerts reached its `expires_at` unfired; `alert` is its new state.
    Expired,
    /// Current prices of the symbols you asked for.
    Prices,
    /// Your session ended (its token expired, you logged out, the password was changed or
    /// reset); the stream closes after this event. Refresh the token and reconnect.
    Unauthorized,
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
                        "JSON: {\"kind\": \"triggered\"|\"notification\"|\"prices\"|\"unauthorized\", \"alert\": \
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
    /// The session ended (logout, password change, reset, expiry) or the server is stopping.
    End,
}

/// One open stream: whose, what it listens to, and what ends it.
struct Listener {
    state: Arc<AppState>,
    session: Session,
    token: String,
    symbols: HashSet<Symbol>,
    alerts: broadcast::Receiver<AlertEvent>,
    deliveries: broadcast::Receiver<Delivered>,
    ended: broadcast::Receiver<SessionEnded>,
    ticker: tokio::time::Interval,
    expiry: Pin<Box<tokio::time::Sleep>>,
    first: bool,
    done: bool,
    /// Counts against `limits.max_streams_per_user` until the stream is dropped.
    _slot: StreamSlot,
}

impl Listener {
    async fn next_tick(&mut self) -> Tick {
        loop {
            return tokio::select! {
                received = self.alerts.recv() => match received {
                    Ok(event) => Tick::Alert(event),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => Tick::End,
                },
                received = self.deliveries.recv() => match received {
                    Ok(delivery) => Tick::Delivery(delivery),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => Tick::End,
                },
                ended = self.ended.recv() => match ended {
                    Ok(ended) if ended.ends(&self.session) => Tick::End,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => Tick::End,
                },
                _ = self.expiry.as_mut() => Tick::End,
                _ = self.state.stopping.cancelled() => Tick::End,
                _ = self.ticker.tick() => {
                    // Changes made outside this process (admin commands) show here.
                    if self.state.accounts.authenticate(&self.token).await.is_err() {
                        Tick::End
                    } else {
                        Tick::Prices
                    }
                }
            };
        }
    }

    /// The next event for the client, or `None` once the stream is over.
    async fn next_event(&mut self) -> Option<LiveEvent> {
        if self.done {
            return None;
        }
        let user = self.session.user;
        loop {
            let event = match self.next_tick().await {
                Tick::End => {
                    self.done = true;
                    return Some(LiveEvent {
                        kind: LiveKind::Unauthorized,
                        alert: None.into(),
                        prices: Vec::new(),
                    });
                }
                Tick::Prices if self.symbols.is_empty() && !self.first => continue,
                Tick::Prices => Some(prices_event(&self.state, &self.symbols)),
                Tick::Alert(AlertEvent::Triggered(f)) if f.user == user => {
                    alert_event(&self.state, user, f.id, LiveKind::Triggered).await
                }
                Tick::Alert(AlertEvent::Expired { id, user: owner }) if owner == user => {
                    alert_event(&self.state, user, id, LiveKind::Expired).await
                }
                Tick::Delivery(d) if d.user == user => {
                    alert_event(&self.state, user, d.alert, LiveKind::Notification).await
                }
                Tick::Alert(_) | Tick::Delivery(_) => continue,
            };
            if event.is_some() {
                self.first = false;
                return event;
            }
        }
    }
}

/// When a token that expires at `exp` (seconds since the epoch) stops being valid.
fn expiry_instant(exp: i64) -> tokio::time::Instant {
    let left_ms = (exp * 1000 - now_millis()).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_millis(left_ms)
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
    /// Events: `triggered`, `notification` and `expired` carry the alert as `GET /alerts/{id}/`
    /// shows it; `prices` (every 2 s) carries the last prices of `symbols`; `unauthorized` ends
    /// the stream when its session ends (token expiry, logout, password change). At most
    /// `limits.max_streams_per_user` streams per account are open at once (429 beyond).
    #[oai(path = "/events", method = "get", operation_id = "live_events")]
    async fn events(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Comma-separated symbols whose prices to send, e.g. `BTCUSDT,ETHUSDT`.
        symbols: Query<Option<SymbolList>>,
    ) -> Result<LiveStream, ApiError> {
        let session = auth.session(&state).await?;
        let slot = state.limits.streams.open(session.user).ok_or_else(|| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many live streams: at most {} per account are open at once",
                    state.limits.streams.max()
                ),
            )
        })?;
        let state: Arc<AppState> = state.0.clone();
        // The first tick fires at once: a client starts with a snapshot, even an empty one.
        let mut ticker = tokio::time::interval(PRICE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let listener = Listener {
            symbols: symbols.0.map(|list| list.symbols()).unwrap_or_default(),
            alerts: state.alerts.subscribe(),
            deliveries: state.deliveries.subscribe(),
            ended: state.accounts.subscribe_ended(),
            expiry: Box::pin(tokio::time::sleep_until(expiry_instant(session.expires_at))),
            token: auth.token().to_string(),
            session,
            state,
            ticker,
            first: true,
            done: false,
            _slot: slot,
        };
        let stream = stream::unfold(listener, |mut listener| async move {
            let event = listener.next_event().await?;
            Some((event, listener))
        });
        Ok(LiveStream::Ok(LiveEvents(
            EventStream::new(stream.boxed()).keep_alive(Duration::from_secs(15)),
        )))
    }
}
