//! FHIR R4 validation, in process and offline: the base structure of R4 (4.0.1) from the
//! extracted base definitions in `profiles/r4/` ([`base`], [`structure`], [`primitive`]), and
//! profiles from StructureDefinition differentials loaded at run time ([`profile`],
//! [`apply`]), with value sets and code systems from the same data ([`terminology`]).
//!
//! ```no_run
//! use cdex_fhir::validate::Validator;
//! let v = Validator::load_default().unwrap();
//! let task = serde_json::json!({"resourceType": "Task", "status": "requested", "intent": "order"});
//! for issue in v.validate(&task, None) { println!("{issue}"); }
//! ```
//!
//! Issues follow OperationOutcome: severity, a FHIRPath-like location (`Task.input[1].type`),
//! a message, the issue type code, and the rule's source (`<definition url>#<element id>`).

pub mod apply;
pub mod base;
pub mod invariant;
pub mod issue;
pub mod narrative;
pub mod primitive;
pub mod profile;
pub mod structure;
pub mod terminology;
pub mod verdict;

pub use invariant::{Evaluator, Outcome};
pub use issue::{Issue, Severity};
pub use verdict::Verdict;

/// One invariant's outcome on one value ([`Validator::validate_explaining_invariants`]), with what an
/// independent FHIRPath engine needs to evaluate it again (`tools/crosscheck/invariants.py`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InvariantOutcome {
    pub key: String,
    pub expression: String,
    pub location: String,
    pub outcome: Outcome,
    /// Given by the fast subset (else by the full engine).
    pub by_subset: bool,
    /// The value's JSON pointer in the validated resource, and that of the resource it
    /// belongs to (`%resource`); `None` for a value checked away from its place.
    pub pointer: Option<String>,
    pub resource_pointer: Option<String>,
    /// Declared on an element below a resource: `$this` is the value.
    pub element_level: bool,
    /// The value's FHIR type, or for a backbone element its path in the base.
    pub type_name: Option<String>,
    pub def_path: Option<String>,
}

use profile::Profile;
use serde_json::Value;
use std::path::Path;

/// The base model, the loaded profiles and the terminology: everything validation needs.
pub struct Validator {
    base: base::Base,
    profiles: base::FastMap<String, Profile>,
    terminology: terminology::Terminology,
}

/// The profile data compiled into the binary: (file name, JSON text).
const DEFAULT_DATA: &[(&str, &str)] = &[
    (
        "backport/StructureDefinition-backport-subscription.json",
        include_str!("../../profiles/backport/StructureDefinition-backport-subscription.json"),
    ),
    (
        "backport/StructureDefinition-backport-subscription-notification-r4.json",
        include_str!(
            "../../profiles/backport/StructureDefinition-backport-subscription-notification-r4.json"
        ),
    ),
    (
        "backport/StructureDefinition-backport-subscription-status-r4.json",
        include_str!(
            "../../profiles/backport/StructureDefinition-backport-subscription-status-r4.json"
        ),
    ),
    (
        "backport/StructureDefinition-backport-channel-type.json",
        include_str!("../../profiles/backport/StructureDefinition-backport-channel-type.json"),
    ),
    (
        "backport/StructureDefinition-backport-filter-criteria.json",
        include_str!("../../profiles/backport/StructureDefinition-backport-filter-criteria.json"),
    ),
    (
        "backport/StructureDefinition-backport-payload-content.json",
        include_str!("../../profiles/backport/StructureDefinition-backport-payload-content.json"),
    ),
    (
        "backport/StructureDefinition-backport-heartbeat-period.json",
        include_str!("../../profiles/backport/StructureDefinition-backport-heartbeat-period.json"),
    ),
    (
        "backport/StructureDefinition-backport-timeout.json",
        include_str!("../../profiles/backport/StructureDefinition-backport-timeout.json"),
    ),
    (
        "backport/StructureDefinition-backport-max-count.json",
        include_str!("../../profiles/backport/StructureDefinition-backport-max-count.json"),
    ),
    (
        "backport/CodeSystem-backport-content-code-system.json",
        include_str!("../../profiles/backport/CodeSystem-backport-content-code-system.json"),
    ),
    (
        "backport/ValueSet-backport-content-value-set.json",
        include_str!("../../profiles/backport/ValueSet-backport-content-value-set.json"),
    ),
    (
        "cdex-2019/cdex-communication.json",
        include_str!("../../profiles/cdex-2019/cdex-communication.json"),
    ),
    (
        "cdex-2019/cdex-communicationrequest.json",
        include_str!("../../profiles/cdex-2019/cdex-communicationrequest.json"),
    ),
    (
        "cdex-2019/cdex-task.json",
        include_str!("../../profiles/cdex-2019/cdex-task.json"),
    ),
    (
        "cdex-2019/cdex-payload-query-string.json",
        include_str!("../../profiles/cdex-2019/cdex-payload-query-string.json"),
    ),
    (
        "cdex-2019/cdex-payload-clinical-note-type.json",
        include_str!("../../profiles/cdex-2019/cdex-payload-clinical-note-type.json"),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-parameters-submit-attachment.json",
        include_str!(
            "../../profiles/cdex-2.1.0/structuredefinition-cdex-parameters-submit-attachment.json"
        ),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-patient-demographics.json",
        include_str!(
            "../../profiles/cdex-2.1.0/structuredefinition-cdex-patient-demographics.json"
        ),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-practitionerrole.json",
        include_str!("../../profiles/cdex-2.1.0/structuredefinition-cdex-practitionerrole.json"),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-sdc-questionnaireresponse.json",
        include_str!(
            "../../profiles/cdex-2.1.0/structuredefinition-cdex-sdc-questionnaireresponse.json"
        ),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-signature-bundle.json",
        include_str!("../../profiles/cdex-2.1.0/structuredefinition-cdex-signature-bundle.json"),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-signature.json",
        include_str!("../../profiles/cdex-2.1.0/structuredefinition-cdex-signature.json"),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-task-attachment-request.json",
        include_str!(
            "../../profiles/cdex-2.1.0/structuredefinition-cdex-task-attachment-request.json"
        ),
    ),
    (
        "cdex-2.1.0/structuredefinition-cdex-task-data-request.json",
        include_str!("../../profiles/cdex-2.1.0/structuredefinition-cdex-task-data-request.json"),
    ),
    (
        "cdex-2.1.0/valueset-cdex-POU.json",
        include_str!("../../profiles/cdex-2.1.0/valueset-cdex-POU.json"),
    ),
    (
        "cdex-2.1.0/valueset-cdex-claim-use.json",
        include_str!("../../profiles/cdex-2.1.0/valueset-cdex-claim-use.json"),
    ),
    (
        "cdex-2.1.0/valueset-cdex-data-request-task-code.json",
        include_str!("../../profiles/cdex-2.1.0/valueset-cdex-data-request-task-code.json"),
    ),
    (
        "cdex-2.1.0/valueset-cdex-identifier-types.json",
        include_str!("../../profiles/cdex-2.1.0/valueset-cdex-identifier-types.json"),
    ),
    (
        "cdex-2.1.0/valueset-cdex-work-queue.json",
        include_str!("../../profiles/cdex-2.1.0/valueset-cdex-work-queue.json"),
    ),
    (
        "cdex-2.1.0/codesystem-cdex-temp.json",
        include_str!("../../profiles/cdex-2.1.0/codesystem-cdex-temp.json"),
    ),
];

impl Validator {
    /// The R4 base plus every profile, value set and code system shipped in `profiles/`
    /// (compiled into the binary: no file or network access).
    pub fn load_default() -> Result<Validator, String> {
        let base = base::Base::load_default()?;
        let mut v = Validator {
            terminology: terminology::Terminology::with_base(&base)?,
            base,
            profiles: base::FastMap::default(),
        };
        for (name, text) in DEFAULT_DATA {
            let value: Value =
                serde_json::from_str(text).map_err(|e| format!("profiles/{name}: {e}"))?;
            v.add_resource(&value)
                .map_err(|e| format!("profiles/{name}: {e}"))?;
        }
        v.terminology.finish();
        Ok(v)
    }

    /// Add the StructureDefinitions, ValueSets and CodeSystems (JSON files, or Bundles of
    /// them) found in a folder, at run time.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut count = 0;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let value: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            count += self
                .add_resource(&value)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        self.terminology.finish();
        Ok(count)
    }

    /// Add one conformance resource (or a Bundle of them); returns how many were taken.
    pub fn add_resource(&mut self, value: &Value) -> Result<usize, String> {
        match value.get("resourceType").and_then(Value::as_str) {
            Some("StructureDefinition") => {
                let mut p = Profile::compile(value)?;
                p.resolve(&self.base);
                self.profiles.insert(p.url.clone(), p);
                profile::link_targets(&mut self.profiles);
                Ok(1)
            }
            Some("ValueSet") => self.terminology.add_value_set(value).map(|_| 1),
            Some("CodeSystem") => self.terminology.add_code_system(value).map(|_| 1),
            Some("Bundle") => {
                let mut n = 0;
                for e in value
                    .get("entry")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(r) = e.get("resource") {
                        n += self.add_resource(r)?;
                    }
                }
                Ok(n)
            }
            _ => Ok(0),
        }
    }

    /// The canonical URLs of the loaded profiles, sorted.
    pub fn profile_urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
        urls.sort();
        urls
    }

    /// A loaded profile by canonical URL (a `|version` suffix is ignored) or by id/name
    /// (`cdex-task-data-request`).
    pub fn profile(&self, url_or_name: &str) -> Option<&Profile> {
        let key = url_or_name.split('|').next().unwrap_or("");
        self.profiles.get(key).or_else(|| {
            self.profiles
                .values()
                .find(|p| p.id == key || p.name == key)
        })
    }

    /// Validate a resource: the R4 base structure always; then `profile` if given, else every
    /// profile its `meta.profile` names (a profile that is not loaded is reported as an
    /// informational issue, never passed silently). Resources nested in Bundle entries,
    /// `contained` and Parameters are checked against the profiles their own `meta.profile`
    /// names. FHIRPath invariants are not evaluated here: see
    /// [`Validator::validate_with_invariants`].
    pub fn validate(&self, resource: &Value, profile: Option<&str>) -> Vec<Issue> {
        let (mut issues, _) = self.run(resource, profile, false);
        issue::dedupe(&mut issues);
        issues
    }

    /// [`Validator::validate`] plus the FHIRPath invariants (cdex-*, tdr-*) of the profiles
    /// applied. Async because the FHIRPath engine is.
    pub async fn validate_with_invariants(
        &self,
        resource: &Value,
        profile: Option<&str>,
    ) -> Vec<Issue> {
        self.validate_with_invariants_by(resource, profile, invariant::Evaluator::default())
            .await
    }

    /// [`Validator::validate_with_invariants`] with the invariants evaluated by the given
    /// evaluator (the test that proves the fast subset agrees with the full engine, and the
    /// benchmark that compares them, choose).
    pub async fn validate_with_invariants_by(
        &self,
        resource: &Value,
        profile: Option<&str>,
        evaluator: invariant::Evaluator,
    ) -> Vec<Issue> {
        let (mut issues, pending) = self.run(resource, profile, true);
        invariant::check_all(&self.base, resource, &pending, evaluator, &mut issues).await;
        issue::dedupe(&mut issues);
        issues
    }

    /// [`Validator::validate_with_invariants_by`], and each FHIRPath invariant that applied
    /// (its key and location) with its outcome and whether the fast subset gave it, from the
    /// same one validation: what `validate --invariants` shows, and how the test that proves
    /// the subset agrees with the full engine compares them, invariant by invariant.
    pub async fn validate_explaining_invariants(
        &self,
        resource: &Value,
        profile: Option<&str>,
        evaluator: invariant::Evaluator,
    ) -> (Vec<Issue>, Vec<InvariantOutcome>) {
        let (mut issues, pending) = self.run(resource, profile, true);
        let outcomes = invariant::evaluate(&self.base, resource, &pending, evaluator).await;
        invariant::report(&pending, &outcomes, &mut issues);
        issue::dedupe(&mut issues);
        let explained = pending
            .into_iter()
            .zip(outcomes)
            .map(|(p, (outcome, by_subset))| {
                let (pointer, resource_pointer) = match &p.target {
                    invariant::Target::Pointer { resource, within } => {
                        (Some(format!("{resource}{within}")), Some(resource.clone()))
                    }
                    invariant::Target::Value(_) => (None, None),
                };
                InvariantOutcome {
                    key: p.constraint.key.clone(),
                    expression: p.constraint.expression.clone(),
                    location: p.location,
                    outcome,
                    by_subset,
                    pointer,
                    resource_pointer,
                    element_level: p.element_level,
                    type_name: p.type_name,
                    def_path: p.def_path,
                }
            })
            .collect();
        (issues, explained)
    }

    fn run(
        &self,
        resource: &Value,
        profile: Option<&str>,
        invariants: bool,
    ) -> (Vec<Issue>, Vec<invariant::Pending>) {
        let root = root_name(resource);
        let (mut issues, mut pending) = self.walk(resource, root, invariants);
        self.apply(
            resource,
            root,
            profile,
            invariants,
            &mut issues,
            &mut pending,
        );
        (issues, pending)
    }

    /// [`Validator::validate_with_invariants_by`] against each of `profiles` in turn: the
    /// issues each of those calls would give, in order, from one walk of the R4 base
    /// structure, which would be the same for each (the simulator's live check validates a
    /// resource as declared and against the profile it expects).
    pub async fn validate_with_invariants_each(
        &self,
        resource: &Value,
        profiles: &[Option<&str>],
        evaluator: invariant::Evaluator,
    ) -> Vec<Vec<Issue>> {
        let root = root_name(resource);
        let (walked, walked_pending) = self.walk(resource, root, true);
        let mut out = Vec::with_capacity(profiles.len());
        for profile in profiles {
            let (mut issues, mut pending) = (walked.clone(), walked_pending.clone());
            self.apply(resource, root, *profile, true, &mut issues, &mut pending);
            invariant::check_all(&self.base, resource, &pending, evaluator, &mut issues).await;
            issue::dedupe(&mut issues);
            out.push(issues);
        }
        out
    }

    /// The R4 base structure of `resource` (at `root`): its issues and, with `invariants`,
    /// the base's invariants to evaluate.
    fn walk(
        &self,
        resource: &Value,
        root: &str,
        invariants: bool,
    ) -> (Vec<Issue>, Vec<invariant::Pending>) {
        let mut issues = Vec::new();
        let mut pending = Vec::new();
        let mut walker = structure::Walker::new(&self.base, &self.terminology, &mut issues);
        if invariants {
            walker
                .with_invariants(&mut pending)
                .resource(resource, root);
        } else {
            walker.resource(resource, root);
        }
        (issues, pending)
    }

    /// Apply `profile` (else the profiles `meta.profile` names), then the profiles of the
    /// resources nested in it, after the walk of its structure.
    fn apply(
        &self,
        resource: &Value,
        root: &str,
        profile: Option<&str>,
        invariants: bool,
        issues: &mut Vec<Issue>,
        pending: &mut Vec<invariant::Pending>,
    ) {
        let ctx = apply::Context {
            base: &self.base,
            terminology: &self.terminology,
            profiles: &self.profiles,
            invariants,
            top: resource,
        };
        match profile {
            Some(url) => ctx.apply_named(url, resource, root, issues, pending),
            None => ctx.apply_meta_profiles(resource, root, issues, pending),
        }
        ctx.apply_nested(resource, root, issues, pending);
    }
}

/// Where a resource's issues are located: its type, when it names one plainly.
fn root_name(resource: &Value) -> &str {
    resource
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("Resource")
}
