//! Last known prices and the exchange's symbol list with each symbol's status, shared with the
//! API.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::domain::{Price, Symbol};

/// The status of a symbol that trades.
pub const TRADING: &str = "TRADING";

/// Where a symbol stands on the exchange, from its latest symbol list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarketStatus {
    /// No list loaded yet.
    Unknown,
    Trading,
    /// Listed, with a status other than `TRADING` (`BREAK` during maintenance or a delisting).
    NotTrading(String),
    /// Not in the list (any more).
    NotListed,
}

#[derive(Default)]
pub struct Prices {
    last: RwLock<HashMap<Symbol, (Price, i64)>>,
    /// `None` until the exchange's symbol list has been fetched: each symbol's status.
    listed: RwLock<Option<HashMap<Symbol, String>>>,
}

impl Prices {
    pub fn update(&self, symbol: &Symbol, price: Price, time: i64) {
        if let Ok(mut last) = self.last.write() {
            match last.get_mut(symbol) {
                Some(entry) if entry.1 <= time => *entry = (price, time),
                Some(_) => {}
                None => {
                    last.insert(symbol.clone(), (price, time));
                }
            }
        }
    }

    pub fn get(&self, symbol: &Symbol) -> Option<(Price, i64)> {
        self.last.read().ok()?.get(symbol).copied()
    }

    /// Every known price, sorted by symbol, optionally only for `only`.
    pub fn all(&self, only: Option<&HashSet<Symbol>>) -> Vec<(Symbol, Price, i64)> {
        let Ok(last) = self.last.read() else {
            return Vec::new();
        };
        let mut out: Vec<_> = last
            .iter()
            .filter(|(s, _)| only.is_none_or(|o| o.contains(*s)))
            .map(|(s, (p, t))| (s.clone(), *p, *t))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The exchange's symbols and their statuses; returns the symbols whose status changed
    /// (or that came or went), for the log.
    pub fn set_listed(&self, symbols: HashMap<Symbol, String>) -> Vec<(Symbol, MarketStatus)> {
        let Ok(mut listed) = self.listed.write() else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        if let Some(old) = listed.as_ref() {
            for (symbol, status) in &symbols {
                if old.get(symbol) != Some(status) {
                    changed.push((symbol.clone(), status_of(Some(status))));
                }
            }
            for symbol in old.keys().filter(|s| !symbols.contains_key(*s)) {
                changed.push((symbol.clone(), MarketStatus::NotListed));
            }
        }
        *listed = Some(symbols);
        changed
    }

    /// `Some(false)` only when the list is known and lacks the symbol.
    pub fn is_listed(&self, symbol: &Symbol) -> Option<bool> {
        let listed = self.listed.read().ok()?;
        listed.as_ref().map(|map| map.contains_key(symbol))
    }

    pub fn market_status(&self, symbol: &Symbol) -> MarketStatus {
        let Ok(listed) = self.listed.read() else {
            return MarketStatus::Unknown;
        };
        match listed.as_ref() {
            None => MarketStatus::Unknown,
            Some(map) => status_of(map.get(symbol)),
        }
    }
}

fn status_of(status: Option<&String>) -> MarketStatus {
    match status {
        None => MarketStatus::NotListed,
        Some(s) if s == TRADING => MarketStatus::Trading,
        Some(s) => MarketStatus::NotTrading(s.clone()),
    }
}
