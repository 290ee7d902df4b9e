//! The simulators this console started, each owned by the browser session that started it
//! (as a run is): another session neither sees it nor stops it.

use super::super::security::Session;
use crate::simulator::{LiveExchange, Simulator};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// What the panel shows of a running simulator.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub id: String,
    pub pack: String,
    pub actor: String,
    pub options: Vec<String>,
    pub faults: Vec<String>,
    /// The FHIR base a partner is given.
    pub url: String,
    pub started_at: String,
    /// What partners must send to authenticate.
    pub authentication: String,
    /// The actor's settings, the token left out and secrets redacted.
    pub settings: String,
    pub notes: Vec<String>,
}

struct Entry {
    owner: String,
    info: Info,
    sim: Simulator,
}

/// The running simulators, by id (in the order they were started).
#[derive(Default)]
pub struct Registry {
    sims: Mutex<BTreeMap<String, Entry>>,
    next: AtomicU64,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.sims.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keep a simulator just started for `session`; its id.
    pub fn add(&self, session: &Session, sim: Simulator, mut info: Info) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("sim-{n}");
        info.id = id.clone();
        self.lock().insert(
            id.clone(),
            Entry {
                owner: session.owner(),
                info,
                sim,
            },
        );
        id
    }

    /// The simulators `session` started, oldest first.
    pub fn of(&self, session: &Session) -> Vec<Info> {
        let owner = session.owner();
        let mut list: Vec<(u64, Info)> = self
            .lock()
            .values()
            .filter(|e| e.owner == owner)
            .map(|e| (number(&e.info.id), e.info.clone()))
            .collect();
        list.sort_by_key(|(n, _)| *n);
        list.into_iter().map(|(_, i)| i).collect()
    }

    /// The exchanges of one of `session`'s simulators: those kept so far, and a receiver of
    /// what follows (subscribed first, so nothing falls between the two; a subscriber skips
    /// the `seq` it has already seen).
    pub fn follow(
        &self,
        session: &Session,
        id: &str,
    ) -> Option<(Vec<LiveExchange>, broadcast::Receiver<LiveExchange>)> {
        let sims = self.lock();
        let e = sims.get(id).filter(|e| e.owner == session.owner())?;
        let rx = e.sim.subscribe();
        Some((e.sim.recent(), rx))
    }

    /// Stop one of `session`'s simulators; false when it has none of that id.
    pub async fn stop(&self, session: &Session, id: &str) -> bool {
        let owner = session.owner();
        let entry = {
            let mut sims = self.lock();
            match sims.get(id) {
                Some(e) if e.owner == owner => sims.remove(id),
                _ => None,
            }
        };
        match entry {
            Some(e) => {
                e.sim.stop().await;
                true
            }
            None => false,
        }
    }

    /// Stop them all (the console is stopping).
    pub async fn stop_all(&self) {
        let all: Vec<Entry> = std::mem::take(&mut *self.lock()).into_values().collect();
        for e in all {
            e.sim.stop().await;
        }
    }
}

fn number(id: &str) -> u64 {
    id.trim_start_matches("sim-").parse().unwrap_or(0)
}
