//! The command line: `serve` and the admin commands.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::app::{self, App, AppError};
use crate::auth::Accounts;
use crate::config::{Config, Overrides};
use crate::notify::Mailer;
use crate::store::{self, Store};

#[derive(Debug, Parser)]
#[command(
    name = "pricealert",
    version,
    about = "Self-hosted cryptocurrency price alerts"
)]
pub struct Cli {
    /// Config file (default: ./config.toml when it exists).
    #[arg(long, global = true, env = "PRICEALERT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Where the database and generated secrets live (default ./data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on: 127.0.0.1:8080 (the default), 0.0.0.0:8080 or :8080 (every
        /// interface), localhost:8080.
        #[arg(long, value_name = "ADDR", value_parser = crate::config::listen::parse_listen)]
        listen: Option<SocketAddr>,
        /// Create a new, empty database even though the data dir already has a JWT secret
        /// (without it, a missing database there is taken for lost data and serve refuses).
        #[arg(long)]
        init: bool,
    },
    /// Apply pending database migrations and print the schema version.
    Migrate,
    /// Create a user; the password is read from stdin or prompted for, never taken from argv.
    CreateUser {
        /// 3-32 letters, digits, '.', '_' or '-'.
        #[arg(long)]
        username: String,
        /// Where their email notifications go.
        #[arg(long)]
        email: String,
    },
    /// Set a user's password (read from stdin or prompted for) and end all their sessions.
    ResetPassword {
        /// The user whose password changes.
        #[arg(long)]
        username: String,
    },
    /// Delete a user with their alerts and notifications; their tokens stop working at once
    /// (within a second on a running server).
    DeleteUser {
        /// The user to delete.
        #[arg(long)]
        username: String,
    },
    /// Copy the database to FILE with SQLite's online backup; safe while the server runs.
    Backup {
        /// The backup file to write, in an existing folder (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Replace the database with FILE (a backup); refuses while a server uses the data dir.
    Restore {
        /// A backup written by `pricealert backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Print the OpenAPI document as YAML.
    Openapi,
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Send a test email through the configured SMTP server and print its reply.
    SendTestEmail {
        /// Recipient address.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
    },
    /// Exit 0 when the running server's /healthz answers 200 within 3 s, 1 otherwise (for a
    /// container's HEALTHCHECK).
    Healthcheck {
        /// The server's base URL (default: http:// and server.listen, with 0.0.0.0 or :: asked
        /// on the loopback address).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_path: self.config.clone(),
            data_dir: self.data_dir.clone(),
            listen: match &self.command {
                Command::Serve { listen, .. } => *listen,
                _ => None,
            },
        }
    }
}

/// Runs a command other than `openapi` with its loaded configuration.
pub async fn dispatch(command: Command, config: Config) -> Result<(), AppError> {
    match command {
        Command::Serve { init, .. } => serve(config, init).await,
        Command::Migrate => {
            let data_dir = config.storage.data_dir.clone();
            let busy = config.storage.busy_timeout.get();
            let (before, after) =
                tokio::task::spawn_blocking(move || store::migrate(&data_dir, busy))
                    .await
                    .map_err(|err| AppError::Io(std::io::Error::other(err)))??;
            if before == after {
                println!("schema is up to date at version {after}");
            } else {
                println!("migrated schema from version {before} to {after}");
            }
            Ok(())
        }
        Command::CreateUser { username, email } => create_user(config, username, email).await,
        Command::ResetPassword { username } => {
            let password = tokio::task::spawn_blocking(read_password)
                .await
                .map_err(|err| AppError::Io(std::io::Error::other(err)))??;
            let user = accounts(&config)?
                .reset_password(username, password)
                .await?;
            println!(
                "password of {} (id {}) changed; their refresh tokens are revoked",
                user.username, user.id
            );
            Ok(())
        }
        Command::DeleteUser { username } => {
            let user = accounts(&config)?.delete_user(username).await?;
            println!(
                "deleted {} (id {}) with their alerts; their sessions have ended",
                user.username, user.id
            );
            Ok(())
        }
        Command::CheckConfig => {
            print!("{}", config.to_redacted_toml());
            if config.auth.jwt_secret.is_none() {
                println!(
                    "# auth.jwt_secret is not set: a generated secret is kept in {}",
                    config.storage.data_dir.join("jwt_secret").display()
                );
            }
            Ok(())
        }
        Command::Openapi => {
            print!("{}", crate::api::spec_yaml());
            Ok(())
        }
        Command::SendTestEmail { to } => send_test_email(&config, &to).await,
        Command::Healthcheck { url } => healthcheck(&config, url).await,
        Command::Backup { to } => {
            let data_dir = config.storage.data_dir.clone();
            let target = to.clone();
            tokio::task::spawn_blocking(move || store::backup::backup(&data_dir, &target))
                .await
                .map_err(|err| AppError::Io(std::io::Error::other(err)))??;
            println!(
                "backed up {} to {}",
                config.storage.data_dir.join(store::DB_FILE).display(),
                to.display()
            );
            Ok(())
        }
        Command::Restore { from } => {
            let data_dir = config.storage.data_dir.clone();
            let source = from.clone();
            let restored =
                tokio::task::spawn_blocking(move || store::backup::restore(&data_dir, &source))
                    .await
                    .map_err(|err| AppError::Io(std::io::Error::other(err)))??;
            println!("restored {} from {}", restored.display(), from.display());
            Ok(())
        }
    }
}

async fn send_test_email(config: &Config, to: &str) -> Result<(), AppError> {
    let fail = |message: String| AppError::Io(std::io::Error::other(message));
    let Some(mailer) = Mailer::from_config(&config.smtp)? else {
        return Err(fail(
            "smtp.host is not set: configure [smtp] (see config.toml.example) first".into(),
        ));
    };
    let recipient: lettre::message::Mailbox = to
        .parse()
        .map_err(|_| fail(format!("{to:?} is not an email address")))?;
    let message = lettre::Message::builder()
        .from(mailer.from.clone())
        .to(recipient)
        .subject("pricealert test email")
        .body(format!(
            "This is a test email from pricealert.\n\nIf you can read it, the SMTP settings work:\n\
             server {}, from {}.\n",
            mailer.server, mailer.from
        ))
        .map_err(|e| fail(format!("cannot build the message: {e}")))?;
    match mailer.send(message).await {
        Ok(reply) => {
            println!("sent through {}; the server said: {reply}", mailer.server);
            Ok(())
        }
        Err(err) => Err(fail(format!(
            "sending through {} failed ({}): {}",
            mailer.server,
            if err.permanent {
                "permanent: the server refused it"
            } else {
                "temporary: worth retrying"
            },
            err.message
        ))),
    }
}

async fn healthcheck(config: &Config, url: Option<String>) -> Result<(), AppError> {
    let base = url.unwrap_or_else(|| {
        let mut addr = config.server.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}")
    });
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    let unhealthy = |why: String| AppError::Io(std::io::Error::other(format!("{url}: {why}")));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|err| unhealthy(err.to_string()))?;
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|err| unhealthy(format!("no answer ({err})")))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{body}");
        Ok(())
    } else {
        Err(unhealthy(format!("{status}: {body}")))
    }
}

async fn serve(config: Config, init: bool) -> Result<(), AppError> {
    if !init {
        app::refuse_lost_database(&config.storage.data_dir)?;
    }
    let listen = config.server.listen;
    let app = App::new(config)?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|err| {
        AppError::Io(std::io::Error::new(
            err.kind(),
            format!("cannot listen on {listen}: {err}"),
        ))
    })?;
    app::run(app, listener, shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

fn read_password() -> Result<String, AppError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Repeat password: ")?;
        if first != again {
            return Err(AppError::Io(std::io::Error::other("the passwords differ")));
        }
        return Ok(first);
    }
    let mut line = String::new();
    if stdin.lock().read_line(&mut line)? == 0 {
        return Err(AppError::Io(std::io::Error::other(
            "no password arrived on stdin: pipe it in (printf '%s\\n' \"$PASSWORD\" | pricealert \
             create-user ...) or run the command in a terminal to be asked for it",
        )));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn accounts(config: &Config) -> Result<Accounts, AppError> {
    let store = Store::open(&config.storage.data_dir, config.storage.busy_timeout.get())?;
    let secret = crate::auth::load_or_create_jwt_secret(
        config.auth.jwt_secret.as_ref(),
        &config.storage.data_dir,
    )
    .map_err(AppError::Secret)?;
    Ok(Accounts::new(store, &config.auth, &secret)?)
}

async fn create_user(config: Config, username: String, email: String) -> Result<(), AppError> {
    let password = tokio::task::spawn_blocking(read_password)
        .await
        .map_err(|err| AppError::Io(std::io::Error::other(err)))??;
    let user = accounts(&config)?
        .register(username, email, password)
        .await?;
    println!("created user {} (id {})", user.username, user.id);
    Ok(())
}
