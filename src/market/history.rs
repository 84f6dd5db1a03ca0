//! Price history for charts: the exchange's candles (klines), cached per (symbol, interval,
//! limit) for a fifth of the interval, with concurrent requests for one key collapsed into one
//! exchange call. The last good answer is kept for a day and served, with its age, while the
//! exchange cannot be reached; the newest candle is brought up to the live price.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;

use super::rest::{Candle, Rest, RestError};
use super::Prices;
use crate::domain::{Price, Symbol};

/// Candle lengths the exchange offers that a chart needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interval {
    M1,
    M5,
    M15,
    H1,
    H4,
    D1,
}

impl Interval {
    pub const ALL: [Interval; 6] = [
        Interval::M1,
        Interval::M5,
        Interval::M15,
        Interval::H1,
        Interval::H4,
        Interval::D1,
    ];

    /// As the exchange (and the API) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::H1 => "1h",
            Interval::H4 => "4h",
            Interval::D1 => "1d",
        }
    }

    pub fn millis(self) -> i64 {
        const MINUTE: i64 = 60_000;
        match self {
            Interval::M1 => MINUTE,
            Interval::M5 => 5 * MINUTE,
            Interval::M15 => 15 * MINUTE,
            Interval::H1 => 60 * MINUTE,
            Interval::H4 => 240 * MINUTE,
            Interval::D1 => 1440 * MINUTE,
        }
    }

    /// How long an answer is served from the cache: a fifth of a candle.
    fn fresh_for(self) -> Duration {
        Duration::from_millis(self.millis() as u64 / 5)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("unknown symbol {0}: the exchange does not list it")]
    UnknownSymbol(Symbol),
    #[error("no price history: this server does not follow the exchange (market.enabled = false)")]
    Disabled,
    /// The exchange failed and no earlier answer is kept.
    #[error("price history unavailable: {0}")]
    Unavailable(String),
}

/// An answer and, when the exchange could not be asked, how old it is.
pub struct Served {
    pub candles: Vec<Candle>,
    pub stale_for: Option<Duration>,
}

type Key = (Symbol, Interval, u16);

#[derive(Clone)]
struct Fetched {
    at: Instant,
    candles: Arc<Vec<Candle>>,
}

/// Most candles kept over both caches (about 100 bytes each: at most ~20 MB).
const MAX_CANDLES: u64 = 200_000;
const KEEP_STALE: Duration = Duration::from_secs(24 * 3600);

pub struct History {
    rest: Option<Rest>,
    prices: Arc<Prices>,
    fresh: Cache<Key, Fetched>,
    last_good: Cache<Key, Fetched>,
}

/// A fifth of the key's interval, unless one duration is set for all (tests).
struct FreshFor(Option<Duration>);

impl moka::Expiry<Key, Fetched> for FreshFor {
    fn expire_after_create(&self, key: &Key, _: &Fetched, _: Instant) -> Option<Duration> {
        Some(self.0.unwrap_or_else(|| key.1.fresh_for()))
    }
}

impl History {
    /// `rest: None`: the market is not followed, and every request says so.
    pub fn new(rest: Option<Rest>, prices: Arc<Prices>) -> Self {
        Self::fresh_for(rest, prices, None)
    }

    fn fresh_for(rest: Option<Rest>, prices: Arc<Prices>, fresh_for: Option<Duration>) -> Self {
        let weigh = |_: &Key, f: &Fetched| f.candles.len().max(1) as u32;
        Self {
            rest,
            prices,
            fresh: Cache::builder()
                .max_capacity(MAX_CANDLES / 2)
                .weigher(weigh)
                .expire_after(FreshFor(fresh_for))
                .build(),
            last_good: Cache::builder()
                .max_capacity(MAX_CANDLES / 2)
                .weigher(weigh)
                .time_to_live(KEEP_STALE)
                .build(),
        }
    }

    /// The last `limit` candles of `symbol`, oldest first.
    pub async fn candles(
        &self,
        symbol: &Symbol,
        interval: Interval,
        limit: u16,
    ) -> Result<Served, HistoryError> {
        let Some(rest) = &self.rest else {
            return Err(HistoryError::Disabled);
        };
        if self.prices.is_listed(symbol) == Some(false) {
            return Err(HistoryError::UnknownSymbol(symbol.clone()));
        }
        let key = (symbol.clone(), interval, limit);
        // Concurrent callers of one key share this one call.
        let fetched = self
            .fresh
            .try_get_with(key.clone(), async {
                let candles = rest.klines(symbol, interval.as_str(), limit).await?;
                let fetched = Fetched {
                    at: Instant::now(),
                    candles: Arc::new(candles),
                };
                self.last_good.insert(key.clone(), fetched.clone()).await;
                Ok::<_, RestError>(fetched)
            })
            .await;
        let (fetched, stale_for) = match fetched {
            Ok(fetched) => (fetched, None),
            Err(err) => match (&*err, self.last_good.get(&key).await) {
                (RestError::Status(400), _) => {
                    return Err(HistoryError::UnknownSymbol(symbol.clone()))
                }
                (_, Some(kept)) => {
                    let age = kept.at.elapsed();
                    (kept, Some(age))
                }
                (err, None) => return Err(HistoryError::Unavailable(err.to_string())),
            },
        };
        let mut candles = fetched.candles.as_ref().clone();
        if let Some((price, time)) = self.prices.get(symbol) {
            bring_up_to(&mut candles, interval, price, time);
        }
        Ok(Served { candles, stale_for })
    }
}

/// The newest candle follows the live price: a later price moves its close (and stretches its
/// high or low); one past its end starts the next candle.
fn bring_up_to(candles: &mut Vec<Candle>, interval: Interval, price: Price, time: i64) {
    let Some(last) = candles.last_mut() else {
        return;
    };
    if time < last.t {
        return;
    }
    if time < last.t + interval.millis() {
        last.close = price;
        last.high = last.high.max(price);
        last.low = last.low.min(price);
    } else {
        let t = time - time.rem_euclid(interval.millis());
        candles.push(Candle {
            t,
            open: price,
            high: price,
            low: price,
            close: price,
        });
        if candles.len() > 1 {
            candles.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU16, Ordering};

    use poem::{handler, EndpointExt};

    use super::*;

    /// An exchange on 127.0.0.1 whose klines answer with `STATUS` (200: two candles).
    #[handler]
    fn klines(status: poem::web::Data<&Arc<AtomicU16>>) -> poem::Response {
        use poem::IntoResponse;
        match status.load(Ordering::SeqCst) {
            200 => poem::web::Json(serde_json::json!([
                [0, "1.10", "1.20", "1.00", "1.15", "9"],
                [60000, "1.15", "1.30", "1.10", "1.25000000", "9"]
            ]))
            .into_response(),
            code => poem::http::StatusCode::from_u16(code)
                .unwrap()
                .into_response(),
        }
    }

    #[tokio::test]
    async fn an_unreachable_exchange_gets_the_last_good_answer_with_its_age() {
        let status = Arc::new(AtomicU16::new(200));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let app = poem::Route::new()
            .at("/api/v3/klines", klines)
            .data(status.clone());
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        let history = History::fresh_for(
            Some(Rest::new(&url).unwrap()),
            Arc::new(Prices::default()),
            Some(Duration::ZERO),
        );
        let btc = Symbol::parse("BTCUSDT").unwrap();
        let first = history.candles(&btc, Interval::M1, 2).await.unwrap();
        assert_eq!(first.stale_for, None);
        assert_eq!(first.candles[1].close.to_string(), "1.25000000");
        status.store(503, Ordering::SeqCst);
        let kept = history.candles(&btc, Interval::M1, 2).await.unwrap();
        assert!(kept.stale_for.is_some());
        assert_eq!(kept.candles, first.candles);
        // Nothing kept for another key: unavailable.
        let other = history.candles(&btc, Interval::H1, 2).await;
        assert!(
            matches!(other, Err(HistoryError::Unavailable(_))),
            "{:?}",
            other.err()
        );
        // The symbol is unknown to the exchange: not an outage.
        status.store(400, Ordering::SeqCst);
        let unknown = history.candles(&btc, Interval::D1, 2).await;
        assert!(matches!(unknown, Err(HistoryError::UnknownSymbol(_))));
    }

    fn p(text: &str) -> Price {
        Price::parse(text).unwrap()
    }

    fn candle(t: i64, close: &str) -> Candle {
        Candle {
            t,
            open: p("10"),
            high: p("12"),
            low: p("9"),
            close: p(close),
        }
    }

    #[test]
    fn the_newest_candle_follows_the_live_price() {
        let mut candles = vec![candle(0, "10"), candle(60_000, "11")];
        // Before the newest candle: nothing changes.
        bring_up_to(&mut candles, Interval::M1, p("99"), 59_999);
        assert_eq!(candles, [candle(0, "10"), candle(60_000, "11")]);
        // Inside it: close moves, high stretches.
        bring_up_to(&mut candles, Interval::M1, p("12.5"), 61_000);
        assert_eq!((candles[1].close, candles[1].high), (p("12.5"), p("12.5")));
        assert_eq!(candles[1].low, p("9"));
        // Past it: a new candle starts at its interval boundary, the oldest goes.
        bring_up_to(&mut candles, Interval::M1, p("8"), 185_000);
        assert_eq!(candles.len(), 2);
        assert_eq!(
            candles[1],
            Candle {
                t: 180_000,
                open: p("8"),
                high: p("8"),
                low: p("8"),
                close: p("8")
            }
        );
        assert_eq!(candles[0].t, 60_000);
    }
}
