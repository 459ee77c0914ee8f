//! `Questionnaire`: one per instrument version (`GET /fhir/r4/Questionnaire[/{id}]`), built
//! from the instrument's definition. The id is the version's id; `url` is the instrument's
//! canonical and `version` its version number. Item wording appears only where the instrument
//! may ship it (public-domain PHQ-9 and GAD-7, in English) or the organization uploaded it for
//! the requested language (`_language`, else `Accept-Language`).

use super::search::{Search, SearchParameter, token};
use super::{LOINC, begin, fhir_base, fhir_json};
use crate::db::Database;
use crate::db::instruments::InstrumentVersion;
use crate::domain::instruments::InstrumentDefinition;
use crate::domain::instruments::definition::{AnswerType, Licence};
use crate::domain::scopes::Interaction;
use crate::error::ApiError;
use crate::http::auth_user::AuthUser;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

pub const PARAMETERS: &[SearchParameter] = &[
    SearchParameter { name: "_id", kind: "token", documentation: "The instrument version's id" },
    SearchParameter {
        name: "url",
        kind: "uri",
        documentation: "The instrument's canonical URL (`url|version` allowed)",
    },
    SearchParameter {
        name: "name",
        kind: "string",
        documentation: "Computable name, e.g. PHQ_9 (case-insensitive prefix)",
    },
    SearchParameter { name: "status", kind: "token", documentation: "active (current version) or retired" },
    SearchParameter { name: "_language", kind: "token", documentation: "The language of item wording, e.g. fr-CA" },
];

/// What a read takes: the language of the wording.
const READ_PARAMETERS: &[SearchParameter] =
    &[SearchParameter { name: "_language", kind: "token", documentation: "The language of item wording" }];

/// Canonical URLs of Rapport's instruments. Built-ins share one across organizations; an
/// organization's own instrument is named under its organization.
const CANONICAL_BASE: &str = "https://rapport.dev/fhir/Questionnaire";
/// The code system of answers to Likert items that LOINC does not code: the code is the value.
pub const ANSWER_SYSTEM: &str = "https://rapport.dev/fhir/CodeSystem/answer";
const ORDINAL_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";

pub fn canonical(version: &InstrumentVersion, organization_id: Uuid) -> String {
    if version.builtin {
        format!("{CANONICAL_BASE}/{}", version.definition.key)
    } else {
        format!("{CANONICAL_BASE}/organization/{organization_id}/{}", version.definition.key)
    }
}

/// A computable name (`[A-Z][A-Za-z0-9_]*`) from the key: `phq-9` → `PHQ_9`.
fn computable_name(key: &str) -> String {
    let name: String = key.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() }).collect();
    if name.starts_with(|c: char| c.is_ascii_uppercase()) { name } else { format!("Q_{name}") }
}

/// The instrument version a `questionnaire` canonical names: Rapport's canonical or the LOINC
/// form URL (`http://loinc.org/q/44249-1`), with or without `|version` (without: the current
/// version), or a `Questionnaire/{id}` reference to a version. `versions` are the
/// organization's, by key then version.
pub fn find<'a>(
    versions: &'a [InstrumentVersion],
    organization_id: Uuid,
    reference: &str,
) -> Option<&'a InstrumentVersion> {
    let (url, wanted) = match reference.split_once('|') {
        Some((url, version)) => (url, Some(version)),
        None => (reference, None),
    };
    if let Some((_, id)) = url.rsplit_once("Questionnaire/") {
        if let Ok(id) = Uuid::parse_str(id) {
            return versions.iter().find(|v| v.version_id == id && wanted.is_none_or(|w| w == v.version.to_string()));
        }
    }
    let named = |v: &&InstrumentVersion| is_named(v, organization_id, url);
    match wanted {
        Some(wanted) => versions.iter().filter(named).find(|v| v.version.to_string() == wanted),
        None => versions.iter().filter(named).max_by_key(|v| v.version),
    }
}

/// Whether `url` (without `|version`) is a canonical of `version`'s instrument.
fn is_named(version: &InstrumentVersion, organization_id: Uuid, url: &str) -> bool {
    canonical(version, organization_id) == url || version.definition.loinc.as_ref().is_some_and(|l| l.form_url() == url)
}

/// Item wording for one language: the organization's uploaded texts, else what ships.
pub struct Wording<'a> {
    pub language: Option<&'a str>,
    pub uploaded: Option<&'a Map<String, Value>>,
}

impl<'a> Wording<'a> {
    /// The uploaded wording of `instrument` for `language` (exact tag, else its primary
    /// language), if any.
    fn of(texts: &'a UploadedTexts, language: Option<&str>, instrument: Uuid) -> Self {
        let found = language.and_then(|language| {
            let primary = language.split('-').next().unwrap_or(language);
            [language, primary].into_iter().find_map(|tag| {
                texts.get_key_value(tag).and_then(|(tag, per)| per.get(&instrument).map(|t| (tag.as_str(), t)))
            })
        });
        Wording { language: found.map(|(tag, _)| tag), uploaded: found.map(|(_, texts)| texts) }
    }
}

fn item_text(definition: &InstrumentDefinition, wording: &Wording, item_id: &str) -> Option<String> {
    let uploaded = wording.uploaded.and_then(|texts| texts.get(item_id)).and_then(Value::as_str);
    let shipped = || definition.item(item_id).and_then(|item| item.text.clone());
    uploaded.map(str::to_owned).or_else(|| if definition.ships_text { shipped() } else { None })
}

fn extension_value(url: &str, kind: &str, value: Value) -> Value {
    let mut extension = json!({ "url": url });
    extension[kind] = value;
    extension
}

fn item(
    definition: &InstrumentDefinition,
    item: &crate::domain::instruments::definition::ItemDefinition,
    wording: &Wording,
) -> Value {
    let mut out = json!({ "linkId": item.id, "required": item.required });
    if let Some(code) = &item.loinc {
        out["code"] = json!([{ "system": LOINC, "code": code, "display": item.domain }]);
    }
    if let Some(text) = item_text(definition, wording, &item.id) {
        out["text"] = json!(text);
    }
    match &item.answer {
        AnswerType::Vas => {
            out["type"] = json!("decimal");
            out["extension"] = json!([
                extension_value("http://hl7.org/fhir/StructureDefinition/minValue", "valueDecimal", json!(0.0)),
                extension_value("http://hl7.org/fhir/StructureDefinition/maxValue", "valueDecimal", json!(10.0)),
                extension_value("http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces", "valueInteger", json!(1)),
            ]);
        }
        AnswerType::Likert { min, max, labels, codes } => {
            let values = *min..=*max;
            if labels.is_empty() && codes.is_empty() {
                out["type"] = json!("integer");
                out["extension"] = json!([
                    extension_value("http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger", json!(min)),
                    extension_value("http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger", json!(max)),
                ]);
                out["answerOption"] = values.map(|v| json!({ "valueInteger": v })).collect();
            } else {
                out["type"] = json!("choice");
                out["answerOption"] = values
                    .zip(0usize..)
                    .map(|(value, index)| {
                        let mut coding = match codes.get(index) {
                            Some(code) => json!({ "system": LOINC, "code": code }),
                            None => json!({ "system": ANSWER_SYSTEM, "code": value.to_string() }),
                        };
                        if let Some(label) = labels.get(index) {
                            coding["display"] = json!(label);
                        }
                        json!({
                            "valueCoding": coding,
                            "extension": [extension_value(ORDINAL_VALUE, "valueDecimal", json!(value))],
                        })
                    })
                    .collect();
            }
        }
    }
    out
}

fn copyright(licence: Licence) -> Option<&'static str> {
    match licence {
        Licence::Pcoms => Some("Licensed per agency by its authors; Rapport ships the structure, not the wording."),
        Licence::SprWai => {
            Some("Used with permission through the Society for Psychotherapy Research; no wording shipped.")
        }
        Licence::PublicDomain => Some("In the public domain."),
        Licence::OrgOwned => None,
    }
}

/// The Questionnaire of `version`; `current` says whether it is the instrument's latest.
pub fn render(version: &InstrumentVersion, organization_id: Uuid, current: bool, wording: &Wording) -> Value {
    let definition = &version.definition;
    let mut questionnaire = json!({
        "resourceType": "Questionnaire",
        "id": version.version_id.to_string(),
        "meta": { "lastUpdated": version.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true) },
        "url": canonical(version, organization_id),
        "version": version.version.to_string(),
        "name": computable_name(&definition.key),
        "title": definition.name,
        "status": if current { "active" } else { "retired" },
        "subjectType": ["Patient"],
        "date": version.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "item": definition.items.iter().map(|i| item(definition, i, wording)).collect::<Vec<Value>>(),
    });
    let language = if wording.uploaded.is_some() {
        wording.language
    } else if definition.ships_text {
        Some("en")
    } else {
        None
    };
    if let Some(language) = language {
        questionnaire["language"] = json!(language);
    }
    if let Some(loinc) = &definition.loinc {
        questionnaire["code"] = json!([{ "system": LOINC, "code": loinc.panel, "display": definition.name }]);
    }
    if let Some(text) = copyright(definition.licence) {
        questionnaire["copyright"] = json!(text);
    }
    questionnaire
}

/// The requested language: `_language`, else the first of `Accept-Language`.
fn language(request: &HttpRequest, search: Option<&Search>) -> Result<Option<String>, ApiError> {
    let given = match search.map(|s| s.one("_language")).transpose()?.flatten() {
        Some(language) => Some(language.to_owned()),
        None => request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|first| first.split(';').next().unwrap_or("").trim().to_owned())
            .filter(|tag| !tag.is_empty() && tag != "*"),
    };
    Ok(given.filter(|tag| {
        let mut parts = tag.split('-');
        let primary = parts.next().unwrap_or("");
        (2..=3).contains(&primary.len())
            && primary.bytes().all(|b| b.is_ascii_alphabetic())
            && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    }))
}

/// Uploaded item texts per language tag, per instrument.
type UploadedTexts = BTreeMap<String, BTreeMap<Uuid, Map<String, Value>>>;

async fn uploaded_texts(
    database: &Database,
    organization_id: Uuid,
    language: Option<&str>,
) -> Result<UploadedTexts, ApiError> {
    let mut texts = BTreeMap::new();
    if let Some(language) = language {
        let primary = language.split('-').next().unwrap_or(language);
        for tag in [language, primary] {
            if !texts.contains_key(tag) {
                texts.insert(tag.to_owned(), database.texts_for_locale(organization_id, tag.to_owned()).await?);
            }
        }
    }
    Ok(texts)
}

fn current_flags(versions: &[InstrumentVersion]) -> Vec<bool> {
    versions
        .iter()
        .map(|v| !versions.iter().any(|other| other.definition.key == v.definition.key && other.version > v.version))
        .collect()
}

pub async fn read(
    user: AuthUser,
    request: HttpRequest,
    id: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let search = begin(&user, &request, "Questionnaire", Interaction::Read, READ_PARAMETERS)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let versions = database.all_instrument_versions(user.organization_id).await?;
    let flags = current_flags(&versions);
    let (version, current) = versions.iter().zip(flags).find(|(v, _)| v.version_id == id).ok_or(ApiError::NotFound)?;
    let language = language(&request, Some(&search))?;
    let texts = uploaded_texts(&database, user.organization_id, language.as_deref()).await?;
    let wording = Wording::of(&texts, language.as_deref(), version.instrument_id);
    Ok(fhir_json(StatusCode::OK, &render(version, user.organization_id, current, &wording)))
}

pub async fn search(
    user: AuthUser,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let search = begin(&user, &request, "Questionnaire", Interaction::Search, PARAMETERS)?;
    let versions = database.all_instrument_versions(user.organization_id).await?;
    let flags = current_flags(&versions);
    let id = search.one("_id")?.map(str::to_owned);
    let url = search.one("url")?.map(str::to_owned);
    let name = search.one("name")?.map(str::to_lowercase);
    let status = search.one("status")?.map(|s| token(s).1.to_owned());
    if let Some(status) = status.as_deref().filter(|s| !matches!(*s, "active" | "retired")) {
        return Err(ApiError::query("status", format!("`{status}` is not active or retired")));
    }
    let url_matches = |v: &InstrumentVersion| match url.as_deref().map(|u| u.split_once('|').unwrap_or((u, ""))) {
        None => true,
        Some((base, "")) => is_named(v, user.organization_id, base),
        Some((base, wanted)) => is_named(v, user.organization_id, base) && v.version.to_string() == wanted,
    };
    let language = language(&request, Some(&search))?;
    let texts = uploaded_texts(&database, user.organization_id, language.as_deref()).await?;
    let base = fhir_base(&request);
    let after = search.cursor.as_deref().map(super::search::decode_cursor).transpose()?.map(|(id, _)| id);
    let mut matching = versions
        .iter()
        .zip(flags)
        .filter(|(v, _)| id.as_deref().is_none_or(|id| v.version_id.to_string() == token(id).1))
        .filter(|(v, _)| url_matches(v))
        .filter(|(v, _)| {
            name.as_deref().is_none_or(|n| computable_name(&v.definition.key).to_lowercase().starts_with(n))
        })
        .filter(|(_, current)| status.as_deref().is_none_or(|s| (s == "active") == *current))
        .skip_while(|(v, _)| after.is_some_and(|after| v.version_id != after))
        .skip(usize::from(after.is_some()))
        .peekable();
    let count = usize::try_from(search.count).unwrap_or(usize::MAX);
    let mut entries: Vec<(String, Value)> = Vec::new();
    let mut last = None;
    while entries.len() < count {
        let Some((v, current)) = matching.next() else { break };
        let wording = Wording::of(&texts, language.as_deref(), v.instrument_id);
        entries.push((
            format!("{base}/Questionnaire/{}", v.version_id),
            render(v, user.organization_id, current, &wording),
        ));
        last = Some(v.version_id);
    }
    let next = last.filter(|_| matching.peek().is_some()).map(|id| super::search::encode_cursor(id, 0));
    let bundle = super::search::searchset(&format!("{base}/Questionnaire"), request.query_string(), entries, next);
    Ok(fhir_json(StatusCode::OK, &bundle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instruments::builtin;

    fn versions() -> Vec<InstrumentVersion> {
        builtin::all()
            .into_iter()
            .flat_map(|definition| {
                [1, 2].map(|version| InstrumentVersion {
                    instrument_id: Uuid::nil(),
                    version_id: Uuid::now_v7(),
                    version,
                    builtin: true,
                    definition: definition.clone(),
                    created_at: chrono::Utc::now(),
                })
            })
            .collect()
    }

    #[test]
    fn a_canonical_names_its_current_version_unless_a_version_is_given() {
        let versions = versions();
        let org = Uuid::now_v7();
        let found = find(&versions, org, "https://rapport.dev/fhir/Questionnaire/phq-9").unwrap();
        assert_eq!((found.definition.key.as_str(), found.version), ("phq-9", 2));
        let found = find(&versions, org, "http://loinc.org/q/44249-1|1").unwrap();
        assert_eq!((found.definition.key.as_str(), found.version), ("phq-9", 1));
        let by_id = format!("Questionnaire/{}", versions[0].version_id);
        assert_eq!(find(&versions, org, &by_id).unwrap().version_id, versions[0].version_id);
        assert!(find(&versions, org, "https://rapport.dev/fhir/Questionnaire/phq-9|7").is_none());
        assert!(find(&versions, org, "http://example.org/Questionnaire/other").is_none());
    }

    #[test]
    fn licensed_wording_never_ships_and_loinc_forms_are_coded() {
        let versions = versions();
        let no_texts = Wording { language: None, uploaded: None };
        let srs = versions.iter().find(|v| v.definition.key == "srs").unwrap();
        let rendered = render(srs, Uuid::nil(), true, &no_texts);
        assert!(rendered["item"].as_array().unwrap().iter().all(|item| item.get("text").is_none()));
        assert_eq!(rendered["item"][0]["type"], "decimal");
        let phq9 = versions.iter().find(|v| v.definition.key == "phq-9").unwrap();
        let rendered = render(phq9, Uuid::nil(), true, &no_texts);
        assert_eq!(rendered["code"][0]["code"], "44249-1");
        assert_eq!(rendered["item"][0]["code"][0]["code"], "44250-9");
        assert_eq!(rendered["item"][0]["answerOption"][2]["valueCoding"]["code"], "LA6570-1");
        assert_eq!(rendered["name"], "PHQ_9");
        assert_eq!(rendered["language"], "en");
    }
}
