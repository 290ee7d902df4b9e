//! The shards of one run combined into the results of that run (`cdex-harness merge`).
//!
//! A CI pipeline splits a pack across machines with `run --partition I/N`; each machine
//! writes the `results.json` of its shard. [`combine`] turns them back into the results one
//! unsharded run would have written: the scenarios in the pack's order, the requirements
//! matrix recomputed over all of them ([`crate::runner::matrix`]) and the summary with it
//! ([`RunResults::summarize`]). The reports are then rendered from those results like any
//! other run's. Whether the shards are shards of the same run (pack, actor, system under test,
//! options, rules) is checked by the caller, which knows how to word it.

use crate::catalog::Catalog;
use crate::results::{HttpMessage, RunResults, ScenarioResult};
use crate::scenario::Pack;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The results of one shard, and where they were read.
pub struct Shard {
    /// The `results.json` read.
    pub file: PathBuf,
    /// The folder it is in (its `bodies/` are there).
    pub dir: PathBuf,
    pub results: RunResults,
}

impl Shard {
    /// `I/N` as recorded (`setup.partition`), parsed.
    pub fn partition(&self) -> Option<(u64, u64)> {
        let p = self.results.setup.as_ref()?.partition.as_deref()?;
        let (i, n) = p.split_once('/')?;
        Some((i.trim().parse().ok()?, n.trim().parse().ok()?))
    }
}

/// Why these shards do not make up one run, as far as their partitions tell: shards of
/// different counts, the same shard twice, a run that is not a shard among shards, or a
/// shard missing. Shards without recorded partitions (whole runs of disjoint selections) are
/// not checked here.
pub fn partition_problems(shards: &[Shard]) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(first) = shards.iter().find(|s| s.partition().is_some()) else {
        return problems;
    };
    let (_, n) = first.partition().unwrap_or((1, 1));
    let mut seen: BTreeMap<u64, &Path> = BTreeMap::new();
    for s in shards {
        match s.partition() {
            None => problems.push(format!(
                "{} is not a shard (its run had no --partition) while {} is shard {}",
                s.file.display(),
                first.file.display(),
                first
                    .results
                    .setup
                    .as_ref()
                    .and_then(|x| x.partition.clone())
                    .unwrap_or_default()
            )),
            Some((_, m)) if m != n => problems.push(format!(
                "{} is a shard of {m} while {} is a shard of {n}: merge the shards of one split",
                s.file.display(),
                first.file.display()
            )),
            Some((i, _)) => {
                if let Some(other) = seen.insert(i, &s.file) {
                    problems.push(format!(
                        "shard {i}/{n} is given twice: {} and {}",
                        other.display(),
                        s.file.display()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        let missing: Vec<String> = (1..=n)
            .filter(|i| !seen.contains_key(i))
            .map(|i| format!("{i}/{n}"))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "shard(s) {} missing: the merged run would lack their scenarios (give the results of every `run --partition I/{n}`)",
                missing.join(", ")
            ));
        }
    }
    problems
}

/// The results of the run the shards are parts of.
///
/// Each scenario must come from one shard only (else an error names both files) and be in
/// `pack` (its order is the merged order). The run started when the earliest shard did and
/// lasted as long as the longest shard (the wall time of shards run side by side); it was
/// interrupted if any shard was; its notes are the shards' notes, each once
/// ([`crate::runner::task_states::combine_notes`]). Setup, target and options are the first
/// shard's (the caller checked they agree), without its partition.
pub fn combine(shards: &[Shard], pack: &Pack, catalog: &Catalog) -> Result<RunResults, String> {
    let first = shards
        .first()
        .ok_or_else(|| "no results to merge".to_string())?;
    let order: HashMap<&str, usize> = pack
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut from: HashMap<&str, &Path> = HashMap::new();
    let mut scenarios: Vec<(usize, ScenarioResult)> = Vec::new();
    for shard in shards {
        for sc in &shard.results.scenarios {
            if let Some(other) = from.insert(&sc.id, &shard.file) {
                return Err(format!(
                    "scenario {} is in {} and in {}: a scenario belongs to one shard (were these shards of different splits, or the same shard twice?)",
                    sc.id,
                    other.display(),
                    shard.file.display()
                ));
            }
            let Some(&at) = order.get(sc.id.as_str()) else {
                return Err(format!(
                    "scenario {} of {} is not in the pack {} (was the pack changed since the shards ran?)",
                    sc.id,
                    shard.file.display(),
                    pack.root.display()
                ));
            };
            scenarios.push((at, sc.clone()));
        }
    }
    scenarios.sort_by_key(|(at, _)| *at);
    let scenarios: Vec<ScenarioResult> = scenarios.into_iter().map(|(_, s)| s).collect();

    let earliest = shards
        .iter()
        .map(|s| &s.results.started_at)
        .min_by(|a, b| match (parse_time(a), parse_time(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.cmp(b),
        })
        .cloned()
        .unwrap_or_default();
    let longest = shards
        .iter()
        .map(|s| s.results.duration_ms)
        .filter(|d| d.is_finite())
        .fold(0.0, f64::max);
    let now = chrono::Utc::now();
    let mut setup = first.results.setup.clone();
    if let Some(s) = &mut setup {
        s.partition = None;
    }
    let mut out = RunResults {
        schema_version: crate::results::RESULTS_SCHEMA_VERSION,
        tool: crate::results::ToolInfo {
            name: "cdex-harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_id: Some(format!(
            "{}-{}",
            now.format("%Y%m%d%H%M%S"),
            std::process::id()
        )),
        setup,
        started_at: earliest,
        duration_ms: longest,
        target: first.results.target.clone(),
        interrupted: shards.iter().any(|s| s.results.interrupted),
        options: first.results.options.clone(),
        notes: crate::runner::task_states::combine_notes(
            shards.iter().flat_map(|s| s.results.notes.iter()),
        ),
        summary: Default::default(),
        requirements: crate::runner::matrix(catalog, &scenarios),
        scenarios,
    };
    out.summarize();
    Ok(out)
}

fn parse_time(t: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(t).ok()
}

/// Every HTTP message of a scenario's results.
fn messages(sc: &ScenarioResult) -> impl Iterator<Item = &HttpMessage> {
    sc.steps
        .iter()
        .flat_map(|st| st.exchanges.iter().chain(st.also_received.iter()))
        .flat_map(|x| std::iter::once(&x.request).chain(x.response.as_ref()))
}

/// The name of a body file the results refer to relative to their folder (`bodies/NAME`,
/// as [`crate::http::redact::body_file_name`] writes it), if it is one; a name that could
/// reach outside the folder is not.
fn relative_body(file: &str) -> Option<&str> {
    let name = file.strip_prefix("bodies/")?;
    let plain =
        !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']) && name != "..";
    plain.then_some(name)
}

/// Copy the body files a shard's results refer to (`bodies/NAME`, written with
/// `--max-inline-body`) from the shard's folder into `out/bodies/`, so that the merged
/// results' references stay valid. A file already there is kept (names are digests: same
/// name, same content). Returns what could not be found (the reference is kept as it is);
/// an error when a file cannot be written.
pub fn copy_bodies(shard: &Shard, out: &Path) -> Result<Vec<String>, String> {
    let mut missing = Vec::new();
    let target = out.join("bodies");
    for sc in &shard.results.scenarios {
        for name in messages(sc).filter_map(|m| m.body_file.as_deref().and_then(relative_body)) {
            let dest = target.join(name);
            if dest.exists() {
                continue;
            }
            let src = shard.dir.join("bodies").join(name);
            if !src.is_file() {
                missing.push(format!(
                    "{} (referred to by {} of {})",
                    src.display(),
                    sc.id,
                    shard.file.display()
                ));
                continue;
            }
            std::fs::create_dir_all(&target)
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            let part = target.join(format!(".{name}.{}.part", std::process::id()));
            std::fs::copy(&src, &part)
                .and_then(|_| std::fs::rename(&part, &dest))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&part);
                    format!("cannot copy {} to {}: {e}", src.display(), dest.display())
                })?;
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_in_the_bodies_folder_are_copied() {
        assert_eq!(relative_body("bodies/0123abcd.json"), Some("0123abcd.json"));
        assert_eq!(relative_body("bodies/../results.json"), None);
        assert_eq!(relative_body("bodies/.."), None);
        assert_eq!(relative_body("bodies/a/b.json"), None);
        assert_eq!(relative_body("/tmp/x/bodies/a.json"), None);
        assert_eq!(relative_body("bodies/"), None);
    }
}
