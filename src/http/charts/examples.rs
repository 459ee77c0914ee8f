//! The example charts committed under `docs/images/` (README shows them): rendered here from a
//! fixed episode, so a test fails when a change to the charts would leave them stale.
//! `BLESS=1 cargo test --lib charts::examples` rewrites them.

use super::alliance::{AllianceScales, alliance_svg};
use super::outcomes::{OutcomeScales, outcomes_svg};
use crate::domain::analytics::EtrBandPoint;
use crate::domain::analytics::episode::{EpisodeData, SeriesResponse, episode_alliance, episode_outcomes};
use crate::domain::analytics::etr::status_by_session;
use crate::domain::clients::AgeGroup;
use crate::domain::instruments::definition::Rater;
use crate::domain::instruments::{Answers, Catalogue, builtin, score};
use crate::domain::settings::OrganizationSettings;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

fn response(key: &str, rater: Rater, session: i32, answers: &[(String, String)]) -> SeriesResponse {
    let definition = builtin::all().into_iter().find(|d| d.key == key).expect("a built-in instrument");
    let answers = Answers::parse(&definition, answers, "").expect("valid answers");
    let scores = score(&definition, &answers, &OrganizationSettings::default(), AgeGroup::Adult);
    let base: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().expect("a timestamp");
    SeriesResponse {
        id: Uuid::from_u128(u128::from(session.unsigned_abs()) << 8 | u128::from(key.len() as u8)),
        instrument_key: key.to_owned(),
        rater,
        session_number: Some(session),
        administered_at: base + chrono::Duration::weeks(i64::from(session)),
        answers,
        scores,
    }
}

/// A form of `key` with every scored item answered `value` (the items asked of its definition).
fn uniform(key: &str, rater: Rater, session: i32, value: &str) -> SeriesResponse {
    let definition = builtin::all().into_iter().find(|d| d.key == key).expect("a built-in instrument");
    let answers: Vec<(String, String)> =
        definition.scored_items().map(|item| (item.id.clone(), value.to_owned())).collect();
    response(key, rater, session, &answers)
}

fn four(key: &str, session: i32, each: f64) -> SeriesResponse {
    uniform(key, Rater::Client, session, &each.to_string())
}

fn wai(key: &str, rater: Rater, session: i32, each: i64) -> SeriesResponse {
    uniform(key, rater, session, &each.to_string())
}

/// Eight sessions: a steady alliance, a rupture at session 5 repaired at 6, WAI-SR pairs at
/// sessions 2 and 6; ORS rising from 18 against a reference band.
fn episode() -> Vec<SeriesResponse> {
    let srs = [9.4, 9.5, 9.3, 9.6, 8.2, 9.4, 9.6, 9.7];
    let ors = [4.5, 5.0, 5.8, 6.1, 5.2, 6.6, 7.0, 7.4];
    let mut responses: Vec<SeriesResponse> = Vec::new();
    for (session, (s, o)) in (1..).zip(srs.iter().zip(ors)) {
        responses.push(four("srs", session, *s));
        responses.push(four("ors", session, o));
    }
    responses.push(wai("wai-sr", Rater::Client, 2, 4));
    responses.push(wai("wai-sr-t", Rater::Therapist, 2, 3));
    responses.push(wai("wai-sr", Rater::Client, 6, 4));
    responses.push(wai("wai-sr-t", Rater::Therapist, 6, 4));
    responses
}

fn band() -> Vec<EtrBandPoint> {
    (1..=10)
        .map(|n| {
            let step = f64::from(n - 1);
            let p50 = 18.0 + 9.0 * (1.0 - (-step / 3.0).exp());
            EtrBandPoint {
                session_number: n,
                n: 120,
                p10: p50 - 6.0,
                p25: p50 - 3.0,
                p50,
                p75: p50 + 3.0,
                p90: p50 + 5.5,
            }
        })
        .collect()
}

/// The two example charts, rendered.
pub fn render() -> (String, String) {
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let responses = episode();
    let change_sd = BTreeMap::new();
    let etr_bands = BTreeMap::from([("ors".to_owned(), band())]);
    let data = EpisodeData {
        catalogue: &catalogue,
        settings: &settings,
        age_group: AgeGroup::Adult,
        responses: &responses,
        change_sd: &change_sd,
        etr_bands: &etr_bands,
    };
    let alliance = episode_alliance(&data);
    let scales = AllianceScales { name: "SRS".into(), range: (0.0, 40.0), working_alliance_range: (1.0, 5.0) };
    let alliance_chart = alliance_svg(&alliance, &scales, "alliance");
    let outcomes = episode_outcomes(&data);
    // The episode's only outcome measure is the ORS.
    let ors = outcomes.first().expect("the ORS outcome");
    let etr = ors.etr.as_ref().expect("an expected-response band");
    let points: Vec<(i32, f64)> = ors.series.iter().filter_map(|p| p.session_number.map(|n| (n, p.total))).collect();
    let statuses = status_by_session(&etr.band, &points, &settings.etr_settings());
    let scales =
        OutcomeScales { name: "ORS".into(), range: (0.0, 40.0), higher_is_better: true, age_group: "adult".into() };
    (alliance_chart, outcomes_svg(ors, &scales, &statuses, "outcomes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, rendered: &str) {
        roxmltree::Document::parse(rendered).unwrap_or_else(|e| panic!("{name} is not well-formed XML: {e}"));
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images").join(name);
        if std::env::var_os("BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, rendered).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == rendered, "docs/images/{name} is stale: run `BLESS=1 cargo test --lib charts::examples`");
    }

    #[test]
    fn the_committed_example_charts_are_what_the_code_draws() {
        let (alliance, outcomes) = render();
        assert_eq!(render(), (alliance.clone(), outcomes.clone()), "the same data gives the same bytes");
        assert!(alliance.contains("Rupture at session 5 (repaired at session 6)"), "{alliance}");
        assert!(outcomes.contains("data-status=\"on_track\""), "{outcomes}");
        assert!(outcomes.contains("data-status=\"at_risk\""), "{outcomes}");
        check("alliance-example.svg", &alliance);
        check("outcomes-example.svg", &outcomes);
    }
}
