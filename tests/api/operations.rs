use crate::harness::{assert_problem, spawn_app};
use diesel::RunQueryDsl;

#[tokio::test]
async fn healthz_answers_ok_with_a_generated_request_id() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn a_request_id_from_the_caller_is_echoed_and_a_malformed_one_is_replaced() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).header("x-request-id", "ehr-trace-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "ehr-trace-42");
    let response = app.client.get(app.url("/healthz")).header("x-request-id", "<script>").send().await.unwrap();
    assert_ne!(response.headers()["x-request-id"], "<script>");
    // Errors carry it too.
    let response = app.client.get(app.url("/nowhere")).header("x-request-id", "abc-1").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-1");
}

#[tokio::test]
async fn readyz_answers_ok_when_the_database_is_reachable_and_migrated() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn readyz_answers_503_when_a_migration_is_pending() {
    let app = spawn_app().await;
    let mut conn = app.database.connect();
    diesel::sql_query("DELETE FROM __diesel_schema_migrations").execute(&mut conn).unwrap();
    let response = app.get("/readyz").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503, "migrations_pending").await;
}

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.database.drop_now();
    let response = app.get("/readyz").await;
    assert_problem(response, 503, "database_unavailable").await;
    // The process itself is still alive.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/route").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"rapport_http_requests_total{method="GET",route="/healthz",status="200"} 2"#), "{text}");
    assert!(text.contains(r#"rapport_http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
    assert!(
        text.contains(r#"rapport_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 2"#)
    );
    assert!(text.contains("rapport_db_pool_connections"));
    // Raw paths never become labels.
    assert!(!text.contains("/no/such/route"));
}

#[tokio::test]
async fn the_openapi_document_is_served_as_json() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: serde_json::Value = response.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served, serde_json::to_value(rapport::openapi::build()).unwrap());
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_by_the_binary() {
    let app = spawn_app().await;
    let redirect = app.get("/docs").await;
    assert!(redirect.status().is_redirection());
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"));
    assert!(!html.contains("https://"), "the page must not load assets from the web");
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
    let initializer = app.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(initializer.contains("/openapi.json"));
}
