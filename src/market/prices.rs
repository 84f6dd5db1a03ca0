//! Last known prices and the exchange's symbol list, shared with the API.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::domain::{Price, Symbol};

#[derive(Default)]
pub struct Prices {
    last: RwLock<HashMap<Symbol, (Price, i64)>>,
    /// `None` until the exchange's symbol list has been fetched.
    listed: RwLock<Option<HashSet<Symbol>>>,
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

    pub fn set_listed(&self, symbols: HashSet<Symbol>) {
        if let Ok(mut listed) = self.listed.write() {
            *listed = Some(symbols);
        }
    }

    /// `Some(false)` only when the list is known and lacks the symbol.
    pub fn is_listed(&self, symbol: &Symbol) -> Option<bool> {
        let listed = self.listed.read().ok()?;
        listed.as_ref().map(|set| set.contains(symbol))
    }
}
