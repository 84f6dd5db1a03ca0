//! The running service: shared state, and `run`, which serves until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use poem::listener::TcpAcceptor;
use poem::Server;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ListKey};
use crate::auth::{self, Accounts, AuthError};
use crate::config::{Config, ConfigError};
use crate::domain::{AlertId, DeliveryStatus, UserId};
use crate::limits::Limits;
use crate::market::{self, Prices};
use crate::matcher::{self, Fired, Matcher, Work};
use crate::metrics::{Metrics, SmtpState};
use crate::notify::{Mailer, MailerError, Outbox};
use crate::store::cache::ListCache;
use crate::store::Committed;
use crate::store::{Store, StoreError};

/// How long in-flight requests may take to finish after shutdown is asked for.
const GRACE: Duration = Duration::from_secs(5);
/// Then how long background work (an SMTP send in progress, closing streams, the last commits)
/// may take: the two together stay under 10 s.
const BACKGROUND_GRACE: Duration = Duration::from_secs(4);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up the JWT secret: {0}")]
    Secret(std::io::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Mailer(#[from] MailerError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Something listeners may want to hear about as it happens.
#[derive(Clone, Debug)]
pub enum AppEvent {
    /// An alert fired, and its triggered state and outbox row are committed.
    Triggered(Fired),
    /// A delivery attempt of an alert's notification was recorded.
    Notification {
        alert: AlertId,
        user: UserId,
        status: DeliveryStatus,
    },
}

pub struct AppState {
    /// Held while the server runs, so restores (and a second server) keep off this data dir.
    _lock: crate::store::backup::DataDirLock,
    pub config: Config,
    pub store: Store,
    pub accounts: Accounts,
    pub lists: ListCache<ListKey, Bytes>,
    pub matcher: Arc<Matcher>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub prices: Arc<Prices>,
    /// `server.public_url` without a trailing slash.
    pub public_url: String,
    /// Poked when fires are committed so the outbox worker delivers at once.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// What happened, for live listeners (tests, the web page).
    pub events: tokio::sync::broadcast::Sender<AppEvent>,
    /// Taken by `run` to start the persister.
    work: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Work>>>,
}

impl AppState {
    /// Opens the database (migrating it), loads or creates the JWT secret, builds the caches.
    pub fn new(config: Config) -> Result<Self, AppError> {
        let lock = crate::store::backup::DataDirLock::acquire(&config.storage.data_dir)?;
        let store = Store::open(&config.storage.data_dir, config.storage.busy_timeout.get())?;
        let secret = auth::load_or_create_jwt_secret(
            config.auth.jwt_secret.as_ref(),
            &config.storage.data_dir,
        )
        .map_err(AppError::Secret)?;
        let accounts = Accounts::new(store.clone(), &config.auth, &secret)?;
        let lists = ListCache::new(
            config.cache.enabled,
            config.cache.ttl.get(),
            config.cache.max_entries,
        );
        let (matcher, work) = Matcher::new();
        let limits = Limits::new(&config.limits);
        Ok(Self {
            _lock: lock,
            public_url: config.public_url(),
            config,
            store,
            accounts,
            lists,
            matcher,
            limits,
            metrics: Arc::new(Metrics::default()),
            prices: Arc::new(Prices::default()),
            work: std::sync::Mutex::new(Some(work)),
            events: tokio::sync::broadcast::channel(1024).0,
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn run(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AppError> {
    let addr = listener.local_addr()?;
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let background = CancellationToken::new();
    let tasks = start_background(&state, background.clone()).await?;
    tracing::info!(%addr, docs = %format!("{}/docs", state.public_url), "pricealert is listening");
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(api::routes(state), shutdown, Some(GRACE))
        .await?;
    background.cancel();
    if tokio::time::timeout(BACKGROUND_GRACE, tasks.join_all())
        .await
        .is_err()
    {
        // Dropping the rest aborts them; an email not yet confirmed stays pending.
        tracing::warn!("background work did not stop in time; leaving it");
    }
    tracing::info!("server stopped");
    Ok(())
}

/// Arms the matcher from the database and starts the fire persister and the market feed.
async fn start_background(
    state: &Arc<AppState>,
    shutdown: CancellationToken,
) -> Result<JoinSet<()>, AppError> {
    // rustls needs one process-wide crypto provider; a second install is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut tasks = JoinSet::new();
    let started = std::time::Instant::now();
    let armed = state.matcher.load(&state.store).await?;
    tracing::info!(
        armed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "matcher loaded"
    );
    tasks.spawn(state.store.clone().run_checkpointer(shutdown.clone()));
    let work = state.work.lock().ok().and_then(|mut w| w.take());
    if let Some(work) = work {
        let owner = state.clone();
        let on_commit = Arc::new(move |committed: Committed| {
            for user in &committed.users {
                owner.lists.invalidate_user(*user);
            }
            if !committed.triggered.is_empty() {
                owner.metrics.fires.fetch_add(
                    committed.triggered.len() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                owner.outbox_wake.notify_one();
            }
            for fired in committed.triggered {
                let _ = owner.events.send(AppEvent::Triggered(fired));
            }
        });
        tasks.spawn(matcher::run_persister(
            state.store.clone(),
            work,
            on_commit,
            shutdown.clone(),
        ));
    }
    match Mailer::from_config(&state.config.smtp)? {
        Some(mailer) => {
            let outbox = Outbox {
                store: state.store.clone(),
                mailer,
                config: state.config.smtp.clone(),
                public_url: state.public_url.clone(),
                wake: state.outbox_wake.clone(),
                events: state.events.clone(),
                metrics: state.metrics.clone(),
            };
            state.metrics.set_smtp(SmtpState::Ok);
            tasks.spawn(outbox.run(shutdown.clone()));
        }
        None => tracing::warn!(
            "smtp.host is not set: notifications are kept in the outbox as pending, and are \
             sent once SMTP is configured and the server restarted"
        ),
    }
    if state.config.market.enabled {
        let cursors = state.store.market_cursors().await?;
        tasks.spawn(market::run(
            state.config.market.clone(),
            state.matcher.clone(),
            state.prices.clone(),
            cursors,
            state.metrics.clone(),
            shutdown,
        ));
    } else {
        tracing::warn!("market.enabled is false: alerts are stored but never fire");
    }
    Ok(tasks)
}
