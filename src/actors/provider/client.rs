//! The reference Provider as **Data Source client** (`data-source-client`): unsolicited
//! attachments (sending-attachments.html). The action `submit-attachment` POSTs
//! `[base]/$submit-attachment` (or `with: payer_url`) with a cdex-parameters-submit-attachment
//! Parameters built from the step's `with:`; `follow-submission` does nothing more (a 4xx
//! means "no point in resubmitting the unaltered operation").

use super::content;
use super::faults;
use super::http::post_as;
use super::parameters::{Part, Submission, identifier_of};
use super::sign;
use crate::actors::{ActionRequest, BoxFuture, ClientActor, ReferenceActor};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The actions it performs.
pub const ACTIONS: &[&str] = &["submit-attachment", "follow-submission"];

/// The pack's `reference: data-source-client:` settings: who the Provider is when a step does
/// not say.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `system|value` of the practitioner (Type 1 NPI) and of the organization (Type 2 NPI).
    pub provider_id: String,
    pub organization_id: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            provider_id: "http://hl7.org/fhir/sid/us-npi|9941339108".into(),
            organization_id: "http://hl7.org/fhir/sid/us-npi|1407071236".into(),
        }
    }
}

/// Factory of the reference Data Source client.
pub fn build(settings: &Value, faults: BTreeSet<String>) -> Result<ReferenceActor, String> {
    let settings: Settings = serde_json::from_value(settings.clone())
        .map_err(|e| format!("reference settings of data-source-client: {e}"))?;
    Ok(ReferenceActor {
        server: None,
        client: Some(Arc::new(Submitter {
            settings,
            faults,
            busy: Arc::new(tokio::sync::Mutex::new(())),
        })),
    })
}

struct Submitter {
    settings: Settings,
    faults: BTreeSet<String>,
    /// Held while a submission (and whatever follows its answer) is in flight, so
    /// `follow-submission` ends only once everything it sent has been sent.
    busy: Arc<tokio::sync::Mutex<()>>,
}

impl ClientActor for Submitter {
    fn perform(&self, req: ActionRequest) -> BoxFuture<Result<(), String>> {
        let settings = self.settings.clone();
        let faults = self.faults.clone();
        let busy = self.busy.clone();
        Box::pin(async move {
            let _held = busy.lock().await;
            match req.action.as_str() {
                "submit-attachment" => submit(&settings, &faults, &req).await,
                "follow-submission" => Ok(()),
                other => Err(format!(
                    "the reference Data Source client does not perform `{other}`"
                )),
            }
        })
    }
}

fn with<'a>(req: &'a ActionRequest, key: &str) -> Option<&'a str> {
    req.with
        .get(key)
        .map(String::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "none")
}

/// The submission the step's `with:` describes.
pub fn submission(settings: &Settings, req: &ActionRequest) -> Result<Submission, String> {
    let member = identifier_of(with(req, "member_id").ok_or("`with: member_id` is needed")?);
    let provider = with(req, "provider_id").unwrap_or(&settings.provider_id);
    let organization = with(req, "organization_id").unwrap_or(&settings.organization_id);
    let code = with(req, "code").map(|c| match c.rsplit_once('|') {
        Some((s, c)) => json!({"coding": [{"system": s, "code": c}]}),
        None => content::loinc(c),
    });
    let lines: Vec<String> = with(req, "line_item")
        .map(|l| l.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    let author = identifier_of(provider);
    let signed = with(req, "signed") == Some("true");
    let kind = with(req, "content").unwrap_or("document");
    let doc_type = code.clone().unwrap_or_else(|| content::loinc("11506-3"));
    let mut contents: Vec<Value> = match kind {
        "document" => vec![content::document(
            "unsolicited-doc-1",
            &member,
            &doc_type,
            None,
        )],
        "document-url" => {
            let url = with(req, "document_url")
                .map(str::to_string)
                .unwrap_or_else(|| {
                    "https://provider.example.org/fhir/Binary/unsolicited-doc-1".into()
                });
            vec![content::document(
                "unsolicited-doc-1",
                &member,
                &doc_type,
                Some(&url),
            )]
        }
        "questionnaire-response" => vec![content::questionnaire_response(
            "unsolicited-qr-1",
            with(req, "questionnaire").unwrap_or("http://example.org/cdex-questionnaire-example1"),
            &member,
            &author,
        )],
        "observations" => content::observations(&member),
        other => {
            return Err(format!(
                "`with: content` is one of {}, not `{other}`",
                content::KINDS.join(", ")
            ));
        }
    };
    if signed {
        for c in contents.iter_mut() {
            if c["resourceType"] == "DocumentReference" {
                *c = content::document_bundle("unsolicited-bundle-1", c, &author);
            }
        }
    }
    let parts = contents
        .into_iter()
        .map(|content| Part {
            line_items: lines.clone(),
            code: code.clone(),
            content,
        })
        .collect();
    Ok(Submission {
        tracking_id: identifier_of(
            with(req, "tracking_id").ok_or("`with: tracking_id` is needed")?,
        ),
        attach_to: with(req, "attach_to").unwrap_or("claim").to_string(),
        payer_id: with(req, "payer_id").map(identifier_of),
        organization_id: Some(identifier_of(organization)),
        provider_id: Some(identifier_of(provider)),
        member_id: member,
        service_date: with(req, "service_date").map(str::to_string),
        parts,
        final_submission: with(req, "final").map(|f| f == "true"),
    })
}

async fn submit(
    settings: &Settings,
    faults: &BTreeSet<String>,
    req: &ActionRequest,
) -> Result<(), String> {
    let mut sub = submission(settings, req)?;
    faults::apply(&mut sub, faults);
    let signed = with(req, "signed") == Some("true") && !faults.contains("unsigned-when-required");
    if signed {
        let who = sub
            .provider_id
            .clone()
            .or(sub.organization_id.clone())
            .unwrap_or(Value::Null);
        for p in sub.parts.iter_mut() {
            sign::sign(&mut p.content, &who)?;
        }
    }
    let body = sub.to_parameters();
    let url = match with(req, "payer_url") {
        Some(u) => u.to_string(),
        None => format!("{}/$submit-attachment", req.base_url.trim_end_matches('/')),
    };
    let method = if faults.contains("put-not-post") {
        "PUT"
    } else {
        "POST"
    };
    let xml = faults.contains("xml-body");
    let status = post_as(req, method, &url, &body, xml).await?;
    if (400..500).contains(&status) && faults.contains("resubmits-after-4xx") {
        post_as(req, method, &url, &body, xml).await?;
    }
    Ok(())
}
