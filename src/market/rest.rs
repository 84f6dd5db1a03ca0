//! The exchange's REST API: the symbol list and aggregate trades for filling gaps.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::prices::TRADING;
use super::protocol::Trade;
use crate::domain::{Price, Symbol};

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("rate limited by the exchange (HTTP {status}); retry after {retry_after:?}")]
    RateLimited { status: u16, retry_after: Duration },
    #[error("the exchange refuses this location (HTTP 451): set market.rest_url and market.stream_url to an endpoint you may use, e.g. https://api.binance.us and wss://stream.binance.us:9443")]
    Restricted,
    #[error("exchange answered HTTP {0}")]
    Status(u16),
    #[error("exchange unreachable: {0}")]
    Transport(String),
    #[error("unexpected answer from the exchange: {0}")]
    Decode(String),
}

/// One candle: the first, highest, lowest and last trade price in `[t, t + interval)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candle {
    /// Its start, milliseconds since the epoch.
    pub t: i64,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
}

#[derive(Clone)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
}

#[derive(Deserialize)]
struct ExchangeInfo {
    symbols: Vec<SymbolInfo>,
}

#[derive(Deserialize)]
struct SymbolInfo {
    symbol: String,
    /// `TRADING`, or `BREAK`, `HALT`, `END_OF_DAY`, ... when it does not trade now.
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct AggTrade {
    a: u64,
    p: String,
    #[serde(rename = "T")]
    t: i64,
}

pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(60))
}

impl Rest {
    pub fn new(base: &str) -> Result<Self, RestError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("pricealert/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RestError::Transport(e.to_string()))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, RestError> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .map_err(|e| RestError::Transport(e.to_string()))?;
        match resp.status().as_u16() {
            200 => Ok(resp),
            status @ (418 | 429) => Err(RestError::RateLimited {
                status,
                retry_after: retry_after(resp.headers()),
            }),
            451 => Err(RestError::Restricted),
            status => Err(RestError::Status(status)),
        }
    }

    /// Every listed spot symbol (any trading status), skipping those we cannot alert on.
    /// Every listed symbol with its status (`TRADING` when the exchange leaves it out).
    pub async fn symbols(&self) -> Result<HashMap<Symbol, String>, RestError> {
        let info: ExchangeInfo = self
            .get("/api/v3/exchangeInfo", &[])
            .await?
            .json()
            .await
            .map_err(|e| RestError::Decode(e.to_string()))?;
        Ok(info
            .symbols
            .into_iter()
            .filter_map(|s| {
                let status = s.status.unwrap_or_else(|| TRADING.to_string());
                Some((Symbol::parse(&s.symbol).ok()?, status))
            })
            .collect())
    }

    /// The last `limit` candles of `symbol` (`interval` as the exchange spells it), oldest
    /// first. Each row is `[open time, "open", "high", "low", "close", ...]`.
    pub async fn klines(
        &self,
        symbol: &Symbol,
        interval: &str,
        limit: u16,
    ) -> Result<Vec<Candle>, RestError> {
        let rows: Vec<Vec<serde_json::Value>> = self
            .get(
                "/api/v3/klines",
                &[
                    ("symbol", symbol.to_string()),
                    ("interval", interval.to_string()),
                    ("limit", limit.to_string()),
                ],
            )
            .await?
            .json()
            .await
            .map_err(|e| RestError::Decode(e.to_string()))?;
        rows.iter()
            .map(|row| {
                let price = |i: usize| {
                    row.get(i)
                        .and_then(|v| v.as_str())
                        .and_then(|s| Price::parse(s).ok())
                        .ok_or_else(|| RestError::Decode(format!("kline field {i} in {row:?}")))
                };
                Ok(Candle {
                    t: row
                        .first()
                        .and_then(|v| v.as_i64())
                        .ok_or_else(|| RestError::Decode(format!("kline time in {row:?}")))?,
                    open: price(1)?,
                    high: price(2)?,
                    low: price(3)?,
                    close: price(4)?,
                })
            })
            .collect()
    }

    /// Up to `limit` aggregate trades of `symbol` from `start_ms` on (within an hour, as the
    /// exchange allows), oldest first.
    pub async fn agg_trades_since(
        &self,
        symbol: &Symbol,
        start_ms: i64,
        limit: u32,
    ) -> Result<Vec<Trade>, RestError> {
        let end_ms = start_ms + 3_600_000 - 1;
        self.agg_trades_query(
            symbol,
            &[
                ("symbol", symbol.to_string()),
                ("startTime", start_ms.to_string()),
                ("endTime", end_ms.to_string()),
                ("limit", limit.to_string()),
            ],
        )
        .await
    }

    /// Up to `limit` aggregate trades of `symbol` from `from_id` on, oldest first.
    pub async fn agg_trades(
        &self,
        symbol: &Symbol,
        from_id: u64,
        limit: u32,
    ) -> Result<Vec<Trade>, RestError> {
        self.agg_trades_query(
            symbol,
            &[
                ("symbol", symbol.to_string()),
                ("fromId", from_id.to_string()),
                ("limit", limit.to_string()),
            ],
        )
        .await
    }

    async fn agg_trades_query(
        &self,
        symbol: &Symbol,
        query: &[(&str, String)],
    ) -> Result<Vec<Trade>, RestError> {
        let rows: Vec<AggTrade> = self
            .get("/api/v3/aggTrades", query)
            .await?
            .json()
            .await
            .map_err(|e| RestError::Decode(e.to_string()))?;
        rows.into_iter()
            .map(|row| {
                Ok(Trade {
                    symbol: symbol.clone(),
                    agg_id: row.a,
                    price: Price::parse(&row.p)
                        .map_err(|e| RestError::Decode(format!("price {e}")))?,
                    time: row.t,
                })
            })
            .collect()
    }
}
