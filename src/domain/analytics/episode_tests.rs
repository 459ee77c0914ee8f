use super::*;
use crate::domain::analytics::ChangeClass;
use crate::domain::instruments::{builtin, score};

fn response(key: &str, rater: Rater, session: i32, answers: &[(&str, &str)], age_group: AgeGroup) -> SeriesResponse {
    let definition = builtin::all().into_iter().find(|d| d.key == key).unwrap();
    let raw: Vec<(String, String)> = answers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let answers = Answers::parse(&definition, &raw, "").unwrap();
    let scores = score(&definition, &answers, &OrganizationSettings::default(), age_group);
    SeriesResponse {
        id: Uuid::now_v7(),
        instrument_key: key.into(),
        rater,
        session_number: Some(session),
        administered_at: "2026-03-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + chrono::Duration::days(i64::from(session)),
        answers,
        scores,
    }
}

fn four(key: &str, session: i32, each: &str, age_group: AgeGroup) -> SeriesResponse {
    let ids: [&str; 4] = if matches!(key, "srs" | "csrs") {
        ["relationship", "goals_topics", "approach_method", "overall"]
    } else {
        ["individually", "interpersonally", "socially", "overall"]
    };
    let answers: Vec<(&str, &str)> = ids.iter().map(|id| (*id, each)).collect();
    response(key, Rater::Client, session, &answers, age_group)
}

/// No organization-wide inputs: no change SD yet, no reference band.
type NoReference = (BTreeMap<String, (Option<f64>, i64)>, BTreeMap<String, Vec<EtrBandPoint>>);

fn data<'a>(
    catalogue: &'a Catalogue,
    settings: &'a OrganizationSettings,
    responses: &'a [SeriesResponse],
    age_group: AgeGroup,
    empty: &'a NoReference,
) -> EpisodeData<'a> {
    EpisodeData { catalogue, settings, age_group, responses, change_sd: &empty.0, etr_bands: &empty.1 }
}

#[test]
fn a_v_shaped_srs_series_is_labelled_with_its_rupture_and_repair() {
    // 38, 38, 38, 35.2, 38: baseline 38, spread = fallback 2.0 (within-client SD 0), k = 1:
    // 35.2 ≤ 36 is a rupture (and a drop of 2.8, below the cutoff of 36); 38 ≥ 38 − 1 repairs it.
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let responses: Vec<SeriesResponse> = [(1, "9.5"), (2, "9.5"), (3, "9.5"), (4, "8.8"), (5, "9.5")]
        .iter()
        .map(|(session, each)| four("srs", *session, each, AgeGroup::Adult))
        .collect();
    let empty = Default::default();
    let alliance = episode_alliance(&data(&catalogue, &settings, &responses, AgeGroup::Adult, &empty));
    assert_eq!(alliance.instrument.as_deref(), Some("srs"));
    let labels: Vec<(bool, bool, bool)> =
        alliance.series.iter().map(|p| (p.below_cutoff, p.rupture, p.repair)).collect();
    assert_eq!(labels[3], (true, true, false));
    assert_eq!(labels[4], (false, false, true));
    assert_eq!((alliance.rupture_count, alliance.repaired_count, alliance.unrepaired_count), (1, 1, 0));
    assert_eq!(alliance.series[3].items["relationship"], 8.8);
    assert!((alliance.series[3].drop.unwrap() + 2.8).abs() < 1e-9);
}

#[test]
fn the_csrs_series_is_read_when_the_episode_uses_the_childrens_form() {
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let responses = vec![four("csrs", 1, "9", AgeGroup::Child), four("csrs", 2, "9", AgeGroup::Child)];
    let empty = Default::default();
    let alliance = episode_alliance(&data(&catalogue, &settings, &responses, AgeGroup::Child, &empty));
    assert_eq!(alliance.instrument.as_deref(), Some("csrs"));
    assert_eq!(alliance.series.len(), 2);
}

#[test]
fn an_adolescents_ors_is_classified_against_the_adolescent_cutoff() {
    // Intake 20 (5 per item), now 27.2 (6.8 per item): +7.2 ≥ 5 is reliable improvement. For
    // an adult 27.2 ≥ 25 is the non-clinical range (recovered); for an adolescent 27.2 < 28 is
    // still clinical (improved), and for a child (CORS cutoff 32) too.
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let empty = Default::default();
    let class = |age_group| {
        let responses = vec![four("ors", 1, "5", age_group), four("ors", 2, "6.8", age_group)];
        let outcomes = episode_outcomes(&data(&catalogue, &settings, &responses, age_group, &empty));
        (outcomes[0].change.class, outcomes[0].clinical_cutoff)
    };
    assert_eq!(class(AgeGroup::Adult), (ChangeClass::Recovered, Some(25.0)));
    assert_eq!(class(AgeGroup::Adolescent), (ChangeClass::Improved, Some(28.0)));
    assert_eq!(class(AgeGroup::Child), (ChangeClass::Improved, Some(32.0)));
}

#[test]
fn phq9_improvement_is_a_fall_and_caseness_is_at_or_above_ten() {
    // PHQ-9 intake 18 (2 on every item), now 9 (1 on every item): −9, reliable (6), from
    // clinical (≥ 10) to not: recovered (Kroenke et al. 2001 caseness; RCI 6 as in the settings).
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let items =
        |value: &'static str| -> Vec<(String, &'static str)> { (1..=9).map(|n| (format!("item{n}"), value)).collect() };
    let phq = |session, value| {
        let owned = items(value);
        let answers: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        response("phq-9", Rater::Client, session, &answers, AgeGroup::Adult)
    };
    let responses = vec![phq(1, "2"), phq(5, "1")];
    let empty = Default::default();
    let outcomes = episode_outcomes(&data(&catalogue, &settings, &responses, AgeGroup::Adult, &empty));
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].instrument, "phq-9");
    assert_eq!(outcomes[0].change.class, ChangeClass::Recovered);
    assert_eq!((outcomes[0].reliable_change, outcomes[0].clinical_cutoff), (6.0, Some(10.0)));
    assert!(outcomes[0].etr.is_none(), "PHQ-9 is not given every session");
}

#[test]
fn client_and_therapist_wai_forms_of_a_session_are_compared_by_subscale() {
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let form = |key: &str, rater, goal: &'static str| {
        let owned: Vec<(String, &'static str)> =
            (1..=12).map(|n| (format!("item{n}"), if [4, 6, 8, 11].contains(&n) { goal } else { "4" })).collect();
        let answers: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        response(key, rater, 3, &answers, AgeGroup::Adult)
    };
    let responses = vec![form("wai-sr", Rater::Client, "3"), form("wai-sr-t", Rater::Therapist, "5")];
    let empty = Default::default();
    let alliance = episode_alliance(&data(&catalogue, &settings, &responses, AgeGroup::Adult, &empty));
    assert_eq!(alliance.wai_discrepancy.len(), 1);
    let goal = &alliance.wai_discrepancy[0].subscales["goal"];
    assert_eq!((goal.client_item_mean, goal.therapist_item_mean, goal.difference), (3.0, 5.0, -2.0));
    assert_eq!(alliance.wai_discrepancy[0].subscales["bond"].difference, 0.0);
    // The series the chart draws: 8 items at 4 and 4 at the goal value, over 12 items.
    let series: Vec<(&str, Rater, i32, f64)> = alliance
        .working_alliance
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (s.instrument.as_str(), s.rater, p.session_number, p.item_mean)))
        .collect();
    assert_eq!(series, [("wai-sr", Rater::Client, 3, 44.0 / 12.0), ("wai-sr-t", Rater::Therapist, 3, 52.0 / 12.0)]);
}

#[test]
fn a_working_alliance_form_without_its_pair_still_has_its_series() {
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let owned: Vec<(String, &'static str)> = (1..=12).map(|n| (format!("item{n}"), "5")).collect();
    let answers: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let responses = vec![response("wai-sr-t", Rater::Therapist, 2, &answers, AgeGroup::Adult)];
    let empty = Default::default();
    let alliance = episode_alliance(&data(&catalogue, &settings, &responses, AgeGroup::Adult, &empty));
    assert!(alliance.wai_discrepancy.is_empty());
    assert_eq!(alliance.working_alliance.len(), 1);
    assert_eq!(alliance.working_alliance[0].rater, Rater::Therapist);
    assert_eq!(alliance.working_alliance[0].points[0].item_mean, 5.0);
}
