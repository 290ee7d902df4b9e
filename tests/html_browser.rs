//! The HTML report in a real browser: hostile text in every field the report shows (script
//! tags, attribute-breaking quotes, event handlers, SVG, bidi and zero-width characters) is
//! escaped, and the page runs no script. Needs Chromium (`.ci/run` installs Debian's); set
//! CDEX_SKIP_BROWSER=1 to skip on a machine without it.

use cdex_harness::catalog::Catalog;
use cdex_harness::report::html;
use cdex_harness::results::RunResults;
use cdex_harness::runner::{self, RunConfig, Sut};
use cdex_harness::scenario;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const PAYLOADS: &[&str] = &[
    "<script>document.body.setAttribute('data-pwned','script')</script>",
    "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "' onmouseover='document.body.setAttribute(\"data-pwned\",\"attr\")' x='",
    "</pre></td></table><svg onload=\"document.body.setAttribute('data-pwned','svg')\">",
    "<iframe srcdoc=\"<script>parent.document.body.setAttribute('data-pwned','iframe')</script>\">",
    "javascript:document.body.setAttribute('data-pwned','url')",
    "\u{202e}txt.exe\u{200b}\u{feff} {{handlebars}} ${template}",
];

/// Fields whose values are enumerations the model must keep valid.
const ENUMS: &[&str] = &["status", "severity", "direction", "basis"];

/// Every free-text string in the results becomes a hostile payload.
fn poison(v: &mut Value, key: Option<&str>, n: &mut usize) {
    match v {
        Value::String(s) if !key.is_some_and(|k| ENUMS.contains(&k)) => {
            *s = format!("{}{}", PAYLOADS[*n % PAYLOADS.len()], s);
            *n += 1;
        }
        Value::Array(items) => items.iter_mut().for_each(|i| poison(i, key, n)),
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                poison(val, Some(k.as_str()), n);
            }
        }
        _ => {}
    }
}

fn real_results() -> RunResults {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = Catalog::load(&root.join("catalog/cdex-2019")).unwrap();
    let pack = scenario::load_pack(
        &root.join("scenarios/cdex-2019"),
        &catalog,
        &Default::default(),
    )
    .unwrap();
    let faults =
        cdex_harness::actors::Faults::parse(&["information-server:lose-data".to_string()]).unwrap();
    let cfg = RunConfig::new(Sut::Reference(faults));
    let selected = runner::select(&pack, Some("information-server"), &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_tx, rx) = runner::cancel_pair();
    rt.block_on(runner::run(&pack, &selected, &catalog, &cfg, rx))
}

#[test]
fn hostile_text_in_every_field_runs_no_script_in_a_real_browser() {
    let mut value = serde_json::to_value(real_results()).unwrap();
    let mut n = 0;
    poison(&mut value, None, &mut n);
    assert!(n > 500, "poisoned {n} fields");
    let results: RunResults = serde_json::from_value(value).unwrap();
    let page = html::render(&results);

    assert!(
        !page.contains("<script"),
        "the page itself has no script element"
    );
    assert!(
        !page.contains("<img src=x"),
        "tags from the peer are escaped"
    );
    assert!(
        page.contains("default-src 'none'"),
        "a CSP forbids scripts even if escaping failed"
    );

    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.html");
    std::fs::write(&file, &page).unwrap();

    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        if std::env::var("CDEX_SKIP_BROWSER").is_ok_and(|v| v == "1") {
            eprintln!("skipped: no Chromium (CDEX_SKIP_BROWSER=1)");
            return;
        }
        panic!(
            "Chromium is needed for this test: `apt-get install chromium` (or set CDEX_SKIP_BROWSER=1)"
        );
    };
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("cdex-harness"),
        "the browser rendered the page: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dom.contains("data-pwned=\""),
        "a payload ran in the browser"
    );
    let injected = regex::Regex::new(r"<(img|svg|iframe|script)\b").unwrap();
    let own_svg = 0; // the report draws no images of its own
    assert_eq!(
        injected.find_iter(&dom).count(),
        own_svg,
        "no element came from the peer's text"
    );
    let handler = regex::Regex::new(r#"<[a-z]+[^>]*\son[a-z]+\s*="#).unwrap();
    assert!(
        !handler.is_match(&dom),
        "no event-handler attribute in the DOM"
    );
}
