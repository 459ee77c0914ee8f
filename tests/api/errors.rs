use crate::harness::{assert_problem, spawn_app};
use reqwest::Method;

#[tokio::test]
async fn an_unknown_route_answers_404_problem_json() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/v1/nothing-here").await, 404, "not_found").await;
    assert!(body["detail"].as_str().is_some());
}

#[tokio::test]
async fn a_wrong_method_answers_405_with_the_allowed_methods() {
    let app = spawn_app().await;
    for (method, path) in [(Method::POST, "/healthz"), (Method::DELETE, "/readyz"), (Method::PUT, "/metrics")] {
        let response = app.request(method, path).await;
        assert_eq!(response.headers()["allow"], "GET");
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn a_huge_body_to_an_unknown_route_is_still_a_problem_not_a_crash() {
    let app = spawn_app().await;
    // The body is read and dropped before the answer, so the client always receives it.
    let response = app.post_raw("/v1/nothing", "application/json", vec![b'['; 2_000_000]).await;
    assert_problem(response, 404, "not_found").await;
    let fresh = reqwest::Client::new();
    assert_eq!(fresh.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}
