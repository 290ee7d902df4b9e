//! Direct Query (direct-query.html): the patient's id on the Data Source by member identifier
//! and demographics (CONF-007), a FHIR search, a document's URL, one resource (a search by
//! `_id` when signed results were agreed, CONF-009).

use super::{Consumer, flag, opt, param};
use crate::actors::ActionRequest;

/// `query-patient`: `GET Patient?identifier=SYSTEM|VALUE&birthdate=&name=&gender=`.
pub async fn query_patient(me: &Consumer, req: &ActionRequest) -> Result<(), String> {
    let query = patient_query(me, req)?;
    me.conn
        .get(req, &format!("Patient?{query}"))
        .await
        .map(drop)
}

fn patient_query(me: &Consumer, req: &ActionRequest) -> Result<String, String> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if !me.fault("no-identifier-search") {
        let member = match opt(req, "member_system") {
            Some(system) => format!("{system}|{}", param(req, "member_id")?),
            None => param(req, "member_id")?.to_string(),
        };
        q.append_pair("identifier", &member);
    }
    for name in ["birthdate", "name", "gender"] {
        if let Some(v) = opt(req, name) {
            q.append_pair(name, v);
        }
    }
    Ok(q.finish())
}

/// `direct-query`: `GET [base]/QUERY` (`Condition?patient=...`).
pub async fn direct_query(me: &Consumer, req: &ActionRequest) -> Result<(), String> {
    let query = param(req, "query")?;
    me.conn.get(req, query).await.map(drop)
}

/// `fetch-document`: GET a document's URL (`DocumentReference.content.attachment.url`).
pub async fn fetch_document(me: &Consumer, req: &ActionRequest) -> Result<(), String> {
    let url = param(req, "url")?;
    me.conn
        .fetch(req, url, flag(req, "signatures"))
        .await
        .map(drop)
}

/// `fetch-resource`: one resource by reference: a read, or a search by `_id` when signed
/// results were agreed (`signatures`).
pub async fn fetch_resource(me: &Consumer, req: &ActionRequest) -> Result<(), String> {
    let reference = param(req, "resource")?;
    me.conn
        .fetch(req, reference, flag(req, "signatures"))
        .await
        .map(drop)
}
