//! FHIR XML to FHIR JSON, so an XML TestScript (and its XML fixtures) runs like a JSON one.
//!
//! Parsed with `quick-xml` (already a dependency for the narrative checks: small, maintained,
//! a pull parser with no schema machinery we do not need) into a small tree, then converted
//! with the R4 base model the validator ships (`crates/cdex-fhir/profiles/r4/base.json`): it says which
//! elements repeat (JSON arrays), which are primitives (`value` attribute) and of which type
//! (booleans and numbers are JSON booleans and numbers). The narrative `div` is kept as text.

use crate::fhir::validate::base::{Base, Elements};
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Map, Value};
use std::sync::OnceLock;

fn base() -> Result<&'static Base, String> {
    static B: OnceLock<Result<Base, String>> = OnceLock::new();
    B.get_or_init(Base::load_default)
        .as_ref()
        .map_err(Clone::clone)
}

#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    /// The XHTML of a narrative `div`, as written.
    xhtml: Option<String>,
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    s.rsplit(':').next().unwrap_or(&s).to_string()
}

fn parse_tree(text: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let pos = reader.buffer_position();
        match reader.read_event() {
            Err(e) => return Err(format!("XML error at byte {pos}: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = local(e.name().as_ref());
                if name == "div" {
                    // Keep the narrative as its text; skip to its end.
                    let span = reader
                        .read_to_end(e.name())
                        .map_err(|e| format!("XML error in a narrative: {e}"))?;
                    let inner = &text[span.start as usize..span.end as usize];
                    let node = Node {
                        name,
                        xhtml: Some(format!(
                            "<div xmlns=\"http://www.w3.org/1999/xhtml\">{inner}</div>"
                        )),
                        ..Default::default()
                    };
                    stack.last_mut().expect("root").children.push(node);
                    continue;
                }
                stack.push(Node {
                    name,
                    attrs: attrs(&e)?,
                    ..Default::default()
                });
            }
            Ok(Event::Empty(e)) => {
                let node = Node {
                    name: local(e.name().as_ref()),
                    attrs: attrs(&e)?,
                    ..Default::default()
                };
                stack.last_mut().expect("root").children.push(node);
            }
            Ok(Event::End(_)) => {
                let node = stack.pop().expect("balanced");
                stack
                    .last_mut()
                    .ok_or("unbalanced XML")?
                    .children
                    .push(node);
            }
            Ok(_) => {}
        }
    }
    let mut root = stack.pop().ok_or("empty XML")?;
    root.children
        .pop()
        .ok_or_else(|| "the XML has no root element".to_string())
}

fn attrs(e: &quick_xml::events::BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("XML attribute: {e}"))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        if key.starts_with("xmlns") {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("XML attribute value: {e}"))?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

fn attr<'a>(n: &'a Node, key: &str) -> Option<&'a str> {
    n.attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A FHIR resource in XML as FHIR JSON.
pub fn to_json(text: &str) -> Result<Value, String> {
    let root = parse_tree(text)?;
    resource(&root, base()?)
}

fn resource(n: &Node, base: &Base) -> Result<Value, String> {
    let t = base
        .get(&n.name)
        .ok_or_else(|| format!("<{}> is not an R4 resource type", n.name))?;
    let mut obj = Map::new();
    obj.insert("resourceType".into(), Value::String(n.name.clone()));
    fill(n, Some(&t.elements), base, &mut obj)?;
    Ok(Value::Object(obj))
}

fn primitive(type_name: &str, value: &str) -> Value {
    match type_name {
        "boolean" => Value::Bool(value == "true"),
        "integer" | "positiveInt" | "unsignedInt" => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(value.into())),
        "decimal" => serde_json::from_str::<serde_json::Number>(value)
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(value.into())),
        _ => Value::String(value.into()),
    }
}

/// The children of `n` into `obj`, typed by `elements` (untyped, when unknown: primitives
/// are strings and nothing repeats unless written twice).
fn fill(
    n: &Node,
    elements: Option<&Elements>,
    base: &Base,
    obj: &mut Map<String, Value>,
) -> Result<(), String> {
    if let Some(id) = attr(n, "id") {
        obj.insert("id".into(), Value::String(id.into()));
    }
    if let Some(url) = attr(n, "url") {
        obj.insert("url".into(), Value::String(url.into()));
    }
    for c in &n.children {
        let def = elements.and_then(|e| e.lookup(&c.name));
        let (many, value) = match def {
            Some((e, t)) => {
                let value = if let Some(x) = &c.xhtml {
                    Value::String(x.clone())
                } else if base.is_primitive(t) {
                    let v = attr(c, "value").unwrap_or("");
                    primitive(t, v)
                } else if t == "Resource" || e.types.iter().any(|t| t == "Resource") {
                    let inner = c
                        .children
                        .first()
                        .ok_or_else(|| format!("<{}> holds no resource", c.name))?;
                    resource(inner, base)?
                } else {
                    let children = base
                        .children_of(e)
                        .or_else(|| base.get(t).map(|d| &d.elements));
                    let children = if e.choice {
                        base.get(t).map(|d| &d.elements)
                    } else {
                        children
                    };
                    let mut o = Map::new();
                    fill(c, children, base, &mut o)?;
                    Value::Object(o)
                };
                (e.many, value)
            }
            None => {
                let value = if let Some(x) = &c.xhtml {
                    Value::String(x.clone())
                } else if c.children.is_empty()
                    && let Some(v) = attr(c, "value")
                {
                    Value::String(v.into())
                } else {
                    let mut o = Map::new();
                    fill(c, None, base, &mut o)?;
                    Value::Object(o)
                };
                (false, value)
            }
        };
        match obj.get_mut(&c.name) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                obj.insert(
                    c.name.clone(),
                    if many {
                        Value::Array(vec![value])
                    } else {
                        value
                    },
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_testscript_in_xml_becomes_fhir_json() {
        let xml = r#"<TestScript xmlns="http://hl7.org/fhir">
          <id value="x"/>
          <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>hi</p></div></text>
          <name value="X"/>
          <fixture id="f1"><autocreate value="false"/><autodelete value="true"/>
            <resource><reference value="Patient/a.json"/></resource></fixture>
          <variable><name value="v"/><path value="fhir:Patient/fhir:id/@value"/></variable>
          <test><action><operation><type><system value="http://terminology.hl7.org/CodeSystem/testscript-operation-codes"/><code value="read"/></type>
            <resource value="Patient"/><destination value="1"/><encodeRequestUrl value="true"/></operation></action>
            <action><assert><warningOnly value="false"/><response value="okay"/></assert></action></test>
          <contained><Patient><id value="p"/><name><family value="F"/><given value="A"/><given value="B"/></name></Patient></contained>
        </TestScript>"#;
        let v = to_json(xml).unwrap();
        assert_eq!(v["resourceType"], "TestScript");
        assert_eq!(v["fixture"][0]["id"], "f1");
        assert_eq!(v["fixture"][0]["autodelete"], true);
        assert_eq!(v["variable"][0]["name"], "v");
        assert_eq!(v["test"][0]["action"][0]["operation"]["destination"], 1);
        assert_eq!(v["test"][0]["action"][1]["assert"]["response"], "okay");
        assert_eq!(v["contained"][0]["resourceType"], "Patient");
        assert_eq!(v["contained"][0]["name"][0]["given"][1], "B");
        assert!(v["text"]["div"].as_str().unwrap().contains("<p>hi</p>"));
    }
}
