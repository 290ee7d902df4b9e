//! The steps of a verification and their outcomes.

use std::fmt;

/// One step of verifying a signature, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Find the Signature, base64-decode `data`, split the compact JWS.
    Parse,
    /// The JWS header: `alg` RS256/PS256/ES256, `x5c` present (base64 DER).
    Header,
    /// RFC 8785 canonicalization of the resource minus id, meta and signature.
    Canonicalization,
    /// The JWS signature over header and re-inserted payload, with the `x5c[0]` key.
    Signature,
    /// The certificate's validity period contains the time judged at.
    CertificateValidity,
    /// KeyUsage, when present, includes digitalSignature.
    KeyUsage,
    /// A Subject Alternative Name equals `Signature.who.identifier.value`.
    SanMatchesWho,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Parse,
        Step::Header,
        Step::Canonicalization,
        Step::Signature,
        Step::CertificateValidity,
        Step::KeyUsage,
        Step::SanMatchesWho,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Parse => "parse",
            Step::Header => "header",
            Step::Canonicalization => "canonicalization",
            Step::Signature => "signature",
            Step::CertificateValidity => "certificate validity",
            Step::KeyUsage => "key usage",
            Step::SanMatchesWho => "SAN vs who.identifier",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    NotChecked,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::NotChecked => "not checked",
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

    pub fn not_checked(&mut self, step: Step, message: impl Into<String>) {
        self.push(step, Outcome::NotChecked, message);
    }

    /// Mark every step not yet reported as not checked (after a failure that stops the rest).
    pub fn rest_not_checked(mut self) -> Self {
        for step in Step::ALL {
            if self.get(step).is_none() {
                self.not_checked(step, "not checked: an earlier step failed");
            }
        }
        self.steps
            .sort_by_key(|r| Step::ALL.iter().position(|s| *s == r.step));
        self
    }

    pub fn get(&self, step: Step) -> Option<&StepResult> {
        self.steps.iter().find(|r| r.step == step)
    }

    /// The first failed step, if any.
    pub fn first_failure(&self) -> Option<&StepResult> {
        self.steps.iter().find(|r| r.outcome == Outcome::Fail)
    }

    /// Verified: no step failed, and the signature itself passed.
    pub fn verified(&self) -> bool {
        self.first_failure().is_none()
            && self.get(Step::Signature).map(|r| r.outcome) == Some(Outcome::Pass)
    }
}
