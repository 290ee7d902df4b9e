//! The HTML report: one self-contained page (inline CSS, no scripts, no external resources).
//!
//! It leads with what to fix: the verdict, a conformance statement per option, "What failed"
//! (each failing requirement, where, expected vs actual, the exchange one click away, the
//! likely fix) and the warnings (built in [`what_failed`] from [`super::findings`]); then the
//! counts, the requirements matrix (filters by status, CSS only; passed rows collapsed) and
//! every scenario.
//!
//! The page is rendered by a Handlebars template (`templates/report.html.hbs`, embedded in the
//! binary) from a view built here in Rust, so the template only loops and prints. Every value
//! from the model goes through Handlebars' HTML escaping (`{{ }}`; the template never uses
//! `{{{ }}}`), and the page carries a Content-Security-Policy forbidding scripts and any
//! fetch, as a second line of defence.

use super::format::{self, direction_label, status_symbol};
use super::pretty_json::pretty_json;
use crate::results::{
    AssertionResult, Exchange, HttpMessage, RequirementResult, RunResults, ScenarioResult, Status,
    StepResult,
};
use handlebars::Handlebars;
use serde::Serialize;
use std::collections::HashMap;
use std::io;

mod what_failed;

const TEMPLATE: &str = include_str!("templates/report.html.hbs");
/// One scenario, around its steps' HTML (rendered one at a time: see [`try_render`]).
const SCENARIO_TEMPLATE: &str = include_str!("templates/scenario.html.hbs");
/// One step, with its checks and exchanges.
const STEP_TEMPLATE: &str = include_str!("templates/step.html.hbs");
/// A status as a pill (a partial of every template).
const PILL_TEMPLATE: &str = include_str!("templates/pill.html.hbs");
/// The lead of the page: conformance statement, "What failed", warnings (a partial).
const LEAD_TEMPLATE: &str = include_str!("templates/lead.html.hbs");
/// One row of the requirements matrix.
const REQUIREMENT_TEMPLATE: &str = include_str!("templates/requirement.html.hbs");
/// The requirements matrix with its filters (a partial).
const MATRIX_TEMPLATE: &str = include_str!("templates/matrix.html.hbs");
/// The styles of the lead and the matrix (a partial inside the page's `<style>`).
const LEAD_CSS: &str = include_str!("templates/lead.css.hbs");

/// The HTML page. The template is embedded and covered by tests, so rendering cannot fail
/// unless there is a bug; should it ever, the page says so (escaped) rather than panicking.
/// Use [`try_render`] to get the error instead.
pub fn render(results: &RunResults) -> String {
    try_render(results).unwrap_or_else(|e| {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><meta charset=\"utf-8\"><title>Report error</title>\
             <p>The HTML report could not be rendered: {}</p></html>\n",
            handlebars::html_escape(&format!("{e:#}"))
        )
    })
}

/// The HTML page, or the template error.
pub fn try_render(results: &RunResults) -> anyhow::Result<String> {
    let mut page = Vec::new();
    write_to(results, &mut page)?;
    Ok(String::from_utf8(page)?)
}

/// Stands in for the scenarios' HTML in the page, and for the steps' HTML in a scenario,
/// while the part around them is rendered: the page is then written up to the mark, the
/// scenarios (or steps) one at a time, then the rest. A NUL never reaches the page otherwise
/// (every value is escaped by [`escape`], which makes control characters visible).
const MARK: &str = "\u{0}cdex-harness:children\u{0}";
/// Stands in for the requirements matrix's rows in the page, the same way.
const ROWS_MARK: &str = "\u{0}cdex-harness:rows\u{0}";

/// Write the HTML page (the same bytes as [`try_render`]) to `out` one step at a time, so
/// neither the page nor one scenario of it is ever held whole: a run of 600 exchanges makes a
/// page of about 3 MB, and building it as one `String` took twice that at its peak.
///
/// A template error (a bug: the templates are embedded and tested) comes back as an
/// [`io::Error`] of kind `Other` saying so, after what was written before it.
pub fn write_to(results: &RunResults, out: &mut dyn io::Write) -> io::Result<()> {
    let hb = registry().map_err(rendering)?;
    let mut page = Page::new(results);
    if page.has_requirements {
        page.requirement_rows = ROWS_MARK.to_owned();
    }
    if !results.scenarios.is_empty() {
        page.scenarios = MARK.to_owned();
    }
    let whole = hb.render("report", &page).map_err(rendering)?;
    let (rows_before, rest) = whole.split_once(ROWS_MARK).unwrap_or(("", &whole));
    out.write_all(rows_before.as_bytes())?;
    for row in &page.requirements {
        let html = hb.render("requirement", row).map_err(rendering)?;
        out.write_all(html.as_bytes())?;
    }
    drop(page);
    let (before, after) = around_mark(rest);
    out.write_all(before.as_bytes())?;
    for (i, s) in results.scenarios.iter().enumerate() {
        let steps = if s.steps.is_empty() {
            String::new()
        } else {
            MARK.to_owned()
        };
        let html = hb
            .render("scenario", &scenario(i, s, steps))
            .map_err(rendering)?;
        let (head, tail) = around_mark(&html);
        out.write_all(head.as_bytes())?;
        for (j, st) in s.steps.iter().enumerate() {
            let html = hb.render("step", &step(i, j, st)).map_err(rendering)?;
            out.write_all(html.as_bytes())?;
        }
        out.write_all(tail.as_bytes())?;
    }
    out.write_all(after.as_bytes())
}

/// The text before and after [`MARK`]; all of it before when there is no mark (no children).
fn around_mark(html: &str) -> (&str, &str) {
    html.split_once(MARK).unwrap_or((html, ""))
}

/// A template error as an I/O error of [`write_to`].
fn rendering(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("the HTML report could not be rendered: {e}"))
}

/// The page's templates. Each step is rendered on its own, then its scenario around it, then
/// the page around the scenarios: handlebars turns what it renders into a JSON tree first, and
/// one tree of a whole large run (every body again, as JSON strings) took several times the
/// memory of the results themselves.
fn registry() -> Result<Handlebars<'static>, handlebars::TemplateError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(escape);
    hb.register_partial("pill", PILL_TEMPLATE)?;
    hb.register_partial("lead", LEAD_TEMPLATE)?;
    hb.register_partial("matrix", MATRIX_TEMPLATE)?;
    hb.register_partial("lead_css", LEAD_CSS)?;
    hb.register_template_string("report", TEMPLATE)?;
    hb.register_template_string("scenario", SCENARIO_TEMPLATE)?;
    hb.register_template_string("step", STEP_TEMPLATE)?;
    hb.register_template_string("requirement", REQUIREMENT_TEMPLATE)?;
    Ok(hb)
}

/// HTML-escape a value, first making control characters and bidirectional overrides visible
/// (see [`format::visible_controls`]), so nothing in the page is hidden or reordered.
fn escape(s: &str) -> String {
    handlebars::html_escape(&format::visible_controls(s, true))
}

/// A status as shown: symbol and word, so it never relies on color alone. The word doubles as
/// the CSS class suffix (`status-failed`).
#[derive(Serialize)]
pub(super) struct Pill {
    symbol: &'static str,
    word: &'static str,
}

impl From<Status> for Pill {
    fn from(s: Status) -> Self {
        Pill {
            symbol: status_symbol(s),
            word: s.as_str(),
        }
    }
}

#[derive(Serialize)]
struct Count {
    label: &'static str,
    value: String,
    class: &'static str,
    /// The section listing them (`#what-failed`...), when there is something to see there.
    href: Option<&'static str>,
}

#[derive(Serialize)]
struct KeyValue<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Page<'a> {
    tool: &'a str,
    version: &'a str,
    schema_version: u32,
    target: &'a str,
    started_at: &'a str,
    duration: String,
    verdict: &'static str,
    verdict_class: &'static str,
    interrupted: bool,
    counts: Vec<Count>,
    /// The options the system claimed, in words.
    options: String,
    /// What the harness noticed before the scenarios.
    notes: &'a [String],
    /// The lead: conformance statement per option, "What failed", warnings.
    lead: what_failed::Lead<'a>,
    /// Requirements in scope (their actor under test, their option claimed), and those of
    /// the actors under test that do not apply (an option not claimed): rendered one row at
    /// a time (requirement.html.hbs), into `requirement_rows`.
    #[serde(skip)]
    requirements: Vec<Requirement<'a>>,
    has_requirements: bool,
    /// The matrix's rows, as HTML (requirement.html.hbs, escaped there).
    requirement_rows: String,
    /// The matrix's filters, with how many rows each shows.
    filters: Vec<Filter>,
    /// How many requirements of the catalog are out of this run's scope.
    out_of_scope: usize,
    /// Requirements of the actors under test that no black-box harness can test, with why.
    not_testable: Vec<NotTestable<'a>>,
    /// The scenarios, as HTML (scenario.html.hbs, escaped there).
    scenarios: String,
}

#[derive(Serialize)]
struct Filter {
    /// `failed`, `warned`, `not-applicable`, `all`: the radio's id is `rf-{name}`.
    name: &'static str,
    label: &'static str,
    count: usize,
    checked: bool,
}

#[derive(Serialize)]
struct Requirement<'a> {
    /// The row's id (`req-N`, N its index in the results).
    anchor: String,
    /// Which filters show it besides `all`: `failed` (failed or errored), `warned`,
    /// `not-applicable`, or `other`.
    filter: &'static str,
    /// A passed row: one line, its evidence folded.
    collapsed: bool,
    /// The option it belongs to, when not the core.
    option: Option<&'a str>,
    id: &'a str,
    actor: &'a str,
    verb: &'a str,
    basis: &'static str,
    text: &'a str,
    source: &'a str,
    /// The published page, when it is an http(s) URL (never another scheme in an href).
    url: Option<&'a str>,
    status: Pill,
    /// Some checks ran and others did not.
    partial: bool,
    evidence: Vec<Evidence<'a>>,
}

#[derive(Serialize)]
struct Evidence<'a> {
    scenario: &'a str,
    step: &'a str,
    status: Pill,
    /// How many checks of this step bear on the requirement.
    checks: usize,
    /// In-page link target of the step, when that step is in this report.
    anchor: Option<String>,
}

#[derive(Serialize)]
struct Scenario<'a> {
    anchor: String,
    id: &'a str,
    title: &'a str,
    file: &'a str,
    actor: &'a str,
    plays: &'a str,
    options: String,
    status: Pill,
    duration: String,
    message: Option<&'a str>,
    /// Open by default: failed, errored and warned scenarios.
    open: bool,
    /// Shown in the summary line of a collapsed scenario: its message (why it did not run).
    summary_note: Option<&'a str>,
    /// Where a result carried over from an earlier run (`run --resume`) comes from, in words.
    carried: Option<String>,
    /// Its steps, as HTML (step.html.hbs, escaped there).
    steps: String,
}

#[derive(Serialize)]
struct Step<'a> {
    anchor: String,
    id: &'a str,
    title: &'a str,
    kind: &'a str,
    status: Pill,
    duration: String,
    message: Option<&'a str>,
    assertions: Vec<Assertion<'a>>,
    captures: Vec<KeyValue<'a>>,
    exchanges: Vec<ExchangeView<'a>>,
    /// Requests the system under test sent besides the awaited one: shown, not checked.
    also_received: Vec<ExchangeView<'a>>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    kind: &'a str,
    description: &'a str,
    requirement: Option<&'a str>,
    severity: &'static str,
    status: Pill,
    expected: Option<&'a str>,
    actual: Option<&'a str>,
    message: Option<&'a str>,
    /// Show expected, actual and message (the assertion did not pass, or it is a check over
    /// the whole scenario whose findings are worth reading).
    detail: bool,
}

#[derive(Serialize)]
struct ExchangeView<'a> {
    direction: &'static str,
    at: &'a str,
    duration: String,
    method: &'a str,
    url: &'a str,
    status: String,
    error: Option<&'a str>,
    request: Message<'a>,
    response: Option<Message<'a>>,
    /// Open by default when its step did not pass.
    open: bool,
    /// Its id in the page (`sc-I-st-J-x-K`), for the exchanges a step judged.
    anchor: Option<String>,
}

#[derive(Serialize)]
struct Message<'a> {
    headers: Vec<KeyValue<'a>>,
    body: Option<String>,
    body_is_json: bool,
    body_truncated: bool,
    /// A body kept out of the results: its size, type, digest and file (a link).
    body_stored: Option<String>,
    body_file: Option<&'a str>,
}

impl<'a> Page<'a> {
    fn new(r: &'a RunResults) -> Self {
        let verdict = format::verdict(r);
        // scenario id -> (scenario index, step id -> step index), for evidence links.
        let index: HashMap<&str, (usize, HashMap<&str, usize>)> = r
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let steps = s
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(j, st)| (st.id.as_str(), j))
                    .collect();
                (s.id.as_str(), (i, steps))
            })
            .collect();
        let requirements: Vec<Requirement<'a>> = r
            .requirements
            .iter()
            .enumerate()
            .filter(|(_, q)| in_matrix(r, q))
            .map(|(k, q)| requirement(k, q, &index))
            .collect();
        Page {
            tool: &r.tool.name,
            version: &r.tool.version,
            schema_version: r.schema_version,
            target: &r.target,
            started_at: &r.started_at,
            duration: format::duration(r.duration_ms),
            verdict,
            verdict_class: if verdict == "PASS" { "pass" } else { "fail" },
            interrupted: r.interrupted,
            counts: counts(r),
            lead: what_failed::lead(r, verdict != "PASS"),
            filters: filters(&requirements),
            has_requirements: !requirements.is_empty(),
            requirement_rows: String::new(),
            notes: &r.notes,
            options: if r.options.is_empty() {
                "none".to_string()
            } else {
                r.options.join(", ")
            },
            requirements,
            out_of_scope: r
                .requirements
                .iter()
                .filter(|q| !in_matrix(r, q) && q.untestable.is_none())
                .count(),
            not_testable: {
                let under_test: Vec<&str> = r.scenarios.iter().map(|s| s.actor.as_str()).collect();
                r.requirements
                    .iter()
                    .filter(|q| under_test.contains(&q.actor.as_str()))
                    .filter_map(|q| {
                        q.untestable.as_deref().map(|why| NotTestable {
                            id: &q.id,
                            verb: &q.verb,
                            text: &q.text,
                            why,
                        })
                    })
                    .collect()
            },
            scenarios: String::new(),
        }
    }
}

#[derive(Serialize)]
struct NotTestable<'a> {
    id: &'a str,
    verb: &'a str,
    text: &'a str,
    why: &'a str,
}

fn counts(r: &RunResults) -> Vec<Count> {
    let s = &r.summary;
    let failing = format::verdict(r) != "PASS";
    // Link a count to the section listing what it counts, when there is something there.
    let to_failed = |n: usize| (failing && n > 0).then_some("#what-failed");
    let to_warnings = |n: usize| (n > 0 && s.assertions_warned > 0).then_some("#warnings");
    let count = |label, value: usize, class, href| Count {
        label,
        value: value.to_string(),
        class,
        href,
    };
    [
        count("Scenarios", s.scenarios, "total", Some("#scenarios")),
        count("Passed", s.passed, "passed", None),
        count("Warned", s.warned, "warned", to_warnings(s.warned)),
        count("Failed", s.failed, "failed", to_failed(s.failed)),
        count("Errored", s.errored, "errored", to_failed(s.errored)),
        count("Skipped", s.skipped, "skipped", None),
        count("Not run", s.not_run, "not-run", None),
        count("Not applicable", s.not_applicable, "not-applicable", None),
        count("Assertions", s.assertions, "total", None),
        count(
            "Assertions failed",
            s.assertions_failed,
            "failed",
            to_failed(s.assertions_failed),
        ),
        count(
            "Assertions warned",
            s.assertions_warned,
            "warned",
            to_warnings(s.assertions_warned),
        ),
        Count {
            label: "Requirements covered",
            value: format!("{} / {}", s.requirements_covered, s.requirements),
            class: "total",
            href: Some("#requirements"),
        },
        count(
            "Requirements failing",
            s.requirements_failed,
            "failed",
            to_failed(s.requirements_failed),
        ),
    ]
    .into_iter()
    .chain((s.carried_over > 0).then(|| count("Carried over", s.carried_over, "total", None)))
    .collect()
}

/// The matrix shows the requirements in scope and those of the actors under test that do
/// not apply (options not claimed); never the untestable ones (listed apart).
pub(super) fn in_matrix(r: &RunResults, q: &RequirementResult) -> bool {
    q.in_scope
        || (q.status == Status::NotApplicable
            && q.untestable.is_none()
            && r.scenarios.iter().any(|s| s.actor == q.actor))
}

/// The matrix filters; `all` is checked (passed rows collapsed, the others shown whole).
fn filters(rows: &[Requirement<'_>]) -> Vec<Filter> {
    let n = |f: &str| rows.iter().filter(|q| q.filter == f).count();
    let failed = n("failed");
    vec![
        Filter {
            name: "failed",
            label: "Failed",
            count: failed,
            checked: false,
        },
        Filter {
            name: "warned",
            label: "Warned",
            count: n("warned"),
            checked: false,
        },
        Filter {
            name: "not-applicable",
            label: "Not applicable",
            count: n("not-applicable"),
            checked: false,
        },
        Filter {
            name: "all",
            label: "All",
            count: rows.len(),
            checked: true,
        },
    ]
}

fn requirement<'a>(
    k: usize,
    q: &'a RequirementResult,
    index: &HashMap<&str, (usize, HashMap<&str, usize>)>,
) -> Requirement<'a> {
    Requirement {
        anchor: requirement_anchor(k),
        filter: match q.status {
            Status::Failed | Status::Errored => "failed",
            Status::Warned => "warned",
            Status::NotApplicable => "not-applicable",
            _ => "other",
        },
        collapsed: q.status == Status::Passed,
        option: q.option.as_deref(),
        id: &q.id,
        actor: &q.actor,
        verb: &q.verb,
        basis: q.basis.as_str(),
        text: &q.text,
        source: &q.source,
        url: Some(q.url.as_str()).filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        status: q.status.into(),
        partial: q.partial,
        evidence: group_evidence(&q.evidence)
            .into_iter()
            .map(|(e, status, checks)| Evidence {
                scenario: &e.scenario,
                step: &e.step,
                status: status.into(),
                checks,
                anchor: index.get(e.scenario.as_str()).map(|(i, steps)| {
                    match steps.get(e.step.as_str()) {
                        Some(j) => step_anchor(*i, *j),
                        None => scenario_anchor(*i),
                    }
                }),
            })
            .collect(),
    }
}

/// One row per (scenario, step), in order of first appearance: the worst status of its
/// checks on the requirement, and how many there are.
fn group_evidence(
    evidence: &[crate::results::Evidence],
) -> Vec<(&crate::results::Evidence, Status, usize)> {
    let mut rows: Vec<(&crate::results::Evidence, Status, usize)> = Vec::new();
    for e in evidence {
        match rows
            .iter_mut()
            .find(|(r, _, _)| r.scenario == e.scenario && r.step == e.step)
        {
            Some(row) => {
                row.1 = row.1.worst(e.status);
                row.2 += 1;
            }
            None => rows.push((e, e.status, 1)),
        }
    }
    rows
}

pub(crate) fn scenario_anchor(i: usize) -> String {
    format!("sc-{i}")
}

pub(crate) fn step_anchor(i: usize, j: usize) -> String {
    format!("sc-{i}-st-{j}")
}

pub(crate) fn exchange_anchor(i: usize, j: usize, k: usize) -> String {
    format!("sc-{i}-st-{j}-x-{k}")
}

pub(crate) fn requirement_anchor(k: usize) -> String {
    format!("req-{k}")
}

fn scenario(i: usize, s: &ScenarioResult, steps: String) -> Scenario<'_> {
    let open = matches!(s.status, Status::Failed | Status::Errored | Status::Warned);
    Scenario {
        anchor: scenario_anchor(i),
        id: &s.id,
        title: &s.title,
        file: &s.file,
        actor: &s.actor,
        plays: &s.plays,
        options: if s.options.is_empty() {
            "none".to_owned()
        } else {
            s.options.join(", ")
        },
        status: s.status.into(),
        duration: format::duration(s.duration_ms),
        message: s.message.as_deref(),
        open,
        summary_note: if open { None } else { s.message.as_deref() },
        carried: s.resumed_from.as_ref().map(|f| {
            format!(
                "carried over from run {} (finished {})",
                f.run_id, f.finished_at
            )
        }),
        steps,
    }
}

fn step(i: usize, j: usize, st: &StepResult) -> Step<'_> {
    let open = !matches!(st.status, Status::Passed);
    Step {
        anchor: step_anchor(i, j),
        id: &st.id,
        title: &st.title,
        kind: &st.kind,
        status: st.status.into(),
        duration: format::duration(st.duration_ms),
        message: st.message.as_deref(),
        assertions: st.assertions.iter().map(assertion).collect(),
        captures: st
            .captures
            .iter()
            .map(|(k, v)| KeyValue { name: k, value: v })
            .collect(),
        exchanges: st
            .exchanges
            .iter()
            .enumerate()
            .map(|(k, x)| ExchangeView {
                anchor: Some(exchange_anchor(i, j, k)),
                ..exchange(x, open)
            })
            .collect(),
        also_received: st
            .also_received
            .iter()
            .map(|x| exchange(x, false))
            .collect(),
    }
}

fn assertion(a: &AssertionResult) -> Assertion<'_> {
    Assertion {
        kind: &a.kind,
        description: &a.description,
        requirement: a.requirement.as_deref(),
        severity: a.severity.as_str(),
        status: a.status.into(),
        expected: a.expected.as_deref(),
        actual: a.actual.as_deref(),
        message: a.message.as_deref(),
        // What a check over the whole scenario found (a Task's statuses, a client's poll
        // times) is worth reading even when it passed.
        detail: !matches!(a.status, Status::Passed | Status::Skipped)
            || (a.status == Status::Passed
                && a.actual.is_some()
                && matches!(a.kind.as_str(), "task_states" | "poll_schedule")),
    }
}

fn exchange(x: &Exchange, open: bool) -> ExchangeView<'_> {
    let status = match (&x.response, &x.error) {
        (Some(r), _) => r.status.map_or_else(|| "?".to_owned(), |s| s.to_string()),
        (None, Some(_)) => "no response".to_owned(),
        (None, None) => "—".to_owned(),
    };
    ExchangeView {
        direction: direction_label(x.direction),
        at: &x.at,
        duration: format::duration(x.duration_ms),
        method: x.request.method.as_deref().unwrap_or("?"),
        url: x.request.url.as_deref().unwrap_or("?"),
        status,
        error: x.error.as_deref(),
        request: message(&x.request),
        response: x.response.as_ref().map(message),
        open,
        anchor: None,
    }
}

fn message(m: &HttpMessage) -> Message<'_> {
    let pretty = if m.body_truncated || m.body_size.is_some() {
        None
    } else {
        m.body.as_deref().and_then(pretty_json)
    };
    Message {
        headers: m
            .headers
            .iter()
            .map(|(n, v)| KeyValue { name: n, value: v })
            .collect(),
        body_is_json: pretty.is_some(),
        body: pretty.or_else(|| m.body.clone().filter(|b| !b.is_empty())),
        body_truncated: m.body_truncated && m.body_size.is_none(),
        body_stored: super::format::stored_body(m),
        body_file: m.body_file.as_deref(),
    }
}
