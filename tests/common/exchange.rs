//! A fake Binance on 127.0.0.1:0 that behaves like ../shared/BINANCE.md: combined streams,
//! SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, pings with a pong deadline, close 1008 above
//! 5 incoming messages per second, serverShutdown, abrupt drops, silent stalls, refused
//! handshakes, and the REST endpoints the server uses (exchangeInfo, aggTrades).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use poem::web::{Data, Json, Query};
use poem::{handler, EndpointExt, IntoResponse, Route};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug)]
pub struct TradeRec {
    pub id: u64,
    pub price: String,
    pub time: i64,
}

enum Out {
    Send(Message),
    /// Written back to back and flushed once, as a busy exchange fills its socket.
    Batch(Vec<Message>),
    Drop,
    Stall,
    /// Trades stop on this connection; tickers and pings go on.
    MuteTrades,
    /// Trades and tickers stop; pings go on.
    MuteData,
}

struct Client {
    id: u64,
    streams: HashSet<String>,
    tx: mpsc::UnboundedSender<Out>,
}

/// A candle as the fake exchange keeps it: (open time, open, high, low, close).
pub type Kline = (i64, String, String, String, String);

#[derive(Default)]
pub struct State {
    pub listed: HashSet<String>,
    pub trades: HashMap<String, Vec<TradeRec>>,
    clients: Vec<Client>,
    /// When set, handshakes get this HTTP status (e.g. 503, 429, 451).
    pub refuse: Option<u16>,
    pub opened: u64,
    pub closed: u64,
    pub rate_closes: u64,
    pub pong_drops: u64,
    pub pongs: u64,
    pub refused: u64,
    pub control_messages: u64,
    /// ("open" | "close", connection id), in order.
    pub log: Vec<(&'static str, u64)>,
    /// Subscriptions take effect this long after SUBSCRIBE (network and exchange latency).
    pub subscribe_delay: Option<Duration>,
    /// Candles `/api/v3/klines` answers per symbol, as `(open time, open, high, low, close)`,
    /// whatever the interval asked for.
    pub klines: HashMap<String, Vec<Kline>>,
    /// `/api/v3/klines` calls so far.
    pub kline_calls: u64,
    /// How long `/api/v3/klines` takes to answer.
    pub kline_delay: Option<Duration>,
    /// When set, `/api/v3/klines` answers with this HTTP status.
    pub klines_status: Option<u16>,
    /// A listed symbol's status other than `TRADING` (`BREAK`, `HALT`).
    pub statuses: HashMap<String, String>,
    /// `/api/v3/exchangeInfo` calls so far, and when set the HTTP status it answers with.
    pub info_calls: u64,
    pub info_status: Option<u16>,
    /// `/api/v3/aggTrades` calls so far.
    pub agg_calls: u64,
}

impl State {
    /// Appends the symbol's next trade to its log; ids run on from 1000 without gaps.
    fn record(&mut self, symbol: &str, price: &str, time: i64) -> TradeRec {
        let list = self.trades.entry(symbol.to_string()).or_default();
        let rec = TradeRec {
            id: list.last().map(|t| t.id + 1).unwrap_or(1000),
            price: price.to_string(),
            time,
        };
        list.push(rec.clone());
        rec
    }

    /// Streams subscribed on any live connection.
    pub fn subscribed(&self) -> HashSet<String> {
        self.clients
            .iter()
            .flat_map(|c| c.streams.iter().cloned())
            .collect()
    }

    /// Streams on each live connection.
    pub fn per_connection(&self) -> Vec<usize> {
        self.clients.iter().map(|c| c.streams.len()).collect()
    }

    pub fn live(&self) -> usize {
        self.clients.len()
    }
}

struct Inner {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    ping_every: Duration,
    pong_timeout: Duration,
}

impl Inner {
    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }
}

pub struct FakeExchange {
    pub ws_url: String,
    pub rest_url: String,
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The combined-stream name of a symbol's aggregate trades, e.g. `btcusdt@aggTrade`.
fn stream_of(symbol: &str) -> String {
    format!("{}@aggTrade", symbol.to_lowercase())
}

pub fn trade_frame(symbol: &str, rec: &TradeRec) -> String {
    json!({
        "stream": stream_of(symbol),
        "data": {"e": "aggTrade", "E": rec.time, "s": symbol, "a": rec.id, "p": rec.price,
                 "q": "1.00000000", "f": rec.id, "l": rec.id, "T": rec.time, "m": false, "M": true}
    })
    .to_string()
}

impl FakeExchange {
    pub async fn start(listed: &[&str]) -> Self {
        Self::start_with(listed, Duration::from_secs(1), Duration::from_secs(3)).await
    }

    pub async fn start_with(listed: &[&str], ping_every: Duration, pong_timeout: Duration) -> Self {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                listed: listed.iter().map(|s| s.to_string()).collect(),
                ..State::default()
            }),
            changed: watch::channel(0).0,
            ping_every,
            pong_timeout,
        });
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!("ws://{}", ws.local_addr().unwrap());
        tokio::spawn(accept_loop(ws, inner.clone()));
        let rest = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rest_url = format!("http://{}", rest.local_addr().unwrap());
        let app = Route::new()
            .at("/api/v3/exchangeInfo", exchange_info)
            .at("/api/v3/aggTrades", agg_trades)
            .at("/api/v3/klines", klines)
            .data(inner.clone());
        let acceptor = poem::listener::TcpAcceptor::from_tokio(rest).unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        Self {
            ws_url,
            rest_url,
            inner,
        }
    }

    /// Settings that point a server at this exchange, with fast reconnects for tests.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PRICEALERT_MARKET__STREAM_URL".into(), self.ws_url.clone()),
            ("PRICEALERT_MARKET__REST_URL".into(), self.rest_url.clone()),
            ("PRICEALERT_MARKET__RECONNECT_INITIAL".into(), "50ms".into()),
            ("PRICEALERT_MARKET__RECONNECT_MAX".into(), "200ms".into()),
        ]
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.inner.state.lock().unwrap());
        self.inner.bump();
        out
    }

    /// Waits (up to `limit`) until `ready` holds; panics with `what` otherwise.
    pub async fn wait_for(&self, what: &str, limit: Duration, ready: impl Fn(&State) -> bool) {
        let mut rx = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if ready(&self.inner.state.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!("timed out waiting for: {what}");
            }
        }
    }

    pub async fn wait_subscribed(&self, symbol: &str) {
        let stream = stream_of(symbol);
        self.wait_for(
            &format!("{stream} subscribed"),
            Duration::from_secs(5),
            |s| s.subscribed().contains(&stream),
        )
        .await;
    }

    /// Records a trade and sends it to every subscriber. Returns its aggregate id.
    pub fn trade(&self, symbol: &str, price: &str) -> u64 {
        self.trade_at(symbol, price, now_ms())
    }

    /// Like `trade`, at a chosen trade time (milliseconds since the epoch): what a repeating
    /// alert's cooldown is measured in.
    pub fn trade_at(&self, symbol: &str, price: &str, time: i64) -> u64 {
        let mut state = self.inner.state.lock().unwrap();
        let rec = state.record(symbol, price, time);
        let stream = stream_of(symbol);
        let frame = trade_frame(symbol, &rec);
        for c in state.clients.iter().filter(|c| c.streams.contains(&stream)) {
            let _ = c.tx.send(Out::Send(Message::text(frame.clone())));
        }
        rec.id
    }

    /// Records trades (symbol, price) and sends each connection its share in one write.
    pub fn trades(&self, batch: &[(&str, &str)]) {
        let mut state = self.inner.state.lock().unwrap();
        let time = now_ms();
        let mut frames = Vec::with_capacity(batch.len());
        for (symbol, price) in batch {
            let rec = state.record(symbol, price, time);
            frames.push((stream_of(symbol), trade_frame(symbol, &rec)));
        }
        for c in &state.clients {
            let mine: Vec<Message> = frames
                .iter()
                .filter(|(stream, _)| c.streams.contains(stream))
                .map(|(_, frame)| Message::text(frame.clone()))
                .collect();
            if !mine.is_empty() {
                let _ = c.tx.send(Out::Batch(mine));
            }
        }
    }

    /// Sends an already recorded trade again (a duplicate delivery).
    pub fn resend(&self, symbol: &str, id: u64) {
        let state = self.inner.state.lock().unwrap();
        let rec = state.trades[symbol]
            .iter()
            .find(|t| t.id == id)
            .unwrap()
            .clone();
        let stream = stream_of(symbol);
        for c in state.clients.iter().filter(|c| c.streams.contains(&stream)) {
            let _ =
                c.tx.send(Out::Send(Message::text(trade_frame(symbol, &rec))));
        }
    }

    pub fn tickers(&self, prices: &[(&str, &str)]) {
        self.tickers_at(prices, now_ms());
    }

    /// Like `tickers`, with event time `time`.
    pub fn tickers_at(&self, prices: &[(&str, &str)], time: i64) {
        let data: Vec<Value> = prices
            .iter()
            .map(|(s, p)| json!({"e": "24hrMiniTicker", "E": time, "s": s, "c": p, "o": p, "h": p, "l": p, "v": "1", "q": "1"}))
            .collect();
        let frame = json!({"stream": "!miniTicker@arr", "data": data}).to_string();
        let state = self.inner.state.lock().unwrap();
        for c in state
            .clients
            .iter()
            .filter(|c| c.streams.contains("!miniTicker@arr"))
        {
            let _ = c.tx.send(Out::Send(Message::text(frame.clone())));
        }
    }

    fn to_all(&self, out: impl Fn() -> Out) {
        let state = self.inner.state.lock().unwrap();
        for c in &state.clients {
            let _ = c.tx.send(out());
        }
    }

    /// Closes every connection without a close frame.
    pub fn drop_all(&self) {
        self.to_all(|| Out::Drop);
    }

    /// Every connection goes silent: no data, no pings; sockets stay open.
    pub fn stall_all(&self) {
        self.to_all(|| Out::Stall);
    }

    /// Every open connection stops carrying trades but keeps sending tickers and pings: the
    /// "connected but no data" failure. Connections opened later are not affected.
    pub fn mute_trades_all(&self) {
        self.to_all(|| Out::MuteTrades);
    }

    /// Every open connection stops carrying any data but keeps pinging.
    pub fn mute_data_all(&self) {
        self.to_all(|| Out::MuteData);
    }

    pub fn server_shutdown(&self) {
        let frame =
            json!({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": now_ms()}})
                .to_string();
        self.to_all(|| Out::Send(Message::text(frame.clone())));
    }

    pub fn state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.state.lock().unwrap())
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    let mut next_id = 0u64;
    while let Ok((tcp, _)) = listener.accept().await {
        // Like a market-data server: frames leave at once instead of waiting on Nagle.
        let _ = tcp.set_nodelay(true);
        next_id += 1;
        tokio::spawn(serve_client(tcp, next_id, inner.clone()));
    }
}

// The handshake callback's error type is fixed by tungstenite.
#[allow(clippy::result_large_err)]
async fn serve_client(tcp: tokio::net::TcpStream, id: u64, inner: Arc<Inner>) {
    let mut path = String::new();
    let refuse = inner.state.lock().unwrap().refuse;
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        path = req.uri().to_string();
        match refuse {
            Some(status) => {
                let mut err = ErrorResponse::new(Some("refused".to_string()));
                *err.status_mut() = status.try_into().unwrap();
                err.headers_mut()
                    .insert("retry-after", "1".parse().unwrap());
                Err(err)
            }
            None => Ok(resp),
        }
    };
    let ws = match tokio_tungstenite::accept_hdr_async(tcp, callback).await {
        Ok(ws) => ws,
        Err(_) => {
            inner.state.lock().unwrap().refused += 1;
            inner.bump();
            return;
        }
    };
    let streams: HashSet<String> = path
        .split_once("streams=")
        .map(|(_, list)| {
            list.split('/')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut state = inner.state.lock().unwrap();
        state.opened += 1;
        state.log.push(("open", id));
        state.clients.push(Client { id, streams, tx });
    }
    inner.bump();
    let (mut sink, mut source) = ws.split();
    let mut ping = tokio::time::interval(inner.ping_every);
    let mut stalled = false;
    let (mut no_trades, mut no_data) = (false, false);
    let mut unanswered: Option<Instant> = None;
    let mut recent: VecDeque<Instant> = VecDeque::new();
    let graceful = loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Send(msg)) if !stalled && !muted(&msg, no_trades, no_data) => { if sink.send(msg).await.is_err() { break false; } }
                Some(Out::Send(_)) => {}
                Some(Out::MuteTrades) => no_trades = true,
                Some(Out::MuteData) => no_data = true,
                Some(Out::Batch(_)) if no_trades || no_data => {}
                Some(Out::Batch(batch)) if !stalled => {
                    let mut all = futures_util::stream::iter(batch.into_iter().map(Ok));
                    if sink.send_all(&mut all).await.is_err() { break false; }
                }
                Some(Out::Batch(_)) => {}
                Some(Out::Stall) => stalled = true,
                Some(Out::Drop) | None => break false,
            },
            _ = ping.tick(), if !stalled => {
                if unanswered.is_some_and(|t| t.elapsed() > inner.pong_timeout) {
                    inner.state.lock().unwrap().pong_drops += 1;
                    break false;
                }
                if unanswered.is_none() {
                    unanswered = Some(Instant::now());
                }
                if sink.send(Message::Ping(b"fake".to_vec().into())).await.is_err() { break false; }
            }
            incoming = source.next() => {
                let Some(Ok(msg)) = incoming else { break false };
                if matches!(msg, Message::Close(_)) { break true; }
                let now = Instant::now();
                recent.push_back(now);
                while recent.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1)) {
                    recent.pop_front();
                }
                if recent.len() > 5 {
                    inner.state.lock().unwrap().rate_closes += 1;
                    let _ = sink.send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Policy,
                        reason: "Too many requests".into(),
                    }))).await;
                    break true;
                }
                match msg {
                    Message::Pong(_) => {
                        unanswered = None;
                        inner.state.lock().unwrap().pongs += 1;
                        inner.bump();
                    }
                    Message::Text(text) => {
                        let reply = control(&inner, id, text.as_str());
                        if sink.send(Message::text(reply)).await.is_err() { break false; }
                    }
                    _ => {}
                }
            }
        }
    };
    let _ = graceful;
    let mut state = inner.state.lock().unwrap();
    state.clients.retain(|c| c.id != id);
    state.closed += 1;
    state.log.push(("close", id));
    drop(state);
    inner.bump();
}

fn control(inner: &Arc<Inner>, id: u64, text: &str) -> String {
    let Ok(req) = serde_json::from_str::<Value>(text) else {
        return json!({"error": {"code": 3, "msg": "Invalid JSON"}, "id": null}).to_string();
    };
    let req_id = req.get("id").cloned().unwrap_or(Value::Null);
    let params: Vec<String> = req
        .get("params")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut state = inner.state.lock().unwrap();
    state.control_messages += 1;
    let subscribe_delay = state.subscribe_delay;
    let Some(client) = state.clients.iter_mut().find(|c| c.id == id) else {
        return String::new();
    };
    let reply = match req.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") => {
            match subscribe_delay {
                Some(delay) => {
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let mut state = inner.state.lock().unwrap();
                        if let Some(c) = state.clients.iter_mut().find(|c| c.id == id) {
                            c.streams.extend(params);
                        }
                        drop(state);
                        inner.bump();
                    });
                }
                None => client.streams.extend(params),
            }
            json!({"result": null, "id": req_id})
        }
        Some("UNSUBSCRIBE") => {
            for p in &params {
                client.streams.remove(p);
            }
            json!({"result": null, "id": req_id})
        }
        Some("LIST_SUBSCRIPTIONS") => {
            let mut list: Vec<&String> = client.streams.iter().collect();
            list.sort();
            json!({"result": list, "id": req_id})
        }
        _ => json!({"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": req_id}),
    };
    drop(state);
    inner.bump();
    reply.to_string()
}

/// Whether a muted connection holds `msg` back: trades when trades are muted, every data frame
/// (but control replies) when all data is.
fn muted(msg: &Message, no_trades: bool, no_data: bool) -> bool {
    let Message::Text(text) = msg else {
        return false;
    };
    let data = text.as_str().contains("\"stream\"");
    (no_data && data) || (no_trades && text.as_str().contains("@aggTrade"))
}

#[handler]
fn exchange_info(inner: Data<&Arc<Inner>>) -> poem::Response {
    let mut state = inner.state.lock().unwrap();
    state.info_calls += 1;
    let failing = state.info_status;
    let symbols: Vec<Value> = state
        .listed
        .iter()
        .map(|s| {
            let status = state.statuses.get(s).map_or("TRADING", String::as_str);
            json!({"symbol": s, "status": status, "baseAsset": "X", "quoteAsset": "Y"})
        })
        .collect();
    drop(state);
    inner.bump();
    match failing {
        Some(code) => poem::Response::builder()
            .status(poem::http::StatusCode::from_u16(code).unwrap())
            .body(r#"{"code":-1003,"msg":"Way too many requests."}"#),
        None => Json(json!({ "symbols": symbols })).into_response(),
    }
}

#[derive(Deserialize)]
struct KlineQuery {
    symbol: String,
    interval: String,
    limit: Option<usize>,
}

#[handler]
async fn klines(inner: Data<&Arc<Inner>>, q: Query<KlineQuery>) -> poem::Response {
    let delay = {
        let mut state = inner.state.lock().unwrap();
        state.kline_calls += 1;
        state.kline_delay
    };
    inner.bump();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let state = inner.state.lock().unwrap();
    let bad = |code: i64, msg: &str| {
        (
            poem::http::StatusCode::BAD_REQUEST,
            Json(json!({"code": code, "msg": msg})),
        )
            .into_response()
    };
    if let Some(status) = state.klines_status {
        return poem::http::StatusCode::from_u16(status)
            .unwrap()
            .into_response();
    }
    if !state.listed.contains(&q.symbol) {
        return bad(-1121, "Invalid symbol.");
    }
    if !["1m", "5m", "15m", "1h", "4h", "1d"].contains(&q.interval.as_str()) {
        return bad(-1120, "Invalid interval.");
    }
    let all = state.klines.get(&q.symbol).cloned().unwrap_or_default();
    let limit = q.limit.unwrap_or(500).min(1000);
    let rows: Vec<Value> = all[all.len().saturating_sub(limit)..]
        .iter()
        .map(|(t, o, h, l, c)| {
            json!([
                t,
                o,
                h,
                l,
                c,
                "1.0",
                t + 59_999,
                "1.0",
                1,
                "0.5",
                "0.5",
                "0"
            ])
        })
        .collect();
    Json(Value::Array(rows)).into_response()
}

#[derive(Deserialize)]
struct AggQuery {
    symbol: String,
    #[serde(rename = "fromId")]
    from_id: Option<u64>,
    #[serde(rename = "startTime")]
    start_time: Option<i64>,
    #[serde(rename = "endTime")]
    end_time: Option<i64>,
    limit: Option<usize>,
}

#[handler]
fn agg_trades(inner: Data<&Arc<Inner>>, q: Query<AggQuery>) -> poem::Response {
    let mut state = inner.state.lock().unwrap();
    state.agg_calls += 1;
    inner.bump();
    if !state.listed.contains(&q.symbol) {
        return (
            poem::http::StatusCode::BAD_REQUEST,
            Json(json!({"code": -1121, "msg": "Invalid symbol."})),
        )
            .into_response();
    }
    let rows: Vec<Value> = state
        .trades
        .get(&q.symbol)
        .map(|list| {
            list.iter()
                .filter(|t| q.from_id.is_none_or(|id| t.id >= id))
                .filter(|t| q.start_time.is_none_or(|s| t.time >= s))
                .filter(|t| q.end_time.is_none_or(|e| t.time <= e))
                .take(q.limit.unwrap_or(500).min(1000))
                .map(|t| json!({"a": t.id, "p": t.price, "q": "1.00000000", "f": t.id, "l": t.id, "T": t.time, "m": false, "M": true}))
                .collect()
        })
        .unwrap_or_default();
    Json(Value::Array(rows)).into_response()
}
