//! Seeds a realistic data set with COPY (never the API): clients with one episode each of 8–20
//! weekly sessions; SRS and ORS every session; WAI-SR and WAI-SR-T every 4th session; PHQ-9 and
//! GAD-7 every 4th session. Alliance levels vary by client, with dips (ruptures) that are mostly
//! repaired; ORS intakes vary, most clients improve, some deteriorate. Scores are computed by
//! the same domain code as the service. Then the rollups are filled from the seeded rows.

use diesel::pg::CopyFormat;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport::db::schema::{clients, episodes, responses, sessions};
use rapport::domain::clients::AgeGroup;
use rapport::domain::instruments::{Answers, InstrumentDefinition, builtin, score};
use std::collections::BTreeMap;
use uuid::Uuid;

struct Session {
    id: Uuid,
    number: i32,
    day: i64,
}

struct Episode {
    id: Uuid,
    client_id: Uuid,
    clinician: usize,
    age_group: AgeGroup,
    program: &'static str,
    sessions: Vec<Session>,
    alliance: f64,
    intake: f64,
    slope: f64,
}

fn normal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn io(error: std::io::Error) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(error))
}

fn csv(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

/// Responses per episode on average: 14 sessions × (2 + 4 × 1/4) = 42.
pub fn seed(database_url: &str, organization_id: Uuid, target_responses: usize) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut conn = PgConnection::establish(database_url).unwrap();
    let mut rng = StdRng::seed_from_u64(20261125);
    let clinicians: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    for (n, id) in clinicians.iter().enumerate() {
        diesel::sql_query(format!(
            "INSERT INTO users (organization_id, id, email, role) VALUES ('{organization_id}', '{id}', 'seed-clinician-{n}@clinic.example', 'clinician')"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let versions: BTreeMap<String, (Uuid, InstrumentDefinition)> = builtin::all()
        .into_iter()
        .map(|definition| {
            let id: Uuid = diesel::sql_query(format!(
                "SELECT v.id FROM instrument_versions v JOIN instruments i ON i.organization_id = v.organization_id AND i.id = v.instrument_id \
                 WHERE i.organization_id = '{organization_id}' AND i.key = '{}' ORDER BY v.version DESC LIMIT 1",
                definition.key
            ))
            .get_result::<IdRow>(&mut conn)
            .unwrap()
            .id;
            (definition.key.clone(), (id, definition))
        })
        .collect();
    let mut plan = Vec::new();
    let mut planned = 0;
    while planned < target_responses {
        let count = rng.random_range(8..=20);
        let start = rng.random_range(0..640i64);
        let sessions: Vec<Session> = (1..=count)
            .map(|number| Session { id: Uuid::now_v7(), number, day: start + 7 * i64::from(number - 1) })
            .collect();
        planned += sessions.iter().map(|s| if s.number % 4 == 0 { 6 } else { 2 }).sum::<usize>();
        let roll: f64 = rng.random();
        plan.push(Episode {
            id: Uuid::now_v7(),
            client_id: Uuid::now_v7(),
            clinician: rng.random_range(0..clinicians.len()),
            age_group: if roll < 0.85 {
                AgeGroup::Adult
            } else if roll < 0.95 {
                AgeGroup::Adolescent
            } else {
                AgeGroup::Child
            },
            program: ["outpatient", "couples", "youth", "intensive"][rng.random_range(0..4)],
            sessions,
            alliance: normal(&mut rng, 36.5, 2.0).clamp(20.0, 40.0),
            intake: normal(&mut rng, 20.0, 5.0).clamp(2.0, 38.0),
            slope: [0.6, 0.6, 0.6, 0.0, 0.0, -0.4][rng.random_range(0..6)],
        });
    }
    let epoch = chrono::DateTime::parse_from_rfc3339("2025-01-06T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let at = |day: i64| (epoch + chrono::Duration::days(day)).to_rfc3339();
    diesel::copy_from(clients::table)
        .from_raw_data(
            (clients::organization_id, clients::id, clients::external_id, clients::age_group, clients::attributes),
            |out| {
                for (n, e) in plan.iter().enumerate() {
                    let group = ["a", "b", "c"][n % 3];
                    writeln!(
                        out,
                        "{organization_id},{},SEED-{n},{},{}",
                        e.client_id,
                        e.age_group.as_str(),
                        csv(&format!("{{\"cultural_group\":\"{group}\"}}"))
                    )
                    .map_err(io)?;
                }
                Ok::<_, diesel::result::Error>(())
            },
        )
        .with_format(CopyFormat::Csv)
        .execute(&mut conn)
        .unwrap();
    diesel::copy_from(episodes::table)
        .from_raw_data(
            (
                episodes::organization_id,
                episodes::id,
                episodes::client_id,
                episodes::clinician_id,
                episodes::started_on,
                episodes::program,
            ),
            |out| {
                for e in &plan {
                    writeln!(
                        out,
                        "{organization_id},{},{},{},{},{}",
                        e.id,
                        e.client_id,
                        clinicians[e.clinician],
                        &at(e.sessions[0].day)[..10],
                        e.program
                    )
                    .map_err(io)?;
                }
                Ok::<_, diesel::result::Error>(())
            },
        )
        .with_format(CopyFormat::Csv)
        .execute(&mut conn)
        .unwrap();
    diesel::copy_from(sessions::table)
        .from_raw_data(
            (sessions::organization_id, sessions::id, sessions::episode_id, sessions::number, sessions::occurred_at),
            |out| {
                for e in &plan {
                    for s in &e.sessions {
                        writeln!(out, "{organization_id},{},{},{},{}", s.id, e.id, s.number, at(s.day)).map_err(io)?;
                    }
                }
                Ok::<_, diesel::result::Error>(())
            },
        )
        .with_format(CopyFormat::Csv)
        .execute(&mut conn)
        .unwrap();
    let settings = rapport::domain::settings::OrganizationSettings::default();
    let rng = StdRng::seed_from_u64(7);
    // Row-by-row rollup maintenance would slow the bulk load; the rollup is rebuilt after it.
    diesel::sql_query("ALTER TABLE responses DISABLE TRIGGER alliance_rollup_maintenance").execute(&mut conn).unwrap();
    let written = diesel::copy_from(responses::table)
        .from_raw_data(
            (
                responses::organization_id,
                responses::id,
                responses::instrument_version_id,
                responses::instrument_key,
                responses::client_id,
                responses::episode_id,
                responses::session_id,
                responses::clinician_id,
                responses::rater,
                responses::administered_at,
                responses::answers,
                responses::scores,
                responses::total_hundredths,
            ),
            |out| {
                let mut rng = rng.clone();
                for e in &plan {
                    let mut dip = 0.0;
                    for s in &e.sessions {
                        dip = if s.number >= 3 && rng.random::<f64>() < 0.08 {
                            rng.random_range(3.0..6.0)
                        } else if rng.random::<f64>() < 0.6 {
                            0.0
                        } else {
                            dip * 0.5
                        };
                        let srs_total = (e.alliance + 0.1 * f64::from(s.number) - dip + normal(&mut rng, 0.0, 0.8))
                            .clamp(0.0, 40.0);
                        let ors_total = (e.intake + e.slope * f64::from(s.number - 1) + normal(&mut rng, 0.0, 1.5))
                            .clamp(0.0, 40.0);
                        let mut forms = vec![
                            (
                                "srs",
                                "client",
                                vas(
                                    &mut rng,
                                    srs_total,
                                    &["relationship", "goals_topics", "approach_method", "overall"],
                                ),
                            ),
                            (
                                "ors",
                                "client",
                                vas(&mut rng, ors_total, &["individually", "interpersonally", "socially", "overall"]),
                            ),
                        ];
                        if s.number % 4 == 0 {
                            forms.push(("wai-sr", "client", likert(&mut rng, 12, 1, 5, 4.2)));
                            forms.push(("wai-sr-t", "therapist", likert(&mut rng, 12, 1, 5, 3.9)));
                            forms.push((
                                "phq-9",
                                "client",
                                likert(&mut rng, 9, 0, 3, (1.6 - 0.05 * f64::from(s.number)).max(0.2)),
                            ));
                            forms.push((
                                "gad-7",
                                "client",
                                likert(&mut rng, 7, 0, 3, (1.4 - 0.05 * f64::from(s.number)).max(0.2)),
                            ));
                        }
                        for (minutes, (key, rater, raw)) in forms.into_iter().enumerate() {
                            let (version, definition) = &versions[key];
                            let answers =
                                Answers::parse(definition, &raw, "/answers").expect("generated answers are valid");
                            let scores = score(definition, &answers, &settings, e.age_group);
                            let answers_json = serde_json::to_string(&answers.0).unwrap();
                            let scores_json = serde_json::to_string(&scores).unwrap();
                            let when = (epoch
                                + chrono::Duration::days(s.day)
                                + chrono::Duration::minutes(50 + minutes as i64))
                            .to_rfc3339();
                            writeln!(
                                out,
                                "{organization_id},{},{version},{key},{},{},{},{},{rater},{when},{},{},{}",
                                Uuid::now_v7(),
                                e.client_id,
                                e.id,
                                s.id,
                                clinicians[e.clinician],
                                csv(&answers_json),
                                csv(&scores_json),
                                (scores.total * 100.0).round() as i64
                            )
                            .map_err(io)?;
                        }
                    }
                }
                Ok::<_, diesel::result::Error>(())
            },
        )
        .with_format(CopyFormat::Csv)
        .execute(&mut conn)
        .unwrap();
    println!(
        "seeded {written} responses, {} episodes, {} sessions",
        plan.len(),
        plan.iter().map(|e| e.sessions.len()).sum::<usize>()
    );
    fill_rollups(&mut conn, organization_id);
    (plan.iter().map(|e| e.id).collect(), clinicians)
}

fn vas(rng: &mut StdRng, total: f64, items: &[&str]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|item| {
            let value = (total / 4.0 + normal(rng, 0.0, 0.3)).clamp(0.0, 10.0);
            (item.to_string(), format!("{:.1}", (value * 10.0).round() / 10.0))
        })
        .collect()
}

fn likert(rng: &mut StdRng, items: usize, min: i64, max: i64, centre: f64) -> Vec<(String, String)> {
    (1..=items)
        .map(|n| (format!("item{n}"), (normal(rng, centre, 0.7).round() as i64).clamp(min, max).to_string()))
        .collect()
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// The rollups the service maintains per response, computed in bulk for the seeded rows.
fn fill_rollups(conn: &mut PgConnection, organization_id: Uuid) {
    diesel::sql_query("ALTER TABLE responses ENABLE TRIGGER alliance_rollup_maintenance").execute(conn).unwrap();
    diesel::sql_query(format!("SELECT alliance_rollup_rebuild('{organization_id}')")).execute(conn).unwrap();
    diesel::sql_query("ALTER TABLE outcome_points DISABLE TRIGGER etr_reference_maintenance").execute(conn).unwrap();
    diesel::sql_query(format!(
        "INSERT INTO outcome_points (organization_id, instrument_key, episode_id, session_number, intake_hundredths, total_hundredths) \
         SELECT r.organization_id, r.instrument_key, r.episode_id, s.number, \
                first_value(r.total_hundredths) OVER (PARTITION BY r.episode_id, r.instrument_key ORDER BY s.number, r.administered_at, r.id), \
                r.total_hundredths \
         FROM responses r JOIN sessions s ON s.organization_id = r.organization_id AND s.id = r.session_id \
         WHERE r.organization_id = '{organization_id}' AND r.instrument_key IN ('ors', 'cors') AND r.rater = 'client' \
         ON CONFLICT DO NOTHING"
    ))
    .execute(conn)
    .unwrap();
    diesel::sql_query("ALTER TABLE outcome_points ENABLE TRIGGER etr_reference_maintenance").execute(conn).unwrap();
    diesel::sql_query(format!("SELECT etr_reference_rebuild('{organization_id}')")).execute(conn).unwrap();
    diesel::sql_query(format!(
        "INSERT INTO alliance_change_stats (organization_id, instrument_key, shard, n, sum, sum_sq) \
         SELECT '{organization_id}', 'srs', 0, count(c), coalesce(sum(c), 0), coalesce(sum(c * c), 0) FROM ( \
           SELECT (r.total_hundredths - lag(r.total_hundredths) OVER (PARTITION BY r.episode_id ORDER BY s.number, r.administered_at, r.id)) / 100.0 AS c \
           FROM responses r JOIN sessions s ON s.organization_id = r.organization_id AND s.id = r.session_id \
           WHERE r.organization_id = '{organization_id}' AND r.instrument_key = 'srs' AND r.rater = 'client') changes WHERE c IS NOT NULL \
         ON CONFLICT (organization_id, instrument_key, shard) DO UPDATE SET n = EXCLUDED.n, sum = EXCLUDED.sum, sum_sq = EXCLUDED.sum_sq"
    ))
    .execute(conn)
    .unwrap();
    // In a running system autovacuum sets the visibility map of settled rows (inserts trigger
    // it since PostgreSQL 13), which index-only scans rely on.
    diesel::sql_query("VACUUM ANALYZE").execute(conn).unwrap();
    // Write out the bulk load's dirty pages now: otherwise the checkpoint that follows it runs
    // under the first measured scenarios, and their commits wait behind its writes (one
    // open-model run showed a p99 of 112 ms against a p95 of 10 ms). A role that may not
    // checkpoint (on a `DATABASE_URL` server) just skips it.
    if let Err(refused) = diesel::sql_query("CHECKPOINT").execute(conn) {
        println!("no checkpoint after seeding: {refused}");
    }
}
