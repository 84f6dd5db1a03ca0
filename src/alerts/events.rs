//! What the alerts service announces as it happens, for live pages and tests.

use crate::domain::{AlertId, Fired, UserId};

#[derive(Clone, Debug)]
pub enum AlertEvent {
    /// An alert fired, and its triggered state and outbox row are committed.
    Triggered(Fired),
    /// An alert reached its `expires_at` unfired, and its `expired` status is committed.
    Expired { id: AlertId, user: UserId },
}
