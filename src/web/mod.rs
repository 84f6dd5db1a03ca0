//! The built-in web page, embedded in the binary: no separate server, no CDN. Served as a
//! hidden operation of the API service so it shares its middleware.

use poem_openapi::payload::{Binary, Html, PlainText};
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

#[derive(ApiResponse)]
enum Manifest {
    #[oai(status = 200, content_type = "application/manifest+json")]
    Ok(PlainText<&'static str>),
}

#[derive(ApiResponse)]
enum Png {
    #[oai(status = 200, content_type = "image/png")]
    Ok(Binary<&'static [u8]>),
}

const INDEX: &str = include_str!("index.html");
/// The page's script, served as a file so the Content-Security-Policy needs no inline scripts:
/// the charts, then the rest of the page.
const APP_JS: &str = concat!(include_str!("chart.js"), "\n", include_str!("app.js"));
/// The page's icon (SVG, which browsers take at /favicon.ico too).
const ICON: &str = include_str!("icon.svg");
/// What a phone needs to add the page to its home screen as an app.
const MANIFEST: &str = include_str!("manifest.webmanifest");
/// The icon drawn at the sizes phones take (`tests/browser/render-icons.mjs` makes them).
const ICON_180: &[u8] = include_bytes!("icon-180.png");
const ICON_192: &[u8] = include_bytes!("icon-192.png");
const ICON_512: &[u8] = include_bytes!("icon-512.png");

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

    /// The web app manifest.
    #[oai(path = "/manifest.webmanifest", method = "get", hidden)]
    async fn manifest(&self) -> Manifest {
        Manifest::Ok(PlainText(MANIFEST))
    }

    /// The home-screen icon iOS asks for.
    #[oai(path = "/apple-touch-icon.png", method = "get", hidden)]
    async fn apple_touch_icon(&self) -> Png {
        Png::Ok(Binary(ICON_180))
    }

    /// The manifest's small icon.
    #[oai(path = "/icon-192.png", method = "get", hidden)]
    async fn icon_192(&self) -> Png {
        Png::Ok(Binary(ICON_192))
    }

    /// The manifest's large icon.
    #[oai(path = "/icon-512.png", method = "get", hidden)]
    async fn icon_512(&self) -> Png {
        Png::Ok(Binary(ICON_512))
    }
}
