//! What the matcher decides and the store records: fires, resolved conditions, and how far each
//! symbol's trade stream has been processed. Plain values, so the store and the matcher share
//! them without depending on each other.

use super::{AlertId, Condition, Delivery, Price, Symbol, UserId};

/// An alert a trade fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub id: AlertId,
    pub user: UserId,
    /// The alert's `armed_at` as the matcher knew it: the definition that fired.
    pub armed_at: i64,
    pub symbol: Symbol,
    /// The price of the trade that fired it.
    pub price: Price,
    /// The trade's time, milliseconds since the epoch.
    pub time: i64,
    /// The trade's aggregate id.
    pub trade: u64,
    /// A percent alert's reference: the window's low (a rise) or high (a fall) it was measured
    /// from.
    pub reference: Option<Price>,
    /// For a repeating alert, its count of fires with this one: the store applies a fire only
    /// to the alert at the count before it, so a fire replayed after a restart is a no-op and
    /// fires apply in order. `None` for a one-shot alert.
    pub repeat: Option<u32>,
}

/// A repeating alert that a trade past its re-arm distance re-armed after its `fire_count`th
/// fire (it fires again once its cooldown has passed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rearmed {
    pub id: AlertId,
    pub armed_at: i64,
    pub fire_count: u32,
    /// The aggregate id of the trade that re-armed it.
    pub trade: u64,
}

/// An alert that reached its `expires_at` unfired (or, repeating, between fires): every trade
/// before that moment was matched against it, and none from then on may fire it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expired {
    pub id: AlertId,
    /// The alert's `armed_at` as the matcher knew it: an edit since keeps it armed.
    pub armed_at: i64,
}

/// A `cross` alert whose side the first price decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub id: AlertId,
    /// The alert's `armed_at` as the matcher knew it.
    pub armed_at: i64,
    pub condition: Condition,
}

/// Where a symbol's trade stream was last processed: a restart resumes after `last_agg_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub symbol: Symbol,
    /// The last aggregate trade id processed.
    pub last_agg_id: u64,
    /// That trade's time, milliseconds since the epoch.
    pub trade_time: i64,
}

/// A fire as kept in an alert's history: the trade that fired it and each channel's delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FireRecord {
    pub alert: AlertId,
    pub symbol: Symbol,
    /// The trade's price.
    pub price: Price,
    /// The trade's time, milliseconds since the epoch.
    pub fired_at: i64,
    /// A percent alert's window low or high the fire was measured from.
    pub reference: Option<Price>,
    pub deliveries: Vec<Delivery>,
}
