//! The running service: builds every part from the configuration, wires them together, and
//! `run`s them until told to stop. The only module that knows all the others.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::alerts::Alerts;
use crate::api::{self, AppState, ListCache};
use crate::auth::{self, Accounts, AuthError};
use crate::channels::Channels;
use crate::config::{Checkpoints, Config, ConfigError};
use crate::limits::Limits;
use crate::market::{self, Prices};
use crate::matcher::{self, Matcher, Work};
use crate::metrics::{Metrics, SmtpState};
use crate::notify::{Guard, Mailer, MailerError, Outbox, Push, Senders};
use crate::server::{self, nofile, ServerLimits};
use crate::store::backup::DataDirLock;
use crate::store::{Store, StoreError};

/// How long in-flight requests may take to finish after shutdown is asked for.
const GRACE: Duration = Duration::from_secs(5);
/// Then how long background work (an SMTP send in progress, closing streams, the last commits)
/// may take: the two together stay under 10 s.
const BACKGROUND_GRACE: Duration = Duration::from_secs(4);
/// Delivery outcomes a slow live listener may fall behind by before it skips ahead.
const DELIVERY_EVENTS: usize = 1024;

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
    #[error("cannot set up the HTTP client for notifications: {0}")]
    Http(String),
    #[error(
        "{db} is missing, but {dir} has a JWT secret: this data dir held a database before, so \
         its data looks lost. Restore a backup (pricealert restore --from FILE), or start with \
         --init to create a new, empty database"
    )]
    LostDatabase { db: PathBuf, dir: PathBuf },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Refuses a data dir that has a generated JWT secret but no database: the database was there
/// once (the secret is written on first start), so creating an empty one would hide lost data.
pub fn refuse_lost_database(data_dir: &Path) -> Result<(), AppError> {
    let db = data_dir.join(crate::store::DB_FILE);
    if !db.exists() && data_dir.join(auth::SECRET_FILE).exists() {
        return Err(AppError::LostDatabase {
            db,
            dir: data_dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Everything `run` needs: the state the API serves from, and what only the background
/// workers take.
pub struct App {
    state: Arc<AppState>,
    /// Held while the server runs, so restores (and a second server) keep off this data dir.
    _lock: DataDirLock,
    /// The matcher's queue of fires and cursors, for the persister.
    work: mpsc::UnboundedReceiver<Work>,
    /// Poked by the alerts service when fires commit, so the outbox delivers at once.
    outbox_wake: Arc<Notify>,
    senders: Senders,
}

impl App {
    /// Opens the database (migrating it), loads or creates the JWT secret, builds the parts.
    pub fn new(config: Config) -> Result<Self, AppError> {
        let lock = DataDirLock::acquire(&config.storage.data_dir)?;
        let store = Store::open(&config.storage.data_dir, config.storage.busy_timeout.get())?;
        let secret = auth::load_or_create_jwt_secret(
            config.auth.jwt_secret.as_ref(),
            &config.storage.data_dir,
        )
        .map_err(AppError::Secret)?;
        let accounts = Accounts::new(store.clone(), &config.auth, &secret)?;
        let lists = Arc::new(ListCache::new(
            config.cache.enabled,
            config.cache.ttl.get(),
            config.cache.max_bytes.get(),
        ));
        let guard = Guard {
            allow_private: config.notify.allow_private_targets,
        };
        let senders = Senders {
            mailer: Mailer::from_config(&config.smtp)?,
            push: Push::new(
                guard,
                config.notify.timeout.get(),
                &config.notify.telegram_api_url,
            )
            .map_err(|err| AppError::Http(err.to_string()))?,
            public_url: config.public_url(),
        };
        let channels = Channels::new(
            store.clone(),
            senders.clone(),
            guard,
            config.limits.max_channels_per_user,
        );
        let (matcher, work) = Matcher::new();
        let metrics = Arc::new(Metrics::default());
        let prices = Arc::new(Prices::default());
        let outbox_wake = Arc::new(Notify::new());
        let alerts = Alerts::new(
            store.clone(),
            matcher.clone(),
            prices.clone(),
            metrics.clone(),
            config.limits.max_alerts_per_user,
            outbox_wake.clone(),
            {
                let lists = lists.clone();
                Arc::new(move |user| lists.invalidate_user(user))
            },
        );
        let rest = if config.market.enabled {
            crate::market::Rest::new(&config.market.rest_url)
                .map_err(|err| tracing::error!(error = %err, "no REST client: price history unavailable"))
                .ok()
        } else {
            None
        };
        let history = crate::market::History::new(rest, prices.clone());
        let state = AppState {
            history,
            public_url: config.public_url(),
            links_from_request: config.server.public_url.is_none(),
            limits: Limits::new(&config.limits),
            config,
            store,
            accounts,
            alerts,
            channels,
            lists,
            matcher,
            metrics,
            prices,
            deliveries: broadcast::channel(DELIVERY_EVENTS).0,
            stopping: CancellationToken::new(),
        };
        Ok(Self {
            state: Arc::new(state),
            _lock: lock,
            work,
            outbox_wake,
            senders,
        })
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn run(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AppError> {
    let addr = listener.local_addr()?;
    let background = CancellationToken::new();
    let App {
        state,
        _lock: lock,
        work,
        outbox_wake,
        senders,
    } = app;
    let tasks = start_background(&state, work, outbox_wake, senders, background.clone()).await?;
    let limits = server_limits(&state.config);
    tracing::info!(
        "pricealert is listening: open {}/ (API docs at {}/docs; bound to {addr})",
        state.public_url,
        state.public_url
    );
    let stopping = state.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        // Live streams end now instead of holding the grace period.
        stopping.cancel();
    };
    server::serve(
        listener,
        api::routes(state.clone()),
        limits,
        shutdown,
        GRACE,
    )
    .await?;
    background.cancel();
    if tokio::time::timeout(BACKGROUND_GRACE, tasks.join_all())
        .await
        .is_err()
    {
        // Dropping the rest aborts them; an email not yet confirmed stays pending.
        tracing::warn!("background work did not stop in time; leaving it");
    }
    drop(lock);
    tracing::info!("server stopped");
    Ok(())
}

/// Arms the matcher from the database and starts the workers: the checkpointer, the fire
/// persister, the outbox and the market feed.
async fn start_background(
    state: &Arc<AppState>,
    work: mpsc::UnboundedReceiver<Work>,
    outbox_wake: Arc<Notify>,
    senders: Senders,
    shutdown: CancellationToken,
) -> Result<JoinSet<()>, AppError> {
    let mut tasks = JoinSet::new();
    let started = std::time::Instant::now();
    let armed = state.matcher.load(&state.store).await?;
    tracing::info!(
        armed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "matcher loaded"
    );
    match state.config.storage.checkpoints {
        Checkpoints::Server => {
            tasks.spawn(state.store.clone().run_checkpointer(shutdown.clone()));
        }
        Checkpoints::External => {
            state.store.leave_checkpoints_to_another_program().await?;
            tracing::info!("storage.checkpoints = external: the WAL is checkpointed by another program (Litestream)");
        }
    }
    let watched = state.clone();
    tasks.spawn(state.store.clone().watch(
        // An admin command (reset-password, delete-user) wrote: re-check sessions now.
        move || watched.accounts.forget_checked_sessions(),
        shutdown.clone(),
    ));
    let on_commit = {
        let state = state.clone();
        Arc::new(move |committed| state.alerts.committed(committed))
    };
    tasks.spawn(matcher::run_persister(
        state.store.clone(),
        work,
        on_commit,
        shutdown.clone(),
    ));
    if senders.mailer.is_some() {
        state.metrics.set_smtp(SmtpState::Ok);
    } else {
        tracing::warn!(
            "smtp.host is not set: email notifications are kept in the outbox as pending, and \
             are sent once SMTP is configured and the server restarted"
        );
    }
    let outbox = Outbox {
        store: state.store.clone(),
        senders,
        config: state.config.smtp.clone(),
        per_kind: state.config.notify.concurrency_per_kind,
        per_channel: state.config.notify.concurrency_per_channel,
        wake: outbox_wake,
        events: state.deliveries.clone(),
        metrics: state.metrics.clone(),
        render_alert: api::render_alert(state.prices.clone()),
    };
    tasks.spawn(outbox.run(shutdown.clone()));
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

/// The connection bounds, with the cap kept below the open-file limit (raised to its hard
/// limit first).
fn server_limits(config: &Config) -> ServerLimits {
    let max_connections = match nofile::raise() {
        Ok(files) => {
            let cap = nofile::connection_cap(config.server.max_connections, files);
            tracing::info!(
                open_files = files,
                max_connections = cap,
                "connection limits"
            );
            cap
        }
        Err(err) => {
            let cap = nofile::connection_cap(config.server.max_connections, 1024);
            tracing::warn!(error = %err, max_connections = cap, "cannot read the open-file limit");
            cap
        }
    };
    ServerLimits {
        header_timeout: config.server.header_timeout.get(),
        idle_timeout: config.server.idle_timeout.get(),
        max_connections,
    }
}
