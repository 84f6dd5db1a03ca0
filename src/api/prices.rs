//! `/prices/*`: last known prices from the exchange feed.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::ApiError;
use super::text::{SymbolList, SymbolText};
use super::ApiTags;
use super::AppState;
use crate::clock::format_millis;
use crate::domain::{Price, Symbol};

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
