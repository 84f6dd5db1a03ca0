//! The channel use-cases: add, list, change, delete and test a user's notification channels.
//! Every target a channel will call is checked against the outbound rules (`notify::Guard`)
//! when it is set; deliveries are checked again on the address actually connected to.

use rand::RngCore;

use crate::clock::now_millis;
use crate::domain::channel::default_name;
use crate::domain::channel_fields;
use crate::domain::{Channel, ChannelFields, ChannelId, ChannelKind, ChannelSettings, UserId};
use crate::notify::{Guard, Notice, Outcome, Senders};
use crate::store::{ChannelChange, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A field is missing or breaks its rule.
    #[error("{0}")]
    Invalid(String),
    /// The target is not allowed (non-public address).
    #[error("{0}")]
    Refused(String),
    #[error("channel {0} not found")]
    NotFound(ChannelId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new channel as asked for.
#[derive(Debug)]
pub struct ChannelDraft {
    pub kind: ChannelKind,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub fields: ChannelFields,
}

/// A change to a channel: only what is given changes.
#[derive(Debug, Default)]
pub struct ChannelEdit {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub fields: ChannelFields,
}

pub struct Channels {
    store: Store,
    senders: Senders,
    guard: Guard,
    max_per_user: u32,
}

fn check_name(name: &str) -> Result<String, ChannelError> {
    channel_fields::check_name(name)
        .map_err(|rule| ChannelError::Invalid(format!("name {rule}")))?;
    Ok(name.trim().to_string())
}

impl Channels {
    pub fn new(store: Store, senders: Senders, guard: Guard, max_per_user: u32) -> Self {
        Self {
            store,
            senders,
            guard,
            max_per_user,
        }
    }

    /// Refuses a target the delivery would not be allowed to reach.
    async fn check_target(&self, settings: &ChannelSettings) -> Result<(), ChannelError> {
        match settings.target_url() {
            Some(url) => self
                .guard
                .check_url(url)
                .await
                .map_err(ChannelError::Refused),
            None => Ok(()),
        }
    }

    pub async fn create(&self, user: UserId, draft: ChannelDraft) -> Result<Channel, ChannelError> {
        let settings = ChannelSettings::from_fields(draft.kind, draft.fields)
            .map_err(ChannelError::Invalid)?;
        let name = check_name(draft.name.as_deref().unwrap_or(default_name(draft.kind)))?;
        self.check_target(&settings).await?;
        let mut channel = self
            .store
            .create_channel(user, name, settings, self.max_per_user)
            .await?;
        if draft.enabled == Some(false) {
            channel = self
                .store
                .update_channel(
                    user,
                    channel.id,
                    ChannelChange {
                        enabled: Some(false),
                        ..Default::default()
                    },
                )
                .await?
                .ok_or(ChannelError::NotFound(channel.id))?;
        }
        Ok(channel)
    }

    pub async fn list(&self, user: UserId) -> Result<Vec<Channel>, ChannelError> {
        Ok(self.store.list_channels(user).await?)
    }

    pub async fn get(&self, user: UserId, id: ChannelId) -> Result<Channel, ChannelError> {
        self.store
            .get_channel(user, id)
            .await?
            .ok_or(ChannelError::NotFound(id))
    }

    pub async fn update(
        &self,
        user: UserId,
        id: ChannelId,
        edit: ChannelEdit,
    ) -> Result<Channel, ChannelError> {
        let current = self.get(user, id).await?;
        let settings = current
            .settings
            .merged(edit.fields)
            .map_err(ChannelError::Invalid)?;
        if settings != current.settings {
            self.check_target(&settings).await?;
        }
        let change = ChannelChange {
            name: edit.name.as_deref().map(check_name).transpose()?,
            enabled: edit.enabled,
            settings: Some(settings),
        };
        self.store
            .update_channel(user, id, change)
            .await?
            .ok_or(ChannelError::NotFound(id))
    }

    pub async fn delete(&self, user: UserId, id: ChannelId) -> Result<(), ChannelError> {
        if self.store.delete_channel(user, id).await? {
            Ok(())
        } else {
            Err(ChannelError::NotFound(id))
        }
    }

    /// Sends a test message now, outside the outbox: `Err` in the result is what the service
    /// answered (or why it could not be reached).
    pub async fn test(
        &self,
        user: UserId,
        username: &str,
        id: ChannelId,
    ) -> Result<Result<(), String>, ChannelError> {
        let channel = self.get(user, id).await?;
        let notice = Notice::test(username, &self.senders.public_url, now_millis());
        let mut key = [0u8; 16];
        rand::rng().fill_bytes(&mut key);
        match self
            .senders
            .send(&channel.settings, &notice, &hex::encode(key), None)
            .await
        {
            Outcome::Sent(_) => Ok(Ok(())),
            Outcome::Retry { error, .. } | Outcome::Failed(error) => Ok(Err(error)),
        }
    }
}
