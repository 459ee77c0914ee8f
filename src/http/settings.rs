//! `GET/PUT /v1/organization/settings`: the thresholds in force, versioned.

use super::auth_user::AuthUser;
use super::extract::Json;
use crate::db::Database;
use crate::domain::Role;
use crate::domain::settings::OrganizationSettings;
use crate::error::{ApiError, AuthProblems, BodyProblems};
use actix_web::{get, put, web};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// 0 for the documented defaults; each change adds one. Responses record the version used.
    pub version: i32,
    pub settings: OrganizationSettings,
}

/// Read the organization's settings.
#[utoipa::path(
    tag = "settings",
    responses((status = 200, description = "The settings in force", body = SettingsView), AuthProblems),
    security(("bearer" = []))
)]
#[get("/v1/organization/settings")]
pub async fn get_settings(user: AuthUser, database: web::Data<Database>) -> Result<web::Json<SettingsView>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration, Role::Analyst])?;
    let (version, settings) = database.organization_settings(user.organization_id).await?;
    Ok(web::Json(SettingsView { version, settings }))
}

/// Replace the organization's settings (absent fields take their defaults); a new version.
///
/// Admin only. New responses are scored with the new version; earlier ones keep theirs.
#[utoipa::path(
    tag = "settings",
    request_body = OrganizationSettings,
    responses((status = 200, description = "The new settings", body = SettingsView), AuthProblems, BodyProblems),
    security(("bearer" = []))
)]
#[put("/v1/organization/settings")]
pub async fn put_settings(
    user: AuthUser,
    body: Json<OrganizationSettings>,
    database: web::Data<Database>,
    vault: web::Data<super::transcripts::Vault>,
) -> Result<web::Json<SettingsView>, ApiError> {
    user.require(&[Role::Admin])?;
    let settings = body.0;
    let mut errors = settings.validate().err().unwrap_or_default();
    if settings.transcripts.retain_text && vault.0.is_none() {
        // Kept text must be sealed; without a key nothing could be kept.
        errors.push(crate::error::FieldError::new(
            "/transcripts/retain_text",
            "no transcript sealing key is configured (RAPPORT_TRANSCRIPT_KEYS)",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let version = database.put_organization_settings(user.actor(), settings.clone()).await?;
    Ok(web::Json(SettingsView { version, settings }))
}
