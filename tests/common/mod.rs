//! What the end-to-end tests of the command line share: the built binary run from the
//! project folder (no colour, no config file from the environment), fresh temporary folders
//! and the combined output. `mod common;` in a test file; each uses what it needs.
#![allow(dead_code)]

pub mod cdp;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_cdex-harness");

pub fn project() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh folder under the target dir, named after the test file (`prefix`) and the test.
pub fn tmp(prefix: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The harness with these arguments, ready to run.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(project())
        .env("NO_COLOR", "1")
        .env_remove("CDEX_HARNESS_CONFIG");
    c
}

/// Run the harness to its end.
pub fn harness(args: &[&str]) -> Output {
    command(args).output().expect("the binary runs")
}

/// Standard output then standard error, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A pack of one scenario (`s.yaml`) in a fresh folder (see [`tmp`]).
pub fn pack_dir(prefix: &str, name: &str, yaml: &str) -> PathBuf {
    let dir = tmp(prefix, name);
    std::fs::write(dir.join("s.yaml"), yaml).unwrap();
    dir
}

/// Replace what changes from run to run (times, durations, ports, run ids, lengths).
pub fn stable(s: &str) -> String {
    let rules: &[(&str, &str)] = &[
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[time]",
        ),
        (
            r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT",
            "[http-date]",
        ),
        (r"\d{14}-\d+", "[run-id]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
        (r#""duration_ms": [0-9.e-]+"#, r#""duration_ms": "[ms]""#),
        (r#"time="[0-9.]+""#, r#"time="[s]""#),
        (r#"timestamp="[^"]+""#, r#"timestamp="[time]""#),
        (
            r#"(?i)"content-length",(\s*)"\d+""#,
            r#""content-length",${1}"[n]""#,
        ),
        (r"\(\d+(\.\d+)? ?(ms|µs|s)\)", "([duration])"),
        (r"took \d+(\.\d+)? ?(ms|µs|s)", "took [duration]"),
    ];
    let mut out = s.to_string();
    for (re, with) in rules {
        out = regex::Regex::new(re)
            .unwrap()
            .replace_all(&out, *with)
            .into_owned();
    }
    out
}
