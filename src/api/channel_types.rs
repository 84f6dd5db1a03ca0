//! Request and response bodies of `/channels/*`. A new channel is one object per kind (`kind`
//! says which, and which fields it needs); a change, and a channel as shown, are one flat
//! shape whose fields apply to the kind that uses them.

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{Enum, Object, Union};

use super::body::{self, not_null, JsonBody};
use super::text::{
    ChannelNameRule, ChatIdRule, Checked, Email, SecretRule, TokenRule, TopicRule, UrlOrEmptyRule,
    UrlRule,
};
use crate::channels::{ChannelDraft, ChannelEdit};
use crate::clock::format_millis;
use crate::domain::channel::{mask, mask_discord_url};
use crate::domain::{Channel, ChannelFields, ChannelKind, ChannelSettings};

pub type NameText = Checked<ChannelNameRule>;
/// A URL the channel calls.
pub type UrlText = Checked<UrlRule>;
/// A server's URL, or empty for the default.
pub type ServerText = Checked<UrlOrEmptyRule>;
/// A secret or token that may be empty (none).
pub type SecretText = Checked<SecretRule>;
/// A token the service requires.
pub type TokenText = Checked<TokenRule>;
pub type TopicText = Checked<TopicRule>;
pub type ChatIdText = Checked<ChatIdRule>;

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

/// One kind's body for a new channel: `name` and `enabled` as every kind has them, then the
/// kind's own fields. Fields of other kinds are ignored, as any unknown field is.
macro_rules! new_channel {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Object, serde::Deserialize)]
        pub struct $name {
            /// Shown on the page; default the kind's name.
            #[serde(default, deserialize_with = "not_null")]
            pub name: Option<NameText>,
            /// Default true.
            #[serde(default, deserialize_with = "not_null")]
            pub enabled: Option<bool>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }
    };
}

new_channel! {
    /// `{"kind": "email", "address": "alice@example.com"}`
    NewEmailChannel {
        /// Where to send.
        address: Email,
    }
}

new_channel! {
    /// `{"kind": "webhook", "name": "Home Assistant", "url": "https://ha.example.com/api/webhook/price", "secret": "a-long-random-string"}`
    NewWebhookChannel {
        /// The URL to POST each event to.
        url: UrlText,
        /// HMAC-SHA256 key: each body is signed in `X-Pricealert-Signature`.
        #[serde(default, deserialize_with = "not_null")]
        secret: Option<SecretText>,
    }
}

new_channel! {
    /// `{"kind": "ntfy", "topic": "alice-prices", "priority": 4}`
    NewNtfyChannel {
        /// The topic to publish to.
        topic: TopicText,
        /// The server's base URL; default https://ntfy.sh.
        #[serde(default, deserialize_with = "not_null")]
        server: Option<ServerText>,
        /// An access token, for a protected topic.
        #[serde(default, deserialize_with = "not_null")]
        token: Option<SecretText>,
        /// 1 (min) to 5 (urgent); default 4.
        #[serde(default, deserialize_with = "priority")]
        #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
        priority: Option<i64>,
    }
}

new_channel! {
    /// `{"kind": "telegram", "bot_token": "123456789:AAE...", "chat_id": "123456789"}`
    NewTelegramChannel {
        /// The bot's token from @BotFather.
        bot_token: TokenText,
        /// The chat's id (a number), or a public channel's @username.
        chat_id: ChatIdText,
    }
}

new_channel! {
    /// `{"kind": "discord", "url": "https://discord.com/api/webhooks/1234/abcd..."}`
    NewDiscordChannel {
        /// The Discord channel's webhook URL.
        url: UrlText,
    }
}

new_channel! {
    /// `{"kind": "gotify", "server": "https://gotify.example.com", "token": "AbCdEf123"}`
    NewGotifyChannel {
        /// The server's base URL.
        server: UrlText,
        /// An application token.
        token: TokenText,
    }
}

/// A new channel: `kind` says which of these it is.
#[derive(Debug, Union)]
#[oai(discriminator_name = "kind")]
pub enum ChannelCreate {
    #[oai(mapping = "email")]
    Email(NewEmailChannel),
    #[oai(mapping = "webhook")]
    Webhook(NewWebhookChannel),
    #[oai(mapping = "ntfy")]
    Ntfy(NewNtfyChannel),
    #[oai(mapping = "telegram")]
    Telegram(NewTelegramChannel),
    #[oai(mapping = "discord")]
    Discord(NewDiscordChannel),
    #[oai(mapping = "gotify")]
    Gotify(NewGotifyChannel),
}

/// An ntfy priority, 1-5, whatever the channel's kind (the document says so for every body).
fn priority<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value: Option<i64> = not_null(deserializer)?;
    match value {
        Some(p) if !(1..=5).contains(&p) => Err(serde::de::Error::custom(
            crate::domain::channel::PRIORITY_RULE,
        )),
        other => Ok(other),
    }
}

fn text<R>(field: Option<Checked<R>>) -> Option<String> {
    field.map(Checked::into_inner)
}

impl ChannelCreate {
    /// Reads `kind` first, then the body as that kind's object, so that an error names the
    /// field (a tagged serde enum would lose the path).
    fn parse(bytes: &[u8]) -> Result<Self, super::error::ApiError> {
        #[derive(serde::Deserialize)]
        struct Kind {
            kind: KindIn,
        }
        let Kind { kind } = body::parse(bytes)?;
        Ok(match kind {
            KindIn::Email => Self::Email(body::parse(bytes)?),
            KindIn::Webhook => Self::Webhook(body::parse(bytes)?),
            KindIn::Ntfy => Self::Ntfy(body::parse(bytes)?),
            KindIn::Telegram => Self::Telegram(body::parse(bytes)?),
            KindIn::Discord => Self::Discord(body::parse(bytes)?),
            KindIn::Gotify => Self::Gotify(body::parse(bytes)?),
        })
    }

    pub fn draft(self) -> ChannelDraft {
        let mut f = ChannelFields::default();
        let (kind, name, enabled) = match self {
            Self::Email(c) => {
                f.address = Some(c.address.into_inner());
                (ChannelKind::Email, c.name, c.enabled)
            }
            Self::Webhook(c) => {
                f.url = Some(c.url.into_inner());
                f.secret = text(c.secret);
                (ChannelKind::Webhook, c.name, c.enabled)
            }
            Self::Ntfy(c) => {
                f.topic = Some(c.topic.into_inner());
                f.server = text(c.server);
                f.token = text(c.token);
                f.priority = c.priority;
                (ChannelKind::Ntfy, c.name, c.enabled)
            }
            Self::Telegram(c) => {
                f.bot_token = Some(c.bot_token.into_inner());
                f.chat_id = Some(c.chat_id.into_inner());
                (ChannelKind::Telegram, c.name, c.enabled)
            }
            Self::Discord(c) => {
                f.url = Some(c.url.into_inner());
                (ChannelKind::Discord, c.name, c.enabled)
            }
            Self::Gotify(c) => {
                f.server = Some(c.server.into_inner());
                f.token = Some(c.token.into_inner());
                (ChannelKind::Gotify, c.name, c.enabled)
            }
        };
        ChannelDraft {
            kind,
            name: text(name),
            enabled,
            fields: f,
        }
    }
}

/// The body of `POST /channels`, parsed by `ChannelCreate::parse`.
pub struct ChannelCreateBody(pub ChannelCreate);

impl Payload for ChannelCreateBody {
    const CONTENT_TYPE: &'static str = JsonBody::<ChannelCreate>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        JsonBody::<ChannelCreate>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        ChannelCreate::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ChannelCreate::register(registry);
    }
}

impl ParsePayload for ChannelCreateBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        ChannelCreate::parse(&bytes)
            .map(ChannelCreateBody)
            .map_err(Into::into)
    }
}

poem_openapi::impl_apirequest_for_payload!(ChannelCreateBody,);

/// A change: only the fields given change, and only those the channel's kind uses (the kind
/// cannot change).
#[derive(Debug, Object, serde::Deserialize)]
pub struct ChannelPatch {
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<NameText>,
    #[serde(default, deserialize_with = "not_null")]
    pub enabled: Option<bool>,
    /// email: where to send.
    #[serde(default, deserialize_with = "not_null")]
    pub address: Option<Email>,
    /// webhook, discord: the URL to POST to.
    #[serde(default, deserialize_with = "not_null")]
    pub url: Option<UrlText>,
    /// webhook: HMAC-SHA256 key for `X-Pricealert-Signature`; empty removes it.
    #[serde(default, deserialize_with = "not_null")]
    pub secret: Option<SecretText>,
    /// ntfy (empty: https://ntfy.sh), gotify (empty keeps it): the server's base URL.
    #[serde(default, deserialize_with = "not_null")]
    pub server: Option<ServerText>,
    /// ntfy: the topic.
    #[serde(default, deserialize_with = "not_null")]
    pub topic: Option<TopicText>,
    /// ntfy: an access token (empty removes it); gotify: the application token (empty keeps
    /// it).
    #[serde(default, deserialize_with = "not_null")]
    pub token: Option<SecretText>,
    /// ntfy: 1 (min) to 5 (urgent).
    #[serde(default, deserialize_with = "priority")]
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub priority: Option<i64>,
    /// telegram: the bot's token from @BotFather.
    #[serde(default, deserialize_with = "not_null")]
    pub bot_token: Option<TokenText>,
    /// telegram: the chat's id (a number, or a channel's @username).
    #[serde(default, deserialize_with = "not_null")]
    pub chat_id: Option<ChatIdText>,
}

impl ChannelPatch {
    pub fn edit(self) -> ChannelEdit {
        ChannelEdit {
            name: text(self.name),
            enabled: self.enabled,
            fields: ChannelFields {
                address: text(self.address),
                url: text(self.url),
                secret: text(self.secret),
                server: text(self.server),
                topic: text(self.topic),
                token: text(self.token),
                priority: self.priority,
                bot_token: text(self.bot_token),
                chat_id: text(self.chat_id),
            },
        }
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
    /// When it did not: what it answered, or why it could not be reached.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}
