//! Repeating alerts: after a fire, an alert re-arms once the price has moved back by its re-arm
//! distance (hysteresis, so a price wobbling around the target fires once) and its cooldown has
//! passed. All arithmetic is on integer units of 1e-8, exact.

use std::fmt;

use super::{Condition, Price};

/// A re-arm distance: a price above zero (as `target_price`), or a percentage above 0 and below
/// 100 with at most 8 places.
pub const DISTANCE_PATTERN: &str = concat!(
    r"^(?:0*(?:[1-9][0-9]{0,10}(?:\.[0-9]{1,8})?|0\.(?:[1-9][0-9]{0,7}|0[1-9][0-9]{0,6}|00[1-9][0-9]{0,5}|000[1-9][0-9]{0,4}|0000[1-9][0-9]{0,3}|00000[1-9][0-9]{0,2}|000000[1-9][0-9]?|0000000[1-9]))",
    r"|0*(?:[1-9][0-9]?(?:\.[0-9]{1,8})?|0\.(?:[1-9][0-9]{0,7}|0[1-9][0-9]{0,6}|00[1-9][0-9]{0,5}|000[1-9][0-9]{0,4}|0000[1-9][0-9]{0,3}|00000[1-9][0-9]{0,2}|000000[1-9][0-9]?|0000000[1-9]))%)$"
);
/// A cooldown: a whole number (at most 6 digits) of ms, s, m, h or d.
pub const COOLDOWN_PATTERN: &str = r"^(?:0|[1-9][0-9]{0,5})(?:ms|s|m|h|d)$";

/// How far the price must move back from the target before the alert can fire again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distance {
    /// A price difference (`"250"`).
    Price(Price),
    /// A percentage of the target (`"0.5%"`).
    Percent(Price),
}

/// A repeating alert's rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repeat {
    /// `None` for a percent alert: it re-arms after its cooldown, its window starting afresh
    /// at the fire.
    pub rearm: Option<Distance>,
    /// How long after a fire it stays quiet, in milliseconds of trade time.
    pub cooldown_ms: i64,
}

/// 100 % in units of 1e-8.
const HUNDRED: u128 = 100 * 100_000_000;

impl Distance {
    /// Parses `"250"` or `"0.5%"`: a price above zero, or a percentage above 0 and below 100.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > 40 {
            return Err("must be at most 40 characters".into());
        }
        if let Some(number) = text.strip_suffix('%') {
            let pct = Price::parse(number).map_err(|e| format!("percentage {e}"))?;
            if pct.is_zero() || u128::from(pct.units()) >= HUNDRED {
                return Err("percentage must be above 0 and below 100".into());
            }
            Ok(Self::Percent(pct))
        } else {
            let price = Price::parse(text).map_err(|e| e.to_string())?;
            if price.is_zero() {
                return Err("must be above 0".into());
            }
            Ok(Self::Price(price))
        }
    }

    /// The price at or below which an alert watching for a rise to `target` re-arms, in units;
    /// `None` when no price is that low. Exact: a percentage is applied as
    /// `floor(target × (100 − pct) / 100)` in integers, and a trade's units are whole, so a trade
    /// at or below it is exactly a trade at or below `target − distance`.
    pub fn reset_below(self, target: Price) -> Option<u64> {
        let t = u128::from(target.units());
        let low = match self {
            Distance::Price(d) => t.checked_sub(u128::from(d.units()))?,
            Distance::Percent(p) => t * (HUNDRED - u128::from(p.units())) / HUNDRED,
        };
        u64::try_from(low).ok()
    }

    /// The price at or above which an alert watching for a fall to `target` re-arms, in units:
    /// `ceil(target × (100 + pct) / 100)`, or `target + distance`.
    pub fn reset_above(self, target: Price) -> u64 {
        let t = u128::from(target.units());
        let high = match self {
            Distance::Price(d) => t + u128::from(d.units()),
            Distance::Percent(p) => (t * (HUNDRED + u128::from(p.units()))).div_ceil(HUNDRED),
        };
        u64::try_from(high).unwrap_or(u64::MAX)
    }

    /// Whether an alert on `target` watching `condition` can ever re-arm: a fall by the distance
    /// must leave a price above zero.
    pub fn can_rearm(self, target: Price, condition: Condition) -> bool {
        match condition {
            Condition::Above | Condition::Cross => self.reset_below(target).is_some_and(|u| u > 0),
            // Watching for a fall re-arms on a rise, always possible; a percent alert has no
            // distance.
            _ => true,
        }
    }
}

impl fmt::Display for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distance::Price(p) => write!(f, "{p}"),
            Distance::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Price {
        Price::parse(text).unwrap()
    }

    #[test]
    fn distances_parse_and_print_as_given() {
        for text in ["250", "0.5%", "0.00000001", "99.99999999%"] {
            assert_eq!(Distance::parse(text).unwrap().to_string(), text);
        }
        for bad in ["0", "0%", "100%", "150%", "-1", "abc", "%", "1e3", " 1"] {
            assert!(Distance::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reset_prices_are_exact() {
        let d = Distance::parse("250").unwrap();
        assert_eq!(d.reset_below(p("65000")), Some(p("64750").units()));
        assert_eq!(d.reset_above(p("65000")), p("65250").units());
        assert_eq!(d.reset_below(p("100")), None);
        // 65000.00000001 × 0.995 = 64675.00000000995 (floor: 64675.00000000), and × 1.005 =
        // 65325.00000001005 (ceil: 65325.00000002).
        let pct = Distance::parse("0.5%").unwrap();
        assert_eq!(
            pct.reset_below(p("65000.00000001")),
            Some(p("64675").units())
        );
        assert_eq!(
            pct.reset_above(p("65000.00000001")),
            p("65325.00000002").units()
        );
        // A tiny percentage of a tiny price still moves the reset off the target.
        let tiny = Distance::parse("0.00000001%").unwrap();
        assert_eq!(tiny.reset_below(p("0.00000002")), Some(1));
        assert_eq!(tiny.reset_above(p("0.00000002")), 3);
        assert!(!Distance::parse("100")
            .unwrap()
            .can_rearm(p("100"), Condition::Above));
        assert!(Distance::parse("100")
            .unwrap()
            .can_rearm(p("100"), Condition::Below));
    }
}
