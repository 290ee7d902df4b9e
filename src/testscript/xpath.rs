//! The small XPath subset TestScripts write in `path` (`fhir:Patient/fhir:name/fhir:family/@value`),
//! turned into the FHIRPath the harness evaluates over JSON. What falls outside the subset is
//! refused by name (`testscript check`), never guessed.

/// `fhir:Patient/fhir:name[1]/fhir:family/@value` -> `Patient.name[0].family`;
/// `count(fhir:Bundle/fhir:entry)` -> `Bundle.entry.count()`; `fhir:entry/fhir:resource/fhir:Patient`
/// -> `entry.resource.where(resourceType = 'Patient')`.
pub fn to_fhirpath(xpath: &str) -> Result<String, String> {
    let x = xpath.trim();
    if let Some(inner) = x.strip_prefix("count(").and_then(|r| r.strip_suffix(')')) {
        return Ok(format!("{}.count()", to_fhirpath(inner)?));
    }
    if x.contains("//") || x.contains("::") {
        return Err(format!(
            "`{xpath}`: only child steps (a/b/c) are in the XPath subset the harness reads"
        ));
    }
    let x = x.trim_start_matches('/');
    let mut parts: Vec<String> = Vec::new();
    let steps: Vec<&str> = x.split('/').collect();
    let mut prev_resource = false;
    for (i, step) in steps.iter().enumerate() {
        let (name, pred) = match step.find('[') {
            Some(p) if step.ends_with(']') => (&step[..p], Some(&step[p + 1..step.len() - 1])),
            Some(_) => return Err(format!("`{xpath}`: unreadable step `{step}`")),
            None => (*step, None),
        };
        if let Some(attr) = name.strip_prefix('@') {
            if i != steps.len() - 1 {
                return Err(format!("`{xpath}`: an attribute must be the last step"));
            }
            if attr != "value" {
                parts.push(attr.to_string());
            }
            continue;
        }
        let local = name.strip_prefix("fhir:").unwrap_or(name);
        if local.is_empty() || !local.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{xpath}`: `{step}` is outside the XPath subset"));
        }
        let is_type = local.starts_with(|c: char| c.is_ascii_uppercase());
        let mut part = if prev_resource && is_type {
            // `resource/Patient`: the resource element's type.
            let last = parts.pop().unwrap_or_default();
            format!("{last}.where(resourceType = '{local}')")
        } else {
            local.to_string()
        };
        prev_resource = local == "resource" || local == "contained";
        if let Some(p) = pred {
            let n: usize = p.trim().parse().map_err(|_| {
                format!("`{xpath}`: only a position ([1]) is in the XPath subset, not [{p}]")
            })?;
            if n == 0 {
                return Err(format!("`{xpath}`: XPath positions start at 1"));
            }
            part = format!("{part}[{}]", n - 1);
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return Err(format!("`{xpath}` selects nothing"));
    }
    Ok(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::to_fhirpath;

    #[test]
    fn the_subset() {
        assert_eq!(
            to_fhirpath("fhir:Patient/fhir:name/fhir:family/@value").unwrap(),
            "Patient.name.family"
        );
        assert_eq!(
            to_fhirpath("fhir:Patient/fhir:name[2]/fhir:given[1]/@value").unwrap(),
            "Patient.name[1].given[0]"
        );
        assert_eq!(
            to_fhirpath("count(fhir:Bundle/fhir:entry)").unwrap(),
            "Bundle.entry.count()"
        );
        assert_eq!(
            to_fhirpath("fhir:Bundle/fhir:entry/fhir:resource/fhir:Patient/fhir:id/@value")
                .unwrap(),
            "Bundle.entry.resource.where(resourceType = 'Patient').id"
        );
        assert_eq!(
            to_fhirpath("fhir:Patient/fhir:extension/@url").unwrap(),
            "Patient.extension.url"
        );
        assert!(to_fhirpath("//fhir:id").is_err());
        assert!(to_fhirpath("fhir:Patient/fhir:name[fhir:use/@value='official']").is_err());
    }
}
