//! The live view of a run on stderr, from the runner's progress events: a `[n/N]` line per
//! scenario as it ends, in the run's order (with `--jobs`, a scenario that ends before the
//! ones ahead of it waits for them to be printed), and while a step waits for the system
//! under test, what it waits for and the time left, and how many scenarios run at once. On a
//! terminal that is one status line redrawn every second; in CI (not a terminal) one plain
//! line when a wait begins, so logs stay readable.

use crate::results::ScenarioResult;
use crate::runner::progress::Progress;
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest status line drawn (a narrow terminal wraps the rest).
const MAX_LINE: usize = 110;

/// A scenario running now.
#[derive(Default)]
struct Running {
    /// Its place in the run, from 1.
    index: usize,
    id: String,
    step: String,
    /// What is awaited, until when, and whether a person is to act.
    wait: Option<(String, Instant, bool)>,
}

#[derive(Default)]
struct State {
    total: usize,
    /// The scenarios running (several with `--jobs`), by their place in the run.
    running: BTreeMap<usize, Running>,
    /// The place in the run of each scenario started, by id.
    places: HashMap<String, usize>,
    /// Lines of scenarios that ended, held until the ones before them are printed.
    held: BTreeMap<usize, String>,
    /// The place of the next line to print (from 1).
    next: usize,
    /// A status line is on screen (a terminal only).
    drawn: bool,
    done: usize,
}

impl State {
    fn running_mut(&mut self, id: &str) -> Option<&mut Running> {
        let at = self.places.get(id)?;
        self.running.get_mut(at)
    }

    /// A scenario ended: the `[n/N]` lines that can be printed now, in the run's order (its
    /// own, unless one before it still runs).
    fn ended(&mut self, r: &ScenarioResult) -> Vec<String> {
        self.done += 1;
        let place = self.places.get(&r.id).copied();
        if let Some(at) = place {
            self.running.remove(&at);
        }
        let n = place.unwrap_or(self.done);
        let line = match &r.resumed_from {
            Some(from) => format!(
                "  [{n}/{}] {:<8} {} (carried over from run {})",
                self.total,
                r.status.as_str(),
                r.id,
                from.run_id
            ),
            None => format!(
                "  [{n}/{}] {:<8} {} ({:.0} ms)",
                self.total,
                r.status.as_str(),
                r.id,
                r.duration_ms
            ),
        };
        let Some(at) = place else {
            // Never announced as started: nothing to keep it in order with.
            return vec![line];
        };
        self.held.insert(at, line);
        self.next = self.next.max(1);
        let mut out = Vec::new();
        while let Some(line) = self.held.remove(&self.next) {
            out.push(line);
            self.next += 1;
        }
        out
    }
}

pub struct Live {
    state: Mutex<State>,
    tty: bool,
}

impl Live {
    /// A live view of a run of `total` scenarios; the countdown thread starts with it when
    /// stderr is a terminal.
    pub fn start(total: usize) -> Arc<Live> {
        let live = Arc::new(Live {
            state: Mutex::new(State {
                total,
                ..State::default()
            }),
            tty: std::io::stderr().is_terminal(),
        });
        if live.tty {
            let weak = Arc::downgrade(&live);
            let _ = std::thread::Builder::new()
                .name("live-countdown".into())
                .spawn(move || {
                    while let Some(l) = weak.upgrade() {
                        l.redraw();
                        drop(l);
                        std::thread::sleep(Duration::from_secs(1));
                    }
                });
        }
        live
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn progress(&self, p: Progress) {
        let mut s = self.lock();
        match p {
            Progress::ScenarioStarted { index, total, id } => {
                s.total = total;
                s.places.insert(id.clone(), index);
                s.running.insert(
                    index,
                    Running {
                        index,
                        id,
                        ..Running::default()
                    },
                );
            }
            Progress::StepStarted {
                scenario, title, ..
            } => {
                if let Some(r) = s.running_mut(&scenario) {
                    r.step = title;
                    r.wait = None;
                }
            }
            Progress::Waiting {
                scenario,
                what,
                within,
                manual,
                ..
            } => {
                let total = s.total;
                if let Some(r) = s.running_mut(&scenario) {
                    r.wait = Some((what.clone(), Instant::now() + within, manual));
                    if !self.tty {
                        eprintln!(
                            "    [{}/{total}] {scenario}: waiting up to {} for {what}{}",
                            r.index,
                            humantime::format_duration(within),
                            if manual { " (a person is to act)" } else { "" }
                        );
                    }
                }
            }
            Progress::WaitEnded { scenario } => {
                if let Some(r) = s.running_mut(&scenario) {
                    r.wait = None;
                }
            }
            // The `[n/N]` lines come from the scenario results; the rest is for the web
            // console.
            Progress::RunStarted(_) => {}
            Progress::Exchange { .. }
            | Progress::StepFinished { .. }
            | Progress::ScenarioFinished { .. } => return,
        }
        drop(s);
        self.redraw();
    }

    /// The status line: what a running scenario waits for and the time left (the first in
    /// the run's order that waits), and how many run at once when several do; nothing when
    /// one scenario runs and does not wait.
    fn line(s: &State) -> Option<String> {
        let at_once = s.running.len();
        let also = if at_once > 1 {
            format!(" · {at_once} running at once")
        } else {
            String::new()
        };
        let mut line = match s.running.values().find(|r| r.wait.is_some()) {
            Some(r) => {
                let (what, until, manual) = r.wait.as_ref()?;
                let left = until.saturating_duration_since(Instant::now()).as_secs();
                let keys = if *manual {
                    " · Enter: done, s: skip"
                } else {
                    ""
                };
                format!(
                    "  [{}/{}] {} · {}:{:02} left{keys}{also} · waiting for {what} ({})",
                    r.index,
                    s.total,
                    r.id,
                    left / 60,
                    left % 60,
                    r.step,
                )
            }
            None if at_once > 1 => {
                let ids: Vec<&str> = s.running.values().map(|r| r.id.as_str()).collect();
                format!(
                    "  {at_once} running at once ({} of {} done): {}",
                    s.done,
                    s.total,
                    ids.join(", ")
                )
            }
            None => return None,
        };
        if line.chars().count() > MAX_LINE {
            line = line.chars().take(MAX_LINE - 1).collect::<String>() + "…";
        }
        Some(line)
    }

    fn redraw(&self) {
        if !self.tty {
            return;
        }
        let mut s = self.lock();
        let mut err = std::io::stderr().lock();
        match Self::line(&s) {
            Some(line) => {
                let _ = write!(err, "\r\x1b[2K{line}");
                s.drawn = true;
            }
            None if s.drawn => {
                let _ = write!(err, "\r\x1b[2K");
                s.drawn = false;
            }
            None => {}
        }
        let _ = err.flush();
    }

    /// A scenario ended: its `[n/N]` line above the status line, once the lines of the
    /// scenarios before it are printed (with `--jobs` they may end later).
    pub fn scenario_done(&self, r: &ScenarioResult) {
        let mut s = self.lock();
        let lines = s.ended(r);
        if lines.is_empty() {
            return;
        }
        let clear = if s.drawn { "\r\x1b[2K" } else { "" };
        s.drawn = false;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{clear}");
        for line in lines {
            let _ = writeln!(err, "{line}");
        }
        drop(err);
        drop(s);
        self.redraw();
    }
}

impl Drop for Live {
    /// Lines still held (a run that ended without some scenario's result) are printed all
    /// the same.
    fn drop(&mut self) {
        let s = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for line in std::mem::take(&mut s.held).into_values() {
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(index: usize, id: &str, wait: Option<(String, Instant, bool)>) -> Running {
        Running {
            index,
            id: id.into(),
            step: "the client POSTs a CDex Communication".into(),
            wait,
        }
    }

    #[test]
    fn the_status_line_says_what_is_awaited_and_the_time_left() {
        let mut s = State {
            total: 5,
            ..State::default()
        };
        let wait = (
            "POST Communication".into(),
            Instant::now() + Duration::from_secs(299),
            true,
        );
        s.running
            .insert(2, running(2, "ic-push-create", Some(wait)));
        let line = Live::line(&s).unwrap();
        assert!(line.starts_with("  [2/5] ic-push-create · 4:5"), "{line}");
        assert!(
            line.contains("left · Enter: done, s: skip · waiting for POST Communication"),
            "{line}"
        );
        assert!(!line.contains("at once"), "{line}");
        assert!(Live::line(&State::default()).is_none());

        // Several at once: the line says how many.
        s.running.insert(3, running(3, "ic-push-update", None));
        let line = Live::line(&s).unwrap();
        assert!(line.starts_with("  [2/5] ic-push-create"), "{line}");
        assert!(
            line.contains("left · Enter: done, s: skip · 2 running at once · waiting for"),
            "{line}"
        );
        s.running.get_mut(&2).unwrap().wait = None;
        let line = Live::line(&s).unwrap();
        assert_eq!(
            line,
            "  2 running at once (0 of 5 done): ic-push-create, ic-push-update"
        );
    }

    #[test]
    fn lines_come_in_the_runs_order_whatever_order_scenarios_end_in() {
        let mut s = State {
            total: 3,
            ..State::default()
        };
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            s.places.insert(id.to_string(), i + 1);
            s.running.insert(i + 1, running(i + 1, id, None));
        }
        let result = |id: &str| ScenarioResult {
            id: id.into(),
            title: id.into(),
            file: format!("{id}.yaml"),
            actor: "information-server".into(),
            plays: "information-client".into(),
            options: Vec::new(),
            status: crate::results::Status::Passed,
            duration_ms: 12.0,
            message: None,
            steps: Vec::new(),
            resumed_from: None,
        };
        assert!(s.ended(&result("b")).is_empty());
        assert_eq!(
            s.ended(&result("a")),
            ["  [1/3] passed   a (12 ms)", "  [2/3] passed   b (12 ms)"]
        );
        assert_eq!(s.ended(&result("c")), ["  [3/3] passed   c (12 ms)"]);
        assert!(s.running.is_empty() && s.held.is_empty());
    }
}
