//! Every exchange the mock server sees, in order, with a wake-up for whoever waits on one.

use crate::http::RawExchange;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// The most exchanges kept per scenario; older ones are dropped (memory stays bounded).
pub const MAX_RECORDED: usize = 10_000;

#[derive(Default)]
pub struct Recorder {
    log: Mutex<Log>,
    notify: Notify,
}

#[derive(Default)]
struct Log {
    /// Index of the first kept exchange since the last clear.
    offset: usize,
    items: VecDeque<RawExchange>,
}

impl Recorder {
    pub fn record(&self, mut x: RawExchange) {
        // The parse the handler shared is not kept with the log: a run's memory holds bodies
        // once, as bytes (steps that read them parse again).
        x.request.parsed = None;
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            if log.items.len() >= MAX_RECORDED {
                log.items.pop_front();
                log.offset += 1;
            }
            log.items.push_back(x);
        }
        self.notify.notify_waiters();
    }

    /// Position after the last exchange: wait for exchanges from here on.
    pub fn cursor(&self) -> usize {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.offset + log.items.len()
    }

    /// Forget everything (between scenarios).
    pub fn clear(&self) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.offset = 0;
        log.items.clear();
    }

    /// Exchanges from `cursor` on.
    pub fn since(&self, cursor: usize) -> Vec<RawExchange> {
        self.since_indexed(cursor)
            .into_iter()
            .map(|(_, x)| x)
            .collect()
    }

    /// Exchanges from `cursor` on, each with its position.
    pub fn since_indexed(&self, cursor: usize) -> Vec<(usize, RawExchange)> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let start = cursor.saturating_sub(log.offset).min(log.items.len());
        log.items
            .range(start..)
            .enumerate()
            .map(|(i, x)| (log.offset + start + i, x.clone()))
            .collect()
    }

    /// Wait until an exchange from `cursor` on satisfies `matches`, or `timeout` passes, or
    /// `cancel` fires. Returns the exchange and its position; wakes as soon as it arrives.
    pub async fn wait_for(
        &self,
        cursor: usize,
        timeout: Duration,
        cancel: &mut tokio::sync::watch::Receiver<bool>,
        matches: impl Fn(&RawExchange) -> bool,
    ) -> WaitOutcome {
        self.wait_for_at(cursor, timeout, cancel, |_, x| matches(x))
            .await
    }

    /// [`wait_for`](Self::wait_for), with each exchange's position given to `matches` (to
    /// pass over exchanges already taken).
    pub async fn wait_for_at(
        &self,
        cursor: usize,
        timeout: Duration,
        cancel: &mut tokio::sync::watch::Receiver<bool>,
        matches: impl Fn(usize, &RawExchange) -> bool,
    ) -> WaitOutcome {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut from = cursor;
        let mut cancel_open = true;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
                let start = from.saturating_sub(log.offset).min(log.items.len());
                for (i, x) in log.items.range(start..).enumerate() {
                    if matches(log.offset + start + i, x) {
                        return WaitOutcome::Arrived(
                            Box::new(x.clone()),
                            log.offset + start + i + 1,
                        );
                    }
                }
                from = log.offset + log.items.len();
            }
            if *cancel.borrow() {
                return WaitOutcome::Cancelled;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return WaitOutcome::TimedOut,
                changed = cancel.changed(), if cancel_open => cancel_open = changed.is_ok(),
            }
        }
    }
}

pub enum WaitOutcome {
    /// The exchange, and the cursor just after it.
    Arrived(Box<RawExchange>, usize),
    TimedOut,
    Cancelled,
}
