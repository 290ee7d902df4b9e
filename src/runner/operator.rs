//! A person at the terminal, during a manual wait: Enter means "done", `s` means "skip".
//! A run may take its answers from elsewhere instead (the web console's buttons): see
//! [`answers_for`] and `RunConfig::operator`.
//!
//! One thread reads standard input, only when it is a terminal, and broadcasts each answer;
//! a wait subscribes for its own duration, so a line typed before it began does not count.

use std::io::IsTerminal;
use std::sync::OnceLock;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The person says they did it: stop waiting (what arrived is checked).
    Done,
    /// The person cannot do it now: the step is skipped.
    Skip,
}

static ANSWERS: OnceLock<Option<broadcast::Sender<Answer>>> = OnceLock::new();

/// Listen for the person's answers; `None` when standard input is not a terminal (CI, a
/// pipe), in which case a manual wait simply runs its time.
pub fn answers() -> Option<broadcast::Receiver<Answer>> {
    ANSWERS
        .get_or_init(|| {
            if !std::io::stdin().is_terminal() {
                return None;
            }
            let (tx, _) = broadcast::channel(8);
            let sender = tx.clone();
            std::thread::Builder::new()
                .name("operator-input".into())
                .spawn(move || {
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match std::io::stdin().read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let answer = match line.trim().to_ascii_lowercase().as_str() {
                            "s" | "skip" => Answer::Skip,
                            _ => Answer::Done,
                        };
                        let _ = sender.send(answer);
                    }
                })
                .ok()?;
            Some(tx)
        })
        .as_ref()
        .map(|tx| tx.subscribe())
}

/// Listen for the answers of a run: those `injected` (the web console's buttons), else the
/// person at the terminal ([`answers`]).
pub fn answers_for(
    injected: Option<&broadcast::Sender<Answer>>,
) -> Option<broadcast::Receiver<Answer>> {
    match injected {
        Some(tx) => Some(tx.subscribe()),
        None => answers(),
    }
}

/// The next answer, or never when there is no terminal.
pub async fn next(rx: &mut Option<broadcast::Receiver<Answer>>) -> Answer {
    match rx {
        Some(r) => loop {
            match r.recv().await {
                Ok(a) => return a,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        },
        None => std::future::pending().await,
    }
}
