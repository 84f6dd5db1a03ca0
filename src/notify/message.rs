//! The email for a fired alert: a plain-text body with an HTML alternative. Every value in it
//! was validated on the way in (symbols, prices, usernames, addresses), lettre encodes the
//! headers, and the HTML escapes what it shows: nothing a user typed can add a header.

use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use crate::clock::format_millis;
use crate::domain::Condition;
use crate::store::OutboxItem;

/// The stable `Message-ID` of a notification: a resend carries the same one, so mail clients
/// can tell a duplicate.
pub fn message_id(item: &OutboxItem, from: &Mailbox) -> String {
    format!(
        "<alert-{}.notification-{}@{}>",
        item.alert_id,
        item.id,
        from.email.domain()
    )
}

pub fn subject(item: &OutboxItem) -> String {
    match item.condition {
        Condition::Above => format!("{} rose above {}", item.symbol, item.target),
        Condition::Below => format!("{} fell below {}", item.symbol, item.target),
        Condition::Cross => format!("{} reached {}", item.symbol, item.target),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn compose(item: &OutboxItem, from: &Mailbox, public_url: &str) -> Result<Message, String> {
    let to: Mailbox = item
        .email
        .parse()
        .map_err(|e| format!("recipient address {:?} is not usable: {e}", item.email))?;
    let price = item
        .triggered_price
        .map(|p| p.to_string())
        .unwrap_or_else(|| "unknown".into());
    let time = item
        .triggered_at
        .map(|t| format_millis(t).replace('T', " ").replace('Z', " UTC"))
        .unwrap_or_else(|| "unknown".into());
    let link = format!("{public_url}/#alert-{}", item.alert_id);
    let manage = format!("{public_url}/");
    let condition = format!("{} {}", item.condition, item.target);
    let subject = subject(item);
    let text = format!(
        "Hello {user},\n\n\
         {subject}.\n\n\
         Symbol:       {symbol}\n\
         Condition:    {condition}\n\
         Trade price:  {price}\n\
         Time:         {time}\n\n\
         The alert: {link}\n\n\
         Alerts fire once. To be told again, create a new alert. Manage your alerts at {manage}\n\
         (or through the API documented at {public_url}/docs).\n\n\
         -- pricealert\n",
        user = item.username,
        symbol = item.symbol,
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>Hello {user},</p>\
         <p><strong>{subject}.</strong></p>\
         <table cellpadding=\"4\">\
         <tr><td>Symbol</td><td>{symbol}</td></tr>\
         <tr><td>Condition</td><td>{condition}</td></tr>\
         <tr><td>Trade price</td><td>{price}</td></tr>\
         <tr><td>Time</td><td>{time}</td></tr>\
         </table>\
         <p><a href=\"{link}\">See the alert</a></p>\
         <p>Alerts fire once. To be told again, create a new alert. \
         <a href=\"{manage}\">Manage your alerts</a>.</p>\
         <p>&mdash; pricealert</p></body></html>",
        user = escape(&item.username),
        subject = escape(&subject),
        symbol = escape(item.symbol.as_str()),
        condition = escape(&condition),
        price = escape(&price),
        time = escape(&time),
        link = escape(&link),
        manage = escape(&manage),
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id(item, from)))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| format!("cannot build the message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AlertId, Price, Symbol, UserId};

    fn item(condition: Condition) -> OutboxItem {
        OutboxItem {
            id: 7,
            alert_id: AlertId(42),
            user_id: UserId(1),
            attempts: 0,
            created_at: 0,
            email: "bob@example.com".into(),
            username: "bob".into(),
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            condition,
            target: Price::parse("65000").unwrap(),
            triggered_price: Some(Price::parse("65000.01").unwrap()),
            triggered_at: Some(1_672_515_782_136),
        }
    }

    #[test]
    fn subjects_say_what_happened() {
        assert_eq!(subject(&item(Condition::Above)), "BTCUSDT rose above 65000");
        assert_eq!(subject(&item(Condition::Below)), "BTCUSDT fell below 65000");
    }

    #[test]
    fn message_has_both_bodies_and_a_stable_id() {
        let from: Mailbox = "pricealert <alerts@example.org>".parse().unwrap();
        let msg = compose(&item(Condition::Above), &from, "https://alerts.example.org").unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <alert-42.notification-7@example.org>"),
            "{raw}"
        );
        assert!(raw.contains("Subject: BTCUSDT rose above 65000"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("https://alerts.example.org/#alert-42"));
        assert!(raw.contains("2022-12-31 19:43:02.136 UTC"));
    }
}
