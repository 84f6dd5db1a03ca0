//! `/prices/*`: last known prices from the exchange feed.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::error::ApiError;
use super::text::{SymbolList, SymbolText};
use super::ApiTags;
use super::AppState;
use crate::clock::format_millis;
use crate::domain::{Price, Symbol};
use crate::market::{HistoryError, Interval};

pub struct PricesApi;

#[derive(Debug, Object)]
pub struct PriceOut {
    pub symbol: String,
    /// Exact decimal, as the exchange sent it.
    pub price: String,
    /// Time of the trade or ticker that set it, RFC 3339 UTC.
    pub updated_at: String,
}

#[derive(Debug, Object)]
pub struct PriceList {
    pub results: Vec<PriceOut>,
    pub count: usize,
}

#[derive(ApiResponse)]
pub enum PriceFound {
    #[oai(status = 200)]
    Ok(Json<PriceOut>),
}

/// One candle of a symbol's price history; prices are exact decimals as the exchange sent them.
#[derive(Debug, Object)]
pub struct PointOut {
    /// The candle's start, RFC 3339 UTC.
    pub t: String,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
}

#[derive(Debug, Object)]
pub struct HistoryOut {
    pub symbol: String,
    pub interval: IntervalParam,
    /// Oldest first; the newest candle follows the live price.
    pub points: Vec<PointOut>,
}

/// A candle's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum IntervalParam {
    #[oai(rename = "1m")]
    M1,
    #[oai(rename = "5m")]
    M5,
    #[oai(rename = "15m")]
    M15,
    #[oai(rename = "1h")]
    H1,
    #[oai(rename = "4h")]
    H4,
    #[oai(rename = "1d")]
    D1,
}

impl IntervalParam {
    fn interval(self) -> Interval {
        match self {
            IntervalParam::M1 => Interval::M1,
            IntervalParam::M5 => Interval::M5,
            IntervalParam::M15 => Interval::M15,
            IntervalParam::H1 => Interval::H1,
            IntervalParam::H4 => Interval::H4,
            IntervalParam::D1 => Interval::D1,
        }
    }
}

#[derive(ApiResponse)]
pub enum HistoryFound {
    /// `Age` (seconds) is set when the exchange could not be reached and an earlier answer is
    /// served.
    #[oai(status = 200)]
    Ok(Json<HistoryOut>, #[oai(header = "Age")] Option<u64>),
}

#[derive(ApiResponse)]
pub enum PricesListed {
    #[oai(status = 200)]
    Ok(Json<PriceList>),
}

fn out(symbol: &Symbol, price: Price, time: i64) -> PriceOut {
    PriceOut {
        symbol: symbol.to_string(),
        price: price.to_string(),
        updated_at: format_millis(time),
    }
}

#[OpenApi(tag = "ApiTags::Prices")]
impl PricesApi {
    /// Every symbol with a known price, sorted by symbol.
    #[oai(path = "/prices", method = "get", operation_id = "list_prices")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        /// Comma-separated symbols to keep, e.g. `BTCUSDT,ETHUSDT` (any case).
        symbols: Query<Option<SymbolList>>,
    ) -> Result<PricesListed, ApiError> {
        let only = symbols.0.map(|list| list.symbols());
        let results: Vec<PriceOut> = state
            .prices
            .all(only.as_ref())
            .iter()
            .map(|(s, p, t)| out(s, *p, *t))
            .collect();
        Ok(PricesListed::Ok(Json(PriceList {
            count: results.len(),
            results,
        })))
    }

    /// A symbol's price history as candles, oldest first, for charts.
    ///
    /// From the exchange, cached for a fifth of the interval. 404 for a symbol the exchange
    /// does not list (or when the server does not follow the exchange); 503 (with `Retry-After`) when the exchange cannot be reached and no
    /// earlier answer is kept; an earlier answer is served with `Age` while it is unreachable.
    #[oai(
        path = "/prices/:symbol/history",
        method = "get",
        operation_id = "price_history"
    )]
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        symbol: Path<SymbolText>,
        /// Candle length (default `5m`).
        interval: Query<Option<IntervalParam>>,
        /// How many candles, up to 1000 (default 288: a day of `5m`).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u16>>,
    ) -> Result<HistoryFound, ApiError> {
        let symbol = Symbol::parse(symbol.0.as_str())
            .map_err(|m| ApiError::bad_request(format!("symbol {m}")))?;
        let interval = interval.0.unwrap_or(IntervalParam::M5);
        let served = state
            .history
            .candles(&symbol, interval.interval(), limit.0.unwrap_or(288))
            .await
            .map_err(|err| match err {
                // Not followed at all, as `/prices/{symbol}` with no price: nothing to find.
                HistoryError::UnknownSymbol(_) | HistoryError::Disabled => {
                    ApiError::not_found(err.to_string())
                }
                HistoryError::Unavailable(_) => ApiError::unavailable(err.to_string(), 30),
            })?;
        let points = served
            .candles
            .iter()
            .map(|c| PointOut {
                t: format_millis(c.t),
                open: c.open.to_string(),
                high: c.high.to_string(),
                low: c.low.to_string(),
                close: c.close.to_string(),
            })
            .collect();
        Ok(HistoryFound::Ok(
            Json(HistoryOut {
                symbol: symbol.to_string(),
                interval,
                points,
            }),
            served.stale_for.map(|age| age.as_secs()),
        ))
    }

    /// The last known price of one symbol; 404 when none is known, 503 (with `Retry-After`)
    /// while the exchange stream is not connected and no price is known yet.
    #[oai(path = "/prices/:symbol", method = "get", operation_id = "get_price")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        symbol: Path<SymbolText>,
    ) -> Result<PriceFound, ApiError> {
        let symbol = Symbol::parse(symbol.0.as_str())
            .map_err(|m| ApiError::bad_request(format!("symbol {m}")))?;
        match state.prices.get(&symbol) {
            Some((price, time)) => Ok(PriceFound::Ok(Json(out(&symbol, price, time)))),
            // No price because the exchange cannot be reached: that is not the symbol's fault.
            None if state.config.market.enabled && state.metrics.live_connections() == 0 => {
                Err(ApiError::unavailable(
                    format!(
                        "no price for {symbol} yet: the exchange stream is not connected{}",
                        state
                            .metrics
                            .stream_failure()
                            .map(|f| format!(" ({}: {})", f.host, f.last_error))
                            .unwrap_or_default()
                    ),
                    5,
                ))
            }
            None => Err(ApiError::not_found(format!(
                "unknown symbol {symbol}: no price known"
            ))),
        }
    }
}
