//! Which scenario may start next when several run at once (`run --jobs`): the pack's order,
//! `serial:` scenarios alone, and never two holding the same lock at the same time.
//!
//! A pure function of what is pending and what is running, so the rules are tested without
//! running anything. The runner asks [`Schedule::next`] whenever a worker is free and tells
//! [`Schedule::finish`] when a scenario ends.

use std::collections::{BTreeMap, BTreeSet};

/// What one scenario may not share with the ones running beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// Nothing else runs while it does.
    pub serial: bool,
    /// Held while it runs: another scenario needing one of them waits.
    pub locks: BTreeSet<String>,
}

#[derive(Debug)]
pub struct Schedule {
    claims: Vec<Claim>,
    /// Scenarios not started yet, by position, in the pack's order.
    pending: Vec<usize>,
    running: BTreeSet<usize>,
    /// Lock name -> how many running scenarios hold it (at most one).
    held: BTreeMap<String, usize>,
}

impl Schedule {
    /// The scenarios `0..claims.len()`, to start in this order as far as their claims allow.
    pub fn new(claims: Vec<Claim>) -> Schedule {
        Schedule {
            pending: (0..claims.len()).collect(),
            claims,
            running: BTreeSet::new(),
            held: BTreeMap::new(),
        }
    }

    /// The first pending scenario that may start now, taken off the queue: one that `runs`
    /// says will not run (carried over, not applicable, the run interrupted: it holds
    /// nothing, so it goes as soon as it is reached), else one whose claims are free. A
    /// scenario never overtakes an earlier one waiting for the same lock, and nothing
    /// overtakes a waiting `serial:` scenario (it runs once the others have ended). `None`:
    /// nothing can start until a running scenario finishes (or nothing is left).
    pub fn next(&mut self, runs: impl Fn(usize) -> bool) -> Option<usize> {
        let serial_running = self.running.iter().any(|i| self.claims[*i].serial);
        let mut waiting: BTreeSet<&str> = BTreeSet::new();
        let mut found = None;
        for (at, &i) in self.pending.iter().enumerate() {
            if !runs(i) {
                found = Some(at);
                break;
            }
            let claim = &self.claims[i];
            if claim.serial {
                if self.running.is_empty() && waiting.is_empty() {
                    found = Some(at);
                }
                break;
            }
            if serial_running {
                // Only what does not run goes by while a serial scenario runs.
                continue;
            }
            let free = claim
                .locks
                .iter()
                .all(|l| !self.held.contains_key(l) && !waiting.contains(l.as_str()));
            if free {
                found = Some(at);
                break;
            }
            waiting.extend(claim.locks.iter().map(String::as_str));
        }
        let i = self.pending.remove(found?);
        if runs(i) {
            for l in &self.claims[i].locks {
                *self.held.entry(l.clone()).or_default() += 1;
            }
            self.running.insert(i);
        }
        Some(i)
    }

    /// A scenario [`next`](Self::next) gave has ended: its locks are free.
    pub fn finish(&mut self, i: usize) {
        if self.running.remove(&i) {
            for l in &self.claims[i].locks {
                if let Some(n) = self.held.get_mut(l) {
                    *n -= 1;
                    if *n == 0 {
                        self.held.remove(l);
                    }
                }
            }
        }
    }

    /// Nothing is left to start.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(serial: bool, locks: &[&str]) -> Claim {
        Claim {
            serial,
            locks: locks.iter().map(|l| l.to_string()).collect(),
        }
    }

    /// Start as many as `slots` allow, in the schedule's order.
    fn start(s: &mut Schedule, slots: usize) -> Vec<usize> {
        let mut out = Vec::new();
        while s.running.len() < slots {
            match s.next(|_| true) {
                Some(i) => out.push(i),
                None => break,
            }
        }
        out
    }

    #[test]
    fn without_claims_the_packs_order() {
        let mut s = Schedule::new(vec![Claim::default(); 5]);
        assert_eq!(start(&mut s, 1), [0]);
        s.finish(0);
        assert_eq!(start(&mut s, 3), [1, 2, 3]);
        s.finish(2);
        assert_eq!(start(&mut s, 3), [4]);
        assert!(s.is_empty());
        assert_eq!(s.next(|_| true), None);
    }

    #[test]
    fn a_lock_is_held_by_one_at_a_time_and_others_overtake() {
        let mut s = Schedule::new(vec![
            claim(false, &["a"]),
            claim(false, &["a"]),
            claim(false, &["b"]),
            claim(false, &["a", "b"]),
            claim(false, &[]),
        ]);
        // 1 waits for `a`; 2 takes `b`; 3 needs `a` (1 waits for it first); 4 is free.
        assert_eq!(start(&mut s, 5), [0, 2, 4]);
        s.finish(0);
        // 1 gets `a` before 3, which also needs `b`.
        assert_eq!(start(&mut s, 5), [1]);
        s.finish(2);
        assert_eq!(start(&mut s, 5), Vec::<usize>::new());
        s.finish(1);
        assert_eq!(start(&mut s, 5), [3]);
    }

    #[test]
    fn a_serial_scenario_runs_alone_and_nothing_overtakes_it() {
        let mut s = Schedule::new(vec![claim(false, &[]), claim(true, &[]), claim(false, &[])]);
        assert_eq!(start(&mut s, 3), [0]);
        s.finish(0);
        assert_eq!(start(&mut s, 3), [1]);
        s.finish(1);
        assert_eq!(start(&mut s, 3), [2]);
    }

    #[test]
    fn what_does_not_run_goes_at_once() {
        // 1 and 3 are carried over (or the run was interrupted): they hold nothing.
        let mut s = Schedule::new(vec![
            claim(true, &[]),
            claim(true, &[]),
            claim(false, &["a"]),
            claim(false, &["a"]),
        ]);
        let runs = |i: usize| i != 1 && i != 3;
        assert_eq!(s.next(runs), Some(0));
        assert_eq!(s.next(runs), Some(1));
        assert_eq!(s.next(runs), Some(3));
        assert_eq!(s.next(runs), None);
        s.finish(0);
        assert_eq!(s.next(runs), Some(2));
        assert!(s.is_empty());
    }
}
