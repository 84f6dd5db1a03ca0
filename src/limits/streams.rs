//! Live event streams per user: each open `/events` stream holds a slot until it ends, so one
//! account cannot hold an unbounded number of long-lived connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::UserId;

#[derive(Clone)]
pub struct Streams {
    max: u32,
    /// Only users with an open stream are here, so it is bounded by the open connections.
    open: Arc<Mutex<HashMap<UserId, u32>>>,
}

/// An open stream's slot; dropping it (the stream ends) frees it.
pub struct StreamSlot {
    user: UserId,
    open: Arc<Mutex<HashMap<UserId, u32>>>,
}

impl Streams {
    pub fn new(max: u32) -> Self {
        Self {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for one more stream of `user`, or `None` at the cap.
    pub fn open(&self, user: UserId) -> Option<StreamSlot> {
        let mut open = self.open.lock().ok()?;
        let count = open.entry(user).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            user,
            open: self.open.clone(),
        })
    }

    pub fn max(&self) -> u32 {
        self.max
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(count) = open.get_mut(&self.user) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_freed_on_drop() {
        let streams = Streams::new(2);
        let a = streams.open(UserId(1)).unwrap();
        let _b = streams.open(UserId(1)).unwrap();
        assert!(streams.open(UserId(1)).is_none());
        assert!(streams.open(UserId(2)).is_some());
        drop(a);
        assert!(streams.open(UserId(1)).is_some());
        assert!(streams.open.lock().unwrap().get(&UserId(2)).is_none());
    }
}
