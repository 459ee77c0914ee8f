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

/// Every `$ref` in `value`.
fn references(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn the_document_is_valid_openapi_3_1_to_libraries_we_did_not_write() {
    let text = rapport::openapi::to_pretty_json();
    // oas3 reads the document into the OpenAPI 3.1 object model (required fields, types).
    let spec = oas3::from_json(&text).expect("oas3 reads the document");
    assert_eq!(spec.validate_version().expect("a 3.1 version").minor, 1);
    let mut operations = 0;
    for (path, method, operation) in spec.operations() {
        operations += 1;
        for (status, response) in operation.responses.as_ref().expect("responses") {
            response.resolve(&spec).unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
        }
        for parameter in &operation.parameters {
            parameter.resolve(&spec).unwrap_or_else(|e| panic!("{method} {path} parameter: {e}"));
        }
        if let Some(body) = &operation.request_body {
            body.resolve(&spec).unwrap_or_else(|e| panic!("{method} {path} request body: {e}"));
        }
    }
    assert!(operations > 40, "{operations} operations");
    // Every reference names something that exists.
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("external reference {target}"));
        assert!(document.pointer(pointer).is_some(), "{target} does not exist");
    }
    // Every schema is a valid JSON Schema 2020-12 (the dialect OpenAPI 3.1 builds on).
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        jsonschema::draft202012::meta::validate(schema).unwrap_or_else(|e| panic!("schema {name}: {e}"));
    }
}

#[test]
fn every_operation_declares_the_answers_the_edge_can_give() {
    let document = serde_json::to_value(rapport::openapi::build()).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "503"] {
                assert!(responses.contains_key(status), "{method} {path} does not declare {status}");
            }
            if operation.get("security").is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty())) {
                assert!(responses.contains_key("401") && responses.contains_key("403"), "{method} {path}");
            }
            if operation.get("requestBody").is_some() && path != "/v1/auth/token" {
                for status in ["413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} takes a body but not {status}");
                }
            }
        }
    }
    // A group's size is an integer, or "<k" when suppressed: the contract says both.
    let clients = &document["components"]["schemas"]["GroupView"]["properties"]["clients"]["$ref"];
    assert_eq!(clients, "#/components/schemas/ClientCount");
    let count = document["components"]["schemas"]["ClientCount"].to_string();
    assert!(count.contains("integer") && count.contains("string"), "{count}");
}

/// The schema of `method path`'s answer with `status`, resolvable against the whole document.
fn answer_schema(document: &serde_json::Value, method: &str, path: &str, status: &str) -> serde_json::Value {
    let declared = &document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(declared.is_object(), "{method} {path} {status} declares a JSON answer");
    let mut schema = document.clone();
    schema.as_object_mut().unwrap().extend(declared.as_object().unwrap().clone());
    schema
}

#[tokio::test]
async fn answers_validate_against_their_declared_schemas() {
    let app = crate::harness::spawn_app().await;
    let care = crate::fixtures::Care::new(&app, "Schema Clinic").await;
    let document = serde_json::to_value(rapport::openapi::build()).unwrap();
    for (path, template) in [
        ("/v1/instruments", "/v1/instruments"),
        ("/v1/instruments/ors", "/v1/instruments/{key}"),
        ("/v1/instruments/phq-9", "/v1/instruments/{key}"),
        ("/v1/service-accounts", "/v1/service-accounts"),
    ] {
        let body: serde_json::Value = app.get_as(&care.admin.token, path).await.json().await.unwrap();
        let schema = answer_schema(&document, "get", template, "200");
        let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
        let errors: Vec<String> =
            validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path())).take(3).collect();
        assert!(errors.is_empty(), "GET {path}: {errors:?}");
    }
}
