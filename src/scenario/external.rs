//! Checks defined outside the scenario language ([`super::AssertKind::External`]): a
//! TestScript's asserts, lowered onto the same runner, are the first. The runner hands such a
//! check the whole exchange of its step (request and response, or the transport error), and
//! the scenario's variables to read and set; the check returns its result, or nothing for
//! bookkeeping that is not shown (recording a response for later asserts).

use crate::http::RawExchange;
use crate::results::AssertionResult;
use crate::scenario::template::Vars;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What an external check's evaluation returns.
pub type Evaluation<'a> = Pin<Box<dyn Future<Output = Option<AssertionResult>> + Send + 'a>>;

pub trait Check: Send + Sync + std::fmt::Debug {
    /// The assertion kind shown in reports (`testscript`).
    fn kind(&self) -> &'static str;
    /// What is checked, in words (for a check that could not run).
    fn describe(&self) -> String;
    /// Bookkeeping only: never listed among a step's assertions.
    fn hidden(&self) -> bool {
        false
    }
    /// Evaluate over the step's exchange (`None` in a step that exchanges nothing).
    fn evaluate<'a>(
        &'a self,
        exchange: Option<&'a RawExchange>,
        vars: &'a mut Vars,
    ) -> Evaluation<'a>;
}

/// A shared external check (cloned with its scenario).
#[derive(Clone)]
pub struct ExternalCheck(pub Arc<dyn Check>);

impl std::fmt::Debug for ExternalCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
