//! Problems found in a scenario pack, with the place they were found.

use std::fmt;
use std::path::PathBuf;

/// One problem in a scenario, pack or catalog file: where, which field, what, and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Dotted path of the field, e.g. `steps[2].send.path`; empty for the whole file.
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line: None,
            column: None,
            field: field.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, loc: Option<serde_saphyr::Location>) -> Self {
        if let Some(loc) = loc
            && loc.line() > 0
        {
            self.line = Some(loc.line());
            self.column = Some(loc.column());
        }
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": {}: {}", self.field, self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading, so an author fixes them all in one pass.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
