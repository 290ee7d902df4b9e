//! The console summary printed at the end of a run.
//!
//! One line per scenario (symbol, status word, id, title, duration); under each scenario that
//! did not simply pass, an indented line per problem (failed, errored or warned assertion,
//! step that did not run and why); then a totals line, the per-option conformance statement,
//! the short "What failed" list (one line per failing requirement and per errored step, from
//! [`super::findings`], as the HTML report leads with) and a final `PASS`/`FAIL` verdict line.
//! With `verbose`, every exchange is listed too, bodies cut at about 2 KB.
//!
//! Control characters in model text are shown as `\u{..}` escapes, so a hostile server
//! cannot drive the terminal with escape sequences.

use super::findings;
use super::format::{self, direction_label, status_symbol};
use crate::results::{
    AssertionResult, Exchange, HttpMessage, RunResults, ScenarioResult, Status, StepResult,
};
use anstyle::{AnsiColor, Style};
use std::fmt::Write as _;
use std::io::{self, Write as _};

/// Bodies longer than this are cut in verbose output.
const MAX_BODY_BYTES: usize = 2048;
/// Expected and actual values longer than this are cut in problem lines.
const MAX_VALUE_CHARS: usize = 120;
/// Lines of the "What failed" list longer than this are cut.
const MAX_WHAT_FAILED_CHARS: usize = 160;
/// Values inside a "What failed" line longer than this are cut.
const MAX_WHAT_FAILED_VALUE: usize = 40;

/// The summary as plain text (no ANSI escapes).
pub fn render(results: &RunResults, verbose: bool) -> String {
    Console { color: false }.render(results, verbose)
}

/// The summary with ANSI color escapes. Write it through an `anstream` stream (as [`print()`]
/// does) so the escapes are dropped when `NO_COLOR` is set or the output is not a terminal.
pub fn render_styled(results: &RunResults, verbose: bool) -> String {
    Console { color: true }.render(results, verbose)
}

/// Print the summary to stdout, in color when stdout is a terminal and `NO_COLOR` is unset.
pub fn print(results: &RunResults, verbose: bool) -> io::Result<()> {
    let mut out = anstream::stdout();
    out.write_all(render_styled(results, verbose).as_bytes())?;
    out.flush()
}

fn status_style(status: Status) -> Style {
    let color = match status {
        Status::Passed => AnsiColor::Green,
        Status::Warned => AnsiColor::Yellow,
        Status::Failed | Status::Errored => AnsiColor::Red,
        Status::Skipped | Status::NotRun | Status::NotApplicable => AnsiColor::BrightBlack,
    };
    let style = Style::new().fg_color(Some(color.into()));
    if status.is_blocking() {
        style.bold()
    } else {
        style
    }
}

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// Builds the text, with or without color.
struct Console {
    color: bool,
}

/// Width of the status column: the longest status word shown, at least 7.
fn status_width(r: &RunResults) -> usize {
    r.scenarios
        .iter()
        .map(|s| s.status.as_str().len())
        .max()
        .unwrap_or(0)
        .max(7)
}

impl Console {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }

    fn status(&self, status: Status, width: usize) -> String {
        let text = format!("{} {:<width$}", status_symbol(status), status.as_str());
        self.paint(status_style(status), &text)
    }

    fn render(&self, r: &RunResults, verbose: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} · target {}",
            self.paint(BOLD, &clean(&r.tool.name)),
            clean(&r.tool.version),
            clean(&r.target)
        );
        let _ = writeln!(
            out,
            "{}",
            self.paint(
                DIM,
                &format!(
                    "started {} · took {}",
                    clean(&r.started_at),
                    format::duration(r.duration_ms)
                )
            )
        );
        out.push('\n');

        let id_width = r
            .scenarios
            .iter()
            .map(|s| clean(&s.id).chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        let status_width = status_width(r);
        for s in &r.scenarios {
            self.scenario(&mut out, s, (id_width, status_width), verbose);
        }
        if !r.scenarios.is_empty() {
            out.push('\n');
        }
        if r.interrupted {
            let _ = writeln!(
                out,
                "{}",
                self.paint(
                    status_style(Status::Failed),
                    "Run interrupted: not every scenario ran."
                )
            );
        }
        for n in &r.notes {
            let _ = writeln!(out, "{} {}", self.paint(DIM, "note:"), clean(n));
        }
        let _ = writeln!(out, "{}", totals(r));
        if let Some(line) = carried(r) {
            let _ = writeln!(out, "{}", self.paint(DIM, &line));
        }
        let _ = writeln!(
            out,
            "{}",
            self.paint(
                DIM,
                &if r.options.is_empty() {
                    "options tested: none (a system claims one with --option NAME; `cdex-harness list options`)".to_string()
                } else {
                    format!("options tested: {}", r.options.join(", "))
                }
            )
        );
        let statements = findings::conformance(r);
        if !statements.is_empty() {
            let _ = writeln!(
                out,
                "{}",
                self.paint(
                    DIM,
                    &format!(
                        "conformance: {}",
                        clean(&findings::conformance_line(&statements))
                    )
                )
            );
        }
        self.what_failed(&mut out, r);
        let verdict = format::verdict(r);
        let style = if verdict == "PASS" {
            status_style(Status::Passed)
        } else {
            status_style(Status::Failed)
        };
        let _ = writeln!(out, "{}", self.paint(style.bold(), verdict));
        out
    }

    /// The short "What failed" list: one line per failing requirement (its first failing
    /// check: scenario › step, expected vs actual) and per errored step; nothing when the
    /// run failed nothing.
    fn what_failed(&self, out: &mut String, r: &RunResults) {
        let f = findings::findings(r);
        if f.is_clean() {
            return;
        }
        let mut heads = Vec::new();
        if !f.failures.is_empty() {
            heads.push(plural(
                f.failures.len(),
                "failing requirement",
                "failing requirements",
            ));
        }
        if !f.errors.is_empty() {
            heads.push(format!("{} errored", f.errors.len()));
        }
        let _ = writeln!(
            out,
            "{}",
            self.paint(BOLD, &format!("What failed ({}):", heads.join(", ")))
        );
        for x in &f.failures {
            let c = x.first();
            let a = c.assertion;
            let mut line = format!(
                "{}  {} › {}: ",
                x.id.map_or_else(|| "(no requirement)".to_owned(), clean),
                clean(&c.scenario.id),
                clean(&c.step.id)
            );
            match (&a.expected, &a.actual) {
                (Some(e), Some(g)) => {
                    let _ = write!(line, "expected {}, got {}", cut(e), cut(g));
                }
                _ => line.push_str(&flat(
                    a.message.as_deref().unwrap_or(a.description.as_str()),
                )),
            }
            if x.checks.len() > 1 {
                let _ = write!(line, " (+{} more)", x.checks.len() - 1);
            }
            if let Some(h) = &a.hint {
                let _ = write!(line, " · fix: {}", flat(h));
            }
            let _ = writeln!(
                out,
                "  {} {}",
                self.paint(status_style(Status::Failed), status_symbol(Status::Failed)),
                truncate_chars(&line, MAX_WHAT_FAILED_CHARS)
            );
        }
        for p in &f.errors {
            let at = match p.step {
                Some(st) => format!("{} › {}", clean(&p.scenario.id), clean(&st.id)),
                None => clean(&p.scenario.id),
            };
            let line = format!("errored  {at}: {}", flat(&p.message));
            let _ = writeln!(
                out,
                "  {} {}",
                self.paint(
                    status_style(Status::Errored),
                    status_symbol(Status::Errored)
                ),
                truncate_chars(&line, MAX_WHAT_FAILED_CHARS)
            );
        }
    }

    fn scenario(
        &self,
        out: &mut String,
        s: &ScenarioResult,
        (id_width, status_width): (usize, usize),
        verbose: bool,
    ) {
        let when = match &s.resumed_from {
            Some(f) => format!("(carried over from run {})", clean(&f.run_id)),
            None => format!("({})", format::duration(s.duration_ms)),
        };
        let _ = writeln!(
            out,
            "{}  {:<id_width$}  {}  {}",
            self.status(s.status, status_width),
            clean(&s.id),
            clean(&s.title),
            self.paint(DIM, &when)
        );
        if let Some(m) = &s.message {
            let _ = writeln!(out, "    ↳ {}", flat(m));
        }
        for st in &s.steps {
            self.step_problems(out, st);
        }
        if verbose {
            for st in &s.steps {
                self.step_exchanges(out, st);
            }
        }
    }

    /// Lines for a step that did not pass (with its reason) and its non-passing assertions.
    fn step_problems(&self, out: &mut String, st: &StepResult) {
        if let (false, Some(m)) = (st.status == Status::Passed, &st.message) {
            let _ = writeln!(
                out,
                "    {} {} step {}: {}",
                self.paint(status_style(st.status), status_symbol(st.status)),
                st.status.as_str(),
                clean(&st.id),
                flat(m)
            );
        }
        for a in &st.assertions {
            if matches!(a.status, Status::Failed | Status::Warned | Status::Errored) {
                self.assertion(out, &st.id, a);
            }
        }
    }

    fn assertion(&self, out: &mut String, step: &str, a: &AssertionResult) {
        let mut line = format!("step {} ", clean(step));
        let _ = write!(
            line,
            "[{} {}] ",
            a.requirement
                .as_deref()
                .map_or_else(|| "-".to_owned(), clean),
            a.severity.as_str()
        );
        let _ = write!(line, "{}: {}", clean(&a.kind), flat(&a.description));
        match (&a.expected, &a.actual) {
            (Some(e), Some(g)) => {
                let _ = write!(line, " — expected {}, got {}", short(e), short(g));
            }
            (Some(e), None) => {
                let _ = write!(line, " — expected {}", short(e));
            }
            (None, Some(g)) => {
                let _ = write!(line, " — got {}", short(g));
            }
            (None, None) => {}
        }
        if let Some(m) = &a.message {
            let _ = write!(line, ": {}", flat(m));
        }
        let _ = writeln!(
            out,
            "    {} {} {line}",
            self.paint(status_style(a.status), status_symbol(a.status)),
            a.status.as_str()
        );
    }

    /// Verbose listing of a step's exchanges.
    fn step_exchanges(&self, out: &mut String, st: &StepResult) {
        if st.exchanges.is_empty() && st.also_received.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "    {}",
            self.paint(
                DIM,
                &format!(
                    "step {} ({}) {}",
                    clean(&st.id),
                    clean(&st.kind),
                    st.status.as_str()
                )
            )
        );
        for x in &st.exchanges {
            self.exchange(out, x);
        }
        if !st.also_received.is_empty() {
            let _ = writeln!(
                out,
                "    {}",
                self.paint(
                    DIM,
                    "also received (other requests of the system under test, not checked):"
                )
            );
            for x in &st.also_received {
                self.exchange(out, x);
            }
        }
    }

    fn exchange(&self, out: &mut String, x: &Exchange) {
        let req = &x.request;
        let status = match (&x.response, &x.error) {
            (Some(resp), _) => resp
                .status
                .map_or_else(|| "?".to_owned(), |s| s.to_string()),
            (None, Some(_)) => "no response".to_owned(),
            (None, None) => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "      {}  {} {} → {}  {}",
            direction_label(x.direction),
            clean(req.method.as_deref().unwrap_or("?")),
            clean(req.url.as_deref().unwrap_or("?")),
            status,
            self.paint(DIM, &format!("({})", format::duration(x.duration_ms)))
        );
        self.message(out, req, '>');
        if let Some(resp) = &x.response {
            self.message(out, resp, '<');
        }
        if let Some(e) = &x.error {
            let _ = writeln!(
                out,
                "        {} transport error: {}",
                self.paint(status_style(Status::Errored), "!"),
                flat(e)
            );
        }
    }

    fn message(&self, out: &mut String, m: &HttpMessage, mark: char) {
        for (name, value) in &m.headers {
            let _ = writeln!(out, "        {mark} {}: {}", clean(name), clean(value));
        }
        if let Some(stored) = super::format::stored_body(m) {
            let _ = writeln!(
                out,
                "        {mark} {}",
                self.paint(DIM, &format!("(body not inline: {})", clean(&stored)))
            );
            // A short start of it, for text.
            if let Some(body) = m.body.as_deref().filter(|b| !b.is_empty()) {
                let (shown, _) = format::truncate(body, 400);
                for line in shown.lines().take(8) {
                    let _ = writeln!(out, "        {mark} {}", clean(line));
                }
                let _ = writeln!(out, "        {mark} {}", self.paint(DIM, "…"));
            }
            return;
        }
        let Some(body) = m.body.as_deref().filter(|b| !b.is_empty()) else {
            return;
        };
        let (shown, cut) = format::truncate(body, MAX_BODY_BYTES);
        for line in shown.lines() {
            let _ = writeln!(out, "        {mark} {}", clean(line));
        }
        if cut || m.body_truncated {
            let _ = writeln!(
                out,
                "        {mark} {}",
                self.paint(DIM, &format!("… (body truncated, {} bytes)", body.len()))
            );
        }
    }
}

/// `12 scenarios: 10 passed, 1 failed · 40 assertions (2 failed) · requirements 9/9 covered, 1 failing`.
fn totals(r: &RunResults) -> String {
    let s = &r.summary;
    let mut parts = vec![format!("{} passed", s.passed)];
    for (n, word) in [
        (s.failed, "failed"),
        (s.errored, "errored"),
        (s.warned, "warned"),
        (s.skipped, "skipped"),
        (s.not_run, "not run"),
        (s.not_applicable, "not applicable"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let mut line = format!(
        "{}: {}",
        plural(s.scenarios, "scenario", "scenarios"),
        parts.join(", ")
    );
    let _ = write!(
        line,
        " · {}",
        plural(s.assertions, "assertion", "assertions")
    );
    let mut bad = Vec::new();
    if s.assertions_failed > 0 {
        bad.push(format!("{} failed", s.assertions_failed));
    }
    if s.assertions_warned > 0 {
        bad.push(format!("{} warned", s.assertions_warned));
    }
    if !bad.is_empty() {
        let _ = write!(line, " ({})", bad.join(", "));
    }
    let _ = write!(
        line,
        " · requirements {}/{} covered",
        s.requirements_covered, s.requirements
    );
    if s.requirements_failed > 0 {
        let _ = write!(line, ", {} failing", s.requirements_failed);
    }
    let under_test: Vec<&str> = r.scenarios.iter().map(|s| s.actor.as_str()).collect();
    let untestable = r
        .requirements
        .iter()
        .filter(|q| q.untestable.is_some() && under_test.contains(&q.actor.as_str()))
        .count();
    if untestable > 0 {
        let _ = write!(line, " ({untestable} more not testable)");
    }
    line
}

/// `12 carried over from run A, 3 from run B (run --resume)`, when some were.
fn carried(r: &RunResults) -> Option<String> {
    let mut runs: Vec<(&str, usize)> = Vec::new();
    for f in r.scenarios.iter().filter_map(|s| s.resumed_from.as_ref()) {
        match runs.iter_mut().find(|(id, _)| *id == f.run_id) {
            Some(run) => run.1 += 1,
            None => runs.push((&f.run_id, 1)),
        }
    }
    let parts: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, (id, n))| {
            if i == 0 {
                format!("{n} carried over from run {}", clean(id))
            } else {
                format!("{n} from run {}", clean(id))
            }
        })
        .collect();
    (!parts.is_empty()).then(|| format!("{} (run --resume or --rerun-failed)", parts.join(", ")))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Model text on one line: runs of whitespace (newlines included) become one space.
fn flat(s: &str) -> String {
    clean(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A value on one line, cut to [`MAX_VALUE_CHARS`] characters.
fn short(s: &str) -> String {
    truncate_chars(&flat(s), MAX_VALUE_CHARS)
}

/// A value on one line, cut to [`MAX_WHAT_FAILED_VALUE`] characters.
fn cut(s: &str) -> String {
    truncate_chars(&flat(s), MAX_WHAT_FAILED_VALUE)
}

/// At most `max` characters, the last one `…` when cut.
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Model text made safe for a terminal: see [`format::visible_controls`].
fn clean(s: &str) -> String {
    format::visible_controls(s, false)
}
