//! `Observation`: the scores Rapport computed, one per scored total and subscale of each
//! response, so an EHR can chart them (read and search). The total of a LOINC-coded
//! instrument carries its LOINC code (PHQ-9 44261-6, GAD-7 70274-6); other scores a code of
//! Rapport's score system (`srs-total`, `wai-sr-bond`). `derivedFrom` names the
//! QuestionnaireResponse; `interpretation` the band and flags. Ids are
//! `{response id}-total` and `{response id}-subscale-{n}`.

use super::questionnaire_response::{encounter_reference, patient_reference, response_filter};
use super::search::{SearchParameter, decode_cursor, encode_cursor, searchset, token};
use super::{LOINC, SCORE_SYSTEM, begin, fhir_base, fhir_json};
use crate::db::Database;
use crate::db::instruments::InstrumentVersion;
use crate::db::page::PageRequest;
use crate::db::responses::StoredResponse;
use crate::domain::instruments::InstrumentDefinition;
use crate::domain::scopes::Interaction;
use crate::error::ApiError;
use crate::http::auth_user::AuthUser;
use crate::http::views::round2;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

pub const PARAMETERS: &[SearchParameter] = &[
    super::search::SUBJECT,
    super::search::PATIENT_IDENTIFIER,
    SearchParameter {
        name: "code",
        kind: "token",
        documentation: "LOINC (http://loinc.org|44261-6) or Rapport score code",
    },
    SearchParameter { name: "date", kind: "date", documentation: "When the form was filled in (eq, ge, gt, le, lt)" },
    SearchParameter { name: "category", kind: "token", documentation: "survey (every Observation here)" },
];

const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const BAND_SYSTEM: &str = "https://rapport.dev/fhir/CodeSystem/band";
const FLAG_SYSTEM: &str = "https://rapport.dev/fhir/CodeSystem/flag";

/// Which score of a response an Observation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Score {
    Total,
    /// The subscale at this index of the definition.
    Subscale(usize),
}

impl Score {
    fn suffix(self) -> String {
        match self {
            Score::Total => "total".into(),
            Score::Subscale(index) => format!("subscale-{}", index.saturating_add(1)),
        }
    }

    fn parse(suffix: &str) -> Option<Self> {
        match suffix {
            "total" => Some(Score::Total),
            other => other.strip_prefix("subscale-")?.parse::<usize>().ok()?.checked_sub(1).map(Score::Subscale),
        }
    }
}

/// The scores of a definition with their (system, code, display).
fn scores_of(definition: &InstrumentDefinition) -> Vec<(Score, &'static str, String, String)> {
    let total = match &definition.loinc {
        Some(loinc) => (Score::Total, LOINC, loinc.total.clone(), format!("{} total score", definition.name)),
        None => (
            Score::Total,
            SCORE_SYSTEM,
            format!("{}-total", definition.key),
            format!("{} total score", definition.name),
        ),
    };
    std::iter::once(total)
        .chain(definition.subscales.iter().enumerate().map(|(index, subscale)| {
            (
                Score::Subscale(index),
                SCORE_SYSTEM,
                format!("{}-{}", definition.key, subscale.key),
                format!("{}: {}", definition.name, subscale.name),
            )
        }))
        .collect()
}

fn quantity(value: f64) -> Value {
    json!({ "value": round2(value), "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}" })
}

/// The Observations of a response, optionally only those with a code in `codes`.
pub fn observations(stored: &StoredResponse, codes: Option<&[(Option<String>, String)]>) -> Vec<(String, Value)> {
    let row = &stored.row;
    let instant = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    scores_of(&stored.definition)
        .into_iter()
        .filter(|(_, system, code, _)| {
            codes.is_none_or(|codes| codes.iter().any(|(s, c)| c == code && s.as_deref().is_none_or(|s| s == *system)))
        })
        .filter_map(|(score, system, code, display)| {
            let value = match score {
                Score::Total => stored.scores.total,
                Score::Subscale(index) => {
                    let key = &stored.definition.subscales.get(index)?.key;
                    stored.scores.subscales.get(key)?.total
                }
            };
            let id = format!("{}-{}", row.id, score.suffix());
            let mut observation = json!({
                "resourceType": "Observation",
                "id": id,
                "meta": { "lastUpdated": instant(row.voided_at.unwrap_or(row.created_at)) },
                "status": if row.voided_at.is_some() { "entered-in-error" } else { "final" },
                "category": [{ "coding": [{ "system": CATEGORY_SYSTEM, "code": "survey", "display": "Survey" }] }],
                "code": { "coding": [{ "system": system, "code": code, "display": display }], "text": display },
                "subject": patient_reference(row.client_id),
                "effectiveDateTime": instant(row.administered_at),
                "issued": instant(row.created_at),
                "valueQuantity": quantity(value),
                "derivedFrom": [{ "reference": format!("QuestionnaireResponse/{}", row.id) }],
            });
            if let Some(session) = row.session_id {
                observation["encounter"] = encounter_reference(session);
            }
            if score == Score::Total {
                let mut interpretation: Vec<Value> = Vec::new();
                if let Some(band) = &stored.scores.band {
                    interpretation.push(json!({ "coding": [{ "system": BAND_SYSTEM, "code": band }], "text": band }));
                }
                for flag in &stored.scores.flags {
                    let text = match &flag.item {
                        Some(item) => format!("{} ({item})", flag.code),
                        None => flag.code.clone(),
                    };
                    interpretation
                        .push(json!({ "coding": [{ "system": FLAG_SYSTEM, "code": flag.code }], "text": text }));
                }
                if !interpretation.is_empty() {
                    observation["interpretation"] = json!(interpretation);
                }
            }
            Some((id, observation))
        })
        .collect()
}

pub async fn read(
    user: AuthUser,
    request: HttpRequest,
    id: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    begin(&user, &request, "Observation", Interaction::Read, &[])?;
    let (response_id, score) = id
        .get(..36)
        .zip(id.get(36..))
        .and_then(|(uuid, rest)| Some((Uuid::parse_str(uuid).ok()?, Score::parse(rest.strip_prefix('-')?)?)))
        .ok_or(ApiError::NotFound)?;
    let stored = database.find_response(user.actor(), response_id).await?;
    let wanted = format!("{response_id}-{}", score.suffix());
    let (_, observation) =
        observations(&stored, None).into_iter().find(|(id, _)| *id == wanted).ok_or(ApiError::NotFound)?;
    Ok(fhir_json(StatusCode::OK, &observation))
}

/// The (system, code) pairs a `code` search asks for, and the instrument keys that have one.
fn codes_searched(value: &str, versions: &[InstrumentVersion]) -> (Vec<(Option<String>, String)>, Vec<String>) {
    let codes: Vec<(Option<String>, String)> =
        value.split(',').map(|one| token(one)).map(|(s, c)| (s.map(str::to_owned), c.to_owned())).collect();
    let mut keys: Vec<String> = versions
        .iter()
        .filter(|v| {
            scores_of(&v.definition).iter().any(|(_, system, code, _)| {
                codes.iter().any(|(s, c)| c == code && s.as_deref().is_none_or(|s| s == *system))
            })
        })
        .map(|v| v.definition.key.clone())
        .collect();
    keys.dedup();
    (codes, keys)
}

pub async fn search(
    user: AuthUser,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let search = begin(&user, &request, "Observation", Interaction::Search, PARAMETERS)?;
    // Only a code search needs the definitions (which instruments have the code).
    let versions = match search.all("code").next() {
        Some(_) => database.all_instrument_versions(user.organization_id).await?,
        None => Vec::new(),
    };
    let base = fhir_base(&request);
    let link = format!("{base}/Observation");
    let empty = || fhir_json(StatusCode::OK, &searchset(&link, request.query_string(), Vec::new(), None));
    if let Some(category) = search.one("category")? {
        let (system, code) = token(category);
        if code != "survey" || system.is_some_and(|s| s != CATEGORY_SYSTEM) {
            return Ok(empty());
        }
    }
    let Some(mut filter) = response_filter(&search, &versions, user.organization_id)? else { return Ok(empty()) };
    (filter.from, filter.to) = search.date_range("date")?;
    let codes = search.all("code").next().map(|value| codes_searched(value, &versions));
    if search.all("code").nth(1).is_some() {
        return Err(ApiError::query("code", "give it once (a,b means either)"));
    }
    if let Some((_, keys)) = &codes {
        if keys.is_empty() {
            return Ok(empty());
        }
        filter.instrument_keys = Some(keys.clone());
    }
    let cursor = search.cursor.as_deref().map(decode_cursor).transpose()?;
    // Resume at the cursor's response itself (its first `skip` Observations were given).
    let after = cursor.map(|(id, _)| Uuid::from_u128(id.as_u128().saturating_sub(1)));
    let count = usize::try_from(search.count).unwrap_or(1);
    let page_size = search.count.saturating_add(1);
    let page = database.list_responses(user.actor(), filter, PageRequest { limit: page_size, after }).await?;
    let wanted = codes.as_ref().map(|(codes, _)| codes.as_slice());
    let mut entries = Vec::new();
    let mut next = None;
    'responses: for stored in &page.items {
        let skip = cursor.filter(|(id, _)| *id == stored.row.id).map_or(0, |(_, skip)| skip);
        for (position, (id, observation)) in observations(stored, wanted).into_iter().enumerate().skip(skip) {
            if entries.len() == count {
                next = Some(encode_cursor(stored.row.id, position));
                break 'responses;
            }
            entries.push((format!("{base}/Observation/{id}"), observation));
        }
    }
    if next.is_none() {
        next = page.next.map(|id| encode_cursor(Uuid::from_u128(id.as_u128().saturating_add(1)), 0));
    }
    Ok(fhir_json(StatusCode::OK, &searchset(&link, request.query_string(), entries, next)))
}
