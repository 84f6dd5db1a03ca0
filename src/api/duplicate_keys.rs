//! JSON bodies with a key twice in one object are refused. serde (and so poem-openapi) keeps the
//! last value, while a proxy, a WAF or a log may read the first: the same body would mean two
//! things. Checked once per request on the already-read body (at most 16 KiB).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The first key found twice in one object, if any; `None` also for text that is not JSON
/// (the payload parser reports that).
pub fn first_duplicate(body: &[u8]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match de.deserialize_any(Unique) {
        Err(err) => err
            .to_string()
            .strip_prefix(DUPLICATE)
            .and_then(|rest| rest.split('\u{0}').next())
            .map(str::to_string),
        Ok(()) => None,
    }
}

const DUPLICATE: &str = "duplicate key\u{0}";

struct Unique;

impl<'de> de::Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Unique).map(|()| Unique)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    /// Numbers kept as exact text (`arbitrary_precision`) arrive here too, as a map with one
    /// private key.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("{DUPLICATE}{key}\u{0}")));
            }
            map.next_value::<Unique>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(Unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_repeated_key_at_any_depth() {
        assert_eq!(
            first_duplicate(br#"{"username": "a", "username": "b"}"#).as_deref(),
            Some("username")
        );
        assert_eq!(
            first_duplicate(br#"{"a": [{"x": 1, "x": 2}]}"#).as_deref(),
            Some("x")
        );
        assert_eq!(first_duplicate(br#"{"a": {"x": 1}, "b": {"x": 2}}"#), None);
        assert_eq!(first_duplicate(br#"{"price": 65000.123456789}"#), None);
        assert_eq!(first_duplicate(b"not json"), None);
    }
}
