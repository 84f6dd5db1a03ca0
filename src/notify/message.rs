//! The email of a notice: a plain-text body with an HTML alternative. Every value in it was
//! validated on the way in (symbols, prices, usernames, addresses), lettre encodes the headers,
//! and the HTML escapes what it shows: nothing a user typed can add a header.

use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use super::notice::{Notice, NoticeKind};

/// The stable `Message-ID` of a delivery: a resend carries the same one, so mail clients can
/// tell a duplicate.
pub fn message_id(delivery_key: &str, from: &Mailbox) -> String {
    format!("<{delivery_key}@{}>", from.email.domain())
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The email of `notice` to `address`; `key` makes its Message-ID.
pub fn compose(
    notice: &Notice,
    address: &str,
    key: &str,
    from: &Mailbox,
    public_url: &str,
) -> Result<Message, String> {
    let to: Mailbox = address
        .parse()
        .map_err(|e| format!("recipient address {address:?} is not usable: {e}"))?;
    let manage = format!("{public_url}/");
    let closing = match notice.kind {
        NoticeKind::Triggered => "Alerts fire once. To be told again, create a new alert.",
        NoticeKind::Test => "Alerts that fire will be sent here.",
    };
    let mut details = String::new();
    let mut rows = String::new();
    for (label, value) in &notice.details {
        details.push_str(&format!("{:<13} {value}\n", format!("{label}:")));
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(label),
            escape(value)
        ));
    }
    let text = format!(
        "Hello {user},\n\n\
         {headline}.\n\n\
         {details}\n\
         The alert: {link}\n\n\
         {closing} Manage your alerts at {manage}\n\
         (or through the API documented at {public_url}/docs).\n\n\
         -- pricealert\n",
        user = notice.username,
        headline = notice.headline,
        link = notice.link,
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Hello {user},</p>\
         <p><strong>{headline}.</strong></p>\
         <table cellpadding=\"4\">{rows}</table>\
         <p><a href=\"{link}\">See the alert</a></p>\
         <p>{closing} <a href=\"{manage}\">Manage your alerts</a>.</p>\
         <p>&mdash; pricealert</p></body></html>",
        user = escape(&notice.username),
        headline = escape(&notice.headline),
        link = escape(&notice.link),
        closing = escape(closing),
        manage = escape(&manage),
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(notice.title.clone())
        .message_id(Some(message_id(key, from)))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| format!("cannot build the message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AlertId, Channel, ChannelId, ChannelSettings, Condition, Price, Symbol, UserId,
    };
    use crate::store::DueDelivery;

    fn delivery(condition: Condition) -> DueDelivery {
        DueDelivery {
            id: 7,
            key: "k7".into(),
            alert_id: AlertId(42),
            user_id: UserId(1),
            attempts: 0,
            created_at: 0,
            username: "bob".into(),
            channel: Channel {
                id: ChannelId(3),
                user_id: UserId(1),
                name: "Email".into(),
                enabled: true,
                created_at: 0,
                settings: ChannelSettings::Email {
                    address: "bob@example.com".into(),
                },
            },
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            condition,
            target: Price::parse("65000").unwrap(),
            percent: None,
            price: Price::parse("65000.01").unwrap(),
            fired_at: 1_672_515_782_136,
            reference: None,
            note: None,
        }
    }

    #[test]
    fn subjects_say_what_happened() {
        let n = Notice::for_delivery(&delivery(Condition::Above), "https://a.example");
        assert_eq!(n.headline, "BTCUSDT rose above 65000 — traded at 65000.01");
        let n = Notice::for_delivery(&delivery(Condition::Below), "https://a.example");
        assert!(n.headline.starts_with("BTCUSDT fell below 65000"));
        assert!(!n.text().contains("Note:"));
    }

    #[test]
    fn the_note_is_in_every_layout() {
        let mut d = delivery(Condition::Above);
        d.note = Some("Sell half <now>\nthen wait".into());
        let n = Notice::for_delivery(&d, "https://a.example");
        assert!(
            n.text().contains("Note: Sell half <now>\nthen wait\n"),
            "{}",
            n.text()
        );
        let from: Mailbox = "pricealert <alerts@example.org>".parse().unwrap();
        let msg = compose(&n, "bob@example.com", &d.key, &from, "https://a.example").unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("Sell half &lt;now&gt;"), "{raw}");
    }

    #[test]
    fn message_has_both_bodies_and_a_stable_id() {
        let from: Mailbox = "pricealert <alerts@example.org>".parse().unwrap();
        let d = delivery(Condition::Above);
        let notice = Notice::for_delivery(&d, "https://alerts.example.org");
        let msg = compose(
            &notice,
            "bob@example.com",
            &d.key,
            &from,
            "https://alerts.example.org",
        )
        .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("Message-ID: <k7@example.org>"), "{raw}");
        assert!(raw.contains("Subject: BTCUSDT rose above 65000"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("https://alerts.example.org/#alert-42"));
        assert!(raw.contains("2022-12-31 19:43:02.136 UTC"));
    }
}
