//! The open connections: how many there may be, which are idle, and how each is told to close.
//!
//! A connection is *busy* while a response is being produced or streamed (an `/events` stream
//! stays busy for its whole life) and *idle* otherwise: waiting for its first request, or between
//! requests on keep-alive. At the cap a new connection evicts the connection that has been idle
//! longest, so idle connections — the cheapest thing for a client to hold open — can never lock
//! out a new request; only when every connection is busy does accepting wait for one to end.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One open connection, as the registry and its own task see it.
pub struct Conn {
    id: u64,
    /// Responses in progress.
    busy: AtomicU32,
    /// Milliseconds since `Registry::epoch` of the last byte moved or response finished.
    last_active: AtomicU64,
    /// Cancelled to make the connection close (after its response in progress, if any).
    pub close: CancellationToken,
    registry: Arc<Inner>,
}

struct Inner {
    max: usize,
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    released: Notify,
    /// Callers waiting in `slot` or `drained`: only then does a connection going idle or away
    /// need to wake anyone (most requests end with nobody waiting).
    waiting: AtomicU32,
}

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max: max.max(1),
                epoch: Instant::now(),
                open: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                released: Notify::new(),
                waiting: AtomicU32::new(0),
            }),
        }
    }

    pub fn open_count(&self) -> usize {
        self.inner.open.lock().map(|open| open.len()).unwrap_or(0)
    }

    /// A slot for the next connection: at once below the cap; at the cap, after the longest-idle
    /// connection was told to close and has closed; when all are busy, once one ends.
    pub async fn slot(&self) -> Slot {
        let _waiting = Waiting::new(&self.inner);
        loop {
            let released = self.inner.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let Ok(mut open) = self.inner.open.lock() else {
                    // A poisoned registry cannot count; wait instead of spinning.
                    released.await;
                    continue;
                };
                if open.len() < self.inner.max {
                    let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
                    let conn = Arc::new(Conn {
                        id,
                        busy: AtomicU32::new(0),
                        last_active: AtomicU64::new(self.inner.now()),
                        close: CancellationToken::new(),
                        registry: self.inner.clone(),
                    });
                    open.insert(id, conn.clone());
                    return Slot { conn };
                }
                let idlest = open
                    .values()
                    .filter(|c| c.busy.load(Ordering::Acquire) == 0 && !c.close.is_cancelled())
                    .min_by_key(|c| c.last_active.load(Ordering::Relaxed));
                if let Some(conn) = idlest {
                    conn.close.cancel();
                }
            }
            released.await;
        }
    }

    /// Tells every connection to close after its response in progress.
    pub fn close_all(&self) {
        if let Ok(open) = self.inner.open.lock() {
            for conn in open.values() {
                conn.close.cancel();
            }
        }
    }

    /// Completes once no connection is open.
    pub async fn drained(&self) {
        let _waiting = Waiting::new(&self.inner);
        loop {
            let released = self.inner.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.open_count() == 0 {
                return;
            }
            released.await;
        }
    }
}

impl Inner {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// Counts a caller as waiting for as long as it lives.
struct Waiting<'a>(&'a Inner);

impl<'a> Waiting<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.waiting.fetch_add(1, Ordering::AcqRel);
        Self(inner)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's place in the registry; dropping it frees the slot.
pub struct Slot {
    pub conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let registry = &self.conn.registry;
        if let Ok(mut open) = registry.open.lock() {
            open.remove(&self.conn.id);
        }
        registry.released.notify_waiters();
    }
}

impl Conn {
    /// Something moved on the connection.
    pub fn touch(&self) {
        self.last_active
            .store(self.registry.now(), Ordering::Relaxed);
    }

    /// How long nothing has moved.
    pub fn idle_for(&self) -> Duration {
        let last = self.last_active.load(Ordering::Relaxed);
        Duration::from_millis(self.registry.now().saturating_sub(last))
    }

    /// Marks a response in progress until the returned guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Busy { conn: self.clone() }
    }
}

pub struct Busy {
    conn: Arc<Conn>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn.touch();
        if self.conn.busy.fetch_sub(1, Ordering::AcqRel) == 1
            && self.conn.registry.waiting.load(Ordering::Acquire) > 0
        {
            // Idle now: a slot() waiting at the cap may close it.
            self.conn.registry.released.notify_waiters();
        }
    }
}

/// A response body that keeps its connection busy until it is finished or dropped.
pub struct TrackedBody<B> {
    pub inner: B,
    pub busy: Option<Busy>,
}

impl<B> Body for TrackedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.busy = None,
            Poll::Ready(Some(Ok(_))) => {
                if let Some(busy) = &self.busy {
                    busy.conn.touch();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let registry = Registry::new(2);
        let first = registry.slot().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = registry.slot().await;
        let _busy = second.conn.busy();
        // The third waits until the idle first one closes; the busy second is left alone.
        let third = tokio::spawn({
            let registry = registry.clone();
            async move { registry.slot().await }
        });
        first.conn.close.cancelled().await;
        assert!(!second.conn.close.is_cancelled());
        drop(first);
        let third = third.await.unwrap();
        assert_eq!(registry.open_count(), 2);
        drop(third);
        drop(second);
        registry.drained().await;
    }

    #[tokio::test]
    async fn when_all_are_busy_a_new_one_waits_for_an_end() {
        let registry = Registry::new(1);
        let only = registry.slot().await;
        let busy = only.conn.busy();
        let next = tokio::spawn({
            let registry = registry.clone();
            async move { registry.slot().await }
        });
        tokio::task::yield_now().await;
        assert!(
            !only.conn.close.is_cancelled(),
            "a busy connection is not evicted"
        );
        drop(busy);
        // Now idle: the waiting slot evicts it.
        only.conn.close.cancelled().await;
        drop(only);
        next.await.unwrap();
    }
}
