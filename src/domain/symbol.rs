//! Binance spot symbols such as `BTCUSDT`.

use std::fmt;

pub const MIN_LEN: usize = 2;
pub const MAX_LEN: usize = 20;
/// The shape a client may write a symbol in (any case), for the OpenAPI document; the same rule
/// as `is_symbol_text`.
pub const PATTERN: &str = "^[A-Za-z0-9]{2,20}$";
/// What a malformed symbol is told.
pub const RULE: &str = "must be a Binance spot symbol like BTCUSDT: 2-20 letters and digits";

/// An upper-case symbol of 2–20 characters from `[A-Z0-9]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Symbol(String);

impl Symbol {
    /// Normalizes user input (`btcusdt` → `BTCUSDT`) and checks its shape.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if !is_symbol_text(trimmed) {
            return Err(RULE.to_string());
        }
        Ok(Self(trimmed.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Symbol {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Symbol {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Whether a client's text is a symbol in any case (`btcusdt`): `PATTERN`, checked by hand.
pub fn is_symbol_text(text: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checks the shape of an exchange-sent symbol without allocating (it is already upper case).
pub fn is_exchange_symbol(text: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case() {
        assert_eq!(Symbol::parse("btcUsdt").unwrap().as_str(), "BTCUSDT");
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "",
            "B",
            "BTC-USDT",
            "BTC USDT",
            "ÄBC",
            "A23456789012345678901",
        ] {
            assert!(Symbol::parse(bad).is_err(), "{bad}");
        }
        assert!(Symbol::parse("A2345678901234567890").is_ok());
    }
}
