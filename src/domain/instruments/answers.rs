//! Parsing a submission's answers against an instrument version. The whole response is
//! refused, with one error per bad item located by JSON pointer, when anything is missing,
//! unknown, of the wrong type, out of range, or (VAS) has more than one decimal place.
//!
//! Answers arrive as raw JSON text per item so VAS values can be checked and kept exactly as
//! written: `9.1` becomes 91 tenths, never the binary float 9.0999….

use super::definition::{AnswerType, InstrumentDefinition};
use crate::domain::validation::{FieldError, pointer_token};
use std::collections::BTreeMap;

/// Checked answers: item id → value in units of the item's scale (tenths for VAS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answers(pub BTreeMap<String, i64>);

/// A JSON number written as plain digits, split into its parts.
struct Decimal<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
}

fn plain_decimal(raw: &str) -> Option<Decimal<'_>> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!integer.is_empty()
        && all_digits(integer)
        && all_digits(fraction)
        && (fraction.is_empty() != digits.contains('.')))
    .then_some(Decimal { negative, integer, fraction })
}

fn is_number(raw: &str) -> bool {
    raw.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// Parses one answer into scale units, or says what is wrong with it.
fn parse_answer(answer: &AnswerType, raw: &str) -> Result<i64, String> {
    let (low, high) = answer.bounds();
    match answer {
        AnswerType::Vas => {
            let range = "must be a number from 0.0 to 10.0";
            if !is_number(raw) {
                return Err(range.into());
            }
            let decimal = plain_decimal(raw).ok_or("write the value as a plain decimal such as 7.5")?;
            let (first, rest) = decimal.fraction.split_at(decimal.fraction.len().min(1));
            if rest.bytes().any(|b| b != b'0') {
                return Err("must have at most one decimal place (a 10 cm line read to the millimetre)".into());
            }
            let integer: i64 =
                if decimal.integer.len() > 4 { i64::MAX / 100 } else { decimal.integer.parse().unwrap_or(0) };
            let tenths = integer.saturating_mul(10).saturating_add(first.parse::<i64>().unwrap_or(0));
            let tenths = if decimal.negative { tenths.saturating_neg() } else { tenths };
            if (low..=high).contains(&tenths) { Ok(tenths) } else { Err(range.into()) }
        }
        AnswerType::Likert { .. } => {
            let range = format!("must be a whole number from {low} to {high}");
            if !is_number(raw) {
                return Err(range);
            }
            let decimal = plain_decimal(raw).ok_or_else(|| range.clone())?;
            if !decimal.fraction.is_empty() {
                return Err(range);
            }
            let value: i64 =
                if decimal.integer.len() > 6 { i64::MAX / 100 } else { decimal.integer.parse().unwrap_or(0) };
            let value = if decimal.negative { value.saturating_neg() } else { value };
            if (low..=high).contains(&value) { Ok(value) } else { Err(range) }
        }
    }
}

impl Answers {
    /// `raw` holds (item id, raw JSON text) pairs in submission order; `pointer` locates them.
    pub fn parse(
        definition: &InstrumentDefinition,
        raw: &[(String, String)],
        pointer: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut values = BTreeMap::new();
        for (id, text) in raw {
            let here = format!("{pointer}/{}", pointer_token(id));
            let Some(item) = definition.item(id) else {
                errors.push(FieldError::new(here, format!("is not an item of {}", definition.key)));
                continue;
            };
            if values.contains_key(id) {
                errors.push(FieldError::new(here, "is answered twice"));
                continue;
            }
            let text = text.trim();
            if text == "null" {
                continue;
            }
            match parse_answer(&item.answer, text) {
                Ok(value) => {
                    values.insert(id.clone(), value);
                }
                Err(detail) => errors.push(FieldError::new(here, detail)),
            }
        }
        for item in definition.items.iter().filter(|item| item.required) {
            let answered = values.contains_key(&item.id);
            let reported = errors.iter().any(|e| e.pointer == format!("{pointer}/{}", pointer_token(&item.id)));
            if !answered && !reported {
                errors.push(FieldError::new(format!("{pointer}/{}", pointer_token(&item.id)), "is required"));
            }
        }
        if errors.is_empty() { Ok(Self(values)) } else { Err(errors) }
    }

    /// The value of `item` in natural units (9.1 for 91 tenths).
    pub fn value(&self, definition: &InstrumentDefinition, item: &str) -> Option<f64> {
        let scale = definition.item(item)?.answer.scale() as f64;
        self.0.get(item).map(|units| *units as f64 / scale)
    }
}

/// Stored answers (item → integer units) as callers wrote them: a 0–10 line's tenths back to
/// decimals, whole-number items as they are.
pub fn answer_values(definition: &InstrumentDefinition, stored: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let Some(stored) = stored.as_object() else { return Value::Object(serde_json::Map::new()) };
    let mut values = serde_json::Map::new();
    for (item, units) in stored {
        let units = units.as_i64().unwrap_or_default();
        let value = match definition.item(item).map(|i| i.answer.scale()) {
            Some(10) => serde_json::Number::from_f64(units as f64 / 10.0).map_or(Value::Null, Value::Number),
            _ => Value::from(units),
        };
        values.insert(item.clone(), value);
    }
    Value::Object(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instruments::builtin;

    fn definition(key: &str) -> InstrumentDefinition {
        builtin::all().into_iter().find(|d| d.key == key).unwrap()
    }

    fn raw(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn vas_answers_are_kept_as_exact_tenths() {
        let srs = definition("srs");
        let answers = Answers::parse(
            &srs,
            &raw(&[("relationship", "9.1"), ("goals_topics", "8"), ("approach_method", "10.0"), ("overall", "0.30")]),
            "/answers",
        )
        .unwrap();
        assert_eq!(answers.0["relationship"], 91);
        assert_eq!(answers.0["goals_topics"], 80);
        assert_eq!(answers.0["approach_method"], 100);
        assert_eq!(answers.0["overall"], 3);
    }

    #[test]
    fn every_bad_item_is_reported_by_pointer() {
        let srs = definition("srs");
        let errors = Answers::parse(
            &srs,
            &raw(&[("relationship", "10.1"), ("goals_topics", "8.25"), ("approach_method", "\"9\""), ("mood", "5")]),
            "/answers",
        )
        .unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/answers/relationship",
                "/answers/goals_topics",
                "/answers/approach_method",
                "/answers/mood",
                "/answers/overall"
            ]
        );
        assert!(errors[1].detail.contains("one decimal"));
        assert!(errors[4].detail.contains("required"));
    }

    #[test]
    fn likert_answers_must_be_whole_numbers_in_range() {
        let phq = definition("phq-9");
        let mut pairs: Vec<(String, String)> = (1..=9).map(|n| (format!("item{n}"), "1".to_string())).collect();
        assert!(Answers::parse(&phq, &pairs, "/answers").is_ok(), "difficulty is optional");
        for bad in ["4", "-1", "1.5", "1.0", "1e0", "true", "[1]", "99999999999999999999"] {
            pairs[0].1 = bad.to_string();
            let errors = Answers::parse(&phq, &pairs, "/answers").unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].pointer, "/answers/item1", "{bad}");
        }
    }

    #[test]
    fn an_item_answered_twice_is_refused() {
        let gad = definition("gad-7");
        let mut pairs: Vec<(String, String)> = (1..=7).map(|n| (format!("item{n}"), "0".to_string())).collect();
        pairs.push(("item3".into(), "2".into()));
        let errors = Answers::parse(&gad, &pairs, "/answers").unwrap_err();
        assert_eq!(errors[0].pointer, "/answers/item3");
    }
}
