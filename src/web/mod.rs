//! The built-in web page, embedded in the binary: no separate server, no CDN. Served as a
//! hidden operation of the API service so it shares its middleware.

use poem_openapi::payload::Html;
use poem_openapi::OpenApi;

const INDEX: &str = include_str!("index.html");

pub struct WebPage;

#[OpenApi]
impl WebPage {
    /// The web page.
    #[oai(path = "/", method = "get", hidden)]
    async fn index(&self) -> Html<&'static str> {
        Html(INDEX)
    }
}
