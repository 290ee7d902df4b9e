//! Any text as a scenario file: the loader must answer with a scenario or diagnostics, never
//! panic or hang.
#![no_main]

use cdex_harness::catalog::Catalog;
use cdex_harness::scenario::load::check_scenario_text;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn setup() -> &'static (Catalog, PathBuf) {
    static SETUP: OnceLock<(Catalog, PathBuf)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let catalog = Catalog::load(&root.join("catalog")).expect("the catalog loads");
        (catalog, root.join("scenarios"))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let (catalog, pack) = setup();
        let file = pack.join("information-server/fuzzed.yaml");
        let _ = check_scenario_text(pack, &file, text, catalog);
    }
});
