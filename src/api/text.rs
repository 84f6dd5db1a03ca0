//! A request string that must be a JSON string. poem-openapi's `String` also takes `false` or
//! `12` and turns them into text, which would make `{"username": false}` a user named "false".

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A symbol as a client sends it: 2-20 ASCII letters and digits (`BTCUSDT`, `btcusdt`).
///
/// Checked here by hand rather than with `#[oai(validator(pattern))]`: poem-openapi compiles
/// that regex on every request, which profiling showed as 14% of `POST /alerts/create/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolText(pub String);

pub const SYMBOL_PATTERN: &str = "^[A-Za-z0-9]{2,20}$";

impl SymbolText {
    /// The same rule as `SYMBOL_PATTERN`.
    fn matches(text: &str) -> bool {
        (2..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

impl Type for SymbolText {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(SYMBOL_PATTERN.to_string()),
            example: Some(Value::String("BTCUSDT".into())),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for SymbolText {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) if Self::matches(&text) => Ok(Self(text)),
            Some(Value::String(_)) => Err(ParseError::custom(
                "must be a Binance spot symbol like BTCUSDT: 2-20 letters and digits",
            )),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for SymbolText {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_text_follows_its_documented_pattern() {
        let pattern = regex::Regex::new(SYMBOL_PATTERN).unwrap();
        for text in [
            "BTCUSDT",
            "btcusdt",
            "B",
            "BT",
            "ABCDEFGHIJKLMNOPQRST",
            "ABCDEFGHIJKLMNOPQRSTU",
            " BTCUSDT",
            "BTC-USDT",
            "BTCUSDT\n",
            "",
            "ÄBC",
            "12",
        ] {
            let parsed = SymbolText::parse_from_json(Some(Value::String(text.into()))).is_ok();
            assert_eq!(parsed, pattern.is_match(text), "{text:?}");
        }
        assert!(SymbolText::parse_from_json(Some(Value::Bool(false))).is_err());
    }
}
