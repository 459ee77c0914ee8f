//! The audit log: every read or write of client data leaves one event; nobody can change it.

use crate::harness::{assert_problem, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn reading_a_client_leaves_exactly_one_audit_event_with_who_what_and_the_request_id() {
    let app = spawn_app().await;
    let admin = app.create_org("Audited Clinic").await;
    let supervisor = app.create_person(&admin, "supervisor").await;
    let client = app.create_client(&admin.token, "MRN-AUDIT").await;
    let id = client["id"].as_str().unwrap();
    let response = app
        .client
        .get(app.url(&format!("/v1/clients/{id}")))
        .bearer_auth(&supervisor.token)
        .header("x-request-id", "audit-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events: Value = app
        .get_as(&admin.token, &format!("/v1/audit-events?resource_id={id}&action=client.read"))
        .await
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    let event = &items[0];
    assert_eq!(event["actor_id"], supervisor.id.to_string());
    assert_eq!(event["actor_role"], "supervisor");
    assert_eq!(event["resource_type"], "client");
    assert_eq!(event["request_id"], "audit-trace-1");
    assert_eq!(event["outcome"], "success");
    assert!(event["occurred_at"].is_string());
}

#[tokio::test]
async fn writes_lists_and_erasure_are_audited_and_erasure_leaves_only_the_audit_record() {
    let app = spawn_app().await;
    let admin = app.create_org("Erasing Clinic").await;
    let client = app.create_client(&admin.token, "MRN-ERASE").await;
    let id = client["id"].as_str().unwrap();
    app.patch_json_as(&admin.token, &format!("/v1/clients/{id}"), &json!({"display_name": "Robin"})).await;
    app.get_as(&admin.token, "/v1/clients").await;
    assert_eq!(app.delete_as(&admin.token, &format!("/v1/clients/{id}")).await.status(), 204);
    assert_problem(app.get_as(&admin.token, &format!("/v1/clients/{id}")).await, 404, "not_found").await;

    let events: Value = app.get_as(&admin.token, "/v1/audit-events?resource_type=client").await.json().await.unwrap();
    let actions: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["client.erase", "client.list", "client.update", "client.create"], "newest first");
    assert_eq!(events["items"][2]["detail"]["fields"], json!(["display_name"]));
    assert_eq!(events["items"][1]["detail"]["client_ids"], json!([id]));
    // The log holds no health information: the display name never appears in it.
    assert!(!events.to_string().contains("Robin"));
}

#[tokio::test]
async fn the_audit_log_pages_with_a_cursor_and_only_admins_read_it() {
    let app = spawn_app().await;
    let admin = app.create_org("Paging Clinic").await;
    for n in 0..5 {
        app.create_client(&admin.token, &format!("MRN-{n}")).await;
    }
    let first: Value =
        app.get_as(&admin.token, "/v1/audit-events?action=client.create&limit=3").await.json().await.unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get_as(&admin.token, &format!("/v1/audit-events?action=client.create&limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null());
    let all: Vec<&Value> =
        first["items"].as_array().unwrap().iter().chain(second["items"].as_array().unwrap()).collect();
    let ids: std::collections::BTreeSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);

    assert_problem(app.get_as(&admin.token, "/v1/audit-events?limit=0").await, 400, "invalid_query").await;
    assert_problem(app.get_as(&admin.token, "/v1/audit-events?cursor=%%%").await, 400, "invalid_query").await;
    assert_problem(app.get_as(&admin.token, "/v1/audit-events?bogus=1").await, 400, "invalid_query").await;
    // A filter whose interval is empty finds nothing, like any other filter that matches nothing
    // (reports over a range, such as insights, refuse it instead).
    let empty: serde_json::Value = app
        .get_as(&admin.token, "/v1/audit-events?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["items"], serde_json::json!([]));
    let clinician = app.create_person(&admin, "clinician").await;
    assert_problem(app.get_as(&clinician.token, "/v1/audit-events").await, 403, "forbidden").await;
}
