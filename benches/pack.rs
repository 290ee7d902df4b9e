//! Whole-pack benchmark: `cargo bench --bench pack` (add `-- --iterations N` to change the
//! count). Runs every scenario against the built-in reference actors in one process and
//! reports the whole-pack time and the harness's own overhead per exchange.
//!
//! The overhead is the time the harness spends on its own: the whole run, less the HTTP
//! exchanges of its `send`s and `serve`s, and less the steps that wait on purpose: an
//! `expect` waits for the client under test (here the reference client, or a notification
//! that must not come within its deadline), a `poll` sleeps between its requests, a
//! `timeline` watches the clock. What is left (rendering, capturing, asserting, starting each
//! scenario's actors, bookkeeping) is divided by the exchanges of the steps it covers.

use cdex_harness::catalog::Catalog;
use cdex_harness::results::StepResult;
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario;
use std::path::Path;
use std::time::Instant;

fn main() {
    let mut iterations = 30usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--iterations") {
        iterations = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(iterations);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let load_start = Instant::now();
    let catalog = Catalog::load(&root.join("catalog/cdex-2019")).expect("catalog");
    let pack = scenario::load_pack(
        &root.join("scenarios/cdex-2019"),
        &catalog,
        &Default::default(),
    )
    .expect("pack");
    let load_time = load_start.elapsed();
    let selected = runner::select(&pack, None, &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cfg = RunConfig::new(Sut::Reference(Default::default()));

    // Warm-up (first FHIRPath engine use, first connections).
    let (_tx, rx) = runner::cancel_pair();
    let warm = rt.block_on(runner::run(&pack, &selected, &catalog, &cfg, rx));
    assert_eq!(
        warm.exit_code(),
        0,
        "the pack must pass against the reference actors"
    );

    let mut totals = Vec::new();
    let mut waits = Vec::new();
    let mut overheads = Vec::new();
    let mut exchanges = 0usize;
    for _ in 0..iterations {
        let (_tx, rx) = runner::cancel_pair();
        let start = Instant::now();
        let r = rt.block_on(runner::run(&pack, &selected, &catalog, &cfg, rx));
        let total = start.elapsed().as_secs_f64() * 1000.0;
        let steps: Vec<&StepResult> = r.scenarios.iter().flat_map(|s| &s.steps).collect();
        exchanges = steps.iter().map(|st| st.exchanges.len()).sum();
        let (waiting, own): (Vec<&StepResult>, Vec<&StepResult>) = steps
            .into_iter()
            .partition(|st| matches!(st.kind.as_str(), "expect" | "poll" | "timeline"));
        let waited: f64 = waiting.iter().map(|st| st.duration_ms).sum();
        let wire: f64 = own
            .iter()
            .flat_map(|st| &st.exchanges)
            .map(|x| x.duration_ms)
            .sum();
        let counted: usize = own.iter().map(|st| st.exchanges.len()).sum();
        totals.push(total);
        waits.push(waited);
        overheads.push((total - waited - wire).max(0.0) / counted.max(1) as f64);
    }
    totals.sort_by(f64::total_cmp);
    waits.sort_by(f64::total_cmp);
    overheads.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    println!(
        "cdex-harness whole-pack benchmark ({iterations} iterations, debug={})",
        cfg!(debug_assertions)
    );
    println!(
        "  pack load and check:        {:.1} ms",
        load_time.as_secs_f64() * 1000.0
    );
    println!(
        "  scenarios: {}, exchanges per run: {exchanges}",
        selected.len()
    );
    println!(
        "  whole pack, median:         {:.1} ms (min {:.1}, max {:.1})",
        median(&totals),
        totals[0],
        totals[totals.len() - 1]
    );
    println!(
        "  of which waiting on purpose (expect, poll, timeline steps): {:.1} ms median",
        median(&waits)
    );
    println!(
        "  harness overhead/exchange:  {:.3} ms median (min {:.3}), waits left out",
        median(&overheads),
        overheads[0]
    );
}
