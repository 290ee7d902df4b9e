//! Reading TestScripts: a file or a folder of them (JSON or XML), with their fixtures (local
//! files relative to the script, never outside the folder given, or resources contained in
//! the script).

use super::model::TestScript;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A script, read and with its fixtures resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: PathBuf,
    /// The script as JSON (an XML script converted).
    pub raw: Value,
    pub script: TestScript,
    /// Static fixtures by id (their resource).
    pub fixtures: BTreeMap<String, Value>,
    /// What could not be read, by element path.
    pub problems: Vec<(String, String)>,
}

impl Loaded {
    pub fn stem(&self) -> String {
        self.file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
    pub fn id(&self) -> String {
        self.script.display_id(&self.stem())
    }
}

/// A FHIR resource from a file, JSON or XML (by extension, else by its first character).
pub fn read_resource(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let xml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        || text.trim_start().starts_with('<');
    if xml {
        super::xml::to_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
    }
}

/// Every TestScript in `path` (a file, or a folder searched recursively; other resources in
/// it, such as fixtures, are passed over). `Err` for a file that is not one.
pub fn load(path: &Path) -> Result<Vec<Loaded>, String> {
    if path.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files);
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let Ok(v) = read_resource(&f) else { continue };
            if v.get("resourceType").and_then(Value::as_str) == Some("TestScript") {
                out.push(from_value(&f, v, path)?);
            }
        }
        if out.is_empty() {
            return Err(format!("{} holds no TestScript", path.display()));
        }
        Ok(out)
    } else {
        let v = read_resource(path)?;
        if v.get("resourceType").and_then(Value::as_str) != Some("TestScript") {
            return Err(format!("{} is not a TestScript", path.display()));
        }
        let root = path.parent().unwrap_or(Path::new("."));
        Ok(vec![from_value(path, v, root)?])
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json") || x.eq_ignore_ascii_case("xml"))
        {
            out.push(p);
        }
    }
}

/// A script from its JSON, its fixtures resolved against its folder within `root`.
pub fn from_value(file: &Path, raw: Value, root: &Path) -> Result<Loaded, String> {
    let script: TestScript = serde_json::from_value(raw.clone())
        .map_err(|e| format!("{}: not a readable TestScript: {e}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut fixtures = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, f) in script.fixture.iter().enumerate() {
        let at = format!("fixture[{i}]");
        let Some(id) = &f.id else {
            problems.push((at, "a fixture without an id cannot be used".into()));
            continue;
        };
        let Some(reference) = f.resource.as_ref().and_then(|r| r.reference.as_deref()) else {
            problems.push((
                format!("{at}.resource"),
                "no resource reference (the harness has no fixture to read)".into(),
            ));
            continue;
        };
        match resolve(reference, &script, dir, root) {
            Ok(v) => {
                fixtures.insert(id.clone(), v);
            }
            Err(e) => problems.push((format!("{at}.resource.reference"), e)),
        }
    }
    Ok(Loaded {
        file: file.to_path_buf(),
        raw,
        script,
        fixtures,
        problems,
    })
}

fn resolve(reference: &str, script: &TestScript, dir: &Path, root: &Path) -> Result<Value, String> {
    if let Some(id) = reference.strip_prefix('#') {
        return script
            .contained
            .iter()
            .find(|c| c.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
            .ok_or_else(|| format!("`{reference}`: no contained resource has id `{id}`"));
    }
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return Err(format!(
            "`{reference}`: a fixture on the web is not fetched (put it next to the script)"
        ));
    }
    let candidate = if let Some(rest) = reference.strip_prefix('/') {
        root.join(rest)
    } else {
        dir.join(reference)
    };
    let found = std::fs::canonicalize(&candidate).map_err(|_| {
        format!(
            "`{reference}`: no such file {} (fixtures are files relative to the script; a server reference such as Patient/example is not read from a server)",
            candidate.display()
        )
    })?;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    if !found.starts_with(&root) {
        return Err(format!(
            "`{reference}` leads outside {} (fixtures must stay in the scripts' folder)",
            root.display()
        ));
    }
    super::load::read_resource(&found)
}
