//! Session transcripts: upload → analysis → alliance view → signal → insights → erasure, every
//! malformed upload refused with its pointer or line, retention sealed and audited, tenancy.

use crate::fixtures::{Care, srs, submit};
use crate::harness::{TestApp, assert_problem, spawn_app, spawn_app_with};
use serde_json::{Value, json};

/// Labelled by hand: a complaint about the therapist (turn 1) that the therapist answers with
/// validation and owning its part (turn 2), then a progress complaint (turn 5) left unaddressed.
pub fn ruptured_transcript() -> Value {
    let lines = [
        ("therapist", "How did the exposure homework go?"),
        ("client", "You don't understand how hard that was for me."),
        ("therapist", "You're right, I think I pushed too fast. That sounds really hard."),
        ("client", "Yeah. It was."),
        ("therapist", "Let's keep the next step small. Same exercise for five minutes?"),
        ("client", "This is a waste of time."),
        ("therapist", "So, the homework is five minutes a day."),
        ("client", "Fine."),
        ("therapist", "Did you bring your diary?"),
        ("client", "No."),
    ];
    turns(&lines)
}

fn calm_transcript() -> Value {
    turns(&[
        ("therapist", "How was your week?"),
        ("client", "Pretty good actually. I went running three times and slept better."),
        ("therapist", "That's great to hear. Is this helpful, talking it through like this?"),
        ("client", "It is. I want to keep it going next week."),
    ])
}

fn turns(lines: &[(&str, &str)]) -> Value {
    Value::Array(
        lines
            .iter()
            .enumerate()
            .map(|(i, (speaker, text))| {
                json!({"speaker": speaker, "start_ms": i * 10_000, "end_ms": i * 10_000 + 6_000, "text": text})
            })
            .collect(),
    )
}

async fn put_transcript(
    app: &TestApp,
    token: &str,
    session: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    put_at(app, token, &format!("/v1/sessions/{session}/transcript"), content_type, body).await
}

/// `PUT` of a raw body to `path` (which may carry a query string).
async fn put_at(app: &TestApp, token: &str, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

pub async fn upload(app: &TestApp, token: &str, session: &str, body: &Value) -> reqwest::Response {
    put_transcript(app, token, session, "application/json", serde_json::to_vec(body).unwrap()).await
}

fn kinds(list: &Value) -> Vec<(u64, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| (m["turn"].as_u64().unwrap(), m["kind"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
pub async fn upload_analysis_alliance_signal_insights_and_erasure() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Transcript Clinic").await;
    submit(&app, &care.admin.token, &srs(&care.session_id, [8.0, 7.5, 8.0, 7.0])).await;

    let created = upload(&app, &care.clinician.token, &care.session_id, &ruptured_transcript()).await;
    assert_eq!(created.status(), 201);
    let analysis: Value = created.json().await.unwrap();
    assert_eq!(kinds(&analysis["markers"]), [(1, "complaint_therapist".into()), (5, "complaint_progress".into())]);
    assert_eq!(analysis["version"], 1);
    assert_eq!(analysis["text_retained"], false);
    assert!(analysis["validity_note"].as_str().unwrap().contains("lower-validity"));
    let episodes = analysis["rupture_episodes"].as_array().unwrap();
    assert_eq!(
        (episodes[0]["status"].as_str(), episodes[1]["status"].as_str()),
        (Some("addressed"), Some("unaddressed"))
    );
    assert_eq!(analysis["markers"][0]["rule"], "lexicon");
    assert_eq!(analysis["markers"][0]["lexicon_entry"], "therapist.you_dont_understand");
    assert_eq!(analysis["markers"][0]["evidence"], "You don't understand how hard that was for me.");
    assert!(kinds(&analysis["moves"]).contains(&(2, "acknowledging_own_part".into())));

    // Read back by the supervisor, as stored.
    let read =
        app.get_as(&care.supervisor.token, &format!("/v1/sessions/{}/transcript-analysis", care.session_id)).await;
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["markers"], analysis["markers"]);

    // The alliance view: a separate, labelled transcript series beside the SRS series.
    let alliance: Value = app
        .get_as(&care.clinician.token, &format!("/v1/episodes/{}/alliance", care.episode_id))
        .await
        .json()
        .await
        .unwrap();
    let point = &alliance["transcript"]["points"][0];
    assert_eq!(point["session_id"], care.session_id.as_str());
    assert_eq!((point["markers"].as_u64(), point["unaddressed_episodes"].as_u64()), (Some(2), Some(1)));
    assert!(alliance["transcript"]["label"].as_str().unwrap().contains("not instead"));
    assert_eq!(alliance["transcript"]["agreement_with_srs"]["n"], 1);
    assert_eq!(alliance["transcript"]["agreement_with_srs"]["r"], Value::Null);
    assert_eq!(alliance["series"].as_array().unwrap().len(), 1);

    // The signal, for the clinician: info, tied to the session, not to a response.
    let signals: Value = app
        .get_as(&care.clinician.token, "/v1/signals?kind=transcript_rupture_unaddressed")
        .await
        .json()
        .await
        .unwrap();
    let signal = &signals["items"][0];
    assert_eq!(signals["items"].as_array().unwrap().len(), 1);
    assert_eq!((signal["severity"].as_str(), signal["status"].as_str()), (Some("info"), Some("open")));
    assert_eq!(signal["session_id"], care.session_id.as_str());
    assert_eq!((signal["response_id"].clone(), signal["instrument"].clone()), (Value::Null, Value::Null));
    assert_eq!(signal["evidence"]["unaddressed_episodes"][0]["first_turn"], 5);

    // Insights: the transcript areas for growth, guarded below 5 sessions.
    let insights: Value = app
        .get_as(
            &care.clinician.token,
            &format!("/v1/clinicians/{}/insights?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z", care.clinician.id),
        )
        .await
        .json()
        .await
        .unwrap();
    let growth = &insights["transcript_areas_for_growth"];
    assert_eq!((growth["sessions"].as_u64(), growth["low_reliability"].as_bool()), (Some(1), Some(true)));
    let feedback =
        growth["areas"].as_array().unwrap().iter().find(|a| a["rule"] == "feedback_rarely_elicited").unwrap();
    assert_eq!((feedback["value"].as_f64(), feedback["flagged"].as_bool()), (Some(0.0), Some(false)));
    assert_eq!(feedback["sessions"][0]["session_id"], care.session_id.as_str());
    assert_eq!(feedback["sessions"][0]["value"], 0.0);

    // A calmer re-upload replaces the analysis (version 2) and resolves the signal.
    let replaced = upload(&app, &care.clinician.token, &care.session_id, &calm_transcript()).await;
    assert_eq!(replaced.status(), 200);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!((replaced["version"].as_u64(), replaced["markers"].as_array().unwrap().len()), (Some(2), 0));
    let signals: Value = app
        .get_as(&care.clinician.token, "/v1/signals?kind=transcript_rupture_unaddressed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signals["items"][0]["status"], "resolved");

    // Audited, and no transcript words in the audit log.
    let audit =
        app.get_as(&care.admin.token, "/v1/audit-events?resource_type=session&limit=100").await.text().await.unwrap();
    for action in ["transcript.upload", "transcript.analysis.read"] {
        assert!(audit.contains(action), "{action} missing");
    }
    assert!(!audit.contains("waste of time") && !audit.contains("running three times"));

    // Erasure takes the analysis with the client.
    assert_eq!(app.delete_as(&care.admin.token, &format!("/v1/clients/{}", care.client_id)).await.status(), 204);
    let gone = app.get_as(&care.admin.token, &format!("/v1/sessions/{}/transcript-analysis", care.session_id)).await;
    assert_problem(gone, 404, "not_found").await;
    let erased = app.get_as(&care.admin.token, "/v1/audit-events?action=client.erase").await.text().await.unwrap();
    assert!(erased.contains("\"erased_transcripts\":1"), "{erased}");
}

#[tokio::test]
async fn every_malformed_upload_is_refused_with_its_pointer_or_line() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Malformed Transcripts").await;
    let token = &care.clinician.token;
    let session = &care.session_id;
    let pointers = |body: &Value| -> Vec<String> {
        body["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap().to_owned()).collect()
    };
    let cases: [(Value, &str); 5] = [
        (json!([]), ""),
        (json!([{"speaker": "doctor", "start_ms": 0, "end_ms": 1, "text": "Hi"}]), "/0/speaker"),
        (json!([{"speaker": "client", "start_ms": 0, "end_ms": 1, "text": "Hi", "mood": "ok"}]), "/0/mood"),
        (
            json!([{"speaker": "client", "start_ms": 5, "end_ms": 9, "text": "Hi"}, {"speaker": "therapist", "start_ms": 4, "end_ms": 3, "text": "Hm"}]),
            "/1/start_ms",
        ),
        (json!([{"speaker": "client", "start_ms": 0, "end_ms": 1, "text": "   "}]), "/0/text"),
    ];
    for (body, pointer) in cases {
        let problem = assert_problem(upload(&app, token, session, &body).await, 422, "validation").await;
        assert_eq!(pointers(&problem)[0], pointer, "{body}");
    }
    let malformed = put_transcript(&app, token, session, "application/json", b"[{".to_vec()).await;
    assert_problem(malformed, 400, "malformed_json").await;
    let plain = put_transcript(&app, token, session, "text/plain", b"hello".to_vec()).await;
    assert_problem(plain, 415, "unsupported_media_type").await;
    let huge = put_transcript(&app, token, session, "text/vtt", vec![b'a'; 2 * 1_048_576]).await;
    assert_problem(huge, 413, "payload_too_large").await;

    let vtt_cases: [(&[u8], &str); 4] = [
        (b"WEBVTT\n\n00:00:05.000 --> 00:00:04.000\n<v Therapist>Backwards\n", "/3"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nNo voice tag\n", "/4"),
        (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Client>caf\xe9\n", "/4"),
        (b"Subtitles\n", "/1"),
    ];
    for (body, line) in vtt_cases {
        let problem =
            assert_problem(put_transcript(&app, token, session, "text/vtt", body.to_vec()).await, 422, "validation")
                .await;
        assert_eq!(pointers(&problem)[0], line);
        assert_eq!(problem["errors"][0]["in"], "line");
    }

    let spanish = turns(&[
        ("therapist", "¿Cómo ha ido la semana desde la última vez que hablamos de tu trabajo y de tu familia?"),
        ("client", "No sé, ha sido una semana muy difícil y creo que estoy cansada todo el tiempo, sin ganas de nada."),
        ("therapist", "Entiendo. ¿Qué ha sido lo más difícil para ti estos días, con todo lo que está pasando?"),
    ]);
    assert_problem(upload(&app, token, session, &spanish).await, 422, "unsupported_language").await;
    let declared = app
        .client
        .put(app.url(&format!("/v1/sessions/{session}/transcript")))
        .bearer_auth(token)
        .header("content-language", "fr-CA")
        .json(&calm_transcript())
        .send()
        .await
        .unwrap();
    assert_problem(declared, 422, "unsupported_language").await;
    // Nothing was stored by any refused upload.
    let none = app.get_as(token, &format!("/v1/sessions/{session}/transcript-analysis")).await;
    assert_problem(none, 404, "not_found").await;
}

const KEY_1: &str = "t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_2: &str = "t2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

#[tokio::test]
async fn kept_text_is_sealed_read_back_audited_and_tenant_scoped() {
    let app = spawn_app_with(&[("RAPPORT_TRANSCRIPT_KEYS", KEY_1)]).await;
    let care = Care::new(&app, "Keeping Clinic").await;
    let settings = json!({"transcripts": {"retain_text": true, "evidence_chars": 0}});
    let put = app.send_json_as(reqwest::Method::PUT, &care.admin.token, "/v1/organization/settings", &settings).await;
    assert_eq!(put.status(), 200);

    let vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Therapist>What would you like to focus on today?\n\n\
               00:00:05.000 --> 00:00:09.000\n<v Client Sam>Honestly, the sessions are too short to get anywhere.\n";
    let created =
        put_transcript(&app, &care.clinician.token, &care.session_id, "text/vtt", vtt.as_bytes().to_vec()).await;
    assert_eq!(created.status(), 201);
    let analysis: Value = created.json().await.unwrap();
    assert_eq!(analysis["text_retained"], true);
    assert_eq!(kinds(&analysis["markers"]), [(1, "complaint_parameters".into())]);
    assert_eq!(analysis["markers"][0]["evidence"], Value::Null, "evidence_chars 0 keeps no snippet");

    let path = format!("/v1/sessions/{}/transcript", care.session_id);
    let text: Value = app.get_as(&care.clinician.token, &path).await.json().await.unwrap();
    assert_eq!(text["turns"][1]["text"], "Honestly, the sessions are too short to get anywhere.");
    assert_eq!(text["turns"][1]["speaker"], "client");

    // At rest the text is sealed: its words are nowhere in the row.
    use diesel::prelude::*;
    let mut conn = app.database.connect();
    let sealed: Vec<u8> = diesel::sql_query("SELECT text_sealed FROM session_transcripts WHERE session_id = $1::uuid")
        .bind::<diesel::sql_types::Text, _>(&care.session_id)
        .get_result::<SealedRow>(&mut conn)
        .unwrap()
        .text_sealed;
    assert!(!sealed.windows(8).any(|w| w == b"sessions"), "plaintext at rest");
    let audit =
        app.get_as(&care.admin.token, "/v1/audit-events?action=transcript.text.read").await.text().await.unwrap();
    assert!(audit.contains(&care.session_id), "the read is audited");

    // Key rotation: reseal under t2, then a service that knows only t2 still reads the text.
    let rotated = rapport::sealing::TextVault::parse(&format!("{KEY_2},{KEY_1}")).unwrap();
    let reseal = |vault: rapport::sealing::TextVault| {
        move |org, session, version, key_id: &str, sealed: &[u8]| {
            let binding = rapport::db::transcripts::seal_binding(org, session, version);
            let plain = vault.open(key_id, sealed, &binding).ok()?;
            Some(vault.seal(&plain, &binding))
        }
    };
    let counts = app.db.reseal_transcripts("t2".into(), reseal(rotated.clone())).await.unwrap();
    assert_eq!(counts, (1, 0));
    assert_eq!(app.db.reseal_transcripts("t2".into(), reseal(rotated)).await.unwrap(), (0, 0), "nothing left");
    let only_new = crate::harness::spawn_app_beside(&app, &[("RAPPORT_TRANSCRIPT_KEYS", KEY_2)]).await;
    let reread: Value = only_new.get_as(&care.clinician.token, &path).await.json().await.unwrap();
    assert_eq!(reread["turns"], text["turns"]);

    // Another organization cannot tell the session exists; integrations never read text.
    let other = Care::new(&app, "Other Clinic").await;
    assert_problem(app.get_as(&other.admin.token, &path).await, 404, "not_found").await;
    let analysis_path = format!("/v1/sessions/{}/transcript-analysis", care.session_id);
    assert_problem(app.get_as(&other.admin.token, &analysis_path).await, 404, "not_found").await;
    let foreign = upload(&app, &other.admin.token, &care.session_id, &calm_transcript()).await;
    assert_problem(foreign, 404, "not_found").await;
    assert_problem(app.get_as(&care.integration, &path).await, 403, "forbidden").await;
}

#[derive(diesel::QueryableByName)]
struct SealedRow {
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    text_sealed: Vec<u8>,
}

#[tokio::test]
async fn retention_needs_a_key_and_custom_lexicon_entries_are_validated_and_versioned() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Lexicon Clinic").await;
    let put = |body: Value| {
        let app = &app;
        let token = care.admin.token.clone();
        async move { app.send_json_as(reqwest::Method::PUT, &token, "/v1/organization/settings", &body).await }
    };
    let refused = assert_problem(put(json!({"transcripts": {"retain_text": true}})).await, 422, "validation").await;
    assert_eq!(refused["errors"][0]["pointer"], "/transcripts/retain_text");
    let bad = json!({"transcripts": {"custom_lexicon": [{"kind": "sarcasm", "phrase": "oh great"}, {"kind": "denial", "phrase": "<b>"}]}});
    let refused = assert_problem(put(bad).await, 422, "validation").await;
    let pointers: Vec<&str> =
        refused["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/transcripts/custom_lexicon/0/kind", "/transcripts/custom_lexicon/1/phrase"]);

    let good =
        json!({"transcripts": {"custom_lexicon": [{"kind": "complaint_parameters", "phrase": "garage was full"}]}});
    let saved: Value = put(good).await.json().await.unwrap();
    let version = saved["version"].as_i64().unwrap();
    let body = turns(&[("client", "Ugh, the garage was full again today.")]);
    let analysis: Value = upload(&app, &care.clinician.token, &care.session_id, &body).await.json().await.unwrap();
    assert_eq!(kinds(&analysis["markers"]), [(0, "complaint_parameters".into())]);
    assert_eq!(analysis["markers"][0]["lexicon_entry"], "custom.0");
    assert!(analysis["rules_version"].as_str().unwrap().ends_with(&format!("+org.{version}")));
    assert_eq!(analysis["settings_version"], version);
}

#[tokio::test]
async fn named_voices_are_mapped_by_the_uploader_and_a_transcript_can_be_withdrawn() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Voices Clinic").await;
    let zoom = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\nDr Lee: How was the week?\n\n\
                2\n00:00:04.500 --> 00:00:06.000\nSam Jones: Honestly, this isn't helping.\n";
    let path = |query: &str| format!("/v1/sessions/{}/transcript{query}", care.session_id);
    let token = &care.clinician.token;
    let unmapped = put_at(&app, token, &path(""), "text/vtt", zoom.into()).await;
    let problem = assert_problem(unmapped, 422, "validation").await;
    assert_eq!(problem["errors"][0]["pointer"], "/5");
    let mapped = put_at(&app, token, &path("?therapist=dr%20lee&client=Sam%20Jones"), "text/vtt", zoom.into()).await;
    assert_eq!(mapped.status(), 201);
    let analysis: Value = mapped.json().await.unwrap();
    assert_eq!(kinds(&analysis["markers"]), [(1, "complaint_progress".into())]);
    assert!(analysis["metrics"]["words"]["therapist"].as_u64().unwrap() > 0);
    // Voice names belong to WebVTT; on JSON turns they are refused by name.
    let json_body = serde_json::to_vec(&calm_transcript()).unwrap();
    let misplaced = put_at(&app, token, &path("?therapist=Dr%20Lee"), "application/json", json_body).await;
    let problem = assert_problem(misplaced, 400, "invalid_query").await;
    assert_eq!(problem["errors"][0]["pointer"], "/therapist");

    // Withdrawn: the analysis goes, its open signal is resolved, and it is audited.
    assert_eq!(transcript_signals(&app, &care.clinician.token).await["items"][0]["status"], "open");
    assert_eq!(app.delete_as(&care.clinician.token, &path("")).await.status(), 204);
    let gone =
        app.get_as(&care.clinician.token, &format!("/v1/sessions/{}/transcript-analysis", care.session_id)).await;
    assert_problem(gone, 404, "not_found").await;
    let resolved = transcript_signals(&app, &care.clinician.token).await;
    assert_eq!(resolved["items"][0]["status"], "resolved");
    assert!(resolved["items"][0]["resolution_note"].as_str().unwrap().contains("deleted"));
    assert_problem(app.delete_as(&care.clinician.token, &path("")).await, 404, "not_found").await;
    let audit = app.get_as(&care.admin.token, "/v1/audit-events?action=transcript.delete").await.text().await.unwrap();
    assert!(audit.contains(&care.session_id));
}

async fn transcript_signals(app: &TestApp, token: &str) -> Value {
    app.get_as(token, "/v1/signals?kind=transcript_rupture_unaddressed").await.json().await.unwrap()
}
