//! Which profile a reference actor expects of what it receives, by resource type: data in
//! `src/fhir/expected.yaml` (compiled into the binary), read by the simulator's live check.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What one actor (with some options) expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expects {
    pub actor: String,
    /// Scenario options this entry is for (empty: the plain actor).
    #[serde(default)]
    pub options: Vec<String>,
    /// The profile applies only to a resource that declares none in `meta.profile`.
    #[serde(default)]
    pub unless_declared: bool,
    /// Resource type -> profile (a short name or a canonical URL).
    pub receives: BTreeMap<String, String>,
}

impl Expects {
    /// The profile a received resource of this type is checked against, given the
    /// profiles it declares.
    pub fn profile_for(&self, resource_type: &str, declared: &[String]) -> Option<&str> {
        if self.unless_declared && !declared.is_empty() {
            return None;
        }
        self.receives.get(resource_type).map(String::as_str)
    }
}

/// Every entry of `expected.yaml`.
pub fn all() -> &'static [Expects] {
    static ALL: OnceLock<Vec<Expects>> = OnceLock::new();
    ALL.get_or_init(|| {
        serde_saphyr::from_str(include_str!("expected.yaml"))
            .expect("src/fhir/expected.yaml is valid (checked by the unit tests)")
    })
}

/// The entry for `actor` run with `options`: the one with the most options, all of which
/// it runs with.
pub fn for_actor(actor: &str, options: &[&str]) -> Option<&'static Expects> {
    all()
        .iter()
        .filter(|e| e.actor == actor && e.options.iter().all(|o| options.contains(&o.as_str())))
        .max_by_key(|e| e.options.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every actor named is a reference actor, with options it has; every profile named is
    /// known (a structural short name or a loaded profile).
    #[test]
    fn the_data_names_known_actors_and_profiles() {
        assert!(all().len() >= 6);
        for e in all() {
            let specs: Vec<_> = crate::actors::registry()
                .iter()
                .filter(|s| s.name == e.actor)
                .collect();
            assert!(!specs.is_empty(), "no actor {}", e.actor);
            assert!(
                specs
                    .iter()
                    .any(|s| e.options.iter().all(|o| s.options.contains(&o.as_str()))),
                "{} has no implementation for {:?}",
                e.actor,
                e.options
            );
            for (rt, p) in &e.receives {
                assert!(crate::fhir::conformance::known(p), "{}: {rt}: {p}", e.actor);
            }
        }
    }

    #[test]
    fn the_most_specific_entry_wins() {
        let plain = for_actor("information-recipient", &[]).unwrap();
        assert_eq!(
            plain.profile_for("Communication", &[]),
            Some("cdex-communication")
        );
        let task = for_actor("information-recipient", &["task-based"]).unwrap();
        assert_eq!(task.profile_for("Task", &[]), Some("cdex-task"));
        assert_eq!(task.profile_for("Communication", &[]), None);
        // The notified-pull server pushes like the plain one.
        let server = for_actor("information-server", &["notified-pull"]).unwrap();
        assert_eq!(server.profile_for("Task", &[]), Some("cdex-task"));
        // A server checks what a resource declares, else the CDex profile of its type.
        assert_eq!(server.profile_for("Task", &["http://x/y".into()]), None);
        assert_eq!(server.profile_for("Condition", &[]), None);
        assert!(for_actor("information-client", &[]).is_none());
    }
}
