//! A QuestionnaireResponse as an EHR sends it, and what it means for Rapport: the instrument
//! version, the answers (as the raw values `POST /v1/responses` takes), the rater, when, the
//! patient, the session and the business identifier. Every problem is located by FHIRPath.
//!
//! Items are matched by `linkId`: the item id, or its LOINC code (`44250-9` or `/44250-9`, as
//! LOINC-built forms name them); groups are walked into. The form's own total (PHQ-9 44261-6)
//! is ignored: Rapport computes its own. An answer is a `valueInteger`, a `valueDecimal`, or a
//! `valueCoding` with a LOINC answer code (`LA6569-3`) or Rapport's answer code.

use super::LOINC;
use super::questionnaire::ANSWER_SYSTEM;
use crate::db::instruments::InstrumentVersion;
use crate::domain::instruments::InstrumentDefinition;
use crate::domain::instruments::definition::{AnswerType, Rater};
use crate::domain::time::Timestamp;
use crate::domain::validation::FieldError;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Identifier {
    pub id: Option<String>,
    pub extension: Option<Vec<Value>>,
    #[serde(rename = "use")]
    pub use_: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    pub system: Option<String>,
    pub value: Option<String>,
    pub period: Option<Value>,
    pub assigner: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Reference {
    pub id: Option<String>,
    pub extension: Option<Vec<Value>>,
    pub reference: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub identifier: Option<Identifier>,
    pub display: Option<String>,
}

impl Reference {
    /// The resource type referred to: `type`, else from `reference` (`Patient/…`).
    fn resource_type(&self) -> Option<&str> {
        self.kind.as_deref().or_else(|| {
            let reference = self.reference.as_deref()?;
            let mut segments = reference.rsplit('/');
            segments.next()?;
            segments.next()
        })
    }

    /// The id of a literal reference to `resource_type` (relative or absolute).
    fn id_of(&self, resource_type: &str) -> Option<Result<Uuid, ()>> {
        let reference = self.reference.as_deref()?;
        let (before, id) = reference.rsplit_once('/').unwrap_or(("", reference));
        if !before.is_empty() && !before.ends_with(resource_type) {
            return Some(Err(()));
        }
        Some(Uuid::parse_str(id).map_err(|_| ()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Coding {
    pub id: Option<String>,
    pub extension: Option<Vec<Value>>,
    pub system: Option<String>,
    pub version: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
    pub user_selected: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Answer {
    pub id: Option<String>,
    pub extension: Option<Vec<Value>>,
    pub modifier_extension: Option<Vec<Value>>,
    pub value_integer: Option<Box<RawValue>>,
    pub value_decimal: Option<Box<RawValue>>,
    pub value_coding: Option<Coding>,
    pub value_boolean: Option<Value>,
    pub value_date: Option<Value>,
    pub value_date_time: Option<Value>,
    pub value_time: Option<Value>,
    pub value_string: Option<Value>,
    pub value_uri: Option<Value>,
    pub value_attachment: Option<Value>,
    pub value_quantity: Option<Value>,
    pub value_reference: Option<Value>,
    pub item: Option<Vec<Item>>,
}

impl Answer {
    /// The name of every value[x] it holds that Rapport does not take.
    fn other_values(&self) -> Vec<&'static str> {
        [
            ("valueBoolean", self.value_boolean.is_some()),
            ("valueDate", self.value_date.is_some()),
            ("valueDateTime", self.value_date_time.is_some()),
            ("valueTime", self.value_time.is_some()),
            ("valueString", self.value_string.is_some()),
            ("valueUri", self.value_uri.is_some()),
            ("valueAttachment", self.value_attachment.is_some()),
            ("valueQuantity", self.value_quantity.is_some()),
            ("valueReference", self.value_reference.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Item {
    pub id: Option<String>,
    pub extension: Option<Vec<Value>>,
    pub modifier_extension: Option<Vec<Value>>,
    pub link_id: String,
    pub definition: Option<String>,
    pub text: Option<String>,
    pub answer: Option<Vec<Answer>>,
    pub item: Option<Vec<Item>>,
}

/// A QuestionnaireResponse (R4) as received. Every R4 element is known; an element of another
/// name is refused by the body reader.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IncomingResponse {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Option<Value>,
    pub implicit_rules: Option<String>,
    pub language: Option<String>,
    pub text: Option<Value>,
    pub contained: Option<Vec<Value>>,
    pub extension: Option<Vec<Value>>,
    pub modifier_extension: Option<Vec<Value>>,
    pub identifier: Option<Identifier>,
    pub based_on: Option<Vec<Value>>,
    pub part_of: Option<Vec<Value>>,
    pub questionnaire: Option<String>,
    pub status: String,
    pub subject: Option<Reference>,
    pub encounter: Option<Reference>,
    pub authored: Option<String>,
    pub author: Option<Reference>,
    pub source: Option<Reference>,
    pub item: Option<Vec<Item>>,
}

/// Who the response says the patient and session are, before they are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    Id(Uuid),
    ExternalId(String),
}

/// What a QuestionnaireResponse means, with where each part came from (for errors found later).
#[derive(Debug)]
pub struct Understood {
    pub instrument: InstrumentVersion,
    /// (item id, raw JSON number) as `Answers::parse` takes them.
    pub answers: Vec<(String, String)>,
    pub rater: Rater,
    pub administered_at: Option<Timestamp>,
    pub patient: Named,
    pub session: Option<Named>,
    pub identifier: Option<(String, String)>,
    pub places: Places,
}

/// FHIRPaths of the parts of one response, to locate problems found after parsing.
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub root: String,
    /// item id → path of its answer.
    pub answers: BTreeMap<String, String>,
    pub rater: Option<String>,
}

impl Places {
    /// The FHIRPath of a problem reported by pointer for the submission (`/answers/item3`,
    /// `/session_id`, …).
    pub fn locate(&self, pointer: &str) -> String {
        let root = &self.root;
        let field = pointer.trim_start_matches('/');
        match field.split_once('/') {
            Some(("answers", id)) => {
                let id = id.replace("~1", "/").replace("~0", "~");
                self.answers.get(&id).cloned().unwrap_or_else(|| format!("{root}.item"))
            }
            _ => match field {
                "session_id" | "episode_id" => format!("{root}.encounter"),
                "client_id" => format!("{root}.subject"),
                "rater" => self.rater.clone().unwrap_or_else(|| format!("{root}.source")),
                "administered_at" => format!("{root}.authored"),
                "instrument" => format!("{root}.questionnaire"),
                _ => root.clone(),
            },
        }
    }
}

/// The value (in the item's own units, as JSON text) a coded answer stands for.
fn coded_value(answer: &AnswerType, coding: &Coding) -> Result<String, String> {
    let code = coding.code.as_deref().ok_or("a valueCoding needs a code")?;
    match (answer, coding.system.as_deref()) {
        (AnswerType::Likert { min, codes, .. }, None | Some(LOINC)) if codes.iter().any(|c| c == code) => {
            let index = codes.iter().position(|c| c == code).unwrap_or(0);
            Ok(i64::from(*min).saturating_add(i64::try_from(index).unwrap_or(0)).to_string())
        }
        (AnswerType::Likert { .. }, Some(ANSWER_SYSTEM)) if code.parse::<i64>().is_ok() => Ok(code.to_owned()),
        (AnswerType::Likert { .. }, _) => Err(format!("`{code}` is not an answer of this item")),
        (AnswerType::Vas, _) => Err("this item takes a number (valueDecimal), not a code".into()),
    }
}

fn reject(errors: &mut Vec<FieldError>, path: impl Into<String>, detail: impl Into<String>) {
    errors.push(FieldError::new(path, detail));
}

struct Walk<'a> {
    definition: &'a InstrumentDefinition,
    answers: Vec<(String, String)>,
    places: BTreeMap<String, String>,
    errors: Vec<FieldError>,
}

impl Walk<'_> {
    fn items(&mut self, items: &[Item], path: &str) {
        for (index, item) in items.iter().enumerate() {
            let here = format!("{path}.item[{index}]");
            if item.modifier_extension.as_ref().is_some_and(|m| !m.is_empty()) {
                reject(&mut self.errors, format!("{here}.modifierExtension"), "is not understood here");
                continue;
            }
            if let Some(children) = &item.item {
                self.items(children, &here);
            }
            let answers = item.answer.as_deref().unwrap_or_default();
            let total_code = self.definition.loinc.as_ref().map(|l| l.total.as_str());
            if total_code.is_some_and(|total| item.link_id.trim_start_matches('/') == total) {
                continue;
            }
            let Some(defined) = self.definition.item_by_link(&item.link_id) else {
                if !answers.is_empty() || item.item.is_none() {
                    reject(
                        &mut self.errors,
                        format!("{here}.linkId"),
                        format!(
                            "`{}` is not an item of {}",
                            item.link_id.chars().take(100).collect::<String>(),
                            self.definition.key
                        ),
                    );
                }
                continue;
            };
            let Some(answer) = answers.first() else { continue };
            let at = format!("{here}.answer[0]");
            if answers.len() > 1 {
                reject(&mut self.errors, format!("{here}.answer[1]"), "one answer per item");
                continue;
            }
            if self.places.contains_key(&defined.id) {
                reject(&mut self.errors, format!("{here}.linkId"), format!("`{}` is answered twice", defined.id));
                continue;
            }
            self.places.insert(defined.id.clone(), at.clone());
            if answer.modifier_extension.as_ref().is_some_and(|m| !m.is_empty()) {
                reject(&mut self.errors, format!("{at}.modifierExtension"), "is not understood here");
                continue;
            }
            let others = answer.other_values();
            let given = [answer.value_integer.is_some(), answer.value_decimal.is_some(), answer.value_coding.is_some()]
                .into_iter()
                .filter(|given| *given)
                .count();
            let raw = match (&answer.value_integer, &answer.value_decimal, &answer.value_coding) {
                _ if !others.is_empty() => Err(format!(
                    "a {} where a number is due: answer with valueInteger, valueDecimal or valueCoding",
                    others.join(", ")
                )),
                _ if given != 1 => Err("give exactly one of valueInteger, valueDecimal, valueCoding".to_owned()),
                (Some(integer), _, _) => Ok(integer.get().to_owned()),
                (_, Some(decimal), _) => Ok(decimal.get().to_owned()),
                (_, _, Some(coding)) => coded_value(&defined.answer, coding),
                _ => Err("give exactly one of valueInteger, valueDecimal, valueCoding".to_owned()),
            };
            match raw {
                Ok(raw) => self.answers.push((defined.id.clone(), raw)),
                Err(detail) => reject(&mut self.errors, at, detail),
            }
        }
    }
}

/// The rater a response names through `source` (who answered), else `author`: a Patient is
/// the client, a RelatedPerson a collateral, a Practitioner(Role) the therapist. Neither: the
/// instrument's first rater.
fn rater(response: &IncomingResponse, definition: &InstrumentDefinition, root: &str) -> (Rater, Option<String>) {
    for (name, reference) in [("source", &response.source), ("author", &response.author)] {
        let by_type = match reference.as_ref().and_then(Reference::resource_type) {
            Some("Patient") => Some(Rater::Client),
            Some("RelatedPerson") => Some(Rater::Collateral),
            Some("Practitioner" | "PractitionerRole") => Some(Rater::Therapist),
            _ => None,
        };
        if let Some(rater) = by_type {
            return (rater, Some(format!("{root}.{name}")));
        }
    }
    (definition.raters.first().copied().unwrap_or(Rater::Client), None)
}

/// The identifier value of a conditional reference (`Patient?identifier=system|value`).
fn conditional_identifier(reference: &str, resource_type: &str) -> Option<Result<String, ()>> {
    let query = reference.strip_prefix(resource_type)?.strip_prefix('?')?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
    Some(match pairs.as_slice() {
        [(name, value)] if name == "identifier" => {
            let value = value.split_once('|').map_or(value.as_str(), |(_, v)| v);
            if (1..=255).contains(&value.chars().count()) { Ok(value.to_owned()) } else { Err(()) }
        }
        _ => Err(()),
    })
}

fn named(reference: &Reference, resource_type: &str, path: &str, errors: &mut Vec<FieldError>) -> Option<Named> {
    if let Some(found) = reference.reference.as_deref().and_then(|r| conditional_identifier(r, resource_type)) {
        return match found {
            Ok(value) => Some(Named::ExternalId(value)),
            Err(()) => {
                reject(
                    errors,
                    format!("{path}.reference"),
                    format!("a conditional reference must be {resource_type}?identifier=[system|]value"),
                );
                None
            }
        };
    }
    match reference.id_of(resource_type) {
        Some(Ok(id)) => return Some(Named::Id(id)),
        Some(Err(())) => {
            reject(errors, format!("{path}.reference"), format!("must be {resource_type}/<id>, or give an identifier"));
            return None;
        }
        None => {}
    }
    match reference.identifier.as_ref().and_then(|i| i.value.as_deref()) {
        Some(value) if (1..=255).contains(&value.chars().count()) => Some(Named::ExternalId(value.to_owned())),
        _ => {
            reject(errors, path, format!("name the {resource_type} by reference or identifier.value"));
            None
        }
    }
}

fn authored(text: &str) -> Result<Timestamp, String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&chrono::Utc)).or_else(|_| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|day| day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
    });
    let at = parsed.map_err(|_| "must be a date or a dateTime with a time zone".to_owned())?;
    Timestamp::new(at).map_err(|_| "must be from 1900 to 2199".to_owned())
}

/// Reads `response` (located under `root`, e.g. `QuestionnaireResponse` or
/// `Bundle.entry[2].resource`), choosing its instrument version among `versions` with `find`.
pub fn understand(
    response: &IncomingResponse,
    root: &str,
    find: impl Fn(&str) -> Option<InstrumentVersion>,
) -> Result<Understood, Vec<FieldError>> {
    let mut errors = Vec::new();
    if response.resource_type != "QuestionnaireResponse" {
        reject(&mut errors, format!("{root}.resourceType"), "must be QuestionnaireResponse");
    }
    if !matches!(response.status.as_str(), "completed" | "amended") {
        reject(&mut errors, format!("{root}.status"), "must be completed or amended: only finished forms are scored");
    }
    if response.modifier_extension.as_ref().is_some_and(|m| !m.is_empty()) {
        reject(&mut errors, format!("{root}.modifierExtension"), "is not understood here");
    }
    let instrument = match response.questionnaire.as_deref() {
        None => {
            reject(&mut errors, format!("{root}.questionnaire"), "is required: it names the instrument");
            None
        }
        Some(canonical) => {
            let found = find(canonical);
            if found.is_none() {
                let shown: String = canonical.chars().take(200).collect();
                reject(&mut errors, format!("{root}.questionnaire"), format!("no questionnaire `{shown}` here"));
            }
            found
        }
    };
    let patient = match &response.subject {
        Some(subject) => named(subject, "Patient", &format!("{root}.subject"), &mut errors),
        None => {
            reject(&mut errors, format!("{root}.subject"), "is required: the Patient the form is about");
            None
        }
    };
    let session =
        response.encounter.as_ref().and_then(|e| named(e, "Encounter", &format!("{root}.encounter"), &mut errors));
    let administered_at = match response.authored.as_deref().map(authored) {
        Some(Err(detail)) => {
            reject(&mut errors, format!("{root}.authored"), detail);
            None
        }
        other => other.and_then(Result::ok),
    };
    let identifier = match &response.identifier {
        None => None,
        Some(identifier) => match identifier.value.as_deref().filter(|v| (1..=1024).contains(&v.chars().count())) {
            Some(value) => {
                let system = identifier.system.clone().unwrap_or_default();
                if system.chars().count() > 1024 {
                    reject(&mut errors, format!("{root}.identifier.system"), "at most 1024 characters");
                }
                Some((system, value.to_owned()))
            }
            None => {
                reject(
                    &mut errors,
                    format!("{root}.identifier.value"),
                    "an identifier needs a value (1 to 1024 characters)",
                );
                None
            }
        },
    };
    let Some(instrument) = instrument else { return Err(errors) };
    let mut walk = Walk { definition: &instrument.definition, answers: Vec::new(), places: BTreeMap::new(), errors };
    walk.items(response.item.as_deref().unwrap_or_default(), root);
    let Walk { answers, places, errors, .. } = walk;
    let (rater, rater_place) = rater(response, &instrument.definition, root);
    match (patient, errors.is_empty()) {
        (Some(patient), true) => Ok(Understood {
            places: Places { root: root.to_owned(), answers: places, rater: rater_place },
            instrument,
            answers,
            rater,
            administered_at,
            patient,
            session,
            identifier,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instruments::builtin;

    fn phq9() -> InstrumentVersion {
        InstrumentVersion {
            instrument_id: Uuid::nil(),
            version_id: Uuid::nil(),
            version: 2,
            builtin: true,
            definition: builtin::all().into_iter().find(|d| d.key == "phq-9").unwrap(),
            created_at: chrono::Utc::now(),
        }
    }

    fn parse(body: serde_json::Value) -> Result<Understood, Vec<FieldError>> {
        let response: IncomingResponse = serde_json::from_str(&body.to_string()).unwrap();
        understand(&response, "QuestionnaireResponse", |_| Some(phq9()))
    }

    fn sdc_style(answers: &[(&str, serde_json::Value)]) -> serde_json::Value {
        serde_json::json!({
            "resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "http://loinc.org/q/44249-1",
            "subject": {"identifier": {"system": "urn:mrn", "value": "MRN-1"}},
            "source": {"reference": "Patient/0190f0f0-0000-7000-8000-000000000000"},
            "item": [{"linkId": "/44249-1", "item": answers.iter().map(|(link, answer)| serde_json::json!({"linkId": link, "answer": [answer]})).collect::<Vec<_>>()}]
        })
    }

    #[test]
    fn loinc_coded_answers_in_groups_read_as_values() {
        let understood = parse(sdc_style(&[
            ("/44250-9", serde_json::json!({"valueCoding": {"system": "http://loinc.org", "code": "LA6571-9"}})),
            ("/44255-8", serde_json::json!({"valueInteger": 2})),
            ("/44261-6", serde_json::json!({"valueInteger": 5})),
        ]))
        .unwrap();
        assert_eq!(understood.answers, vec![("item1".into(), "3".into()), ("item2".into(), "2".into())]);
        assert_eq!(understood.rater, Rater::Client);
        assert_eq!(understood.patient, Named::ExternalId("MRN-1".into()));
        assert_eq!(understood.places.locate("/answers/item2"), "QuestionnaireResponse.item[0].item[1].answer[0]");
        assert_eq!(understood.places.locate("/answers/item5"), "QuestionnaireResponse.item");
        assert_eq!(understood.places.locate("/session_id"), "QuestionnaireResponse.encounter");
    }

    #[test]
    fn a_conditional_reference_names_the_patient_by_identifier() {
        let mut body = sdc_style(&[("/44250-9", serde_json::json!({"valueInteger": 1}))]);
        body["subject"] = serde_json::json!({"reference": "Patient?identifier=urn:mrn|MRN-9"});
        assert_eq!(parse(body.clone()).unwrap().patient, Named::ExternalId("MRN-9".into()));
        body["subject"] = serde_json::json!({"reference": "Patient?name=smith"});
        let errors = parse(body).unwrap_err();
        assert_eq!(errors[0].pointer, "QuestionnaireResponse.subject.reference");
    }

    #[test]
    fn each_problem_is_located_by_fhirpath() {
        let mut body = sdc_style(&[
            ("/44250-9", serde_json::json!({"valueString": "often"})),
            ("nonsense", serde_json::json!({"valueInteger": 1})),
            ("/44255-8", serde_json::json!({"valueCoding": {"system": "http://loinc.org", "code": "LA0000-0"}})),
        ]);
        body["status"] = serde_json::json!("in-progress");
        let errors = parse(body).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            paths,
            [
                "QuestionnaireResponse.status",
                "QuestionnaireResponse.item[0].item[0].answer[0]",
                "QuestionnaireResponse.item[0].item[1].linkId",
                "QuestionnaireResponse.item[0].item[2].answer[0]",
            ]
        );
    }
}
