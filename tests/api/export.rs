//! `GET /v1/export/responses`: each format is read back by a reader this project did not write
//! (the `csv` and `parquet` crates from crates.io) and gives the counts and mean
//! totals of `GET /v1/analytics/alliance`; a resumed export returns exactly what changed since
//! its cursor; analysts see no real id.

use crate::fixtures::{Care, ors, srs, submit};
use crate::harness::{TestApp, assert_problem, spawn_app};
use serde_json::{Value, json};

/// A care structure with SRS responses over three sessions, an ORS, and one voided SRS.
async fn exported_care(app: &TestApp) -> (Care, Vec<Value>) {
    let care = Care::new(app, "Export Clinic").await;
    let mut responses = vec![submit(app, &care.admin.token, &srs(&care.session_id, [9.0, 8.5, 9.2, 7.1])).await];
    for values in [[6.0, 7.0, 8.0, 9.0], [9.9, 9.9, 9.8, 9.7]] {
        let session = care.new_session(app).await;
        responses.push(submit(app, &care.admin.token, &srs(&session, values)).await);
    }
    responses.push(submit(app, &care.admin.token, &ors(&care.session_id, [5.0, 6.0, 7.0, 8.0])).await);
    let wrong = submit(app, &care.admin.token, &srs(&care.session_id, [1.0; 4])).await;
    void(app, &care, &wrong).await;
    responses.push(wrong);
    wait_until_exported(app, &care, responses.len()).await;
    (care, responses)
}

/// A change is exported once every transaction older than it has ended: transactions of tests
/// running beside this one can hold it back for a moment (never reorder or lose it).
async fn wait_until_exported(app: &TestApp, care: &Care, rows: usize) {
    for _ in 0..200 {
        if ndjson_rows(&export(app, &care.admin.token, "?ids=real").await.body).len() >= rows {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{rows} rows were never exported");
}

async fn void(app: &TestApp, care: &Care, response: &Value) {
    let path = format!("/v1/responses/{}/void", response["id"].as_str().unwrap());
    let voided = app.post_json_as(&care.admin.token, &path, &json!({"reason": "entered twice"})).await;
    assert_eq!(voided.status(), 200);
}

struct Export {
    next_cursor: String,
    content_type: String,
    body: Vec<u8>,
}

async fn export(app: &TestApp, token: &str, query: &str) -> Export {
    let response = app.get_as(token, &format!("/v1/export/responses{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    let next_cursor = response.headers()["rapport-next-cursor"].to_str().unwrap().to_owned();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap().to_vec();
    Export { next_cursor, content_type, body }
}

fn ndjson_rows(body: &[u8]) -> Vec<Value> {
    std::str::from_utf8(body).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The alliance rows the analytics count: client-rated SRS, not voided. (count, mean total).
fn alliance_summary(rows: impl Iterator<Item = (String, String, bool, f64)>) -> (usize, f64) {
    let totals: Vec<f64> = rows
        .filter(|(instrument, rater, voided, _)| instrument == "srs" && rater == "client" && !voided)
        .map(|(_, _, _, total)| total)
        .collect();
    (totals.len(), totals.iter().sum::<f64>() / totals.len() as f64)
}

fn csv_summary(body: &[u8]) -> (usize, usize, f64) {
    let mut reader = csv::Reader::from_reader(body);
    let header = reader.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (instrument, rater, voided, total) = (at("instrument"), at("rater"), at("voided"), at("total"));
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let (count, mean) = alliance_summary(
        records
            .iter()
            .map(|r| (r[instrument].to_owned(), r[rater].to_owned(), &r[voided] == "true", r[total].parse().unwrap())),
    );
    (records.len(), count, mean)
}

fn parquet_summary(body: Vec<u8>) -> (usize, usize, f64, Option<String>) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let reader = SerializedFileReader::new(bytes::Bytes::from(body)).unwrap();
    let metadata = reader.metadata().file_metadata();
    let cursor = metadata
        .key_value_metadata()
        .and_then(|pairs| pairs.iter().find(|kv| kv.key == "rapport.next_cursor"))
        .and_then(|kv| kv.value.clone());
    let fields: Vec<String> = metadata.schema_descr().columns().iter().map(|c| c.name().to_owned()).collect();
    let at = |name: &str| fields.iter().position(|f| f == name).unwrap();
    let rows: Vec<parquet::record::Row> = reader.get_row_iter(None).unwrap().map(Result::unwrap).collect();
    let (count, mean) = alliance_summary(rows.iter().map(|row| {
        (
            row.get_string(at("instrument")).unwrap().clone(),
            row.get_string(at("rater")).unwrap().clone(),
            row.get_bool(at("voided")).unwrap(),
            row.get_double(at("total")).unwrap(),
        )
    }));
    (rows.len(), count, mean, cursor)
}

#[tokio::test]
async fn every_format_read_by_a_peer_gives_the_counts_and_means_of_the_analytics() {
    let app = spawn_app().await;
    let (care, responses) = exported_care(&app).await;
    let analytics: Value = app
        .get_as(
            &care.admin.token,
            "/v1/analytics/alliance?group_by=clinician&from=2026-01-01T00:00:00Z&to=2026-12-31T00:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    let group = &analytics["groups"][0];
    let expected_count = group["responses"].as_u64().unwrap() as usize;
    let expected_mean = group["mean_srs"]["mean"].as_f64().unwrap();
    assert_eq!(expected_count, 3, "{analytics}");

    let ndjson = export(&app, &care.admin.token, "").await;
    assert_eq!(ndjson.content_type, "application/x-ndjson");
    let rows = ndjson_rows(&ndjson.body);
    assert_eq!(rows.len(), responses.len());
    let (count, mean) = alliance_summary(rows.iter().map(|row| {
        (
            row["instrument"].as_str().unwrap().to_owned(),
            row["rater"].as_str().unwrap().to_owned(),
            row["voided"].as_bool().unwrap(),
            row["total"].as_f64().unwrap(),
        )
    }));
    assert_eq!(count, expected_count);
    assert!((mean - expected_mean).abs() < 0.01, "{mean} vs {expected_mean}");
    let first = &rows[0];
    assert_eq!((first["session_number"].clone(), first["age_group"].clone()), (json!(1), json!("adult")));
    assert_eq!(first["answers"]["relationship"], json!(9.0));
    assert!(first["cursor"].is_string() && first["band"].is_string(), "{first}");
    assert!(first.get("comment").is_none() && first.get("display_name").is_none());

    let csv = export(&app, &care.admin.token, "?format=csv").await;
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    let (csv_rows, count, mean) = csv_summary(&csv.body);
    assert_eq!((csv_rows, count), (responses.len(), expected_count));
    assert!((mean - expected_mean).abs() < 0.01, "{mean} vs {expected_mean}");

    let parquet = export(&app, &care.admin.token, "?format=parquet").await;
    assert_eq!(parquet.content_type, "application/vnd.apache.parquet");
    let (parquet_rows, count, mean, cursor) = parquet_summary(parquet.body);
    assert_eq!((parquet_rows, count), (responses.len(), expected_count));
    assert!((mean - expected_mean).abs() < 0.01, "{mean} vs {expected_mean}");
    assert_eq!(cursor.as_deref(), Some(parquet.next_cursor.as_str()));
}

#[tokio::test]
pub async fn a_resumed_export_returns_exactly_what_changed_after_its_cursor() {
    let app = spawn_app().await;
    let (care, responses) = exported_care(&app).await;
    let first = export(&app, &care.admin.token, "?ids=real").await;
    let first_rows = ndjson_rows(&first.body);
    assert_eq!(first_rows.len(), responses.len());

    let nothing = export(&app, &care.admin.token, &format!("?since={}", first.next_cursor)).await;
    assert!(nothing.body.is_empty(), "{}", String::from_utf8_lossy(&nothing.body));

    let session = care.new_session(&app).await;
    let added = submit(&app, &care.admin.token, &srs(&session, [5.0; 4])).await;
    void(&app, &care, &responses[1]).await;
    let mut rows = Vec::new();
    for _ in 0..200 {
        let resumed = export(&app, &care.admin.token, &format!("?ids=real&since={}", first.next_cursor)).await;
        rows = ndjson_rows(&resumed.body);
        if rows.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ids: Vec<(&str, bool)> =
        rows.iter().map(|row| (row["response_id"].as_str().unwrap(), row["voided"].as_bool().unwrap())).collect();
    assert_eq!(ids, vec![(added["id"].as_str().unwrap(), false), (responses[1]["id"].as_str().unwrap(), true)]);

    // A row's own cursor resumes right after it, as after an interrupted download.
    let after_first_row =
        export(&app, &care.admin.token, &format!("?ids=real&since={}", first_rows[0]["cursor"].as_str().unwrap()))
            .await;
    let rest: Vec<String> =
        ndjson_rows(&after_first_row.body).iter().map(|row| row["response_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(rest.len(), responses.len(), "all but the first row, and the one added");
    assert!(!rest.contains(&first_rows[0]["response_id"].as_str().unwrap().to_owned()));
}

#[tokio::test]
async fn analysts_get_stable_pseudonyms_and_never_a_real_id() {
    let app = spawn_app().await;
    let (care, responses) = exported_care(&app).await;
    let analyst = export(&app, &care.analyst.token, "").await;
    let text = String::from_utf8(analyst.body.clone()).unwrap();
    let mut real_ids =
        vec![care.client_id.clone(), care.episode_id.clone(), care.session_id.clone(), care.clinician.id.to_string()];
    real_ids.extend(responses.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
    for id in &real_ids {
        assert!(!text.contains(id.as_str()) && !text.contains(&id.replace('-', "")), "{id} leaked");
    }
    let rows = ndjson_rows(&analyst.body);
    let client = rows[0]["client_id"].as_str().unwrap().to_owned();
    assert!(client.starts_with("cli_"), "{client}");
    assert!(rows[0]["clinician_id"].as_str().unwrap().starts_with("clin_"));
    let again = ndjson_rows(&export(&app, &care.analyst.token, "").await.body);
    assert_eq!(again[0]["client_id"], json!(client), "stable across exports");

    let admin = ndjson_rows(&export(&app, &care.admin.token, "?ids=real").await.body);
    assert_eq!(admin[0]["client_id"], json!(care.client_id));
    assert_problem(app.get_as(&care.analyst.token, "/v1/export/responses?ids=real").await, 403, "forbidden").await;
    assert_problem(app.get_as(&care.clinician.token, "/v1/export/responses").await, 403, "forbidden").await;
    let bad =
        assert_problem(app.get_as(&care.admin.token, "/v1/export/responses?since=12").await, 400, "invalid_query")
            .await;
    assert_eq!(bad["errors"][0]["pointer"], "/since");
    let bad =
        assert_problem(app.get_as(&care.admin.token, "/v1/export/responses?format=xml").await, 400, "invalid_query")
            .await;
    assert_eq!(bad["errors"][0]["pointer"], "/format");

    let audit: Value =
        app.get_as(&care.admin.token, "/v1/audit-events?action=export.responses").await.json().await.unwrap();
    let roles: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["actor_role"].as_str().unwrap()).collect();
    assert!(roles.contains(&"analyst") && roles.contains(&"admin"), "{audit}");
}

#[tokio::test]
async fn another_organizations_export_holds_none_of_this_ones_rows() {
    let app = spawn_app().await;
    let (care, _) = exported_care(&app).await;
    let other = Care::new(&app, "Other Clinic").await;
    let rows = ndjson_rows(&export(&app, &other.admin.token, "?ids=real").await.body);
    assert!(rows.is_empty(), "{rows:?}");
    // A cursor from one organization opens nothing of another's.
    let mine = export(&app, &care.admin.token, "").await;
    let theirs = export(&app, &other.admin.token, &format!("?since={}", "0.00000000000000000000000000000000")).await;
    assert!(theirs.body.is_empty());
    assert!(!mine.body.is_empty());
}
