//! `target_price` as a client sends it: a JSON number or a decimal string, kept as exact text.
//! serde_json's `arbitrary_precision` keeps a number's digits, so `65000.12345678` is never
//! rounded through binary floating point.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

use crate::domain::{Price, PriceError};

/// A positive decimal below 100 billion with at most 8 places (at most 11 digits before the point).
pub const PRICE_PATTERN: &str = r"^0*(?:[1-9][0-9]{0,10}(?:\.[0-9]{1,8})?|0\.(?:[1-9][0-9]{0,7}|0[1-9][0-9]{0,6}|00[1-9][0-9]{0,5}|000[1-9][0-9]{0,4}|0000[1-9][0-9]{0,3}|00000[1-9][0-9]{0,2}|000000[1-9][0-9]?|0000000[1-9]))$";

/// Longest accepted `target_price` text (leading zeros count).
const MAX_TEXT: usize = 40;

#[derive(Debug, Clone)]
pub enum PriceInput {
    Text(String),
    Number(String),
}

impl PriceInput {
    /// Parses exactly; `0` and anything above 100 billion or finer than 1e-8 are refused, in
    /// words that name `field` (`target_price`, or `percent`, which is read the same way).
    pub fn to_decimal(&self, field: &str) -> Result<Price, String> {
        let (PriceInput::Text(text) | PriceInput::Number(text)) = self;
        if text.len() > MAX_TEXT {
            return Err(format!("{field} is longer than {MAX_TEXT} characters"));
        }
        let parsed = match self {
            PriceInput::Text(text) => Price::parse(text),
            PriceInput::Number(text) => Price::parse_json_number(text),
        };
        match parsed {
            Ok(price) if price.is_zero() => Err(format!("{field} must be greater than 0")),
            Ok(price) => Ok(price),
            Err(PriceError::Syntax) => Err(format!(
                "{field} must be a positive decimal number like 65000 or \"0.00012\""
            )),
            Err(err) => Err(format!("{field} {err}")),
        }
    }
}

impl Type for PriceInput {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "PriceInput".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let text = MetaSchema {
            pattern: Some(PRICE_PATTERN.to_string()),
            max_length: Some(MAX_TEXT),
            example: Some(Value::String("65000.50".into())),
            ..MetaSchema::new("string")
        };
        let number = MetaSchema {
            minimum: Some(0.00000001),
            maximum: Some(100_000_000_000.0),
            exclusive_maximum: Some(true),
            multiple_of: Some(0.00000001),
            example: Some(serde_json::json!(65000)),
            ..MetaSchema::new("number")
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "A price > 0 with at most 8 decimal places, as a decimal string (preferred) \
                 or a JSON number; compared exactly, returned exactly as given.",
            ),
            any_of: vec![
                MetaSchemaRef::Inline(Box::new(text)),
                MetaSchemaRef::Inline(Box::new(number)),
            ],
            ..MetaSchema::ANY
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for PriceInput {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(PriceInput::Text(text)),
            Some(Value::Number(number)) => Ok(PriceInput::Number(number.to_string())),
            _ => Err(ParseError::custom(
                "target_price must be a decimal string or a number",
            )),
        }
    }
}

impl<'de> serde::Deserialize<'de> for PriceInput {
    /// A string or a number, kept as its exact text (`arbitrary_precision`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(PriceInput::Text(text)),
            Value::Number(number) => Ok(PriceInput::Number(number.to_string())),
            Value::Null => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Unit,
                &"a price",
            )),
            _ => Err(serde::de::Error::custom(
                "must be a decimal string like \"65000.50\" or a number",
            )),
        }
    }
}

impl ToJSON for PriceInput {
    fn to_json(&self) -> Option<Value> {
        match self {
            PriceInput::Text(text) | PriceInput::Number(text) => Some(Value::String(text.clone())),
        }
    }
}
