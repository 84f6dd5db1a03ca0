//! The documented routes as a static table: the metrics label of a request and the `Allow`
//! header of a 405 come from here. A unit test holds the table to the OpenAPI document, so a new
//! operation cannot be forgotten.
//!
//! Everything taken from a request for a label is mapped onto this fixed set first (unknown
//! paths are `other`, unknown methods `OTHER`), so no request can add a metrics series.

use poem::http::Method;

pub struct Route {
    /// The path as documented, `{name}` for a parameter; the metrics label.
    pub pattern: &'static str,
    /// The methods it answers, as an `Allow` header lists them.
    pub methods: &'static str,
}

const fn route(pattern: &'static str, methods: &'static str) -> Route {
    Route { pattern, methods }
}

pub const ROUTES: &[Route] = &[
    route("/healthz", "GET"),
    route("/metrics", "GET"),
    route("/auth/register", "POST"),
    route("/auth/login", "POST"),
    route("/auth/refresh", "POST"),
    route("/auth/logout", "POST"),
    route("/auth/password", "POST"),
    route("/register", "POST"),
    route("/login", "POST"),
    route("/alerts/create", "POST"),
    route("/alerts", "GET, POST"),
    route("/alerts/{id}", "DELETE, GET, PATCH"),
    route("/alerts/{id}/fires", "GET"),
    route("/alerts/{id}/rearm", "POST"),
    route("/fires", "GET"),
    route("/alerts/delete/{id}", "DELETE"),
    route("/channels", "GET, POST"),
    route("/channels/{id}", "DELETE, GET, PATCH"),
    route("/channels/{id}/test", "POST"),
    route("/prices", "GET"),
    route("/prices/{symbol}", "GET"),
    route("/prices/{symbol}/history", "GET"),
    route("/events", "GET"),
    // Served outside the OpenAPI document.
    route("/", "GET"),
    route("/app.js", "GET"),
    route("/favicon.ico", "GET"),
    route("/manifest.webmanifest", "GET"),
    route("/apple-touch-icon.png", "GET"),
    route("/icon-192.png", "GET"),
    route("/icon-512.png", "GET"),
    route("/docs", "GET"),
    route("/openapi.json", "GET"),
    route("/openapi.yaml", "GET"),
];

/// The label of an unknown path.
pub const OTHER_ROUTE: &str = "other";

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// The documented route a path belongs to; the most literal match wins, as in the router.
/// Runs for every request, so it compares segments in place without allocating.
pub fn route_of(path: &str) -> Option<&'static Route> {
    let count = segments(path).count();
    ROUTES
        .iter()
        .filter(|r| {
            segments(r.pattern).count() == count
                && segments(r.pattern)
                    .zip(segments(path))
                    .all(|(p, w)| p.starts_with('{') || p == w)
        })
        .max_by_key(|r| segments(r.pattern).filter(|p| !p.starts_with('{')).count())
}

/// A request method as a label: the standard methods by name, anything else `OTHER`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_documented_operation() {
        let spec: serde_json::Value =
            serde_json::from_str(&super::super::service().spec()).unwrap();
        let mut documented: Vec<(String, String)> = spec["paths"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(path, ops)| {
                let mut methods: Vec<String> = ops
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                methods.sort();
                (path.clone(), methods.join(", "))
            })
            .collect();
        documented.sort();
        let mut table: Vec<(String, String)> = ROUTES
            .iter()
            .take(documented.len())
            .map(|r| (r.pattern.to_string(), r.methods.to_string()))
            .collect();
        table.sort();
        assert_eq!(table, documented);
        let hidden = ROUTES.iter().skip_while(|r| r.pattern != "/").count();
        assert_eq!(ROUTES.len(), documented.len() + hidden);
    }

    #[test]
    fn paths_map_to_their_route_and_the_rest_to_none() {
        let label = |p| route_of(p).map(|r| r.pattern);
        assert_eq!(label("/alerts/12"), Some("/alerts/{id}"));
        assert_eq!(label("/alerts/create"), Some("/alerts/create"));
        assert_eq!(label("/alerts/delete/3"), Some("/alerts/delete/{id}"));
        assert_eq!(label("/"), Some("/"));
        assert_eq!(label("/nope/x/y"), None);
        assert_eq!(method_label(&Method::from_bytes(b"FOO").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::GET), "GET");
    }
}
