//! The `$submit-attachment` payload (cdex-parameters-submit-attachment): one [`Submission`]
//! as the Parameters resource, in the order of the OperationDefinition's parameters.

use serde_json::{Value, json};

/// One attachment: its content, the attachment code asked for, the claim lines.
#[derive(Debug, Clone)]
pub struct Part {
    pub line_items: Vec<String>,
    pub code: Option<Value>,
    pub content: Value,
}

/// What a Provider submits.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub tracking_id: Value,
    /// `claim` or `preauthorization`.
    pub attach_to: String,
    pub payer_id: Option<Value>,
    pub organization_id: Option<Value>,
    pub provider_id: Option<Value>,
    pub member_id: Value,
    pub service_date: Option<String>,
    pub parts: Vec<Part>,
    /// `Final` (absent means true).
    pub final_submission: Option<bool>,
}

fn identifier(name: &str, v: &Value) -> Value {
    json!({"name": name, "valueIdentifier": v})
}

impl Submission {
    pub fn to_parameters(&self) -> Value {
        let mut ps = vec![
            identifier("TrackingId", &self.tracking_id),
            json!({"name": "AttachTo", "valueCode": self.attach_to}),
        ];
        if let Some(p) = &self.payer_id {
            ps.push(identifier("PayerId", p));
        }
        if let Some(o) = &self.organization_id {
            ps.push(identifier("OrganizationId", o));
        }
        if let Some(p) = &self.provider_id {
            ps.push(identifier("ProviderId", p));
        }
        if !self.member_id.is_null() {
            ps.push(identifier("MemberId", &self.member_id));
        }
        if let Some(d) = &self.service_date {
            ps.push(json!({"name": "ServiceDate", "valueDateTime": d}));
        }
        for part in &self.parts {
            let mut parts: Vec<Value> = part
                .line_items
                .iter()
                .map(|l| json!({"name": "LineItem", "valueString": l}))
                .collect();
            if let Some(c) = &part.code {
                parts.push(json!({"name": "Code", "valueCodeableConcept": c}));
            }
            parts.push(json!({"name": "Content", "resource": part.content}));
            ps.push(json!({"name": "Attachment", "part": parts}));
        }
        if let Some(f) = self.final_submission {
            ps.push(json!({"name": "Final", "valueBoolean": f}));
        }
        json!({"resourceType": "Parameters", "parameter": ps})
    }
}

/// `system|value` (or a bare value) as an Identifier.
pub fn identifier_of(text: &str) -> Value {
    match text.split_once('|') {
        Some((s, v)) if !s.is_empty() => json!({"system": s, "value": v}),
        Some((_, v)) => json!({"value": v}),
        None => json!({"value": text}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_operation_definition_order() {
        let s = Submission {
            tracking_id: identifier_of("urn:t|1"),
            attach_to: "claim".into(),
            payer_id: Some(identifier_of("urn:p|p")),
            organization_id: Some(identifier_of("urn:o|o")),
            provider_id: None,
            member_id: identifier_of("urn:m|m"),
            service_date: Some("2026-01-02".into()),
            parts: vec![Part {
                line_items: vec!["1".into()],
                code: None,
                content: json!({"resourceType": "DocumentReference"}),
            }],
            final_submission: None,
        };
        let p = s.to_parameters();
        let names: Vec<&str> = p["parameter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "TrackingId",
                "AttachTo",
                "PayerId",
                "OrganizationId",
                "MemberId",
                "ServiceDate",
                "Attachment"
            ]
        );
        assert_eq!(identifier_of("x"), json!({"value": "x"}));
    }
}
