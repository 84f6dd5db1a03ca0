//! The vocabulary of the service: prices, symbols, alerts and account rules. No I/O here.

pub mod account;
pub mod alert;
pub mod channel;
pub mod channel_fields;
mod fire;
pub mod percent;
mod price;
pub mod repeat;
pub mod symbol;

pub use alert::{
    Alert, AlertEdit, AlertId, Condition, Delivery, DeliveryStatus, NewAlert, Notification, Status,
    UserId,
};
pub use channel::{Channel, ChannelFields, ChannelId, ChannelKind, ChannelSettings};
pub use fire::{Cursor, Expired, FireRecord, Fired, Rearmed, Resolved};
pub use percent::Move;
pub use price::{Price, PriceError};
pub use repeat::{Distance, Repeat};
pub use symbol::{is_exchange_symbol, Symbol};
