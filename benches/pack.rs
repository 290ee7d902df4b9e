//! Whole-pack benchmark: `cargo bench --bench pack` (add `-- --iterations N` to change the
//! count). Runs every scenario against the built-in reference actors in one process and
//! reports the whole-pack time and the harness's own overhead per exchange: the time spent
//! outside the HTTP exchanges themselves (loading nothing, since the pack is loaded once;
//! rendering, capturing, asserting, waiting, bookkeeping), divided by the exchange count.

use cdex_harness::catalog::Catalog;
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
    let mut overheads = Vec::new();
    let mut exchanges = 0usize;
    for _ in 0..iterations {
        let (_tx, rx) = runner::cancel_pair();
        let start = Instant::now();
        let r = rt.block_on(runner::run(&pack, &selected, &catalog, &cfg, rx));
        let total = start.elapsed().as_secs_f64() * 1000.0;
        let xs: Vec<_> = r
            .scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .flat_map(|st| &st.exchanges)
            .collect();
        let wire: f64 = xs.iter().map(|x| x.duration_ms).sum();
        exchanges = xs.len();
        totals.push(total);
        overheads.push((total - wire).max(0.0) / xs.len().max(1) as f64);
    }
    totals.sort_by(f64::total_cmp);
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
        "  harness overhead/exchange:  {:.3} ms median (min {:.3})",
        median(&overheads),
        overheads[0]
    );
}
