//! The base of the absolute links a response hands out (pagination). `server.public_url` when
//! set; otherwise the request's own scheme and host, so a server reached as
//! `http://192.168.1.5:8080` links back there, and behind a reverse proxy listed in
//! `server.trusted_proxies` its `X-Forwarded-Proto` and `X-Forwarded-Host`.

use std::net::IpAddr;

use poem::Request;

use super::AppState;

/// A host as a `Host` header may carry it: a name or address and an optional port.
fn is_host(text: &str) -> bool {
    (1..=255).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

pub fn base_url(state: &AppState, req: &Request) -> String {
    if !state.links_from_request {
        return state.public_url.clone();
    }
    let header = |name: &str| {
        req.header(name)
            .map(|v| v.split(',').next().unwrap_or("").trim())
            .filter(|v| !v.is_empty())
    };
    let trusted = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip())
        .is_some_and(|ip: IpAddr| state.config.server.trusted_proxies.contains(&ip));
    let scheme = match header("x-forwarded-proto").filter(|_| trusted) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = header("x-forwarded-host")
        .filter(|h| trusted && is_host(h))
        .or_else(|| header("host").filter(|h| is_host(h)));
    match host {
        Some(host) => format!("{scheme}://{}", host.to_ascii_lowercase()),
        None => state.public_url.clone(),
    }
}
