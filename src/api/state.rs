//! What every handler can reach. Built by `app.rs`, which wires the parts together; the API
//! only reads it.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::alerts::ListKey;
use super::list_cache::ListCache;
use crate::alerts::Alerts;
use crate::auth::Accounts;
use crate::channels::Channels;
use crate::config::Config;
use crate::limits::Limits;
use crate::market::{History, Prices};
use crate::matcher::Matcher;
use crate::metrics::Metrics;
use crate::notify::Delivered;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub accounts: Accounts,
    pub alerts: Alerts,
    pub channels: Channels,
    /// Serialized list pages per user; the alerts service invalidates a user's on every change.
    pub lists: Arc<ListCache<ListKey, Bytes>>,
    pub matcher: Arc<Matcher>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub prices: Arc<Prices>,
    /// Candles for charts, from the exchange's REST API.
    pub history: History,
    /// `server.public_url` without a trailing slash, or `http://<listen>` when unset.
    pub public_url: String,
    /// `server.public_url` is unset: response links follow each request's host.
    pub links_from_request: bool,
    /// Delivery outcomes as the outbox records them, for live pages.
    pub deliveries: broadcast::Sender<Delivered>,
    /// Cancelled when the server begins to stop, so long-lived streams end at once.
    pub stopping: CancellationToken,
}
