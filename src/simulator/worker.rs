//! The live check, off the request path: the mock server hands each exchange to a bounded
//! channel ([`Tap::exchange`], which never waits); one worker per simulator checks it, logs
//! it, keeps it (bounded) and broadcasts it. When the worker is behind and the channel is
//! full, the exchange is answered but not checked, and counted: the log says how many.
//!
//! The worker runs on its own thread at a lower CPU priority: under load the request path
//! comes first, and the live check takes what CPU is left.

use super::answer::Answerer;
use super::exchange::{self, LiveExchange};
use super::keep::Recent;
use crate::fhir::expected::Expects;
use crate::http::RawExchange;
use crate::http::redact::Redactor;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many exchanges may wait for the live check; past it they are not checked.
pub const QUEUE: usize = 1024;

/// How many exchanges the worker takes from the channel at a time.
const BATCH: usize = 64;

/// How long the worker lets exchanges gather after a batch smaller than [`BATCH`], instead of
/// being woken for each one: what a live view lags by at most, under a steady stream.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// How many checked exchanges a subscriber may be behind before it misses some (it is told
/// so by `RecvError::Lagged`; it never holds up the simulator).
pub const BROADCAST: usize = 1024;

/// What goes to the worker.
pub enum Item {
    /// An exchange answered, with its sequence number.
    Exchange(u64, Box<RawExchange>),
    /// A line for the log (e.g. an attachment request answered).
    Note(String),
}

/// What the request path, the worker and the [`Simulator`](super::Simulator) share.
pub struct Shared {
    /// Exchanges answered (the last sequence number given).
    pub received: AtomicU64,
    /// Exchanges checked.
    pub checked: AtomicU64,
    /// Exchanges answered but not checked (the worker was behind).
    pub unchecked: AtomicU64,
    /// Of those, the ones not yet said in the log.
    unchecked_unsaid: AtomicU64,
    /// Resources the actor's stores dropped past the cap.
    pub dropped_resources: Arc<AtomicU64>,
    pub recent: Recent,
    pub events: broadcast::Sender<LiveExchange>,
}

impl Shared {
    pub fn new(keep: usize) -> Shared {
        Shared {
            received: AtomicU64::new(0),
            checked: AtomicU64::new(0),
            unchecked: AtomicU64::new(0),
            unchecked_unsaid: AtomicU64::new(0),
            dropped_resources: Arc::new(AtomicU64::new(0)),
            recent: Recent::new(keep),
            events: broadcast::channel(BROADCAST).0,
        }
    }
}

/// The mock server's side: called on the request path for every exchange answered.
pub struct Tap {
    pub tx: mpsc::Sender<Item>,
    pub shared: Arc<Shared>,
    pub answerer: Option<Answerer>,
}

impl Tap {
    pub fn exchange(&self, x: RawExchange) {
        let seq = self.shared.received.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(a) = &self.answerer {
            a.observe(&x);
        }
        if self.tx.try_send(Item::Exchange(seq, Box::new(x))).is_err() {
            self.shared.unchecked.fetch_add(1, Ordering::Relaxed);
            self.shared.unchecked_unsaid.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The worker's own state.
pub struct Worker {
    pub rx: mpsc::Receiver<Item>,
    pub shared: Arc<Shared>,
    pub redactor: Redactor,
    pub expects: Option<&'static Expects>,
    pub log: Option<Box<dyn Write + Send>>,
    pub verbose: bool,
    /// Resources dropped as last said in the log.
    pub resources_said: u64,
    /// Connections the server could not accept, and how many of them the log told.
    pub accept_errors: Arc<crate::mock::accept::AcceptErrors>,
    pub accept_errors_said: u64,
}

impl Worker {
    /// Check every exchange as it comes, until `stop`; then the ones already waiting, and a
    /// summary in the log.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut batch = Vec::with_capacity(BATCH);
        // What happens between exchanges (connections refused, exchanges not checked) is
        // said within a second.
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = tick.tick() => {
                    self.say_unchecked();
                    self.say_accept_errors();
                    self.flush();
                }
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for item in batch.drain(..) {
                        self.one(item).await;
                    }
                    if self.rx.is_empty() {
                        self.flush();
                    }
                    if n < BATCH {
                        // Let the next ones gather rather than be woken for each: a request
                        // path that hands over an exchange while the worker waits on the
                        // channel pays a thread wake-up (a system call) for it.
                        tokio::time::sleep(GATHER).await;
                    }
                }
                _ = &mut stop => break,
            }
        }
        while let Ok(item) = self.rx.try_recv() {
            self.one(item).await;
        }
        self.say_unchecked();
        self.say_dropped_resources();
        self.say_accept_errors();
        let s = &self.shared;
        let summary = format!(
            "note: {} exchange(s): {} checked, {} answered but not checked (the live check was behind); {} older exchange(s) and {} resource(s) dropped from memory (keep: {})",
            s.received.load(Ordering::Relaxed),
            s.checked.load(Ordering::Relaxed),
            s.unchecked.load(Ordering::Relaxed),
            s.recent.dropped(),
            s.dropped_resources.load(Ordering::Relaxed),
            s.recent.keep()
        );
        self.line(&summary);
        self.flush();
    }

    async fn one(&mut self, item: Item) {
        let (seq, x) = match item {
            Item::Note(n) => {
                self.line(&format!("note: {n}"));
                return;
            }
            Item::Exchange(seq, x) => (seq, x),
        };
        let unchecked = self.say_unchecked();
        let mut live = exchange::check(seq, &x, &self.redactor, self.expects).await;
        drop(x);
        live.unchecked_before = unchecked;
        if let Some(log) = &mut self.log {
            let _ = exchange::write_lines(log, &live, self.verbose);
        }
        self.shared.checked.fetch_add(1, Ordering::Relaxed);
        // A copy for subscribers only when there are some (a console watching): kept first,
        // then broadcast, as before.
        let event = (self.shared.events.receiver_count() > 0).then(|| live.clone());
        let first_drop = self.shared.recent.push(live);
        if first_drop {
            let keep = self.shared.recent.keep();
            self.line(&format!(
                "note: {keep} exchange(s) kept in memory: from now on the oldest is dropped as each new one arrives (keep: {keep})"
            ));
        }
        self.say_dropped_resources();
        if let Some(live) = event {
            let _ = self.shared.events.send(live);
        }
    }

    /// Say in the log how many exchanges went unchecked since it last did; returns it.
    fn say_unchecked(&mut self) -> u64 {
        let n = self.shared.unchecked_unsaid.swap(0, Ordering::Relaxed);
        if n > 0 {
            self.line(&format!(
                "note: {n} exchange(s) answered but not checked: the live check was behind"
            ));
        }
        n
    }

    /// Say in the log when the actor's stores drop resources: the first time, then every
    /// further 10,000.
    fn say_dropped_resources(&mut self) {
        let n = self.shared.dropped_resources.load(Ordering::Relaxed);
        if n > self.resources_said
            && (self.resources_said == 0 || n >= self.resources_said + 10_000)
        {
            let keep = self.shared.recent.keep();
            self.line(&format!(
                "note: {n} resource(s) dropped from memory so far, the oldest first: each store of the actor keeps its last {keep} (keep: {keep}); a partner reading a dropped one gets 404"
            ));
            self.resources_said = n;
        }
    }

    /// Say in the log when connections could not be accepted since it last did.
    fn say_accept_errors(&mut self) {
        let (n, last) = self.accept_errors.get();
        if n > self.accept_errors_said {
            self.line(&format!(
                "note: {} connection(s) could not be accepted; the last error: {}",
                n - self.accept_errors_said,
                last.unwrap_or_default()
            ));
            self.accept_errors_said = n;
        }
    }

    fn line(&mut self, s: &str) {
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{s}");
        }
    }

    fn flush(&mut self) {
        if let Some(log) = &mut self.log {
            let _ = log.flush();
        }
    }
}

/// Run the worker on its own thread (at a lower CPU priority than the request path);
/// `done` fires when it has finished its log.
pub fn spawn(
    worker: Worker,
    stop: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
    name: String,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            lower_priority();
            match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(rt) => rt.block_on(worker.run(stop)),
                Err(e) => eprintln!("error: the live check cannot run: {e}"),
            }
            let _ = done.send(());
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the live check: {e}"))
}

/// This thread's nice value raised by 10 (Linux: per thread), so that the request path is
/// scheduled first when both want the CPU.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority on the calling thread, with no pointers involved.
    unsafe {
        let tid = libc::gettid();
        let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, (now + 10).min(19));
    }
}
