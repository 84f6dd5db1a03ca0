//! pricealert: a self-hosted cryptocurrency price-alert server in one binary.

pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod limits;
pub mod log_summary;
pub mod market;
pub mod matcher;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod server;
pub mod store;
pub mod web;
