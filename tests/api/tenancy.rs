//! Two organizations with the same shapes: every id-taking route called across organizations
//! answers 404, exactly as for a missing id, and changes nothing.

use crate::harness::{Person, TestApp, assert_problem, spawn_app};
use reqwest::Method;
use serde_json::json;

struct Shapes {
    admin: Person,
    user_id: uuid::Uuid,
    client_id: String,
}

async fn organization(app: &TestApp, name: &str) -> Shapes {
    let admin = app.create_org(name).await;
    let clinician = app.create_person(&admin, "clinician").await;
    let client = app.create_client(&admin.token, "SAME-MRN-1").await;
    Shapes { user_id: clinician.id, client_id: client["id"].as_str().unwrap().to_owned(), admin }
}

#[tokio::test]
async fn every_id_taking_route_answers_404_across_organizations() {
    let app = spawn_app().await;
    let a = organization(&app, "Clinic A").await;
    let b = organization(&app, "Clinic B").await;

    let cross: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/v1/users/{}", b.user_id), None),
        (Method::PATCH, format!("/v1/users/{}", b.user_id), Some(json!({"active": false}))),
        (Method::GET, format!("/v1/clients/{}", b.client_id), None),
        (Method::PATCH, format!("/v1/clients/{}", b.client_id), Some(json!({"display_name": "x"}))),
        (Method::DELETE, format!("/v1/clients/{}", b.client_id), None),
    ];
    // Every templated path of the document is exercised above.
    let document = serde_json::to_value(rapport::openapi::build()).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let prefix = path.split('{').next().unwrap();
            let covered =
                cross.iter().any(|(m, url, _)| m.as_str().eq_ignore_ascii_case(method) && url.starts_with(prefix));
            assert!(covered, "{method} {path} has no cross-organization case");
        }
    }

    for (method, url, body) in cross {
        let mut request = app.client.request(method.clone(), app.url(&url)).bearer_auth(&a.admin.token);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let across = request.send().await.unwrap();
        let missing_url = url.rsplit_once('/').map(|(base, _)| format!("{base}/{}", uuid::Uuid::now_v7())).unwrap();
        let mut request = app.client.request(method.clone(), app.url(&missing_url)).bearer_auth(&a.admin.token);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let missing = request.send().await.unwrap();
        let across_body = assert_problem(across, 404, "not_found").await;
        let missing_body = assert_problem(missing, 404, "not_found").await;
        assert_eq!(across_body, missing_body, "{method} {url}: a foreign record must look exactly like a missing one");
    }

    // Nothing of B changed or disappeared.
    let client = app.get_as(&b.admin.token, &format!("/v1/clients/{}", b.client_id)).await;
    assert_eq!(client.status(), 200);
    assert!(client.json::<serde_json::Value>().await.unwrap()["display_name"].is_null());
    let user = app.get_as(&b.admin.token, &format!("/v1/users/{}", b.user_id)).await;
    assert_eq!(user.json::<serde_json::Value>().await.unwrap()["active"], true);
    // Lists never show the other organization's records.
    let listed: serde_json::Value = app.get_as(&a.admin.token, "/v1/clients").await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], a.client_id);
    let users: serde_json::Value = app.get_as(&a.admin.token, "/v1/users").await.json().await.unwrap();
    assert!(users["items"].as_array().unwrap().iter().all(|u| u["id"] != b.user_id.to_string()));
}
