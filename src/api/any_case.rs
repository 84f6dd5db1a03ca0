//! A query parameter whose values are documented in lower case and accepted in any case
//! (`?status=Triggered`), as the original services' clients send them.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyCase<T>(pub T);

impl<T: Type> Type for AnyCase<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_raw_value()
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        self.0.raw_element_iter()
    }
}

impl<T: ParseFromParameter> ParseFromParameter for AnyCase<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        T::parse_from_parameter(&value.to_ascii_lowercase())
            .map(AnyCase)
            .map_err(ParseError::propagate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::alert_types::StatusFilter;

    #[test]
    fn any_case_is_the_lower_case_value() {
        for text in ["triggered", "Triggered", "TRIGGERED"] {
            assert_eq!(
                AnyCase::<StatusFilter>::parse_from_parameter(text)
                    .unwrap()
                    .0,
                StatusFilter::Triggered
            );
        }
        assert!(AnyCase::<StatusFilter>::parse_from_parameter("trig").is_err());
    }
}
