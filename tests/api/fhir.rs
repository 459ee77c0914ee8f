//! FHIR R4: discovery, Questionnaires, QuestionnaireResponses (single, conditional, in a
//! transaction), Observations, search, tenancy and OperationOutcomes. Every resource the
//! server emits here is checked with the R4 validator (fhir_validator.rs); the
//! QuestionnaireResponses of the client test are posted and read with fhir-sdk.

use crate::fhir_validator::assert_r4;
use crate::fixtures::{Care, put_client, submit};
use crate::harness::{TestApp, spawn_app};
use crate::role_matrix::custom_instrument;
use serde_json::{Value, json};

const FHIR_JSON: &str = "application/fhir+json";

async fn fhir_get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with(FHIR_JSON), "{path}: {content_type}");
    (status, response.json().await.unwrap())
}

async fn fhir_post(app: &TestApp, token: &str, path: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request =
        app.client.post(app.url(path)).bearer_auth(token).header("content-type", FHIR_JSON).body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with(FHIR_JSON), "{path}: {content_type}");
    (status, response.json().await.unwrap())
}

/// A PHQ-9 QuestionnaireResponse coded as LOINC-built form builders code it: grouped items
/// named by LOINC code, LOINC answer codes, the form's own total, the patient by identifier.
pub fn phq9_loinc_style(mrn: &str, session_id: &str, values: [i64; 9]) -> Value {
    const ITEMS: [&str; 9] =
        ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"];
    const ANSWERS: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
    let mut items: Vec<Value> = ITEMS
        .iter()
        .zip(values)
        .map(|(code, value)| {
            json!({"linkId": format!("/{code}"), "answer": [{"valueCoding": {"system": "http://loinc.org", "code": ANSWERS[value as usize]}}]})
        })
        .collect();
    items.push(json!({"linkId": "/44261-6", "answer": [{"valueInteger": values.iter().sum::<i64>()}]}));
    json!({
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": "http://loinc.org/q/44249-1",
        "subject": {"identifier": {"system": "urn:oid:1.2.3.4", "value": mrn}},
        "encounter": {"reference": format!("Encounter/{session_id}")},
        "authored": "2026-03-05T10:00:00Z",
        "source": {"type": "Patient", "identifier": {"value": mrn}},
        "item": [{"linkId": "/44249-1", "text": "PHQ-9 quick depression assessment panel", "item": items}]
    })
}

fn srs_response(client_id: &str, session_id: &str, values: [&str; 4]) -> Value {
    let ids = ["relationship", "goals_topics", "approach_method", "overall"];
    let items: Vec<Value> = ids
        .iter()
        .zip(values)
        .map(|(id, value)| json!({"linkId": id, "answer": [{"valueDecimal": value.parse::<f64>().unwrap()}]}))
        .collect();
    json!({
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "https://rapport.dev/fhir/Questionnaire/srs",
        "subject": {"reference": format!("Patient/{client_id}")},
        "encounter": {"reference": format!("Encounter/{session_id}")},
        "authored": "2026-03-05T11:00:00Z",
        "item": items
    })
}

async fn mrn_of(app: &TestApp, care: &Care) -> String {
    let client: Value =
        app.get_as(&care.admin.token, &format!("/v1/clients/{}", care.client_id)).await.json().await.unwrap();
    client["external_id"].as_str().unwrap().to_owned()
}

async fn stored_count(app: &TestApp, care: &Care) -> usize {
    let list: Value = app.get_as(&care.admin.token, "/v1/responses?limit=500").await.json().await.unwrap();
    list["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn discovery_describes_exactly_what_is_implemented() {
    let app = spawn_app().await;
    let response = app.get("/fhir/r4/metadata").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/fhir+json"));
    let statement: Value = response.json().await.unwrap();
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let resources: Vec<(&str, Vec<&str>)> = statement["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let interactions = r["interaction"]
                .as_array()
                .map(|all| all.iter().map(|i| i["code"].as_str().unwrap()).collect())
                .unwrap_or_default();
            (r["type"].as_str().unwrap(), interactions)
        })
        .collect();
    assert_eq!(
        resources,
        [
            ("Questionnaire", vec!["read", "search-type"]),
            ("QuestionnaireResponse", vec!["read", "search-type", "create"]),
            ("Observation", vec!["read", "search-type"]),
            ("Patient", vec![]),
        ]
    );
    // Bulk Data: the system-level and the Patient-level `$export`.
    assert_eq!(statement["rest"][0]["operation"][0]["name"], "export");
    assert_eq!(statement["rest"][0]["resource"][3]["operation"][0]["name"], "export");
    let token_url = &statement["rest"][0]["security"]["extension"][0]["extension"][0]["valueUri"];
    assert_eq!(token_url, &json!(app.url("/v1/auth/token")));

    let smart: Value = app.get("/fhir/r4/.well-known/smart-configuration").await.json().await.unwrap();
    assert_eq!(smart["token_endpoint"], json!(app.url("/v1/auth/token")));
    assert_eq!(smart["token_endpoint_auth_signing_alg_values_supported"], json!(["RS384", "ES384"]));
    assert!(smart["scopes_supported"].as_array().unwrap().contains(&json!("system/QuestionnaireResponse.crs")));
    assert_r4(&[statement]);
}

#[tokio::test]
async fn every_questionnaire_is_valid_r4_and_licensed_wording_stays_out() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Questionnaire Clinic").await;
    let defined = app.post_json_as(&care.admin.token, "/v1/instruments", &custom_instrument("check-in")).await;
    assert_eq!(defined.status(), 201);
    let (status, bundle) = fhir_get(&app, &care.clinician.token, "/fhir/r4/Questionnaire?status=active").await;
    assert_eq!(status, 200);
    let questionnaires: Vec<Value> =
        bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"].clone()).collect();
    let mut names: Vec<&str> = questionnaires.iter().map(|q| q["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["CHECK_IN", "CORS", "CSRS", "GAD_7", "ORS", "PHQ_9", "SRS", "WAI_SR", "WAI_SR_T"]);
    let by_name = |name: &str| questionnaires.iter().find(|q| q["name"] == name).unwrap().clone();
    let srs = by_name("SRS");
    assert!(srs["item"].as_array().unwrap().iter().all(|item| item.get("text").is_none()), "no licensed wording");
    let phq9 = by_name("PHQ_9");
    assert_eq!(phq9["code"][0]["code"], "44249-1");
    assert_eq!(phq9["item"][8]["code"][0]["code"], "44260-8");
    assert_eq!(phq9["item"][0]["answerOption"][3]["valueCoding"]["code"], "LA6571-9");
    assert!(phq9["item"][0]["text"].as_str().unwrap().starts_with("Little interest"));
    assert_eq!(by_name("CHECK_IN")["item"][0]["text"], "How is your energy?");
    let mut everything = questionnaires.clone();
    everything.push(bundle.clone());

    // The organization's licensed wording, for the language asked.
    let texts = json!({"items": {"relationship": "Je me suis senti·e écouté·e."}});
    let put = app.send_json_as(reqwest::Method::PUT, &care.admin.token, "/v1/instruments/srs/texts/fr", &texts).await;
    assert_eq!(put.status(), 200);
    let id = srs["id"].as_str().unwrap();
    let (status, french) =
        fhir_get(&app, &care.clinician.token, &format!("/fhir/r4/Questionnaire/{id}?_language=fr-CA")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (french["language"].clone(), french["item"][0]["text"].clone()),
        (json!("fr"), json!("Je me suis senti·e écouté·e."))
    );
    let by_header = app
        .client
        .get(app.url(&format!("/fhir/r4/Questionnaire/{id}")))
        .bearer_auth(&care.clinician.token)
        .header("accept-language", "fr;q=0.9, en;q=0.5")
        .send()
        .await
        .unwrap();
    let by_header: Value = by_header.json().await.unwrap();
    assert_eq!(by_header["item"][0]["text"], "Je me suis senti·e écouté·e.");
    everything.push(french);

    let (_, by_url) = fhir_get(
        &app,
        &care.clinician.token,
        "/fhir/r4/Questionnaire?url=https://rapport.dev/fhir/Questionnaire/phq-9",
    )
    .await;
    assert_eq!(by_url["entry"].as_array().unwrap().len(), 1);
    assert_eq!(by_url["entry"][0]["resource"]["id"], phq9["id"]);
    assert_r4(&everything);
}

#[tokio::test]
async fn a_fhir_client_posts_phq9_and_srs_and_reads_the_same_scores_as_the_rest_api() {
    use fhir_sdk::client::{Client, SearchParameters};
    use fhir_sdk::r4b::resources::{Observation, QuestionnaireResponse};
    use fhir_sdk::version::FhirR4B;

    let app = spawn_app().await;
    let care = Care::new(&app, "Client Library Clinic").await;
    let mrn = mrn_of(&app, &care).await;
    let mut headers = fhir_sdk::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {}", care.integration).parse().unwrap());
    let http = fhir_sdk::HttpClient::builder().default_headers(headers).build().unwrap();
    let client: Client<FhirR4B> =
        Client::builder().base_url(format!("{}/fhir/r4/", app.address).parse().unwrap()).client(http).build().unwrap();

    let phq9_answers = [2, 3, 1, 2, 1, 0, 2, 1, 1];
    let phq9: QuestionnaireResponse =
        serde_json::from_value(phq9_loinc_style(&mrn, &care.session_id, phq9_answers)).expect("an R4B resource");
    let (phq9_id, _) = client.create(&phq9).await.expect("PHQ-9 created");
    let srs_session = care.new_session(&app).await;
    let srs: QuestionnaireResponse =
        serde_json::from_value(srs_response(&care.client_id, &srs_session, ["9.1", "8.4", "9.0", "8.8"])).unwrap();
    let (srs_id, _) = client.create(&srs).await.expect("SRS created");

    // The same answers through REST, on other sessions.
    let rest_phq9 = submit(
        &app,
        &care.integration,
        &crate::fixtures::likert("phq-9", &care.new_session(&app).await, "client", &phq9_answers),
    )
    .await;
    let rest_srs =
        submit(&app, &care.integration, &crate::fixtures::srs(&care.new_session(&app).await, [9.1, 8.4, 9.0, 8.8]))
            .await;

    let read: QuestionnaireResponse = client.read(&phq9_id).await.unwrap().expect("read back");
    let read = serde_json::to_value(&read).unwrap();
    assert_eq!(read["status"], "completed");
    assert_eq!(read["subject"]["reference"], json!(format!("Patient/{}", care.client_id)));
    assert_eq!(read["item"][8]["answer"][0]["valueCoding"]["code"], "LA6569-3");

    for (id, code, rest) in [
        (&phq9_id, "http://loinc.org|44261-6", &rest_phq9),
        (&srs_id, "https://rapport.dev/fhir/CodeSystem/score|srs-total", &rest_srs),
    ] {
        let search =
            SearchParameters::empty().and_raw("subject", format!("Patient/{}", care.client_id)).and_raw("code", code);
        let page = client.search::<Observation>(search).await.expect("searched");
        let observations: Vec<Value> = page.matches().map(|o| serde_json::to_value(o).unwrap()).collect();
        let ours: Vec<&Value> = observations
            .iter()
            .filter(|o| o["derivedFrom"][0]["reference"] == json!(format!("QuestionnaireResponse/{id}")))
            .collect();
        assert_eq!(ours.len(), 1, "{observations:#?}");
        let observation = ours[0];
        assert_eq!(observation["valueQuantity"]["value"].as_f64(), rest["scores"]["total"].as_f64());
        assert_eq!(observation["interpretation"][0]["text"], rest["scores"]["band"]);
        assert_eq!(observation["status"], "final");
    }

    // Everything emitted is R4, read without the client library too.
    let (_, qr_bundle) = fhir_get(
        &app,
        &care.integration,
        &format!("/fhir/r4/QuestionnaireResponse?subject=Patient/{}", care.client_id),
    )
    .await;
    assert_eq!(qr_bundle["entry"].as_array().unwrap().len(), 4, "two through FHIR, two through REST");
    let (_, obs_bundle) =
        fhir_get(&app, &care.integration, &format!("/fhir/r4/Observation?patient.identifier={mrn}")).await;
    let mut everything: Vec<Value> =
        obs_bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"].clone()).collect();
    everything.extend(qr_bundle["entry"].as_array().unwrap().iter().map(|e| e["resource"].clone()));
    let (status, one) = fhir_get(&app, &care.integration, &format!("/fhir/r4/Observation/{srs_id}-total")).await;
    assert_eq!(status, 200);
    everything.extend([qr_bundle, obs_bundle, one]);
    assert_r4(&everything);
}

#[tokio::test]
async fn conditional_create_returns_the_stored_response_and_never_a_second() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Conditional Clinic").await;
    let mrn = mrn_of(&app, &care).await;
    let body = phq9_loinc_style(&mrn, &care.session_id, [1, 1, 1, 1, 1, 1, 1, 1, 0]);
    let criterion = [("if-none-exist", "identifier=urn:ehr:forms|form-77")];
    let (first, created) =
        fhir_post(&app, &care.integration, "/fhir/r4/QuestionnaireResponse", &body, &criterion).await;
    assert_eq!(first, 201, "{created:#}");
    assert_eq!(created["identifier"], json!({"system": "urn:ehr:forms", "value": "form-77"}));
    let (again, replayed) =
        fhir_post(&app, &care.integration, "/fhir/r4/QuestionnaireResponse", &body, &criterion).await;
    assert_eq!((again, replayed["id"].clone()), (200, created["id"].clone()));

    // The identifier element alone does the same, and so do two sent at once.
    let mut with_identifier = phq9_loinc_style(&mrn, &care.new_session(&app).await, [0; 9]);
    with_identifier["identifier"] = json!({"system": "urn:ehr:forms", "value": "form-78"});
    let (a, b) = tokio::join!(
        fhir_post(&app, &care.integration, "/fhir/r4/QuestionnaireResponse", &with_identifier, &[]),
        fhir_post(&app, &care.integration, "/fhir/r4/QuestionnaireResponse", &with_identifier, &[]),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
    assert_eq!(a.1["id"], b.1["id"]);
    assert_eq!(stored_count(&app, &care).await, 2);

    let (status, outcome) = fhir_post(
        &app,
        &care.integration,
        "/fhir/r4/QuestionnaireResponse",
        &with_identifier,
        &[("if-none-exist", "identifier=urn:ehr:forms|another")],
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(outcome["issue"][0]["expression"], json!(["QuestionnaireResponse.identifier"]));
    let (status, _) = fhir_post(
        &app,
        &care.integration,
        "/fhir/r4/QuestionnaireResponse",
        &body,
        &[("if-none-exist", "subject=Patient/x")],
    )
    .await;
    assert_eq!(status, 400);
    let (found, bundle) =
        fhir_get(&app, &care.integration, "/fhir/r4/QuestionnaireResponse?identifier=urn:ehr:forms|form-77").await;
    assert_eq!((found, bundle["entry"].as_array().unwrap().len()), (200, 1));
}

#[tokio::test]
async fn a_transaction_is_all_or_nothing() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Transaction Clinic").await;
    let mrn = mrn_of(&app, &care).await;
    let second = care.new_session(&app).await;
    let entry =
        |resource: Value| json!({"resource": resource, "request": {"method": "POST", "url": "QuestionnaireResponse"}});
    let mut bad = srs_response(&care.client_id, &second, ["9.1", "8.4", "9.0", "8.8"]);
    bad["item"][1]["answer"][0] = json!({"valueDecimal": 11.5});
    let mut bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry(phq9_loinc_style(&mrn, &care.session_id, [1; 9])),
        entry(srs_response(&care.client_id, &care.session_id, ["9", "9", "9", "9"])),
        entry(bad),
    ]});
    let (status, outcome) = fhir_post(&app, &care.integration, "/fhir/r4", &bundle, &[]).await;
    assert_eq!(status, 422, "{outcome:#}");
    assert_eq!(outcome["issue"][0]["expression"], json!(["Bundle.entry[2].resource.item[1].answer[0]"]));
    assert_eq!(stored_count(&app, &care).await, 0, "nothing stored");

    bundle["entry"][2] = entry(srs_response(&care.client_id, &second, ["9.1", "8.4", "9.0", "8.8"]));
    bundle["entry"][2]["request"]["ifNoneExist"] = json!("identifier=urn:ehr:forms|srs-2");
    let (status, answer) = fhir_post(&app, &care.integration, "/fhir/r4", &bundle, &[]).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["type"], "transaction-response");
    let statuses: Vec<&str> =
        answer["entry"].as_array().unwrap().iter().map(|e| e["response"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201 Created", "201 Created", "201 Created"]);
    assert_eq!(stored_count(&app, &care).await, 3);
    assert_r4(&[answer.clone(), outcome]);

    // The same again: the identified entry is found, the others are stored anew.
    let (_, again) = fhir_post(
        &app,
        &care.integration,
        "/fhir/r4",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": [bundle["entry"][2].clone()]}),
        &[],
    )
    .await;
    assert_eq!(again["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(again["entry"][0]["resource"]["id"], answer["entry"][2]["resource"]["id"]);
}

#[tokio::test]
async fn searches_filter_and_page_with_next_links() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Search Clinic").await;
    let mut ids = Vec::new();
    for values in [["9", "9", "9", "9"], ["8", "8", "8", "8"], ["7", "7", "7", "7"]] {
        let session = care.new_session(&app).await;
        let (status, created) = fhir_post(
            &app,
            &care.integration,
            "/fhir/r4/QuestionnaireResponse",
            &srs_response(&care.client_id, &session, values),
            &[],
        )
        .await;
        assert_eq!(status, 201, "{created:#}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let (_, page) = fhir_get(
        &app,
        &care.clinician.token,
        "/fhir/r4/QuestionnaireResponse?questionnaire=https://rapport.dev/fhir/Questionnaire/srs&_count=2",
    )
    .await;
    let first: Vec<&str> =
        page["entry"].as_array().unwrap().iter().map(|e| e["resource"]["id"].as_str().unwrap()).collect();
    assert_eq!(first, [ids[0].as_str(), ids[1].as_str()]);
    let next = page["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let next_path = next.strip_prefix(&app.address).unwrap();
    let (_, rest) = fhir_get(&app, &care.clinician.token, next_path).await;
    let second: Vec<&str> =
        rest["entry"].as_array().unwrap().iter().map(|e| e["resource"]["id"].as_str().unwrap()).collect();
    assert_eq!(second, [ids[2].as_str()]);
    assert!(rest["link"].as_array().unwrap().iter().all(|l| l["relation"] != "next"));

    let count = |bundle: &Value| bundle["entry"].as_array().unwrap().len();
    let (_, none) = fhir_get(&app, &care.clinician.token, "/fhir/r4/QuestionnaireResponse?authored=lt2026-03-01").await;
    let (_, all) = fhir_get(
        &app,
        &care.clinician.token,
        "/fhir/r4/QuestionnaireResponse?authored=ge2026-03&authored=le2026-03-31",
    )
    .await;
    let (_, fresh) =
        fhir_get(&app, &care.clinician.token, "/fhir/r4/QuestionnaireResponse?_lastUpdated=ge2026-01-01").await;
    let (_, other) = fhir_get(
        &app,
        &care.clinician.token,
        "/fhir/r4/QuestionnaireResponse?questionnaire=https://rapport.dev/fhir/Questionnaire/ors",
    )
    .await;
    assert_eq!((count(&none), count(&all), count(&fresh), count(&other)), (0, 3, 3, 0));

    // Observations page inside a response's scores too (WAI-SR: a total and three subscales).
    let wai =
        submit(&app, &care.integration, &crate::fixtures::likert("wai-sr", &care.session_id, "client", &[4; 12])).await;
    let wai_id = wai["id"].as_str().unwrap();
    let mut seen = Vec::new();
    let mut path = format!("/fhir/r4/Observation?subject=Patient/{}&_count=3", care.client_id);
    loop {
        let (status, page) = fhir_get(&app, &care.clinician.token, &path).await;
        assert_eq!(status, 200, "{page:#}");
        assert!(count(&page) <= 3);
        seen.extend(page["entry"].as_array().unwrap().iter().map(|e| e["resource"]["id"].as_str().unwrap().to_owned()));
        match page["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next") {
            Some(link) => path = link["url"].as_str().unwrap().strip_prefix(&app.address).unwrap().to_owned(),
            None => break,
        }
    }
    let wai_observations: Vec<&String> = seen.iter().filter(|id| id.starts_with(wai_id)).collect();
    assert_eq!(seen.len(), 3 + 4, "{seen:?}");
    assert_eq!(wai_observations.len(), 4);
    let (_, bond) = fhir_get(
        &app,
        &care.clinician.token,
        "/fhir/r4/Observation?code=https://rapport.dev/fhir/CodeSystem/score|wai-sr-bond",
    )
    .await;
    assert_eq!(count(&bond), 1);
    assert_eq!(bond["entry"][0]["resource"]["valueQuantity"]["value"], json!(16.0));

    let (status, outcome) = fhir_get(&app, &care.clinician.token, "/fhir/r4/QuestionnaireResponse?authord=2026").await;
    assert_eq!(status, 400);
    assert!(outcome["issue"][0]["diagnostics"].as_str().unwrap().contains("authord"));
    let (status, _) = fhir_get(&app, &care.clinician.token, "/fhir/r4/QuestionnaireResponse?authored=ap2026").await;
    assert_eq!(status, 400);
}

async fn refused(app: &TestApp, token: &str, body: &Value) -> (u16, Vec<Value>, Value) {
    let (status, outcome) = fhir_post(app, token, "/fhir/r4/QuestionnaireResponse", body, &[]).await;
    let expressions = outcome["issue"].as_array().unwrap().iter().map(|i| i["expression"].clone()).collect();
    (status, expressions, outcome)
}

async fn expect_refused(app: &TestApp, token: &str, body: Value, status: u16, expression: &str) -> Value {
    let (got, expressions, outcome) = refused(app, token, &body).await;
    assert_eq!(got, status, "{outcome:#}");
    assert!(expressions.contains(&json!([expression])), "{expression} in {outcome:#}");
    outcome
}

#[tokio::test]
async fn bad_input_is_an_operation_outcome_with_the_fhirpath_and_nothing_is_stored() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Outcome Clinic").await;
    let elsewhere = Care::new(&app, "Elsewhere Clinic").await;
    let mrn = mrn_of(&app, &care).await;
    let good = phq9_loinc_style(&mrn, &care.session_id, [1; 9]);
    let mut outcomes = Vec::new();
    let token = care.integration.clone();
    let check =
        |body: Value, status: u16, expression: &'static str| expect_refused(&app, &token, body, status, expression);

    let mut wrong_status = good.clone();
    wrong_status["status"] = json!("in-progress");
    outcomes.push(check(wrong_status, 422, "QuestionnaireResponse.status").await);
    let mut unknown_link = good.clone();
    unknown_link["item"][0]["item"][3]["linkId"] = json!("/99999-9");
    outcomes.push(check(unknown_link, 422, "QuestionnaireResponse.item[0].item[3].linkId").await);
    let mut string_answer = good.clone();
    string_answer["item"][0]["item"][1]["answer"][0] = json!({"valueString": "often"});
    outcomes.push(check(string_answer, 422, "QuestionnaireResponse.item[0].item[1].answer[0]").await);
    let mut out_of_range = good.clone();
    out_of_range["item"][0]["item"][2]["answer"][0] = json!({"valueInteger": 7});
    outcomes.push(check(out_of_range, 422, "QuestionnaireResponse.item[0].item[2].answer[0]").await);
    let mut unknown_questionnaire = good.clone();
    unknown_questionnaire["questionnaire"] = json!("http://example.org/Questionnaire/nothing");
    outcomes.push(check(unknown_questionnaire, 422, "QuestionnaireResponse.questionnaire").await);
    let mut other_patient = good.clone();
    other_patient["subject"] = json!({"reference": format!("Patient/{}", elsewhere.client_id)});
    other_patient.as_object_mut().unwrap().remove("encounter");
    outcomes.push(check(other_patient, 422, "QuestionnaireResponse.subject").await);
    let mut other_session = good.clone();
    other_session["encounter"] = json!({"reference": format!("Encounter/{}", elsewhere.session_id)});
    outcomes.push(check(other_session, 422, "QuestionnaireResponse.encounter").await);
    let mut unknown_element = good.clone();
    unknown_element["colour"] = json!("red");
    outcomes.push(check(unknown_element, 422, "QuestionnaireResponse.colour").await);
    let mut missing_item = good.clone();
    missing_item["item"][0]["item"].as_array_mut().unwrap().remove(4);
    outcomes.push(check(missing_item, 422, "QuestionnaireResponse.item").await);

    let malformed = app
        .client
        .post(app.url("/fhir/r4/QuestionnaireResponse"))
        .bearer_auth(&care.integration)
        .header("content-type", FHIR_JSON)
        .body("{\"resourceType\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let malformed: Value = malformed.json().await.unwrap();
    assert_eq!(malformed["issue"][0]["code"], "structure");
    outcomes.push(malformed);
    assert_eq!(stored_count(&app, &care).await, 0, "nothing stored");
    assert_r4(&outcomes);
}

#[tokio::test]
async fn another_organizations_resources_do_not_exist_and_edges_answer_in_fhir() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Home Clinic").await;
    let elsewhere = Care::new(&app, "Away Clinic").await;
    let (status, created) = fhir_post(
        &app,
        &care.integration,
        "/fhir/r4/QuestionnaireResponse",
        &srs_response(&care.client_id, &care.session_id, ["9", "9", "9", "9"]),
        &[],
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    let mut outcomes = Vec::new();
    for path in [format!("/fhir/r4/QuestionnaireResponse/{id}"), format!("/fhir/r4/Observation/{id}-total")] {
        let (status, outcome) = fhir_get(&app, &elsewhere.integration, &path).await;
        assert_eq!((status, outcome["issue"][0]["code"].clone()), (404, json!("not-found")), "{path}");
        outcomes.push(outcome);
    }
    let (_, found) = fhir_get(
        &app,
        &elsewhere.integration,
        &format!("/fhir/r4/QuestionnaireResponse?subject=Patient/{}", care.client_id),
    )
    .await;
    assert_eq!(found["entry"].as_array().unwrap().len(), 0);

    // Reads are audited as REST reads are.
    let (status, _) = fhir_get(&app, &care.clinician.token, &format!("/fhir/r4/QuestionnaireResponse/{id}")).await;
    assert_eq!(status, 200);
    let audit: Value = app.get_as(&care.admin.token, "/v1/audit-events?limit=500").await.json().await.unwrap();
    let reads = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "response.read" && e["resource_id"] == json!(id))
        .count();
    assert_eq!(reads, 1);

    for (method, path, headers, status, code) in [
        (reqwest::Method::GET, "/fhir/r4/Patient/1", vec![], 404, "not-found"),
        (reqwest::Method::PUT, "/fhir/r4/QuestionnaireResponse", vec![], 405, "not-supported"),
        (
            reqwest::Method::GET,
            "/fhir/r4/Questionnaire",
            vec![("accept", "application/fhir+xml")],
            406,
            "not-supported",
        ),
        (reqwest::Method::GET, "/fhir/r4/Questionnaire?_format=xml", vec![], 406, "not-supported"),
        (reqwest::Method::GET, "/fhir/r4/Questionnaire?name=%00", vec![], 400, "invalid"),
    ] {
        let mut request = app.client.request(method.clone(), app.url(path)).bearer_auth(&care.integration);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(FHIR_JSON), "{path}");
        let outcome: Value = response.json().await.unwrap();
        assert_eq!(outcome["issue"][0]["code"], code, "{path}: {outcome}");
        outcomes.push(outcome);
    }
    let anonymous = app.get("/fhir/r4/Questionnaire").await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let anonymous: Value = anonymous.json().await.unwrap();
    assert_eq!(anonymous["issue"][0]["code"], "login");
    outcomes.push(anonymous);
    let (status, analyst) = fhir_get(&app, &care.analyst.token, "/fhir/r4/QuestionnaireResponse").await;
    assert_eq!((status, analyst["issue"][0]["code"].clone()), (403, json!("forbidden")));
    outcomes.push(analyst);
    assert_r4(&outcomes);
}

#[tokio::test]
async fn a_session_is_named_by_its_encounter_identifier_and_a_voided_response_is_entered_in_error() {
    let app = spawn_app().await;
    let care = Care::new(&app, "Encounter Clinic").await;
    let session = app
        .post_json_as(&care.integration, "/v1/sessions", &json!({"episode_id": care.episode_id, "number": 50, "occurred_at": "2026-03-10T10:00:00Z", "external_id": "ENC-50"}))
        .await;
    assert_eq!(session.status(), 201);
    let session: Value = session.json().await.unwrap();
    assert_eq!(session["external_id"], "ENC-50");
    let taken = app
        .post_json_as(&care.integration, "/v1/sessions", &json!({"episode_id": care.episode_id, "number": 51, "occurred_at": "2026-03-11T10:00:00Z", "external_id": "ENC-50"}))
        .await;
    assert_eq!(taken.status(), 409);
    let other_client = put_client(&app, &care.integration, "MRN-other-encounter", "adult").await;
    let mut body = srs_response(&care.client_id, &care.session_id, ["9", "9", "9", "9"]);
    body["encounter"] = json!({"identifier": {"system": "urn:ehr:encounters", "value": "ENC-50"}});
    let (status, created) = fhir_post(&app, &care.integration, "/fhir/r4/QuestionnaireResponse", &body, &[]).await;
    assert_eq!(status, 201, "{created:#}");
    assert_eq!(created["encounter"]["reference"], json!(format!("Encounter/{}", session["id"].as_str().unwrap())));
    let mut mismatched = body.clone();
    mismatched["subject"] = json!({"reference": format!("Patient/{}", other_client["id"].as_str().unwrap())});
    let (status, outcome) =
        fhir_post(&app, &care.integration, "/fhir/r4/QuestionnaireResponse", &mismatched, &[]).await;
    assert_eq!((status, outcome["issue"][0]["expression"].clone()), (422, json!(["QuestionnaireResponse.encounter"])));

    let id = created["id"].as_str().unwrap();
    let voided = app
        .post_json_as(&care.integration, &format!("/v1/responses/{id}/void"), &json!({"reason": "wrong patient"}))
        .await;
    assert_eq!(voided.status(), 200);
    let (_, read) = fhir_get(&app, &care.integration, &format!("/fhir/r4/QuestionnaireResponse/{id}")).await;
    let (_, observation) = fhir_get(&app, &care.integration, &format!("/fhir/r4/Observation/{id}-total")).await;
    assert_eq!(
        (read["status"].clone(), observation["status"].clone()),
        (json!("entered-in-error"), json!("entered-in-error"))
    );
    assert_r4(&[read, observation]);
}
