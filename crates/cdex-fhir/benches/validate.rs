//! Validation benchmark: `cargo bench -p cdex-fhir --bench validate` (add `-- --seconds N` to change the
//! time per group; with `-- --passes N --no-engine`, under `valgrind --tool=callgrind`,
//! count instructions instead, steady on a busy machine: `perf` has no counters on these
//! VMs). Validates CDex Tasks (the 2.1.0 examples, against the Task Data Request
//! and Task Attachment Request profiles) and Communications (against the 2019 draft's
//! cdex-communication) on one thread, already parsed, and reports resources per second for
//! each group and overall; then both again with the FHIRPath invariants (the fast subset,
//! the full engine for the rest, as validation runs), and the Tasks with every invariant
//! by the full engine, for comparison. Target: 20,000 resources/s on one core.

use cdex_fhir::validate::{Evaluator, Validator};
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const TDR: &str = "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-data-request";
const TAR: &str =
    "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-attachment-request";
const COMM: &str = "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-communication";

fn tasks() -> Vec<(Value, &'static str)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validation/examples");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/validation/examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cdex-task-example"))
        })
        .collect();
    files.sort();
    for f in files {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&f).expect("read")).expect("json");
        let code = v
            .pointer("/code/coding/0/code")
            .and_then(Value::as_str)
            .unwrap_or("");
        let profile = if code.starts_with("data-request") {
            TDR
        } else {
            TAR
        };
        out.push((v, profile));
    }
    out
}

/// Eight CDex Communications (`crates/cdex-fhir/benches/data/communications.json`, which
/// `tools/crosscheck/speed.py` reads too, so both measure the same set).
fn communications() -> Vec<(Value, &'static str)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data/communications.json");
    let list: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    list.into_iter().map(|c| (c, COMM)).collect()
}

/// `--passes N`: each measurement makes exactly N passes over its group instead of running
/// for a time: under callgrind, an instruction count that a busy shared machine does not
/// move (time on these machines varies 2x from one minute to the next).
static PASSES: OnceLock<Option<usize>> = OnceLock::new();

/// Whether a measurement that started at `start` and made `passes` passes goes on.
fn more(start: Instant, budget: Duration, passes: usize) -> bool {
    match PASSES.get().copied().flatten() {
        Some(n) => passes < n,
        None => start.elapsed() < budget,
    }
}

fn run(v: &Validator, group: &[(Value, &str)], budget: Duration) -> (usize, Duration) {
    let start = Instant::now();
    let mut n = 0usize;
    let mut passes = 0;
    while more(start, budget, passes) {
        passes += 1;
        for (r, p) in group {
            let issues = v.validate(r, Some(p));
            assert!(
                issues.iter().all(|i| !i.is_error()),
                "benchmark input must be valid: {issues:?}"
            );
            n += 1;
        }
    }
    (n, start.elapsed())
}

/// The overall rate, and where the Task time goes.
fn report_structure(v: &Validator, tasks: &[(Value, &str)], total_n: usize, total_t: Duration) {
    let rate = total_n as f64 / total_t.as_secs_f64();
    println!("overall: {rate:.0} resources/s on one thread (target 20000)");
    // Where the Task time goes: the slowest examples (large base64 attachments dominate).
    let mut per: Vec<(f64, usize, String)> = tasks
        .iter()
        .map(|(r, p)| {
            let start = Instant::now();
            for _ in 0..200 {
                std::hint::black_box(v.validate(r, Some(p)));
            }
            let us = start.elapsed().as_secs_f64() * 1e6 / 200.0;
            let size = r.to_string().len();
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            (us, size, id)
        })
        .collect();
    per.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (us, size, id) in per.iter().take(3) {
        println!("  slowest: {id} ({size} bytes): {us:.1} us");
    }
    let median = per[per.len() / 2].0;
    println!(
        "  median Task: {median:.1} us = {:.0} resources/s",
        1e6 / median
    );
}

fn main() {
    let mut seconds = 3u64;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--seconds") {
        seconds = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(seconds);
    }
    // `--invariants-only`: just the measurements with invariants (for profiling the
    // FHIRPath part); `--no-engine`: not those by the full engine.
    let invariants_only = args.iter().any(|a| a == "--invariants-only");
    let no_engine = args.iter().any(|a| a == "--no-engine");
    let passes = args
        .iter()
        .position(|a| a == "--passes")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    PASSES.set(passes).expect("set once");
    let load = Instant::now();
    let v = Validator::load_default().expect("validator data");
    println!("load: {:.1} ms", load.elapsed().as_secs_f64() * 1000.0);
    let groups = [("tasks", tasks()), ("communications", communications())];
    let (mut total_n, mut total_t) = (0usize, Duration::ZERO);
    for (name, group) in groups.iter().filter(|_| !invariants_only) {
        run(&v, group, Duration::from_millis(200)); // warm-up
        let (n, t) = run(&v, group, Duration::from_secs(seconds));
        println!(
            "{name}: {n} validated in {:.2} s = {:.0} resources/s ({} distinct)",
            t.as_secs_f64(),
            n as f64 / t.as_secs_f64(),
            group.len()
        );
        total_n += n;
        total_t += t;
    }
    if !invariants_only {
        report_structure(&v, &groups[0].1, total_n, total_t);
    }

    // With the FHIRPath invariants (cdex-*, tdr-*, and the base's own): as validation runs
    // (the fast subset, the full engine for the rest), then with the full engine for all.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (mut total_n, mut total_t) = (0usize, Duration::ZERO);
    for (name, group) in &groups {
        run_invariants(
            &rt,
            &v,
            group,
            Evaluator::Subset,
            Duration::from_millis(200),
        );
        let (n, t) = run_invariants(
            &rt,
            &v,
            group,
            Evaluator::Subset,
            Duration::from_secs(seconds),
        );
        println!(
            "{name} with invariants: {n} validated in {:.2} s = {:.0} resources/s",
            t.as_secs_f64(),
            n as f64 / t.as_secs_f64()
        );
        total_n += n;
        total_t += t;
    }
    println!(
        "overall with invariants: {:.0} resources/s on one thread (target 20000)",
        total_n as f64 / total_t.as_secs_f64()
    );
    let tasks = &groups[0].1;
    if no_engine {
        return;
    }
    let (n, t) = run_invariants(
        &rt,
        &v,
        tasks,
        Evaluator::Engine,
        Duration::from_secs(seconds),
    );
    println!(
        "tasks with every invariant by the full engine: {:.0} resources/s",
        n as f64 / t.as_secs_f64()
    );
    for evaluator in [Evaluator::Subset, Evaluator::Engine] {
        let mut per: Vec<(f64, String)> = rt.block_on(async {
            let mut per = Vec::new();
            for (r, p) in tasks {
                let start = Instant::now();
                for _ in 0..50 {
                    std::hint::black_box(
                        v.validate_with_invariants_by(r, Some(p), evaluator).await,
                    );
                }
                let id = r.get("id").and_then(Value::as_str).unwrap_or("?");
                per.push((start.elapsed().as_secs_f64() * 1e6 / 50.0, id.to_string()));
            }
            per
        });
        per.sort_by(|a, b| b.0.total_cmp(&a.0));
        let median = per[per.len() / 2].0;
        println!(
            "  {evaluator:?}: median Task with invariants {median:.1} us = {:.0} resources/s; slowest {} {:.1} us",
            1e6 / median,
            per[0].1,
            per[0].0
        );
    }
}

/// Validate `group` with invariants for `budget`, by `evaluator`.
fn run_invariants(
    rt: &tokio::runtime::Runtime,
    v: &Validator,
    group: &[(Value, &str)],
    evaluator: Evaluator,
    budget: Duration,
) -> (usize, Duration) {
    rt.block_on(async {
        let start = Instant::now();
        let mut n = 0usize;
        let mut passes = 0;
        while more(start, budget, passes) {
            passes += 1;
            for (r, p) in group {
                let issues = v.validate_with_invariants_by(r, Some(p), evaluator).await;
                assert!(issues.iter().all(|i| !i.is_error()), "{issues:?}");
                n += 1;
            }
        }
        (n, start.elapsed())
    })
}
