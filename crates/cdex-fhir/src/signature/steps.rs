//! The steps of a verification and their outcomes.

use std::fmt;

/// One step of verifying a signature, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Find the Signature, base64-decode `data`, split the compact JWS (detached payload).
    Parse,
    /// The JWS header `alg`: present (CONF-040), a SHA-256 algorithm (CONF-045 SHOULD).
    Alg,
    /// The JWS header `kty: "RS"` (2.1.0 only; the CI build dropped it).
    Kty,
    /// The JWS header `x5c`: an array of base64 (not base64url) DER certificates (CONF-042).
    X5c,
    /// The JWS header `sigT` present and equal to `Signature.when` (CI: CONF-043, CONF-055).
    SigT,
    /// The JWS header `srCms` present, with the Verification Signature id, its ids equal to the
    /// `Signature.type` codes (CI: CONF-037, 038, 039, 044, 054).
    SrCms,
    /// `Signature.sigFormat` = application/jose (CI: CONF-029).
    SigFormat,
    /// `Signature.targetFormat` = the JCS canonicalization URI (CI: CONF-031).
    TargetFormat,
    /// What was signed: the resource minus id, meta and signature, in RFC 8785 form
    /// (CONF-030, 034, 035, 036).
    Canonicalization,
    /// The JWS signature over header and re-inserted payload, with the `x5c[0]` key (CONF-028).
    Signature,
    /// The certificate's validity period contains the time judged at (CONF-052).
    CertificateValidity,
    /// KeyUsage, when present, includes digitalSignature (CONF-051).
    KeyUsage,
    /// A Subject Alternative Name equals `Signature.who.identifier.value` (CONF-048, 049, 053).
    SanMatchesWho,
    /// The `x5c` chain holds together and ends at a configured trust anchor (CONF-050).
    Trust,
}

impl Step {
    pub const ALL: [Step; 14] = [
        Step::Parse,
        Step::Alg,
        Step::Kty,
        Step::X5c,
        Step::SigT,
        Step::SrCms,
        Step::SigFormat,
        Step::TargetFormat,
        Step::Canonicalization,
        Step::Signature,
        Step::CertificateValidity,
        Step::KeyUsage,
        Step::SanMatchesWho,
        Step::Trust,
    ];

    /// The step's name, as scenarios write it (`signature: {step: NAME}`) and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Parse => "parse",
            Step::Alg => "alg",
            Step::Kty => "kty",
            Step::X5c => "x5c",
            Step::SigT => "sigT",
            Step::SrCms => "srCms",
            Step::SigFormat => "sigFormat",
            Step::TargetFormat => "targetFormat",
            Step::Canonicalization => "canonical",
            Step::Signature => "signature",
            Step::CertificateValidity => "validity",
            Step::KeyUsage => "key-usage",
            Step::SanMatchesWho => "san",
            Step::Trust => "trust",
        }
    }

    /// The step named `name` (also accepts a few longer spellings).
    pub fn parse(name: &str) -> Option<Step> {
        let alias = match name {
            "canonicalization" => "canonical",
            "certificate-validity" | "certificate validity" => "validity",
            "key usage" | "keyusage" | "key_usage" => "key-usage",
            "sigt" => "sigT",
            "srcms" => "srCms",
            "sigformat" => "sigFormat",
            "targetformat" => "targetFormat",
            other => other,
        };
        Step::ALL.into_iter().find(|s| s.name() == alias)
    }

    /// Every step name, for error messages.
    pub fn names() -> String {
        Step::ALL.map(Step::name).join(", ")
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// Broken, but only a rule of another rule set (or a SHOULD) says so: not a failure here.
    Warn,
    /// Not applicable or not judged (no trust anchors, no KeyUsage extension, a rule of
    /// another rule set).
    NotChecked,
    /// Could not be judged because an earlier step failed.
    Blocked,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Warn => "warn",
            Outcome::NotChecked => "not checked",
            Outcome::Blocked => "blocked",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    pub step: Step,
    pub outcome: Outcome,
    pub message: String,
}

/// Every step's result, in order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub steps: Vec<StepResult>,
}

impl Report {
    fn push(&mut self, step: Step, outcome: Outcome, message: impl Into<String>) {
        self.steps.retain(|r| r.step != step);
        self.steps.push(StepResult {
            step,
            outcome,
            message: message.into(),
        });
    }

    pub fn pass(&mut self, step: Step, message: impl Into<String>) {
        self.push(step, Outcome::Pass, message);
    }

    pub fn fail(&mut self, step: Step, message: impl Into<String>) {
        self.push(step, Outcome::Fail, message);
    }

    pub fn warn(&mut self, step: Step, message: impl Into<String>) {
        self.push(step, Outcome::Warn, message);
    }

    pub fn not_checked(&mut self, step: Step, message: impl Into<String>) {
        self.push(step, Outcome::NotChecked, message);
    }

    pub fn blocked(&mut self, step: Step, message: impl Into<String>) {
        self.push(step, Outcome::Blocked, message);
    }

    /// Mark every step not yet reported as blocked (after a failure that stops the rest), and
    /// put the steps in order.
    pub fn rest_not_checked(mut self) -> Self {
        let why = match self.first_failure() {
            Some((step, _)) => format!("not checked: the {step} step failed"),
            None => "not checked: an earlier step failed".to_string(),
        };
        for step in Step::ALL {
            if self.get(step).is_none() {
                self.blocked(step, why.clone());
            }
        }
        self.sort();
        self
    }

    pub(crate) fn sort(&mut self) {
        self.steps
            .sort_by_key(|r| Step::ALL.iter().position(|s| *s == r.step));
    }

    pub fn get(&self, step: Step) -> Option<&StepResult> {
        self.steps.iter().find(|r| r.step == step)
    }

    /// The first failed step and its message, if any.
    pub fn first_failure(&self) -> Option<(Step, String)> {
        self.steps
            .iter()
            .find(|r| r.outcome == Outcome::Fail)
            .map(|r| (r.step, r.message.clone()))
    }

    /// The failed steps, in order.
    pub fn failed(&self) -> Vec<Step> {
        self.with(Outcome::Fail)
    }

    /// The steps that warned, in order.
    pub fn warned(&self) -> Vec<Step> {
        self.with(Outcome::Warn)
    }

    fn with(&self, outcome: Outcome) -> Vec<Step> {
        self.steps
            .iter()
            .filter(|r| r.outcome == outcome)
            .map(|r| r.step)
            .collect()
    }

    /// Verified: no step failed, and the signature itself passed.
    pub fn ok(&self) -> bool {
        self.first_failure().is_none()
            && self.get(Step::Signature).map(|r| r.outcome) == Some(Outcome::Pass)
    }

    /// Same as [`Report::ok`].
    pub fn verified(&self) -> bool {
        self.ok()
    }

    /// One line: `verified` or `not verified: STEP: message`.
    pub fn summary(&self) -> String {
        match self.first_failure() {
            None if self.ok() => {
                let warned = self.warned();
                if warned.is_empty() {
                    "verified".to_string()
                } else {
                    format!(
                        "verified (warnings: {})",
                        warned
                            .iter()
                            .map(|s| s.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
            None => "not verified: the signature step did not pass".to_string(),
            Some((step, msg)) => format!("not verified: {step} step failed: {msg}"),
        }
    }
}
