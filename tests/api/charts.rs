//! Episode charts, chart links and the supervision report over the real HTTP stack.

use crate::actors::{claims_for, test_keys};
use crate::fixtures::{Care, likert, open_episode, ors, srs, submit};
use crate::harness::{TestApp, assert_problem, spawn_app};
use rapport::auth::chart_links::CHART_TOKEN_TYPE;
use serde_json::{Value, json};

/// Five sessions: SRS 38, 38, 38, 32 (a drop and a rupture), 38 (its repair); ORS rising from 18;
/// WAI-SR and WAI-SR-T at session 2; a PHQ-9 with a safety item at session 5.
pub async fn charted_episode(app: &TestApp, care: &Care) -> Vec<String> {
    let mut sessions = vec![care.session_id.clone()];
    for _ in 1..5 {
        sessions.push(care.new_session(app).await);
    }
    let srs_values = [9.5, 9.5, 9.5, 8.0, 9.5];
    let ors_values = [4.5, 5.0, 5.5, 5.5, 6.5];
    for (session, (s, o)) in sessions.iter().zip(srs_values.iter().zip(ors_values)) {
        submit(app, &care.integration, &srs(session, [*s; 4])).await;
        submit(app, &care.integration, &ors(session, [o; 4])).await;
    }
    submit(app, &care.integration, &likert("wai-sr", &sessions[1], "client", &[4; 12])).await;
    submit(app, &care.integration, &likert("wai-sr-t", &sessions[1], "therapist", &[3; 12])).await;
    submit(app, &care.integration, &likert("phq-9", &sessions[4], "client", &[2, 2, 2, 2, 2, 2, 2, 2, 1])).await;
    sessions
}

pub async fn svg(response: reqwest::Response) -> (reqwest::header::HeaderMap, String) {
    assert_eq!(response.status(), 200, "{}", response.url());
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/svg+xml");
    (headers, response.text().await.unwrap())
}

/// The report's headings, in order.
pub const REPORT_HEADINGS: [&str; 7] = [
    "<h1>Supervision report</h1>",
    "<h2>Caseload</h2>",
    "<h2>Alliance</h2>",
    "<h2>Outcomes</h2>",
    "<h2>Areas for growth</h2>",
    "<h2>Open signals</h2>",
    "<h2>Episodes that need attention</h2>",
];

/// The audit events of `action` on `resource_id`, newest first.
pub async fn audit_events(app: &TestApp, admin_token: &str, resource_id: &str, action: &str) -> Vec<Value> {
    let url = format!("/v1/audit-events?resource_id={resource_id}&action={action}");
    let events: Value = app.get_as(admin_token, &url).await.json().await.unwrap();
    events["items"].as_array().unwrap().clone()
}

fn attribute(node: roxmltree::Node<'_, '_>, name: &str) -> f64 {
    node.attribute(name).unwrap_or_else(|| panic!("no {name}")).parse().unwrap()
}

/// The plot group `class` and its mapping from score to y.
fn plot<'a>(document: &'a roxmltree::Document<'a>, class: &str) -> (roxmltree::Node<'a, 'a>, impl Fn(f64) -> f64) {
    let group = document
        .descendants()
        .find(|n| n.attribute("class") == Some(class))
        .unwrap_or_else(|| panic!("no plot `{class}`"));
    let (top, bottom) = (attribute(group, "data-top"), attribute(group, "data-bottom"));
    let (low, high) = (attribute(group, "data-score-min"), attribute(group, "data-score-max"));
    (group, move |score: f64| bottom - (score - low) / (high - low) * (bottom - top))
}

/// Each point's (session, cy) in a plot.
fn points(group: roxmltree::Node<'_, '_>) -> Vec<(i64, f64)> {
    group
        .descendants()
        .filter(|n| n.attribute("class") == Some("point"))
        .map(|n| {
            // Circles have a centre; squares (the therapist's) a corner and a size.
            let y = if n.has_attribute("cy") {
                attribute(n, "cy")
            } else {
                attribute(n, "y") + attribute(n, "height") / 2.0
            };
            (n.attribute("data-session").unwrap().parse().unwrap(), y)
        })
        .collect()
}

#[tokio::test]
async fn the_alliance_chart_draws_the_json_series_and_says_it_in_words() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Chart Clinic").await;
    charted_episode(&app, &care).await;
    let episode = &care.episode_id;
    let json: Value =
        app.get_as(&care.clinician.token, &format!("/v1/episodes/{episode}/alliance")).await.json().await.unwrap();
    let (headers, body) =
        svg(app.get_as(&care.clinician.token, &format!("/v1/episodes/{episode}/charts/alliance.svg")).await).await;
    let document = roxmltree::Document::parse(&body).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("role"), Some("img"));
    let title = root.children().find(|n| n.has_tag_name("title")).unwrap().text().unwrap();
    let desc = root.children().find(|n| n.has_tag_name("desc")).unwrap().text().unwrap();
    assert_eq!(title, "Alliance by session (SRS)");
    assert!(
        desc.starts_with("5 SRS ratings from session 1 to 5. The latest, 38, is at or above the cutoff of 36."),
        "{desc}"
    );
    assert!(desc.contains("Rupture at session 4 (repaired at session 5)."), "{desc}");
    assert!(desc.contains("WAI-SR-T (therapist) item mean 3 at session 2."), "{desc}");

    // Every point of the JSON series is drawn where its total maps, within a pixel.
    let (group, y_of) = plot(&document, "plot alliance");
    let drawn = points(group);
    let series = json["series"].as_array().unwrap();
    assert_eq!(drawn.len(), series.len());
    for (point, (session, cy)) in series.iter().zip(&drawn) {
        assert_eq!(point["session_number"].as_i64().unwrap(), *session);
        let total = point["total"].as_f64().unwrap();
        assert!((y_of(total) - cy).abs() <= 1.0, "session {session}: total {total} drawn at {cy}");
    }
    let cutoff = group.descendants().find(|n| n.attribute("class") == Some("cutoff")).unwrap();
    assert!((attribute(cutoff, "y1") - y_of(json["cutoff"].as_f64().unwrap())).abs() <= 1.0);
    let count = |class: &str| group.descendants().filter(|n| n.attribute("class") == Some(class)).count();
    assert_eq!((count("rupture"), count("repair"), count("drop")), (1, 1, 1));
    let (wai, wai_y) = plot(&document, "plot working-alliance");
    let wai_points = points(wai);
    assert_eq!(wai_points.len(), 2, "client and therapist at session 2");
    assert!(wai_points.iter().any(|(_, cy)| (cy - wai_y(3.0)).abs() <= 1.0));

    // Same data, same bytes; the tag answers 304.
    let (again, body_again) =
        svg(app.get_as(&care.clinician.token, &format!("/v1/episodes/{episode}/charts/alliance.svg")).await).await;
    assert_eq!(body, body_again);
    let tag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(again["etag"], tag.as_str());
    assert_eq!(headers["cache-control"], "private, no-cache");
    assert!(headers.get("x-frame-options").is_none(), "an EHR may frame a chart");
    assert!(headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    for conditional in [tag.clone(), format!("\"nope\", W/{tag}"), "*".to_owned()] {
        let response = app
            .client
            .get(app.url(&format!("/v1/episodes/{episode}/charts/alliance.svg")))
            .bearer_auth(&care.clinician.token)
            .header("if-none-match", conditional)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304);
        assert_eq!(response.headers()["etag"], tag.as_str());
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // A new rating changes the chart and its tag.
    let session = care.new_session(&app).await;
    submit(&app, &care.integration, &srs(&session, [9.0; 4])).await;
    let (changed, _) =
        svg(app.get_as(&care.clinician.token, &format!("/v1/episodes/{episode}/charts/alliance.svg")).await).await;
    assert_ne!(changed["etag"], tag.as_str());
}

#[tokio::test]
async fn the_outcomes_chart_draws_the_cutoff_for_the_age_group_and_refuses_what_is_not_an_outcome() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Outcome Chart Clinic").await;
    charted_episode(&app, &care).await;
    let episode = &care.episode_id;
    let json: Value =
        app.get_as(&care.admin.token, &format!("/v1/episodes/{episode}/outcomes")).await.json().await.unwrap();
    let ors_json = json["instruments"].as_array().unwrap().iter().find(|i| i["instrument"] == "ors").unwrap();
    for url in [
        format!("/v1/episodes/{episode}/charts/outcomes.svg"),
        format!("/v1/episodes/{episode}/charts/outcomes.svg?instrument=ors"),
    ] {
        let (_, body) = svg(app.get_as(&care.admin.token, &url).await).await;
        let document = roxmltree::Document::parse(&body).expect("well-formed XML");
        let desc = document.descendants().find(|n| n.has_tag_name("desc")).unwrap().text().unwrap();
        assert!(
            desc.starts_with(
                "5 ORS scores. Higher is better. Intake 18, latest 26 (change +8; reliable change is 5 points)"
            ),
            "{desc}"
        );
        assert!(desc.contains("Clinical cutoff 25 for the adult age group."), "{desc}");
        let (group, y_of) = plot(&document, "plot outcomes");
        let series = ors_json["series"].as_array().unwrap();
        let drawn = points(group);
        assert_eq!(drawn.len(), series.len());
        for (point, (_, cy)) in series.iter().zip(&drawn) {
            assert!((y_of(point["total"].as_f64().unwrap()) - cy).abs() <= 1.0);
        }
        let cutoff = group.descendants().find(|n| n.attribute("class") == Some("cutoff")).unwrap();
        assert!((attribute(cutoff, "y1") - y_of(25.0)).abs() <= 1.0);
        let band = group.descendants().find(|n| n.attribute("class") == Some("reliable-change")).unwrap();
        assert!((attribute(band, "y") - y_of(18.0 + 5.0)).abs() <= 1.0, "intake + the reliable change");
    }
    // A measure the client has not filled in: an empty chart with its cutoff (caseness 10).
    let (_, body) = svg(app
        .get_as(&care.admin.token, &format!("/v1/episodes/{episode}/charts/outcomes.svg?instrument=gad-7"))
        .await)
    .await;
    assert!(body.contains("No GAD-7 scores in this episode yet."), "{body}");
    assert!(body.contains("class=\"cutoff\""));
    for bad in ["instrument=srs", "instrument=nope", "colour=red"] {
        let response =
            app.get_as(&care.admin.token, &format!("/v1/episodes/{episode}/charts/outcomes.svg?{bad}")).await;
        let problem = assert_problem(response, 400, "invalid_query").await;
        let pointer = if bad.starts_with("colour") { "/colour" } else { "/instrument" };
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
}

async fn create_link(app: &TestApp, token: &str, episode: &str, body: &Value) -> reqwest::Response {
    app.post_json_as(token, &format!("/v1/episodes/{episode}/chart-links"), body).await
}

fn path_and_query(url: &str) -> String {
    url.split_once("://").map(|(_, rest)| rest[rest.find('/').unwrap()..].to_owned()).unwrap()
}

#[tokio::test]
async fn a_chart_link_shows_its_episode_only_for_ten_minutes_and_every_view_is_audited() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Link Clinic").await;
    charted_episode(&app, &care).await;
    let episode = &care.episode_id;
    let response = create_link(&app, &care.clinician.token, episode, &json!({})).await;
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    assert_eq!(link["expires_in"], 600);
    let alliance = path_and_query(link["alliance_url"].as_str().unwrap());
    let outcomes = path_and_query(link["outcomes_url"].as_str().unwrap());
    assert!(alliance.starts_with(&format!("/v1/episodes/{episode}/charts/alliance.svg?token=")), "{alliance}");
    let token = alliance.split("token=").nth(1).unwrap().to_owned();

    // No bearer token: the link alone shows the charts.
    let (_, shown) = svg(app.get(&alliance).await).await;
    assert!(shown.contains("Alliance by session (SRS)"));
    svg(app.get(&outcomes).await).await;
    svg(app.get(&format!("{outcomes}&instrument=phq-9")).await).await;
    let events = audit_events(&app, &care.admin.token, episode, "episode.chart.alliance.view").await;
    let event = &events[0];
    assert_eq!(event["actor_id"], care.clinician.id.to_string(), "a view is the link maker's");
    assert_eq!(event["detail"], json!({"via": "chart_link", "link_id": link["id"]}));
    let created = audit_events(&app, &care.admin.token, episode, "episode.chart_link.create").await;
    assert_eq!(created[0]["detail"]["link_id"], link["id"]);

    // Nowhere else: not as a bearer token, not on the JSON endpoints, not for another episode.
    let as_bearer = app.get_as(&token, &format!("/v1/episodes/{episode}/alliance")).await;
    assert_problem(as_bearer, 401, "unauthorized").await;
    let as_bearer_on_chart = app.get_as(&token, &alliance).await;
    assert_problem(as_bearer_on_chart, 401, "unauthorized").await;
    // On a JSON endpoint `token` is an unknown parameter.
    assert_problem(app.get(&format!("/v1/episodes/{episode}/alliance?token={token}")).await, 400, "invalid_query")
        .await;
    let other = open_episode(&app, &care.integration, &care.client_id, &care.clinician.id.to_string()).await;
    let other_url = alliance.replace(episode.as_str(), other["id"].as_str().unwrap());
    assert_problem(app.get(&other_url).await, 401, "unauthorized").await;
    assert_problem(app.get(&format!("/v1/episodes/{episode}/charts/alliance.svg")).await, 401, "unauthorized").await;
    assert_problem(
        app.get(&format!("/v1/episodes/{episode}/charts/alliance.svg?token=x.y.z")).await,
        401,
        "unauthorized",
    )
    .await;

    // Expired, or signed to live longer than ten minutes: refused.
    let keys = test_keys();
    let now = chrono::Utc::now().timestamp();
    let mut claims = claims_for(&care.clinician, "clinician");
    claims["episode"] = json!(episode);
    for (iat, exp) in [(now - 1200, now - 600), (now, now + 3600)] {
        claims["iat"] = json!(iat);
        claims["nbf"] = json!(iat);
        claims["exp"] = json!(exp);
        let forged = keys.sign_typed(CHART_TOKEN_TYPE, &claims);
        let url = format!("/v1/episodes/{episode}/charts/alliance.svg?token={forged}");
        assert_problem(app.get(&url).await, 401, "unauthorized").await;
    }

    // Another organization's episode: no link, and a link naming it shows nothing.
    let other_org = Care::new(&app, "Other Clinic").await;
    let across = create_link(&app, &care.admin.token, &other_org.episode_id, &json!({})).await;
    assert_problem(across, 404, "not_found").await;
    claims["iat"] = json!(now);
    claims["nbf"] = json!(now);
    claims["exp"] = json!(now + 300);
    claims["episode"] = json!(other_org.episode_id);
    let forged = keys.sign_typed(CHART_TOKEN_TYPE, &claims);
    let url = format!("/v1/episodes/{}/charts/alliance.svg?token={forged}", other_org.episode_id);
    assert_problem(app.get(&url).await, 404, "not_found").await;

    // A deactivated maker's links stop at once.
    let deactivate = app
        .send_json_as(
            reqwest::Method::PATCH,
            &care.admin.token,
            &format!("/v1/users/{}", care.clinician.id),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(deactivate.status(), 200);
    assert_problem(app.get(&alliance).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_chart_link_request_is_checked_like_any_body() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Link Body Clinic").await;
    let episode = &care.episode_id;
    let short = create_link(&app, &care.admin.token, episode, &json!({"expires_in": 60})).await;
    assert_eq!(short.status(), 201);
    assert_eq!(short.json::<Value>().await.unwrap()["expires_in"], 60);
    let empty = app.post_raw(&format!("/v1/episodes/{episode}/chart-links"), "text/plain", "").await;
    assert_eq!(empty.status(), 401, "still needs a bearer token");
    let no_body = app
        .client
        .post(app.url(&format!("/v1/episodes/{episode}/chart-links")))
        .bearer_auth(&care.admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(no_body.status(), 201, "no body: ten minutes");
    let problem = assert_problem(
        create_link(&app, &care.admin.token, episode, &json!({"expires_in": 601})).await,
        422,
        "validation",
    )
    .await;
    assert_eq!(problem["errors"][0]["pointer"], "/expires_in");
    let unknown = create_link(&app, &care.admin.token, episode, &json!({"charts": ["all"]})).await;
    assert_eq!(assert_problem(unknown, 422, "validation").await["errors"][0]["pointer"], "/charts");
    let wrong_type = create_link(&app, &care.admin.token, episode, &json!({"expires_in": "soon"})).await;
    assert_eq!(assert_problem(wrong_type, 422, "validation").await["errors"][0]["pointer"], "/expires_in");
    let malformed = app
        .client
        .post(app.url(&format!("/v1/episodes/{episode}/chart-links")))
        .bearer_auth(&care.admin.token)
        .header("content-type", "application/json")
        .body("{\"expires_in\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let text = app
        .client
        .post(app.url(&format!("/v1/episodes/{episode}/chart-links")))
        .bearer_auth(&care.admin.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(text, 415, "unsupported_media_type").await;
    let huge = format!("{{\"expires_in\": 60, \"pad\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let too_big = create_link_raw(&app, &care.admin.token, episode, huge).await;
    assert_problem(too_big, 413, "payload_too_large").await;
}

async fn create_link_raw(app: &TestApp, token: &str, episode: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/episodes/{episode}/chart-links")))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_supervision_report_is_one_strict_page_with_the_episodes_that_need_attention() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Report Clinic").await;
    charted_episode(&app, &care).await;
    let url = format!("/v1/clinicians/{}/report?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z", care.clinician.id);
    let response = app.get_as(&care.supervisor.token, &url).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    let policy = headers["content-security-policy"].to_str().unwrap().to_owned();
    let page = response.text().await.unwrap();
    // The policy allows the page's own style sheet by its hash, and nothing else.
    let style = page.split("<style>").nth(1).unwrap().split("</style>").next().unwrap();
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    assert_eq!(
        policy,
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
    );
    assert!(!page.contains("<script"), "no script");
    for heading in REPORT_HEADINGS {
        assert!(page.contains(heading), "{heading}");
    }
    let label: String = care.episode_id.replace('-', "").chars().take(8).collect();
    // The rupture was repaired: the safety item alone puts the episode here.
    assert!(page.contains(&format!("Episode <code>{label}</code>: safety item</figcaption>")), "{page}");
    assert_eq!(page.matches("<svg ").count(), 2, "the episode's alliance and outcome charts");
    assert!(page.contains("Safety item"), "the open signal is listed");
    assert!(page.contains("(95% CI "), "means with their intervals");
    let events = audit_events(&app, &care.admin.token, &care.clinician.id.to_string(), "clinician.report.read").await;
    assert_eq!(events.len(), 1);
    let episode_reads = audit_events(&app, &care.admin.token, &care.episode_id, "clinician.report.episode.read").await;
    assert_eq!(episode_reads.len(), 1);
    // A clinician reads its own report only.
    let own = app.get_as(&care.clinician.token, &url).await;
    assert_eq!(own.status(), 200);
    let other = app.create_person(&care.admin, "clinician").await;
    assert_problem(app.get_as(&other.token, &url).await, 403, "forbidden").await;
}
