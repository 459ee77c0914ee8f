//! `GET /v1/clinicians/{id}/report`: the supervision report, an HTML page that prints well. Its
//! figures are the insights' (`http::insights::insights_of`), its charts the episode charts'
//! (`http::charts`): one code path for the JSON, the charts and the page.

pub mod html;

use super::auth_user::AuthUser;
use super::charts::alliance::alliance_svg;
use super::charts::{alliance_scales, outcome_chart};
use super::episode_analytics::data;
use super::insights::{RangeQuery, insights_of, may_read_clinician, range};
use super::query::Query;
use crate::db::Database;
use crate::db::page::PageRequest;
use crate::db::signals::{Signal, SignalFilter};
use crate::domain::analytics::episode;
use crate::domain::analytics::etr::EtrStatus;
use crate::domain::signals::{SignalKind, SignalStatus};
use crate::error::{ApiError, AuthProblems, NotFoundProblem, QueryProblems};
use actix_web::{HttpResponse, get, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use html::{AttentionEpisode, Report, STYLE};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use uuid::Uuid;

/// No script, no resource from anywhere, only the page's own style sheet (by its hash), no
/// framing, no form. Inline SVG needs nothing more: it uses presentation attributes only.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'none'"
    )
});

/// At most this many episodes get small multiples; the signals table lists every open signal.
const MOST_ATTENTION_EPISODES: usize = 6;
/// The signals the report lists (open and acknowledged, newest first), at most.
const MOST_SIGNALS: i64 = 200;

/// Open signals of these kinds make an episode a candidate for the small multiples.
fn candidate(kind: SignalKind) -> bool {
    matches!(kind, SignalKind::SafetyItem | SignalKind::OffTrack | SignalKind::AllianceRupture)
}

/// Episodes loaded to decide which need attention, at most (the signals are newest first).
const MOST_CANDIDATES: usize = 12;

/// A clinician's supervision report over a date range, as HTML.
///
/// One page: caseload; alliance (mean session rating with its 95% interval, share below the
/// cutoff, ruptures and repairs, ceiling); client–therapist agreement; outcomes (recovered,
/// improved, unchanged, deteriorated, mean change, effect size); areas for growth with the
/// numbers behind them and the reliability guard; the open and acknowledged signals; and small
/// multiples (alliance and outcome charts) of up to six episodes that need attention: an open
/// safety-item signal, off track, or a rupture not (yet) repaired. The same figures as `GET /v1/clinicians/{id}/insights`. A
/// clinician may read its own; supervisors and admins anyone's. Audited (`clinician.report.read`,
/// and a read of each episode shown). Served with a Content-Security-Policy that allows no script
/// and no resource; nothing about a client is in its URL.
#[utoipa::path(
    tag = "charts",
    params(("id" = Uuid, Path, description = "The clinician's user id"), RangeQuery),
    responses((status = 200, description = "The report", content_type = "text/html", body = String), AuthProblems, NotFoundProblem, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/clinicians/{id}/report")]
pub async fn clinician_report(
    user: AuthUser,
    id: web::Path<Uuid>,
    query: Query<RangeQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let clinician_id = id.into_inner();
    may_read_clinician(&user, clinician_id)?;
    let (from, to) = range(query.from, query.to)?;
    let inputs = database.clinician_data(user.actor(), clinician_id, from, to, "clinician.report.read").await?;
    let (insights, growth) = insights_of(&inputs);
    let signals = open_signals(&database, &user, clinician_id).await?;
    let attention = attention_episodes(&database, &user, clinician_id, &signals).await?;
    let page = html::render(&Report {
        clinician_id,
        clinician_name: inputs.clinician_name.as_deref(),
        from,
        to,
        generated_at: Utc::now(),
        insights: &insights,
        growth: &growth,
        signals: &signals,
        attention: &attention,
    });
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page))
}

/// Open, then acknowledged, signals of the clinician's episodes, newest first within each.
async fn open_signals(database: &Database, user: &AuthUser, clinician_id: Uuid) -> Result<Vec<Signal>, ApiError> {
    let mut signals = Vec::new();
    for status in [SignalStatus::Open, SignalStatus::Acknowledged] {
        let filter = SignalFilter { status: Some(status), clinician_id: Some(clinician_id), ..Default::default() };
        let page =
            database.list_signals(user.actor(), filter, PageRequest { limit: MOST_SIGNALS, after: None }).await?;
        signals.extend(page.items);
    }
    Ok(signals)
}

/// Up to six episodes with an open safety-item signal, an off-track outcome (its open signal,
/// or the assessment now), or a rupture not repaired (from the episode's analytics, not the
/// rupture signal alone: a repaired rupture's signal may still be open).
async fn attention_episodes(
    database: &Database,
    user: &AuthUser,
    clinician_id: Uuid,
    signals: &[Signal],
) -> Result<Vec<AttentionEpisode>, ApiError> {
    let mut candidates: Vec<Uuid> = Vec::new();
    for signal in signals.iter().filter(|s| candidate(s.kind)) {
        if !candidates.contains(&signal.episode_id) && candidates.len() < MOST_CANDIDATES {
            candidates.push(signal.episode_id);
        }
    }
    let mut shown = Vec::new();
    for episode_id in candidates {
        if shown.len() >= MOST_ATTENTION_EPISODES {
            break;
        }
        let detail = serde_json::json!({ "report_for": clinician_id });
        let series =
            database.episode_series(user.actor(), episode_id, "clinician.report.episode.read", detail, true).await?;
        let alliance = episode::episode_alliance(&data(&series));
        let outcomes = episode::episode_outcomes(&data(&series));
        let open = |kind: SignalKind| signals.iter().any(|s| s.episode_id == episode_id && s.kind == kind);
        let mut reasons = Vec::new();
        if open(SignalKind::SafetyItem) {
            reasons.push("safety item");
        }
        let off_track = outcomes.iter().any(|o| o.etr.as_ref().is_some_and(|e| e.status == EtrStatus::OffTrack));
        if open(SignalKind::OffTrack) || off_track {
            reasons.push("off track");
        }
        if alliance.unrepaired_count > 0 {
            reasons.push("unrepaired rupture");
        } else if alliance.pending_count > 0 {
            reasons.push("rupture awaiting repair");
        }
        if reasons.is_empty() {
            continue;
        }
        let index = shown.len();
        let mut charts =
            vec![alliance_svg(&alliance, &alliance_scales(&series, &alliance), &format!("e{index}-alliance"))];
        if let Some(outcome) = outcomes.first() {
            charts.push(outcome_chart(&series, outcome, &format!("e{index}-outcomes")));
        }
        shown.push(AttentionEpisode { episode_id, reasons, charts });
    }
    Ok(shown)
}
