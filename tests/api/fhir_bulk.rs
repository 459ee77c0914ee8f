//! FHIR Bulk Data `$export`: kick-off, status with progress, the manifest, NDJSON files that
//! parse as R4 (tools/fhir-validator), cancellation, and a job that outlives the process that
//! accepted it.

use crate::fhir_validator::r4_problems;
use crate::fixtures::{Care, ors, srs, submit};
use crate::harness::{TestApp, spawn_app, spawn_app_beside, spawn_app_with};
use serde_json::Value;
use std::time::Duration;

async fn kick_off(app: &TestApp, token: &str, path_and_query: &str, prefer: bool) -> reqwest::Response {
    let mut request =
        app.client.get(app.url(path_and_query)).bearer_auth(token).header("accept", "application/fhir+json");
    if prefer {
        request = request.header("prefer", "respond-async");
    }
    request.send().await.unwrap()
}

/// The status URL's path, from a 202 kick-off answer.
fn status_path(app: &TestApp, response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 202);
    let location = response.headers()["content-location"].to_str().unwrap();
    location.strip_prefix(&app.address).unwrap_or(location).to_owned()
}

/// Polls the status URL until the manifest; every interim answer is 202 with `X-Progress`.
async fn manifest(app: &TestApp, token: &str, status: &str) -> Value {
    for _ in 0..300 {
        let response = app.get_as(token, status).await;
        match response.status().as_u16() {
            202 => {
                assert!(response.headers().contains_key("x-progress"), "{:?}", response.headers());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            200 => return response.json().await.unwrap(),
            other => panic!("status answered {other}: {}", response.text().await.unwrap()),
        }
    }
    panic!("the export never completed");
}

async fn download(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    let path = url.strip_prefix(&app.address).unwrap_or(url);
    app.client.get(app.url(path)).bearer_auth(token).header("accept", "application/fhir+ndjson").send().await.unwrap()
}

#[tokio::test]
pub async fn a_bulk_export_runs_to_its_manifest_and_its_files_parse_as_r4() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Bulk Clinic").await;
    submit(&app, &care.admin.token, &srs(&care.session_id, [9.0, 8.5, 9.2, 7.1])).await;
    submit(&app, &care.admin.token, &ors(&care.session_id, [5.0, 6.0, 7.0, 8.0])).await;
    let kicked =
        kick_off(&app, &care.integration, "/fhir/r4/$export?_type=Patient,QuestionnaireResponse,Observation", true)
            .await;
    let status = status_path(&app, &kicked);
    let manifest = manifest(&app, &care.integration, &status).await;
    assert_eq!(manifest["requiresAccessToken"], true);
    assert!(manifest["transactionTime"].is_string() && manifest["request"].as_str().unwrap().contains("$export"));
    let output = manifest["output"].as_array().unwrap();
    let counts: Vec<(String, u64)> =
        output.iter().map(|o| (o["type"].as_str().unwrap().to_owned(), o["count"].as_u64().unwrap())).collect();
    assert!(counts.contains(&("Patient".into(), 1)), "{manifest}");
    assert!(counts.contains(&("QuestionnaireResponse".into(), 2)), "{manifest}");
    assert!(counts.iter().any(|(kind, n)| kind == "Observation" && *n >= 2), "{manifest}");

    let mut resources = Vec::new();
    for file in output {
        let url = file["url"].as_str().unwrap();
        let response = download(&app, &care.integration, url).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/fhir+ndjson");
        let text = response.text().await.unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len() as u64, file["count"].as_u64().unwrap());
        assert!(lines.iter().all(|r| r["resourceType"] == file["type"]), "{text}");
        resources.extend(lines);
        // Served only with authentication, and only to the organization.
        let anonymous = app.client.get(url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        let other = Care::new(&app, "Other Bulk Clinic").await;
        assert_eq!(download(&app, &other.admin.token, url).await.status(), 404);
    }
    let problems: Vec<String> = r4_problems(&resources).into_iter().flatten().collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let patient = resources.iter().find(|r| r["resourceType"] == "Patient").unwrap();
    assert_eq!(patient["id"], care.client_id.as_str());

    // `_since` the transaction time: nothing changed since, so nothing is exported.
    let since = manifest["transactionTime"].as_str().unwrap().replace('+', "%2B");
    let kicked = kick_off(&app, &care.integration, &format!("/fhir/r4/Patient/$export?_since={since}"), true).await;
    let later = manifest_of(&app, &care.integration, kicked).await;
    assert_eq!(later["output"], serde_json::json!([]), "{later}");
}

async fn manifest_of(app: &TestApp, token: &str, kicked: reqwest::Response) -> Value {
    let status = status_path(app, &kicked);
    manifest(app, token, &status).await
}

#[tokio::test]
async fn kick_offs_the_server_cannot_honour_are_refused_as_operation_outcomes() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Bulk Refusals").await;
    for (query, prefer, status) in [
        ("/fhir/r4/$export", false, 400),
        ("/fhir/r4/$export?_type=Encounter", true, 400),
        ("/fhir/r4/$export?_since=yesterday", true, 400),
        ("/fhir/r4/$export?_typeFilter=Patient%3Factive%3Dtrue", true, 400),
        ("/fhir/r4/$export?_outputFormat=text/csv", true, 400),
        ("/fhir/r4/$export?_type=Patient&_type=Patient", true, 400),
    ] {
        let response = kick_off(&app, &care.integration, query, prefer).await;
        assert_eq!(response.status(), status, "{query}");
        let outcome: Value = response.json().await.unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{query}: {outcome}");
    }
    let clinician = kick_off(&app, &care.clinician.token, "/fhir/r4/$export", true).await;
    assert_eq!(clinician.status(), 403);
    let status = app.get_as(&care.integration, "/fhir/r4/bulk/01900000-0000-7000-8000-000000000000").await;
    assert_eq!(status.status(), 404);
}

#[tokio::test]
async fn delete_on_the_status_url_cancels_the_job() {
    let app = spawn_app_with(&[("RAPPORT_BULK_EXPORT_JOBS", "false")]).await;
    let care = Care::new(&app, "Bulk Cancel").await;
    let kicked = kick_off(&app, &care.integration, "/fhir/r4/$export", true).await;
    let status = status_path(&app, &kicked);
    assert_eq!(app.get_as(&care.integration, &status).await.status(), 202);
    assert_eq!(app.delete_as(&care.integration, &status).await.status(), 202);
    assert_eq!(app.get_as(&care.integration, &status).await.status(), 404);
    assert_eq!(app.delete_as(&care.integration, &status).await.status(), 404);
}

#[tokio::test]
async fn a_job_accepted_by_one_process_is_finished_by_the_next() {
    let first = spawn_app_with(&[("RAPPORT_BULK_EXPORT_JOBS", "false")]).await;
    let care = Care::new(&first, "Bulk Restart").await;
    submit(&first, &care.admin.token, &srs(&care.session_id, [9.0, 8.5, 9.2, 7.1])).await;
    let kicked = kick_off(&first, &care.integration, "/fhir/r4/$export?_type=QuestionnaireResponse", true).await;
    let status = status_path(&first, &kicked);
    assert_eq!(first.get_as(&care.integration, &status).await.status(), 202);
    first.handle.stop(true).await;

    let second = spawn_app_beside(&first, &[]).await;
    let manifest = manifest(&second, &care.integration, &status).await;
    assert_eq!(manifest["output"][0]["type"], "QuestionnaireResponse");
    assert_eq!(manifest["output"][0]["count"], 1);
}
