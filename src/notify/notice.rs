//! What every message says, whatever the channel: one line that says what happened, then the
//! target, the trade's price and time, and the link. Built once per delivery from the outbox row;
//! each channel only lays it out.

use std::time::Duration;

use crate::clock::format_millis;
use crate::config::HumanDuration;
use crate::domain::Condition;
use crate::store::DueDelivery;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// An alert fired.
    Triggered,
    /// `POST /channels/{id}/test/`.
    Test,
}

#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: NoticeKind,
    /// `BTCUSDT rose above 65000 — traded at 65001.50`
    pub headline: String,
    /// The headline without the price, for subjects and titles: `BTCUSDT rose above 65000`.
    pub title: String,
    /// (label, value) lines after the headline.
    pub details: Vec<(&'static str, String)>,
    /// Where the alert is on the page.
    pub link: String,
    /// A rise (green, chart going up) or a fall.
    pub rising: bool,
    /// The trade's time, RFC 3339 UTC.
    pub time: String,
    pub username: String,
}

impl Notice {
    pub fn for_delivery(d: &DueDelivery, public_url: &str) -> Self {
        let reference = d.reference.unwrap_or(d.target);
        let rising = match d.condition {
            Condition::Above | Condition::PercentUp => true,
            Condition::Below | Condition::PercentDown => false,
            Condition::Cross => d.price >= d.target,
            Condition::PercentMove => d.price >= reference,
        };
        let time = format_millis(d.fired_at);
        let (title, condition) = match d.percent {
            Some(m) => {
                let verb = if rising { "rose" } else { "fell" };
                let within = HumanDuration(Duration::from_millis(m.window_ms.max(0) as u64));
                (
                    format!("{} {verb} {}% within {within}", d.symbol, m.percent),
                    format!("{} {}% within {within}", d.condition, m.percent),
                )
            }
            None => {
                let verb = match d.condition {
                    Condition::Above => "rose above",
                    Condition::Below => "fell below",
                    _ => "reached",
                };
                (
                    format!("{} {verb} {}", d.symbol, d.target),
                    format!("{} {}", d.condition, d.target),
                )
            }
        };
        let mut details = vec![
            ("Symbol", d.symbol.to_string()),
            ("Condition", condition),
            ("Trade price", d.price.to_string()),
        ];
        if let (Some(_), Some(from)) = (d.percent, d.reference) {
            let label = if rising { "Window low" } else { "Window high" };
            details.push((label, from.to_string()));
        }
        details.push(("Time", readable(&time)));
        if let Some(note) = &d.note {
            details.push(("Note", note.clone()));
        }
        Self {
            kind: NoticeKind::Triggered,
            headline: format!("{title} — traded at {}", d.price),
            title,
            details,
            link: format!("{public_url}/#alert-{}", d.alert_id),
            rising,
            time,
            username: d.username.clone(),
        }
    }

    /// What `POST /channels/{id}/test/` sends.
    pub fn test(username: &str, public_url: &str, now_millis: i64) -> Self {
        let time = format_millis(now_millis);
        Self {
            kind: NoticeKind::Test,
            headline: "Test message from pricealert: this channel works".to_string(),
            title: "pricealert test message".to_string(),
            details: vec![("Time", readable(&time))],
            link: format!("{public_url}/"),
            rising: true,
            time,
            username: username.to_string(),
        }
    }

    /// The message as plain text: headline, details, link.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n", self.headline);
        for (label, value) in &self.details {
            text.push_str(&format!("{label}: {value}\n"));
        }
        text.push_str(&self.link);
        text
    }
}

/// `2022-12-31T19:43:02.136Z` as `2022-12-31 19:43:02.136 UTC`.
fn readable(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").replace('Z', " UTC")
}
