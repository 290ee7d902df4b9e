//! Checkpoints: while a run goes on, the results of what is done so far (`results.json`), so a
//! process killed mid-run (SIGKILL, power loss, a closed laptop) leaves the last complete
//! checkpoint for `run --resume`.
//!
//! A checkpoint is what an interrupted run writes: the scenarios done, the others `not-run`,
//! `interrupted: true`, the matrix and summary computed from them. It is written atomically
//! (temporary file in the same folder, fsync, rename: [`crate::report::write_all`]) by a
//! thread of its own, so the run never waits for the disk: the runner hands over each
//! scenario's result as it ends, and the thread writes at most one checkpoint per
//! [`EVERY`], the latest results each time, a trailing one included (a scenario that ended
//! just after a checkpoint is saved within a second even when the next one waits for a
//! person for an hour). A run that ends within the first second (the reference packs) writes
//! none; the final reports are written by the run itself once the checkpoints have stopped.

use crate::catalog::Catalog;
use crate::report::{self, ReportPaths};
use crate::results::{RunResults, ScenarioResult};
use crate::runner::RunHeader;
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// At most one checkpoint per this long.
pub const EVERY: Duration = Duration::from_secs(1);

enum Msg {
    Started(RunHeader),
    Done(Box<ScenarioResult>),
    Stop,
}

/// The checkpoint writer of one run.
pub struct Checkpointer {
    tx: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<usize>>>,
}

/// What the writer thread needs besides the results.
pub struct Plan {
    pub catalog: Catalog,
    /// Every scenario of the run, in run order, as not run yet.
    pub pending: Vec<ScenarioResult>,
    pub paths: ReportPaths,
    /// Applied to every checkpoint as to the final results (setup, notes).
    pub finish: Box<dyn Fn(&mut RunResults) + Send>,
}

impl Checkpointer {
    pub fn start(plan: Plan) -> Checkpointer {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || writer(plan, rx))
            .ok();
        Checkpointer {
            tx,
            thread: Mutex::new(thread),
        }
    }

    /// The run has begun (the runner's `RunStarted`).
    pub fn started(&self, header: &RunHeader) {
        let _ = self.tx.send(Msg::Started(header.clone()));
    }

    /// A scenario ended (or was carried over).
    pub fn scenario_done(&self, r: &ScenarioResult) {
        let _ = self.tx.send(Msg::Done(Box::new(r.clone())));
    }

    /// Stop: what was not written yet is dropped (the final reports supersede it). Returns
    /// how many checkpoints were written. Once this returns, no checkpoint write is under way.
    pub fn finish(&self) -> usize {
        let _ = self.tx.send(Msg::Stop);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        thread.and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

fn writer(plan: Plan, rx: mpsc::Receiver<Msg>) -> usize {
    let clock = Instant::now();
    let mut scenarios = plan.pending;
    let total = scenarios.len();
    let mut header: Option<RunHeader> = None;
    let mut done = 0;
    let mut dirty = false;
    // As if one had been written at the start: a run that ends within a second writes none.
    let mut last = Instant::now();
    let mut written = 0;
    let mut warned = false;
    loop {
        let msg = if dirty {
            match rx.recv_timeout((last + EVERY).saturating_duration_since(Instant::now())) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            }
        };
        match msg {
            Some(Msg::Stop) => break,
            Some(Msg::Started(h)) => header = Some(h),
            Some(Msg::Done(r)) => {
                // In run order; by id should the runner ever report out of order.
                let at = match scenarios.get(done) {
                    Some(s) if s.id == r.id => Some(done),
                    _ => scenarios.iter().position(|s| s.id == r.id),
                };
                if let Some(i) = at {
                    scenarios[i] = *r;
                    done += 1;
                    dirty = true;
                }
            }
            None => {}
        }
        let Some(h) = &header else { continue };
        if !dirty || last.elapsed() < EVERY {
            continue;
        }
        // The scenarios move into the checkpoint's results and back once it is written: a
        // copy of every result so far (every body) at each checkpoint was the largest
        // transient allocation of a long run.
        let mut results = h.results(
            &plan.catalog,
            std::mem::take(&mut scenarios),
            clock.elapsed().as_secs_f64() * 1000.0,
            true,
        );
        (plan.finish)(&mut results);
        results.notes.push(format!(
            "checkpoint: {done} of {total} scenario(s) done when this was written; the run had not finished (`cdex-harness run --resume` goes on from here)"
        ));
        match report::write_all(&results, &plan.paths) {
            Ok(_) => written += 1,
            Err(e) if !warned => {
                warned = true;
                eprintln!("warning: a checkpoint could not be written: {e:#}");
            }
            Err(_) => {}
        }
        scenarios = std::mem::take(&mut results.scenarios);
        last = Instant::now();
        dirty = false;
    }
    written
}
