//! Where deliveries may go (SSRF). A channel's URL is user input; without this check any account
//! could make the server call its own loopback services, the LAN, or a cloud metadata address.
//! Non-public addresses are refused unless `notify.allow_private_targets` is on, on the address
//! actually connected to: the HTTP client resolves names through `GuardedResolver`, which drops
//! every non-public address (so a name that changes its DNS answer later is caught at delivery),
//! IP literals in URLs are checked before the request, and redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a refused target is told.
pub fn refusal(what: &str) -> String {
    format!(
        "{what} is not a public address; set notify.allow_private_targets = true to allow \
         targets on this machine or your network"
    )
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64: an IPv4 address inside
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

/// How long a name may take to resolve when a channel is set.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
pub struct Guard {
    pub allow_private: bool,
}

impl Guard {
    /// Checks a URL a channel will call: http(s), a host, and (unless private targets are
    /// allowed) only public addresses for it now, if it resolves now.
    pub async fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|_| format!("{url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("must be an http:// or https:// URL".to_string());
        }
        let host = parsed
            .host()
            .ok_or_else(|| "must name a host".to_string())?;
        if self.allow_private {
            return Ok(());
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            url::Host::Domain(name) => {
                // A name that does not resolve now is let through: each delivery resolves it
                // again and checks the address it connects to, and the test button says why
                // it cannot be reached. (localhost does resolve, and is refused here.)
                match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port)))
                    .await
                {
                    Ok(Ok(addrs)) => addrs.collect(),
                    Ok(Err(_)) | Err(_) => return Ok(()),
                }
            }
        };
        match addrs.iter().find(|a| !is_public(a.ip())) {
            Some(bad) => Err(refusal(&format!("{host} ({})", bad.ip()))),
            None => Ok(()),
        }
    }

    /// The literal IP of a URL about to be called, checked (a name is checked by the resolver).
    pub fn check_literal(&self, url: &reqwest::Url) -> Result<(), String> {
        if self.allow_private {
            return Ok(());
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if is_public(ip) {
            Ok(())
        } else {
            Err(refusal(&ip.to_string()))
        }
    }
}

/// Resolves names for the delivery client, keeping only public addresses (unless allowed).
pub struct GuardedResolver {
    pub guard: Guard,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| guard.allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    refusal(&format!("{host} resolves to an address that")).into();
                return Err(err);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_ranges_are_refused() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(bad)), "{bad}");
        }
        for good in ["1.1.1.1", "8.8.8.8", "172.32.0.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip(good)), "{good}");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_by_the_address_they_reach() {
        let guard = Guard {
            allow_private: false,
        };
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let err = guard.check_url(url).await.unwrap_err();
            assert!(err.contains("notify.allow_private_targets"), "{url}: {err}");
        }
        assert!(guard.check_url("ftp://example.com/").await.is_err());
        let open = Guard {
            allow_private: true,
        };
        assert!(open.check_url("http://127.0.0.1:8080/hook").await.is_ok());
    }
}
