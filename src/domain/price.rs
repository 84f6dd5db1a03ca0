//! Exact decimal prices. Binance quotes prices as decimal strings with at most 8 places; we keep
//! them as integer counts of 1e-8 so comparisons are exact and cheap, and remember how many places
//! the writer used so a price comes back exactly as it was given.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Places after the decimal point that a price may have.
pub const MAX_SCALE: u8 = 8;
const UNITS_PER_ONE: u64 = 100_000_000;
/// Prices stay below 100 billion (at most 11 digits before the point): far above any spot price,
/// and it fits in a `u64` of units.
pub const MAX_UNITS: u64 = 100_000_000_000 * UNITS_PER_ONE - 1;

/// A non-negative decimal with at most 8 places, compared by value (`1.5 == 1.50`).
#[derive(Clone, Copy)]
pub struct Price {
    units: u64,
    scale: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("must be a decimal number like 65000 or 0.00012")]
    Syntax,
    #[error("has more than 8 decimal places")]
    TooPrecise,
    #[error("must be less than 100000000000")]
    TooLarge,
}

impl Price {
    /// A price of `units` × 1e-8, printed with `scale` places.
    pub fn from_units(units: u64, scale: u8) -> Self {
        Self {
            units,
            scale: scale.min(MAX_SCALE),
        }
    }

    /// A price of `units` × 1e-8 with as few places as show it exactly (`100`, `0.5`).
    pub fn from_units_shortest(units: u64) -> Self {
        let mut scale = MAX_SCALE;
        while scale > 0 && units.is_multiple_of(10u64.pow(u32::from(MAX_SCALE - scale + 1))) {
            scale -= 1;
        }
        Self { units, scale }
    }

    /// The value in units of 1e-8: the key the matcher orders by.
    pub fn units(self) -> u64 {
        self.units
    }

    pub fn is_zero(self) -> bool {
        self.units == 0
    }

    /// Parses a plain decimal (`65000`, `0.5`, `65000.10`); no sign, no exponent.
    pub fn parse(text: &str) -> Result<Self, PriceError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// The hot path: a trade's `"p"` field, straight from the frame's bytes.
    pub fn parse_bytes(text: &[u8]) -> Result<Self, PriceError> {
        let (int_part, frac_part) = match text.iter().position(|&b| b == b'.') {
            Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
            None => (text, None),
        };
        if int_part.is_empty() || !int_part.iter().all(u8::is_ascii_digit) {
            return Err(PriceError::Syntax);
        }
        let frac = frac_part.unwrap_or(&[]);
        if frac_part.is_some() && (frac.is_empty() || !frac.iter().all(u8::is_ascii_digit)) {
            return Err(PriceError::Syntax);
        }
        if frac.len() > usize::from(MAX_SCALE) {
            return Err(PriceError::TooPrecise);
        }
        let mut whole: u64 = 0;
        for &digit in int_part {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(digit - b'0')))
                .ok_or(PriceError::TooLarge)?;
        }
        let mut fraction: u64 = 0;
        for &digit in frac {
            fraction = fraction * 10 + u64::from(digit - b'0');
        }
        fraction *= 10u64.pow(u32::from(MAX_SCALE) - frac.len() as u32);
        let units = whole
            .checked_mul(UNITS_PER_ONE)
            .and_then(|w| w.checked_add(fraction))
            .filter(|&u| u <= MAX_UNITS)
            .ok_or(PriceError::TooLarge)?;
        Ok(Self {
            units,
            scale: frac.len() as u8,
        })
    }

    /// Parses a JSON number's exact text, which may carry a sign or an exponent (`6.5e4`).
    pub fn parse_json_number(text: &str) -> Result<Self, PriceError> {
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => {
                let exp: i32 = text[at + 1..].parse().map_err(|_| PriceError::Syntax)?;
                (&text[..at], exp)
            }
            None => (text, 0),
        };
        if mantissa.starts_with('-') {
            return Err(PriceError::Syntax);
        }
        if exponent == 0 {
            return Self::parse(mantissa);
        }
        if !(-40..=40).contains(&exponent) {
            return Err(if exponent > 0 {
                PriceError::TooLarge
            } else {
                PriceError::TooPrecise
            });
        }
        // Shift the decimal point by rewriting the digits, never by floating-point arithmetic.
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{int_part}{frac_part}");
        let point = int_part.len() as i32 + exponent;
        let plain = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        // An exponent only moves the point: drop zeros it pushed past the last digit.
        let plain = if plain.contains('.') {
            plain
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            plain
        };
        Self::parse(&plain)
    }
}

impl PartialEq for Price {
    fn eq(&self, other: &Self) -> bool {
        self.units == other.units
    }
}

impl Eq for Price {}

impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Price {
    fn cmp(&self, other: &Self) -> Ordering {
        self.units.cmp(&other.units)
    }
}

impl std::hash::Hash for Price {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.units.hash(state);
    }
}

impl FromStr for Price {
    type Err = PriceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.units / UNITS_PER_ONE;
        if self.scale == 0 {
            return write!(f, "{whole}");
        }
        let fraction = (self.units % UNITS_PER_ONE) / 10u64.pow(u32::from(MAX_SCALE - self.scale));
        write!(
            f,
            "{whole}.{fraction:0width$}",
            width = usize::from(self.scale)
        )
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_form_shows_every_unit() {
        let short = |text: &str| {
            Price::from_units_shortest(Price::parse(text).unwrap().units()).to_string()
        };
        assert_eq!(short("65000.01000000"), "65000.01");
        assert_eq!(short("100.00000000"), "100");
        assert_eq!(short("0.00000001"), "0.00000001");
        assert_eq!(short("120"), "120");
        assert_eq!(short("0"), "0");
    }

    #[test]
    fn round_trips_the_text_it_was_given() {
        for text in [
            "65000",
            "65000.10",
            "0.00000001",
            "0.5",
            "99999999999.99999999",
            "1.00000000",
        ] {
            assert_eq!(Price::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Price::parse("007.50").unwrap().to_string(), "7.50");
    }

    #[test]
    fn compares_by_value_exactly() {
        let p = |t: &str| Price::parse(t).unwrap();
        assert_eq!(p("1.5"), p("1.50000000"));
        assert!(p("0.30000001") > p("0.3"));
        assert!(p("65000") > p("64999.99999999"));
        // The classic float trap: 0.1 + 0.2 != 0.3 in binary, but exact here.
        assert_eq!(p("0.1").units() + p("0.2").units(), p("0.3").units());
    }

    #[test]
    fn rejects_bad_text() {
        use PriceError::*;
        let cases = [
            ("", Syntax),
            (".5", Syntax),
            ("5.", Syntax),
            ("-1", Syntax),
            ("+1", Syntax),
            ("1e5", Syntax),
            ("1,5", Syntax),
            (" 1", Syntax),
            ("NaN", Syntax),
            ("1.123456789", TooPrecise),
            ("100000000000", TooLarge),
            ("100000000000.00000001", TooLarge),
            ("99999999999999999999999", TooLarge),
        ];
        for (text, want) in cases {
            assert_eq!(Price::parse(text).unwrap_err(), want, "{text:?}");
        }
    }

    #[test]
    fn json_numbers_with_exponents_are_exact() {
        let j = |t: &str| Price::parse_json_number(t).map(|p| p.to_string());
        assert_eq!(j("6.5e4").unwrap(), "65000");
        assert_eq!(j("65000.5").unwrap(), "65000.5");
        assert_eq!(j("1E-8").unwrap(), "0.00000001");
        assert_eq!(j("12345678901.12345678").unwrap(), "12345678901.12345678");
        assert_eq!(j("1e-9"), Err(PriceError::TooPrecise));
        assert_eq!(j("1e300"), Err(PriceError::TooLarge));
        assert_eq!(j("-5"), Err(PriceError::Syntax));
    }
}
