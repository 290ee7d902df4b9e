//! "Did you mean ...?": the closest valid value to a mistyped name, for every message that
//! refuses one (actors, faults, options, scenario ids, variables, keys). One helper, so every
//! such message reads the same: what was given, what is allowed, the closest valid value.

/// The name of `known` closest to `given`, when close enough to be a likely typo: at most
/// 30% of it edited (normalized Damerau-Levenshtein, which counts a swap of two letters as
/// one edit), or a single edit; case is ignored. Not Jaro-Winkler: it rewards a shared
/// prefix, and every requirement id starts with `CDEX-`.
pub fn closest<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.to_lowercase();
    known
        .into_iter()
        .map(|k| {
            let k_low = k.to_lowercase();
            let score = strsim::normalized_damerau_levenshtein(&given, &k_low);
            let one_edit =
                given.chars().count() > 1 && strsim::damerau_levenshtein(&given, &k_low) <= 1;
            (if one_edit { score.max(0.7) } else { score }, k)
        })
        .filter(|(score, _)| *score >= 0.7)
        // The best score; on a tie, the name first in alphabetical order (stable output).
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, k)| k)
}

/// `did you mean `x`?`, or nothing when no known name is close.
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(given, known).map(|k| format!("did you mean `{k}`?"))
}

/// `unknown WHAT `given`; the WHATs are a, b, c; did you mean `b`?` (`whats` is the plural).
pub fn unknown<'a>(
    what: &str,
    whats: &str,
    given: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> String {
    let known: Vec<&str> = known.into_iter().collect();
    let mut msg = format!("unknown {what} `{given}`");
    if known.is_empty() {
        msg.push_str(&format!("; there are no {whats}"));
    } else {
        msg.push_str(&format!("; the {whats} are {}", known.join(", ")));
    }
    if let Some(d) = did_you_mean(given, known.iter().copied()) {
        msg.push_str("; ");
        msg.push_str(&d);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTORS: &[&str] = &["information-client", "information-server", "data-consumer"];

    #[test]
    fn a_typo_gets_the_closest_name() {
        assert_eq!(
            closest("information-sever", ACTORS.iter().copied()),
            Some("information-server")
        );
        assert_eq!(
            closest("Information-Client", ACTORS.iter().copied()),
            Some("information-client")
        );
    }

    #[test]
    fn nonsense_gets_no_suggestion() {
        assert_eq!(closest("nonsense", ACTORS.iter().copied()), None);
        assert_eq!(closest("x", ["patient_id", "token"]), None);
    }

    #[test]
    fn the_message_names_the_given_the_allowed_and_the_closest() {
        assert_eq!(
            unknown(
                "actor",
                "actors",
                "information-sever",
                ACTORS.iter().copied()
            ),
            "unknown actor `information-sever`; the actors are information-client, information-server, data-consumer; did you mean `information-server`?"
        );
    }
}
