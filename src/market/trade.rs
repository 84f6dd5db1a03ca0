//! A trade as the stream delivers it: borrowed from the frame's bytes on the hot path, owned
//! where it is kept.

use crate::domain::{Price, Symbol};

/// One aggregate trade, as the matcher needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    pub symbol: Symbol,
    /// `a`: gap-free per symbol, so a jump reveals missed trades.
    pub agg_id: u64,
    pub price: Price,
    /// `T`: trade time, milliseconds since the epoch.
    pub time: i64,
}

/// A trade borrowed from the frame's bytes: the hot path allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeRef<'a> {
    pub symbol: &'a str,
    pub agg_id: u64,
    pub price: Price,
    pub time: i64,
}

impl TradeRef<'_> {
    pub fn to_owned(&self) -> Result<Trade, String> {
        Ok(Trade {
            symbol: Symbol::parse(self.symbol)?,
            agg_id: self.agg_id,
            price: self.price,
            time: self.time,
        })
    }
}
