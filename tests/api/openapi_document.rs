//! The committed `openapi/openapi.json` is the generated document; `BLESS=1` rewrites it.

use std::path::Path;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = rapport::openapi::to_pretty_json();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    if std::env::var("BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, format!("{generated}\n")).expect("write openapi/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `BLESS=1 cargo test --test api openapi` and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_every_operation_is_described() {
    let document = serde_json::to_value(rapport::openapi::build()).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "Rapport");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.contains_key("/healthz") && paths.contains_key("/readyz") && paths.contains_key("/metrics"));
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let summary = operation["summary"].as_str().unwrap_or("");
            assert!(!summary.is_empty(), "{method} {path} has no summary");
            assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
            assert!(operation["operationId"].is_string(), "{method} {path}");
        }
    }
}
