//! Loading a scenario pack: read every YAML file, check everything that can be checked
//! before running, and report every problem at once with file, line, column and field.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::model::{
    self, AssertDef, BodyDef, PackDef, ScenarioDef, StatusItem, StatusSpec, StepDef,
};
use super::template;
use super::*;
use crate::catalog::Catalog;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path};

/// The pack-wide settings file inside a scenario folder.
pub const PACK_FILE: &str = "pack.yaml";

/// Options that change what the loader accepts.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Variable names set from outside (`--var`, config file): they count as defined.
    pub extra_vars: Vec<String>,
}

/// The message of a YAML error without the location prefix we print ourselves.
pub fn saphyr_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    // The crate renders a source snippet after the first line; the first line is the message.
    let first = text.lines().next().unwrap_or("").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // We print the location ourselves, as file:line:column.
    let first = regex::Regex::new(r"^line \d+ column \d+:\s*")
        .map(|re| re.replace(first, "").into_owned())
        .unwrap_or_else(|_| first.to_string());
    let first = first.as_str();
    if first.is_empty() {
        text
    } else {
        first.to_string()
    }
}

/// Load and check every scenario under `root`.
pub fn load_pack(root: &Path, catalog: &Catalog, opts: &LoadOptions) -> Result<Pack, Diagnostics> {
    let mut problems = Vec::new();
    if !root.is_dir() {
        return Err(Diagnostics(vec![
            Diagnostic::new(root, "", "scenario folder not found")
                .hint("pass --scenarios DIR, or run from the project folder that has `scenarios/`"),
        ]));
    }
    let root_canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());

    let pack_path = root.join(PACK_FILE);
    let pack_def = if pack_path.exists() {
        match read_yaml::<PackDef>(&pack_path) {
            Ok(p) => p,
            Err(d) => {
                problems.push(*d);
                PackDef::default()
            }
        }
    } else {
        PackDef::default()
    };

    let mut files = Vec::new();
    collect_yaml(root, &mut files, &mut problems);
    files.sort();

    let mut scenarios = Vec::new();
    let mut ids: HashMap<String, (PathBuf, Option<u64>)> = HashMap::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == PACK_FILE) {
            if file != pack_path {
                problems.push(
                    Diagnostic::new(
                        &file,
                        "",
                        "a pack.yaml belongs at the top of the scenario folder only",
                    )
                    .hint("move its settings into the pack's own pack.yaml"),
                );
            }
            continue;
        }
        let def = match read_yaml::<ScenarioDef>(&file) {
            Ok(d) => d,
            Err(d) => {
                problems.push(*d);
                continue;
            }
        };
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        let mut ctx = Checker {
            file: &file,
            root: &root_canon,
            catalog,
            problems: &mut problems,
        };
        if let Some(scenario) = ctx.scenario(def, rel, &pack_def, opts, &mut ids) {
            scenarios.push(scenario);
        }
    }
    for name in pack_def.reference_vars.keys() {
        if !pack_def.vars.contains_key(name) {
            problems.push(
                Diagnostic::new(
                    &pack_path,
                    format!("reference_vars.{name}"),
                    format!("`{name}` has a value for the reference actors but none under `vars`"),
                )
                .hint(format!(
                    "declare `{name}` under `vars:` too, with its value for a real system (e.g. `none`)"
                )),
            );
        }
    }
    if pack_def.locks.iter().any(|l| l.trim().is_empty()) {
        problems.push(Diagnostic::new(
            &pack_path,
            "locks",
            "a lock name must not be empty",
        ));
    }
    for name in pack_def.headers.keys() {
        if name.trim().is_empty() {
            problems.push(Diagnostic::new(&pack_path, "headers", "empty header name"));
        }
    }

    if problems.is_empty() {
        Ok(Pack {
            root: root.to_path_buf(),
            vars: pack_def.vars,
            secrets: pack_def.secrets,
            headers: pack_def.headers,
            reference: pack_def.reference,
            capability_vars: pack_def.capability_vars,
            reference_vars: pack_def.reference_vars,
            scenarios,
        })
    } else {
        Err(Diagnostics(problems))
    }
}

fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Box<Diagnostic>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Box::new(Diagnostic::new(path, "", format!("cannot read file: {e}"))))?;
    parse_yaml(path, &text)
}

/// Check one scenario's text as if it were the file `file` of the pack at `root` (with no
/// pack settings): every problem, or the checked scenario. The fuzz target drives this.
pub fn check_scenario_text(
    root: &Path,
    file: &Path,
    text: &str,
    catalog: &Catalog,
) -> Result<Scenario, Diagnostics> {
    let def = parse_yaml::<ScenarioDef>(file, text).map_err(|d| Diagnostics(vec![*d]))?;
    let mut problems = Vec::new();
    let root_canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut ctx = Checker {
        file,
        root: &root_canon,
        catalog,
        problems: &mut problems,
    };
    let scenario = ctx.scenario(
        def,
        file.display().to_string(),
        &PackDef::default(),
        &LoadOptions::default(),
        &mut HashMap::new(),
    );
    match scenario {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(Diagnostics(problems)),
    }
}

fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, Box<Diagnostic>> {
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        // A structural mistake (a line indented to no level of the lines above it) can
        // surface first as a missing or unknown field of the mapping it cut short, at that
        // mapping's line: the parser reads as it deserializes, and the field check comes
        // first. Reading the whole text without a target type names the mistake at its line.
        let e = match serde_saphyr::from_str::<serde::de::IgnoredAny>(text) {
            Err(structural) => structural,
            Ok(_) => e,
        };
        let (msg, hint) = yaml_problem(&e);
        let hint = hint.or_else(|| {
            msg.starts_with("unknown key")
                .then(|| "docs/scenarios.md lists every key".to_string())
        });
        let d = Diagnostic::new(path, "", msg).at(e.location());
        Box::new(match hint {
            Some(h) => d.hint(h),
            None => d,
        })
    })
}

/// A YAML error as a person reads it, with a hint: the parser's own words name the YAML
/// construct (a block mapping, a sequence start), not what the author did wrong.
pub fn yaml_problem(e: &serde_saphyr::Error) -> (String, Option<String>) {
    use serde_saphyr::Error as E;
    match e.without_snippet() {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let msg = crate::suggest::unknown("key", "keys here", field, expected.iter().copied());
            return (msg, None);
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let msg = crate::suggest::unknown(
                "value",
                "values allowed here",
                variant,
                expected.iter().copied(),
            );
            return (msg, None);
        }
        E::SerdeMissingField { field, .. } => {
            return (
                format!("`{field}` is missing here"),
                Some(format!("this mapping needs a `{field}:` key")),
            );
        }
        _ => {}
    }
    let msg = saphyr_message(e);
    if msg.contains("did not find expected key") || msg.contains("did not find expected '-'") {
        return (
            format!("bad indentation: this line lines up with no key or item above it ({msg})"),
            Some("YAML reads the structure from indentation: the keys of one mapping, and the `- ` items of one list, start in the same column".into()),
        );
    }
    if msg.contains("mapping values are not allowed") {
        return (
            format!(
                "bad indentation, or an unquoted `: ` in a value: a `key: value` cannot start here ({msg})"
            ),
            Some("line a key up with its siblings; quote a value that contains `: `".into()),
        );
    }
    let hint = type_hint(&msg).map(String::from);
    (msg, hint)
}

/// A hint for the parser's type messages, which name the YAML construct, not the intent.
fn type_hint(msg: &str) -> Option<&'static str> {
    if msg.starts_with("expected sequence") {
        Some("this key takes a list: `[a, b]`, or one `- item` per line")
    } else if msg.starts_with("expected mapping") {
        Some("this key takes a mapping: `key: value` pairs")
    } else if msg.starts_with("expected string") {
        Some("this key takes a single text value")
    } else if msg.contains("found unexpected end of stream")
        || msg.contains("while scanning a quoted scalar")
    {
        Some("a quote or bracket is not closed")
    } else {
        None
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Diagnostic::new(dir, "", format!("cannot list folder: {e}")));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            // Fixtures live in `fixtures/` folders: data, never scenarios.
            if path.file_name().is_some_and(|n| n == "fixtures") {
                continue;
            }
            collect_yaml(&path, out, problems);
        } else if ft.is_file()
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        {
            out.push(path);
        }
    }
}

/// The one key given among `options` (name, given?), or what is wrong: none or several.
fn exactly_one(what: &str, options: &[(&'static str, bool)]) -> Result<&'static str, String> {
    let list = options
        .iter()
        .map(|(n, _)| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let given: Vec<&str> = options
        .iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| *n)
        .collect();
    match given.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("{what} needs one of {list}")),
        many => Err(format!(
            "{what} takes exactly one of {list}, not {}",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

/// Variables (pack and scenario) that cannot be rendered because they refer to each other
/// in a cycle. Outside values stand in as plain text.
fn cyclic_vars(
    pack: &PackDef,
    scenario: &BTreeMap<String, String>,
    known: &HashSet<String>,
) -> Vec<String> {
    let mut vars: template::Vars = known.iter().map(|k| (k.clone(), String::new())).collect();
    let mut pending: Vec<(String, String)> = pack
        .vars
        .iter()
        .chain(scenario.iter())
        .filter(|(_, v)| v.contains("{{"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, _) in &pending {
        vars.remove(k);
    }
    loop {
        let before = pending.len();
        pending.retain(|(k, v)| match template::render(v, &vars) {
            Ok(r) => {
                vars.insert(k.clone(), r);
                false
            }
            Err(_) => true,
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    // What is left refers to something undefined (reported elsewhere) or to a cycle.
    pending
        .into_iter()
        .filter(|(_, v)| template::referenced(v).iter().all(|n| known.contains(n)))
        .map(|(k, _)| k)
        .collect()
}

/// Join without touching the file system, resolving `.` and `..`.
fn lexical_join(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A duration as people write it on a command line or in a scenario: `10s`, `500ms`, `2m`,
/// `1h 30m`, or a bare number of seconds (`2`, as curl and hurl take it). Zero is refused: a
/// timeout or wait of nothing fails or passes at random. The error names what was given and
/// what is allowed, for `--timeout`, `within:` and `every:` alike.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: &[&str] = &[
        "ms", "s", "m", "h", "d", "millis", "msec", "sec", "secs", "seconds", "min", "mins",
        "minutes", "hr", "hrs", "hours", "days",
    ];
    const HOW: &str =
        "write a number and a unit, e.g. `10s`, `500ms`, `2m` (a bare number counts as seconds)";
    let t = text.trim();
    let bare_seconds = !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.chars().filter(|c| *c == '.').count() <= 1;
    let parsed = if bare_seconds {
        humantime::parse_duration(&format!("{t}s"))
    } else {
        humantime::parse_duration(t)
    };
    match parsed {
        Ok(d) if d.is_zero() => Err(format!(
            "`{text}` is zero: a timeout or wait must be longer than that (write e.g. `10s`)"
        )),
        Ok(d) => Ok(d),
        Err(humantime::DurationError::Empty) => Err(format!("no duration given; {HOW}")),
        Err(humantime::DurationError::UnknownUnit { unit, .. }) if !unit.is_empty() => {
            let mut msg = format!(
                "`{text}` has an unknown time unit `{unit}`; the units are ms, s, m (or min), h, d"
            );
            if let Some(d) = crate::suggest::did_you_mean(&unit, UNITS.iter().copied()) {
                msg.push_str("; ");
                msg.push_str(&d);
            }
            Err(msg)
        }
        Err(humantime::DurationError::NumberOverflow) => {
            Err(format!("`{text}` is too long a duration; {HOW}"))
        }
        Err(_) => Err(format!("`{text}` is not a duration; {HOW}")),
    }
}

struct Checker<'a> {
    file: &'a Path,
    root: &'a Path,
    catalog: &'a Catalog,
    problems: &'a mut Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(
        &mut self,
        field: impl Into<String>,
        loc: Option<serde_saphyr::Location>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.problems
            .push(Diagnostic::new(self.file, field, msg).at(loc));
        self.problems.last_mut().expect("just pushed")
    }

    fn scenario(
        &mut self,
        def: ScenarioDef,
        rel: String,
        pack: &PackDef,
        opts: &LoadOptions,
        ids: &mut HashMap<String, (PathBuf, Option<u64>)>,
    ) -> Option<Scenario> {
        let before = self.problems.len();
        let id = def.id.value.clone();
        let id_loc = Some(def.id.referenced);
        if id.trim().is_empty() || id.contains(char::is_whitespace) {
            self.err(
                "id",
                id_loc,
                "a scenario id must be non-empty and contain no spaces",
            );
        }
        if let Some((other, line)) = ids.get(&id) {
            let where_ = match line {
                Some(l) => format!("{}:{l}", other.display()),
                None => other.display().to_string(),
            };
            self.err(
                "id",
                id_loc,
                format!("duplicate scenario id `{id}`, also used in {where_}"),
            )
            .hint = Some("scenario ids must be unique across the pack".into());
        } else {
            ids.insert(
                id.clone(),
                (self.file.to_path_buf(), id_loc.map(|l| l.line())),
            );
        }

        let actor = def.actor.value.clone();
        let plays = match (&def.plays, self.catalog.actors.get(&actor)) {
            (Some(p), _) => {
                if !self.catalog.actors.contains_key(&p.value) {
                    let msg = crate::suggest::unknown(
                        "actor",
                        "actors",
                        &p.value,
                        self.catalog.actors.keys().map(String::as_str),
                    );
                    self.err("plays", Some(p.referenced), msg).hint =
                        Some("see `cdex-harness list actors`".into());
                }
                p.value.clone()
            }
            (None, Some(a)) => a.counterpart.clone(),
            (None, None) => String::new(),
        };
        if !self.catalog.actors.contains_key(&actor) {
            let msg = crate::suggest::unknown(
                "actor",
                "actors",
                &actor,
                self.catalog.actors.keys().map(String::as_str),
            );
            self.err("actor", Some(def.actor.referenced), msg).hint =
                Some("see `cdex-harness list actors`".into());
        }

        // Variables known at the start: built-ins, pack, scenario, and outside ones.
        let mut known: HashSet<String> = BUILTIN_VARS.iter().map(|(n, _)| n.to_string()).collect();
        known.extend(pack.vars.keys().cloned());
        known.extend(def.vars.keys().cloned());
        known.extend(opts.extra_vars.iter().cloned());
        for name in pack.vars.keys().chain(def.vars.keys()) {
            if BUILTIN_VARS.iter().any(|(n, _)| n == name) {
                self.err(
                    format!("vars.{name}"),
                    None,
                    format!("`{name}` is a built-in variable and cannot be set"),
                );
            }
        }
        let cyclic = cyclic_vars(pack, &def.vars, &known);
        if !cyclic.is_empty() {
            self.err(
                "vars",
                None,
                format!(
                    "these variables refer to each other in a cycle: {}",
                    cyclic.join(", ")
                ),
            );
        }
        for (name, value) in &def.vars {
            self.check_template(
                &format!("vars.{name}"),
                None,
                value,
                &known,
                &HashMap::new(),
                &mut Vec::new(),
            );
        }
        for (name, value) in &pack.headers {
            self.check_template(
                &format!("pack headers.{name}"),
                None,
                value,
                &known,
                &HashMap::new(),
                &mut Vec::new(),
            );
        }

        for (i, o) in def.options.iter().enumerate() {
            match self.catalog.options.get(o) {
                None => {
                    let msg = crate::suggest::unknown(
                        "option",
                        "catalog's options",
                        o,
                        self.catalog.options.keys().map(String::as_str),
                    );
                    self.err(format!("options[{i}]"), None, msg);
                }
                Some(def_o) if !def_o.actors.contains(&actor) => {
                    self.err(
                        format!("options[{i}]"),
                        None,
                        format!(
                            "option `{o}` is not one the {actor} may claim (it is for: {})",
                            def_o.actors.join(", ")
                        ),
                    );
                }
                Some(_) => {}
            }
        }

        for (i, r) in def.requires.iter().enumerate() {
            if !known.contains(&r.var) {
                self.err(
                    format!("requires[{i}].var"),
                    None,
                    format!(
                        "`{}` is not a variable of this scenario, its pack or the built-ins",
                        r.var
                    ),
                );
            }
            self.check_template(
                &format!("requires[{i}].otherwise"),
                None,
                &r.otherwise,
                &known,
                &HashMap::new(),
                &mut Vec::new(),
            );
        }

        let mut captured_by: HashMap<String, String> = HashMap::new();
        let mut step_ids: Vec<String> = Vec::new();
        let mut steps = Vec::new();
        if def.steps.is_empty() {
            self.err("steps", None, "a scenario needs at least one step");
        }
        let mut timeline_at = None;
        for (i, spanned) in def.steps.into_iter().enumerate() {
            let loc = Some(spanned.referenced);
            if spanned.value.timeline.is_some() && timeline_at.is_none() {
                timeline_at = Some((i, loc));
            }
            let step_id = spanned
                .value
                .id
                .clone()
                .unwrap_or_else(|| format!("step-{}", i + 1));
            if step_ids.contains(&step_id) {
                self.err(
                    format!("steps[{i}].id"),
                    loc,
                    format!("duplicate step id `{step_id}`"),
                );
            }
            if let Some(step) = self.step(
                i,
                loc,
                step_id.clone(),
                spanned.value,
                &known,
                &captured_by,
                &step_ids,
            ) {
                for c in &step.captures {
                    captured_by.insert(c.name.clone(), step.id.clone());
                }
                steps.push(step);
            }
            step_ids.push(step_id);
        }

        if let Some((t, tloc)) = timeline_at
            && !steps
                .iter()
                .any(|st| matches!(st.kind, StepKind::Expect(_)))
        {
            self.err(
                format!("steps[{t}].timeline"),
                tloc,
                "a `timeline` scripts the harness's endpoint for a client under test, and this scenario has no `expect` step: the harness runs no endpoint here",
            )
            .hint = Some("a server under test's Task is read with `send` or `poll` steps; `task_states` checks its versions".into());
        }
        let concurrency = self.concurrency(def.serial, &def.locks, pack);
        if self.problems.len() > before {
            return None;
        }
        Some(Scenario {
            id,
            title: def.title,
            description: def.description,
            file: rel,
            actor,
            plays,
            options: def.options,
            vars: def.vars,
            requires: def.requires,
            concurrency,
            steps,
        })
    }

    /// `serial:` and `locks:`, the pack's defaults under the scenario's own.
    fn concurrency(
        &mut self,
        serial: Option<model::Serial>,
        own: &[Spanned<String>],
        pack: &PackDef,
    ) -> Concurrency {
        let mut locks: Vec<String> = pack.locks.clone();
        for name in own {
            let trimmed = name.value.trim();
            if trimmed.is_empty() {
                self.err(
                    "locks",
                    Some(name.referenced),
                    "a lock name must not be empty",
                )
                .hint = Some("name what the scenarios share, e.g. `locks: [patient-123]`".into());
            } else if !locks.iter().any(|l| l == trimmed) {
                locks.push(trimmed.to_string());
            }
        }
        Concurrency {
            serial: serial.or(pack.serial).is_some_and(|s| s.0),
            locks,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        i: usize,
        loc: Option<serde_saphyr::Location>,
        id: String,
        def: StepDef,
        known: &HashSet<String>,
        captured_by: &HashMap<String, String>,
        earlier: &[String],
    ) -> Option<Step> {
        let f = |s: &str| format!("steps[{i}].{s}");
        let mut uses = Vec::new();
        for n in &def.needs {
            if !earlier.contains(n) {
                let mut msg = format!("`{n}` is not the id of an earlier step");
                match crate::suggest::did_you_mean(n, earlier.iter().map(String::as_str)) {
                    Some(d) => msg.push_str(&format!("; {d}")),
                    None if earlier.is_empty() => msg.push_str(" (this is the first step)"),
                    None => {
                        msg.push_str(&format!("; the earlier steps are {}", earlier.join(", ")))
                    }
                }
                self.err(f("needs"), loc, msg);
            }
        }
        let kinds = [
            ("send", def.send.is_some()),
            ("expect", def.expect.is_some()),
            ("poll", def.poll.is_some()),
            ("serve", def.serve.is_some()),
            ("timeline", def.timeline.is_some()),
        ];
        if let Err(msg) = exactly_one("a step", &kinds) {
            self.err(format!("steps[{i}]"), loc, msg);
            return None;
        }
        let default_target = if def.expect.is_some() {
            Target::Request
        } else {
            Target::Response
        };
        let kind = if let Some(s) = def.send {
            StepKind::Send(self.request(&f("send"), loc, s, known, captured_by, &mut uses)?)
        } else if let Some(e) = def.expect {
            let mut with = BTreeMap::new();
            for (k, v) in e.with_ {
                let env = crate::runner::trigger::env_name(&k);
                if crate::runner::trigger::PROTOCOL_VARS.contains(&env.as_str())
                    || env.starts_with("VAR_")
                {
                    self.err(
                        f(&format!("expect.with.{k}")),
                        loc,
                        format!("`{k}` would overwrite the trigger's own CDEX_{env} variable; choose another name"),
                    );
                }
                self.check_template(
                    &f(&format!("expect.with.{k}")),
                    loc,
                    &v,
                    known,
                    captured_by,
                    &mut uses,
                );
                with.insert(k, v);
            }
            let within = self.duration(&f("expect.within"), loc, e.within.as_deref());
            let payload = match &e.payload {
                Some(b) => self.body(&f("expect.payload"), loc, b, known, captured_by, &mut uses),
                None => None,
            };
            if let Some(p) = &e.path {
                self.check_template(&f("expect.path"), loc, p, known, captured_by, &mut uses);
            }
            if let Some(Body::Text(_)) = &payload {
                self.err(
                    f("expect.payload"),
                    loc,
                    "an action payload must be JSON (`fixture` or `json`)",
                );
            }
            if e.action.trim().is_empty() {
                self.err(
                    f("expect.action"),
                    loc,
                    "an action name is required (see docs/actions.md)",
                );
            }
            let cause = match e.cause {
                Some(c) => {
                    Some(self.request(&f("expect.cause"), loc, c, known, captured_by, &mut uses)?)
                }
                None => None,
            };
            let if_missing = e.if_missing.map(|m| {
                self.check_template(
                    &f("expect.if_missing.read"),
                    loc,
                    &m.read,
                    known,
                    captured_by,
                    &mut uses,
                );
                if let Err(err) = crate::fhir::fhirpath::check(&m.show) {
                    self.err(f("expect.if_missing.show"), loc, err);
                }
                (m.read, m.show)
            });
            StepKind::Expect(Expect {
                action: e.action,
                prompt: e.prompt,
                cause: cause.map(Box::new),
                if_missing,
                only_new: e.only_new,
                with,
                payload,
                method: e.method.map(|m| m.to_ascii_uppercase()),
                path: e.path,
                within,
            })
        } else if let Some(p) = def.poll {
            let request =
                self.request(&f("poll.send"), loc, p.send, known, captured_by, &mut uses)?;
            let mut until = Vec::new();
            let conditions = p.until.len();
            for (j, a) in p.until.into_iter().enumerate() {
                if a.task_states.is_some() || a.poll_schedule.is_some() {
                    self.err(
                        f(&format!("poll.until[{j}]")),
                        loc,
                        "`task_states` and `poll_schedule` look at the whole scenario, not at one response: they cannot end a poll",
                    )
                    .hint = Some("put them under the step's `assert` (a `fhirpath: \"status = 'completed'\"` condition ends a poll on a Task's status)".into());
                    continue;
                }
                if a.req.is_some() || a.severity.is_some() || a.on == Some(Target::Request) {
                    self.err(
                        f(&format!("poll.until[{j}]")),
                        loc,
                        "a poll condition only decides when to stop polling: it takes no `req`, `severity` or `on: request`",
                    )
                    .hint = Some("put the checks that prove requirements under the step's `assert`".into());
                }
                if let Some(a) = self.assertion(
                    &f(&format!("poll.until[{j}]")),
                    loc,
                    a,
                    Target::Response,
                    known,
                    captured_by,
                    &mut uses,
                ) {
                    until.push(a);
                }
            }
            if conditions == 0 {
                self.err(f("poll.until"), loc, "a poll needs at least one condition");
            }
            let every = self
                .duration(&f("poll.every"), loc, p.every.as_deref())
                .unwrap_or(Duration::from_millis(200));
            let within = self.duration(&f("poll.within"), loc, p.within.as_deref());
            let schedule = match &p.schedule {
                Some(sd) => {
                    if p.every.is_some() {
                        self.err(
                            f("poll.every"),
                            loc,
                            "a poll takes `every` or `schedule`, not both",
                        );
                    }
                    self.schedule(
                        &f("poll.schedule"),
                        loc,
                        [&sd.first_after, &sd.every, &sd.for_, &sd.then_every],
                    )
                }
                None => None,
            };
            if let Some(pr) = &p.prompt {
                self.check_template(&f("poll.prompt"), loc, pr, known, captured_by, &mut uses);
            }
            StepKind::Poll(Poll {
                request,
                until,
                every,
                schedule,
                within,
                prompt: p.prompt,
            })
        } else if let Some(t) = def.timeline {
            StepKind::Timeline(self.timeline(
                &f("timeline"),
                loc,
                t,
                known,
                captured_by,
                &mut uses,
            )?)
        } else {
            let serve = def.serve.expect("one kind is given");
            let mut bodies = Vec::new();
            for (j, b) in serve.resources.iter().enumerate() {
                if let Some(b) = self.body(
                    &f(&format!("serve.resources[{j}]")),
                    loc,
                    b,
                    known,
                    captured_by,
                    &mut uses,
                ) {
                    if matches!(b, Body::Text(_)) {
                        self.err(
                            f(&format!("serve.resources[{j}]")),
                            loc,
                            "a served resource must be JSON (`fixture` or `json`)",
                        );
                    }
                    bodies.push(b);
                }
            }
            if !def.asserts.is_empty() || !def.capture.is_empty() {
                self.err(
                    f("serve"),
                    loc,
                    "a `serve` step exchanges nothing, so it takes no `assert` or `capture`",
                );
            }
            StepKind::Serve(bodies)
        };

        let respond = match def.respond {
            Some(r) => {
                if !matches!(kind, StepKind::Expect(_)) {
                    self.err(
                        f("respond"),
                        loc,
                        "`respond` only goes with an `expect` step",
                    );
                }
                let mut headers = Vec::new();
                for (k, v) in r.headers {
                    self.check_template(
                        &f(&format!("respond.headers.{k}")),
                        loc,
                        &v,
                        known,
                        captured_by,
                        &mut uses,
                    );
                    headers.push((k, v));
                }
                let body = match &r.body {
                    Some(b) => self.body(&f("respond.body"), loc, b, known, captured_by, &mut uses),
                    None => None,
                };
                Some(Respond {
                    status: r.status,
                    headers,
                    body,
                })
            }
            None => None,
        };

        let mut captures = Vec::new();
        for (name, c) in def.capture {
            let field = f(&format!("capture.{name}"));
            let sources = [
                ("header", c.header.is_some()),
                ("fhirpath", c.fhirpath.is_some()),
                ("body", c.body),
            ];
            if let Err(msg) = exactly_one("a capture", &sources) {
                self.err(&field, loc, msg);
                continue;
            }
            let regex = match c.regex.as_deref().map(Regex::new) {
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    self.err(format!("{field}.regex"), loc, format!("invalid regex: {e}"));
                    None
                }
                None => None,
            };
            let source = if let Some(h) = c.header {
                CaptureSource::Header(h)
            } else if let Some(p) = c.fhirpath {
                if let Err(e) = crate::fhir::fhirpath::check(&p) {
                    self.err(
                        format!("{field}.fhirpath"),
                        loc,
                        format!("invalid FHIRPath: {e}"),
                    );
                }
                CaptureSource::FhirPath(p)
            } else {
                CaptureSource::Body
            };
            if BUILTIN_VARS.iter().any(|(n, _)| *n == name) {
                self.err(
                    &field,
                    loc,
                    format!("`{name}` is a built-in variable and cannot be captured"),
                );
            }
            captures.push(Capture {
                name,
                source,
                regex,
                on: c.on.unwrap_or(default_target),
            });
        }

        let mut asserts = Vec::new();
        for (j, a) in def.asserts.into_iter().enumerate() {
            let aloc = Some(a.referenced);
            if let Some(a) = self.assertion(
                &f(&format!("assert[{j}]")),
                aloc,
                a.value,
                default_target,
                known,
                captured_by,
                &mut uses,
            ) {
                if let AssertKind::PollSchedule(ps) = &a.kind
                    && let Some(from) = &ps.from
                    && !earlier.contains(from)
                {
                    let mut msg = format!("`{from}` is not the id of an earlier step");
                    if let Some(d) =
                        crate::suggest::did_you_mean(from, earlier.iter().map(String::as_str))
                    {
                        msg.push_str(&format!("; {d}"));
                    }
                    self.err(f(&format!("assert[{j}].poll_schedule.from")), aloc, msg)
                        .hint = Some(
                        "`from` names an earlier step whose request the schedule is measured from"
                            .into(),
                    );
                }
                asserts.push(a);
            }
        }

        if matches!(kind, StepKind::Timeline(_)) {
            if !captures.is_empty() {
                self.err(
                    f("capture"),
                    loc,
                    "a `timeline` step exchanges nothing, so it takes no `capture`",
                );
            }
            if asserts.iter().any(|a| !a.kind.is_scenario_wide()) {
                self.err(
                    f("assert"),
                    loc,
                    "a `timeline` step exchanges nothing: its `assert` may only hold `task_states` or `poll_schedule` checks",
                );
            }
        }

        // `received: false`: nothing arrives, so nothing else can be checked or captured.
        if asserts
            .iter()
            .any(|a: &Assertion| matches!(a.kind, AssertKind::NotReceived))
        {
            if !matches!(kind, StepKind::Expect(_)) {
                self.err(
                    f("assert"),
                    loc,
                    "`received: false` only goes in an `expect` step (a request that must not arrive)",
                );
            } else if asserts
                .iter()
                .any(|a| !matches!(a.kind, AssertKind::NotReceived))
                || !captures.is_empty()
                || respond.is_some()
            {
                self.err(
                    f("assert"),
                    loc,
                    "a step with `received: false` awaits nothing: it takes no other assertion, no `capture` and no `respond`",
                );
            }
        }

        uses.sort();
        uses.dedup();
        let uses_captures = uses
            .into_iter()
            .filter_map(|v| captured_by.get(&v).map(|s| (v, s.clone())))
            .collect();
        Some(Step {
            title: def.title.unwrap_or_else(|| id.clone()),
            id,
            needs: def.needs,
            uses_captures,
            kind,
            respond,
            captures,
            asserts,
        })
    }

    /// A schedule's durations (`first_after`, `every`, `for`, `then_every`), checked.
    fn schedule(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        [first_after, every, for_, then_every]: [&Option<String>; 4],
    ) -> Option<Schedule> {
        let before = self.problems.len();
        let sch = Schedule {
            first_after: self.duration(
                &format!("{field}.first_after"),
                loc,
                first_after.as_deref(),
            ),
            every: self.duration(&format!("{field}.every"), loc, every.as_deref()),
            for_: self.duration(&format!("{field}.for"), loc, for_.as_deref()),
            then_every: self.duration(&format!("{field}.then_every"), loc, then_every.as_deref()),
        };
        if self.problems.len() > before {
            return None;
        }
        if first_after.is_none() && every.is_none() && then_every.is_none() {
            self.err(
                field,
                loc,
                "a schedule needs `first_after`, `every`, or both (and may add `for` and `then_every`)",
            );
            return None;
        }
        if for_.is_some() != then_every.is_some() {
            self.err(
                field,
                loc,
                "`for` and `then_every` go together: `every` applies for `for`, then `then_every`",
            );
            return None;
        }
        if for_.is_some() && every.is_none() {
            self.err(
                format!("{field}.every"),
                loc,
                "`for` says how long `every` applies: give `every` too",
            );
            return None;
        }
        Some(sch)
    }

    /// `timeline:` checked, as the JSON script template handed to the Handler.
    #[allow(clippy::too_many_arguments)]
    fn timeline(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        t: model::TimelineDef,
        known: &HashSet<String>,
        captured_by: &HashMap<String, String>,
        uses: &mut Vec<String>,
    ) -> Option<Timeline> {
        use serde_json::{Value, json};
        let task = t.task.unwrap_or_else(|| "next".to_string());
        if task != "next" {
            self.check_template(
                &format!("{field}.task"),
                loc,
                &task,
                known,
                captured_by,
                uses,
            );
            if !task.contains("{{") && !task.starts_with("Task/") {
                self.err(
                    format!("{field}.task"),
                    loc,
                    format!("`{task}` names no Task: write `next` (the next Task the client creates) or `Task/ID`"),
                );
            }
        }
        if t.changes.is_empty() {
            self.err(
                format!("{field}.changes"),
                loc,
                "a timeline needs at least one status change",
            );
        }
        let mut changes = Vec::new();
        for (j, c) in t.changes.into_iter().enumerate() {
            let cf = format!("{field}.changes[{j}]");
            let cloc = Some(c.referenced);
            let c = c.value;
            if !TASK_STATUSES.contains(&c.status.as_str()) {
                let msg = crate::suggest::unknown(
                    "Task status",
                    "statuses of the HRex Task Status value set",
                    &c.status,
                    TASK_STATUSES.iter().copied(),
                );
                self.err(format!("{cf}.status"), cloc, msg);
            }
            if c.after.is_some() && c.after_polls.is_some() {
                self.err(
                    &cf,
                    cloc,
                    "a change takes `after` (a time) or `after_polls` (a number of reads), not both",
                );
            }
            if c.after_polls == Some(0) {
                self.err(
                    format!("{cf}.after_polls"),
                    cloc,
                    "`after_polls: 0` waits for nothing; leave it out for a change applied at once",
                );
            }
            let after = self.duration(&format!("{cf}.after"), cloc, c.after.as_deref());
            let mut change = serde_json::Map::new();
            change.insert("status".into(), json!(c.status));
            if let Some(n) = c.after_polls {
                change.insert("after_polls".into(), json!(n));
            }
            if let (Some(text), Some(d)) = (&c.after, after) {
                change.insert("after".into(), json!(text));
                change.insert("after_ms".into(), json!(d.as_millis() as u64));
            }
            for (key, value) in [
                ("output", c.output),
                ("statusReason", c.status_reason),
                ("businessStatus", c.business_status),
                ("contained", c.contained),
            ] {
                if let Some(v) = value {
                    let mut names = Vec::new();
                    template::referenced_in_json(&v, &mut names);
                    for n in names {
                        self.check_var(&format!("{cf}.{key}"), cloc, &n, known, captured_by, uses);
                    }
                    let is_list = matches!(v, Value::Array(_));
                    if matches!(key, "output" | "contained") && !is_list {
                        self.err(
                            format!("{cf}.{key}"),
                            cloc,
                            format!("`{key}` takes a list (Task.{key} repeats)"),
                        );
                    }
                    change.insert(key.into(), v);
                }
            }
            changes.push(Value::Object(change));
        }
        Some(Timeline {
            script: json!({ "task": task, "changes": changes }),
        })
    }

    fn duration(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        text: Option<&str>,
    ) -> Option<Duration> {
        match text.map(parse_duration) {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                self.err(field, loc, e);
                None
            }
            None => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        s: model::SendDef,
        known: &HashSet<String>,
        captured_by: &HashMap<String, String>,
        uses: &mut Vec<String>,
    ) -> Option<Request> {
        let method = s.method.to_ascii_uppercase();
        if !matches!(
            method.as_str(),
            "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS"
        ) {
            self.err(
                format!("{field}.method"),
                loc,
                format!("`{}` is not an HTTP method", s.method),
            );
        }
        self.check_template(
            &format!("{field}.path"),
            loc,
            &s.path,
            known,
            captured_by,
            uses,
        );
        let mut headers = Vec::new();
        for (k, v) in s.headers {
            self.check_template(
                &format!("{field}.headers.{k}"),
                loc,
                &v,
                known,
                captured_by,
                uses,
            );
            headers.push((k, v));
        }
        let mut body_def = s.body;
        let grow = body_def.as_mut().and_then(|b| b.grow.take());
        let body = match &body_def {
            Some(b) => self.body(&format!("{field}.body"), loc, b, known, captured_by, uses),
            None => None,
        };
        let sign = s.sign.map(|d| {
            let cert = match d.cert.as_deref() {
                None => crate::fhir::signature::CertKind::Valid,
                Some(name) => crate::fhir::signature::CertKind::parse(name).unwrap_or_else(|| {
                    self.err(
                        format!("{field}.sign.cert"),
                        loc,
                        format!(
                            "unknown certificate `{name}` (known: {})",
                            crate::fhir::signature::CertKind::ALL
                                .map(|k| k.name())
                                .join(", ")
                        ),
                    );
                    crate::fhir::signature::CertKind::Valid
                }),
            };
            for m in &d.mismatch {
                if !crate::fhir::signature::sign::MISMATCHES.contains(&m.as_str()) {
                    self.err(
                        format!("{field}.sign.mismatch"),
                        loc,
                        format!(
                            "unknown mismatch `{m}` (known: {})",
                            crate::fhir::signature::sign::MISMATCHES.join(", ")
                        ),
                    );
                }
            }
            if !d.at.is_empty() && !d.at.starts_with('/') {
                self.err(
                    format!("{field}.sign.at"),
                    loc,
                    format!("`{}` is not a JSON Pointer (it starts with `/`)", d.at),
                );
            }
            SignSpec {
                at: d.at,
                cert,
                tamper: d.tamper,
                mismatch: d.mismatch,
                who: d.who,
            }
        });
        if sign.is_some() && !matches!(body, Some(Body::Json(_)) | None) {
            self.err(
                format!("{field}.sign"),
                loc,
                "`sign` signs a resource inside a JSON body (a fixture or `json:`)",
            );
        }
        let grow = match grow {
            Some(g) => {
                let gf = format!("{field}.body.grow");
                if matches!(body, Some(Body::Text(_))) {
                    self.err(
                        &gf,
                        loc,
                        "`grow` replaces a string of a JSON body (`json:` or `fixture:`), not of `text:`",
                    );
                }
                self.check_template(&format!("{gf}.at"), loc, &g.at, known, captured_by, uses);
                self.check_template(
                    &format!("{gf}.bytes"),
                    loc,
                    &g.bytes,
                    known,
                    captured_by,
                    uses,
                );
                if !g.at.contains("{{") && !g.at.is_empty() && !g.at.starts_with('/') {
                    self.err(
                        format!("{gf}.at"),
                        loc,
                        format!("`{}` is not a JSON Pointer: it starts with `/` (`/parameter/0/resource/content/0/attachment/data`)", g.at),
                    );
                }
                if !g.bytes.contains("{{")
                    && let Err(e) = crate::http::grow::parse_size(&g.bytes)
                {
                    self.err(format!("{gf}.bytes"), loc, e);
                }
                Some(crate::scenario::Grow {
                    at: g.at,
                    bytes: g.bytes,
                })
            }
            None => None,
        };
        Some(Request {
            method,
            path: s.path,
            headers,
            omit_headers: s.omit_headers,
            body,
            sign,
            grow,
        })
    }

    fn body(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        b: &BodyDef,
        known: &HashSet<String>,
        captured_by: &HashMap<String, String>,
        uses: &mut Vec<String>,
    ) -> Option<Body> {
        if b.grow.is_some() {
            self.err(
                format!("{field}.grow"),
                loc,
                "`grow` makes a large request body: it is for a `send` step's body only",
            );
        }
        let kinds = [
            ("fixture", b.fixture.is_some()),
            ("json", b.json.is_some()),
            ("text", b.text.is_some()),
        ];
        if let Err(msg) = exactly_one("a body", &kinds) {
            self.err(field, loc, msg);
            return None;
        }
        if let Some(t) = &b.text {
            self.check_template(&format!("{field}.text"), loc, t, known, captured_by, uses);
            return Some(Body::Text(t.clone()));
        }
        let value = if let Some(j) = &b.json {
            j.clone()
        } else {
            let fx: &Spanned<String> = b.fixture.as_ref().expect("one is given");
            let floc = Some(fx.referenced);
            let path = self.fixture_path(&format!("{field}.fixture"), floc, &fx.value)?;
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    self.err(
                        format!("{field}.fixture"),
                        floc,
                        format!("cannot read fixture `{}`: {e}", fx.value),
                    );
                    return None;
                }
            };
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => v,
                Err(e) => {
                    self.err(
                        format!("{field}.fixture"),
                        floc,
                        format!("fixture `{}` is not valid JSON: {e} (line {}, column {} of the fixture)", fx.value, e.line(), e.column()),
                    );
                    return None;
                }
            }
        };
        let mut names = Vec::new();
        template::referenced_in_json(&value, &mut names);
        for n in names {
            self.check_var(field, loc, &n, known, captured_by, uses);
        }
        Some(Body::Json(value))
    }

    /// Resolve a fixture path relative to the scenario's folder, refusing any that leaves
    /// the pack.
    fn fixture_path(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        rel: &str,
    ) -> Option<PathBuf> {
        let p = Path::new(rel);
        if p.is_absolute()
            || p.components()
                .any(|c| matches!(c, Component::Prefix(_) | Component::RootDir))
        {
            self.err(field, loc, format!("fixture path `{rel}` is absolute"))
                .hint = Some("give fixture paths relative to the scenario file".into());
            return None;
        }
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let joined = dir.join(p);
        let dir_canon = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        if !lexical_join(&dir_canon, p).starts_with(self.root) {
            self.err(
                field,
                loc,
                format!("fixture path `{rel}` leaves the scenario folder"),
            )
            .hint = Some("fixtures must live inside the scenario pack".into());
            return None;
        }
        let canon = match joined.canonicalize() {
            Ok(c) => c,
            Err(_) => {
                self.err(
                    field,
                    loc,
                    format!(
                        "fixture `{rel}` not found (looked for {})",
                        joined.display()
                    ),
                );
                return None;
            }
        };
        if !canon.starts_with(self.root) {
            self.err(
                field,
                loc,
                format!("fixture path `{rel}` leaves the scenario folder"),
            )
            .hint = Some("fixtures must live inside the scenario pack".into());
            return None;
        }
        Some(canon)
    }

    fn check_template(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        text: &str,
        known: &HashSet<String>,
        captured_by: &HashMap<String, String>,
        uses: &mut Vec<String>,
    ) {
        if let Err(e) = template::check_syntax(text) {
            self.err(field, loc, format!("invalid template: {e}"));
            return;
        }
        for n in template::referenced(text) {
            self.check_var(field, loc, &n, known, captured_by, uses);
        }
    }

    fn check_var(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        name: &str,
        known: &HashSet<String>,
        captured_by: &HashMap<String, String>,
        uses: &mut Vec<String>,
    ) {
        if captured_by.contains_key(name) {
            uses.push(name.to_string());
        } else if !known.contains(name) {
            let mut msg = format!("variable `{name}` is not defined");
            let names = known.iter().chain(captured_by.keys()).map(String::as_str);
            if let Some(d) = crate::suggest::did_you_mean(name, names) {
                msg.push_str(&format!("; {d}"));
            }
            self.err(field, loc, msg).hint = Some(
                "declare it under `vars:`, capture it in an earlier step, or pass --var".into(),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn assertion(
        &mut self,
        field: &str,
        loc: Option<serde_saphyr::Location>,
        a: AssertDef,
        default_target: Target,
        known: &HashSet<String>,
        captured_by: &HashMap<String, String>,
        uses: &mut Vec<String>,
    ) -> Option<Assertion> {
        let kinds = [
            ("status", a.status.is_some()),
            ("header", a.header.is_some()),
            ("resource", a.resource.is_some()),
            ("fhirpath", a.fhirpath.is_some()),
            ("profile", a.profile.is_some()),
            ("method", a.method.is_some()),
            ("path", a.path.is_some()),
            ("json", a.json.is_some()),
            ("received", a.received.is_some()),
            ("task_states", a.task_states.is_some()),
            ("poll_schedule", a.poll_schedule.is_some()),
            ("attachment", a.attachment.is_some()),
            ("signature", a.signature.is_some()),
        ];
        if let Err(msg) = exactly_one("an assertion", &kinds) {
            self.err(field, loc, msg);
            return None;
        }
        for t in [
            &a.equals,
            &a.contains,
            &a.matches,
            &a.fhirpath,
            &a.path,
            &a.attachment,
        ]
        .into_iter()
        .flatten()
        {
            self.check_template(field, loc, t, known, captured_by, uses);
        }
        let proved = a
            .req
            .as_ref()
            .and_then(|r| self.catalog.requirement(&r.value));
        let (requirement, mut severity) = match &a.req {
            Some(r) => match proved {
                Some(req) => (Some(r.value.clone()), req.severity()),
                None => {
                    let ids = self.catalog.requirements.iter().map(|q| q.id.as_str());
                    let mut msg = format!("requirement `{}` is not in the catalog", r.value);
                    if let Some(d) = crate::suggest::did_you_mean(&r.value, ids) {
                        msg.push_str(&format!("; {d}"));
                    }
                    self.err(format!("{field}.req"), Some(r.referenced), msg)
                        .hint = Some("see `cdex-harness requirements` for the ids".into());
                    (None, Severity::Required)
                }
            },
            None => (None, Severity::Required),
        };
        if let (Some(req), Some(r)) = (proved, &a.req)
            && let Some(why) = &req.untestable
        {
            self.err(
                format!("{field}.req"),
                Some(r.referenced),
                format!(
                    "requirement `{}` is marked not testable in the catalog ({why}); no check can prove it",
                    req.id
                ),
            );
        }
        let mut strict_severity = proved.map_or(severity, |r| r.strict_severity());
        if let Some(s) = &a.severity {
            severity = match s.as_str() {
                "required" => Severity::Required,
                "recommended" => Severity::Recommended,
                "optional" => Severity::Optional,
                other => {
                    let msg = crate::suggest::unknown(
                        "severity",
                        "severities",
                        other,
                        ["required", "recommended", "optional"],
                    );
                    self.err(format!("{field}.severity"), loc, msg);
                    severity
                }
            };
            strict_severity = severity;
        }
        if let Some(req) = proved
            && severity == Severity::Required
            && req.basis == crate::catalog::Basis::Reading
        {
            self.err(
                format!("{field}.severity"),
                loc,
                format!(
                    "a required assertion may only prove a `text` or `profile` requirement, \
                     and {} is a reading (the harness's interpretation)",
                    req.id
                ),
            )
            .hint = Some(
                "remove `severity: required`: a reading is checked as recommended (a warning), \
                 and as required under `run --strict`; or quote the SHALL or the profile \
                 constraint it rests on in the catalog"
                    .into(),
            );
        }
        let refinements = [
            a.equals.is_some(),
            a.contains.is_some(),
            a.matches.is_some(),
            a.absent,
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if a.header.is_none() && refinements > 0 {
            self.err(
                field,
                loc,
                "`equals`, `contains`, `matches` and `absent` refine a `header` assertion only",
            );
        }
        let when_status = match a.when_status {
            Some(w) => {
                let alone = [
                    a.status.is_some(),
                    a.method.is_some(),
                    a.path.is_some(),
                    a.received.is_some(),
                    a.task_states.is_some(),
                    a.poll_schedule.is_some(),
                    a.on.unwrap_or(default_target) == Target::Request,
                ];
                if alone.contains(&true) {
                    self.err(
                        format!("{field}.when_status"),
                        loc,
                        "`when_status` limits a check of a response's headers or body to some statuses; it does not go with `status`, `method`, `path`, `received`, `task_states`, `poll_schedule` or `on: request`",
                    );
                }
                self.status_ranges(w, &format!("{field}.when_status"), loc)
            }
            None => Vec::new(),
        };
        let kind = if let Some(s) = a.status {
            AssertKind::Status(self.status_ranges(s, &format!("{field}.status"), loc))
        } else if let Some(h) = a.header {
            if refinements > 1 {
                self.err(field, loc, "a header assertion takes at most one of `equals`, `contains`, `matches`, `absent`");
            }
            if let Some(m) = &a.matches
                && !m.contains("{{")
                && let Err(e) = Regex::new(m)
            {
                self.err(
                    format!("{field}.matches"),
                    loc,
                    format!("invalid regex: {e}"),
                );
            }
            let check = if a.absent {
                TextCheck::Absent
            } else if let Some(v) = a.equals {
                TextCheck::Equals(v)
            } else if let Some(v) = a.contains {
                TextCheck::Contains(v)
            } else if let Some(v) = a.matches {
                TextCheck::Matches(v)
            } else {
                TextCheck::Present
            };
            AssertKind::Header { name: h, check }
        } else if let Some(r) = a.resource {
            AssertKind::Resource(r)
        } else if let Some(p) = a.fhirpath {
            if !p.contains("{{")
                && let Err(e) = crate::fhir::fhirpath::check(&p)
            {
                self.err(
                    format!("{field}.fhirpath"),
                    loc,
                    format!("invalid FHIRPath: {e}"),
                );
            }
            AssertKind::FhirPath(p)
        } else if let Some(p) = a.attachment {
            if !p.contains("{{")
                && let Err(e) = crate::fhir::fhirpath::check(&p)
            {
                self.err(
                    format!("{field}.attachment"),
                    loc,
                    format!("invalid FHIRPath: {e}"),
                );
            }
            AssertKind::Attachment(p)
        } else if let Some(p) = a.profile {
            if !crate::fhir::conformance::known(&p) {
                let names = crate::fhir::conformance::names();
                let mut msg = format!("unknown profile `{p}`");
                if let Some(d) = crate::suggest::did_you_mean(&p, names.iter().map(String::as_str))
                {
                    msg.push_str(&format!("; {d}"));
                }
                self.err(format!("{field}.profile"), loc, msg).hint =
                    Some(format!("known profiles: {}", names.join(", ")));
            }
            AssertKind::Profile(p)
        } else if let Some(m) = a.method {
            AssertKind::Method(m.to_ascii_uppercase())
        } else if let Some(p) = a.path {
            AssertKind::Path(p)
        } else if let Some(r) = a.received {
            if r {
                self.err(
                    format!("{field}.received"),
                    loc,
                    "`received: true` checks nothing: an `expect` step already fails when its request never arrives; write `received: false` for a request that must not arrive",
                );
            }
            AssertKind::NotReceived
        } else if let Some(ts) = a.task_states {
            let tf = format!("{field}.task_states");
            self.check_template(&format!("{tf}.id"), loc, &ts.id, known, captured_by, uses);
            if ts.id.trim().is_empty() {
                self.err(format!("{tf}.id"), loc, "the Task's id is empty");
            }
            for r in &ts.reaches {
                if !TASK_STATUSES.contains(&r.as_str()) {
                    let msg = crate::suggest::unknown(
                        "Task status",
                        "statuses of the HRex Task Status value set",
                        r,
                        TASK_STATUSES.iter().copied(),
                    );
                    self.err(format!("{tf}.reaches"), loc, msg);
                }
            }
            if a.on.is_some() {
                self.err(
                    format!("{field}.on"),
                    loc,
                    "`task_states` looks at every exchange of the scenario: it takes no `on`",
                );
            }
            AssertKind::TaskStates {
                id: ts.id,
                reaches: ts.reaches,
            }
        } else if let Some(ps) = a.poll_schedule {
            let pf = format!("{field}.poll_schedule");
            self.check_template(
                &format!("{pf}.path"),
                loc,
                &ps.path,
                known,
                captured_by,
                uses,
            );
            let method = ps.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
            if !matches!(
                method.as_str(),
                "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS"
            ) {
                self.err(
                    format!("{pf}.method"),
                    loc,
                    format!("`{method}` is not an HTTP method"),
                );
            }
            if a.on.is_some() {
                self.err(
                    format!("{field}.on"),
                    loc,
                    "`poll_schedule` looks at the requests of the whole scenario: it takes no `on`",
                );
            }
            let schedule = self
                .schedule(
                    &pf,
                    loc,
                    [&ps.first_after, &ps.every, &ps.for_, &ps.then_every],
                )
                .unwrap_or_default();
            AssertKind::PollSchedule(PollScheduleSpec {
                method,
                path: ps.path,
                from: ps.from,
                schedule,
            })
        } else if let Some(sc) = a.signature {
            let sf = format!("{field}.signature");
            if let Some(at) = &sc.at
                && !at.contains("{{")
                && let Err(e) = crate::fhir::fhirpath::check(at)
            {
                self.err(format!("{sf}.at"), loc, format!("invalid FHIRPath: {e}"));
            }
            let step = match sc.step.as_deref() {
                None => None,
                Some(name) => match crate::fhir::signature::Step::parse(name) {
                    Some(st) => Some(st),
                    None => {
                        self.err(
                            format!("{sf}.step"),
                            loc,
                            format!(
                                "unknown verifier step `{name}` (known: {})",
                                crate::fhir::signature::Step::names()
                            ),
                        );
                        None
                    }
                },
            };
            AssertKind::Signature { at: sc.at, step }
        } else {
            if a.json == Some(false) {
                self.err(
                    format!("{field}.json"),
                    loc,
                    "`json: false` checks nothing; write `json: true`",
                );
            }
            AssertKind::Json
        };
        let hint = a.hint.map(|h| h.trim().to_string());
        if let Some(h) = &hint
            && (h.is_empty() || h.contains('\n'))
        {
            self.err(
                format!("{field}.hint"),
                loc,
                "a hint is one line of text: the likely fix, shown next to the failure",
            );
        }
        Some(Assertion {
            kind,
            requirement,
            severity,
            strict_severity,
            on: a.on.unwrap_or(default_target),
            title: a.title,
            hint,
            since: proved.and_then(|r| r.since.clone()),
            when_status,
        })
    }

    /// Status codes and classes (`200`, `2xx`, or a list of them) as ranges.
    fn status_ranges(
        &mut self,
        s: StatusSpec,
        field: &str,
        loc: Option<serde_saphyr::Location>,
    ) -> Vec<std::ops::RangeInclusive<u16>> {
        let items = match s {
            StatusSpec::One(i) => vec![i],
            StatusSpec::Many(v) => v,
        };
        let mut ranges = Vec::new();
        for it in items {
            match it {
                StatusItem::Code(c) if (100..=599).contains(&c) => ranges.push(c..=c),
                StatusItem::Class(s)
                    if s.len() == 3 && s.ends_with("xx") && s.as_bytes()[0].is_ascii_digit() =>
                {
                    let d = (s.as_bytes()[0] - b'0') as u16;
                    ranges.push(d * 100..=d * 100 + 99);
                }
                other => {
                    let given = match other {
                        StatusItem::Code(c) => c.to_string(),
                        StatusItem::Class(s) => s,
                    };
                    self.err(
                        field.to_string(),
                        loc,
                        format!("`{given}` is not an HTTP status: write a code from 100 to 599 (`200`), a class (`2xx`), or a list of them (`[200, 201]`)"),
                    );
                }
            }
        }
        ranges
    }
}

#[cfg(test)]
mod when_status_tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::load(&root.join("catalog/cdex-2.1")).unwrap();
        let dir = root.join("scenarios/cdex-2.1");
        match check_scenario_text(&dir, &dir.join("t.yaml"), text, &catalog) {
            Ok(_) => Vec::new(),
            Err(d) => d.0.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn when_status_goes_with_checks_of_a_response_only() {
        let step = |assertion: &str| {
            format!(
                "id: t\ntitle: t\nactor: data-source-server\nsteps:\n  - send: {{ method: GET, path: Patient }}\n    assert:\n      - {assertion}\n"
            )
        };
        assert_eq!(
            problems(&step(
                "{ fhirpath: \"entry.empty()\", when_status: [2xx, 404] }"
            )),
            Vec::<String>::new()
        );
        let p = problems(&step("{ status: 200, when_status: 2xx }"));
        assert!(
            p.iter()
                .any(|p| p.contains("assert[0].when_status") && p.contains("does not go with")),
            "{p:?}"
        );
        let p = problems(&step("{ json: true, when_status: ok }"));
        assert!(
            p.iter().any(|p| p.contains("is not an HTTP status")),
            "{p:?}"
        );
    }
}
