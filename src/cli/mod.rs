//! The command line: `run`, `list`, `requirements`, `simulate`, `check`.

pub mod act;
pub mod checkpoint;
pub mod config;
pub mod list;
pub mod merge;
pub mod resume;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod validate;
pub mod verify_signature;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Exit codes.
pub const EXIT_PASS: i32 = 0;
pub const EXIT_FAIL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
/// The reports could not be written (unwritable folder, full disk).
pub const EXIT_IO: i32 = 3;
/// The run was interrupted (Ctrl-C, SIGTERM); the reports hold what was done.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "cdex-harness",
    version,
    about = "Conformance test harness and simulator for the HL7 Da Vinci CDex FHIR guide"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios: against the built-in reference actors (no target), a server under test
    /// (--target), or a client under test (--listen, with --trigger or a person).
    Run(Box<run::RunArgs>),
    /// One set of reports (HTML, JUnit, JSON) from the results of the shards of a run
    /// (`run --partition I/N` on several machines), with the requirements matrix recomputed.
    Merge(merge::MergeArgs),
    /// List scenarios, actors, requirements, actions or faults.
    List(list::ListArgs),
    /// Show the requirement catalog and which assertions cover each requirement.
    Requirements(list::RequirementsArgs),
    /// Run a reference actor on its own, logging and validating every exchange live.
    Simulate(Box<simulate::SimulateArgs>),
    /// The web console: start runs, watch them live, past runs and their reports, compare
    /// two runs (loopback by default; elsewhere with a token).
    Serve(serve::ServeArgs),
    /// Check the scenario pack without running anything (exit 2 on problems).
    Check(list::CheckArgs),
    /// Perform one CDEX_ACTION as the reference client, from the trigger environment (an
    /// example adapter: `run --actor information-client --trigger "cdex-harness act"`).
    Act(act::ActArgs),
    /// Validate FHIR JSON resources against the R4 base and the CDex profiles (offline;
    /// exit 1 on errors).
    Validate(validate::ValidateArgs),
    /// Verify the digital signature of a Bundle or QuestionnaireResponse (JCS, detached JWS,
    /// x5c certificate); exit 0 verified, 1 not (the failing step named), 2 unreadable input.
    VerifySignature(verify_signature::VerifySignatureArgs),
    /// FHIR TestScripts: `check` what of a script the harness runs; `export` the scenarios
    /// where the harness is the client as TestScripts (run them with `run --testscript`)
    #[command(subcommand)]
    Testscript(crate::testscript::cli::TestscriptCommand),
}

/// The pack a run uses when none is named: the 2019 draft the seeds describe (see README,
/// "Packs").
pub const DEFAULT_PACK: &str = "cdex-2019";

/// Where the scenarios and the catalog are.
#[derive(Args, Debug, Clone, Default)]
pub struct PackArgs {
    /// The scenario pack: `cdex-2019` (the 2019 draft's actors) or `cdex-2.1` (CDex 2.1.0:
    /// Data Source / Data Consumer); its scenarios are `scenarios/PACK/`, its requirements
    /// `catalog/PACK/` [default: cdex-2019]
    #[arg(long, value_name = "PACK")]
    pub pack: Option<String>,
    /// Scenario folder, instead of the named pack's
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Requirement catalog (a folder of YAML files, or one file), instead of the named pack's
    #[arg(long, value_name = "PATH")]
    pub catalog: Option<PathBuf>,
}

impl PackArgs {
    /// The pack's name.
    pub fn pack_name(&self) -> &str {
        self.pack.as_deref().unwrap_or(DEFAULT_PACK)
    }

    /// `scenarios/PACK` (or `catalog/PACK`) in the current folder, else in the source tree
    /// this binary was built from.
    fn shipped(&self, top: &str) -> PathBuf {
        let local = PathBuf::from(top).join(self.pack_name());
        if local.is_dir() {
            return local;
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(top)
            .join(self.pack_name())
    }

    /// What a run's results record as its pack (`setup.pack`): the pack's name, or the
    /// folder given with `--scenarios` (absolute, so runs from other folders compare).
    pub fn recorded_name(&self) -> String {
        match &self.scenarios {
            Some(dir) => std::fs::canonicalize(dir)
                .unwrap_or_else(|_| dir.clone())
                .display()
                .to_string(),
            None => self.pack_name().to_string(),
        }
    }

    pub fn scenario_dir(&self) -> PathBuf {
        match &self.scenarios {
            Some(d) => d.clone(),
            None => self.shipped("scenarios"),
        }
    }

    pub fn catalog_path(&self) -> PathBuf {
        match &self.catalog {
            Some(c) => c.clone(),
            None => self.shipped("catalog"),
        }
    }

    /// The packs shipped with the harness (folders of `scenarios/`).
    pub fn known_packs() -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    }
}

/// Parse arguments and run; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    quiet_on_closed_stdout(&cli.command);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = request_threads(&cli.command) {
        builder.worker_threads(n);
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    match cli.command {
        Command::Run(args) => rt.block_on(run::run(*args)),
        Command::Merge(args) => merge::merge(args),
        Command::List(args) => list::list(args),
        Command::Requirements(args) => list::requirements(args),
        Command::Simulate(args) => rt.block_on(simulate::simulate(*args)),
        Command::Serve(args) => rt.block_on(serve::serve(args)),
        Command::Check(args) => list::check(args),
        Command::Act(args) => rt.block_on(act::act(args)),
        Command::Validate(args) => rt.block_on(validate::validate(args)),
        Command::VerifySignature(args) => verify_signature::verify_signature(args),
        Command::Testscript(c) => rt.block_on(crate::testscript::cli::command(c)),
    }
}

/// The runtime's threads for `simulate`: [`crate::simulator::answering_threads`]. Other
/// commands (and `TOKIO_WORKER_THREADS`, when set) keep tokio's default: one per core.
fn request_threads(command: &Command) -> Option<usize> {
    if !matches!(command, Command::Simulate(_))
        || std::env::var_os("TOKIO_WORKER_THREADS").is_some()
    {
        return None;
    }
    Some(crate::simulator::answering_threads())
}

/// `cdex-harness list | head -1`: when the reader of stdout goes away, stop quietly, as Unix
/// tools do, instead of panicking ("failed printing to stdout") with exit 101.
///
/// The commands that only print get the default SIGPIPE action back (Rust ignores it): the
/// process ends silently, exit status 141 in a shell. The commands that serve or call peers
/// (`run`, `simulate`, `act`) keep SIGPIPE ignored, since a peer closing its socket must not
/// kill the harness (hyper's vectored writes are not MSG_NOSIGNAL); for them a panic hook
/// turns the failed print into the same quiet exit. `merge` keeps it ignored too: it writes
/// its reports after printing the summary, whoever reads the summary.
fn quiet_on_closed_stdout(command: &Command) {
    #[cfg(unix)]
    if matches!(
        command,
        Command::List(_)
            | Command::Requirements(_)
            | Command::Check(_)
            | Command::Validate(_)
            | Command::VerifySignature(_)
    ) {
        // SAFETY: called at start-up, before any thread is spawned; SIG_DFL is a valid action.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    #[cfg(not(unix))]
    let _ = command;
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info)
    }));
}

/// Load the catalog and the pack, printing every problem; `None` means exit 2.
pub fn load(
    pack: &PackArgs,
    extra_vars: Vec<String>,
) -> Option<(crate::catalog::Catalog, crate::scenario::Pack)> {
    match try_load(pack, extra_vars) {
        Ok(loaded) => Some(loaded),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// Load the catalog and the pack; `Err` is every problem, as [`load`] prints them.
pub fn try_load(
    pack: &PackArgs,
    extra_vars: Vec<String>,
) -> Result<(crate::catalog::Catalog, crate::scenario::Pack), String> {
    if pack.scenarios.is_none() && pack.catalog.is_none() && !pack.scenario_dir().is_dir() {
        return Err(format!(
            "error: {}",
            crate::suggest::unknown(
                "pack",
                "packs",
                pack.pack_name(),
                PackArgs::known_packs().iter().map(String::as_str)
            )
        ));
    }
    let catalog_path = pack.catalog_path();
    let catalog = crate::catalog::Catalog::load(&catalog_path).map_err(|d| d.to_string())?;
    let opts = crate::scenario::load::LoadOptions { extra_vars };
    crate::scenario::load_pack(&pack.scenario_dir(), &catalog, &opts)
        .map(|p| (catalog, p))
        .map_err(|d| {
            format!(
                "{d}\n\n{} problem(s) in the scenario pack; nothing was run.",
                d.0.len()
            )
        })
}
