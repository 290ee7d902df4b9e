//! A TestScript lowered onto the harness's scenario model, so the one runner runs it and the
//! same reports come out: each operation is a `send` step (its asserts, up to the next
//! operation, are the step's checks), asserts before any operation of a test are a `checks`
//! step, and an assert with `stopTestOnFail` closes its own step that the rest of its test
//! needs. Setup steps chain (a failed setup skips the tests); teardown needs nothing, so it
//! always runs.

use super::check::Unsupported;
use super::checks::{Record, Runtime, TsAssert};
use super::load::Loaded;
use super::model::{Assert, Operation};
use super::ops::{self, Fixtures};
use super::vars;
use crate::results::Severity;
use crate::scenario::external::ExternalCheck;
use crate::scenario::{AssertKind, Assertion, Request, Scenario, Step, StepKind, Target};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// Where each action of the script went, for the TestReport.
#[derive(Debug, Clone)]
pub enum ActionRef {
    Operation {
        step: String,
    },
    /// The `index`-th listed assertion of the step.
    Assert {
        step: String,
        index: usize,
    },
    /// Not run: unsupported, and the run said `--skip-unsupported`.
    Skipped {
        why: String,
        operation: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Section {
    /// `setup`, `test[i]`, `teardown`.
    pub path: String,
    pub actions: Vec<ActionRef>,
}

/// A script ready to run.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub loaded: Loaded,
    pub scenario: Scenario,
    pub sections: Vec<Section>,
    /// The autocreate and autodelete steps (reported as setup and teardown operations).
    pub autocreate: Vec<String>,
    pub autodelete: Vec<String>,
}

pub struct Options {
    /// The actor the scenario is about (the reference actor that plays the server when
    /// there is no --target).
    pub actor: String,
    /// The actor was named (`--actor`): it wins over the script's own extension.
    pub actor_given: bool,
    /// The system under test is a client: each operation is a request the harness awaits
    /// (and answers as the reference Information Server) instead of one it sends.
    pub client: bool,
    /// Unsupported actions become skips instead of refusing the script.
    pub unsupported: Vec<Unsupported>,
}

struct Builder {
    steps: Vec<Step>,
    current: Option<Step>,
    section: String,
    /// Steps every step of this section needs.
    needs: Vec<String>,
    chain: bool,
    counter: usize,
    rt: Arc<Runtime>,
}

impl Builder {
    fn id(&mut self) -> String {
        self.counter += 1;
        let s = self.section.replace(['[', ']'], "");
        let s = match s.strip_prefix("test") {
            Some(n) if !n.is_empty() => {
                format!("test{}", n.parse::<usize>().map(|n| n + 1).unwrap_or(0))
            }
            _ => s,
        };
        format!("{s}-{}", self.counter)
    }

    fn close(&mut self) {
        if let Some(st) = self.current.take() {
            let id = st.id.clone();
            self.steps.push(st);
            if self.chain {
                self.needs = vec![id];
            }
        }
    }

    fn open(&mut self, kind: StepKind, title: String, asserts: Vec<Assertion>) -> String {
        self.close();
        let id = self.id();
        self.current = Some(Step {
            id: id.clone(),
            title,
            needs: self.needs.clone(),
            uses_captures: Vec::new(),
            kind,
            respond: None,
            captures: Vec::new(),
            asserts,
        });
        id
    }

    fn external(check: Arc<dyn crate::scenario::external::Check>, severity: Severity) -> Assertion {
        Assertion {
            hint: None,
            kind: AssertKind::External(ExternalCheck(check)),
            requirement: None,
            severity,
            strict_severity: severity,
            on: Target::Response,
            title: None,
            since: None,
            when_status: Vec::new(),
        }
    }

    fn record(&self, response_id: Option<String>, request_id: Option<String>) -> Assertion {
        Self::external(
            Arc::new(Record {
                rt: self.rt.clone(),
                response_id,
                request_id,
            }),
            Severity::Optional,
        )
    }

    /// Add an assert; returns (step, index among its listed assertions).
    fn assert(&mut self, a: &Assert, at: String) -> (String, usize) {
        let severity = if a.warning_only() {
            Severity::Recommended
        } else {
            Severity::Required
        };
        let check = Self::external(
            Arc::new(TsAssert {
                rt: self.rt.clone(),
                assert: a.clone(),
                at: at.clone(),
            }),
            severity,
        );
        if a.stop_test_on_fail() {
            let title = format!("{}: stop the test if this fails", self.section);
            let id = self.open(StepKind::Checks, title, vec![check]);
            self.close();
            self.needs.push(id.clone());
            return (id, 0);
        }
        if self.current.is_none() {
            let title = format!("{}: asserts", self.section);
            self.open(StepKind::Checks, title, Vec::new());
        }
        let st = self.current.as_mut().expect("open");
        let index = st
            .asserts
            .iter()
            .filter(|x| !matches!(&x.kind, AssertKind::External(c) if c.0.hidden()))
            .count();
        st.asserts.push(check);
        (st.id.clone(), index)
    }
}

fn op_title(section: &str, op: &Operation, req: &Request, test_name: Option<&str>) -> String {
    let what = op
        .label
        .clone()
        .or_else(|| op.description.clone())
        .unwrap_or_else(|| format!("{} {}", req.method, req.path));
    match test_name {
        Some(n) => format!("{n}: {what}"),
        None => format!("{section}: {what}"),
    }
}

/// A client-side operation: the request the client under test is asked to send (action
/// `testscript-CODE`, the operation's description as the prompt, its fixture as the suggested
/// payload), matched by method and path; the ids the client chooses match any.
fn awaited(op: &Operation, req: Request, title: &str) -> crate::scenario::Expect {
    static HIDDEN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let hidden = HIDDEN.get_or_init(|| {
        regex::Regex::new(r"\{\{\{?(tsT_|tsV_|tsB_)[A-Za-z0-9_]*\}?\}\}").expect("regex")
    });
    let path = hidden
        .replace_all(&req.path, |c: &regex::Captures<'_>| {
            if c[0].contains("tsT_") { "*/*" } else { "*" }.to_string()
        })
        .into_owned();
    let code = ops::code(op)
        .ok()
        .flatten()
        .unwrap_or_else(|| "request".into());
    crate::scenario::Expect {
        action: format!("testscript-{code}"),
        prompt: Some(format!("{title} ({} {path})", req.method)),
        cause: None,
        if_missing: None,
        only_new: false,
        with: BTreeMap::new(),
        payload: match req.body {
            Some(b @ crate::scenario::Body::Json(_)) => Some(b),
            _ => None,
        },
        method: Some(req.method),
        path: Some(path),
        within: None,
    }
}

/// Lower one script.
pub async fn lower(l: &Loaded, opts: &Options) -> Result<Lowered, String> {
    let s = &l.script;
    let skip: BTreeMap<&str, &str> = opts
        .unsupported
        .iter()
        .map(|u| {
            (
                u.action.as_deref().unwrap_or(u.path.as_str()),
                u.reason.as_str(),
            )
        })
        .collect();
    // Fixtures known only at run time.
    let mut dynamic = BTreeSet::new();
    let mut targets = BTreeSet::new();
    let mut bodies = BTreeSet::new();
    let mut static_targets = BTreeSet::new();
    for (_, actions) in s.sections() {
        for a in actions {
            if let Some(op) = &a.operation {
                dynamic.extend(op.response_id.iter().cloned());
                dynamic.extend(op.request_id.iter().cloned());
            }
        }
    }
    let autocreated: Vec<&str> = s
        .fixture
        .iter()
        .filter(|f| f.autocreate == Some(true))
        .filter_map(|f| f.id.as_deref())
        .collect();
    dynamic.extend(autocreated.iter().map(|s| s.to_string()));
    for (_, actions) in s.sections() {
        for a in actions {
            if let Some(op) = &a.operation {
                if let Some(t) = &op.target_id {
                    if dynamic.contains(t) {
                        targets.insert(t.clone());
                    } else {
                        static_targets.insert(t.clone());
                    }
                }
                if let Some(b) = &op.source_id
                    && dynamic.contains(b)
                {
                    bodies.insert(b.clone());
                }
            }
        }
    }
    for f in s.fixture.iter().filter(|f| f.autodelete == Some(true)) {
        if let Some(id) = &f.id {
            targets.insert(id.clone());
        }
    }
    let profiles = s
        .profile
        .iter()
        .filter_map(|p| Some((p.id.clone()?, p.reference.clone()?)))
        .collect();
    let rt = Arc::new(Runtime {
        state: Mutex::new(Default::default()),
        fixtures: l.fixtures.clone(),
        variables: s.variable.clone(),
        profiles,
        targets,
        bodies,
    });
    // The variables known before anything runs.
    let mut initial = BTreeMap::new();
    super::checks::refresh(&rt, &mut initial).await;
    for v in &s.variable {
        if let (Some(d), false) = (&v.default_value, initial.contains_key(&vars::key(&v.name))) {
            initial.insert(vars::key(&v.name), d.clone());
        }
    }
    for t in &static_targets {
        let Some(f) = l.fixtures.get(t) else { continue };
        if let (Some(rt_), Some(id)) = (
            f.get("resourceType").and_then(Value::as_str),
            f.get("id").and_then(Value::as_str),
        ) {
            initial.insert(ops::target_var(t), format!("{rt_}/{id}"));
            if let Some(v) = f.pointer("/meta/versionId").and_then(Value::as_str) {
                initial.insert(ops::version_var(t), v.to_string());
            }
        }
    }
    let fixed = l.fixtures.clone();
    let fx = Fixtures {
        fixed: &fixed,
        dynamic: &dynamic,
    };

    let mut b = Builder {
        steps: Vec::new(),
        current: None,
        section: "setup".into(),
        needs: Vec::new(),
        chain: true,
        counter: 0,
        rt: rt.clone(),
    };
    let mut sections = Vec::new();
    let mut autocreate = Vec::new();
    for id in &autocreated {
        let op = Operation {
            type_: Some(super::model::Coding {
                system: Some(ops::SYSTEMS[0].into()),
                code: Some("create".into()),
                display: None,
            }),
            source_id: Some(id.to_string()),
            ..Default::default()
        };
        // The fixture itself is the body (not the server's copy).
        let fx_static = Fixtures {
            fixed: &fixed,
            dynamic: &BTreeSet::new(),
        };
        let req = ops::request(&op, s, &fx_static)?;
        let rec = Builder::external(
            Arc::new(super::checks::Record {
                rt: rt.clone(),
                response_id: None,
                request_id: None,
            }),
            Severity::Optional,
        );
        let created = Builder::external(
            Arc::new(Created {
                rt: rt.clone(),
                fixture: id.to_string(),
            }),
            Severity::Required,
        );
        let step = b.open(
            StepKind::Send(req),
            format!("setup: autocreate fixture {id}"),
            vec![rec, created],
        );
        autocreate.push(step);
    }
    for (path, actions) in s.sections() {
        b.close();
        let is_test = path.starts_with("test[");
        b.section = path.clone();
        b.counter = 0;
        if path == "teardown" {
            b.needs = Vec::new();
            b.chain = false;
        } else if is_test {
            // Tests need the whole setup (its last step, which needs the ones before).
            b.needs = b
                .steps
                .iter()
                .rev()
                .find(|st| st.id.starts_with("setup-"))
                .map(|st| vec![st.id.clone()])
                .unwrap_or_default();
            b.chain = false;
        }
        let test_name = if is_test {
            let i: usize = path[5..path.len() - 1].parse().unwrap_or(0);
            s.test[i].name.clone()
        } else {
            None
        };
        let mut refs = Vec::new();
        // An operation not run leaves its asserts nothing to check: they are skipped too.
        let mut op_skipped = false;
        for (i, a) in actions.iter().enumerate() {
            let at = format!("{path}.action[{i}]");
            if a.operation.is_some() {
                op_skipped = false;
            }
            let why = skip.get(at.as_str()).map(|w| w.to_string()).or_else(|| {
                (op_skipped && a.assert.as_ref().is_some_and(|x| x.source_id.is_none()))
                    .then(|| "the operation it checks was not run".to_string())
            });
            if let Some(why) = why {
                op_skipped |= a.operation.is_some();
                refs.push(ActionRef::Skipped {
                    why,
                    operation: a.operation.is_some(),
                });
                continue;
            }
            if let Some(op) = &a.operation {
                let req = ops::request(op, s, &fx).map_err(|e| format!("{at}.operation: {e}"))?;
                let title = op_title(&path, op, &req, test_name.as_deref());
                let rec = b.record(op.response_id.clone(), op.request_id.clone());
                let kind = if opts.client {
                    StepKind::Expect(awaited(op, req, &title))
                } else {
                    StepKind::Send(req)
                };
                let step = b.open(kind, title, vec![rec]);
                refs.push(ActionRef::Operation { step });
            } else if let Some(asrt) = &a.assert {
                let (step, index) = b.assert(asrt, format!("{at}.assert"));
                refs.push(ActionRef::Assert { step, index });
            }
        }
        sections.push(Section {
            path: path.clone(),
            actions: refs,
        });
    }
    b.close();
    // autodelete: after the teardown.
    b.section = "teardown".into();
    b.needs = Vec::new();
    b.chain = false;
    let mut autodelete = Vec::new();
    for f in s.fixture.iter().filter(|f| f.autodelete == Some(true)) {
        let Some(id) = &f.id else { continue };
        let req = Request {
            grow: None,
            sign: None,
            method: "DELETE".into(),
            path: format!("{{{{{}}}}}", ops::target_var(id)),
            headers: Vec::new(),
            omit_headers: Vec::new(),
            body: None,
        };
        let rec = b.record(None, None);
        let step = b.open(
            StepKind::Send(req),
            format!("teardown: autodelete fixture {id}"),
            vec![rec],
        );
        autodelete.push(step);
    }
    b.close();

    let id = l.id();
    // The harness's own extensions on an exported script: its actor and options.
    let ext = |url: &str| -> Vec<String> {
        l.raw
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| e.get("url").and_then(Value::as_str) == Some(url))
            .filter_map(|e| {
                e.get("valueCode")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    };
    let actor = match (opts.actor_given, ext(super::export::ACTOR).first()) {
        (false, Some(a)) => a.clone(),
        _ => opts.actor.clone(),
    };
    let scenario = Scenario {
        id: id.clone(),
        title: s
            .title
            .clone()
            .or_else(|| s.name.clone())
            .unwrap_or_else(|| id.clone()),
        description: s.description.clone(),
        file: l.file.display().to_string(),
        actor,
        // A client under test talks to the harness playing the reference Information
        // Server; a server under test is sent the requests.
        plays: if opts.client {
            "information-server".into()
        } else {
            "testscript".into()
        },
        options: ext(super::export::OPTION),
        vars: initial,
        requires: Vec::new(),
        concurrency: Default::default(),
        steps: b.steps,
    };
    Ok(Lowered {
        loaded: l.clone(),
        scenario,
        sections,
        autocreate,
        autodelete,
    })
}

/// After an autocreate: the fixture's server id, for the targets that name it.
#[derive(Debug)]
struct Created {
    rt: Arc<Runtime>,
    fixture: String,
}

impl crate::scenario::external::Check for Created {
    fn kind(&self) -> &'static str {
        "testscript"
    }
    fn describe(&self) -> String {
        format!("fixture {} is created (2xx)", self.fixture)
    }
    fn evaluate<'a>(
        &'a self,
        exchange: Option<&'a crate::http::RawExchange>,
        vars: &'a mut crate::scenario::template::Vars,
    ) -> crate::scenario::external::Evaluation<'a> {
        Box::pin(async move {
            let status = exchange
                .and_then(|x| x.response.as_ref())
                .and_then(|r| r.status);
            let ok = status.is_some_and(|s| (200..300).contains(&s));
            if let Some(r) = exchange.and_then(|x| x.response.as_ref()) {
                let mut st = self.rt.state.lock().expect("state");
                st.created
                    .insert(self.fixture.clone(), super::checks::Recorded::of_message(r));
            }
            super::checks::refresh(&self.rt, vars).await;
            Some(crate::results::AssertionResult {
                hint: None,
                kind: "testscript".into(),
                description: self.describe(),
                requirement: None,
                severity: Severity::Required,
                status: if ok {
                    crate::results::Status::Passed
                } else {
                    crate::results::Status::Errored
                },
                expected: Some("2xx".into()),
                actual: status.map(|s| s.to_string()),
                message: (!ok).then(|| {
                    "the autocreate failed: the script's targets cannot be resolved".into()
                }),
            })
        })
    }
}
