//! Alerts: a user's wish to hear when a symbol's price crosses a target.

use std::fmt;

use super::{ChannelId, ChannelKind, Move, Price, Repeat, Symbol};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub i64);

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which side of the target fires the alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Fires at the first trade with price >= target.
    Above,
    /// Fires at the first trade with price <= target.
    Below,
    /// Not chosen by the user and no price known yet: the first price seen decides.
    Cross,
    /// A rise by `percent` within `window` from the window's lowest price (see `Move`).
    PercentUp,
    /// A fall by `percent` within `window` from the window's highest price.
    PercentDown,
    /// Either.
    PercentMove,
}

impl Condition {
    /// Whether it watches a move in percent rather than a target.
    pub fn is_percent(self) -> bool {
        matches!(
            self,
            Condition::PercentUp | Condition::PercentDown | Condition::PercentMove
        )
    }

    /// The side a new alert watches when its owner did not say: a target above the last price
    /// waits for a rise, one at or below it for a fall; with no price known yet, the first price
    /// seen decides (`Cross`).
    pub fn for_target(target: Price, last: Option<Price>) -> Self {
        match last {
            Some(last) if target > last => Condition::Above,
            Some(_) => Condition::Below,
            None => Condition::Cross,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Created,
    Triggered,
    /// Its `expires_at` passed before it fired (or, repeating, while it waited).
    Expired,
    Deleted,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Where an alert's email stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
}

text_enum!(Condition {
    Above => "above",
    Below => "below",
    Cross => "cross",
    PercentUp => "percent_up",
    PercentDown => "percent_down",
    PercentMove => "percent_move",
});
text_enum!(Status {
    Created => "created",
    Triggered => "triggered",
    Expired => "expired",
    Deleted => "deleted",
});
text_enum!(DeliveryStatus { Pending => "pending", Sent => "sent", Failed => "failed" });

/// One channel's delivery of a fire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub channel_id: ChannelId,
    pub kind: ChannelKind,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// What the service (or SMTP server) answered, or the connection error, last time it failed.
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

/// The deliveries of a fire, summed up: pending while any is pending, else failed if any
/// failed, else sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// The last error of a delivery that is not sent.
    pub last_error: Option<String>,
    /// When the last delivery was sent, once all are.
    pub sent_at: Option<i64>,
}

impl Notification {
    pub fn summarize(deliveries: &[Delivery]) -> Option<Self> {
        if deliveries.is_empty() {
            return None;
        }
        let any = |status| deliveries.iter().any(|d| d.status == status);
        let status = if any(DeliveryStatus::Pending) {
            DeliveryStatus::Pending
        } else if any(DeliveryStatus::Failed) {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Sent
        };
        Some(Self {
            status,
            attempts: deliveries.iter().map(|d| d.attempts).sum(),
            last_error: deliveries
                .iter()
                .filter(|d| d.status != DeliveryStatus::Sent)
                .find_map(|d| d.last_error.clone()),
            sent_at: (status == DeliveryStatus::Sent)
                .then(|| deliveries.iter().filter_map(|d| d.sent_at).max())
                .flatten(),
        })
    }
}

/// An alert as stored. Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug)]
pub struct Alert {
    pub id: AlertId,
    pub user_id: UserId,
    pub symbol: Symbol,
    /// Zero for a percent alert, which has none.
    pub target: Price,
    pub condition: Condition,
    /// A percent alert's move; `None` for the others.
    pub percent: Option<Move>,
    pub status: Status,
    pub created_at: i64,
    /// When it was created, or last edited or re-armed: trades before it never fire it.
    pub armed_at: i64,
    pub triggered_at: Option<i64>,
    pub triggered_price: Option<Price>,
    /// A percent alert's latest fire was measured from this price: the window's low (a rise)
    /// or high (a fall).
    pub triggered_reference: Option<Price>,
    /// The channels it notifies.
    pub channels: Vec<ChannelId>,
    /// The owner's words, shown with it and in every notification.
    pub note: Option<String>,
    /// How it re-arms after a fire; `None`: it fires once.
    pub repeat: Option<Repeat>,
    /// Its fires so far.
    pub fire_count: u32,
    /// A repeating alert that fired and has not yet seen a trade past its re-arm distance.
    pub awaiting_reset: bool,
    /// A repeating alert's latest fire plus its cooldown: it does not fire before then.
    pub cooldown_until: Option<i64>,
    /// The aggregate id of the trade behind a repeating alert's latest fire or re-arm.
    pub last_trade_id: Option<u64>,
    /// From this moment on no trade fires it.
    pub expires_at: Option<i64>,
    /// Each channel's delivery of the latest fire; empty before it fired.
    pub deliveries: Vec<Delivery>,
}

impl Alert {
    /// The latest fire's deliveries summed up; `None` before it fired.
    pub fn notification(&self) -> Option<Notification> {
        Notification::summarize(&self.deliveries)
    }

    /// Whether the next crossing would fire it, at `now`: armed, not waiting for a re-arm, and
    /// not past its expiry.
    pub fn is_armed(&self, now: i64) -> bool {
        self.status == Status::Created
            && !self.awaiting_reset
            && self.cooldown_until.is_none_or(|until| until <= now)
            && self.expires_at.is_none_or(|at| now < at)
    }
}

/// What a user asks for; validated, not yet stored.
#[derive(Clone, Debug)]
pub struct NewAlert {
    pub symbol: Symbol,
    /// Zero for a percent alert.
    pub target: Price,
    pub condition: Condition,
    pub percent: Option<Move>,
    /// Checked to be the owner's channels.
    pub channels: Vec<ChannelId>,
    pub note: Option<String>,
    pub repeat: Option<Repeat>,
    pub expires_at: Option<i64>,
}

/// What an edit changes; `None` leaves that part as it is.
#[derive(Clone, Debug, Default)]
pub struct AlertEdit {
    pub target: Option<Price>,
    pub condition: Option<Condition>,
    /// `Some(None)`: it is no longer a percent alert (the new condition says what it is).
    pub percent: Option<Option<Move>>,
    /// `Some(None)` removes the note.
    pub note: Option<Option<String>>,
    /// Checked to be the owner's channels; `Some(empty)`: all of the owner's enabled ones.
    pub channels: Option<Vec<ChannelId>>,
    /// `Some(None)` makes it one-shot.
    pub repeat: Option<Option<Repeat>>,
    /// `Some(None)` makes it never expire.
    pub expires_at: Option<Option<i64>>,
}

/// The longest note, in characters (a tweet's length).
pub const NOTE_MAX: usize = 280;
/// Any text but control characters other than tab and line breaks.
pub const NOTE_PATTERN: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$";

/// A note's rule, in words when it fails.
pub fn check_note(text: &str) -> Result<(), String> {
    if text.chars().count() > NOTE_MAX {
        return Err(format!("must be at most {NOTE_MAX} characters"));
    }
    if text
        .chars()
        .any(|c| c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err("must not hold control characters (tabs and line breaks are fine)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_sum_up_to_one_status() {
        let d = |status, at| Delivery {
            channel_id: ChannelId(1),
            kind: ChannelKind::Webhook,
            status,
            attempts: 1,
            last_error: (status != DeliveryStatus::Sent).then(|| "boom".to_string()),
            sent_at: at,
        };
        use DeliveryStatus::*;
        let sum = |ds: &[Delivery]| Notification::summarize(ds).map(|n| n.status);
        assert_eq!(sum(&[]), None);
        assert_eq!(sum(&[d(Sent, Some(5)), d(Pending, None)]), Some(Pending));
        assert_eq!(sum(&[d(Sent, Some(5)), d(Failed, None)]), Some(Failed));
        let all = Notification::summarize(&[d(Sent, Some(5)), d(Sent, Some(9))]).unwrap();
        assert_eq!((all.status, all.sent_at, all.attempts), (Sent, Some(9), 2));
    }

    #[test]
    fn the_last_price_chooses_the_side() {
        let p = |s| Price::parse(s).unwrap();
        assert_eq!(
            Condition::for_target(p("65000"), Some(p("64000"))),
            Condition::Above
        );
        assert_eq!(
            Condition::for_target(p("63000"), Some(p("64000"))),
            Condition::Below
        );
        assert_eq!(
            Condition::for_target(p("64000"), Some(p("64000.00"))),
            Condition::Below
        );
        assert_eq!(Condition::for_target(p("64000"), None), Condition::Cross);
    }
}
