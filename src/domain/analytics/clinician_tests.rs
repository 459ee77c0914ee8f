use super::*;

fn response(episode: Uuid, client: Uuid, key: &str, session: i32, total: f64) -> ClinicianResponse {
    ClinicianResponse {
        id: Uuid::now_v7(),
        episode_id: episode,
        client_id: client,
        session_id: Some(Uuid::now_v7()),
        instrument_key: key.into(),
        rater: Rater::Client,
        session_number: Some(session),
        administered_at: "2026-03-01T10:00:00Z".parse().unwrap(),
        total,
        subscale_means: BTreeMap::new(),
    }
}

struct Caseload {
    responses: Vec<ClinicianResponse>,
    age_groups: BTreeMap<Uuid, AgeGroup>,
}

impl Caseload {
    fn new() -> Self {
        Self { responses: Vec::new(), age_groups: BTreeMap::new() }
    }

    /// One client of `age_group` with an ORS episode from `intake` to `current`.
    fn ors_episode(&mut self, age_group: AgeGroup, intake: f64, current: f64) {
        let (episode, client) = (Uuid::now_v7(), Uuid::now_v7());
        self.age_groups.insert(client, age_group);
        self.responses.push(response(episode, client, "ors", 1, intake));
        self.responses.push(response(episode, client, "ors", 2, current));
    }

    fn insights(&self) -> ClinicianInsights {
        let catalogue = Catalogue::builtin();
        let settings = OrganizationSettings::default();
        clinician_insights(&ClinicianData {
            catalogue: &catalogue,
            settings: &settings,
            responses: &self.responses,
            age_groups: &self.age_groups,
            outcome_history: &self.responses,
            sessions: 4,
            own: &[],
            organization: &[],
        })
    }
}

#[test]
fn an_adolescent_caseload_is_judged_against_the_adolescent_ors_cutoff() {
    // Two adolescents, ORS 18 → 26.5: +8.5 is reliable (≥ 5). 26.5 is at or above the adult
    // cutoff 25 but below the adolescent 28: improved, not recovered.
    let mut adolescents = Caseload::new();
    adolescents.ors_episode(AgeGroup::Adolescent, 18.0, 26.5);
    adolescents.ors_episode(AgeGroup::Adolescent, 18.0, 26.5);
    let outcomes = adolescents.insights().outcomes;
    assert_eq!((outcomes.episodes, outcomes.recovered, outcomes.improved), (2, Some(0.0), Some(1.0)));
    // The same numbers for adults: recovered.
    let mut adults = Caseload::new();
    adults.ors_episode(AgeGroup::Adult, 18.0, 26.5);
    adults.ors_episode(AgeGroup::Adult, 18.0, 26.5);
    assert_eq!(adults.insights().outcomes.recovered, Some(1.0));
}

#[test]
fn a_mixed_caseload_uses_each_clients_own_cutoff() {
    // Adult 20 → 26 recovered (25); adolescent 20 → 26 improved (28); child 24 → 33 recovered (32).
    let mut mixed = Caseload::new();
    mixed.ors_episode(AgeGroup::Adult, 20.0, 26.0);
    mixed.ors_episode(AgeGroup::Adolescent, 20.0, 26.0);
    mixed.ors_episode(AgeGroup::Child, 24.0, 33.0);
    let outcomes = mixed.insights().outcomes;
    assert_eq!(outcomes.episodes, 3);
    assert!((outcomes.recovered.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((outcomes.improved.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // Mean change (6 + 6 + 9) / 3 = 7.
    assert!((outcomes.mean_change.unwrap() - 7.0).abs() < 1e-12);
}

#[test]
fn alliance_volume_counts_sessions_with_a_client_session_rating() {
    // One episode, SRS 38, 38, 38, 35.2: a rupture at the fourth (baseline 38, spread 2);
    // 4 sessions in range, all with an SRS: completion 1.0, 25 ruptures per 100 sessions.
    let mut caseload = Caseload::new();
    let (episode, client) = (Uuid::now_v7(), Uuid::now_v7());
    caseload.age_groups.insert(client, AgeGroup::Adult);
    for (session, total) in [(1, 38.0), (2, 38.0), (3, 38.0), (4, 35.2)] {
        caseload.responses.push(response(episode, client, "srs", session, total));
    }
    let mut therapist = response(episode, client, "srs", 4, 20.0);
    therapist.rater = Rater::Therapist;
    caseload.responses.push(therapist);
    let insights = caseload.insights();
    assert_eq!((insights.volume.clients, insights.volume.sessions), (1, 4));
    assert_eq!(insights.volume.srs_completion_rate, Some(1.0));
    assert_eq!(insights.alliance.ruptures, 1);
    assert_eq!(insights.alliance.ruptures_per_100_sessions, Some(25.0));
    assert_eq!(insights.alliance.below_cutoff_share, Some(0.25));
    assert_eq!(insights.alliance.mean_srs.n, 4, "the therapist's rating is not the client's alliance");
    assert!(insights.low_reliability);
}

#[test]
fn change_is_measured_from_the_episodes_intake_even_before_the_range() {
    // Intake 16 before the range; 19 and 23 in it: change +7 from intake (reliable), not +4.
    let (episode, client) = (Uuid::now_v7(), Uuid::now_v7());
    let history = vec![
        response(episode, client, "ors", 1, 16.0),
        response(episode, client, "ors", 2, 19.0),
        response(episode, client, "ors", 3, 23.0),
    ];
    let in_range = history[1..].to_vec();
    let age_groups = BTreeMap::from([(client, AgeGroup::Adult)]);
    let catalogue = Catalogue::builtin();
    let settings = OrganizationSettings::default();
    let insights = clinician_insights(&ClinicianData {
        catalogue: &catalogue,
        settings: &settings,
        responses: &in_range,
        age_groups: &age_groups,
        outcome_history: &history,
        sessions: 2,
        own: &[],
        organization: &[],
    });
    assert_eq!(insights.outcomes.episodes, 1);
    assert_eq!(insights.outcomes.mean_change, Some(7.0));
    assert_eq!(insights.outcomes.improved, Some(1.0));
}
