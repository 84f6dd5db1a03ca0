//! One WebSocket connection to the exchange's combined stream, kept alive forever: it reads
//! without pause (so pings are answered even when the matcher is busy), paces control messages
//! under the 5-per-second limit, reconnects with backoff, and replaces itself before the
//! 24-hour cut by opening the new socket before closing the old.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::protocol::{self, Frame, Ticker, Trade};
use super::rest::retry_after;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Streams per SUBSCRIBE/UNSUBSCRIBE message.
const STREAMS_PER_MESSAGE: usize = 200;
/// How long the old socket is drained after its replacement is ready.
const DRAIN: Duration = Duration::from_secs(2);

pub struct Settings {
    pub stream_url: String,
    pub stall_timeout: Duration,
    pub rotate_after: Duration,
    /// Gap between two control messages on one connection.
    pub control_interval: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Set once the 451 advice has been logged.
    pub warned_restricted: AtomicBool,
}

#[derive(Debug)]
pub enum Command {
    Subscribe(Vec<String>),
    Unsubscribe(Vec<String>),
    /// Its data stalled while the socket stays up: replace it now, make-before-break.
    Replace(String),
}

#[derive(Debug)]
pub enum Event {
    /// A trade, and the connection it came on.
    Trade(usize, Trade),
    /// Last prices, and the connection they came on.
    Tickers(usize, Vec<Ticker>),
    Connected(usize),
    Disconnected(usize),
    /// The connection was replaced (rotated); what it carried may have missed trades.
    Replaced(usize),
    /// The streams a connection carries now (from the placement).
    Streams(usize, Vec<String>),
    /// A connection attempt failed: the host tried and why, in words.
    Failed {
        host: String,
        error: String,
    },
}

enum End {
    Shutdown,
    /// Reconnect at once (serverShutdown).
    Now,
    Lost(String),
}

/// The streams still to (un)subscribe on one socket, sent a batch per control tick.
#[derive(Default)]
struct Pending {
    subscribe: BTreeSet<String>,
    unsubscribe: BTreeSet<String>,
    next_id: u64,
}

impl Pending {
    fn next_message(&mut self) -> Option<String> {
        let (method, set) = if !self.unsubscribe.is_empty() {
            ("UNSUBSCRIBE", &mut self.unsubscribe)
        } else if !self.subscribe.is_empty() {
            ("SUBSCRIBE", &mut self.subscribe)
        } else {
            return None;
        };
        let batch: Vec<String> = set.iter().take(STREAMS_PER_MESSAGE).cloned().collect();
        for stream in &batch {
            set.remove(stream);
        }
        self.next_id += 1;
        Some(protocol::control(method, &batch, self.next_id))
    }

    fn is_empty(&self) -> bool {
        self.subscribe.is_empty() && self.unsubscribe.is_empty()
    }
}

pub struct Connection {
    pub id: usize,
    pub settings: Arc<Settings>,
    pub desired: BTreeSet<String>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub events: mpsc::UnboundedSender<Event>,
    pub shutdown: CancellationToken,
}

impl Connection {
    pub async fn run(mut self) {
        let mut backoff = Backoff::new(self.settings.backoff_initial, self.settings.backoff_max);
        loop {
            if self.desired.is_empty() && !self.wait_for_streams().await {
                return;
            }
            let (ws, pending) = match self.open().await {
                Ok(opened) => opened,
                Err((wait, error)) => {
                    let _ = self.events.send(Event::Failed {
                        host: self.host(),
                        error,
                    });
                    let wait = wait.unwrap_or_else(|| backoff.next_delay());
                    tokio::select! {
                        _ = sleep(wait) => continue,
                        _ = self.shutdown.cancelled() => return,
                    }
                }
            };
            let _ = self.events.send(Event::Connected(self.id));
            let end = self.session(ws, pending, &mut backoff).await;
            let _ = self.events.send(Event::Disconnected(self.id));
            match end {
                End::Shutdown => return,
                End::Now => tracing::info!(
                    conn = self.id,
                    "exchange announced shutdown; reconnecting now"
                ),
                End::Lost(reason) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(conn = self.id, %reason, ?wait, "stream connection lost; reconnecting");
                    tokio::select! {
                        _ = sleep(wait) => {},
                        _ = self.shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Parks an empty connection until it has streams; false on shutdown.
    async fn wait_for_streams(&mut self) -> bool {
        while self.desired.is_empty() {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => { self.apply(cmd, None); }
                    None => return false,
                },
                _ = self.shutdown.cancelled() => return false,
            }
        }
        true
    }

    fn apply(&mut self, cmd: Command, mut pending: Option<&mut Pending>) {
        match cmd {
            Command::Subscribe(streams) => {
                for s in streams {
                    if self.desired.insert(s.clone()) {
                        if let Some(p) = pending.as_deref_mut() {
                            p.unsubscribe.remove(&s);
                            p.subscribe.insert(s);
                        }
                    }
                }
            }
            Command::Unsubscribe(streams) => {
                for s in streams {
                    if self.desired.remove(&s) {
                        if let Some(p) = pending.as_deref_mut() {
                            p.subscribe.remove(&s);
                            p.unsubscribe.insert(s);
                        }
                    }
                }
            }
            // Only a live session can be replaced; a parked one has nothing to replace.
            Command::Replace(_) => {}
        }
    }

    /// The stream's host and port, as logs and `/healthz` name it.
    fn host(&self) -> String {
        let url = &self.settings.stream_url;
        reqwest::Url::parse(url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(match u.port_or_known_default() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| url.clone())
    }

    /// Connects with the first stream in the URL; the rest are queued as SUBSCRIBE batches.
    /// On failure returns how long to wait, when the exchange said so, and why in words.
    async fn open(&self) -> Result<(Ws, Pending), (Option<Duration>, String)> {
        let first = self.desired.iter().next().cloned().unwrap_or_default();
        let url = format!(
            "{}/stream?streams={first}",
            self.settings.stream_url.trim_end_matches('/')
        );
        match tokio::time::timeout(
            Duration::from_secs(15),
            // No Nagle: a pong or SUBSCRIBE leaves at once, not after the next ACK.
            tokio_tungstenite::connect_async_with_config(&url, None, true),
        )
        .await
        {
            Ok(Ok((ws, _))) => {
                tracing::info!(
                    conn = self.id,
                    streams = self.desired.len(),
                    "stream connected"
                );
                let pending = Pending {
                    subscribe: self.desired.iter().skip(1).cloned().collect(),
                    ..Pending::default()
                };
                Ok((ws, pending))
            }
            Ok(Err(WsError::Http(resp))) => {
                let status = resp.status().as_u16();
                match status {
                    418 | 429 => {
                        let mut headers = reqwest::header::HeaderMap::new();
                        if let Some(v) = resp.headers().get("retry-after") {
                            if let Ok(v) = reqwest::header::HeaderValue::from_bytes(v.as_bytes()) {
                                headers.insert(reqwest::header::RETRY_AFTER, v);
                            }
                        }
                        let wait = retry_after(&headers);
                        tracing::warn!(
                            conn = self.id,
                            status,
                            ?wait,
                            "exchange rate limit; waiting as asked"
                        );
                        Err((Some(wait), format!("rate limited (HTTP {status})")))
                    }
                    451 => {
                        if !self
                            .settings
                            .warned_restricted
                            .swap(true, Ordering::Relaxed)
                        {
                            tracing::error!(
                                "the exchange refuses connections from this location (HTTP 451). \
                                 Set market.stream_url and market.rest_url to an endpoint you may \
                                 use: wss://data-stream.binance.vision with \
                                 https://data-api.binance.vision, or Binance.US \
                                 (wss://stream.binance.us:9443, https://api.binance.us)"
                            );
                        }
                        // Retrying will not help until the endpoint changes: wait long.
                        Err((
                            Some(self.settings.backoff_max * 10),
                            "the exchange refuses connections from this location (HTTP 451)"
                                .to_string(),
                        ))
                    }
                    _ => {
                        tracing::warn!(conn = self.id, status, host = %self.host(), "stream handshake refused; check market.stream_url");
                        Err((None, format!("handshake refused (HTTP {status})")))
                    }
                }
            }
            Ok(Err(err)) => {
                let error = connect_error(&err);
                tracing::warn!(conn = self.id, host = %self.host(), %error, "cannot connect to the stream; check market.stream_url");
                Err((None, error))
            }
            Err(_) => {
                tracing::warn!(conn = self.id, host = %self.host(), "stream connect timed out; check market.stream_url");
                Err((None, "no answer within 15 s".to_string()))
            }
        }
    }

    /// Forwards one text frame; returns true when the server announced a shutdown.
    fn forward(&self, text: &[u8]) -> bool {
        match protocol::decode(text) {
            Ok(Frame::Trade(trade)) => {
                let _ = self.events.send(Event::Trade(self.id, trade));
            }
            Ok(Frame::Tickers(tickers)) => {
                let _ = self.events.send(Event::Tickers(self.id, tickers));
            }
            Ok(Frame::ServerShutdown) => return true,
            Ok(Frame::ControlError { id, message }) => {
                tracing::warn!(conn = self.id, ?id, %message, "exchange rejected a control message");
            }
            Ok(Frame::Reply { .. }) | Ok(Frame::Other) => {}
            Err(err) => tracing::warn!(conn = self.id, %err, "undecodable frame skipped"),
        }
        false
    }

    async fn session(&mut self, mut ws: Ws, mut pending: Pending, backoff: &mut Backoff) -> End {
        let settings = self.settings.clone();
        let mut control = tokio::time::interval(settings.control_interval);
        control.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_frame = Instant::now();
        let mut rotate_at = Instant::now() + settings.rotate_after;
        let mut got_data = false;
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    let _ = ws.close(None).await;
                    return End::Shutdown;
                }
                msg = ws.next() => {
                    last_frame = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(text))) => {
                            if !got_data {
                                got_data = true;
                                backoff.reset();
                            }
                            if self.forward(text.as_bytes()) {
                                let _ = ws.close(None).await;
                                return End::Now;
                            }
                        }
                        Some(Ok(Message::Ping(_))) => {
                            // tungstenite queued the pong; send it now rather than on the next write.
                            if let Err(err) = ws.flush().await {
                                return End::Lost(format!("cannot answer ping: {err}"));
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            return End::Lost(format!("closed by exchange: {frame:?}"));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(err)) => return End::Lost(err.to_string()),
                        None => return End::Lost("stream ended".into()),
                    }
                }
                _ = sleep_until(last_frame + settings.stall_timeout) => {
                    return End::Lost(format!("no frame for {:?}: stalled", settings.stall_timeout));
                }
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Replace(reason)) => {
                        tracing::warn!(conn = self.id, %reason, "replacing a stream connection whose data stalled");
                        match self.rotate(&mut ws, &mut control, "its data stalled").await {
                            Some((new_ws, new_pending)) => {
                                ws = new_ws;
                                pending = new_pending;
                                last_frame = Instant::now();
                                rotate_at = Instant::now() + settings.rotate_after;
                                let _ = self.events.send(Event::Replaced(self.id));
                            }
                            None => return End::Lost(format!("{reason}; its replacement failed")),
                        }
                    }
                    Some(cmd) => self.apply(cmd, Some(&mut pending)),
                    None => return End::Shutdown,
                },
                _ = control.tick(), if !pending.is_empty() => {
                    if let Some(message) = pending.next_message() {
                        if let Err(err) = ws.send(Message::text(message)).await {
                            return End::Lost(format!("cannot send control message: {err}"));
                        }
                    }
                }
                _ = sleep_until(rotate_at) => {
                    match self.rotate(&mut ws, &mut control, "before the 24-hour cut").await {
                        Some((new_ws, new_pending)) => {
                            ws = new_ws;
                            pending = new_pending;
                            last_frame = Instant::now();
                        }
                        None => tracing::warn!(conn = self.id, "rotation failed; keeping the old connection"),
                    }
                    rotate_at = Instant::now() + settings.rotate_after;
                }
            }
        }
    }

    /// Opens the replacement, subscribes it fully, then closes and drains the old socket, so
    /// every trade arrives on at least one of them. Duplicates are dropped downstream by id.
    async fn rotate(
        &mut self,
        old: &mut Ws,
        control: &mut tokio::time::Interval,
        why: &str,
    ) -> Option<(Ws, Pending)> {
        tracing::info!(
            conn = self.id,
            why,
            "replacing the connection: new one first"
        );
        let (mut new, mut pending) = self.open().await.ok()?;
        while let Some(message) = pending.next_message() {
            control.tick().await;
            new.send(Message::text(message)).await.ok()?;
        }
        let _ = old.close(None).await;
        let deadline = Instant::now() + DRAIN;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, old.next()).await {
            if let Message::Text(text) = msg {
                self.forward(text.as_bytes());
            }
        }
        Some((new, pending))
    }
}

/// A failed connection attempt in words: the DNS case named as such.
fn connect_error(err: &WsError) -> String {
    let text = err.to_string();
    if text.contains("lookup address") || text.contains("Name or service not known") {
        format!("DNS lookup failed ({text})")
    } else {
        text
    }
}
