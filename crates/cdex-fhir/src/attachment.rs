//! The `attachment:` check: FHIR Attachments (selected by FHIRPath) carry what they say.
//!
//! Each Attachment's `data` is base64 (R4 base64Binary: groups of four, whitespace allowed)
//! and decodes to what its `contentType` names: a PDF starts `%PDF`, XML is well-formed (and
//! a CDA document, `application/hl7-v3+xml`, has the root `ClinicalDocument`), JSON parses
//! (FHIR JSON has a `resourceType`), `text/*` is UTF-8 (unless another charset is named), a
//! few image types have their signature bytes; `size` is the decoded length and `hash` the
//! base64 SHA-1 of the decoded bytes (R4 Attachment.size, Attachment.hash), when present;
//! `data` without `contentType` breaks R4 invariant att-1; a `url` is absolute. An Attachment
//! with neither `data` nor `url` carries nothing to check, and fails.

use base64::Engine as _;
use serde_json::Value;

/// What the check found over the selected Attachments: a summary of each, and every
/// problem, each naming its Attachment.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub summary: Vec<String>,
    pub problems: Vec<String>,
}

/// Check the Attachments `expr` selects in `body`.
pub async fn check(expr: &str, body: &Value) -> Result<Findings, String> {
    let selected = crate::fhirpath::evaluate(expr, body).await?;
    Ok(check_all(&selected))
}

/// Check Attachments (JSON objects) already selected.
pub fn check_all(selected: &[Value]) -> Findings {
    let mut f = Findings::default();
    if selected.is_empty() {
        f.problems
            .push("no attachment: the expression selects nothing in this body".into());
        return f;
    }
    let n = selected.len();
    for (i, att) in selected.iter().enumerate() {
        let name = label(i, n, att);
        match check_one(att) {
            Ok(summary) => f.summary.push(format!("{name}: {summary}")),
            Err(problems) => {
                f.summary
                    .push(format!("{name}: {} problem(s)", problems.len()));
                f.problems
                    .extend(problems.into_iter().map(|p| format!("{name}: {p}")));
            }
        }
    }
    f
}

/// `Attachment 2 of 3 (application/pdf, "Discharge summary")`.
fn label(i: usize, n: usize, att: &Value) -> String {
    let mut what = Vec::new();
    if let Some(ct) = att.get("contentType").and_then(Value::as_str) {
        what.push(ct.to_string());
    }
    if let Some(t) = att.get("title").and_then(Value::as_str) {
        what.push(format!("{t:?}"));
    }
    let pos = if n == 1 {
        "Attachment".to_string()
    } else {
        format!("Attachment {} of {n}", i + 1)
    };
    if what.is_empty() {
        pos
    } else {
        format!("{pos} ({})", what.join(", "))
    }
}

/// One Attachment: its summary when all holds, else every problem.
pub fn check_one(att: &Value) -> Result<String, Vec<String>> {
    let Some(obj) = att.as_object() else {
        return Err(vec![format!(
            "not an Attachment: the expression selected {}",
            short(att)
        )]);
    };
    let mut problems = Vec::new();
    let mut summary = Vec::new();
    let content_type = obj.get("contentType").and_then(Value::as_str);
    let data = obj.get("data");
    let url = obj.get("url");
    if data.is_none() && url.is_none() {
        problems.push("it has neither `data` nor `url`: no content".into());
    }
    if let Some(u) = url {
        match u.as_str() {
            Some(s) if is_absolute_url(s) => summary.push(format!("url {s}")),
            Some(s) => problems.push(format!("`url` `{s}` is not an absolute URL")),
            None => problems.push("`url` is not a string".into()),
        }
    }
    let decoded = match data {
        None => None,
        Some(Value::String(s)) => match decode(s) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                problems.push(format!("`data` is not valid base64: {e}"));
                None
            }
        },
        Some(_) => {
            problems.push("`data` is not a string".into());
            None
        }
    };
    if data.is_some() && content_type.is_none() {
        problems.push(
            "it has `data` and no `contentType` (R4 invariant att-1: \"If the Attachment has data, it SHALL have a contentType\")"
                .into(),
        );
    }
    if let Some(bytes) = &decoded {
        summary.push(format!("{} bytes", bytes.len()));
        if let Some(ct) = content_type
            && let Err(e) = matches_type(ct, bytes)
        {
            problems.push(e);
        }
        match obj.get("size") {
            None => {}
            Some(v) => match size_value(v) {
                Some(s) if s == bytes.len() as u64 => summary.push("size matches".into()),
                Some(s) => problems.push(format!(
                    "`size` is {s}, and `data` decodes to {} bytes",
                    bytes.len()
                )),
                None => problems.push(format!("`size` {} is not a whole number", short(v))),
            },
        }
        match obj.get("hash") {
            None => {}
            Some(Value::String(h)) => {
                let actual = sha1(bytes);
                match decode(h) {
                    Ok(given) if given == actual => summary.push("SHA-1 hash matches".into()),
                    Ok(given) if given.len() != 20 => problems.push(format!(
                        "`hash` decodes to {} bytes; a SHA-1 hash is 20 (the base64 SHA-1 of the data is {})",
                        given.len(),
                        b64(&actual)
                    )),
                    Ok(_) => problems.push(format!(
                        "`hash` {h} is not the SHA-1 of the data, which is {}",
                        b64(&actual)
                    )),
                    Err(e) => problems.push(format!("`hash` is not base64: {e}")),
                }
            }
            Some(v) => problems.push(format!("`hash` {} is not a string", short(v))),
        }
    }
    if problems.is_empty() {
        Ok(summary.join(", "))
    } else {
        Err(problems)
    }
}

/// R4 base64Binary: whitespace between groups is allowed; the rest is standard base64 with
/// padding.
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err("it is empty".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| e.to_string())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// SHA-1 (ring's legacy-use digest: Attachment.hash is defined as SHA-1).
pub fn sha1(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .to_vec()
}

fn size_value(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        // R5 writes integer64 as a string; accept it.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// An absolute URL: a scheme, `:`, and something after it (`https://x/y`, `urn:uuid:...`).
pub fn is_absolute_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !s.chars().any(char::is_whitespace)
}

/// Do the bytes look like the content type says? `Err` says why not.
pub fn matches_type(content_type: &str, bytes: &[u8]) -> Result<(), String> {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
    let head = &bytes[..bytes.len().min(1024)];
    match media.as_str() {
        "application/pdf" => {
            // Readers accept the header anywhere in the first 1024 bytes.
            if find(head, b"%PDF").is_some() {
                Ok(())
            } else {
                Err(format!(
                    "`contentType` is application/pdf, and the data does not start with %PDF (it starts {})",
                    start_of(bytes)
                ))
            }
        }
        "application/hl7-v3+xml" | "application/cda+xml" => match xml_root(bytes) {
            Ok(root) if local(&root) == "ClinicalDocument" => Ok(()),
            Ok(root) => Err(format!(
                "`contentType` is {media} (a CDA document), and the XML's root element is <{root}>, not <ClinicalDocument>"
            )),
            Err(e) => Err(format!(
                "`contentType` is {media}, and the data is not well-formed XML: {e}"
            )),
        },
        m if m == "application/xml" || m == "text/xml" || m.ends_with("+xml") => {
            xml_root(bytes).map(|_| ()).map_err(|e| {
                format!("`contentType` is {media}, and the data is not well-formed XML: {e}")
            })
        }
        m if m == "application/json" || m.ends_with("+json") => {
            match serde_json::from_slice::<Value>(bytes) {
                Ok(v)
                    if m == "application/fhir+json"
                        && !v.get("resourceType").is_some_and(Value::is_string) =>
                {
                    Err(format!(
                        "`contentType` is {media}, and the JSON is not a FHIR resource (no `resourceType`)"
                    ))
                }
                Ok(_) => Ok(()),
                Err(e) => Err(format!(
                    "`contentType` is {media}, and the data is not JSON: {e}"
                )),
            }
        }
        m if m.starts_with("text/") => match charset.as_deref() {
            None | Some("utf-8") | Some("utf8") | Some("us-ascii") => {
                match std::str::from_utf8(bytes) {
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!(
                        "`contentType` is {content_type}, and the data is not UTF-8 text (invalid at byte {})",
                        e.valid_up_to()
                    )),
                }
            }
            // Another charset: not checked.
            Some(_) => Ok(()),
        },
        "image/png" => signature(&media, bytes, b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => signature(&media, bytes, b"\xFF\xD8\xFF"),
        "image/gif" => signature(&media, bytes, b"GIF8"),
        "image/tiff" => {
            if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
                Ok(())
            } else {
                Err(format!(
                    "`contentType` is image/tiff, and the data does not start with a TIFF header (it starts {})",
                    start_of(bytes)
                ))
            }
        }
        // Anything else: the bytes are not judged.
        _ => Ok(()),
    }
}

fn signature(media: &str, bytes: &[u8], magic: &[u8]) -> Result<(), String> {
    if bytes.starts_with(magic) {
        Ok(())
    } else {
        Err(format!(
            "`contentType` is {media}, and the data does not start with its signature bytes (it starts {})",
            start_of(bytes)
        ))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first bytes, readably: `"<?xml ver"` or hex for binary.
fn start_of(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(12)];
    if head.is_empty() {
        return "with nothing: it is empty".into();
    }
    match std::str::from_utf8(head) {
        Ok(t) if t.chars().all(|c| !c.is_control() || c.is_whitespace()) => format!("{t:?}"),
        _ => head
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// The root element's name of a well-formed XML document; why not otherwise.
pub fn xml_root(bytes: &[u8]) -> Result<String, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    let mut closed = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("{e} (at byte {})", reader.buffer_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) if depth == 0 => {
                if closed || root.is_some() {
                    return Err("a second root element".into());
                }
                root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                if matches!(event, Event::Empty(_)) {
                    closed = true;
                } else {
                    depth = 1;
                }
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    closed = true;
                }
            }
            Event::Text(t) if depth == 0 && t.iter().any(|b| !b.is_ascii_whitespace()) => {
                return Err("text outside the root element".into());
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    match root {
        None => Err("no root element".into()),
        Some(_) if !closed => Err("the root element is not closed".into()),
        Some(r) => Ok(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(s: &[u8]) -> String {
        b64(s)
    }

    #[test]
    fn a_good_pdf_with_size_and_hash_passes() {
        let pdf = b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n";
        let att = json!({ "contentType": "application/pdf", "data": b(pdf),
            "size": pdf.len(), "hash": b(&sha1(pdf)) });
        let s = check_one(&att).unwrap();
        assert!(
            s.contains("size matches") && s.contains("SHA-1 hash matches"),
            "{s}"
        );
    }

    #[test]
    fn each_fault_is_named() {
        let pdf = b"%PDF-1.7\n";
        let cases = [
            (
                json!({ "contentType": "application/pdf", "data": "%%%not" }),
                "not valid base64",
            ),
            (
                json!({ "contentType": "application/pdf", "data": b(b"<x/>") }),
                "does not start with %PDF",
            ),
            (json!({ "data": b(pdf) }), "att-1"),
            (
                json!({ "contentType": "application/pdf", "data": b(pdf), "size": 3 }),
                "`size` is 3",
            ),
            (
                json!({ "contentType": "application/pdf", "data": b(pdf), "hash": b(&sha1(b"other")) }),
                "not the SHA-1",
            ),
            (
                json!({ "contentType": "application/pdf", "data": b(pdf), "hash": b(b"short") }),
                "a SHA-1 hash is 20",
            ),
            (
                json!({ "contentType": "application/pdf", "url": "Binary/1" }),
                "not an absolute URL",
            ),
            (
                json!({ "contentType": "application/pdf" }),
                "neither `data` nor `url`",
            ),
            (
                json!({ "contentType": "application/hl7-v3+xml", "data": b(b"<Bundle xmlns='urn:hl7-org:v3'/>") }),
                "not <ClinicalDocument>",
            ),
            (
                json!({ "contentType": "application/xml", "data": b(b"<a><b></a>") }),
                "not well-formed XML",
            ),
            (
                json!({ "contentType": "application/xml", "data": b(b"<a>") }),
                "not well-formed XML",
            ),
            (
                json!({ "contentType": "application/fhir+json", "data": b(b"{\"a\":1}") }),
                "no `resourceType`",
            ),
            (
                json!({ "contentType": "application/json", "data": b(b"{nope") }),
                "not JSON",
            ),
            (
                json!({ "contentType": "text/plain", "data": b(b"\xff\xfe") }),
                "not UTF-8",
            ),
            (json!("just a string"), "not an Attachment"),
        ];
        for (att, want) in cases {
            let problems = check_one(&att).expect_err(&att.to_string());
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{att}: {problems:?} lacks {want:?}"
            );
        }
    }

    #[test]
    fn good_content_of_each_type_passes() {
        let cda = b"<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>x</title></ClinicalDocument>\n";
        let cases = [
            json!({ "contentType": "application/hl7-v3+xml", "data": b(cda) }),
            json!({ "contentType": "application/xml", "data": b(cda) }),
            json!({ "contentType": "text/xml; charset=utf-8", "data": b(b"<a/>") }),
            json!({ "contentType": "application/fhir+json", "data": b(b"{\"resourceType\":\"Patient\"}") }),
            json!({ "contentType": "text/plain", "data": "aGVs\n bG8=" }),
            json!({ "contentType": "text/plain; charset=iso-8859-1", "data": b(b"\xe9") }),
            json!({ "contentType": "application/octet-stream", "data": b(b"\x00\x01") }),
            json!({ "contentType": "application/pdf", "url": "https://ehr.example/docs/1.pdf" }),
        ];
        for att in cases {
            assert!(check_one(&att).is_ok(), "{att}: {:?}", check_one(&att));
        }
    }

    #[test]
    fn nothing_selected_fails_and_several_are_told_apart() {
        let f = check_all(&[]);
        assert!(f.problems[0].starts_with("no attachment"));
        let f = check_all(&[
            json!({ "contentType": "text/plain", "data": b(b"ok") }),
            json!({ "contentType": "application/pdf", "title": "Op note", "data": b(b"nope") }),
        ]);
        assert_eq!(f.problems.len(), 1, "{f:?}");
        assert!(
            f.problems[0].starts_with("Attachment 2 of 2 (application/pdf, \"Op note\"): "),
            "{f:?}"
        );
    }
}
