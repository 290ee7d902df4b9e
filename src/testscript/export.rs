//! `testscript export`: the scenarios where the harness is the client (every step a `send`)
//! as FHIR R4 TestScripts. Variables become `${name}` with their defaults; bodies become
//! contained resources; checks become asserts. What TestScript cannot say (a regex on a
//! capture, `when_status`, `needs`, a header `matches`, a `requires:` condition) is named in
//! the script (an extension and the description) and in the command's output, never dropped
//! silently.

use crate::cli::PackArgs;
use crate::results::Severity;
use crate::scenario::template::{Vars, render};
use crate::scenario::{AssertKind, Body, CaptureSource, Pack, Scenario, StepKind, TextCheck};
use clap::Args;
use regex::Regex;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The extensions carrying the scenario's actor and options (read back by `run --testscript`,
/// which picks the reference actor implementing them).
pub const ACTOR: &str = "https://cdex-harness.example/fhir/StructureDefinition/actor";
pub const OPTION: &str = "https://cdex-harness.example/fhir/StructureDefinition/option";
/// The extension naming what an exported script could not express.
pub const NOT_EXPRESSED: &str =
    "https://cdex-harness.example/fhir/StructureDefinition/not-expressed";

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub pack: PackArgs,
    /// Only scenarios of this actor
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Folder for the TestScripts (one SCENARIO-ID.json each)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn placeholder() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{\{?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}?\}\}").expect("regex"))
}

/// `{{x}}` -> `${x}`.
fn dollar(t: &str) -> String {
    placeholder().replace_all(t, "$${$1}").into_owned()
}

fn dollar_json(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(dollar(s)),
        Value::Array(a) => Value::Array(a.iter().map(dollar_json).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), dollar_json(v))).collect())
        }
        o => o.clone(),
    }
}

/// One exported scenario, and what it could not express.
pub struct Exported {
    pub script: Value,
    /// Fixture files to write next to the script: (relative path, resource).
    pub files: Vec<(String, Value)>,
    pub not_expressed: Vec<String>,
}

/// Why a scenario is not exported at all (the harness does not play the client in it).
pub fn exportable(s: &Scenario) -> Result<(), String> {
    for st in &s.steps {
        if !matches!(st.kind, StepKind::Send(_)) {
            return Err(format!(
                "step `{}` is a `{}` step: only scenarios where the harness sends every request become TestScripts",
                st.id,
                st.kind.name()
            ));
        }
    }
    Ok(())
}

/// The TestScript of a scenario whose steps are all `send`.
pub fn export(pack: &Pack, s: &Scenario) -> Result<Exported, String> {
    exportable(s)?;
    let mut lost: Vec<String> = Vec::new();
    // Variables: what the scenario refers to, with the defaults a run would give them.
    let mut defaults: Vars = Vars::new();
    defaults.insert("run_id".into(), "testscript".into());
    defaults.insert("scenario_id".into(), s.id.clone());
    defaults.insert("time_scale".into(), "1".into());
    let mut layered: Vec<(String, String)> = pack.vars.clone().into_iter().collect();
    layered.extend(s.vars.clone());
    for _ in 0..=layered.len() {
        for (k, v) in &layered {
            if let Ok(r) = render(v, &defaults) {
                defaults.insert(k.clone(), r);
            }
        }
    }
    let mut used: Vec<String> = Vec::new();
    let note = |t: &str, used: &mut Vec<String>| {
        for c in placeholder().captures_iter(t) {
            if !used.contains(&c[1].to_string()) {
                used.push(c[1].to_string());
            }
        }
    };
    let mut files = Vec::new();
    let mut fixtures = Vec::new();
    let mut profiles: Vec<(String, String)> = Vec::new();
    let mut captured: Vec<Value> = Vec::new();
    let mut actions = Vec::new();
    for (h, v) in &pack.headers {
        note(v, &mut used);
        let _ = h;
    }
    for st in &s.steps {
        let StepKind::Send(req) = &st.kind else {
            unreachable!()
        };
        let response_id = format!("response-{}", st.id);
        note(&req.path, &mut used);
        let mut headers = Vec::new();
        for (k, v) in &pack.headers {
            if !req.omit_headers.iter().any(|o| o.eq_ignore_ascii_case(k)) {
                headers.push(json!({"field": k, "value": dollar(v)}));
            }
        }
        for (k, v) in &req.headers {
            note(v, &mut used);
            headers.push(json!({"field": k, "value": dollar(v)}));
        }
        let mut op = json!({
            "method": req.method.to_ascii_lowercase(),
            "url": dollar(&req.path),
            "label": st.id,
            "description": st.title,
            "encodeRequestUrl": true,
            "responseId": response_id,
        });
        if !headers.is_empty() {
            op["requestHeader"] = Value::Array(headers);
        }
        if let Some(b) = &req.body {
            let fid = format!("body-{}", st.id);
            let resource = match b {
                Body::Json(v) => Some(v.clone()),
                Body::Text(t) => serde_json::from_str::<Value>(t).ok(),
            };
            match resource {
                Some(r) if r.get("resourceType").is_some() => {
                    let mut refs = Vec::new();
                    crate::scenario::template::referenced_in_json(&r, &mut refs);
                    for x in refs {
                        if !used.contains(&x) {
                            used.push(x);
                        }
                    }
                    // A file next to the script: the body keeps its own id.
                    let file = format!("fixtures/{}--{}.json", s.id, st.id);
                    files.push((file.clone(), dollar_json(&r)));
                    fixtures.push(json!({"id": fid, "autocreate": false, "autodelete": false, "resource": {"reference": file}}));
                    op["sourceId"] = json!(fid);
                    op["contentType"] = json!("json");
                }
                _ => lost.push(format!(
                    "step `{}`: a body that is not a FHIR resource cannot be a fixture",
                    st.id
                )),
            }
        }
        if !st.needs.is_empty() {
            lost.push(format!(
                "step `{}` needs {:?}: a TestScript runs it regardless",
                st.id, st.needs
            ));
        }
        actions.push(json!({"operation": op}));
        for c in &st.captures {
            let mut v = json!({"name": c.name, "sourceId": response_id});
            match &c.source {
                CaptureSource::Header(h)
                    if c.regex.is_some() && h.eq_ignore_ascii_case("location") =>
                {
                    v["expression"] = json!("id");
                    lost.push(format!(
                        "capture `{}`: the regex on Location becomes the id of the response body",
                        c.name
                    ));
                }
                CaptureSource::Header(h) => {
                    v["headerField"] = json!(h);
                }
                CaptureSource::FhirPath(e) => {
                    v["expression"] = json!(dollar(e));
                }
                CaptureSource::Body => {
                    lost.push(format!("capture `{}` of the whole body", c.name));
                    continue;
                }
            }
            if c.regex.is_some()
                && !matches!(&c.source, CaptureSource::Header(h) if h.eq_ignore_ascii_case("location"))
            {
                lost.push(format!(
                    "capture `{}`: its regex (the variable holds the whole value)",
                    c.name
                ));
            }
            if c.on == crate::scenario::Target::Request {
                lost.push(format!("capture `{}` reads the request", c.name));
            }
            captured.push(v);
        }
        for a in &st.asserts {
            let mut x = json!({});
            if let Some(r) = &a.requirement {
                x["label"] = json!(r);
            }
            x["description"] = json!(dollar(
                a.title
                    .as_deref()
                    .unwrap_or(&format!("{} check", a.kind.name()))
            ));
            x["warningOnly"] = json!(a.severity != Severity::Required);
            if a.on == crate::scenario::Target::Request {
                x["direction"] = json!("request");
            }
            if !a.when_status.is_empty() {
                lost.push(format!(
                    "step `{}`: `when_status` on a {} check (the assert always applies)",
                    st.id,
                    a.kind.name()
                ));
            }
            match &a.kind {
                AssertKind::Status(ranges)
                    if ranges.len() == 1 && ranges[0].start() != ranges[0].end() =>
                {
                    // A class (4xx): above its first code less one, below its last plus one.
                    let mut low = x.clone();
                    low["responseCode"] = json!((ranges[0].start() - 1).to_string());
                    low["operator"] = json!("greaterThan");
                    actions.push(json!({"assert": low}));
                    x["responseCode"] = json!((ranges[0].end() + 1).to_string());
                    x["operator"] = json!("lessThan");
                }
                AssertKind::Status(ranges) => {
                    let codes: Vec<String> = ranges
                        .iter()
                        .flat_map(|r| r.clone())
                        .map(|c| c.to_string())
                        .collect();
                    if codes.len() == 1 {
                        x["responseCode"] = json!(codes[0]);
                        x["operator"] = json!("equals");
                    } else {
                        x["responseCode"] = json!(codes.join(","));
                        x["operator"] = json!("in");
                    }
                }
                AssertKind::Header { name, check } => {
                    x["headerField"] = json!(name);
                    match check {
                        TextCheck::Present => x["operator"] = json!("notEmpty"),
                        TextCheck::Absent => x["operator"] = json!("empty"),
                        TextCheck::Equals(v) => {
                            note(v, &mut used);
                            x["operator"] = json!("equals");
                            x["value"] = json!(dollar(v));
                        }
                        TextCheck::Contains(v) => {
                            note(v, &mut used);
                            x["operator"] = json!("contains");
                            x["value"] = json!(dollar(v));
                        }
                        TextCheck::Matches(p) => {
                            lost.push(format!("step `{}`: header {name} matches /{p}/ (TestScript has no regex operator; checked as present)", st.id));
                            x["operator"] = json!("notEmpty");
                        }
                    }
                }
                AssertKind::Resource(t) => x["resource"] = json!(t),
                AssertKind::FhirPath(e) => {
                    note(e, &mut used);
                    x["expression"] = json!(dollar(e));
                    x["operator"] = json!("eval");
                }
                AssertKind::Profile(p) => {
                    let url = crate::fhir::conformance::canonical(p);
                    let pid = format!("profile-{}", profiles.len() + 1);
                    let pid = match profiles.iter().find(|(_, u)| *u == url) {
                        Some((id, _)) => id.clone(),
                        None => {
                            profiles.push((pid.clone(), url));
                            pid
                        }
                    };
                    x["validateProfileId"] = json!(pid);
                }
                AssertKind::Json => {
                    x["expression"] = json!("true");
                    x["operator"] = json!("eval");
                }
                other => {
                    lost.push(format!("step `{}`: a `{}` check", st.id, other.name()));
                    continue;
                }
            }
            actions.push(json!({"assert": x}));
        }
    }
    for r in &s.requires {
        lost.push(format!(
            "condition: not applicable when `{}` is one of {:?}",
            r.var, r.not
        ));
    }
    let captured_names: Vec<String> = captured
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    let mut variables: Vec<Value> = Vec::new();
    for u in &used {
        if captured_names.contains(u) {
            continue;
        }
        let mut v = json!({"name": u});
        match u.as_str() {
            "base_url" | "target_url" | "harness_url" => {
                lost.push(format!("built-in `{{{{{u}}}}}` (the server's base)"));
                v["hint"] = json!("the FHIR base URL of the server under test");
            }
            _ => match defaults.get(u) {
                Some(d) if pack.secrets.contains(u) => {
                    v["hint"] = json!("a secret: give it with --var");
                    v["defaultValue"] = json!(d);
                }
                Some(d) => v["defaultValue"] = json!(d),
                None => {
                    v["hint"] = json!(format!("give it with --var {u}=VALUE"));
                }
            },
        }
        variables.push(v);
    }
    variables.extend(captured);
    let name: String = s.id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut description = s.description.clone().unwrap_or_else(|| s.title.clone());
    if !lost.is_empty() {
        description.push_str("\n\nNot expressed in this TestScript (cdex-harness export): ");
        description.push_str(&lost.join("; "));
    }
    let mut script = json!({
        "resourceType": "TestScript",
        "id": s.id,
        "url": format!("urn:cdex-harness:testscript:{}", s.id),
        "name": name,
        "title": s.title,
        "status": "draft",
        "description": description,
    });
    let mut ext = vec![json!({"url": ACTOR, "valueCode": s.actor})];
    ext.extend(
        s.options
            .iter()
            .map(|o| json!({"url": OPTION, "valueCode": o})),
    );
    ext.extend(
        lost.iter()
            .map(|l| json!({"url": NOT_EXPRESSED, "valueString": l})),
    );
    script["extension"] = Value::Array(ext);
    if !fixtures.is_empty() {
        script["fixture"] = Value::Array(fixtures);
    }
    if !profiles.is_empty() {
        script["profile"] = Value::Array(
            profiles
                .iter()
                .map(|(id, u)| json!({"id": id, "reference": u}))
                .collect(),
        );
    }
    if !variables.is_empty() {
        script["variable"] = Value::Array(variables);
    }
    script["test"] = json!([{ "id": "scenario", "name": s.title, "action": actions }]);
    Ok(Exported {
        script,
        files,
        not_expressed: lost,
    })
}

pub async fn export_command(a: ExportArgs) -> i32 {
    let Some((_, pack)) = crate::cli::load(&a.pack, Vec::new()) else {
        return crate::cli::EXIT_USAGE;
    };
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!("error: cannot create {}: {e}", a.out.display());
        return crate::cli::EXIT_IO;
    }
    let (mut written, mut skipped) = (0, 0);
    for s in &pack.scenarios {
        if a.actor.as_deref().is_some_and(|x| x != s.actor) {
            continue;
        }
        match export(&pack, s) {
            Ok(e) => {
                let file = a.out.join(format!("{}.json", s.id));
                if let Err(err) = std::fs::write(
                    &file,
                    serde_json::to_vec_pretty(&e.script).unwrap_or_default(),
                ) {
                    eprintln!("error: cannot write {}: {err}", file.display());
                    return crate::cli::EXIT_IO;
                }
                for (rel, r) in &e.files {
                    let f = a.out.join(rel);
                    let done = f
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|_| {
                            std::fs::write(&f, serde_json::to_vec_pretty(r).unwrap_or_default())
                        });
                    if let Err(err) = done {
                        eprintln!("error: cannot write {}: {err}", f.display());
                        return crate::cli::EXIT_IO;
                    }
                }
                written += 1;
                println!("{}: exported to {}", s.id, file.display());
                for l in &e.not_expressed {
                    println!("  not expressed: {l}");
                }
            }
            Err(why) => {
                skipped += 1;
                println!("{}: not exported: {why}", s.id);
            }
        }
    }
    println!(
        "{written} TestScript(s) written to {}, {skipped} scenario(s) not exported",
        a.out.display()
    );
    0
}
