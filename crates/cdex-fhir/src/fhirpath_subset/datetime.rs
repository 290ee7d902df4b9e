//! FHIR `date`, `dateTime` and `instant` values compared as FHIRPath compares them: to the
//! precision both have (a difference in precision with equal common parts is "unknown",
//! an empty result), times converted to UTC, seconds and their fraction one precision.

use std::cmp::Ordering;

/// A parsed date or date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moment {
    year: i32,
    month: Option<u32>,
    day: Option<u32>,
    /// With a time: nanoseconds since the epoch, UTC (FHIR requires a zone with a time).
    utc_nanos: Option<i128>,
    /// With a time: whether its date is the same in UTC as written.
    same_day_in_utc: bool,
}

/// Parse a FHIR date, dateTime or instant (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm:ss[.f+](Z|±hh:mm)`); `None` for anything else (leap seconds, more
/// than nine fraction digits, a time without a zone).
fn parse(s: &str) -> Option<Moment> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let mut m = Moment {
        year,
        month: None,
        day: None,
        utc_nanos: None,
        same_day_in_utc: true,
    };
    if b.len() == 4 {
        return Some(m);
    }
    (b.get(4) == Some(&b'-')).then_some(())?;
    let month = num(5, 2).filter(|m| (1..=12).contains(m))?;
    m.month = Some(month);
    if b.len() == 7 {
        return Some(m);
    }
    (b.get(7) == Some(&b'-')).then_some(())?;
    let day = num(8, 2)?;
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    m.day = Some(day);
    if b.len() == 10 {
        return Some(m);
    }
    (b.get(10) == Some(&b'T') && b.get(13) == Some(&b':') && b.get(16) == Some(&b':'))
        .then_some(())?;
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        nanos = digits.parse::<i128>().ok()? * 10i128.pow(9 - digits.len() as u32);
    }
    let offset_secs: i64 = match &s[i..] {
        "Z" => 0,
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':' =>
        {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            let secs = i64::from(oh * 3600 + om * 60);
            if z.starts_with('-') { -secs } else { secs }
        }
        _ => return None,
    };
    let local = date.and_hms_opt(h, mi, sec)?.and_utc().timestamp();
    let utc = local - offset_secs;
    m.utc_nanos = Some(i128::from(utc) * 1_000_000_000 + nanos);
    m.same_day_in_utc = utc.div_euclid(86_400) == local.div_euclid(86_400);
    Some(m)
}

/// How `a` compares to `b`: `Ok(Some(ordering))`, `Ok(None)` when FHIRPath's answer is
/// empty (different precisions, equal as far as both go), `Err(())` when either is not a
/// value this module reads, or when a date is compared with a time whose date is not the
/// same in UTC as written (the answer then depends on which reading of the zone applies).
pub fn compare(a: &str, b: &str) -> Result<Option<Ordering>, ()> {
    let (a, b) = (parse(a).ok_or(())?, parse(b).ok_or(())?);
    match (a.utc_nanos, b.utc_nanos) {
        (Some(x), Some(y)) => return Ok(Some(x.cmp(&y))),
        (None, None) => {}
        _ if !(a.same_day_in_utc && b.same_day_in_utc) => return Err(()),
        // A date and a time: by their dates; the time is a precision the date lacks.
        _ => {}
    }
    let parts = |m: &Moment| [Some(m.year as u32), m.month, m.day, m.utc_nanos.map(|_| 0)];
    for (x, y) in parts(&a).into_iter().zip(parts(&b)) {
        match (x, y) {
            (Some(x), Some(y)) if x != y => return Ok(Some(x.cmp(&y))),
            (Some(_), Some(_)) => {}
            (None, None) => return Ok(Some(Ordering::Equal)),
            _ => return Ok(None),
        }
    }
    Ok(Some(Ordering::Equal))
}

#[cfg(test)]
mod tests {
    use super::compare;
    use std::cmp::Ordering::*;

    #[test]
    fn dates_compare_to_their_common_precision() {
        assert_eq!(compare("2020-01-02", "2020-01-03"), Ok(Some(Less)));
        assert_eq!(compare("2020-02", "2020-01-31"), Ok(Some(Greater)));
        assert_eq!(compare("2020-01", "2020-01-31"), Ok(None));
        assert_eq!(compare("2020", "2020"), Ok(Some(Equal)));
        assert_eq!(compare("2021", "2020-12"), Ok(Some(Greater)));
    }

    #[test]
    fn times_compare_in_utc_with_fractions() {
        assert_eq!(
            compare("2020-01-02T10:00:00+02:00", "2020-01-02T08:00:00Z"),
            Ok(Some(Equal))
        );
        assert_eq!(
            compare("2020-01-02T10:00:00.5Z", "2020-01-02T10:00:00.49Z"),
            Ok(Some(Greater))
        );
        assert_eq!(
            compare("2020-01-02T10:00:00Z", "2020-01-02T10:00:00.000Z"),
            Ok(Some(Equal))
        );
        assert_eq!(
            compare("2020-01-01T23:30:00-05:00", "2020-01-02T01:00:00Z"),
            Ok(Some(Greater))
        );
    }

    #[test]
    fn a_date_and_a_time_compare_by_date() {
        assert_eq!(compare("2020-01-02", "2020-01-02T10:00:00Z"), Ok(None));
        assert_eq!(
            compare("2020-01-02", "2020-01-03T10:00:00+02:00"),
            Ok(Some(Less))
        );
        assert_eq!(compare("2020-01-02T10:00:00Z", "2020-01"), Ok(None));
        assert_eq!(
            compare("2020-01-02T10:00:00Z", "2019-12"),
            Ok(Some(Greater))
        );
        // 23:30 at -05:00 is the next day in UTC: which day is meant is not certain.
        assert_eq!(compare("2020-01-02", "2020-01-01T23:30:00-05:00"), Err(()));
    }

    #[test]
    fn what_it_does_not_read_is_an_error() {
        assert_eq!(
            compare("2020-01-02T10:00:00", "2020-01-02T10:00:00Z"),
            Err(())
        );
        assert_eq!(compare("2020-02-30", "2020"), Err(()));
        assert_eq!(compare("2020-01-02T10:00:60Z", "2020"), Err(()));
        assert_eq!(compare("tomorrow", "2020"), Err(()));
        assert_eq!(compare("2020-1", "2020"), Err(()));
        assert_eq!(compare("2020-01-02T10:00:00+1é:0", "2020"), Err(()));
    }
}
