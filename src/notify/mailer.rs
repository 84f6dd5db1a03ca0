//! SMTP through lettre (tokio, rustls): the transport built from `[smtp]`.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpSecurity};

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid smtp.from {0:?}: write it like `pricealert <alerts@example.com>`")]
    From(String),
    #[error("cannot read smtp.password_file: {0}")]
    PasswordFile(std::io::Error),
    #[error("cannot set up SMTP for {host}: {message}")]
    Transport { host: String, message: String },
}

/// How a send went wrong: permanent (5xx) failures are not retried.
#[derive(Debug)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
    /// `host:port`, for messages.
    pub server: String,
}

impl Mailer {
    /// `None` when no `smtp.host` is configured.
    pub fn from_config(config: &SmtpConfig) -> Result<Option<Self>, MailerError> {
        let Some(host) = config.host.clone().filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailerError::From(config.from.clone()))?;
        let transport_error = |e: lettre::transport::smtp::Error| MailerError::Transport {
            host: host.clone(),
            message: e.to_string(),
        };
        let builder = match config.security {
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&host).map_err(transport_error)?
            }
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(transport_error)?,
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            }
        };
        let mut builder = builder
            .port(config.port())
            .timeout(Some(config.timeout.get()));
        let password = config
            .resolve_password()
            .map_err(MailerError::PasswordFile)?;
        if let Some(username) = &config.username {
            let password = password.map(|p| p.expose().to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Some(Self {
            transport: builder.build(),
            from,
            server: format!("{host}:{}", config.port()),
        }))
    }

    /// Sends one message; on success returns the server's final reply.
    pub async fn send(&self, message: Message) -> Result<String, SendError> {
        match self.transport.send(message).await {
            Ok(reply) => Ok(format!(
                "{} {}",
                reply.code(),
                reply.message().collect::<Vec<_>>().join(" ")
            )),
            Err(err) => Err(SendError {
                permanent: err.is_permanent(),
                message: err.to_string(),
            }),
        }
    }
}
