//! The cap on what a simulator keeps in memory: the last N exchanges (for
//! [`Simulator::recent`](super::Simulator::recent)); older ones are dropped, and the first
//! drop is said in the log.

use super::LiveExchange;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many exchanges, and resources per actor store, a simulator keeps by default.
pub const DEFAULT_KEEP: usize = 1_000;

/// The last `keep` exchanges.
pub struct Recent {
    keep: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    items: VecDeque<LiveExchange>,
    dropped: u64,
}

impl Recent {
    pub fn new(keep: usize) -> Recent {
        Recent {
            keep,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keep `x`, dropping the oldest past the cap. Returns true at the first drop (for the
    /// log to say so once).
    pub fn push(&self, x: LiveExchange) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut first_drop = false;
        if self.keep == 0 {
            inner.dropped += 1;
            return inner.dropped == 1;
        }
        while inner.items.len() >= self.keep {
            inner.items.pop_front();
            inner.dropped += 1;
            first_drop |= inner.dropped == 1;
        }
        inner.items.push_back(x);
        first_drop
    }

    /// What is kept, oldest first.
    pub fn all(&self) -> Vec<LiveExchange> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.items.iter().cloned().collect()
    }

    /// How many were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).dropped
    }

    pub fn keep(&self) -> usize {
        self.keep
    }
}
