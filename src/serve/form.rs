//! The start-a-run form: what it offers (the shipped packs, their actors, options and the
//! reference actors' faults), and its fields to and from what a run takes: the config file
//! format of `cdex-harness run --config` ([`crate::cli::config::Config`]) plus the
//! command-line-only settings (scenario filters, faults).

use super::runs::RunRequest;
use crate::cli::PackArgs;
use crate::cli::config::Config;
use crate::cli::run::{RunArgs, parse_header, parse_var};
use serde::Serialize;
use std::collections::BTreeSet;

/// A shipped pack, as the form offers it.
#[derive(Debug, Clone, Serialize)]
pub struct PackInfo {
    pub name: String,
    pub actors: Vec<Named>,
    pub options: Vec<Named>,
    /// The reference actors' faults of this pack's actors: `ACTOR:FAULT`.
    pub faults: Vec<Named>,
    pub rule_sets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub name: String,
    pub title: String,
}

impl PackInfo {
    /// The packs shipped with the harness whose catalog loads.
    pub fn shipped() -> Vec<PackInfo> {
        PackArgs::known_packs()
            .into_iter()
            .filter_map(|name| {
                let args = PackArgs {
                    pack: Some(name.clone()),
                    ..PackArgs::default()
                };
                let catalog = crate::catalog::Catalog::load(&args.catalog_path()).ok()?;
                let mut seen = BTreeSet::new();
                let faults = crate::actors::registry()
                    .iter()
                    .filter(|a| catalog.actors.contains_key(a.name))
                    .flat_map(|a| a.faults.iter().map(move |(f, d)| (a.name, *f, *d)))
                    .filter(|(a, f, _)| seen.insert((*a, *f)))
                    .map(|(a, f, d)| Named {
                        name: format!("{a}:{f}"),
                        title: d.to_string(),
                    })
                    .collect();
                Some(PackInfo {
                    actors: catalog
                        .actors
                        .iter()
                        .map(|(n, a)| Named {
                            name: n.clone(),
                            title: format!("{} ({})", a.title, role(a.role)),
                        })
                        .collect(),
                    options: catalog
                        .options
                        .iter()
                        .map(|(n, o)| Named {
                            name: n.clone(),
                            title: o.title.clone(),
                        })
                        .collect(),
                    faults,
                    rule_sets: catalog.rule_sets.clone(),
                    name,
                })
            })
            .collect()
    }
}

fn role(r: crate::catalog::Role) -> &'static str {
    match r {
        crate::catalog::Role::Server => "a server: give its URL",
        crate::catalog::Role::Client => "a client: the harness listens",
    }
}

/// The form's fields, as submitted and as shown again (after loading a config file, or with
/// a refusal).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormValues {
    pub pack: String,
    pub actor: String,
    /// `reference`, `server` (a target URL) or `client` (the harness listens).
    pub sut: String,
    pub target: String,
    pub trigger: String,
    pub listen: String,
    pub public_url: String,
    pub options: Vec<String>,
    pub faults: Vec<String>,
    /// `NAME=VALUE` lines.
    pub vars: String,
    /// `Name: value` lines.
    pub headers: String,
    pub secrets: String,
    pub scenario: String,
    pub skip: String,
    pub timeout: String,
    pub rules: String,
    pub strict: bool,
    pub time_scale: String,
    /// Scenarios at once (`--jobs`).
    pub jobs: String,
    pub scenarios_dir: String,
    pub trust_anchors: String,
    /// A config file's text, to load into the form.
    pub config: String,
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn given(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl FormValues {
    /// An `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> FormValues {
        let mut f = FormValues {
            sut: "reference".into(),
            ..FormValues::default()
        };
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "pack" => f.pack = v,
                "actor" => f.actor = v,
                "sut" => f.sut = v,
                "target" => f.target = v,
                "trigger" => f.trigger = v,
                "listen" => f.listen = v,
                "public_url" => f.public_url = v,
                "option" => f.options.push(v),
                "fault" => f.faults.push(v),
                "vars" => f.vars = v,
                "headers" => f.headers = v,
                "secrets" => f.secrets = v,
                "scenario" => f.scenario = v,
                "skip" => f.skip = v,
                "timeout" => f.timeout = v,
                "rules" => f.rules = v,
                "strict" => f.strict = !v.is_empty(),
                "time_scale" => f.time_scale = v,
                "jobs" => f.jobs = v,
                "scenarios_dir" => f.scenarios_dir = v,
                "trust_anchors" => f.trust_anchors = v,
                "config" => f.config = v,
                _ => {}
            }
        }
        f
    }

    /// The config file these fields make (faults and scenario filters are not config keys).
    pub fn to_config(&self) -> Result<Config, String> {
        let mut c = Config {
            pack: given(&self.pack),
            actor: given(&self.actor),
            public_url: given(&self.public_url),
            timeout: given(&self.timeout),
            rules: given(&self.rules),
            scenarios: given(&self.scenarios_dir),
            options: self.options.clone(),
            secrets: words(&self.secrets),
            strict: self.strict,
            trust_anchors: words(&self.trust_anchors),
            ..Config::default()
        };
        match self.sut.as_str() {
            "server" => {
                c.target = Some(
                    given(&self.target)
                        .ok_or("a server under test needs its FHIR base URL (the target field)")?,
                );
            }
            "client" => {
                c.trigger = given(&self.trigger);
                // A client under test reaches the harness's endpoint; without a trigger a
                // person makes it act, guided by the page.
                c.listen = Some(given(&self.listen).unwrap_or_else(|| "127.0.0.1:0".into()));
            }
            _ => {}
        }
        if let Some(t) = given(&self.time_scale) {
            c.time_scale = Some(
                t.parse()
                    .map_err(|_| format!("time scale `{t}`: give a positive factor, e.g. 60"))?,
            );
        }
        if let Some(j) = given(&self.jobs) {
            c.jobs = Some(
                j.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("scenarios at once `{j}`: give a number, 1 or more"))?,
            );
        }
        for line in self.vars.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = parse_var(line.trim())?;
            c.vars.insert(k, v);
        }
        for line in self.headers.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = parse_header(line.trim())?;
            c.headers.insert(k, v);
        }
        Ok(c)
    }

    /// What a run is started from.
    pub fn to_request(&self) -> Result<RunRequest, String> {
        let config = self.to_config()?;
        let args = RunArgs {
            scenario: words(&self.scenario),
            skip: words(&self.skip),
            faults: if self.sut == "reference" {
                self.faults.clone()
            } else {
                Vec::new()
            },
            ..RunArgs::default()
        };
        Ok(RunRequest { args, config })
    }

    /// The fields from a config file's text, keeping this form's faults and scenario filters.
    pub fn load(&self, text: &str) -> Result<FormValues, String> {
        let c = crate::cli::config::parse(text, "the config file")?;
        let mut f = FormValues::from_config(&c);
        f.faults = self.faults.clone();
        f.scenario = self.scenario.clone();
        f.skip = self.skip.clone();
        f.config = text.to_string();
        Ok(f)
    }

    pub fn from_config(c: &Config) -> FormValues {
        let sut = if c.target.is_some() {
            "server"
        } else if c.listen.is_some() || c.trigger.is_some() {
            "client"
        } else {
            "reference"
        };
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        FormValues {
            pack: s(&c.pack),
            actor: s(&c.actor),
            sut: sut.into(),
            target: s(&c.target),
            trigger: s(&c.trigger),
            listen: s(&c.listen),
            public_url: s(&c.public_url),
            options: c.options.clone(),
            vars: c.vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect(),
            headers: c
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\n"))
                .collect(),
            secrets: c.secrets.join(", "),
            timeout: s(&c.timeout),
            rules: s(&c.rules),
            strict: c.strict,
            time_scale: c.time_scale.map(|t| t.to_string()).unwrap_or_default(),
            jobs: c.jobs.map(|j| j.to_string()).unwrap_or_default(),
            scenarios_dir: s(&c.scenarios),
            trust_anchors: c.trust_anchors.join(", "),
            ..FormValues::default()
        }
    }

    /// The same run again, from a run's request (for "rerun failed", and the form's
    /// defaults).
    pub fn from_request(r: &RunRequest) -> FormValues {
        let mut f = FormValues::from_config(&r.config);
        f.faults = r.args.faults.clone();
        f.scenario = r.args.scenario.join(" ");
        f.skip = r.args.skip.join(" ");
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_makes_a_config_and_reads_it_back() {
        let body = b"pack=cdex-2019&actor=information-server&sut=server&target=http%3A%2F%2F127.0.0.1%3A9%2Ffhir&option=task-based&option=notified-pull&vars=patient_id%3D1%0D%0A&headers=Authorization%3A+Bearer+x&scenario=is-*+ic-*&strict=on";
        let f = FormValues::parse(body);
        let r = f.to_request().unwrap();
        assert_eq!(r.config.target.as_deref(), Some("http://127.0.0.1:9/fhir"));
        assert_eq!(r.config.options, ["task-based", "notified-pull"]);
        assert_eq!(r.config.vars["patient_id"], "1");
        assert_eq!(r.config.headers["Authorization"], "Bearer x");
        assert_eq!(r.args.scenario, ["is-*", "ic-*"]);
        assert!(r.config.strict);
        let yaml = crate::cli::config::to_yaml(&r.config).unwrap();
        let back = f.load(&yaml).unwrap();
        assert_eq!(back.sut, "server");
        assert_eq!(back.target, f.target);
        assert_eq!(back.options, f.options);
        assert_eq!(back.scenario, f.scenario);
        assert!(FormValues::parse(b"sut=server").to_request().is_err());
        assert!(FormValues::parse(b"vars=novalue").to_request().is_err());
    }
}
