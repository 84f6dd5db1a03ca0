//! Request strings, each checked by one rule written once. A `Checked<R>` is a JSON string (or a
//! query/path parameter) that passed `R::check`; its OpenAPI schema documents the same rule
//! (pattern, lengths, example), and a unit test holds each documented pattern to its check.
//!
//! Rules are checked by hand, never by poem-openapi's `pattern` validator, which compiles its
//! regex on every request (14% of `POST /alerts/create/` when profiled).

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use crate::domain::{account, alert, channel_fields, repeat, symbol};

/// One input rule: how the text is checked and how the check is documented.
pub trait Rule: Send + Sync + 'static {
    /// The same rule as `check`, as a regular expression for the OpenAPI document.
    const PATTERN: Option<&'static str> = None;
    const MIN_LENGTH: Option<usize> = None;
    const MAX_LENGTH: Option<usize> = None;
    const EXAMPLE: Option<&'static str> = None;
    /// `Err` says the rule in words.
    fn check(text: &str) -> Result<(), String>;
}

/// A string that passed rule `R`.
pub struct Checked<R> {
    pub text: String,
    rule: PhantomData<fn() -> R>,
}

impl<R> Checked<R> {
    pub fn into_inner(self) -> String {
        self.text
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<R> std::fmt::Debug for Checked<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords are Checked too: never print the text.
        f.write_str("Checked(..)")
    }
}

impl<R: Rule> Checked<R> {
    fn parse(text: String) -> ParseResult<Self> {
        match R::check(&text) {
            Ok(()) => Ok(Self {
                text,
                rule: PhantomData,
            }),
            Err(message) => Err(ParseError::custom(message)),
        }
    }
}

impl<R: Rule> Type for Checked<R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: R::PATTERN.map(str::to_string),
            min_length: R::MIN_LENGTH,
            max_length: R::MAX_LENGTH,
            example: R::EXAMPLE.map(|e| Value::String(e.into())),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.text)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.text))
    }
}

impl<R: Rule> ParseFromJSON for Checked<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        // Only a JSON string: poem-openapi's `String` would also take `false` or `12` as text,
        // making `{"username": false}` a user named "false".
        match value {
            Some(Value::String(text)) => Self::parse(text),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<R: Rule> ParseFromParameter for Checked<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value.to_string())
    }
}

impl<'de, R: Rule> serde::Deserialize<'de> for Checked<R> {
    /// Only a JSON string, checked by the rule; the error is the rule in words.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match R::check(&text) {
            Ok(()) => Ok(Self {
                text,
                rule: PhantomData,
            }),
            Err(message) => Err(serde::de::Error::custom(message)),
        }
    }
}

impl<R: Rule> ToJSON for Checked<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.text.clone()))
    }
}

/// A string of at most `MAX` characters, otherwise free: what a login or a token may be.
pub struct Bounded<const MAX: usize>;
impl<const MAX: usize> Rule for Bounded<MAX> {
    const MAX_LENGTH: Option<usize> = Some(MAX);
    fn check(text: &str) -> Result<(), String> {
        // Counted as the schema's maxLength counts: in characters.
        if text.len() <= MAX || text.chars().count() <= MAX {
            Ok(())
        } else {
            Err(format!("must be at most {MAX} characters"))
        }
    }
}
/// A username or an email as typed at login (never checked against the rules, so a login
/// reveals nothing about them).
pub type LoginName = Checked<Bounded<{ account::EMAIL_MAX }>>;
/// A password as typed at login or to confirm a change.
pub type LoginPassword = Checked<Bounded<1024>>;
/// A refresh token.
pub type RefreshText = Checked<Bounded<2048>>;

/// A symbol as a client writes it (`BTCUSDT`, `btcusdt`).
pub struct SymbolRule;
impl Rule for SymbolRule {
    const PATTERN: Option<&'static str> = Some(symbol::PATTERN);
    const EXAMPLE: Option<&'static str> = Some("BTCUSDT");
    fn check(text: &str) -> Result<(), String> {
        symbol::is_symbol_text(text)
            .then_some(())
            .ok_or_else(|| symbol::RULE.to_string())
    }
}
pub type SymbolText = Checked<SymbolRule>;

/// Comma-separated symbols, e.g. `BTCUSDT,ETHUSDT`.
pub struct SymbolListRule;
const SYMBOL_LIST_MAX: usize = 2000;
impl Rule for SymbolListRule {
    const PATTERN: Option<&'static str> = Some(r"^[A-Za-z0-9]{2,20}(,[A-Za-z0-9]{2,20})*$");
    const MAX_LENGTH: Option<usize> = Some(SYMBOL_LIST_MAX);
    const EXAMPLE: Option<&'static str> = Some("BTCUSDT,ETHUSDT");
    fn check(text: &str) -> Result<(), String> {
        if text.len() > SYMBOL_LIST_MAX {
            return Err(format!("must be at most {SYMBOL_LIST_MAX} characters"));
        }
        if text.split(',').all(symbol::is_symbol_text) {
            Ok(())
        } else {
            Err(format!(
                "must be comma-separated symbols; each {}",
                symbol::RULE
            ))
        }
    }
}
pub type SymbolList = Checked<SymbolListRule>;

impl SymbolList {
    /// The symbols, upper-cased, duplicates dropped.
    pub fn symbols(&self) -> std::collections::HashSet<crate::domain::Symbol> {
        self.text
            .split(',')
            .filter_map(|s| crate::domain::Symbol::parse(s).ok())
            .collect()
    }
}

pub struct UsernameRule;
impl Rule for UsernameRule {
    const PATTERN: Option<&'static str> = Some(account::USERNAME_PATTERN);
    const EXAMPLE: Option<&'static str> = Some("alice");
    fn check(text: &str) -> Result<(), String> {
        account::check_username(text).map_err(|_| account::USERNAME_RULE.to_string())
    }
}
pub type Username = Checked<UsernameRule>;

pub struct EmailRule;
impl Rule for EmailRule {
    const PATTERN: Option<&'static str> = Some(account::EMAIL_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(account::EMAIL_MAX);
    const EXAMPLE: Option<&'static str> = Some("alice@example.com");
    fn check(text: &str) -> Result<(), String> {
        account::check_email(text).map_err(|_| account::EMAIL_RULE.to_string())
    }
}
pub type Email = Checked<EmailRule>;

/// A channel's name.
pub struct ChannelNameRule;
impl Rule for ChannelNameRule {
    const PATTERN: Option<&'static str> = Some(channel_fields::NAME_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(channel_fields::NAME_MAX);
    const EXAMPLE: Option<&'static str> = Some("Phone");
    fn check(text: &str) -> Result<(), String> {
        channel_fields::check_name(text)
    }
}

/// An alert's note.
pub struct NoteRule;
impl Rule for NoteRule {
    const PATTERN: Option<&'static str> = Some(alert::NOTE_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(alert::NOTE_MAX);
    const EXAMPLE: Option<&'static str> = Some("Sell half, keep the rest");
    fn check(text: &str) -> Result<(), String> {
        alert::check_note(text)
    }
}
pub type NoteText = Checked<NoteRule>;

/// A repeating alert's re-arm distance: `"250"` or `"0.5%"`.
pub struct RearmRule;
impl Rule for RearmRule {
    const PATTERN: Option<&'static str> = Some(repeat::DISTANCE_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(40);
    const EXAMPLE: Option<&'static str> = Some("0.5%");
    fn check(text: &str) -> Result<(), String> {
        repeat::Distance::parse(text).map(|_| ())
    }
}
pub type RearmText = Checked<RearmRule>;

impl RearmText {
    pub fn distance(&self) -> Result<repeat::Distance, String> {
        repeat::Distance::parse(&self.text).map_err(|e| format!("repeat.rearm {e}"))
    }
}

/// A cooldown: `"0s"`, `"15m"`, `"2h"`, `"1d"`.
pub struct CooldownRule;
impl Rule for CooldownRule {
    const PATTERN: Option<&'static str> = Some(repeat::COOLDOWN_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(8);
    const EXAMPLE: Option<&'static str> = Some("15m");
    fn check(text: &str) -> Result<(), String> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let unit = &text[digits..];
        let ok = (1..=6).contains(&digits)
            && !(digits > 1 && text.starts_with('0'))
            && matches!(unit, "ms" | "s" | "m" | "h" | "d");
        ok.then_some(())
            .ok_or_else(|| "must be a whole number of ms, s, m, h or d, like 15m".to_string())
    }
}
pub type CooldownText = Checked<CooldownRule>;

impl CooldownText {
    /// In milliseconds.
    pub fn millis(&self) -> i64 {
        self.text
            .parse::<crate::config::HumanDuration>()
            .map_or(0, |d| d.get().as_millis() as i64)
    }
}

/// A moment: RFC 3339 with `T`, seconds, an optional fraction and `Z` or an offset.
pub struct TimeRule;
impl Rule for TimeRule {
    /// The shape; the check also wants a real date and time (no 30 February, no hour 24).
    const PATTERN: Option<&'static str> = Some(
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$",
    );
    const MAX_LENGTH: Option<usize> = Some(35);
    const EXAMPLE: Option<&'static str> = Some("2026-12-31T23:00:00Z");
    fn check(text: &str) -> Result<(), String> {
        parse_time(text).map(|_| ())
    }
}
pub type TimeText = Checked<TimeRule>;

impl TimeText {
    /// Milliseconds since the epoch (a fraction finer than that is cut off).
    pub fn millis(&self) -> i64 {
        parse_time(&self.text).unwrap_or(i64::MAX)
    }
}

fn parse_time(text: &str) -> Result<i64, String> {
    const RULE: &str = "must be an RFC 3339 time such as 2026-12-31T23:00:00Z";
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|d| d.len() == range.len() && d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let fixed = digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b'T')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    if !fixed {
        return Err(RULE.into());
    }
    let mut i = 19;
    if at(i, b'.') {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return Err(RULE.into());
        }
        i += 1 + n;
    }
    let zone = &b[i..];
    let offset = zone.len() == 6
        && matches!(zone[0], b'+' | b'-')
        && digits(i + 1..i + 3)
        && zone[3] == b':'
        && digits(i + 4..i + 6);
    if zone != b"Z" && !offset {
        return Err(RULE.into());
    }
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("{RULE}, with a real date and time"))?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).map_err(|_| RULE.to_string())
}

/// A URL a channel calls.
pub struct UrlRule;
impl Rule for UrlRule {
    const PATTERN: Option<&'static str> = Some(channel_fields::URL_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(channel_fields::FIELD_MAX);
    const EXAMPLE: Option<&'static str> = Some("https://ha.example.com/api/webhook/price");
    fn check(text: &str) -> Result<(), String> {
        channel_fields::check_url(text)
    }
}

/// A server's URL, or empty for the default.
pub struct UrlOrEmptyRule;
impl Rule for UrlOrEmptyRule {
    const PATTERN: Option<&'static str> = Some(channel_fields::URL_OR_EMPTY_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(channel_fields::FIELD_MAX);
    const EXAMPLE: Option<&'static str> = Some("https://ntfy.sh");
    fn check(text: &str) -> Result<(), String> {
        if text.is_empty() {
            Ok(())
        } else {
            channel_fields::check_url(text)
        }
    }
}

/// An optional secret or token: empty means none.
pub struct SecretRule;
impl Rule for SecretRule {
    const PATTERN: Option<&'static str> = Some(channel_fields::SECRET_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(channel_fields::FIELD_MAX);
    const EXAMPLE: Option<&'static str> = Some("a-long-random-string");
    fn check(text: &str) -> Result<(), String> {
        channel_fields::check_secret(text)
    }
}

/// A token a service requires.
pub struct TokenRule;
impl Rule for TokenRule {
    const PATTERN: Option<&'static str> = Some(channel_fields::TOKEN_PATTERN);
    const MAX_LENGTH: Option<usize> = Some(channel_fields::FIELD_MAX);
    const EXAMPLE: Option<&'static str> = Some("AbCdEf123");
    fn check(text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Err("is required".into());
        }
        channel_fields::check_secret(text)
    }
}

pub struct TopicRule;
impl Rule for TopicRule {
    const PATTERN: Option<&'static str> = Some(channel_fields::TOPIC_PATTERN);
    const EXAMPLE: Option<&'static str> = Some("alice-prices");
    fn check(text: &str) -> Result<(), String> {
        channel_fields::check_topic(text)
    }
}

pub struct ChatIdRule;
impl Rule for ChatIdRule {
    const PATTERN: Option<&'static str> = Some(channel_fields::CHAT_ID_PATTERN);
    const EXAMPLE: Option<&'static str> = Some("123456789");
    fn check(text: &str) -> Result<(), String> {
        channel_fields::check_chat_id(text)
    }
}

/// A password being set (registration, change); counted in characters.
pub struct NewPasswordRule;
impl Rule for NewPasswordRule {
    const MIN_LENGTH: Option<usize> = Some(account::PASSWORD_MIN);
    const MAX_LENGTH: Option<usize> = Some(account::PASSWORD_MAX);
    const EXAMPLE: Option<&'static str> = Some("correct horse battery");
    fn check(text: &str) -> Result<(), String> {
        account::check_password(text).map_err(|_| account::PASSWORD_RULE.to_string())
    }
}
pub type NewPassword = Checked<NewPasswordRule>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every documented pattern accepts exactly what its check accepts.
    fn agrees<R: Rule>(samples: &[&str]) {
        let pattern = regex::Regex::new(R::PATTERN.unwrap()).unwrap();
        for text in samples {
            let within_length = R::MAX_LENGTH.is_none_or(|max| text.chars().count() <= max);
            assert_eq!(
                R::check(text).is_ok(),
                pattern.is_match(text) && within_length,
                "{text:?}"
            );
        }
    }

    #[test]
    fn documented_patterns_match_the_checks() {
        let long = format!("{}@example.com", "a".repeat(65));
        let long_domain = format!("a@{}.com", "b".repeat(64));
        agrees::<SymbolRule>(&[
            "BTCUSDT",
            "btcusdt",
            "B",
            "BT",
            "ABCDEFGHIJKLMNOPQRST",
            "ABCDEFGHIJKLMNOPQRSTU",
            " BTCUSDT",
            "BTC-USDT",
            "BTCUSDT\n",
            "",
            "ÄBC",
            "12",
        ]);
        agrees::<SymbolListRule>(&[
            "BTCUSDT",
            "btcusdt,ETHUSDT",
            "BTCUSDT,",
            ",BTCUSDT",
            "A,BTCUSDT",
            "BTC USDT",
            "",
        ]);
        agrees::<UsernameRule>(&[
            "bob",
            "a.b-c_d",
            "ab",
            "bob smith",
            "bøb",
            "x234567890123456789012345678901ab",
            "a@b",
            "_.-",
        ]);
        let mut emails = vec![long.as_str(), long_domain.as_str()];
        emails.extend(account::GOOD_EMAILS);
        emails.extend(account::BAD_EMAILS);
        agrees::<EmailRule>(&emails);
        agrees::<ChannelNameRule>(&[
            "Phone",
            "",
            "   ",
            " a ",
            "\t",
            &"é".repeat(64),
            &"é".repeat(65),
        ]);
        agrees::<RearmRule>(&[
            "250",
            "0.5%",
            "007.5",
            "99.99999999%",
            "0.00000001%",
            "0.00000001",
            "0",
            "0%",
            "100%",
            "5.",
            ".5",
            "5.%",
            "1e3",
            " 1",
            "1 %",
            "-1",
            "99999999999.99999999",
            "100000000000",
        ]);
        agrees::<TimeRule>(&[
            "2026-12-31T23:00:00Z",
            "2026-12-31T23:00:00.5Z",
            "2026-12-31T23:00:00.123456789+05:30",
            "2026-12-31T23:00:00-01:00",
            "2026-12-31t23:00:00Z",
            "2026-12-31T23:00:00z",
            "2026-12-31 23:00:00Z",
            "2026-12-31T23:00Z",
            "2026-12-31T23:00:00",
            "2026-12-31T23:00:00.Z",
            "2026-12-31T23:00:00.1234567890Z",
            "2026-12-31T23:00:00+0530",
            "26-12-31T23:00:00Z",
            "",
        ]);
        // The pattern is the shape; a date that does not exist has it and is still refused.
        assert!(TimeRule::check("2026-02-30T00:00:00Z").is_err());
        assert!(TimeRule::check("2026-12-31T24:00:00Z").is_err());
        let t = |s: &str| parse_time(s).unwrap();
        assert_eq!(t("1970-01-01T00:00:01.0019Z"), 1001);
        assert_eq!(t("2026-12-31T23:00:00+01:00"), t("2026-12-31T22:00:00Z"));
        agrees::<CooldownRule>(&[
            "0s", "15m", "2h", "1d", "500ms", "999999d", "1000000d", "01m", "00s", "15", "m",
            "15min", "1.5h", "-1s", " 1s",
        ]);
        agrees::<NoteRule>(&[
            "",
            "Sell half",
            "line one\nline two\r\n\ttabbed",
            "bell\u{7}",
            "nul\u{0}",
            "esc\u{1b}[31m",
            "del\u{7f}",
            "naïve ✓ 🚀",
            &"é".repeat(280),
            &"é".repeat(281),
        ]);
        let long_url = format!("https://example.com/{}", "a".repeat(2048));
        let mut urls = vec!["", long_url.as_str(), "https://example.com/\u{e9}"];
        urls.extend(channel_fields::GOOD_URLS);
        urls.extend(channel_fields::BAD_URLS);
        agrees::<UrlRule>(&urls);
        agrees::<UrlOrEmptyRule>(&urls);
        let long_secret = "s".repeat(2049);
        let secrets = ["", "abc", "a b", "é", "~!", long_secret.as_str()];
        agrees::<SecretRule>(&secrets);
        agrees::<TokenRule>(&secrets);
        agrees::<TopicRule>(&["btc", "a_b-c", "", "a b", &"t".repeat(64), &"t".repeat(65)]);
        agrees::<ChatIdRule>(&[
            "123456789",
            "-1001234567890",
            "-",
            "",
            "@my_channel",
            "@abcd",
            "me",
            "12345678901234567890",
            "123456789012345678901",
            "-12345678901234567890",
        ]);
    }

    #[test]
    fn only_json_strings_are_text() {
        assert!(SymbolText::parse_from_json(Some(Value::Bool(false))).is_err());
        assert!(LoginName::parse_from_json(Some(Value::from(12))).is_err());
        assert!(serde_json::from_str::<Username>("false").is_err());
        let long = serde_json::Value::String("x".repeat(1025)).to_string();
        assert!(serde_json::from_str::<LoginPassword>(&long).is_err());
        assert_eq!(
            Username::parse_from_json(Some(Value::String("bob".into())))
                .unwrap()
                .as_str(),
            "bob"
        );
    }
}
