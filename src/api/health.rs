//! `GET /healthz`: answers once the server accepts requests.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;

pub struct HealthApi;

#[derive(Debug, Object)]
pub struct Health {
    /// `ok` whenever the server answers.
    pub status: String,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: 200 once the server accepts requests.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Health> {
        Json(Health {
            status: "ok".to_string(),
        })
    }
}
