//! What a lowered TestScript does while the runner runs it: [`Record`] keeps each
//! operation's request and response (for `responseId`, `requestId` and the asserts that
//! follow) and recomputes the variables; [`TsAssert`] evaluates one TestScript assert.

use super::model::{Assert, Variable};
use super::operators::{self, Operator};
use super::ops;
use super::vars;
use crate::http::{Message, RawExchange};
use crate::results::{AssertionResult, Severity, Status};
use crate::scenario::external::{Check, Evaluation};
use crate::scenario::template::{Vars, render};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// A request or response kept for later.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub method: Option<String>,
    pub url: Option<String>,
    /// Relative to the base.
    pub path: Option<String>,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn of_message(m: &Message) -> Recorded {
        Recorded::of(m)
    }

    fn of(m: &Message) -> Recorded {
        Recorded {
            method: m.method.clone(),
            url: m.url.clone(),
            path: m.path.clone(),
            status: m.status,
            headers: m.headers.clone(),
            body: m.body.clone(),
        }
    }

    fn from_json(v: &Value) -> Recorded {
        Recorded {
            body: serde_json::to_vec(v).unwrap_or_default(),
            ..Default::default()
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as FHIR JSON (an XML body converted).
    pub fn json(&self) -> Result<Value, String> {
        let text = String::from_utf8_lossy(&self.body);
        let t = text.trim_start();
        if t.is_empty() {
            return Err("the body is empty".into());
        }
        if t.starts_with('<') {
            return super::xml::to_json(t);
        }
        serde_json::from_str(t).map_err(|e| format!("the body is not JSON: {e}"))
    }

    /// `Type/id` of what this holds: the body's resource, else the Location header, else
    /// the request URL.
    fn target(&self) -> Option<(String, Option<String>)> {
        if let Ok(v) = self.json()
            && let (Some(t), Some(id)) = (
                v.get("resourceType").and_then(Value::as_str),
                v.get("id").and_then(Value::as_str),
            )
            && t != "OperationOutcome"
            && t != "Bundle"
        {
            let version = v
                .pointer("/meta/versionId")
                .and_then(Value::as_str)
                .map(str::to_string);
            return Some((format!("{t}/{id}"), version));
        }
        let from_url = |u: &str| -> Option<(String, Option<String>)> {
            let u = u.split('?').next().unwrap_or(u);
            let segs: Vec<&str> = u.split('/').filter(|s| !s.is_empty()).collect();
            let hist = segs.iter().position(|s| *s == "_history");
            let (t, id, v) = match hist {
                Some(h) if h >= 2 => (segs[h - 2], segs[h - 1], segs.get(h + 1).copied()),
                _ if segs.len() >= 2 => (segs[segs.len() - 2], segs[segs.len() - 1], None),
                _ => return None,
            };
            t.starts_with(|c: char| c.is_ascii_uppercase())
                .then(|| (format!("{t}/{id}"), v.map(str::to_string)))
        };
        self.header("location")
            .or_else(|| self.header("content-location"))
            .and_then(from_url)
            .or_else(|| self.url.as_deref().and_then(from_url))
    }
}

/// The last operation: its request, and its response unless it failed.
#[derive(Debug, Clone, Default)]
pub struct Last {
    pub request: Recorded,
    pub response: Option<Recorded>,
    pub error: Option<String>,
}

/// What one run of a script keeps between its actions.
#[derive(Debug, Default)]
pub struct State {
    pub last: Option<Last>,
    /// `responseId` and autocreated fixtures: the responses.
    pub responses: BTreeMap<String, Recorded>,
    /// `requestId`: the requests.
    pub requests: BTreeMap<String, Recorded>,
    /// Autocreated fixtures: the create responses (the server's id for the fixture).
    pub created: BTreeMap<String, Recorded>,
}

/// The script-wide knowledge every check shares.
#[derive(Debug)]
pub struct Runtime {
    pub state: Mutex<State>,
    /// Static fixtures.
    pub fixtures: BTreeMap<String, Value>,
    pub variables: Vec<Variable>,
    /// profile id -> canonical URL.
    pub profiles: BTreeMap<String, String>,
    /// Run-time fixtures used as targets (their `Type/id` is kept in a variable).
    pub targets: BTreeSet<String>,
    /// Run-time fixtures sent on as bodies.
    pub bodies: BTreeSet<String>,
}

/// A fixture, wherever it comes from.
fn source(rt: &Runtime, st: &State, id: &str) -> Option<Recorded> {
    st.responses
        .get(id)
        .or_else(|| st.requests.get(id))
        .cloned()
        .or_else(|| rt.fixtures.get(id).map(Recorded::from_json))
}

async fn fhirpath(expr: &str, body: &Value) -> Result<Vec<Value>, String> {
    crate::fhir::fhirpath::evaluate(expr, body)
        .await
        .map_err(|e| format!("`{expr}` could not be evaluated: {e}"))
}

fn texts(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// A variable's value now, if it can be computed.
async fn variable_value(rt: &Runtime, v: &Variable) -> Option<String> {
    let src = {
        let st = rt.state.lock().expect("state");
        match &v.source_id {
            Some(id) => source(rt, &st, id),
            None => st.last.as_ref().and_then(|l| l.response.clone()),
        }
    };
    let computed = match (&v.header_field, &v.expression, &v.path, &src) {
        (Some(h), _, _, Some(s)) => s.header(h).map(str::to_string),
        (None, Some(e), _, Some(s)) => match s.json() {
            Ok(body) => fhirpath(e, &body)
                .await
                .ok()
                .and_then(|r| vars::first_text(&r)),
            Err(_) => None,
        },
        (None, None, Some(p), Some(s)) => match (super::xpath::to_fhirpath(p), s.json()) {
            (Ok(e), Ok(body)) => fhirpath(&e, &body)
                .await
                .ok()
                .and_then(|r| vars::first_text(&r)),
            _ => None,
        },
        _ => None,
    };
    computed.or_else(|| v.default_value.clone())
}

/// Recompute every variable that comes from a fixture or a response, and the targets and
/// bodies of run-time fixtures.
pub async fn refresh(rt: &Runtime, out: &mut Vars) {
    for v in &rt.variables {
        if v.expression.is_none() && v.path.is_none() && v.header_field.is_none() {
            continue;
        }
        if let Some(value) = variable_value(rt, v).await {
            out.insert(vars::key(&v.name), value);
        }
    }
    let st = rt.state.lock().expect("state");
    for id in &rt.targets {
        if let Some(r) = st.created.get(id).cloned().or_else(|| source(rt, &st, id))
            && let Some((t, version)) = r.target()
        {
            out.insert(ops::target_var(id), t);
            if let Some(v) = version {
                out.insert(ops::version_var(id), v);
            }
        }
    }
    for id in &rt.bodies {
        if let Some(r) = source(rt, &st, id) {
            out.insert(
                ops::body_var(id),
                String::from_utf8_lossy(&r.body).into_owned(),
            );
        }
    }
}

/// Keeps an operation's exchange (never listed among the assertions).
#[derive(Debug)]
pub struct Record {
    pub rt: Arc<Runtime>,
    pub response_id: Option<String>,
    pub request_id: Option<String>,
}

impl Check for Record {
    fn kind(&self) -> &'static str {
        "testscript"
    }
    fn describe(&self) -> String {
        "the operation's exchange".into()
    }
    fn hidden(&self) -> bool {
        true
    }
    fn evaluate<'a>(
        &'a self,
        exchange: Option<&'a RawExchange>,
        vars: &'a mut Vars,
    ) -> Evaluation<'a> {
        Box::pin(async move {
            if let Some(x) = exchange {
                let last = Last {
                    request: Recorded::of(&x.request),
                    response: x.response.as_ref().map(Recorded::of),
                    error: x.error.clone(),
                };
                let mut st = self.rt.state.lock().expect("state");
                if let Some(id) = &self.request_id {
                    st.requests.insert(id.clone(), last.request.clone());
                }
                if let (Some(id), Some(r)) = (&self.response_id, &last.response) {
                    st.responses.insert(id.clone(), r.clone());
                }
                st.last = Some(last);
            }
            refresh(&self.rt, vars).await;
            None
        })
    }
}

/// One TestScript assert.
#[derive(Debug)]
pub struct TsAssert {
    pub rt: Arc<Runtime>,
    pub assert: Assert,
    /// Its element path (`test[0].action[3].assert`).
    pub at: String,
}

/// The status codes `response` names.
pub fn response_code(name: &str) -> Option<u16> {
    Some(match name {
        "continue" => 100,
        "switchingProtocols" => 101,
        "okay" => 200,
        "created" => 201,
        "noContent" => 204,
        "notModified" => 304,
        "bad" => 400,
        "forbidden" => 403,
        "notFound" => 404,
        "methodNotAllowed" => 405,
        "conflict" => 409,
        "gone" => 410,
        "preconditionFailed" => 412,
        "unprocessable" => 422,
        _ => return None,
    })
}

/// One judgement: what was found, and why it does not hold.
type Judged = Result<String, (Option<String>, String)>;

impl TsAssert {
    fn describe_kind(&self) -> String {
        let a = &self.assert;
        let op = a.operator.as_deref().unwrap_or("equals");
        let value = a.value.as_deref().unwrap_or("");
        if let Some(r) = &a.response {
            format!("response is {r}")
        } else if let Some(c) = &a.response_code {
            format!("response code {op} {c}")
        } else if let Some(c) = &a.content_type {
            format!("Content-Type {op} {}", ops::mime(c))
        } else if let Some(h) = &a.header_field {
            format!("header {h} {op} {value}")
        } else if let Some(r) = &a.resource {
            format!("resource is {r}")
        } else if let Some(e) = a.expression.as_ref().or(a.path.as_ref()) {
            match &a.compare_to_source_id {
                Some(s) => format!("{e} {op} the same in {s}"),
                None => format!("{e} {op} {value}"),
            }
        } else if let Some(m) = &a.minimum_id {
            format!("holds at least what {m} holds")
        } else if a.navigation_links.is_some() {
            "Bundle navigation links".into()
        } else if let Some(p) = &a.validate_profile_id {
            format!("conforms to profile {p}")
        } else if let Some(u) = &a.request_url {
            format!("request URL {op} {u}")
        } else if let Some(m) = &a.request_method {
            format!("request method {op} {m}")
        } else {
            "assert".into()
        }
    }

    fn description(&self) -> String {
        let a = &self.assert;
        let what = self.describe_kind();
        match (&a.label, &a.description) {
            (Some(l), Some(d)) => format!("{l}: {d} ({what})"),
            (None, Some(d)) => format!("{d} ({what})"),
            (Some(l), None) => format!("{l}: {what}"),
            (None, None) => what,
        }
    }

    fn operator(&self, default: Operator) -> Result<Operator, String> {
        match &self.assert.operator {
            None => Ok(default),
            Some(o) => Operator::parse(o).ok_or_else(|| format!("unknown operator `{o}`")),
        }
    }

    async fn judge(&self, vars: &Vars) -> Result<Judged, String> {
        let a = &self.assert;
        let render_opt = |t: &Option<String>| -> Result<Option<String>, String> {
            t.as_deref()
                .map(|t| render(&vars::template(t), vars))
                .transpose()
        };
        let value = render_opt(&a.value)?;
        // The message this assert reads: a fixture, or the last operation's.
        let (subject, request) = {
            let st = self.rt.state.lock().expect("state");
            let last = st.last.clone();
            let subject = match &a.source_id {
                Some(id) => Some(
                    source(&self.rt, &st, id)
                        .ok_or_else(|| format!("sourceId `{id}` names no fixture (yet)"))?,
                ),
                None if a.on_request() => last.as_ref().map(|l| l.request.clone()),
                None => match &last {
                    Some(Last {
                        response: Some(r), ..
                    }) => Some(r.clone()),
                    Some(Last { error: Some(e), .. }) => {
                        return Ok(Err((None, format!("the operation got no response: {e}"))));
                    }
                    _ => None,
                },
            };
            (subject, last.map(|l| l.request))
        };
        let need = || -> Result<Recorded, String> {
            subject.clone().ok_or_else(|| {
                "there is no response to check (no operation ran before this assert)".to_string()
            })
        };
        let outcome = |op: Operator, actual: Vec<String>, want: Option<&str>| -> Judged {
            let shown = actual.join(", ");
            operators::compare(op, &actual, want)
                .map(|_| shown.clone())
                .map_err(|e| (Some(shown), e))
        };
        if let Some(r) = &a.response {
            let code = response_code(r).ok_or_else(|| format!("unknown response `{r}`"))?;
            let s = need()?;
            let op = self.operator(Operator::Equals)?;
            let got = s.status.map(|c| c.to_string()).into_iter().collect();
            return Ok(outcome(op, got, Some(&code.to_string())));
        }
        if a.response_code.is_some() {
            let want = render_opt(&a.response_code)?;
            let s = need()?;
            let op = self.operator(Operator::Equals)?;
            let got = s.status.map(|c| c.to_string()).into_iter().collect();
            return Ok(outcome(op, got, want.as_deref()));
        }
        if let Some(c) = &a.content_type {
            // The RESPONSE's Content-Type (or the fixture's, with sourceId).
            let s = need()?;
            let op = self.operator(Operator::Equals)?;
            let got: Vec<String> = s
                .header("content-type")
                .map(|v| {
                    v.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .into_iter()
                .collect();
            let want = ops::mime(c);
            // The formal type, and the one DSTU2 used, for `json`.
            let equal = got.iter().any(|g| {
                *g == want
                    || (c == "json" && g == "application/json+fhir")
                    || (c == "xml" && g == "application/xml+fhir")
            });
            return Ok(match op {
                Operator::Equals if equal => Ok(got.join(", ")),
                Operator::NotEquals if !equal && !got.is_empty() => Ok(got.join(", ")),
                Operator::Equals | Operator::NotEquals => Err((
                    Some(got.join(", ")),
                    format!(
                        "the response's Content-Type is {}, expected {}{want}",
                        if got.is_empty() {
                            "missing".to_string()
                        } else {
                            format!("`{}`", got.join(", "))
                        },
                        if op == Operator::NotEquals {
                            "anything but "
                        } else {
                            ""
                        }
                    ),
                )),
                other => outcome(other, got, Some(&want)),
            });
        }
        if let Some(h) = &a.header_field {
            let s = need()?;
            let op = self.operator(Operator::Equals)?;
            let got: Vec<String> = s.header(h).map(str::to_string).into_iter().collect();
            return Ok(outcome(op, got, value.as_deref()));
        }
        if let Some(r) = &a.resource {
            let s = need()?;
            let op = self.operator(Operator::Equals)?;
            let got: Vec<String> = s
                .json()
                .ok()
                .and_then(|v| {
                    v.get("resourceType")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .into_iter()
                .collect();
            return Ok(outcome(op, got, Some(r)));
        }
        if a.expression.is_some() || a.path.is_some() {
            let expr = match (&a.expression, &a.path) {
                (Some(e), _) => render(&vars::template(e), vars)?,
                (None, Some(p)) => super::xpath::to_fhirpath(&render(&vars::template(p), vars)?)?,
                _ => unreachable!(),
            };
            let s = need()?;
            let body = match s.json() {
                Ok(b) => b,
                Err(e) => return Ok(Err((None, e))),
            };
            let found = match fhirpath(&expr, &body).await {
                Ok(f) => f,
                Err(e) => return Err(e),
            };
            if let Some(other) = &a.compare_to_source_id {
                let other_expr = match (&a.compare_to_source_expression, &a.compare_to_source_path)
                {
                    (Some(e), _) => render(&vars::template(e), vars)?,
                    (None, Some(p)) => super::xpath::to_fhirpath(p)?,
                    (None, None) => {
                        return Err("compareToSourceId without compareToSourceExpression or compareToSourcePath".into());
                    }
                };
                let theirs = {
                    let st = self.rt.state.lock().expect("state");
                    source(&self.rt, &st, other).ok_or_else(|| {
                        format!("compareToSourceId `{other}` names no fixture (yet)")
                    })?
                };
                let theirs = theirs.json().map_err(|e| format!("{other}: {e}"))?;
                let theirs = texts(&fhirpath(&other_expr, &theirs).await?);
                let op = self.operator(Operator::Equals)?;
                let mine = texts(&found);
                return Ok(operators::compare_sources(op, &mine, &theirs)
                    .map(|_| mine.join(", "))
                    .map_err(|e| (Some(mine.join(", ")), e)));
            }
            let default = if value.is_none() {
                Operator::Eval
            } else {
                Operator::Equals
            };
            let op = self.operator(default)?;
            if op == Operator::Eval {
                let truth = crate::fhir::fhirpath::is_true(&found);
                return Ok(outcome(op, vec![truth.to_string()], None));
            }
            return Ok(outcome(op, texts(&found), value.as_deref()));
        }
        if let Some(m) = &a.minimum_id {
            let s = need()?;
            let minimum = {
                let st = self.rt.state.lock().expect("state");
                source(&self.rt, &st, m)
                    .ok_or_else(|| format!("minimumId `{m}` names no fixture"))?
            };
            let minimum = minimum.json().map_err(|e| format!("{m}: {e}"))?;
            let body = match s.json() {
                Ok(b) => b,
                Err(e) => return Ok(Err((None, e))),
            };
            let mut missing = Vec::new();
            contains_all(&minimum, &body, "", true, &mut missing);
            return Ok(if missing.is_empty() {
                Ok("every element of the minimum is there".into())
            } else {
                Err((
                    Some(format!("{} missing", missing.len())),
                    format!(
                        "not in the response: {}",
                        missing.into_iter().take(5).collect::<Vec<_>>().join("; ")
                    ),
                ))
            });
        }
        if let Some(check) = a.navigation_links {
            let s = need()?;
            if !check {
                return Ok(Ok("navigationLinks false: the links are not checked".into()));
            }
            let body = match s.json() {
                Ok(b) => b,
                Err(e) => return Ok(Err((None, e))),
            };
            return Ok(navigation_links(&body));
        }
        if let Some(pid) = &a.validate_profile_id {
            let url = self.rt.profiles.get(pid).ok_or_else(|| {
                format!("validateProfileId `{pid}` names no profile of the script")
            })?;
            let s = need()?;
            let body = match s.json() {
                Ok(b) => b,
                Err(e) => return Ok(Err((None, e))),
            };
            return validate_profile(url, &body).await;
        }
        if let Some(u) = &a.request_url {
            let want = render(&vars::template(u), vars)?;
            let r = request.ok_or("there is no request to check")?;
            let op = self.operator(Operator::Equals)?;
            let got = if want.starts_with("http://") || want.starts_with("https://") {
                r.url.clone()
            } else {
                r.path.clone().map(|p| {
                    if want.starts_with('/') {
                        format!("/{p}")
                    } else {
                        p
                    }
                })
            };
            return Ok(outcome(op, got.into_iter().collect(), Some(&want)));
        }
        if let Some(m) = &a.request_method {
            let r = request.ok_or("there is no request to check")?;
            let op = self.operator(Operator::Equals)?;
            let got = r
                .method
                .map(|m| m.to_ascii_lowercase())
                .into_iter()
                .collect();
            return Ok(outcome(op, got, Some(&m.to_ascii_lowercase())));
        }
        Err("the assert names nothing the harness checks".into())
    }
}

/// `minimumId`: every element and value of `min` is in `actual` (lists: each item of the
/// minimum matched by some item). The root's id, meta and text are the server's.
fn contains_all(min: &Value, actual: &Value, at: &str, root: bool, missing: &mut Vec<String>) {
    match (min, actual) {
        (Value::Object(m), Value::Object(a)) => {
            for (k, v) in m {
                if root && matches!(k.as_str(), "id" | "meta" | "text") {
                    continue;
                }
                let here = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match a.get(k) {
                    Some(av) => contains_all(v, av, &here, false, missing),
                    None => missing.push(here),
                }
            }
        }
        (Value::Array(m), Value::Array(a)) => {
            for (i, item) in m.iter().enumerate() {
                let found = a.iter().any(|ai| {
                    let mut probe = Vec::new();
                    contains_all(item, ai, at, false, &mut probe);
                    probe.is_empty()
                });
                if !found {
                    missing.push(format!("{at}[{i}]"));
                }
            }
        }
        (m, Value::Array(a)) => {
            if !a.iter().any(|ai| ai == m) {
                missing.push(format!("{at} = {m}"));
            }
        }
        (m, a) if m == a => {}
        (m, a) => missing.push(format!("{at} = {m} (found {a})")),
    }
}

/// `navigationLinks`: the links a Bundle has are well formed. Only the links present are
/// judged: a single page has no `next` (and need not have `first`/`last`).
fn navigation_links(body: &Value) -> Judged {
    if body.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err((None, "the body is not a Bundle".into()));
    }
    let links = body
        .get("link")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut present = Vec::new();
    for (i, l) in links.iter().enumerate() {
        let rel = l.get("relation").and_then(Value::as_str);
        let url = l.get("url").and_then(Value::as_str);
        match (rel, url) {
            (Some(r), Some(u)) => {
                present.push(r.to_string());
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    problems.push(format!(
                        "link[{i}] ({r}) has a url that is not absolute: `{u}`"
                    ));
                }
            }
            _ => problems.push(format!("link[{i}] lacks a relation or a url")),
        }
    }
    let entries = body
        .get("entry")
        .and_then(Value::as_array)
        .map_or(0, Vec::len) as u64;
    if let Some(total) = body.get("total").and_then(Value::as_u64)
        && total > entries
        && !present.iter().any(|r| r == "next")
        && entries > 0
    {
        problems.push(format!(
            "total is {total} with {entries} entries on this page, and there is no `next` link to the rest"
        ));
    }
    let shown = if present.is_empty() {
        "no links".to_string()
    } else {
        present.join(", ")
    };
    if problems.is_empty() {
        Ok(shown)
    } else {
        Err((Some(shown), problems.join("; ")))
    }
}

/// `validateProfileId` with the harness's own validator: the R4 base definition of a
/// resource type, or a profile the harness has; any other profile is not checked.
async fn validate_profile(url: &str, body: &Value) -> Result<Judged, String> {
    let url = url.split('|').next().unwrap_or(url);
    let base_type = url.strip_prefix("http://hl7.org/fhir/StructureDefinition/");
    let v = crate::fhir::conformance::validator()?;
    let rtype = body
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let issues = match base_type {
        Some(t) if t.starts_with(|c: char| c.is_ascii_uppercase()) && v.profile(url).is_none() => {
            if rtype != t {
                return Ok(Err((
                    Some(rtype.to_string()),
                    format!("the body is a {rtype}, the profile is the base {t}"),
                )));
            }
            v.validate_with_invariants(body, None).await
        }
        _ if crate::fhir::conformance::known(url) => {
            crate::fhir::conformance::check(body, url).await?
        }
        _ => {
            return Err(format!(
                "not checked: the harness does not have the profile {url}"
            ));
        }
    };
    let errors: Vec<String> = issues
        .iter()
        .filter(|i| i.is_error())
        .map(|i| format!("{}: {}", i.location, i.message))
        .collect();
    Ok(if errors.is_empty() {
        Ok(format!("conforms to {url}"))
    } else {
        Err((
            Some(format!("{} error(s)", errors.len())),
            errors.into_iter().take(5).collect::<Vec<_>>().join("; "),
        ))
    })
}

impl Check for TsAssert {
    fn kind(&self) -> &'static str {
        "testscript"
    }
    fn describe(&self) -> String {
        self.description()
    }
    fn evaluate<'a>(
        &'a self,
        _exchange: Option<&'a RawExchange>,
        vars: &'a mut Vars,
    ) -> Evaluation<'a> {
        Box::pin(async move {
            let warning = self.assert.warning_only();
            let severity = if warning {
                Severity::Recommended
            } else {
                Severity::Required
            };
            let (status, actual, message) = match self.judge(vars).await {
                Ok(Ok(found)) => (Status::Passed, Some(found), None),
                Ok(Err((found, why))) => (
                    if warning {
                        Status::Warned
                    } else {
                        Status::Failed
                    },
                    found,
                    Some(why),
                ),
                Err(why) if why.starts_with("not checked") => (Status::Skipped, None, Some(why)),
                Err(why) => (
                    if warning {
                        Status::Warned
                    } else {
                        Status::Errored
                    },
                    None,
                    Some(format!("{}: {why}", self.at)),
                ),
            };
            Some(AssertionResult {
                hint: None,
                kind: "testscript".into(),
                description: self.description(),
                requirement: None,
                severity,
                status,
                expected: Some(self.describe_kind()),
                actual,
                message,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pitfall of other engines: demanding first/last/next links on a one-page result.
    #[test]
    fn navigation_links_judge_the_links_present() {
        let one_page = serde_json::json!({"resourceType": "Bundle", "type": "searchset", "total": 1,
            "link": [{"relation": "self", "url": "http://x/Patient?name=a"}], "entry": [{}]});
        assert!(navigation_links(&one_page).is_ok());
        let no_links =
            serde_json::json!({"resourceType": "Bundle", "type": "searchset", "total": 0});
        assert!(navigation_links(&no_links).is_ok());
        let bad = serde_json::json!({"resourceType": "Bundle", "link": [{"relation": "next", "url": "Patient?page=2"}]});
        assert!(navigation_links(&bad).is_err());
        let unpaged = serde_json::json!({"resourceType": "Bundle", "total": 5,
            "link": [{"relation": "self", "url": "http://x/P"}], "entry": [{}, {}]});
        assert!(navigation_links(&unpaged).is_err());
        assert!(navigation_links(&serde_json::json!({"resourceType": "Patient"})).is_err());
    }

    #[test]
    fn minimum_holds_or_names_what_is_missing() {
        let min =
            serde_json::json!({"resourceType": "Patient", "id": "x", "name": [{"family": "C"}]});
        let ok = serde_json::json!({"resourceType": "Patient", "id": "other", "name": [{"family": "C", "given": ["P"]}], "gender": "male"});
        let mut missing = Vec::new();
        contains_all(&min, &ok, "", true, &mut missing);
        assert!(missing.is_empty(), "{missing:?}");
        let bad = serde_json::json!({"resourceType": "Patient", "name": [{"family": "D"}]});
        contains_all(&min, &bad, "", true, &mut missing);
        assert_eq!(missing, vec!["name[0]"]);
    }
}
