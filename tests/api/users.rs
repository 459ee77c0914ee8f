//! People: create, list, read, change.

use crate::actors::unique_email;
use crate::harness::{assert_problem, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_creates_a_person_whose_generated_password_logs_in() {
    let app = spawn_app().await;
    let admin = app.create_org("People Clinic").await;
    let email = unique_email("clin");
    let response = app
        .post_json_as(
            &admin.token,
            "/v1/users",
            &json!({"email": email, "role": "clinician", "display_name": "Dr. Ana", "external_id": "EPIC-77"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["role"], "clinician");
    assert_eq!(created["external_id"], "EPIC-77");
    let password = created["initial_password"].as_str().unwrap();
    app.login(&email, password).await;
    let read: Value =
        app.get_as(&admin.token, &format!("/v1/users/{}", created["id"].as_str().unwrap())).await.json().await.unwrap();
    assert!(read.get("initial_password").is_none() && read.get("password_hash").is_none());
}

#[tokio::test]
async fn bad_person_requests_are_refused_with_pointers() {
    let app = spawn_app().await;
    let admin = app.create_org("Strict Clinic").await;
    let cases = [
        (json!({"email": "nope", "role": "clinician"}), "/email"),
        (json!({"email": unique_email("x"), "role": "client"}), "/role"),
        (json!({"email": unique_email("x"), "role": "wizard"}), "/role"),
        (json!({"email": unique_email("x"), "role": "clinician", "password": "short"}), "/password"),
        (
            json!({"email": unique_email("x"), "role": "clinician", "organization_id": admin.organization_id}),
            "/organization_id",
        ),
        (json!({"email": unique_email("x"), "role": "clinician", "display_name": 7}), "/display_name"),
        (json!({"role": "clinician"}), "/email"),
    ];
    for (body, pointer) in cases {
        let problem = assert_problem(app.post_json_as(&admin.token, "/v1/users", &body).await, 422, "validation").await;
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{body}");
    }
    let taken = app.post_json_as(&admin.token, "/v1/users", &json!({"email": admin.email, "role": "analyst"})).await;
    assert_problem(taken, 409, "email_taken").await;
}

#[tokio::test]
async fn an_admin_cannot_demote_or_deactivate_themselves() {
    let app = spawn_app().await;
    let admin = app.create_org("Careful Clinic").await;
    let me = format!("/v1/users/{}", admin.id);
    assert_problem(app.patch_json_as(&admin.token, &me, &json!({"active": false})).await, 409, "own_admin_rights")
        .await;
    assert_problem(app.patch_json_as(&admin.token, &me, &json!({"role": "analyst"})).await, 409, "own_admin_rights")
        .await;
    assert_eq!(app.patch_json_as(&admin.token, &me, &json!({"display_name": "Boss"})).await.status(), 200);
}

#[tokio::test]
async fn people_are_listed_oldest_first_with_filters_and_a_cursor() {
    let app = spawn_app().await;
    let admin = app.create_org("Listing Clinic").await;
    for _ in 0..3 {
        app.create_person(&admin, "clinician").await;
    }
    let page: Value = app.get_as(&admin.token, "/v1/users?role=clinician&limit=2").await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next: Value = app
        .get_as(
            &admin.token,
            &format!("/v1/users?role=clinician&limit=2&cursor={}", page["next_cursor"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert!(page["items"][0]["id"].as_str() < page["items"][1]["id"].as_str());
    assert_problem(app.get_as(&admin.token, "/v1/users?role=wizard").await, 400, "invalid_query").await;
    assert_problem(app.get_as(&admin.token, "/v1/users/not-a-uuid").await, 400, "invalid_path").await;
}
