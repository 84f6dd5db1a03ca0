//! Alerts: a user's wish to hear when a symbol's price crosses a target.

use std::fmt;

use super::{Price, Symbol};

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
}

impl Condition {
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

text_enum!(Condition { Above => "above", Below => "below", Cross => "cross" });
text_enum!(Status { Created => "created", Triggered => "triggered", Deleted => "deleted" });
text_enum!(DeliveryStatus { Pending => "pending", Sent => "sent", Failed => "failed" });

/// The notification of a fired alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// The SMTP server's reply or the connection error of the last failed attempt.
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

/// An alert as stored. Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug)]
pub struct Alert {
    pub id: AlertId,
    pub user_id: UserId,
    pub symbol: Symbol,
    pub target: Price,
    pub condition: Condition,
    pub status: Status,
    pub created_at: i64,
    pub triggered_at: Option<i64>,
    pub triggered_price: Option<Price>,
    /// Present once the alert fired.
    pub notification: Option<Notification>,
}

/// What a user asks for; validated, not yet stored.
#[derive(Clone, Debug)]
pub struct NewAlert {
    pub symbol: Symbol,
    pub target: Price,
    pub condition: Condition,
}

#[cfg(test)]
mod tests {
    use super::*;

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
