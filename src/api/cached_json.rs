//! A JSON body serialized once and served many times from the cache, documented in the
//! OpenAPI document as the type it holds.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

pub struct CachedJson<T> {
    bytes: Bytes,
    _shape: PhantomData<fn() -> T>,
}

impl<T: ToJSON> CachedJson<T> {
    pub fn serialize(value: &T) -> Self {
        Self::from_bytes(Bytes::from(value.to_json_string()))
    }
}

impl<T> CachedJson<T> {
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self {
            bytes,
            _shape: PhantomData,
        }
    }

    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }
}

impl<T: Type> Payload for CachedJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T> IntoResponse for CachedJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(self.bytes)
    }
}
