//! The built-in web page, embedded in the binary: no separate server, no CDN. Served as a
//! hidden operation of the API service so it shares its middleware.

use poem_openapi::payload::{Html, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

#[derive(ApiResponse)]
enum Script {
    #[oai(status = 200, content_type = "text/javascript; charset=utf-8")]
    Ok(PlainText<&'static str>),
}

#[derive(ApiResponse)]
enum Icon {
    #[oai(status = 200, content_type = "image/svg+xml")]
    Ok(PlainText<&'static str>),
}

const INDEX: &str = include_str!("index.html");
/// The page's script, served as a file so the Content-Security-Policy needs no inline scripts:
/// the charts, then the rest of the page.
const APP_JS: &str = concat!(include_str!("chart.js"), "\n", include_str!("app.js"));
/// The page's icon (SVG, which browsers take at /favicon.ico too).
const ICON: &str = include_str!("icon.svg");

pub struct WebPage;

#[OpenApi]
impl WebPage {
    /// The web page.
    #[oai(path = "/", method = "get", hidden)]
    async fn index(&self) -> Html<&'static str> {
        Html(INDEX)
    }

    /// The page's script.
    #[oai(path = "/app.js", method = "get", hidden)]
    async fn script(&self) -> Script {
        Script::Ok(PlainText(APP_JS))
    }

    /// The icon browsers ask for.
    #[oai(path = "/favicon.ico", method = "get", hidden)]
    async fn favicon(&self) -> Icon {
        Icon::Ok(PlainText(ICON))
    }
}
