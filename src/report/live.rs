//! The live view of a run on stderr, from the runner's progress events: a `[n/N]` line per
//! scenario as it ends, and while a step waits for the system under test, what it waits for
//! and the time left. On a terminal the wait is one status line redrawn every second; in CI
//! (not a terminal) it is one plain line when the wait begins, so logs stay readable.

use crate::results::ScenarioResult;
use crate::runner::progress::Progress;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest status line drawn (a narrow terminal wraps the rest).
const MAX_LINE: usize = 110;

#[derive(Default)]
struct State {
    index: usize,
    total: usize,
    scenario: String,
    step: String,
    /// What is awaited, until when, and whether a person is to act.
    wait: Option<(String, Instant, bool)>,
    /// A status line is on screen (a terminal only).
    drawn: bool,
    done: usize,
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
                s.index = index;
                s.total = total;
                s.scenario = id;
                s.wait = None;
            }
            Progress::StepStarted { title, .. } => {
                s.step = title;
                s.wait = None;
            }
            Progress::Waiting {
                what,
                within,
                manual,
                ..
            } => {
                s.wait = Some((what.clone(), Instant::now() + within, manual));
                if !self.tty {
                    eprintln!(
                        "    [{}/{}] {}: waiting up to {} for {what}{}",
                        s.index,
                        s.total,
                        s.scenario,
                        humantime::format_duration(within),
                        if manual { " (a person is to act)" } else { "" }
                    );
                }
            }
            Progress::WaitEnded => s.wait = None,
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

    /// The status line, or nothing when there is no wait to show.
    fn line(s: &State) -> Option<String> {
        let (what, until, manual) = s.wait.as_ref()?;
        let left = until.saturating_duration_since(Instant::now()).as_secs();
        let keys = if *manual {
            " · Enter: done, s: skip"
        } else {
            ""
        };
        let mut line = format!(
            "  [{}/{}] {} · {}:{:02} left{keys} · waiting for {what} ({})",
            s.index,
            s.total,
            s.scenario,
            left / 60,
            left % 60,
            s.step,
        );
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

    /// A scenario ended: its `[n/N]` line, above the status line.
    pub fn scenario_done(&self, r: &ScenarioResult) {
        let mut s = self.lock();
        s.done += 1;
        s.wait = None;
        let clear = if s.drawn { "\r\x1b[2K" } else { "" };
        s.drawn = false;
        match &r.resumed_from {
            Some(from) => eprintln!(
                "{clear}  [{}/{}] {:<8} {} (carried over from run {})",
                s.done,
                s.total,
                r.status.as_str(),
                r.id,
                from.run_id
            ),
            None => eprintln!(
                "{clear}  [{}/{}] {:<8} {} ({:.0} ms)",
                s.done,
                s.total,
                r.status.as_str(),
                r.id,
                r.duration_ms
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_says_what_is_awaited_and_the_time_left() {
        let s = State {
            index: 2,
            total: 5,
            scenario: "ic-push-create".into(),
            step: "the client POSTs a CDex Communication".into(),
            wait: Some((
                "POST Communication".into(),
                Instant::now() + Duration::from_secs(299),
                true,
            )),
            ..State::default()
        };
        let line = Live::line(&s).unwrap();
        assert!(line.starts_with("  [2/5] ic-push-create · 4:5"), "{line}");
        assert!(
            line.contains("left · Enter: done, s: skip · waiting for POST Communication"),
            "{line}"
        );
        assert!(Live::line(&State::default()).is_none());
    }
}
