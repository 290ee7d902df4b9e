//! When the reference Data Consumer polls a Task (CONF-062, a SHOULD): "after 1 minute ...
//! no more than every 5 minutes for the first 30 minutes and no more frequently than once
//! every hour after that", counted from the Task's creation. Times are pack times; a run's
//! time scale divides them ([`scaled`]).

use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub first_after: Duration,
    pub every: Duration,
    /// How long polling every `every` lasts, from the creation.
    pub for_: Duration,
    pub then_every: Duration,
}

impl Schedule {
    /// CONF-062's schedule: polls at 1, 6, 11, 16, 21 and 26 minutes, then hourly (86, 146...).
    pub fn conf_062() -> Schedule {
        Schedule {
            first_after: MINUTE,
            every: 5 * MINUTE,
            for_: 30 * MINUTE,
            then_every: 60 * MINUTE,
        }
    }

    /// The schedule with the faults switched on: `first-poll-immediately`, `polls-too-often`.
    pub fn with_faults(faults: &std::collections::BTreeSet<String>) -> Schedule {
        let mut s = Schedule::conf_062();
        if faults.contains("first-poll-immediately") {
            s.first_after = Duration::ZERO;
        }
        if faults.contains("polls-too-often") {
            s.every = MINUTE;
            s.then_every = MINUTE;
        }
        s
    }

    /// The time of the next poll after one at `last` (both since the creation).
    pub fn next(&self, last: Option<Duration>) -> Duration {
        match last {
            None => self.first_after,
            Some(t) if t + self.every <= self.for_ => t + self.every,
            Some(t) => t + self.then_every,
        }
    }
}

/// A pack duration as it lasts in a run at this time scale.
pub fn scaled(d: Duration, scale: f64) -> Duration {
    if scale.is_finite() && scale > 0.0 {
        d.div_f64(scale)
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn minutes(s: &Schedule, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut last = None;
        for _ in 0..n {
            let t = s.next(last);
            out.push(t.as_secs() / 60);
            last = Some(t);
        }
        out
    }

    #[test]
    fn conf_062_polls_after_a_minute_then_every_five_then_hourly() {
        assert_eq!(
            minutes(&Schedule::conf_062(), 9),
            vec![1, 6, 11, 16, 21, 26, 86, 146, 206]
        );
    }

    #[test]
    fn faults_change_the_schedule() {
        let f = |x: &str| Schedule::with_faults(&BTreeSet::from([x.to_string()]));
        assert_eq!(minutes(&f("first-poll-immediately"), 3), vec![0, 5, 10]);
        assert_eq!(minutes(&f("polls-too-often"), 4), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_time_scale_divides_durations() {
        assert_eq!(scaled(MINUTE, 600.0), Duration::from_millis(100));
        assert_eq!(scaled(MINUTE, 0.0), MINUTE);
    }
}
