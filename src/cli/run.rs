//! `cdex-harness run`.

use super::checkpoint::{self, Checkpointer};
use super::{EXIT_USAGE, PackArgs, config, resume};
use crate::actors::Faults;
use crate::report::{self, ReportPaths};
use crate::results::RunSetup;
use crate::runner::{self, RunConfig, Sut};
use crate::scenario::template::{referenced, referenced_in_json};
use crate::scenario::{AssertKind, Assertion, Body, Pack, Request, Scenario, StepKind, TextCheck};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub pack: PackArgs,
    /// Only scenarios whose system under test is this actor (see `list actors`)
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// An option the system under test claims: task-based, notified-pull, or all
    /// (repeatable; see `list options`). Scenarios of options not claimed are not applicable.
    /// [default: none for a real system, all for the reference actors]
    #[arg(long = "option", value_name = "OPTION")]
    pub options: Vec<String>,
    /// FHIR base URL of the server under test (the harness plays the client)
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Address of the harness's own FHIR endpoint, for a client under test [default: 127.0.0.1:0]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The harness endpoint's base URL as the client under test must reach it, when not the
    /// listening address (behind a proxy or a container, or with --listen 0.0.0.0:PORT)
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Command (run through `sh -c`) that makes the client under test act; see docs/actions.md
    #[arg(long, value_name = "CMD")]
    pub trigger: Option<String>,
    /// Settings for the system under test (YAML: target, vars, headers, secrets...)
    #[arg(long, value_name = "FILE", env = "CDEX_HARNESS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Set a scenario variable (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Send a header with every request, e.g. 'Authorization: Bearer X' (repeatable; redacted)
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Limit for each request and each wait, e.g. 10s, 500ms [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Folder for report.html, junit.xml and results.json [default: reports/latest; with
    /// --resume or --rerun-failed, the earlier run's folder]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Go on from an earlier run of the same pack, actor, system, options and rules (its
    /// --out folder, or its results.json): the scenarios that passed, warned or did not
    /// apply are carried over, the others run again
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Rerun only the scenarios that failed or errored in an earlier, finished run of the same
    /// pack, actor, system, options and rules (its --out folder, or its results.json); the
    /// others are carried over as they were
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "resume")]
    pub rerun_failed: Option<PathBuf>,
    /// With --resume or --rerun-failed: carry over even from a run of another setup (pack,
    /// actor, system under test, options, rules, --strict); the differences are written in
    /// the report's notes
    #[arg(long)]
    pub force: bool,
    /// Bodies longer than this are written to OUT/bodies/ and shown by size, SHA-256 and a
    /// short preview instead of inline (the harness's endpoint also streams them there as
    /// they arrive), e.g. 256KiB, 1MB, 1048576 [default: 256KiB]
    #[arg(long, value_name = "SIZE")]
    pub max_inline_body: Option<String>,
    /// Write the JUnit XML here instead
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the HTML report here instead
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write the JSON results here instead
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Only scenarios whose id matches (substring, or `*` wildcards; `!PATTERN` excludes;
    /// repeatable)
    #[arg(long = "scenario", value_name = "PATTERN")]
    pub scenario: Vec<String>,
    /// Leave out the scenarios whose id matches (substring, or `*` wildcards; repeatable)
    #[arg(long = "skip", value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Run this many scenarios at once, each with its own endpoint and reference server;
    /// reports come in the pack's order whatever N. Against a real system, scenarios marked
    /// `serial: true` run alone and ones sharing a `locks:` name never overlap (see
    /// docs/scenarios.md); 1 runs them one after another [default: the number of CPUs]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Run only shard I of N (`--partition 2/4`): a scenario belongs to the shard its id's
    /// hash names, so adding a scenario never moves the others; the N shards together run
    /// every selected scenario once
    #[arg(long, value_name = "I/N", value_parser = parse_partition)]
    pub partition: Option<(u64, u64)>,
    /// Switch on a fault of a reference actor, ACTOR:FAULT (repeatable; see `list faults`)
    #[arg(long = "fault", value_name = "ACTOR:FAULT")]
    pub faults: Vec<String>,
    /// Trust this CA (PEM) when connecting to the server under test, besides the system's (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
    /// Present this certificate (PEM) to the server under test (mutual TLS); needs --client-key
    #[arg(long, value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert
    #[arg(long, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    #[command(flatten)]
    pub endpoint_tls: EndpointTlsArgs,
    #[command(flatten)]
    pub smart: SmartArgs,
    /// Show every exchange in the console
    #[arg(short, long)]
    pub verbose: bool,
    /// Enforce the harness's readings as their verb says: a failed check of a requirement
    /// whose basis is `reading` fails the run instead of warning (see docs/requirements.md)
    #[arg(long)]
    pub strict: bool,
    /// The rule set to judge by, for a pack whose catalog has several (`cdex-2.1`: `2.1.0`,
    /// the published text, by default; `ci-build` adds the statements that are new or stronger
    /// in the build after it). A requirement of a later rule set only warns.
    #[arg(long, value_name = "RULES")]
    pub rules: Option<String>,
    /// Run the pack's clocks this many times faster: a Task timeline's delays and the polling
    /// schedule (CONF-062: 1 minute, then every 5) are divided by it, so CI can run them in
    /// seconds; the client under test gets it as CDEX_VAR_TIME_SCALE [default: 1]
    #[arg(long, value_name = "FACTOR")]
    pub time_scale: Option<f64>,
    /// A CA certificate (PEM or DER file) a signer's x5c chain may end at, for the
    /// `signature:` checks (repeatable; also config `trust_anchors:`). Against the reference
    /// actors the harness's own signing CA is trusted too; it is written to
    /// OUT/harness-signing-ca.pem for a system under test to trust
    #[arg(long = "trust-anchor", value_name = "PEM")]
    pub trust_anchor: Vec<PathBuf>,
    /// Run FHIR R4 TestScripts (a JSON or XML file, or a folder of them) instead of a pack's
    /// scenarios, on the same runner and reports (see docs/testscript.md)
    #[arg(long, value_name = "FILE|DIR")]
    pub testscript: Option<PathBuf>,
    /// With --testscript: write one FHIR TestReport per script (a folder, or a .json file
    /// for a single script)
    #[arg(long, value_name = "PATH", requires = "testscript")]
    pub testreport: Option<PathBuf>,
    /// With --testscript: run a script's supported actions and report the others skipped,
    /// instead of refusing the script
    #[arg(long, requires = "testscript")]
    pub skip_unsupported: bool,
}

/// `I/N` with 1 <= I <= N.
fn parse_partition(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{text}`: write the shard as I/N, 1 <= I <= N (e.g. 2/4)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Whether the scenario `id` is in shard `i` of `n`: FNV-1a (64-bit) of the id, modulo `n`.
/// Written out (a few lines) because the standard library's hasher is not stable across
/// releases, and the shard of a scenario must not change with the toolchain.
pub fn in_partition(id: &str, i: u64, n: u64) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % n == i - 1
}

/// A refusal before anything runs: the whole message, as printed (exit 2).
fn usage<T>(msg: impl std::fmt::Display) -> Result<T, String> {
    Err(format!("error: {msg}"))
}

/// The options claimed: `--option` (repeatable, `all`), else the config file's `options:`,
/// else none for a real system and all for the reference actors.
fn claimed_options(
    given: &[String],
    from_config: &[String],
    catalog: &crate::catalog::Catalog,
    external: bool,
) -> Result<runner::Options, String> {
    let given = if given.is_empty() { from_config } else { given };
    if given.is_empty() {
        return Ok(if external {
            runner::Options::Only(Default::default())
        } else {
            runner::Options::All
        });
    }
    let mut set = std::collections::BTreeSet::new();
    for o in given.iter().flat_map(|o| o.split(',')).map(str::trim) {
        if o == "all" {
            return Ok(runner::Options::All);
        }
        if o == "none" {
            continue;
        }
        if !catalog.options.contains_key(o) {
            let known = catalog
                .options
                .keys()
                .map(String::as_str)
                .chain(["all", "none"]);
            return Err(format!(
                "--option: {}",
                crate::suggest::unknown("option", "options", o, known)
            ));
        }
        set.insert(o.to_string());
    }
    Ok(runner::Options::Only(set))
}

/// `NAME=VALUE`
pub fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("--var `{s}` should be NAME=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("--var `{s}` has no name"));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

/// `Name: value`
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| "--header should be 'Name: value'".to_string())?;
    if k.trim().is_empty() || k.contains(char::is_whitespace) {
        return Err("--header has no valid name; write 'Name: value'".to_string());
    }
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// The headers of a run: the config file's, then each `--header` (a later one of the same
/// name wins when the request is built).
pub fn run_headers(
    from_config: &std::collections::BTreeMap<String, String>,
    given: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut headers: Vec<(String, String)> = from_config.clone().into_iter().collect();
    for h in given {
        headers.push(parse_header(h)?);
    }
    Ok(headers)
}

/// A run made ready from the command line and the config file: the pack, the scenarios to
/// run, the runner's settings and where the reports go. `run` and the web console (`serve`)
/// both start runs from it, so a run means the same thing in both.
pub struct Prepared {
    pub catalog: crate::catalog::Catalog,
    pub pack: Pack,
    /// The scenarios to run (those carried over from an earlier run included), as indexes
    /// into `pack.scenarios`, in order.
    pub to_run: Vec<usize>,
    pub cfg: RunConfig,
    pub paths: ReportPaths,
    /// What the run is a run of (written into its results).
    pub setup: RunSetup,
    /// What resuming (or rerunning what failed) noted, for the results' notes.
    pub notes: Vec<String>,
    /// The run's folder.
    pub out_dir: PathBuf,
}

impl Prepared {
    /// The scenarios to run.
    pub fn scenarios(&self) -> Vec<&Scenario> {
        self.to_run
            .iter()
            .map(|&i| &self.pack.scenarios[i])
            .collect()
    }

    /// What the runner does not know about the run, added to its results: its setup, and
    /// what resuming it noted.
    pub fn decorate(&self, r: &mut crate::results::RunResults) {
        r.setup = Some(self.setup.clone());
        r.notes.extend(self.notes.iter().cloned());
    }

    /// The run's checkpoints (its results.json, rewritten as scenarios end, for `--resume`
    /// after a crash): tell it [`Checkpointer::started`] and [`Checkpointer::scenario_done`],
    /// and [`Checkpointer::finish`] before the final reports.
    pub fn checkpoints(&self) -> Arc<Checkpointer> {
        let setup = self.setup.clone();
        let notes = self.notes.clone();
        Arc::new(Checkpointer::start(checkpoint::Plan {
            catalog: self.catalog.clone(),
            pending: self
                .scenarios()
                .iter()
                .map(|s| match self.cfg.carried.get(&s.id) {
                    Some(r) => r.clone(),
                    None => {
                        runner::scenario::not_run(s, "not reached when this checkpoint was written")
                    }
                })
                .collect(),
            // The checkpoint is results.json alone: what --resume reads, and cheap to write (the
            // HTML page of a large run takes ten times longer); the run's end writes them all.
            paths: ReportPaths {
                json: self.paths.json.clone(),
                ..ReportPaths::default()
            },
            finish: Box::new(move |r: &mut crate::results::RunResults| {
                r.setup = Some(setup.clone());
                r.notes.extend(notes.iter().cloned());
            }),
        }))
    }
}

/// Turn the command line (`args`, into which the config file's settings are merged: the
/// command line wins) and the config file into a run ready to start. `config_dir` is the
/// config file's folder (its `trust_anchors:` are relative to it); `tell` gets the warnings
/// and notices as they come. `Err` is the whole refusal, as printed (exit 2).
pub async fn prepare(
    args: &mut RunArgs,
    cfg_file: &config::Config,
    config_dir: Option<&std::path::Path>,
    tell: &(dyn Fn(String) + Sync),
) -> Result<Prepared, String> {
    // The command line wins over the config file.
    args.actor = args.actor.take().or(cfg_file.actor.clone());
    args.target = args.target.take().or(cfg_file.target.clone());
    args.listen = args.listen.take().or(cfg_file.listen.clone());
    args.trigger = args.trigger.take().or(cfg_file.trigger.clone());
    args.timeout = args.timeout.take().or(cfg_file.timeout.clone());
    if args.pack.scenarios.is_none() {
        args.pack.scenarios = cfg_file.scenarios.as_ref().map(PathBuf::from);
    }
    args.pack.pack = args.pack.pack.take().or(cfg_file.pack.clone());
    args.rules = args.rules.take().or(cfg_file.rules.clone());
    args.time_scale = args.time_scale.or(cfg_file.time_scale);
    let mut vars: BTreeMap<String, String> = cfg_file.vars.clone();
    for v in &args.vars {
        match parse_var(v) {
            Ok((k, v)) => {
                vars.insert(k, v);
            }
            Err(e) => return usage(e),
        }
    }
    let headers = match run_headers(&cfg_file.headers, &args.headers) {
        Ok(h) => h,
        Err(e) => return usage(e),
    };
    let timeout = match args
        .timeout
        .as_deref()
        .map(crate::scenario::load::parse_duration)
    {
        Some(Ok(d)) => d,
        Some(Err(e)) => return usage(format!("--timeout: {e}")),
        None => std::time::Duration::from_secs(10),
    };
    let listen: SocketAddr = match args.listen.as_deref().unwrap_or("127.0.0.1:0").parse() {
        Ok(a) => a,
        Err(e) => return usage(format!("--listen: {e} (write e.g. 127.0.0.1:8090)")),
    };
    if !listen.ip().is_loopback() {
        tell(format!(
            "warning: the harness's endpoint will listen on {listen}, reachable from other machines, not just this one"
        ));
    }
    if let Some(t) = &args.target
        && !(t.starts_with("http://") || t.starts_with("https://"))
    {
        return usage(format!("--target `{t}` must be an http:// or https:// URL"));
    }
    let external = args.target.is_some() || args.listen.is_some() || args.trigger.is_some();
    if external && !args.faults.is_empty() {
        return usage(
            "--fault applies to the built-in reference actors only (no --target, --listen or --trigger)",
        );
    }
    let sut = if external {
        Sut::External {
            target: args.target.clone(),
            trigger: args.trigger.clone(),
        }
    } else {
        match Faults::parse(&args.faults) {
            Ok(f) => Sut::Reference(f),
            Err(e) => return usage(e),
        }
    };

    let (catalog, pack) = super::try_load(&args.pack, vars.keys().cloned().collect())?;
    if let Some(a) = &args.actor
        && !catalog.actors.contains_key(a)
    {
        return usage(crate::suggest::unknown(
            "actor",
            "actors",
            a,
            catalog.actors.keys().map(String::as_str),
        ));
    }
    let options = match claimed_options(&args.options, &cfg_file.options, &catalog, external) {
        Ok(o) => o,
        Err(e) => return usage(e),
    };
    if let (Some(t), None) = (&args.target, &args.actor) {
        let servers: Vec<&str> = catalog
            .actors
            .iter()
            .filter(|(_, a)| a.role == crate::catalog::Role::Server)
            .map(|(n, _)| n.as_str())
            .collect();
        return usage(format!(
            "--target {t} names a server under test: say which actor it is with --actor ({}), or `actor:` in --config",
            servers.join(", ")
        ));
    }
    let mut patterns = args.scenario.clone();
    patterns.extend(args.skip.iter().map(|p| format!("!{p}")));
    let selected = runner::select(&pack, args.actor.as_deref(), &patterns);
    if selected.is_empty() {
        return usage(no_match(&pack, args.actor.as_deref(), &patterns));
    }
    warn_unused_vars(&args.vars, &pack, &selected, tell);
    let selected: Vec<&Scenario> = match args.partition {
        Some((i, n)) => {
            let shard: Vec<&Scenario> = selected
                .into_iter()
                .filter(|s| in_partition(&s.id, i, n))
                .collect();
            tell(format!(
                "cdex-harness: partition {i}/{n}: {} scenario(s) of this shard",
                shard.len()
            ));
            shard
        }
        None => selected,
    };

    let mut cfg = RunConfig::new(sut);
    cfg.jobs = (args.jobs.map(usize::from).or(cfg_file.jobs))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    cfg.options = options;
    if args.timeout.is_some() {
        // The person testing by hand gets what they asked for.
        cfg.manual_timeout = timeout;
    }
    cfg.listen = listen;
    cfg.timeout = timeout;
    cfg.vars = vars;
    cfg.headers = headers;
    cfg.secret_names = cfg_file.secrets.clone();
    cfg.strict = args.strict || cfg_file.strict;
    cfg.rules = match catalog.rules_in_force(args.rules.as_deref()) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let mut anchor_files = args.trust_anchor.clone();
    if let Some(dir) = config_dir {
        anchor_files.extend(cfg_file.trust_anchors.iter().map(|f| dir.join(f)));
    }
    for path in &anchor_files {
        let loaded = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::fhir::signature::pki::certificates_from_pem(&b));
        match loaded {
            Ok(certs) => cfg.trust_anchors.extend(certs),
            Err(e) => return usage(format!("--trust-anchor {}: {e}", path.display())),
        }
    }
    cfg.time_scale = match args.time_scale {
        // The reference actors keep any pace: a minute of the pack's clocks is 100 ms.
        None if matches!(cfg.sut, Sut::Reference(_)) => runner::REFERENCE_TIME_SCALE,
        None => 1.0,
        Some(f) if f.is_finite() && f > 0.0 => f,
        Some(f) => return usage(format!("--time-scale {f}: give a positive factor, e.g. 60")),
    };
    let setup = RunSetup {
        pack: args.pack.recorded_name(),
        actor: args.actor.clone(),
        sut: match &cfg.sut {
            Sut::Reference(_) => "reference".to_string(),
            Sut::External {
                target: Some(t), ..
            } => t.clone(),
            Sut::External { target: None, .. } => "client".to_string(),
        },
        rules: cfg.rules.clone(),
        strict: cfg.strict,
        partition: args.partition.map(|(i, n)| format!("{i}/{n}")),
    };
    let mut resume_notes = Vec::new();
    let mut to_run = selected.clone();
    let mut resumed_dir = None;
    if args.force && args.resume.is_none() && args.rerun_failed.is_none() {
        return usage("--force goes with --resume or --rerun-failed");
    }
    let earlier_run = match (&args.resume, &args.rerun_failed) {
        (Some(p), _) => Some((p, resume::Mode::Resume)),
        (None, Some(p)) => Some((p, resume::Mode::RerunFailed)),
        (None, None) => None,
    };
    if let Some((path, mode)) = earlier_run {
        let flag = mode.flag();
        let earlier = match resume::read_for(path, mode) {
            Ok(e) => e,
            Err(e) => return usage(e),
        };
        if let Some(why) = resume::refusal(&earlier, mode) {
            return usage(why);
        }
        let differences =
            resume::differences(&earlier.results, &setup, &cfg.options.names(&catalog));
        if !differences.is_empty() && !args.force {
            let mut msg = format!(
                "{flag}: {} is not a run of the same thing, so its verdicts cannot be carried over:",
                earlier.file.display()
            );
            for d in &differences {
                msg.push_str(&format!("\n  - {d}"));
            }
            msg.push_str(&format!(
                "\n  hint: repeat the earlier run's options, or run afresh without {flag}; --force carries its results over anyway (the differences go into the report's notes)"
            ));
            return usage(msg);
        }
        if !differences.is_empty() {
            resume_notes.push(format!(
                "{} with --force from a run of another setup: {}",
                match mode {
                    resume::Mode::Resume => "resumed",
                    resume::Mode::RerunFailed => "reran the failed scenarios",
                },
                differences.join("; ")
            ));
        }
        let plan = resume::plan_for(&earlier.results, &pack, &selected, &cfg.options, mode);
        to_run = plan
            .scenarios
            .iter()
            .filter_map(|id| pack.scenarios.iter().find(|s| &s.id == id))
            .collect();
        resume_notes.splice(0..0, plan.notes);
        cfg.carried = plan.carried;
        resumed_dir = Some(earlier.dir);
    }
    let out_dir = args
        .out
        .clone()
        .or(resumed_dir)
        .unwrap_or_else(|| PathBuf::from("reports/latest"));
    // The CA of the harness's own signatures (a system under test that verifies what the
    // harness signs trusts it); made fresh in each run. A folder that cannot be written is
    // reported when the reports are written.
    let signing_ca = out_dir.join("harness-signing-ca.pem");
    let _ = std::fs::create_dir_all(&out_dir).and_then(|_| {
        std::fs::write(
            &signing_ca,
            crate::fhir::signature::TestPki::shared().ca_pem(),
        )
    });
    let max_inline = match args.max_inline_body.as_deref() {
        None => crate::http::bodies::DEFAULT_MAX_INLINE,
        Some(s) => match crate::http::grow::parse_size(s) {
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Err(e) => return usage(format!("--max-inline-body: {e}")),
        },
    };
    cfg.bodies = Some(crate::http::bodies::BodyStore::new(
        out_dir.join("bodies"),
        max_inline,
    ));
    cfg.public_url = args.public_url.clone().or(cfg_file.public_url.clone());
    cfg.client_tls = crate::http::tls::ClientTls {
        ca_files: args.ca_certs.clone(),
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
    };
    let client = match cfg.client_tls.client() {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if let Some(smart) = args.smart.backend() {
        match crate::http::smart::fetch_token(&smart, &client, cfg.timeout).await {
            Ok(token) => {
                tell(format!(
                    "SMART: got an access token from {}{}",
                    smart.token_url,
                    token
                        .expires_in
                        .map(|s| format!(" (expires in {s} s)"))
                        .unwrap_or_default()
                ));
                cfg.secrets.push(token.assertion.clone());
                cfg.headers
                    .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
                cfg.headers.push((
                    "Authorization".into(),
                    format!("Bearer {}", token.access_token),
                ));
            }
            Err(e) => return usage(e),
        }
    }
    match server_tls(&args.endpoint_tls) {
        Ok(Some(tls)) => {
            if let Some(pem) = &tls.generated_ca_pem {
                let ca_file = out_dir.join("harness-ca.pem");
                let written = std::fs::create_dir_all(&out_dir)
                    .and_then(|_| std::fs::write(&ca_file, pem))
                    .map_err(|e| format!("cannot write {}: {e}", ca_file.display()));
                if let Err(e) = written {
                    return usage(e);
                }
                // The built-in reference clients trust it too.
                if let Err(e) = crate::http::client::HttpClient::trust_in_shared(pem.as_bytes()) {
                    return usage(e);
                }
                tell(format!(
                    "the harness's endpoint serves https; its CA is in {} (trigger commands get CDEX_HARNESS_CA)",
                    ca_file.display()
                ));
                cfg.server_ca_file = Some(ca_file);
            }
            cfg.server_tls = Some(tls);
        }
        Ok(None) => {}
        Err(e) => return usage(e),
    }
    let paths = ReportPaths::in_dir(
        &out_dir,
        args.html.clone(),
        args.junit.clone(),
        args.json.clone(),
    );
    let index: std::collections::HashMap<&str, usize> = pack
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let to_run = to_run.iter().map(|s| index[s.id.as_str()]).collect();
    Ok(Prepared {
        catalog,
        pack,
        to_run,
        cfg,
        paths,
        setup,
        notes: resume_notes,
        out_dir,
    })
}

pub async fn run(mut args: RunArgs) -> i32 {
    if args.testscript.is_some() {
        return crate::testscript::cli::run(args).await;
    }
    let cfg_file = match &args.config {
        Some(p) => match config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        },
        None => config::Config::default(),
    };
    let config_dir = args.config.as_ref().map(|p| {
        p.parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    });
    let tell = |m: String| eprintln!("{m}");
    let prepared = match prepare(&mut args, &cfg_file, config_dir.as_deref(), &tell).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_USAGE;
        }
    };
    let checkpoints = prepared.checkpoints();
    let Prepared {
        catalog,
        pack,
        to_run,
        mut cfg,
        paths,
        setup,
        notes: resume_notes,
        ..
    } = prepared;
    let to_run: Vec<&Scenario> = to_run.iter().map(|&i| &pack.scenarios[i]).collect();
    let verbose = args.verbose;
    let total = to_run.len();
    // What the runner does not know about the run: its setup, and what resuming it noted.
    let decorate = move |r: &mut crate::results::RunResults| {
        r.setup = Some(setup.clone());
        r.notes.extend(resume_notes.iter().cloned());
    };
    let live = crate::report::live::Live::start(total);
    let on_done = live.clone();
    let cp = checkpoints.clone();
    cfg.on_scenario = Some(Arc::new(move |s| {
        on_done.scenario_done(s);
        cp.scenario_done(s);
    }));
    let cp = checkpoints.clone();
    cfg.on_progress = Some(Arc::new(move |p| {
        if let runner::progress::Progress::RunStarted(h) = &p {
            cp.started(h);
        }
        live.progress(p)
    }));

    let (cancel_tx, cancel_rx) = runner::cancel_pair();
    tokio::spawn(async move {
        interrupted().await;
        eprintln!(
            "\ninterrupted: finishing the current exchange and writing the reports (again to quit at once)"
        );
        let _ = cancel_tx.send(true);
        interrupted().await;
        std::process::exit(130);
    });

    let carried = cfg.carried.len();
    if args.rerun_failed.is_some() {
        eprintln!(
            "cdex-harness: rerunning what failed: {carried} of {total} scenario(s) carried over, {} to run against {}",
            total - carried,
            describe(&cfg.sut)
        );
    } else if carried > 0 || args.resume.is_some() {
        eprintln!(
            "cdex-harness: resuming: {carried} of {total} scenario(s) carried over, {} to run against {}",
            total - carried,
            describe(&cfg.sut)
        );
    } else {
        eprintln!(
            "cdex-harness: running {total} scenario(s) against {}",
            describe(&cfg.sut)
        );
    }
    let mut results = runner::run(&pack, &to_run, &catalog, &cfg, cancel_rx).await;
    // No checkpoint is written from here on: the final reports replace the last one.
    checkpoints.finish();
    decorate(&mut results);
    eprintln!();
    if let Err(e) = report::console::print(&results, verbose) {
        eprintln!("warning: the console summary could not be printed: {e}");
    }

    match report::write_all(&results, &paths) {
        Ok(written) => {
            for p in written {
                eprintln!("wrote {}", p.display());
            }
        }
        Err(e) => {
            eprintln!("error: the reports could not be written: {e:#}");
            return super::EXIT_IO;
        }
    }
    if results.interrupted {
        return super::EXIT_INTERRUPTED;
    }
    results.exit_code()
}

/// Why a selection is empty: a pattern that matches no scenario (with the closest id), or
/// patterns that exclude everything.
fn no_match(pack: &Pack, actor: Option<&str>, patterns: &[String]) -> String {
    let ids = runner::select(pack, actor, &[]);
    let ids: Vec<&str> = ids.iter().map(|s| s.id.as_str()).collect();
    let of = actor.map(|a| format!(" of {a}")).unwrap_or_default();
    if ids.is_empty() {
        return format!("the pack has no scenario{of} (see `cdex-harness list scenarios`)");
    }
    for p in patterns.iter().filter(|p| !p.starts_with('!')) {
        if !ids.iter().any(|id| runner::wildcard(p, id)) {
            let guess = crate::suggest::did_you_mean(p, ids.iter().copied())
                .map(|d| format!("; {d}"))
                .unwrap_or_default();
            return format!(
                "--scenario `{p}` matches no scenario{of}{guess} (see `cdex-harness list scenarios`)"
            );
        }
    }
    format!(
        "no scenario{of} is left once the exclusions (`!PATTERN`, --skip) are applied (see `cdex-harness list scenarios`)"
    )
}

/// `--var nonsense=1`: say so when no selected scenario, pack variable, pack header or
/// reference setting uses a variable given on the command line (a typo otherwise passes
/// silently). A warning only: a trigger command still gets it as `CDEX_VAR_...`.
fn warn_unused_vars(
    given: &[String],
    pack: &Pack,
    selected: &[&Scenario],
    tell: &(dyn Fn(String) + Sync),
) {
    let used = used_vars(pack, selected);
    for item in given {
        let Ok((name, _)) = parse_var(item) else {
            continue;
        };
        if used.contains(&name) {
            continue;
        }
        let guess = crate::suggest::did_you_mean(&name, used.iter().map(String::as_str))
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        tell(format!(
            "warning: --var {name}: no selected scenario uses this variable{guess}; a trigger command still gets it as CDEX_VAR_{}",
            crate::runner::trigger::env_name(&name)
        ));
    }
}

/// Every variable the selected scenarios and the pack declare or refer to.
fn used_vars(pack: &Pack, selected: &[&Scenario]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = pack.vars.keys().cloned().collect();
    let mut texts: Vec<&str> = pack.vars.values().map(String::as_str).collect();
    texts.extend(pack.headers.values().map(String::as_str));
    let mut json: Vec<&serde_json::Value> = pack.reference.values().collect();
    for s in selected {
        names.extend(s.vars.keys().cloned());
        texts.extend(s.vars.values().map(String::as_str));
        for step in &s.steps {
            let mut asserts: Vec<&Assertion> = step.asserts.iter().collect();
            match &step.kind {
                StepKind::Send(r) => request_texts(r, &mut texts, &mut json),
                StepKind::Poll(p) => {
                    request_texts(&p.request, &mut texts, &mut json);
                    asserts.extend(&p.until);
                    texts.extend(p.prompt.as_deref());
                }
                StepKind::Timeline(t) => json.push(&t.script),
                StepKind::Checks => {}
                StepKind::Expect(e) => {
                    texts.extend(e.with.values().map(String::as_str));
                    texts.extend(e.path.as_deref());
                    e.payload
                        .iter()
                        .for_each(|b| body_texts(b, &mut texts, &mut json));
                }
                StepKind::Serve(bodies) => {
                    bodies
                        .iter()
                        .for_each(|b| body_texts(b, &mut texts, &mut json));
                }
            }
            if let Some(r) = &step.respond {
                texts.extend(r.headers.iter().map(|(_, v)| v.as_str()));
                r.body
                    .iter()
                    .for_each(|b| body_texts(b, &mut texts, &mut json));
            }
            for a in asserts {
                match &a.kind {
                    AssertKind::Header { check, .. } => match check {
                        TextCheck::Equals(t) | TextCheck::Contains(t) | TextCheck::Matches(t) => {
                            texts.push(t)
                        }
                        TextCheck::Present | TextCheck::Absent => {}
                    },
                    AssertKind::FhirPath(t) | AssertKind::Path(t) => texts.push(t),
                    AssertKind::TaskStates { id, .. } => texts.push(id),
                    AssertKind::PollSchedule(ps) => texts.push(&ps.path),
                    _ => {}
                }
            }
        }
    }
    let mut found = Vec::new();
    for t in texts {
        found.extend(referenced(t));
    }
    for v in json {
        referenced_in_json(v, &mut found);
    }
    names.extend(found);
    names
}

fn request_texts<'a>(
    r: &'a Request,
    texts: &mut Vec<&'a str>,
    json: &mut Vec<&'a serde_json::Value>,
) {
    texts.push(&r.path);
    texts.extend(r.headers.iter().map(|(_, v)| v.as_str()));
    r.body.iter().for_each(|b| body_texts(b, texts, json));
}

fn body_texts<'a>(b: &'a Body, texts: &mut Vec<&'a str>, json: &mut Vec<&'a serde_json::Value>) {
    match b {
        Body::Json(v) => json.push(v),
        Body::Text(t) => texts.push(t),
    }
}

/// SMART Backend Services: the harness gets its bearer token itself.
#[derive(Args, Debug, Clone, Default)]
pub struct SmartArgs {
    /// Get a bearer token from this SMART token endpoint (client_credentials, JWT assertion)
    #[arg(long, value_name = "URL", requires_all = ["smart_client_id", "smart_key"])]
    pub smart_token_url: Option<String>,
    /// The harness's registered client id
    #[arg(long, value_name = "ID")]
    pub smart_client_id: Option<String>,
    /// The private key (PKCS#8 PEM) whose public half the server knows
    #[arg(long, value_name = "FILE")]
    pub smart_key: Option<PathBuf>,
    /// Signature algorithm of the assertion: RS384 or ES384
    #[arg(long, value_name = "ALG", default_value = "RS384")]
    pub smart_alg: String,
    /// Scopes to ask for
    #[arg(
        long,
        value_name = "SCOPES",
        default_value = "system/*.read system/*.write"
    )]
    pub smart_scope: String,
    /// Key id (kid) of the key in the client's JWKS
    #[arg(long, value_name = "KID")]
    pub smart_kid: Option<String>,
}

impl SmartArgs {
    pub fn backend(&self) -> Option<crate::http::smart::SmartBackend> {
        Some(crate::http::smart::SmartBackend {
            token_url: self.smart_token_url.clone()?,
            client_id: self.smart_client_id.clone()?,
            key_file: self.smart_key.clone()?,
            alg: self.smart_alg.clone(),
            scope: self.smart_scope.clone(),
            kid: self.smart_kid.clone(),
        })
    }
}

/// TLS of the harness's own endpoint (for `run` and `simulate`).
#[derive(Args, Debug, Clone, Default)]
pub struct EndpointTlsArgs {
    /// Serve the harness's endpoint over https with this certificate chain (PEM); needs --tls-key
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve the harness's endpoint over https with a certificate generated now; its CA is
    /// written out (OUT/harness-ca.pem for `run`) for the peer to trust
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
    /// Require client certificates signed by this CA (PEM) at the harness's endpoint
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
}

/// The endpoint's TLS from the command line, if asked for.
pub fn server_tls(args: &EndpointTlsArgs) -> Result<Option<crate::mock::tls::ServerTls>, String> {
    let client_ca = args.tls_client_ca.as_deref();
    match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (Some(c), Some(k), false) => crate::mock::tls::from_files(c, k, client_ca).map(Some),
        (None, None, true) => crate::mock::tls::self_signed(&[], client_ca).map(Some),
        (None, None, false) if client_ca.is_some() => {
            Err("--tls-client-ca needs --tls-cert/--tls-key or --tls-self-signed".into())
        }
        (None, None, false) => Ok(None),
        _ => Err("--tls-cert and --tls-key go together".into()),
    }
}

fn describe(sut: &Sut) -> String {
    match sut {
        Sut::Reference(f) if f.is_empty() => "the built-in reference actors".into(),
        Sut::Reference(_) => "the built-in reference actors, with faults".into(),
        Sut::External {
            target: Some(t), ..
        } => t.clone(),
        Sut::External {
            target: None,
            trigger: Some(_),
        } => "a client under test (driven by --trigger)".into(),
        Sut::External {
            target: None,
            trigger: None,
        } => "a client under test (driven by hand)".into(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
