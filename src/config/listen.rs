//! A listen address as people write it: `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080`, `:8080`
//! (every interface) or `localhost:8080`.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Deserializer};

pub const LISTEN_RULE: &str =
    "write it like 127.0.0.1:8080 (this machine), 0.0.0.0:8080 or :8080 (every interface), or \
     localhost:8080";

pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` is not a listen address: {LISTEN_RULE}"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("`{text}` has no valid port: {LISTEN_RULE}"))?;
    match host {
        "" => Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))),
        h if h.eq_ignore_ascii_case("localhost") => {
            Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        }
        _ => Err(format!("`{text}` is not a listen address: {LISTEN_RULE}")),
    }
}

/// For `server.listen` in the file or the environment.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_listen(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_as_people_write_them() {
        for (text, addr) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("[::1]:9", "[::1]:9"),
            (":8080", "0.0.0.0:8080"),
            ("localhost:8081", "127.0.0.1:8081"),
            ("LOCALHOST:1", "127.0.0.1:1"),
        ] {
            assert_eq!(parse_listen(text).unwrap().to_string(), addr, "{text}");
        }
        for bad in ["8080", "localhost", "example.com:80", ":x", ":70000", ""] {
            let err = parse_listen(bad).unwrap_err();
            assert!(err.contains("write it like"), "{bad}: {err}");
        }
    }
}
