//! An in-memory FHIR resource store with the few search parameters the reference actors
//! need. One store per reference actor instance, so scenarios never see each other's data.

use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Search parameters the store understands, and the elements each one looks at.
/// (`_id` and `_lastUpdated` are handled separately.)
pub const SEARCH_PARAMS: &[(&str, &[&str])] = &[
    ("patient", &["subject", "patient", "for"]),
    ("subject", &["subject", "for"]),
    ("identifier", &["identifier"]),
    ("status", &["status"]),
    ("based-on", &["basedOn"]),
    ("owner", &["owner"]),
    ("requester", &["requester"]),
    ("focus", &["focus"]),
    ("recipient", &["recipient"]),
    ("sender", &["sender"]),
    ("code", &["code"]),
];

/// A stored resource. Shared, not copied: a read, a search hit and the answer to a create
/// all point at the one the store holds (a simulator answers thousands a second).
///
/// The store keeps the resource as it was received (often the very parse the live check
/// validates) with the id, version and time it gave it; [`resource`](Self::resource) is that
/// resource stamped with them, built when first asked for, and [`stamped`](Self::stamped)
/// writes the same JSON without building it (the answer to a push).
#[derive(Debug, Clone)]
pub struct Stored {
    pub version: u64,
    inner: Arc<StoredInner>,
}

#[derive(Debug)]
struct StoredInner {
    received: Arc<Value>,
    id: String,
    last_updated: String,
    resource: OnceLock<Arc<Value>>,
}

impl Stored {
    fn new(received: Arc<Value>, id: String, version: u64) -> Stored {
        let last_updated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Stored {
            version,
            inner: Arc::new(StoredInner {
                received,
                id,
                last_updated,
                resource: OnceLock::new(),
            }),
        }
    }

    /// The resource as stored: as received, with `id`, `meta.versionId` and
    /// `meta.lastUpdated` set by the store.
    pub fn resource(&self) -> &Arc<Value> {
        self.inner.resource.get_or_init(|| {
            let mut r = Value::clone(&self.inner.received);
            stamp(
                &mut r,
                &self.inner.id,
                self.version,
                &self.inner.last_updated,
            );
            Arc::new(r)
        })
    }

    /// The resource as stored, owned.
    pub fn into_resource(self) -> Value {
        Value::clone(self.resource())
    }

    /// Its id (empty for a body that is not a JSON object, which has no place for one).
    pub fn id(&self) -> &str {
        if self.inner.received.is_object() {
            &self.inner.id
        } else {
            ""
        }
    }

    /// Serializes exactly as [`resource`](Self::resource) does, without building it.
    pub fn stamped(&self) -> Stamped<'_> {
        Stamped(self)
    }
}

/// A [`Stored`] resource written as JSON with its stamp: see [`Stored::stamped`].
pub struct Stamped<'a>(&'a Stored);

impl serde::Serialize for Stamped<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let stored = self.0;
        if let Some(built) = stored.inner.resource.get() {
            return built.serialize(s);
        }
        let Some(obj) = stored.inner.received.as_object() else {
            return stored.inner.received.serialize(s);
        };
        // What `stamp` does, written as it goes: `id` and `meta` keep their place or come
        // last, in that order.
        let (has_id, has_meta) = (obj.contains_key("id"), obj.contains_key("meta"));
        let len = obj.len() + usize::from(!has_id) + usize::from(!has_meta);
        let meta = StampedMeta {
            meta: None,
            version: stored.version,
            last_updated: &stored.inner.last_updated,
        };
        let mut map = s.serialize_map(Some(len))?;
        for (k, v) in obj {
            match k.as_str() {
                "id" => map.serialize_entry(k, &stored.inner.id)?,
                "meta" => map.serialize_entry(
                    k,
                    &StampedMeta {
                        meta: Some(v),
                        ..meta
                    },
                )?,
                _ => map.serialize_entry(k, v)?,
            }
        }
        if !has_id {
            map.serialize_entry("id", &stored.inner.id)?;
        }
        if !has_meta {
            map.serialize_entry("meta", &meta)?;
        }
        map.end()
    }
}

/// `meta` as `stamp` leaves it: `versionId` and `lastUpdated` set (in place or last), and
/// a `meta` that is not an object left alone.
#[derive(Clone, Copy)]
struct StampedMeta<'a> {
    meta: Option<&'a Value>,
    version: u64,
    last_updated: &'a str,
}

impl serde::Serialize for StampedMeta<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let empty = serde_json::Map::new();
        let obj = match self.meta {
            None => &empty,
            Some(Value::Object(o)) => o,
            Some(other) => return other.serialize(s),
        };
        let version = self.version.to_string();
        let (has_v, has_l) = (
            obj.contains_key("versionId"),
            obj.contains_key("lastUpdated"),
        );
        let len = obj.len() + usize::from(!has_v) + usize::from(!has_l);
        let mut map = s.serialize_map(Some(len))?;
        for (k, v) in obj {
            match k.as_str() {
                "versionId" => map.serialize_entry(k, &version)?,
                "lastUpdated" => map.serialize_entry(k, self.last_updated)?,
                _ => map.serialize_entry(k, v)?,
            }
        }
        if !has_v {
            map.serialize_entry("versionId", &version)?;
        }
        if !has_l {
            map.serialize_entry("lastUpdated", self.last_updated)?;
        }
        map.end()
    }
}

#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// (type, id) -> resource
    items: BTreeMap<(String, String), Stored>,
    /// The most resources kept (a simulator's `--keep`; none in a run), and the count of
    /// those dropped, the oldest first.
    cap: Option<(usize, Arc<AtomicU64>)>,
    /// With a cap: keys in the order they were first stored (may hold deleted ones).
    order: VecDeque<(String, String)>,
}

impl Inner {
    /// Insert, and past the cap drop the oldest.
    fn insert(&mut self, key: (String, String), stored: Stored) {
        let new = self.items.insert(key.clone(), stored).is_none();
        if self.cap.is_none() {
            return;
        }
        if new {
            self.order.push_back(key);
        }
        self.evict();
    }

    /// Past the cap, drop the oldest.
    fn evict(&mut self) {
        let Some((cap, dropped)) = &self.cap else {
            return;
        };
        while self.items.len() > *cap {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.items.remove(&oldest).is_some() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Store {
    /// Keep at most `keep` resources (at least 1), dropping the oldest past it and counting
    /// each in `dropped`: a simulator's memory stays bounded over a long day.
    pub fn keep_at_most(&self, keep: usize, dropped: Arc<AtomicU64>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.order = inner.items.keys().cloned().collect();
        inner.cap = Some((keep.max(1), dropped));
        inner.evict();
    }

    /// Create with a server-assigned id. Returns the stored resource.
    pub fn create(&self, rtype: &str, resource: impl Into<Arc<Value>>) -> Stored {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.next_id += 1;
        let id = format!("{}-{}", rtype.to_ascii_lowercase(), inner.next_id);
        let stored = Stored::new(resource.into(), id.clone(), 1);
        inner.insert((rtype.to_string(), id), stored.clone());
        stored
    }

    /// Create or replace at a client-chosen id. Returns the stored resource and whether it
    /// was created.
    pub fn put(&self, rtype: &str, id: &str, resource: impl Into<Arc<Value>>) -> (Stored, bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (rtype.to_string(), id.to_string());
        let version = inner.items.get(&key).map(|s| s.version + 1).unwrap_or(1);
        let stored = Stored::new(resource.into(), id.to_string(), version);
        inner.insert(key, stored.clone());
        (stored, version == 1)
    }

    /// Store a resource a scenario serves (`serve` step): at its own id, or a new one.
    /// Returns its `Type/id`.
    pub fn seed(&self, resource: Value) -> Result<String, String> {
        let rtype = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or("a served resource needs a resourceType")?
            .to_string();
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let stored = match id {
            Some(id) => self.put(&rtype, &id, resource).0,
            None => self.create(&rtype, resource),
        };
        Ok(format!("{rtype}/{}", stored.id()))
    }

    pub fn read(&self, rtype: &str, id: &str) -> Option<Stored> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .items
            .get(&(rtype.to_string(), id.to_string()))
            .cloned()
    }

    pub fn delete(&self, rtype: &str, id: &str) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .items
            .remove(&(rtype.to_string(), id.to_string()))
            .is_some()
    }

    /// Search one type. Unknown parameters are returned so the caller can report them.
    pub fn search(&self, rtype: &str, params: &[(String, String)]) -> (Vec<Value>, Vec<String>) {
        let mut unknown = Vec::new();
        for (k, _) in params {
            let name = k.split(':').next().unwrap_or("");
            if !name.starts_with('_')
                && !SEARCH_PARAMS.iter().any(|(p, _)| *p == name)
                && !unknown.contains(k)
            {
                unknown.push(k.clone());
            }
        }
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let hits = inner
            .items
            .iter()
            .filter(|((t, _), _)| t == rtype)
            .filter(|(_, s)| params.iter().all(|(k, v)| matches(s.resource(), k, v)))
            .map(|(_, s)| Value::clone(s.resource()))
            .collect();
        (hits, unknown)
    }
}

fn stamp(resource: &mut Value, id: &str, version: u64, last_updated: &str) {
    if let Some(obj) = resource.as_object_mut() {
        obj.insert("id".into(), Value::String(id.to_string()));
        let meta = obj.entry("meta").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("versionId".into(), Value::String(version.to_string()));
            m.insert(
                "lastUpdated".into(),
                Value::String(last_updated.to_string()),
            );
        }
    }
}

/// Does a resource match one search parameter (comma = OR)?
fn matches(resource: &Value, key: &str, value: &str) -> bool {
    let name = key.split(':').next().unwrap_or("");
    match name {
        "_id" => value
            .split(',')
            .any(|v| resource.get("id").and_then(Value::as_str) == Some(v)),
        "_lastUpdated" => last_updated_matches(resource, value),
        n if n.starts_with('_') => true, // result parameters (_count, _sort...) do not filter
        _ => {
            let Some((_, elements)) = SEARCH_PARAMS.iter().find(|(p, _)| *p == name) else {
                return true; // unknown parameters are ignored, as FHIR servers do by default
            };
            value.split(',').any(|v| {
                elements
                    .iter()
                    .any(|e| element_matches(resource.get(*e), v))
            })
        }
    }
}

fn element_matches(element: Option<&Value>, wanted: &str) -> bool {
    let Some(el) = element else { return false };
    match el {
        Value::Array(items) => items.iter().any(|i| element_matches(Some(i), wanted)),
        Value::String(s) => s == wanted,
        Value::Object(o) => {
            // Reference: `Patient/1` or just `1`.
            if let Some(r) = o.get("reference").and_then(Value::as_str) {
                return r == wanted
                    || r.rsplit('/').next() == Some(wanted)
                    || r.ends_with(&format!("/{wanted}"));
            }
            // Identifier: `system|value` or `value`.
            if let Some(v) = o.get("value").and_then(Value::as_str) {
                let system = o.get("system").and_then(Value::as_str).unwrap_or("");
                return match wanted.split_once('|') {
                    Some((s, val)) => (s.is_empty() || s == system) && val == v,
                    None => wanted == v,
                };
            }
            // CodeableConcept: `system|code` or `code`.
            if let Some(codings) = o.get("coding").and_then(Value::as_array) {
                return codings.iter().any(|c| {
                    let code = c.get("code").and_then(Value::as_str).unwrap_or("");
                    let system = c.get("system").and_then(Value::as_str).unwrap_or("");
                    match wanted.split_once('|') {
                        Some((s, val)) => (s.is_empty() || s == system) && val == code,
                        None => wanted == code,
                    }
                });
            }
            false
        }
        _ => false,
    }
}

fn last_updated_matches(resource: &Value, value: &str) -> bool {
    let Some(lu) = resource
        .pointer("/meta/lastUpdated")
        .and_then(Value::as_str)
    else {
        return false;
    };
    let (op, date) = match value.get(..2) {
        Some(p @ ("gt" | "ge" | "lt" | "le" | "eq")) => (p, &value[2..]),
        _ => ("eq", value),
    };
    let (Ok(a), Ok(b)) = (
        chrono::DateTime::parse_from_rfc3339(lu),
        chrono::DateTime::parse_from_rfc3339(date),
    ) else {
        return false;
    };
    match op {
        "gt" => a > b,
        "ge" => a >= b,
        "lt" => a < b,
        "le" => a <= b,
        _ => a == b,
    }
}

/// A searchset Bundle of `hits` for a search of `rtype` with `query` at `base`.
pub fn searchset(base: &str, rtype: &str, query: &str, hits: &[Value]) -> Value {
    let entries: Vec<Value> = hits
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap_or_default();
            json!({"fullUrl": format!("{base}/{rtype}/{id}"), "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base}/{rtype}?{query}")}],
        "entry": entries,
    })
}

/// Parse `a=1&b=2` (percent- and plus-decoding).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a cap, the oldest resources go first (an update keeps a resource's place) and
    /// each drop is counted; without one, nothing is dropped.
    #[test]
    fn a_cap_drops_the_oldest_and_counts() {
        let s = Store::default();
        s.create("Communication", json!({"resourceType": "Communication"}));
        let dropped = Arc::new(AtomicU64::new(0));
        s.keep_at_most(2, dropped.clone());
        s.put(
            "Communication",
            "a",
            json!({"resourceType": "Communication", "id": "a"}),
        );
        s.create("Communication", json!({"resourceType": "Communication"}));
        assert!(s.read("Communication", "communication-1").is_none());
        assert_eq!(dropped.load(Ordering::Relaxed), 1);
        s.put(
            "Communication",
            "a",
            json!({"resourceType": "Communication", "id": "a"}),
        );
        s.create("Communication", json!({"resourceType": "Communication"}));
        assert!(s.read("Communication", "a").is_none());
        assert!(s.read("Communication", "communication-2").is_some());
        assert!(s.read("Communication", "communication-3").is_some());
        assert_eq!(dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn create_read_search() {
        let s = Store::default();
        let c = s.create(
            "Condition",
            json!({"resourceType":"Condition","subject":{"reference":"Patient/p1"},
            "identifier":[{"system":"urn:x","value":"v1"}]}),
        );
        let id = c.resource()["id"].as_str().unwrap().to_string();
        assert!(s.read("Condition", &id).is_some());
        assert_eq!(s.search("Condition", &parse_query("patient=p1")).0.len(), 1);
        assert_eq!(
            s.search("Condition", &parse_query("patient=Patient%2Fp1"))
                .0
                .len(),
            1
        );
        assert_eq!(
            s.search("Condition", &parse_query("identifier=urn:x|v1"))
                .0
                .len(),
            1
        );
        assert_eq!(
            s.search("Condition", &parse_query("identifier=urn:y|v1"))
                .0
                .len(),
            0
        );
        assert_eq!(
            s.search("Condition", &parse_query("bogus=1")).1,
            vec!["bogus".to_string()]
        );
    }

    /// The answer to a push is written from what was received and the stamp, without
    /// building the stamped resource: it must be byte for byte what the built one writes.
    #[test]
    fn stamped_writes_what_resource_holds() {
        let cases = [
            json!({"resourceType": "Communication", "status": "completed"}),
            json!({"id": "old", "resourceType": "Communication", "meta": {"profile": ["p"], "versionId": "9"}, "status": "x"}),
            json!({"resourceType": "Communication", "meta": "not an object", "id": 3}),
            json!({"resourceType": "Communication", "meta": {"lastUpdated": "then", "tag": []}}),
            json!({"resourceType": "Communication", "meta": {}}),
            json!(["not", "an", "object"]),
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let s = Store::default();
            let stored = s.put("Communication", "c1", case.clone()).0;
            let again = s.put("Communication", "c1", case).0;
            for st in [&stored, &again] {
                let streamed = serde_json::to_string_pretty(&st.stamped()).unwrap();
                let built = serde_json::to_string_pretty(st.resource().as_ref()).unwrap();
                assert_eq!(streamed, built, "case {i}");
                assert_eq!(serde_json::to_string_pretty(&st.stamped()).unwrap(), built);
            }
            assert_eq!(again.version, 2);
            if again.resource().is_object() {
                if again.resource()["meta"].is_object() {
                    assert_eq!(again.resource()["meta"]["versionId"], "2", "case {i}");
                }
                assert_eq!(again.resource()["id"], "c1", "case {i}");
                assert_eq!(again.id(), "c1");
            } else {
                assert_eq!(again.id(), "");
            }
        }
    }
}
