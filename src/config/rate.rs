//! Rates written like `10/1m`: so many events per period, up to that many at once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::HumanDuration;

/// `N/period`: N events per period, up to N at once (e.g. `10/1m`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn interval(self) -> Duration {
        self.period / self.count.max(1)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (count, period) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a rate: write it like 10/1m"))?;
        let count: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| format!("`{count}` is not a positive count"))?;
        let period: HumanDuration = period.trim().parse()?;
        if period.get().is_zero() {
            return Err("the period must be longer than 0s".into());
        }
        Ok(Self {
            count,
            period: period.get(),
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, HumanDuration(self.period))
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_rates() {
        let r: Rate = "10/1m".parse().unwrap();
        assert_eq!(r.interval(), Duration::from_secs(6));
        assert_eq!(r.to_string(), "10/1m");
        for bad in ["10", "0/1m", "x/1m", "10/0s", "10/forever"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
