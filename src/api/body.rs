//! Request bodies, parsed with serde so that every error names the field and says the rule in
//! words (`email is required`, `condition must be one of above, below`), never a Rust type.
//! Each body type derives `Object` for the OpenAPI document and `Deserialize` for parsing; the
//! field types carry the rules (`text.rs`, `price_input.rs`).

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::ApiError;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    /// `application/json` or any `application/...+json`, with or without parameters.
    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned + Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        parse(&bytes).map(JsonBody).map_err(Into::into)
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: Type + DeserializeOwned + Send);

/// A JSON request body of type `T` that may be left out: no body (or an empty one) is
/// `T::default()`.
pub struct OptionalBody<T>(pub T);

impl<T: Type> Payload for OptionalBody<T> {
    const CONTENT_TYPE: &'static str = JsonBody::<T>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        JsonBody::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned + Default + Send> ParsePayload for OptionalBody<T> {
    const IS_REQUIRED: bool = false;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        parse(&bytes).map(OptionalBody).map_err(Into::into)
    }
}

// As `impl_apirequest_for_payload!`, except that a request without a `Content-Type` is not
// 415: with no body it is the default, and a body is read as JSON.
impl<'a, T: Type + DeserializeOwned + Default + Send> poem_openapi::ApiExtractor<'a>
    for OptionalBody<T>
{
    const TYPES: &'static [poem_openapi::ApiExtractorType] =
        &[poem_openapi::ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
        Some(poem_openapi::registry::MetaRequest {
            description: None,
            content: vec![poem_openapi::registry::MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if !Self::check_content_type(content_type) => {
                Err(poem_openapi::error::ContentTypeError::NotSupported {
                    content_type: content_type.to_string(),
                }
                .into())
            }
            _ => <Self as ParsePayload>::from_request(request, body).await,
        }
    }
}

/// Parses a body, or says what is wrong with it in words. Every body is a JSON object (serde
/// would also read a struct from an array of its fields).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| ApiError::bad_request(explain(&err)))
}

/// For an optional field that is not nullable (`#[serde(default, deserialize_with =
/// "not_null")]`): left out is `None`, `null` is refused as the document says.
pub fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom(
            "must not be null: leave it out instead",
        )),
    }
}

/// For an optional nullable field where null means something (`#[serde(default,
/// deserialize_with = "present")]`): left out is `None`, `null` is `Some` of the null value.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

fn explain(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = err.inner();
    if inner.is_syntax() || inner.is_eof() {
        return if inner.is_eof() && inner.line() == 1 && inner.column() == 0 {
            "the request body is empty: send a JSON object".to_string()
        } else {
            format!(
                "the request body is not valid JSON (line {}, column {})",
                inner.line(),
                inner.column()
            )
        };
    }
    let path = err.path().to_string();
    let field = (path != ".").then_some(path.as_str());
    // serde_json appends the position; the field name says more.
    let message = inner.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m);
    in_words(field, message)
}

/// Rewrites serde's message for `field` (`None`: the body itself) as the rule in words.
fn in_words(field: Option<&str>, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return match field {
            Some(parent) => format!("{parent}.{name} is required"),
            None => format!("{name} is required"),
        };
    }
    let Some(field) = field else {
        // Only the body's own shape can be wrong at the top level.
        return "the request body must be a JSON object".to_string();
    };
    if message.starts_with("invalid type: null") {
        return format!("{field} is required");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        let wanted = match expected {
            e if e.starts_with("struct ") || e.starts_with("a map") => "an object",
            "" => "another type",
            e => e,
        };
        return format!("{field} must be {wanted}");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let choices: Vec<&str> = rest
            .split_once("expected ")
            .map_or("", |(_, e)| e)
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        return format!("{field} must be one of {}", choices.join(", "));
    }
    // Our own rules say "must be ..." (or name the field themselves).
    if message.starts_with(field) {
        message.to_string()
    } else {
        format!("{field} {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        kind: Kind,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default, deserialize_with = "not_null")]
        tag: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Above,
        Below,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        x: u32,
    }

    fn error(body: &str) -> String {
        parse::<Sample>(body.as_bytes()).unwrap_err().message
    }

    #[test]
    fn an_optional_field_may_be_left_out_but_not_null() {
        let ok = parse::<Sample>(br#"{"name": "a", "kind": "above"}"#).unwrap();
        assert_eq!(ok.tag, None);
        let ok = parse::<Sample>(br#"{"name": "a", "kind": "above", "tag": 3}"#).unwrap();
        assert_eq!(ok.tag, Some(3));
        assert_eq!(
            error(r#"{"name": "a", "kind": "above", "tag": null}"#),
            "tag must not be null: leave it out instead"
        );
    }

    #[test]
    fn errors_name_the_field_in_words() {
        assert_eq!(error(r#"{"kind": "above"}"#), "name is required");
        assert_eq!(
            error(r#"{"name": null, "kind": "above"}"#),
            "name is required"
        );
        assert_eq!(
            error(r#"{"name": 5, "kind": "above"}"#),
            "name must be a string"
        );
        assert_eq!(
            error(r#"{"name": "a", "kind": "up"}"#),
            "kind must be one of above, below"
        );
        assert_eq!(
            error(r#"{"name": "a", "kind": "above", "inner": {}}"#),
            "inner.x is required"
        );
        assert_eq!(error("[]"), "the request body must be a JSON object");
        assert_eq!(
            error(r#"["a", "above"]"#),
            "the request body must be a JSON object"
        );
        assert_eq!(error(" 5"), "the request body must be a JSON object");

        assert_eq!(error(""), "the request body is empty: send a JSON object");
        assert!(error("{").starts_with("the request body is not valid JSON"));
        for message in [error(r#"{"name": "a", "kind": 1}"#), error("[]")] {
            assert!(
                !message.contains("Sample") && !message.contains("Kind"),
                "{message}"
            );
        }
    }
}
