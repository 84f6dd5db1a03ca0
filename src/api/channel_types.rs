//! Request and response bodies of `/channels/*`. One flat shape for every kind: `kind` says
//! which fields apply.

use poem_openapi::{Enum, Object};

use super::text::{Bounded, Checked};
use crate::clock::format_millis;
use crate::domain::channel::{mask, mask_discord_url};
use crate::domain::{Channel, ChannelFields, ChannelKind, ChannelSettings};

/// A URL, token or other channel field.
pub type FieldText = Checked<Bounded<{ crate::domain::channel::FIELD_MAX }>>;
pub type NameText = Checked<Bounded<{ crate::domain::channel::NAME_MAX }>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum KindIn {
    /// `address`.
    Email,
    /// `url`, optional `secret` (signs each body: `X-Pricealert-Signature`).
    Webhook,
    /// `topic`, optional `server` (default https://ntfy.sh), `token`, `priority` 1–5 (default 4).
    Ntfy,
    /// `bot_token` (from @BotFather), `chat_id`.
    Telegram,
    /// `url` (the channel's webhook URL).
    Discord,
    /// `server`, `token` (an application token).
    Gotify,
}

impl KindIn {
    pub fn kind(self) -> ChannelKind {
        match self {
            KindIn::Email => ChannelKind::Email,
            KindIn::Webhook => ChannelKind::Webhook,
            KindIn::Ntfy => ChannelKind::Ntfy,
            KindIn::Telegram => ChannelKind::Telegram,
            KindIn::Discord => ChannelKind::Discord,
            KindIn::Gotify => ChannelKind::Gotify,
        }
    }

    fn from_kind(kind: ChannelKind) -> Self {
        match kind {
            ChannelKind::Email => KindIn::Email,
            ChannelKind::Webhook => KindIn::Webhook,
            ChannelKind::Ntfy => KindIn::Ntfy,
            ChannelKind::Telegram => KindIn::Telegram,
            ChannelKind::Discord => KindIn::Discord,
            ChannelKind::Gotify => KindIn::Gotify,
        }
    }
}

/// The fields every kind may carry, for requests.
macro_rules! channel_fields {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($head:tt)* }) => {
        $(#[$meta])*
        $vis struct $name {
            $($head)*
            /// email: where to send.
            #[serde(default)]
            pub address: Option<FieldText>,
            /// webhook, discord: the URL to POST to.
            #[serde(default)]
            pub url: Option<FieldText>,
            /// webhook: HMAC-SHA256 key for `X-Pricealert-Signature`; empty removes it.
            #[serde(default)]
            pub secret: Option<FieldText>,
            /// ntfy (default https://ntfy.sh), gotify: the server's base URL.
            #[serde(default)]
            pub server: Option<FieldText>,
            /// ntfy: the topic.
            #[serde(default)]
            pub topic: Option<FieldText>,
            /// ntfy: an access token (optional; empty removes it); gotify: the application token.
            #[serde(default)]
            pub token: Option<FieldText>,
            /// ntfy: 1 (min) to 5 (urgent), default 4.
            #[serde(default)]
            pub priority: Option<i64>,
            /// telegram: the bot's token from @BotFather.
            #[serde(default)]
            pub bot_token: Option<FieldText>,
            /// telegram: the chat's id (a number, or a channel's @username).
            #[serde(default)]
            pub chat_id: Option<FieldText>,
        }

        impl $name {
            pub fn fields(&self) -> ChannelFields {
                let text = |f: &Option<FieldText>| f.as_ref().map(|t| t.as_str().to_string());
                ChannelFields {
                    address: text(&self.address),
                    url: text(&self.url),
                    secret: text(&self.secret),
                    server: text(&self.server),
                    topic: text(&self.topic),
                    token: text(&self.token),
                    priority: self.priority,
                    bot_token: text(&self.bot_token),
                    chat_id: text(&self.chat_id),
                }
            }
        }
    };
}

channel_fields! {
    /// A new channel. Examples, one per kind:
    ///
    /// - `{"kind": "email", "address": "alice@example.com"}`
    /// - `{"kind": "webhook", "name": "Home Assistant", "url": "https://ha.example.com/api/webhook/price", "secret": "a-long-random-string"}`
    /// - `{"kind": "ntfy", "topic": "alice-prices", "priority": 4}`
    /// - `{"kind": "telegram", "bot_token": "123456789:AAE...", "chat_id": "123456789"}`
    /// - `{"kind": "discord", "url": "https://discord.com/api/webhooks/1234/abcd..."}`
    /// - `{"kind": "gotify", "server": "https://gotify.example.com", "token": "AbCdEf123"}`
    #[derive(Debug, Object, serde::Deserialize)]
    pub struct ChannelCreate {
        pub kind: KindIn,
        /// Shown on the page; default the kind's name.
        #[serde(default)]
        pub name: Option<NameText>,
        /// Default true.
        #[serde(default)]
        pub enabled: Option<bool>,
    }
}

channel_fields! {
    /// A change: only the fields given change (the kind cannot).
    #[derive(Debug, Object, serde::Deserialize)]
    pub struct ChannelPatch {
        #[serde(default)]
        pub name: Option<NameText>,
        #[serde(default)]
        pub enabled: Option<bool>,
    }
}

/// A channel as shown: secrets masked to their last 4 characters.
#[derive(Debug, Clone, Object)]
pub struct ChannelOut {
    pub id: i64,
    pub kind: KindIn,
    pub name: String,
    pub enabled: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    #[oai(skip_serializing_if_is_none)]
    pub address: Option<String>,
    /// Discord's with its token masked.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
    /// Masked.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub server: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub topic: Option<String>,
    /// Masked.
    #[oai(skip_serializing_if_is_none)]
    pub token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub priority: Option<u8>,
    /// Masked.
    #[oai(skip_serializing_if_is_none)]
    pub bot_token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub chat_id: Option<String>,
}

impl ChannelOut {
    pub fn new(channel: &Channel) -> Self {
        let mut out = Self {
            id: channel.id.0,
            kind: KindIn::from_kind(channel.settings.kind()),
            name: channel.name.clone(),
            enabled: channel.enabled,
            created_at: format_millis(channel.created_at),
            address: None,
            url: None,
            secret: None,
            server: None,
            topic: None,
            token: None,
            priority: None,
            bot_token: None,
            chat_id: None,
        };
        match &channel.settings {
            ChannelSettings::Email { address } => out.address = Some(address.clone()),
            ChannelSettings::Webhook { url, secret } => {
                out.url = Some(url.clone());
                out.secret = secret.as_deref().map(mask);
            }
            ChannelSettings::Ntfy {
                server,
                topic,
                token,
                priority,
            } => {
                out.server = Some(server.clone());
                out.topic = Some(topic.clone());
                out.token = token.as_deref().map(mask);
                out.priority = Some(*priority);
            }
            ChannelSettings::Telegram { bot_token, chat_id } => {
                out.bot_token = Some(mask(bot_token));
                out.chat_id = Some(chat_id.clone());
            }
            ChannelSettings::Discord { url } => out.url = Some(mask_discord_url(url)),
            ChannelSettings::Gotify { server, token } => {
                out.server = Some(server.clone());
                out.token = Some(mask(token));
            }
        }
        out
    }
}

#[derive(Debug, Object)]
pub struct ChannelList {
    pub results: Vec<ChannelOut>,
    pub count: usize,
}

#[derive(Debug, Object)]
pub struct TestResult {
    /// The service accepted the test message.
    pub delivered: bool,
}
