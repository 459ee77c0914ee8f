//! The eight built-in instruments (docs/methodology.md, section 2), as data. Licensed scales (ORS/SRS family,
//! WAI) ship their structure only; PHQ-9 and GAD-7 ship their English wording.
//!
//! A change to a definition here becomes a new version for every organization at the next
//! start (see `db::instruments`); responses keep the version they were scored with.

use super::definition::*;
use super::measure::{ClinicalCutoff, Measure, OutcomeRule, SettingName, Threshold};

fn vas(id: &str, domain: &str) -> ItemDefinition {
    ItemDefinition {
        id: id.into(),
        domain: domain.into(),
        answer: AnswerType::Vas,
        required: true,
        scored: true,
        reversed: false,
        text: None,
        safety_above: None,
        loinc: None,
    }
}

fn likert(id: &str, domain: &str, min: i32, max: i32, labels: &[&str], text: Option<&str>) -> ItemDefinition {
    ItemDefinition {
        id: id.into(),
        domain: domain.into(),
        answer: AnswerType::Likert { min, max, labels: labels.iter().map(|l| l.to_string()).collect(), codes: vec![] },
        required: true,
        scored: true,
        reversed: false,
        text: text.map(str::to_owned),
        safety_above: None,
        loinc: None,
    }
}

fn band(label: &str, min: f64, max: f64) -> Band {
    Band { label: label.into(), min, max }
}

fn rating_scale(
    key: &str,
    name: &str,
    (category, measure): (Category, Measure),
    raters: Vec<Rater>,
    items: [(&str, &str); 4],
) -> InstrumentDefinition {
    InstrumentDefinition {
        key: key.into(),
        name: name.into(),
        licence: Licence::Pcoms,
        ships_text: false,
        category,
        raters,
        items: items.iter().map(|(id, domain)| vas(id, domain)).collect(),
        subscales: Vec::new(),
        total: TotalRule::Sum,
        direction: Direction::HigherIsBetter,
        bands: Vec::new(),
        loinc: None,
        measure,
    }
}

fn setting(name: SettingName) -> Threshold {
    Threshold::Setting(name)
}

/// SRS and CSRS: rated every session, read for ruptures; only the adult SRS's items are compared
/// with the organization's (the children's items are worded differently).
fn session_alliance(item_comparisons: bool) -> (Category, Measure) {
    (Category::Alliance, Measure::SessionAlliance { item_comparisons })
}

/// ORS: clinical below the cutoff of the client's age group; a child's ORS is read with the
/// CORS cutoff.
fn ors_outcome() -> (Category, Measure) {
    let clinical_cutoff = ClinicalCutoff::BelowByAgeGroup {
        adult: setting(SettingName::OrsCutoffAdult),
        adolescent: setting(SettingName::OrsCutoffAdolescent),
        child: setting(SettingName::CorsCutoffChild),
    };
    let rule = OutcomeRule {
        reliable_change: setting(SettingName::OrsReliableChange),
        clinical_cutoff,
        session_by_session: true,
    };
    (Category::Outcome, Measure::Outcome(rule))
}

/// CORS: the children's form, one cutoff.
fn cors_outcome() -> (Category, Measure) {
    let rule = OutcomeRule {
        reliable_change: setting(SettingName::OrsReliableChange),
        clinical_cutoff: ClinicalCutoff::Below { cutoff: setting(SettingName::CorsCutoffChild) },
        session_by_session: true,
    };
    (Category::Outcome, Measure::Outcome(rule))
}

/// PHQ-9 and GAD-7: caseness at or above a cutoff.
fn caseness(cutoff: SettingName, reliable_change: SettingName) -> Measure {
    Measure::Outcome(OutcomeRule {
        reliable_change: setting(reliable_change),
        clinical_cutoff: ClinicalCutoff::AtOrAbove { cutoff: setting(cutoff) },
        session_by_session: false,
    })
}

const SRS_ITEMS: [(&str, &str); 4] = [
    ("relationship", "felt heard, understood and respected"),
    ("goals_topics", "worked on what the client wanted to work on"),
    ("approach_method", "the therapist's approach fits the client"),
    ("overall", "overall, the session was right for the client"),
];

const CSRS_ITEMS: [(&str, &str); 4] = [
    ("relationship", "listening"),
    ("goals_topics", "how important"),
    ("approach_method", "what we did"),
    ("overall", "overall"),
];

const ORS_ITEMS: [(&str, &str); 4] = [
    ("individually", "personal well-being, the past week"),
    ("interpersonally", "family and close relationships, the past week"),
    ("socially", "work, school and friendships, the past week"),
    ("overall", "general sense of well-being, the past week"),
];

const WAI_LABELS: [&str; 5] = ["seldom", "sometimes", "fairly often", "very often", "always"];

fn wai(key: &str, name: &str, rater: Rater, counterpart: &str) -> InstrumentDefinition {
    let subscale = |key: &str, name: &str, items: [u8; 4]| Subscale {
        key: key.into(),
        name: name.into(),
        items: items.iter().map(|n| format!("item{n}")).collect(),
    };
    let domain = |n: u8| match n {
        4 | 6 | 8 | 11 => "goal agreement",
        1 | 2 | 10 | 12 => "task agreement",
        _ => "bond",
    };
    InstrumentDefinition {
        key: key.into(),
        name: name.into(),
        licence: Licence::SprWai,
        ships_text: false,
        category: Category::Alliance,
        raters: vec![rater],
        items: (1..=12).map(|n| likert(&format!("item{n}"), domain(n), 1, 5, &WAI_LABELS, None)).collect(),
        subscales: vec![
            subscale("goal", "Goal", [4, 6, 8, 11]),
            subscale("task", "Task", [1, 2, 10, 12]),
            subscale("bond", "Bond", [3, 5, 7, 9]),
        ],
        total: TotalRule::Sum,
        direction: Direction::HigherIsBetter,
        bands: Vec::new(),
        loinc: None,
        measure: Measure::WorkingAlliance { counterpart: counterpart.into() },
    }
}

const FREQUENCY: [&str; 4] = ["not at all", "several days", "more than half the days", "nearly every day"];
/// LOINC answer list LL358-3 (the PHQ and GAD frequency scale), values 0 to 3.
const FREQUENCY_CODES: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
/// LOINC answer list LL359-1 (PHQ-9's difficulty question), values 0 to 3.
const DIFFICULTY_CODES: [&str; 4] = ["LA6572-7", "LA6573-5", "LA6575-0", "LA6574-3"];

/// (domain, wording, LOINC item code)
const PHQ9_TEXT: [(&str, &str, &str); 9] = [
    ("anhedonia", "Little interest or pleasure in doing things", "44250-9"),
    ("depressed mood", "Feeling down, depressed, or hopeless", "44255-8"),
    ("sleep", "Trouble falling or staying asleep, or sleeping too much", "44259-0"),
    ("fatigue", "Feeling tired or having little energy", "44254-1"),
    ("appetite", "Poor appetite or overeating", "44251-7"),
    (
        "self-worth",
        "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
        "44258-2",
    ),
    (
        "concentration",
        "Trouble concentrating on things, such as reading the newspaper or watching television",
        "44252-5",
    ),
    (
        "psychomotor",
        "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so fidgety or \
         restless that you have been moving around a lot more than usual",
        "44253-3",
    ),
    (
        "thoughts of self-harm",
        "Thoughts that you would be better off dead or of hurting yourself in some way",
        "44260-8",
    ),
];

const GAD7_TEXT: [(&str, &str, &str); 7] = [
    ("nervousness", "Feeling nervous, anxious or on edge", "69725-0"),
    ("uncontrollable worry", "Not being able to stop or control worrying", "68509-9"),
    ("excessive worry", "Worrying too much about different things", "69733-4"),
    ("trouble relaxing", "Trouble relaxing", "69734-2"),
    ("restlessness", "Being so restless that it is hard to sit still", "69735-9"),
    ("irritability", "Becoming easily annoyed or irritable", "69689-8"),
    ("fear", "Feeling afraid as if something awful might happen", "69736-7"),
];

fn coded(mut item: ItemDefinition, loinc: &str, answer_codes: &[&str]) -> ItemDefinition {
    item.loinc = Some(loinc.into());
    if let AnswerType::Likert { codes, .. } = &mut item.answer {
        *codes = answer_codes.iter().map(|c| c.to_string()).collect();
    }
    item
}

fn symptom_scale(
    key: &str,
    name: &str,
    text: &[(&str, &str, &str)],
    bands: Vec<Band>,
    loinc: (&str, &str),
    measure: Measure,
) -> InstrumentDefinition {
    InstrumentDefinition {
        key: key.into(),
        name: name.into(),
        licence: Licence::PublicDomain,
        ships_text: true,
        category: Category::Symptom,
        raters: vec![Rater::Client],
        items: text
            .iter()
            .enumerate()
            .map(|(i, (domain, wording, code))| {
                let item = likert(&format!("item{}", i.saturating_add(1)), domain, 0, 3, &FREQUENCY, Some(wording));
                coded(item, code, &FREQUENCY_CODES)
            })
            .collect(),
        subscales: Vec::new(),
        total: TotalRule::Sum,
        direction: Direction::LowerIsBetter,
        bands,
        loinc: Some(Loinc { panel: loinc.0.into(), total: loinc.1.into() }),
        measure,
    }
}

fn phq9() -> InstrumentDefinition {
    let bands = vec![
        band("minimal", 0.0, 4.0),
        band("mild", 5.0, 9.0),
        band("moderate", 10.0, 14.0),
        band("moderately_severe", 15.0, 19.0),
        band("severe", 20.0, 27.0),
    ];
    let measure = caseness(SettingName::Phq9Caseness, SettingName::Phq9ReliableChange);
    let mut definition =
        symptom_scale("phq-9", "Patient Health Questionnaire 9", &PHQ9_TEXT, bands, ("44249-1", "44261-6"), measure);
    // Item 9, thoughts of self-harm: any answer but "not at all" is a safety concern.
    if let Some(item9) = definition.items.iter_mut().find(|item| item.id == "item9") {
        item9.safety_above = Some(0);
    }
    let mut difficulty = likert(
        "difficulty",
        "functional difficulty",
        0,
        3,
        &["not difficult at all", "somewhat difficult", "very difficult", "extremely difficult"],
        Some(
            "If you checked off any problems, how difficult have these problems made it for you to do your work, \
             take care of things at home, or get along with other people?",
        ),
    );
    difficulty.required = false;
    difficulty.scored = false;
    definition.items.push(coded(difficulty, "69722-7", &DIFFICULTY_CODES));
    definition
}

fn gad7() -> InstrumentDefinition {
    let bands = vec![
        band("minimal", 0.0, 4.0),
        band("mild", 5.0, 9.0),
        band("moderate", 10.0, 14.0),
        band("severe", 15.0, 21.0),
    ];
    let measure = caseness(SettingName::Gad7Caseness, SettingName::Gad7ReliableChange);
    symptom_scale("gad-7", "Generalized Anxiety Disorder 7", &GAD7_TEXT, bands, ("69737-5", "70274-6"), measure)
}

/// Every built-in instrument, in a stable order.
pub fn all() -> Vec<InstrumentDefinition> {
    vec![
        rating_scale("srs", "Session Rating Scale v3", session_alliance(true), vec![Rater::Client], SRS_ITEMS),
        rating_scale("csrs", "Child Session Rating Scale", session_alliance(false), vec![Rater::Client], CSRS_ITEMS),
        rating_scale("ors", "Outcome Rating Scale", ors_outcome(), vec![Rater::Client, Rater::Collateral], ORS_ITEMS),
        rating_scale(
            "cors",
            "Child Outcome Rating Scale",
            cors_outcome(),
            vec![Rater::Client, Rater::Collateral],
            ORS_ITEMS,
        ),
        wai("wai-sr", "Working Alliance Inventory, Short Revised (client)", Rater::Client, "wai-sr-t"),
        wai("wai-sr-t", "Working Alliance Inventory, Short Revised (therapist)", Rater::Therapist, "wai-sr"),
        phq9(),
        gad7(),
    ]
}

pub fn is_builtin(key: &str) -> bool {
    all().iter().any(|definition| definition.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_definition_is_valid_and_has_the_documented_range() {
        let ranges: Vec<(String, (f64, f64))> = all().iter().map(|d| (d.key.clone(), d.total_range())).collect();
        for definition in all() {
            assert_eq!(definition.validate(""), Ok(()), "{}", definition.key);
        }
        let expected = [
            ("srs", (0.0, 40.0)),
            ("csrs", (0.0, 40.0)),
            ("ors", (0.0, 40.0)),
            ("cors", (0.0, 40.0)),
            ("wai-sr", (12.0, 60.0)),
            ("wai-sr-t", (12.0, 60.0)),
            ("phq-9", (0.0, 27.0)),
            ("gad-7", (0.0, 21.0)),
        ];
        let expected: Vec<(String, (f64, f64))> = expected.iter().map(|(k, r)| (k.to_string(), *r)).collect();
        assert_eq!(ranges, expected);
    }

    #[test]
    fn only_public_domain_scales_ship_wording() {
        for definition in all() {
            let has_text = definition.items.iter().any(|item| item.text.is_some());
            assert_eq!(has_text, definition.ships_text, "{}", definition.key);
            assert_eq!(definition.ships_text, definition.licence == Licence::PublicDomain);
        }
    }

    #[test]
    fn each_builtin_says_what_it_measures() {
        let all = all();
        let keys = |test: fn(&InstrumentDefinition) -> bool| -> Vec<&str> {
            all.iter().filter(|d| test(d)).map(|d| d.key.as_str()).collect()
        };
        assert_eq!(keys(InstrumentDefinition::is_session_alliance), ["srs", "csrs"]);
        assert_eq!(keys(InstrumentDefinition::compares_items), ["srs"]);
        assert_eq!(keys(InstrumentDefinition::is_session_outcome), ["ors", "cors"]);
        assert_eq!(keys(|d| d.outcome().is_some()), ["ors", "cors", "phq-9", "gad-7"]);
        let counterparts: Vec<(&str, Option<&str>)> =
            all.iter().filter(|d| d.counterpart().is_some()).map(|d| (d.key.as_str(), d.counterpart())).collect();
        assert_eq!(counterparts, [("wai-sr", Some("wai-sr-t")), ("wai-sr-t", Some("wai-sr"))]);
        let safety: Vec<(&str, &str)> = all
            .iter()
            .flat_map(|d| {
                d.items.iter().filter(|i| i.safety_above.is_some()).map(move |i| (d.key.as_str(), i.id.as_str()))
            })
            .collect();
        assert_eq!(safety, [("phq-9", "item9")]);
    }

    #[test]
    fn wai_subscales_follow_the_published_key() {
        let wai = all().into_iter().find(|d| d.key == "wai-sr").unwrap();
        let items = |key: &str| wai.subscales.iter().find(|s| s.key == key).unwrap().items.join(",");
        assert_eq!(items("goal"), "item4,item6,item8,item11");
        assert_eq!(items("task"), "item1,item2,item10,item12");
        assert_eq!(items("bond"), "item3,item5,item7,item9");
    }
}
