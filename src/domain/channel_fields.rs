//! The rule for each field a channel is set up with, written once: the check the server applies
//! and the same rule as a regular expression for the OpenAPI document (`api/text.rs` holds
//! each pattern to its check in a test). Errors say the rule; the caller names the field.

/// Longest URL, token or secret accepted.
pub const FIELD_MAX: usize = 2048;
/// Longest channel name, in characters.
pub const NAME_MAX: usize = 64;

/// A channel name: 1-64 characters, not only spaces.
pub const NAME_PATTERN: &str = r"\S";

pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > NAME_MAX {
        Err(format!("must be 1-{NAME_MAX} characters, not only spaces"))
    } else {
        Ok(())
    }
}

macro_rules! octet {
    () => {
        "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    };
}
macro_rules! url_body {
    () => {
        concat!(
            "[Hh][Tt][Tt][Pp][Ss]?://",
            "(?:(?:[A-Za-z0-9-]{1,63}\\.)*[A-Za-z][A-Za-z0-9-]{0,62}|(?:",
            octet!(),
            "\\.){3}",
            octet!(),
            ")",
            "(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
            "(?:[/?#][!-~]*)?"
        )
    };
}

/// An http(s) URL whose host is a name (its last label starting with a letter) or an IPv4
/// address in dotted decimal, an optional port, then any visible ASCII.
pub const URL_PATTERN: &str = concat!("^", url_body!(), "$");
/// The same, or empty (for a field where empty means the default).
pub const URL_OR_EMPTY_PATTERN: &str = concat!("^(?:", url_body!(), ")?$");

pub const URL_RULE: &str = "must be an http:// or https:// URL of at most 2048 visible ASCII \
     characters whose host is a name or an IPv4 address (percent-encode anything else)";

/// Checks a URL by hand, exactly as `URL_PATTERN` says it; every URL it passes parses.
pub fn check_url(url: &str) -> Result<(), String> {
    let bad = || Err(URL_RULE.to_string());
    if url.len() > FIELD_MAX {
        return bad();
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return bad();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !tail.bytes().all(|b| b.is_ascii_graphic()) {
        return bad();
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(port) = port {
        let digits =
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        let in_range = port.len() < 5
            || (!port.starts_with('0') && port.parse::<u32>().is_ok_and(|p| p <= 65535));
        if !(digits && in_range) {
            return bad();
        }
    }
    if is_dotted_quad(host) || is_host_name(host) {
        Ok(())
    } else {
        bad()
    }
}

fn is_dotted_quad(host: &str) -> bool {
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|b| b.is_ascii_digit())
                && (o.len() == 1 || !o.starts_with('0'))
                && o.parse::<u16>().is_ok_and(|v| v <= 255)
        })
}

/// Labels of letters, digits and '-', the last starting with a letter (so that no URL parser
/// reads it as a number).
fn is_host_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|l| l.as_bytes()[0].is_ascii_alphabetic())
}

/// A secret, token or key: visible ASCII (empty allowed where it means "none").
pub const SECRET_PATTERN: &str = r"^[!-~]*$";
pub const TOKEN_PATTERN: &str = r"^[!-~]+$";

pub fn check_secret(value: &str) -> Result<(), String> {
    if value.len() <= FIELD_MAX && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(format!(
            "must be at most {FIELD_MAX} visible ASCII characters"
        ))
    }
}

/// An ntfy topic.
pub const TOPIC_PATTERN: &str = r"^[A-Za-z0-9_-]{1,64}$";

pub fn check_topic(topic: &str) -> Result<(), String> {
    if (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err("must be 1-64 letters, digits, '_' and '-' (as ntfy allows)".into())
    }
}

/// A Telegram chat: its number, or a public channel's @username.
pub const CHAT_ID_PATTERN: &str = r"^(?:-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$";

pub fn check_chat_id(chat_id: &str) -> Result<(), String> {
    let digits = chat_id.strip_prefix('-').unwrap_or(chat_id);
    let numeric = (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    let username = chat_id.strip_prefix('@').is_some_and(|u| {
        (5..=32).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if numeric || username {
        Ok(())
    } else {
        Err(
            "must be a chat's number (e.g. 123456789 or -1001234567890) or a channel's @username"
                .into(),
        )
    }
}

/// URLs on either side of the rule, for the tests here and in `api/text.rs`.
#[cfg(test)]
pub const GOOD_URLS: &[&str] = &[
    "https://example.com/hook",
    "http://a",
    "HTTP://A-.b-/x",
    "http://a.b1:65535/%zz?q#f",
    "http://1.2.3.4:0",
    "http://255.255.255.255/",
    "http://x.y.z?",
    "http://a#",
    "https://xn--bcher-kva.example/",
];

#[cfg(test)]
pub const BAD_URLS: &[&str] = &[
    "http://",
    "http://1.2.3",
    "http://1.2.3.256",
    "http://01.2.3.4",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://[::1]/",
    "http://a:65536",
    "http://a:",
    "http://user@a/",
    "http://a b/",
    "ftp://a/",
    "http://a/\u{e9}",
    "http://a_b/",
    "http://a..b/",
];

/// The patterns are held to the checks in `api/text.rs`; here, that every URL the rule passes
/// is one the HTTP client can call.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_the_rule_passes_parses_with_its_host() {
        for url in GOOD_URLS {
            assert!(check_url(url).is_ok(), "{url}");
            let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(parsed.host().is_some(), "{url}");
        }
        for url in BAD_URLS {
            assert!(check_url(url).is_err(), "{url}");
        }
    }
}
