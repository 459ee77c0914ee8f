use super::*;
use crate::domain::instruments::{Answers, builtin, score};
use crate::domain::series_state::SeriesState;

fn definition(key: &str) -> InstrumentDefinition {
    builtin::all().into_iter().find(|d| d.key == key).unwrap()
}

fn scores_of(key: &str, values: &[(&str, &str)]) -> Scores {
    let definition = definition(key);
    let raw: Vec<(String, String)> = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    score(&definition, &Answers::parse(&definition, &raw, "/answers").unwrap(), &Default::default(), AgeGroup::Adult)
}

fn srs(values: [&str; 4]) -> Scores {
    let ids = ["relationship", "goals_topics", "approach_method", "overall"];
    scores_of("srs", &ids.iter().zip(values).map(|(k, v)| (*k, v)).collect::<Vec<_>>())
}

fn ors(total_tenths_each: [&str; 4]) -> Scores {
    let ids = ["individually", "interpersonally", "socially", "overall"];
    scores_of("ors", &ids.iter().zip(total_tenths_each).map(|(k, v)| (*k, v)).collect::<Vec<_>>())
}

fn earlier(totals: &[f64]) -> Vec<EarlierScore> {
    totals
        .iter()
        .enumerate()
        .map(|(i, t)| EarlierScore { response_id: Uuid::now_v7(), session_number: Some(i as i32 + 1), total: *t })
        .collect()
}

fn kinds(key: &str, scores: &Scores, earlier: &[EarlierScore], session: i32, raised: &[SignalKind]) -> Vec<SignalKind> {
    let definition = definition(key);
    let settings = OrganizationSettings::default();
    let series = SeriesState::from_series(earlier, &settings.rupture_settings(None));
    let input = SignalInput {
        definition: &definition,
        rater: crate::domain::instruments::definition::Rater::Client,
        response_id: Uuid::now_v7(),
        session_number: Some(session),
        scores,
        series: &series,
        paired: None,
        settings: &settings,
        age_group: AgeGroup::Adult,
        already_raised: raised,
        org_change_sd: None,
        etr: None,
    };
    evaluate(&input).into_iter().map(|d| d.kind).collect()
}

#[test]
fn a_low_srs_raises_below_cutoff_item_low_and_a_drop_of_exactly_one_point() {
    // 38.0 → 7.5 + 9 + 9 + 9.5 = 35.0 (below 36, item 7.5 < 8, fell by 3.0).
    let scores = srs(["7.5", "9", "9", "9.5"]);
    let found = kinds("srs", &scores, &earlier(&[38.0]), 2, &[]);
    assert_eq!(found, [SignalKind::AllianceBelowCutoff, SignalKind::AllianceItemLow, SignalKind::AllianceDrop]);
    // 37.0 → 36.0 is a fall of exactly 1.0: a drop, but not below the cutoff.
    let found = kinds("srs", &srs(["9", "9", "9", "9"]), &earlier(&[37.0]), 2, &[]);
    assert_eq!(found, [SignalKind::AllianceDrop]);
    // 36.9 → 36.0 is a fall of 0.9: nothing.
    assert!(kinds("srs", &srs(["9", "9", "9", "9"]), &earlier(&[36.9]), 2, &[]).is_empty());
}

#[test]
fn phq9_item_9_raises_a_critical_safety_signal() {
    let mut values: Vec<(String, String)> = (1..=9).map(|i| (format!("item{i}"), "0".to_string())).collect();
    values[8].1 = "2".into();
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let scores = scores_of("phq-9", &pairs);
    let found = kinds("phq-9", &scores, &[], 1, &[]);
    assert_eq!(found, [SignalKind::SafetyItem]);
    assert_eq!(SignalKind::SafetyItem.severity(), Severity::Critical);
}

#[test]
fn ors_deterioration_needs_five_points_and_is_raised_once_per_episode() {
    // Intake 20.0; 15.0 is 5 points worse (reliable); 15.1 is 4.9 (not).
    let worse = ors(["3.75", "3.75", "3.75", "3.75"].map(|_| "3.8"));
    assert_eq!(worse.total, 15.2);
    let exactly = ors(["3.7", "3.8", "3.7", "3.8"]);
    assert_eq!(exactly.total, 15.0);
    assert_eq!(kinds("ors", &exactly, &earlier(&[20.0]), 2, &[]), [SignalKind::OutcomeDeterioration]);
    assert!(kinds("ors", &worse, &earlier(&[20.0]), 2, &[]).is_empty());
    assert!(kinds("ors", &exactly, &earlier(&[20.0]), 2, &[SignalKind::OutcomeDeterioration]).is_empty());
}

#[test]
fn no_change_is_raised_at_session_six_without_reliable_improvement() {
    let same = ors(["5", "5", "5", "5"]);
    assert!(kinds("ors", &same, &earlier(&[20.0, 20.0, 20.0, 20.0]), 5, &[]).is_empty());
    assert_eq!(kinds("ors", &same, &earlier(&[20.0; 5]), 6, &[]), [SignalKind::NoChange]);
    assert!(kinds("ors", &same, &earlier(&[20.0; 5]), 6, &[SignalKind::NoChange]).is_empty());
    // 15.0 → 20.0 is a reliable improvement by session 6: no signal.
    assert!(kinds("ors", &same, &earlier(&[15.0; 5]), 6, &[]).is_empty());
}

#[test]
fn client_and_therapist_wai_forms_a_point_apart_on_a_subscale_raise_a_discrepancy() {
    let form = |goal: &str| {
        let values: Vec<(String, String)> = (1..=12)
            .map(|n| (format!("item{n}"), if [4, 6, 8, 11].contains(&n) { goal.to_string() } else { "4".to_string() }))
            .collect();
        let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        (scores_of("wai-sr", &pairs), scores_of("wai-sr-t", &pairs))
    };
    let (client, _) = form("3");
    let (_, therapist) = form("4");
    let definition = definition("wai-sr");
    let settings = OrganizationSettings::default();
    let paired = PairedForm { response_id: Uuid::now_v7(), scores: therapist };
    let input = SignalInput {
        definition: &definition,
        rater: crate::domain::instruments::definition::Rater::Client,
        response_id: Uuid::now_v7(),
        session_number: Some(4),
        scores: &client,
        series: &SeriesState::default(),
        paired: Some(&paired),
        settings: &settings,
        age_group: AgeGroup::Adult,
        already_raised: &[],
        org_change_sd: None,
        etr: None,
    };
    let drafts = evaluate(&input);
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].kind, SignalKind::AllianceDiscrepancy);
    assert_eq!(drafts[0].evidence["subscales"][0]["subscale"], "goal");
    assert_eq!(drafts[0].evidence["subscales"][0]["difference"], -1.0);
    assert_eq!(drafts[0].response_ids.len(), 2);
}

#[test]
fn a_v_shaped_srs_series_raises_a_rupture_and_then_its_repair() {
    // Sessions 1–3 at 38: baseline 38, within SD 0 → spread = fallback 2.0; k = 1 → rupture at
    // ≤ 36.0. Session 4 at 35.0 (also below cutoff and a drop of 3). Session 5 at 38 ≥ 38 − 1.0.
    let history = earlier(&[38.0, 38.0, 38.0]);
    let dip = srs(["8.75", "8.75", "8.75", "8.75"].map(|_| "8.8"));
    assert_eq!(dip.total, 35.2);
    let found = kinds("srs", &dip, &history, 4, &[]);
    assert!(found.contains(&SignalKind::AllianceRupture), "{found:?}");
    let mut with_dip = history.clone();
    with_dip.push(EarlierScore { response_id: Uuid::now_v7(), session_number: Some(4), total: 35.2 });
    let found = kinds("srs", &srs(["9.5", "9.5", "9.5", "9.5"]), &with_dip, 5, &[]);
    assert_eq!(found, [SignalKind::AllianceRepair]);
}
