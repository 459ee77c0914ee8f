//! The HTTP edge: the only module (with `error`) that knows actix. One file per resource,
//! DTOs beside their handlers; handlers are thin (extract → parse → one `db` call → view).
//!
//! Integer arithmetic on what callers send is checked or saturating, never able to panic
//! (`clippy::arithmetic_side_effects` is denied here and in `domain`).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod audit_events;
pub mod auth_user;
pub mod charts;
pub mod clients;
pub mod drain;
pub mod episode_analytics;
pub mod episodes;
pub mod export;
pub mod extract;
pub mod fallback;
pub mod fhir;
pub mod form_requests;
pub mod guard;
pub mod insights;
pub mod instruments;
pub mod jwks;
pub mod located;
pub mod metrics;
pub mod observe;
pub mod operations;
pub mod pagination;
pub mod panic;
pub mod public_url;
pub mod query;
pub mod report;
pub mod responses;
pub mod rounded;
pub mod security_headers;
pub mod service_accounts;
pub mod settings;
pub mod signals;
pub mod token;
pub mod transcripts;
pub mod users;
pub mod views;
pub mod webhooks;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented handler. The OpenAPI document is collected from this function,
/// so the route table and the spec cannot disagree.
pub fn api_routes(config: &mut ServiceConfig) {
    config
        .service(operations::healthz)
        .service(operations::readyz)
        .service(operations::metrics)
        .service(jwks::jwks)
        .service(token::issue_token)
        .service(users::create_user)
        .service(users::list_users)
        .service(users::get_user)
        .service(users::update_user)
        .service(service_accounts::create_service_account)
        .service(service_accounts::list_service_accounts)
        .service(clients::create_client)
        .service(clients::list_clients)
        .service(clients::get_client)
        .service(clients::update_client)
        .service(clients::erase_client)
        .service(clients::upsert_client)
        .service(episodes::create_episode)
        .service(episodes::list_episodes)
        .service(episodes::get_episode)
        .service(episodes::update_episode)
        .service(episodes::create_session)
        .service(episodes::list_sessions)
        .service(episode_analytics::episode_alliance)
        .service(episode_analytics::episode_outcomes)
        .service(charts::alliance_chart)
        .service(charts::outcomes_chart)
        .service(charts::links::create_chart_link)
        .service(insights::clinician_insights)
        .service(report::clinician_report)
        .service(insights::alliance_analytics)
        .service(instruments::list_instruments)
        .service(instruments::get_instrument)
        .service(instruments::put_instrument_texts)
        .service(instruments::define_instrument)
        .service(responses::create_responses)
        .service(responses::create_response)
        .service(responses::list_responses)
        .service(responses::get_response)
        .service(responses::void_response)
        .service(signals::list_signals)
        .service(signals::acknowledge_signal)
        .service(signals::resolve_signal)
        .service(form_requests::create_form_request)
        .service(form_requests::my_form_requests)
        .service(settings::get_settings)
        .service(settings::put_settings)
        .service(transcripts::put_transcript)
        .service(transcripts::get_transcript_analysis)
        .service(transcripts::get_transcript_text)
        .service(transcripts::delete_transcript)
        .service(audit_events::list_audit_events)
        .service(export::export_responses)
        .service(webhooks::create_webhook)
        .service(webhooks::list_webhooks)
        .service(webhooks::get_webhook)
        .service(webhooks::update_webhook)
        .service(webhooks::delete_webhook)
        .service(webhooks::list_deliveries)
        .service(webhooks::retry_delivery)
        .service(webhooks::ping_webhook);
}
