//! Worked examples (hand-computed), every documented boundary, and property tests.

use super::*;
use crate::domain::instruments::builtin;
use crate::domain::instruments::definition::*;
use crate::domain::settings::Comparator;
use proptest::prelude::*;

fn builtin(key: &str) -> InstrumentDefinition {
    builtin::all().into_iter().find(|d| d.key == key).unwrap()
}

fn answers(definition: &InstrumentDefinition, values: &[(&str, &str)]) -> Answers {
    let raw: Vec<(String, String)> = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Answers::parse(definition, &raw, "/answers").unwrap()
}

fn srs(values: [&str; 4]) -> Answers {
    let ids = ["relationship", "goals_topics", "approach_method", "overall"];
    answers(&builtin("srs"), &ids.iter().zip(values).map(|(k, v)| (*k, v)).collect::<Vec<_>>())
}

fn scored(key: &str, answers: &Answers, settings: &OrganizationSettings, age: AgeGroup) -> Scores {
    score(&builtin(key), answers, settings, age)
}

fn codes(scores: &Scores) -> Vec<String> {
    scores
        .flags
        .iter()
        .map(|f| format!("{}{}", f.code, f.item.as_ref().map(|i| format!(":{i}")).unwrap_or_default()))
        .collect()
}

#[test]
fn srs_worked_example_9_1_8_4_9_0_8_8_is_35_3_and_below_the_cutoff() {
    // 9.1 + 8.4 + 9.0 + 8.8 = 35.3; mean 35.3 / 4 = 8.825; 35.3 < 36 → below cutoff.
    let scores = scored("srs", &srs(["9.1", "8.4", "9.0", "8.8"]), &Default::default(), AgeGroup::Adult);
    assert_eq!(scores.total, 35.3);
    assert!((scores.item_mean - 8.825).abs() < 1e-12);
    assert_eq!(scores.band.as_deref(), Some("below_cutoff"));
    assert_eq!(codes(&scores), ["alliance_below_cutoff"]);
}

#[test]
fn the_srs_cutoff_boundary_reads_35_9_and_36_0_with_both_comparators() {
    let lt = OrganizationSettings::default();
    let le = OrganizationSettings { srs_cutoff_comparator: Comparator::Le, ..Default::default() };
    let total_35_9 = srs(["9.0", "9.0", "9.0", "8.9"]);
    let total_36_0 = srs(["9.0", "9.0", "9.0", "9.0"]);
    let total_36_1 = srs(["9.0", "9.0", "9.0", "9.1"]);
    let band = |a: &Answers, s: &OrganizationSettings| scored("srs", a, s, AgeGroup::Adult).band.unwrap();
    assert_eq!(scored("srs", &total_35_9, &lt, AgeGroup::Adult).total, 35.9);
    assert_eq!(band(&total_35_9, &lt), "below_cutoff");
    assert_eq!(band(&total_36_0, &lt), "at_or_above_cutoff");
    assert_eq!(band(&total_35_9, &le), "below_cutoff");
    assert_eq!(band(&total_36_0, &le), "below_cutoff");
    assert_eq!(band(&total_36_1, &le), "at_or_above_cutoff");
}

#[test]
fn an_srs_item_below_8_0_is_flagged_and_8_0_is_not() {
    let scores = scored("srs", &srs(["7.9", "8.0", "10", "10"]), &Default::default(), AgeGroup::Adult);
    // 7.9 + 8.0 + 10 + 10 = 35.9, so the total is below the cutoff as well.
    assert_eq!(codes(&scores), ["alliance_below_cutoff", "alliance_item_low:relationship"]);
    assert_eq!(scores.total, 35.9);
    let fine = scored("srs", &srs(["8.0", "9.0", "10", "10"]), &Default::default(), AgeGroup::Adult);
    assert!(fine.flags.is_empty(), "8.0 is not below 8.0");
    let csrs = score(&builtin("csrs"), &srs(["7.9", "8.0", "10", "10"]), &Default::default(), AgeGroup::Child);
    assert_eq!(codes(&csrs), codes(&scores), "the CSRS reads like the SRS");
}

#[test]
fn ors_cutoffs_follow_the_age_group() {
    let ors = builtin("ors");
    let ids = ["individually", "interpersonally", "socially", "overall"];
    let total = |values: [&str; 4]| answers(&ors, &ids.iter().zip(values).map(|(k, v)| (*k, v)).collect::<Vec<_>>());
    let settings = OrganizationSettings::default();
    let band = |a: &Answers, age| score(&ors, a, &settings, age).band.unwrap();
    // 6.2 + 6.2 + 6.2 + 6.3 = 24.9 and 25.0: the adult cutoff is 25 (≥ 25 non-clinical).
    assert_eq!(band(&total(["6.2", "6.2", "6.2", "6.3"]), AgeGroup::Adult), "clinical");
    assert_eq!(band(&total(["6.2", "6.2", "6.3", "6.3"]), AgeGroup::Adult), "non_clinical");
    // 27.9 and 28.0 for adolescents.
    assert_eq!(band(&total(["7.0", "7.0", "7.0", "6.9"]), AgeGroup::Adolescent), "clinical");
    assert_eq!(band(&total(["7.0", "7.0", "7.0", "7.0"]), AgeGroup::Adolescent), "non_clinical");
    // 31.9 and 32.0 for children (CORS, and ORS given to a child).
    let cors = builtin("cors");
    assert_eq!(
        score(&cors, &total(["8.0", "8.0", "8.0", "7.9"]), &settings, AgeGroup::Child).band.unwrap(),
        "clinical"
    );
    assert_eq!(
        score(&cors, &total(["8.0", "8.0", "8.0", "8.0"]), &settings, AgeGroup::Child).band.unwrap(),
        "non_clinical"
    );
    assert_eq!(band(&total(["8.0", "8.0", "8.0", "7.9"]), AgeGroup::Child), "clinical");
}

#[test]
fn wai_sr_worked_example_has_subscale_totals_and_item_means() {
    // item1..12 = 5,4,3,5,4,3,5,4,3,5,4,3. Goal (4,6,8,11) = 5+3+4+4 = 16 → 4.00;
    // Task (1,2,10,12) = 5+4+5+3 = 17 → 4.25; Bond (3,5,7,9) = 3+4+5+3 = 15 → 3.75; total 48.
    let wai = builtin("wai-sr");
    let values = ["5", "4", "3", "5", "4", "3", "5", "4", "3", "5", "4", "3"];
    let ids: Vec<String> = (1..=12).map(|n| format!("item{n}")).collect();
    let pairs: Vec<(&str, &str)> = ids.iter().map(String::as_str).zip(values).collect();
    let scores = score(&wai, &answers(&wai, &pairs), &Default::default(), AgeGroup::Adult);
    assert_eq!(scores.total, 48.0);
    assert_eq!(scores.subscales["goal"].total, 16.0);
    assert_eq!(scores.subscales["goal"].item_mean, 4.0);
    assert_eq!(scores.subscales["task"].item_mean, 4.25);
    assert_eq!(scores.subscales["bond"].item_mean, 3.75);
    assert_eq!(scores.band, None);
}

/// PHQ-9 or GAD-7 answers adding up to `total`, filling items with 3s from item1.
fn symptom_answers(definition: &InstrumentDefinition, total: i64) -> Answers {
    let n = definition.scored_items().count() as i64;
    let ids: Vec<String> = (1..=n).map(|i| format!("item{i}")).collect();
    let values: Vec<String> = (0..n).map(|i| (total - 3 * i).clamp(0, 3).to_string()).collect();
    let pairs: Vec<(&str, &str)> = ids.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
    answers(definition, &pairs)
}

#[test]
fn phq9_band_edges_are_4_5_9_10_14_15_19_20() {
    let phq = builtin("phq-9");
    let band = |total| score(&phq, &symptom_answers(&phq, total), &Default::default(), AgeGroup::Adult).band.unwrap();
    let expected = [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ];
    for (total, label) in expected {
        assert_eq!(band(total), label, "PHQ-9 total {total}");
    }
}

#[test]
fn phq9_item_9_above_zero_is_a_safety_flag_whatever_the_total() {
    let phq = builtin("phq-9");
    let mut raw: Vec<(String, String)> = (1..=9).map(|i| (format!("item{i}"), "0".to_string())).collect();
    raw[8].1 = "1".into();
    let scores = score(&phq, &Answers::parse(&phq, &raw, "/answers").unwrap(), &Default::default(), AgeGroup::Adult);
    assert_eq!(scores.total, 1.0);
    assert_eq!(scores.band.as_deref(), Some("minimal"));
    assert_eq!(codes(&scores), ["safety_item:item9"]);
}

#[test]
fn gad7_band_edges_are_4_5_9_10_14_15() {
    let gad = builtin("gad-7");
    let band = |total| score(&gad, &symptom_answers(&gad, total), &Default::default(), AgeGroup::Adult).band.unwrap();
    for (total, label) in
        [(4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"), (15, "severe"), (21, "severe")]
    {
        assert_eq!(band(total), label, "GAD-7 total {total}");
    }
    let caseness = score(&gad, &symptom_answers(&gad, 8), &Default::default(), AgeGroup::Adult);
    assert_eq!(codes(&caseness), ["clinical_range"]);
}

fn custom_reverse_keyed() -> InstrumentDefinition {
    let item = |id: &str, reversed| ItemDefinition {
        id: id.into(),
        domain: id.into(),
        answer: AnswerType::Likert { min: 1, max: 5, labels: vec![], codes: vec![] },
        required: true,
        scored: true,
        reversed,
        text: None,
        safety_above: None,
        loinc: None,
    };
    InstrumentDefinition {
        key: "team-climate".into(),
        name: "Team climate".into(),
        licence: Licence::OrgOwned,
        ships_text: false,
        category: Category::Other,
        raters: vec![Rater::Client],
        items: vec![item("a", false), item("b", false), item("c", true)],
        subscales: vec![Subscale { key: "ab".into(), name: "A and B".into(), items: vec!["a".into(), "b".into()] }],
        total: TotalRule::Mean,
        direction: Direction::HigherIsBetter,
        bands: vec![Band { label: "high".into(), min: 4.0, max: 5.0 }],
        loinc: None,
        measure: Default::default(),
    }
}

#[test]
fn a_reverse_keyed_item_of_a_custom_instrument_scores_min_plus_max_minus_the_answer() {
    // a = 5, b = 4, c = 2 reversed → 1 + 5 − 2 = 4; mean (5 + 4 + 4) / 3 = 4.333…
    let definition = custom_reverse_keyed();
    assert_eq!(definition.validate(""), Ok(()));
    let scores = score(
        &definition,
        &answers(&definition, &[("a", "5"), ("b", "4"), ("c", "2")]),
        &Default::default(),
        AgeGroup::Adult,
    );
    assert!((scores.total - 13.0 / 3.0).abs() < 1e-12);
    assert_eq!(scores.subscales["ab"].total, 9.0);
    assert_eq!(scores.band.as_deref(), Some("high"));
}

#[test]
fn invalid_custom_definitions_are_refused_by_pointer() {
    let mut definition = custom_reverse_keyed();
    definition.items[1].id = "a".into();
    definition.subscales[0].items.push("zz".into());
    definition.items[2].answer = AnswerType::Vas;
    let pointers: Vec<String> = definition.validate("").unwrap_err().into_iter().map(|e| e.pointer).collect();
    // Item b is gone (renamed to a duplicate `a`), so the subscale's `b` is unknown too.
    assert_eq!(pointers, ["/items/1/id", "/items", "/subscales/0/items/1", "/subscales/0/items/2"]);
}

fn tenths() -> impl Strategy<Value = i64> {
    0i64..=100
}

proptest! {
    #[test]
    fn any_valid_srs_scores_inside_0_to_40(values in proptest::array::uniform4(tenths())) {
        let text: Vec<String> = values.iter().map(|t| format!("{}.{}", t / 10, t % 10)).collect();
        let answers = srs([&text[0], &text[1], &text[2], &text[3]]);
        let scores = scored("srs", &answers, &Default::default(), AgeGroup::Adult);
        prop_assert!((0.0..=40.0).contains(&scores.total));
        prop_assert_eq!((scores.total * 10.0).round() as i64, values.iter().sum::<i64>());
    }

    #[test]
    fn any_valid_phq9_scores_inside_0_to_27(values in proptest::array::uniform9(0i64..=3)) {
        let phq = builtin("phq-9");
        let raw: Vec<(String, String)> = values.iter().enumerate().map(|(i, v)| (format!("item{}", i + 1), v.to_string())).collect();
        let scores = score(&phq, &Answers::parse(&phq, &raw, "/answers").unwrap(), &Default::default(), AgeGroup::Adult);
        prop_assert!((0.0..=27.0).contains(&scores.total));
        prop_assert!(scores.band.is_some());
    }

    #[test]
    fn any_out_of_range_item_is_rejected_with_its_pointer(item in 0usize..12, value in prop_oneof![-50i64..=0, 6i64..=500]) {
        let wai = builtin("wai-sr");
        let mut raw: Vec<(String, String)> = (1..=12).map(|n| (format!("item{n}"), "3".to_string())).collect();
        raw[item].1 = value.to_string();
        let errors = Answers::parse(&wai, &raw, "/answers").unwrap_err();
        prop_assert_eq!(errors.len(), 1);
        prop_assert_eq!(&errors[0].pointer, &format!("/answers/item{}", item + 1));
    }

    #[test]
    fn any_vas_above_ten_or_with_two_decimals_is_rejected(tenth in 101i64..=1000, hundredth in 1i64..=9) {
        let too_high = format!("{}.{}", tenth / 10, tenth % 10);
        let two_decimals = format!("9.{}{}", tenth % 10, hundredth);
        for bad in [too_high, two_decimals] {
            let raw: Vec<(String, String)> = [("relationship", bad.as_str()), ("goals_topics", "1"), ("approach_method", "1"), ("overall", "1")]
                .iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let errors = Answers::parse(&builtin("srs"), &raw, "/answers").unwrap_err();
            prop_assert_eq!(&errors[0].pointer, "/answers/relationship");
        }
    }
}

#[test]
fn a_custom_outcome_measure_with_fixed_thresholds_flags_its_clinical_range() {
    use super::super::measure::{ClinicalCutoff, Measure, OutcomeRule, Threshold};
    let mut definition = custom_reverse_keyed();
    definition.measure = Measure::Outcome(OutcomeRule {
        reliable_change: Threshold::Value(0.5),
        clinical_cutoff: ClinicalCutoff::Below { cutoff: Threshold::Value(3.0) },
        session_by_session: false,
    });
    assert_eq!(definition.validate_custom(""), Ok(()));
    let raw = |values: [&str; 3]| -> Vec<(String, String)> {
        ["a", "b", "c"].iter().zip(values).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    // a = 2, b = 2, c = 4 reversed → 2: mean 2 < 3 is clinical.
    let low = Answers::parse(&definition, &raw(["2", "2", "4"]), "").unwrap();
    let scores = score(&definition, &low, &Default::default(), AgeGroup::Adult);
    assert_eq!(codes(&scores), ["clinical_range"]);
    assert_eq!(scores.band, None, "2 is outside the only band (high: 4–5)");
}

#[test]
fn custom_instruments_may_not_claim_the_roles_reserved_to_built_ins() {
    use super::super::measure::{ClinicalCutoff, Measure, OutcomeRule, Threshold};
    let mut definition = custom_reverse_keyed();
    definition.measure = Measure::SessionAlliance { item_comparisons: false };
    assert_eq!(definition.validate_custom("").unwrap_err()[0].pointer, "/measure");
    definition.measure = Measure::Outcome(OutcomeRule {
        reliable_change: Threshold::Value(9.0),
        clinical_cutoff: ClinicalCutoff::AtOrAbove { cutoff: Threshold::Value(3.0) },
        session_by_session: true,
    });
    let pointers: Vec<String> = definition.validate_custom("").unwrap_err().into_iter().map(|e| e.pointer).collect();
    assert_eq!(pointers, ["/measure/reliable_change/value", "/measure/session_by_session"]);
}
