//! The narrative's XHTML (`Narrative.div`), checked natively for the R4 invariants txt-1
//! and txt-2, whose FHIRPath is `htmlChecks()`: a function no FHIRPath engine here has.
//! The XML is read with quick-xml (already in the tree through quick-junit).
//!
//! txt-1: "The narrative SHALL contain only the basic html formatting elements and
//! attributes described in chapters 7-11 (except section 4 of chapter 9) and 15 of the HTML
//! 4.0 standard, <a> elements (either name or href), images and internally contained style
//! attributes". Read here as: well-formed XML whose root is a `div` in the XHTML namespace,
//! no DOCTYPE, processing instruction or CDATA, only XML's five named entities, and only the
//! elements and attributes below (the R4 txt-1 XPath's lists, which fhirpath.js's
//! `htmlChecks()` reads the same way: `tools/crosscheck/invariants.py` compares the two);
//! and, beyond txt-1's lists, no `javascript:` link. txt-2: "The narrative SHALL have some
//! non-whitespace content": text, or an image with a `src`.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

const XHTML: &str = "http://www.w3.org/1999/xhtml";

/// HTML 4.0 chapters 7 (div, span, h1-h6, address), 8 (bdo), 9 without section 4 (ins,
/// del), 10 (lists), 11 (tables) and 15 (tt, i, b, big, small, hr), `a` and `img`: the
/// list of R4's txt-1 XPath, as fhirpath.js's `htmlChecks()` also reads it (not `map` and
/// `area`, chapter 13; not the deprecated `u`, `s`, `strike`, `font`).
const ELEMENTS: &[&str] = &[
    "p",
    "br",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "span",
    "b",
    "em",
    "i",
    "strong",
    "small",
    "big",
    "tt",
    "dfn",
    "q",
    "var",
    "abbr",
    "acronym",
    "cite",
    "blockquote",
    "hr",
    "address",
    "bdo",
    "kbd",
    "sub",
    "sup",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "pre",
    "table",
    "caption",
    "colgroup",
    "col",
    "thead",
    "tr",
    "tfoot",
    "tbody",
    "th",
    "td",
    "code",
    "samp",
    "img",
];

/// Attributes allowed on every element (core, i18n, `style`, the default namespace, and
/// the table attributes the txt-1 XPath accepts document-wide).
const ATTRIBUTES: &[&str] = &[
    "title",
    "style",
    "class",
    "id",
    "lang",
    "dir",
    "accesskey",
    "tabindex",
    "xmlns",
    "span",
    "align",
    "valign",
    "char",
    "charoff",
    "abbr",
    "axis",
    "headers",
    "scope",
    "rowspan",
    "colspan",
];

/// Attributes of particular elements.
fn element_attribute(element: &str, attribute: &str) -> bool {
    matches!(
        (element, attribute),
        ("a", "href" | "name")
            | (
                "img",
                "src" | "border" | "alt" | "longdesc" | "height" | "width"
            )
            | ("blockquote" | "q", "cite")
            | (
                "table",
                "summary" | "width" | "border" | "frame" | "rules" | "cellspacing" | "cellpadding"
            )
            | ("col" | "colgroup" | "th" | "td", "width")
            | ("td", "nowrap")
    )
}

/// The character entities XML predefines: FHIR narrative forbids HTML's (`&nbsp;`).
const ENTITIES: &[&[u8]] = &[b"amp", b"lt", b"gt", b"quot", b"apos"];

/// The key of the one finding that is a warning, not an error: a root `div` with no
/// namespace declaration.
pub const NO_NAMESPACE: &str = "xhtml-namespace";

/// What is wrong with a narrative `div`: (invariant key, message), empty when nothing is;
/// every finding is an error of txt-1 or txt-2 but [`NO_NAMESPACE`], a warning.
pub fn check(div: &str) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let mut reader = Reader::from_str(div);
    let mut depth = 0usize;
    let mut content = false;
    let mut root_seen = false;
    let txt1 = |m: String| ("txt-1", m);
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                problems.push(txt1(format!(
                    "the narrative is not well-formed XHTML (at byte {}): {e}",
                    reader.error_position()
                )));
                return problems;
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root_seen && depth == 0 {
                    problems.push(txt1("the narrative must be one `div` element".into()));
                    return problems;
                }
                let empty = matches!(event, Event::Empty(_));
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if depth == 0 {
                    root_seen = true;
                    if name != "div" {
                        problems.push(txt1(format!(
                            "the narrative's root element must be `div`, not `{name}`"
                        )));
                    }
                    // A different namespace is txt-1 (below, as on any element); none at all
                    // only a warning: txt-1's XPath reads local names, and fhirpath.js's
                    // htmlChecks() accepts it too.
                    if namespace(e).is_none() {
                        problems.push((
                            NO_NAMESPACE,
                            format!("the narrative's `div` does not declare the XHTML namespace (xmlns=\"{XHTML}\"), as FHIR's own narratives all do"),
                        ));
                    }
                }
                content |= check_element(&name, e, &mut problems);
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) => {
                if depth == 0 && !t.iter().all(u8::is_ascii_whitespace) {
                    problems.push(txt1("text outside the narrative's `div`".into()));
                }
                content |= !t.iter().all(u8::is_ascii_whitespace);
            }
            Event::CData(_) => {
                problems.push(txt1("the narrative must not have CDATA sections".into()))
            }
            Event::GeneralRef(r) => {
                content = true;
                if !r.starts_with(b"#") && !ENTITIES.contains(&r.as_ref()) {
                    problems.push(txt1(format!(
                        "the narrative must not use the entity `&{};` (XML's five and numeric references only)",
                        String::from_utf8_lossy(&r)
                    )));
                }
            }
            Event::DocType(_) => {
                problems.push(txt1("the narrative must not have a DOCTYPE".into()))
            }
            Event::PI(_) | Event::Decl(_) => problems.push(txt1(
                "the narrative must not have processing instructions or an XML declaration".into(),
            )),
            Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !root_seen {
        problems.push(txt1("the narrative has no `div` element".into()));
    } else if depth != 0 {
        problems.push(txt1("the narrative's `div` is not closed".into()));
    }
    if !content {
        problems.push((
            "txt-2",
            "the narrative has no content: only whitespace".into(),
        ));
    }
    problems
}

/// The default namespace an element declares.
fn namespace(e: &BytesStart<'_>) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.as_ref() == b"xmlns").then(|| String::from_utf8_lossy(&a.value).into_owned())
    })
}

/// Check one element and its attributes; whether it is content by itself (an image).
fn check_element(
    name: &str,
    e: &BytesStart<'_>,
    problems: &mut Vec<(&'static str, String)>,
) -> bool {
    let mut image = false;
    if !ELEMENTS.contains(&name) {
        problems.push((
            "txt-1",
            format!("the narrative must not contain a `{name}` element (not among HTML 4.0's basic formatting elements)"),
        ));
    }
    for a in e.attributes() {
        let Ok(a) = a else {
            problems.push(("txt-1", format!("a malformed attribute on `{name}`")));
            continue;
        };
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        if !ATTRIBUTES.contains(&key.as_str()) && !element_attribute(name, &key) {
            problems.push((
                "txt-1",
                format!("the narrative must not have the attribute `{key}` on `{name}`"),
            ));
            continue;
        }
        image |= name == "img" && key == "src";
        if key == "xmlns" && a.value.as_ref() != XHTML.as_bytes() {
            problems.push((
                "txt-1",
                format!(
                    "the narrative must not declare another namespace than XHTML (on `{name}`)"
                ),
            ));
        }
        if matches!(key.as_str(), "href" | "src") {
            let value = String::from_utf8_lossy(&a.value).to_ascii_lowercase();
            let scheme = value.split_once(':').map(|(s, _)| s.trim());
            // A data: image is an image; a data: link can carry a script.
            if matches!(scheme, Some("javascript" | "vbscript"))
                || (key == "href" && scheme == Some("data"))
            {
                problems.push((
                    "txt-1",
                    format!("the narrative must not link to script (`{key}` on `{name}`)"),
                ));
            }
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::check;

    fn keys(div: &str) -> Vec<&'static str> {
        check(div).into_iter().map(|(k, _)| k).collect()
    }

    const NS: &str = r#"xmlns="http://www.w3.org/1999/xhtml""#;

    #[test]
    fn basic_formatting_passes() {
        for div in [
            format!(
                r#"<div {NS}><p>Claim <b>123</b>: <a href="https://example.org">see</a></p></div>"#
            ),
            format!(
                r#"<div {NS}><table><tr><td colspan="2" style="color: red">x</td></tr></table></div>"#
            ),
            format!(r##"<div {NS}><img src="#a1" alt=""/></div>"##),
            format!(r#"<div {NS}>&lt;generated&gt;</div>"#),
        ] {
            assert!(check(&div).is_empty(), "{div}: {:?}", check(&div));
        }
    }

    #[test]
    fn what_txt_1_forbids() {
        for div in [
            format!(r#"<div {NS}><script>alert(1)</script>x</div>"#),
            format!(r#"<div {NS}><p onclick="alert(1)">x</p></div>"#),
            format!(r#"<div {NS}><a href="javascript:alert(1)">x</a></div>"#),
            format!(r#"<div {NS}><a href=" JavaScript:alert(1)">x</a></div>"#),
            format!(r#"<div {NS}><iframe src="https://example.org"/>x</div>"#),
            format!(r#"<div {NS}><ins>x</ins></div>"#),
            format!(r#"<span {NS}>x</span>"#),
            format!(r#"<div {NS}><p>x</div>"#),
            format!(r#"<div {NS}>x</div><div {NS}>y</div>"#),
            format!(r#"<?xml version="1.0"?><div {NS}>x</div>"#),
            format!(r#"<div {NS}>a&nbsp;b</div>"#),
            format!(r#"<div {NS}><![CDATA[x]]></div>"#),
            format!(r#"<div {NS}><u>x</u></div>"#),
            format!(r#"<div {NS}><p xmlns="urn:other">x</p></div>"#),
        ] {
            assert!(keys(&div).contains(&"txt-1"), "{div}: {:?}", check(&div));
        }
    }

    #[test]
    fn a_missing_namespace_is_only_a_warning() {
        assert_eq!(keys("<div>x</div>"), [super::NO_NAMESPACE]);
    }

    #[test]
    fn txt_2_wants_content() {
        assert_eq!(keys(&format!("<div {NS}> <p>\n </p></div>")), ["txt-2"]);
        assert_eq!(keys(&format!("<div {NS}/>")), ["txt-2"]);
        assert_eq!(
            keys(&format!(r#"<div {NS}><img alt="x"/></div>"#)),
            ["txt-2"]
        );
        assert!(keys(&format!("<div {NS}>&#160;x</div>")).is_empty());
    }
}
