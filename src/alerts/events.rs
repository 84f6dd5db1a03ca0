//! What the alerts service announces as it happens, for live pages and tests.

use crate::domain::Fired;

#[derive(Clone, Debug)]
pub enum AlertEvent {
    /// An alert fired, and its triggered state and outbox row are committed.
    Triggered(Fired),
}
