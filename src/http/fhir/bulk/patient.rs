//! Clients as FHIR Patient resources, for Bulk Data exports.

use crate::db::clients::ClientRow;
use serde_json::{Value, json};

/// A client as a Patient: its id, its external id as the identifier, and what Rapport holds
/// of its demographics (birth year, display name).
pub fn render(client: &ClientRow) -> Value {
    let mut patient = json!({
        "resourceType": "Patient",
        "id": client.id,
        "meta": { "lastUpdated": client.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true) },
        "identifier": [{ "use": "usual", "value": client.external_id }],
    });
    if let Some(year) = client.birth_year {
        patient["birthDate"] = json!(format!("{year:04}"));
    }
    if let Some(name) = &client.display_name {
        patient["name"] = json!([{ "text": name }]);
    }
    patient
}
