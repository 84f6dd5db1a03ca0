//! Request and response bodies of `/alerts/*`.

use poem_openapi::{Enum, Object};

use super::nullable::Nullable;
use super::price_input::PriceInput;
use super::text::{CooldownText, NoteText, RearmText, SymbolText, TimeText};
use crate::clock::{format_millis, now_millis};
use crate::config::HumanDuration;
use crate::domain::{Alert, Condition, Delivery, DeliveryStatus, FireRecord, Repeat, Status};
use crate::market::{MarketStatus, Prices};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ConditionIn {
    /// Fire at the first trade at or above the target.
    Above,
    /// Fire at the first trade at or below the target.
    Below,
    /// Fire at the first trade at least `percent` % above the lowest trade within `window`
    /// before it.
    PercentUp,
    /// Fire at the first trade at least `percent` % below the highest trade within `window`.
    PercentDown,
    /// Either.
    PercentMove,
}

impl ConditionIn {
    pub fn condition(self) -> Condition {
        match self {
            ConditionIn::Above => Condition::Above,
            ConditionIn::Below => Condition::Below,
            ConditionIn::PercentUp => Condition::PercentUp,
            ConditionIn::PercentDown => Condition::PercentDown,
            ConditionIn::PercentMove => Condition::PercentMove,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConditionOut {
    Above,
    Below,
    /// Chosen by the first price seen.
    Cross,
    PercentUp,
    PercentDown,
    PercentMove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum StatusOut {
    Created,
    Triggered,
    /// Reached its `expires_at` unfired (a repeating alert: between fires).
    Expired,
    Deleted,
}

/// Where the alert's symbol stands on the exchange, from its latest symbol list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MarketStatusOut {
    Trading,
    /// Listed, but not trading now (`BREAK` during maintenance or a delisting): the alert waits.
    NotTrading,
    /// Not listed (any more, or it never was and the list was not loaded when the alert was
    /// made): the alert cannot fire until it is listed again.
    NotListed,
    /// The symbol list has not been loaded yet.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "lowercase")]
pub enum StatusFilter {
    Created,
    /// Same as `created`: armed and waiting.
    Active,
    Triggered,
    Expired,
    Deleted,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 5] = [
        StatusFilter::Created,
        StatusFilter::Active,
        StatusFilter::Triggered,
        StatusFilter::Expired,
        StatusFilter::Deleted,
    ];

    /// As the client wrote it, for links that repeat the filter.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Created => "created",
            StatusFilter::Active => "active",
            StatusFilter::Triggered => "triggered",
            StatusFilter::Expired => "expired",
            StatusFilter::Deleted => "deleted",
        }
    }

    pub fn status(self) -> Status {
        match self {
            StatusFilter::Created | StatusFilter::Active => Status::Created,
            StatusFilter::Triggered => Status::Triggered,
            StatusFilter::Expired => Status::Expired,
            StatusFilter::Deleted => Status::Deleted,
        }
    }
}

#[derive(Debug, Object, serde::Deserialize)]
pub struct AlertCreate {
    /// A Binance spot symbol such as `BTCUSDT`; lower case is accepted and upper-cased.
    pub cryptocurrency: SymbolText,
    /// Required for `above` and `below` (and when `condition` is left out); not given for the
    /// percent conditions.
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub target_price: Option<PriceInput>,
    /// Omit it (or send null) to let the current price decide between `above` and `below`.
    #[serde(default)]
    pub condition: Option<Nullable<ConditionIn>>,
    /// For the percent conditions: how far the price must move, in percent of the window's
    /// low (a rise) or high (a fall); a decimal above 0, at most 1000 (`"5"`, `"0.5"`).
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub percent: Option<PriceInput>,
    /// For the percent conditions: how far back the low or high is taken, from `"1m"` to
    /// `"24h"`. Only trades at or after the alert's creation (or its latest fire) count.
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub window: Option<CooldownText>,
    /// Ids of your channels to notify (404 if one is not yours); omit it for all of your
    /// enabled channels.
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub channels: Option<Vec<i64>>,
    /// Your own words, up to 280 characters (line breaks allowed): shown with the alert and
    /// included in every notification. Omit it, or send null or "", for none.
    #[serde(default)]
    pub note: Option<Nullable<NoteText>>,
    /// Omit it (or send null) for an alert that fires once.
    #[serde(default)]
    pub repeat: Option<Nullable<RepeatIn>>,
    /// When it stops watching: RFC 3339, in the future (400 otherwise). No trade at or after
    /// it fires the alert, however late it is processed; if it has not fired by then its
    /// status becomes `expired`. Omit it (or send null) for an alert that never expires.
    #[serde(default)]
    pub expires_at: Option<Nullable<TimeText>>,
}

/// What re-arming may change.
#[derive(Debug, Default, Object, serde::Deserialize)]
pub struct RearmBody {
    /// A new expiry, in the future: required when the alert's own has passed (an `expired`
    /// alert); left out, it keeps the one it has.
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub expires_at: Option<TimeText>,
}

/// A repeating alert: after each fire it waits until the price has moved back from the target
/// by `rearm` (a trade at or below target − rearm for `above`, at or above target + rearm for
/// `below`) **and** `cooldown` has passed since the fire; then the next crossing fires again.
#[derive(Debug, Object, serde::Deserialize)]
pub struct RepeatIn {
    /// How far the price must move back: a price (`"250"`) or a percentage of the target
    /// (`"0.5%"`, above 0 and below 100). Required for `above`/`below`; not given for a percent
    /// alert, which re-arms after its cooldown with its window starting afresh at the fire.
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub rearm: Option<RearmText>,
    /// How long it stays quiet after a fire, in trade time: `"30s"`, `"15m"`, `"2h"`, `"1d"`;
    /// default `"0s"`.
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub cooldown: Option<CooldownText>,
}

impl RepeatIn {
    pub fn repeat(&self) -> Result<Repeat, String> {
        Ok(Repeat {
            rearm: self.rearm.as_ref().map(RearmText::distance).transpose()?,
            cooldown_ms: self.cooldown.as_ref().map_or(0, CooldownText::millis),
        })
    }
}

/// A repeating alert's rule, as given.
#[derive(Debug, Clone, Object)]
pub struct RepeatOut {
    /// null for a percent alert.
    pub rearm: Nullable<String>,
    pub cooldown: String,
}

/// What to change in an armed alert; every field is optional, and left out means unchanged.
#[derive(Debug, Object, serde::Deserialize)]
pub struct AlertPatch {
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub target_price: Option<PriceInput>,
    /// A percent alert's move (see creation).
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub percent: Option<PriceInput>,
    /// A percent alert's window (see creation).
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub window: Option<CooldownText>,
    /// null lets the current price decide, as at creation.
    #[serde(default, deserialize_with = "super::body::present")]
    pub condition: Option<Nullable<ConditionIn>>,
    /// Ids of your channels to notify (409 if one is not yours); `[]` for all of your enabled
    /// channels.
    #[serde(default, deserialize_with = "super::body::not_null")]
    pub channels: Option<Vec<i64>>,
    /// null or "" removes the note.
    #[serde(default, deserialize_with = "super::body::present")]
    pub note: Option<Nullable<NoteText>>,
    /// null makes it fire once; an object makes it repeat. Either way it starts armed afresh.
    #[serde(default, deserialize_with = "super::body::present")]
    pub repeat: Option<Nullable<RepeatIn>>,
    /// A new expiry in the future, or null for none.
    #[serde(default, deserialize_with = "super::body::present")]
    pub expires_at: Option<Nullable<TimeText>>,
}

#[derive(Debug, Clone, Object)]
pub struct AlertOut {
    pub id: i64,
    pub cryptocurrency: String,
    /// Exactly as it was given; null for a percent alert.
    pub target_price: Nullable<String>,
    pub condition: ConditionOut,
    /// A percent alert's move, as given; null for the others.
    pub percent: Nullable<String>,
    /// A percent alert's window (`"1h"`); null for the others.
    pub window: Nullable<String>,
    pub status: StatusOut,
    /// The owner's user id.
    pub user: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub triggered_at: Nullable<String>,
    /// The price of the trade that fired the alert.
    pub triggered_price: Nullable<String>,
    /// A percent alert's latest fire was measured from this price: the window's low (a rise)
    /// or high (a fall).
    pub triggered_reference: Nullable<String>,
    /// The symbol's last known price, when one is known (lists may lag by `cache.ttl`).
    pub current_price: Nullable<String>,
    /// Ids of the channels it notifies.
    pub channels: Vec<i64>,
    /// The owner's note, as given; null when there is none.
    pub note: Nullable<String>,
    /// How it re-arms after each fire; null for an alert that fires once.
    pub repeat: Nullable<RepeatOut>,
    /// Its fires so far.
    pub fire_count: u32,
    /// Whether the next crossing would fire it now: `created`, and (repeating) past its re-arm
    /// distance and cooldown since the latest fire.
    pub armed: bool,
    /// RFC 3339, UTC: from then on no trade fires it; null when it never expires.
    pub expires_at: Nullable<String>,
    /// Where its symbol stands on the exchange (lists may lag by `cache.ttl`).
    pub market_status: MarketStatusOut,
    /// Why it may not fire although armed (its symbol is not trading or not listed); null
    /// otherwise.
    pub warning: Nullable<String>,
    /// The latest fire's deliveries summed up (pending while any is pending, else failed if
    /// any failed, else sent); null until it fired.
    pub notification: Nullable<NotificationOut>,
    /// The latest fire's delivery through each channel; empty until it fired.
    pub notifications: Vec<ChannelDeliveryOut>,
}

#[derive(Debug, Clone, Object)]
pub struct ChannelDeliveryOut {
    pub channel_id: i64,
    pub kind: String,
    pub status: DeliveryOut,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// What the service answered, or the error, last time it failed.
    pub last_error: Nullable<String>,
    /// RFC 3339, UTC.
    pub sent_at: Nullable<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryOut {
    /// Waiting to be sent (or to be retried).
    Pending,
    Sent,
    /// Refused by the service, or still failing after `smtp.give_up_after`.
    Failed,
}

impl DeliveryOut {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => DeliveryOut::Pending,
            DeliveryStatus::Sent => DeliveryOut::Sent,
            DeliveryStatus::Failed => DeliveryOut::Failed,
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct NotificationOut {
    pub status: DeliveryOut,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// The error of a delivery that is not sent.
    pub last_error: Nullable<String>,
    /// RFC 3339, UTC.
    pub sent_at: Nullable<String>,
}

#[derive(Debug, Clone, Object)]
pub struct AlertList {
    pub results: Vec<AlertOut>,
    /// Alerts matching the filters, on all pages.
    pub count: i64,
    /// Absolute URL of the next page, or null on the last page.
    pub next: Nullable<String>,
    /// Absolute URL of the previous page, or null on the first page.
    pub previous: Nullable<String>,
}

impl AlertOut {
    pub fn new(alert: &Alert, prices: &Prices) -> Self {
        let status = prices.market_status(&alert.symbol);
        let waiting = alert.status == Status::Created;
        let (market_status, warning) = match status {
            MarketStatus::Trading => (MarketStatusOut::Trading, None),
            MarketStatus::Unknown => (MarketStatusOut::Unknown, None),
            MarketStatus::NotTrading(s) => (
                MarketStatusOut::NotTrading,
                waiting.then(|| {
                    format!(
                        "{} is not trading now (exchange status {s}): the alert fires when \
                         trading resumes",
                        alert.symbol
                    )
                }),
            ),
            MarketStatus::NotListed => (
                MarketStatusOut::NotListed,
                waiting.then(|| {
                    format!(
                        "{} is not listed by the exchange: the alert cannot fire unless it is \
                         listed again",
                        alert.symbol
                    )
                }),
            ),
        };
        Self {
            id: alert.id.0,
            cryptocurrency: alert.symbol.to_string(),
            target_price: alert
                .percent
                .is_none()
                .then(|| alert.target.to_string())
                .into(),
            condition: match alert.condition {
                Condition::Above => ConditionOut::Above,
                Condition::Below => ConditionOut::Below,
                Condition::Cross => ConditionOut::Cross,
                Condition::PercentUp => ConditionOut::PercentUp,
                Condition::PercentDown => ConditionOut::PercentDown,
                Condition::PercentMove => ConditionOut::PercentMove,
            },
            percent: alert.percent.map(|m| m.percent.to_string()).into(),
            window: alert.percent.map(|m| duration_text(m.window_ms)).into(),
            status: match alert.status {
                Status::Created => StatusOut::Created,
                Status::Triggered => StatusOut::Triggered,
                Status::Expired => StatusOut::Expired,
                Status::Deleted => StatusOut::Deleted,
            },
            user: alert.user_id.0,
            created_at: format_millis(alert.created_at),
            triggered_at: alert.triggered_at.map(format_millis).into(),
            triggered_price: alert.triggered_price.map(|p| p.to_string()).into(),
            triggered_reference: alert.triggered_reference.map(|p| p.to_string()).into(),
            current_price: prices.get(&alert.symbol).map(|(p, _)| p.to_string()).into(),
            channels: alert.channels.iter().map(|c| c.0).collect(),
            note: alert.note.clone().into(),
            repeat: alert
                .repeat
                .map(|r| RepeatOut {
                    rearm: r.rearm.map(|d| d.to_string()).into(),
                    cooldown: duration_text(r.cooldown_ms),
                })
                .into(),
            fire_count: alert.fire_count,
            armed: alert.is_armed(now_millis()),
            expires_at: alert.expires_at.map(format_millis).into(),
            market_status,
            warning: warning.into(),
            notification: alert
                .notification()
                .map(|n| NotificationOut {
                    status: DeliveryOut::from(n.status),
                    attempts: n.attempts,
                    last_error: n.last_error.into(),
                    sent_at: n.sent_at.map(format_millis).into(),
                })
                .into(),
            notifications: alert
                .deliveries
                .iter()
                .map(ChannelDeliveryOut::new)
                .collect(),
        }
    }
}

impl ChannelDeliveryOut {
    fn new(d: &Delivery) -> Self {
        Self {
            channel_id: d.channel_id.0,
            kind: d.kind.to_string(),
            status: DeliveryOut::from(d.status),
            attempts: d.attempts,
            last_error: d.last_error.clone().into(),
            sent_at: d.sent_at.map(format_millis).into(),
        }
    }
}

/// One fire of an alert.
#[derive(Debug, Clone, Object)]
pub struct FireOut {
    /// The alert that fired.
    pub alert_id: i64,
    /// Its symbol.
    pub cryptocurrency: String,
    /// The time of the trade that fired it, RFC 3339 UTC.
    pub fired_at: String,
    /// That trade's price.
    pub price: String,
    /// A percent alert's window low (a rise) or high (a fall) the fire was measured from.
    pub reference_price: Nullable<String>,
    /// Each channel's delivery of this fire.
    pub notifications: Vec<ChannelDeliveryOut>,
}

impl FireOut {
    pub fn new(fire: &FireRecord) -> Self {
        Self {
            alert_id: fire.alert.0,
            cryptocurrency: fire.symbol.to_string(),
            fired_at: format_millis(fire.fired_at),
            price: fire.price.to_string(),
            reference_price: fire.reference.map(|p| p.to_string()).into(),
            notifications: fire
                .deliveries
                .iter()
                .map(ChannelDeliveryOut::new)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Object)]
pub struct FireList {
    /// Newest first.
    pub results: Vec<FireOut>,
    /// The fires on all pages.
    pub count: i64,
    /// Absolute URL of the next page, or null on the last page.
    pub next: Nullable<String>,
    /// Absolute URL of the previous page, or null on the first page.
    pub previous: Nullable<String>,
}

/// A duration as the API writes it (`"15m"`).
fn duration_text(ms: i64) -> String {
    HumanDuration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// The alert as `GET /alerts/{id}/` shows it, for webhook bodies.
pub fn render_alert(prices: std::sync::Arc<Prices>) -> crate::notify::RenderAlert {
    std::sync::Arc::new(move |alert: &Alert| {
        poem_openapi::types::ToJSON::to_json(&AlertOut::new(alert, &prices))
            .unwrap_or(serde_json::Value::Null)
    })
}
