//! Counters and gauges for `GET /metrics` (Prometheus text format), kept with atomics and two
//! small maps; no metrics library needed for this handful.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::domain::{ChannelKind, DeliveryStatus};

/// Upper bounds of the request latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Clone, Copy, Default)]
struct Connection {
    connected: bool,
    /// Milliseconds since the epoch of the last trade received, 0 if none yet.
    last_trade: i64,
}

/// SMTP delivery as last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpState {
    NotConfigured = 0,
    Ok = 1,
    Failing = 2,
}

pub struct Metrics {
    pub fires: AtomicU64,
    pub reconnects: AtomicU64,
    pub trades_recovered: AtomicU64,
    /// Connections replaced because their data stalled while they stayed up.
    pub stalls_replaced: AtomicU64,
    pub notifications_sent: AtomicU64,
    pub notifications_failed: AtomicU64,
    smtp: AtomicU8,
    /// Delivery outcomes by channel kind and status (a fixed 6 × 3).
    deliveries: [[AtomicU64; 3]; 6],
    connections: Mutex<BTreeMap<usize, Connection>>,
    /// Why the exchange cannot be reached, while no stream connection is up.
    stream_failure: Mutex<Option<StreamFailure>>,
    /// Keyed by labels from fixed sets only (route, method, status), so the series are bounded.
    http: Mutex<BTreeMap<(&'static str, &'static str, u16), Histogram>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            fires: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            trades_recovered: AtomicU64::new(0),
            stalls_replaced: AtomicU64::new(0),
            notifications_sent: AtomicU64::new(0),
            notifications_failed: AtomicU64::new(0),
            smtp: AtomicU8::new(SmtpState::NotConfigured as u8),
            deliveries: Default::default(),
            connections: Mutex::new(BTreeMap::new()),
            stream_failure: Mutex::new(None),
            http: Mutex::new(BTreeMap::new()),
        }
    }
}

fn status_index(status: DeliveryStatus) -> usize {
    match status {
        DeliveryStatus::Pending => 0,
        DeliveryStatus::Sent => 1,
        DeliveryStatus::Failed => 2,
    }
}

/// Values read at scrape time from elsewhere (the matcher, the outbox table).
pub struct Snapshot {
    pub armed: usize,
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub now_ms: i64,
}

/// A failing exchange stream: the host tried, the latest error, since when it has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    pub host: String,
    pub last_error: String,
    /// Unix milliseconds of the first failure in this run of failures.
    pub since_ms: i64,
}

impl Metrics {
    /// A connection attempt failed; the first failure of a run sets `since`.
    pub fn stream_failed(&self, host: &str, error: &str, now_ms: i64) {
        if let Ok(mut failure) = self.stream_failure.lock() {
            let since_ms = failure.as_ref().map_or(now_ms, |f| f.since_ms);
            *failure = Some(StreamFailure {
                host: host.to_string(),
                last_error: error.to_string(),
                since_ms,
            });
        }
    }

    /// Set while no stream connection is up and the last attempt failed.
    pub fn stream_failure(&self) -> Option<StreamFailure> {
        if self.live_connections() > 0 {
            return None;
        }
        self.stream_failure.lock().ok().and_then(|f| f.clone())
    }

    pub fn set_smtp(&self, state: SmtpState) {
        self.smtp.store(state as u8, Ordering::Relaxed);
    }

    pub fn smtp(&self) -> SmtpState {
        match self.smtp.load(Ordering::Relaxed) {
            1 => SmtpState::Ok,
            2 => SmtpState::Failing,
            _ => SmtpState::NotConfigured,
        }
    }

    /// A delivery attempt ended with `status` (pending: to be retried).
    pub fn delivery(&self, kind: ChannelKind, status: DeliveryStatus) {
        let k = ChannelKind::ALL
            .iter()
            .position(|x| *x == kind)
            .unwrap_or(0);
        self.deliveries[k][status_index(status)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection(&self, id: usize, connected: bool) {
        if let Ok(mut conns) = self.connections.lock() {
            let entry = conns.entry(id).or_default();
            if connected && entry.last_trade != 0 {
                self.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            entry.connected = connected;
            if connected {
                if let Ok(mut failure) = self.stream_failure.lock() {
                    *failure = None;
                }
            }
            if connected && entry.last_trade == 0 {
                entry.last_trade = -1;
            }
        }
    }

    pub fn trade(&self, id: usize, time_ms: i64) {
        if let Ok(mut conns) = self.connections.lock() {
            conns.entry(id).or_default().last_trade = time_ms;
        }
    }

    /// Stream connections currently up.
    pub fn live_connections(&self) -> usize {
        self.connections
            .lock()
            .map(|c| c.values().filter(|c| c.connected).count())
            .unwrap_or(0)
    }

    pub fn request(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let secs = elapsed.as_secs_f64();
        if let Ok(mut http) = self.http.lock() {
            let h = http.entry((route, method, status)).or_default();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    pub fn render(&self, snap: &Snapshot) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let _ = writeln!(
            out,
            "# HELP pricealert_armed_alerts Alerts waiting for their price.\n\
             # TYPE pricealert_armed_alerts gauge\npricealert_armed_alerts {}",
            snap.armed
        );
        counter(
            &mut out,
            "pricealert_fires_total",
            "Alerts fired since start.",
            self.fires.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP pricealert_notifications Notifications in the outbox by status.\n\
             # TYPE pricealert_notifications gauge\n\
             pricealert_notifications{{status=\"pending\"}} {}\n\
             pricealert_notifications{{status=\"sent\"}} {}\n\
             pricealert_notifications{{status=\"failed\"}} {}",
            snap.pending, snap.sent, snap.failed
        );
        counter(
            &mut out,
            "pricealert_notifications_sent_total",
            "Emails delivered since start.",
            self.notifications_sent.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "pricealert_notifications_failed_total",
            "Notifications marked failed since start.",
            self.notifications_failed.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP pricealert_delivery_attempts_total Delivery attempts since start by channel kind and outcome (pending: to be retried).\n\
             # TYPE pricealert_delivery_attempts_total counter"
        );
        for (k, kind) in ChannelKind::ALL.iter().enumerate() {
            for status in [
                DeliveryStatus::Sent,
                DeliveryStatus::Pending,
                DeliveryStatus::Failed,
            ] {
                let _ = writeln!(
                    out,
                    "pricealert_delivery_attempts_total{{kind=\"{kind}\",status=\"{status}\"}} {}",
                    self.deliveries[k][status_index(status)].load(Ordering::Relaxed)
                );
            }
        }
        let conns = self
            .connections
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "# HELP pricealert_stream_connections Exchange stream connections that are up.\n\
             # TYPE pricealert_stream_connections gauge\npricealert_stream_connections {}",
            conns.values().filter(|c| c.connected).count()
        );
        counter(
            &mut out,
            "pricealert_stream_reconnects_total",
            "Stream reconnections since start.",
            self.reconnects.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "pricealert_trades_recovered_total",
            "Trades fetched back from the REST API after gaps.",
            self.trades_recovered.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "pricealert_stream_stalls_replaced_total",
            "Connections replaced because their data stopped while they answered pings.",
            self.stalls_replaced.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP pricealert_last_trade_age_seconds Time since the last trade on each connection.\n\
             # TYPE pricealert_last_trade_age_seconds gauge"
        );
        for (id, c) in conns.iter().filter(|(_, c)| c.last_trade > 0) {
            let age = (snap.now_ms - c.last_trade).max(0) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "pricealert_last_trade_age_seconds{{connection=\"{id}\"}} {age}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP pricealert_http_request_duration_seconds HTTP requests by route, method and status.\n\
             # TYPE pricealert_http_request_duration_seconds histogram"
        );
        if let Ok(http) = self.http.lock() {
            for ((route, method, status), h) in http.iter() {
                let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
                for (i, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "pricealert_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "pricealert_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                     pricealert_http_request_duration_seconds_sum{{{labels}}} {}\n\
                     pricealert_http_request_duration_seconds_count{{{labels}}} {}",
                    h.count, h.sum, h.count
                );
            }
        }
        out
    }
}
