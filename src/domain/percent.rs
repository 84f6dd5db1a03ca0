//! Alerts on a move: `percent_up` fires at the first trade at least `percent` % above the lowest
//! trade price within `window` before it, `percent_down` at least `percent` % below the highest,
//! `percent_move` either. All arithmetic is on integer units of 1e-8, exact.

use super::Price;

/// 100 % in units of 1e-8.
const HUNDRED: u128 = 100 * 100_000_000;
/// The largest percentage, in units of 1e-8.
const PERCENT_MAX: u64 = 1000 * 100_000_000;
/// The shortest and longest window, in milliseconds.
pub const WINDOW_MIN_MS: i64 = 60_000;
pub const WINDOW_MAX_MS: i64 = 86_400_000;

/// A move's rule: how far, within how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// Above 0, at most 1000, at most 8 places.
    pub percent: Price,
    pub window_ms: i64,
}

impl Move {
    /// Whether a trade at `price` is at least `percent` % above `low` (both in units):
    /// `price × 100 ≥ low × (100 + percent)`, in integers, with no rounding either way.
    pub fn up_from(self, low: u64, price: u64) -> bool {
        Self::units_up(self.percent.units(), low, price)
    }

    /// `up_from` for a percentage given in units.
    pub fn units_up(percent: u64, low: u64, price: u64) -> bool {
        u128::from(price) * HUNDRED >= u128::from(low) * (HUNDRED + u128::from(percent))
    }

    /// Whether a trade at `price` is at least `percent` % below `high`:
    /// `price × 100 ≤ high × (100 − percent)`; never for 100 % or more.
    pub fn down_from(self, high: u64, price: u64) -> bool {
        Self::units_down(self.percent.units(), high, price)
    }

    /// `down_from` for a percentage given in units.
    pub fn units_down(percent: u64, high: u64, price: u64) -> bool {
        let Some(keep) = HUNDRED.checked_sub(u128::from(percent)) else {
            return false;
        };
        keep > 0 && u128::from(price) * HUNDRED <= u128::from(high) * keep
    }
}

/// A percentage as given: a decimal above 0 and at most 1000.
pub fn parse_percent(text: &str) -> Result<Price, String> {
    let pct = Price::parse(text).map_err(|e| e.to_string())?;
    check_percent(pct)?;
    Ok(pct)
}

pub fn check_percent(pct: Price) -> Result<(), String> {
    if pct.is_zero() || pct.units() > PERCENT_MAX {
        return Err("must be above 0 and at most 1000".into());
    }
    Ok(())
}

/// Whether a fall by `pct` can happen at all: prices stay above zero, so not by 100 % or more.
pub fn can_fall(pct: Price) -> bool {
    u128::from(pct.units()) < HUNDRED
}

/// A window's rule, in words when it fails.
pub fn check_window(ms: i64) -> Result<(), String> {
    if !(WINDOW_MIN_MS..=WINDOW_MAX_MS).contains(&ms) {
        return Err("must be from 1m to 24h".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Price {
        Price::parse(text).unwrap()
    }

    fn units(text: &str) -> u64 {
        p(text).units()
    }

    #[test]
    fn thresholds_are_exact_at_the_last_unit() {
        let five = Move {
            percent: p("5"),
            window_ms: 60_000,
        };
        // 100 × 1.05 = 105 exactly: 105 fires, one unit less does not.
        assert!(five.up_from(units("100"), units("105")));
        assert!(!five.up_from(units("100"), units("104.99999999")));
        assert!(five.down_from(units("100"), units("95")));
        assert!(!five.down_from(units("100"), units("95.00000001")));
        // 0.00000003 × 1.5 = 0.000000045: 0.00000005 is above it, 0.00000004 below.
        let half = Move {
            percent: p("50"),
            window_ms: 60_000,
        };
        assert!(half.up_from(3, 5));
        assert!(!half.up_from(3, 4));
        // A fall of 100 % or more never happens: prices are above zero.
        let all = Move {
            percent: p("100"),
            window_ms: 60_000,
        };
        assert!(!all.down_from(units("100"), 0));
        assert!(all.up_from(units("100"), units("200")));
        let max = Move {
            percent: p("1000"),
            window_ms: 60_000,
        };
        assert!(max.up_from(
            units("99999999999.99999999") / 11,
            units("99999999999.99999999")
        ));
    }

    #[test]
    fn rules_are_checked() {
        assert!(parse_percent("0").is_err());
        assert!(parse_percent("1000.00000001").is_err());
        assert_eq!(parse_percent("1000").unwrap(), p("1000"));
        assert_eq!(parse_percent("0.00000001").unwrap(), p("0.00000001"));
        assert!(check_window(59_999).is_err());
        assert!(check_window(60_000).is_ok());
        assert!(check_window(86_400_000).is_ok());
        assert!(check_window(86_400_001).is_err());
    }
}
