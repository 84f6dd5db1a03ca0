//! Password hashing with argon2id, off the async runtime and with bounded concurrency: a login
//! flood waits in a short queue or is refused fast, and never starves other requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use super::AuthError;

#[derive(Clone)]
pub struct PasswordHashes {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue_limit: usize,
    /// Verified against when the user does not exist, so both cases cost the same.
    dummy_hash: Arc<str>,
}

/// argon2id, m=19456 KiB, t=2, p=1: the OWASP minimum.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

fn hash_blocking(password: &str) -> Result<String, AuthError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|hash: PasswordHash| hash.to_string())
        .map_err(|err| AuthError::Internal(format!("hashing failed: {err}")))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

impl PasswordHashes {
    pub fn new(concurrency: usize, queue_limit: usize) -> Result<Self, AuthError> {
        Ok(Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit,
            dummy_hash: hash_blocking("pricealert-dummy-password")?.into(),
        })
    }

    /// Runs `work` on the blocking pool once a slot is free; refuses when the queue is full.
    async fn run<T, F>(&self, work: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = LeaveQueue(&self.waiting);
        if queued >= self.queue_limit + self.slots.available_permits() {
            return Err(AuthError::Busy);
        }
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Internal("hasher closed".into()))?;
        // The slot goes with the work: a client that hangs up mid-hash does not free it while
        // the hash (and its 19 MiB) still runs, so hangups cannot multiply concurrent hashes.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|err| AuthError::Internal(format!("hash task failed: {err}")))
    }

    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        self.run(move || hash_blocking(&password)).await?
    }

    /// With no stored hash (unknown user) it still pays for one verification, then says no.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AuthError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self.run(move || verify_blocking(&password, &hash)).await?;
        Ok(known && matched)
    }
}

struct LeaveQueue<'a>(&'a AtomicUsize);

impl Drop for LeaveQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_abandoned_hash_keeps_its_slot_until_it_finishes() {
        let hashes = PasswordHashes::new(1, 4).unwrap();
        let mut login = Box::pin(hashes.hash("correct horse".into()));
        // Poll until the hash runs on the blocking pool, then hang up like a client would.
        while hashes.slots.available_permits() == 1 {
            let _ = futures_util::poll!(&mut login);
            tokio::task::yield_now().await;
        }
        drop(login);
        assert_eq!(
            hashes.slots.available_permits(),
            0,
            "the hash still runs, so its slot must stay taken"
        );
        // The slot comes back once the hash is done.
        drop(hashes.slots.acquire().await.unwrap());
        assert_eq!(hashes.slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hashes = PasswordHashes::new(1, 4).unwrap();
        let hash = hashes.hash("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hashes
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hashes
            .verify("wrong horse".into(), Some(hash))
            .await
            .unwrap());
        assert!(!hashes
            .verify("pricealert-dummy-password".into(), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_fast() {
        let hashes = PasswordHashes::new(1, 0).unwrap();
        let permit = hashes.slots.clone().acquire_owned().await.unwrap();
        let err = hashes.hash("whatever1".into()).await.unwrap_err();
        assert!(matches!(err, AuthError::Busy));
        drop(permit);
        assert!(hashes.hash("whatever1".into()).await.is_ok());
    }
}
