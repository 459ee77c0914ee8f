//! The webhook dispatcher: delivers the outbox (`db::webhooks`) from the service process.
//!
//! Every quarter second it asks which organizations have a due delivery, claims the head of
//! each subscription's queue (`FOR UPDATE SKIP LOCKED` and a lease, so replicas never send the
//! same delivery at once, and one subscription never has two in flight), and POSTs each,
//! signed as Standard Webhooks; after a success it goes straight on with that subscription's
//! next delivery. A 2xx answer delivers it; anything else (another status, a
//! timeout, a refused connection or address) is tried again after an exponential back-off with
//! jitter, until the retry budget is spent: then the delivery is `failed` and the subscription
//! disabled (audited). A process killed mid-delivery leaves the delivery pending; after the
//! lease another round sends it again, with the same `webhook-id`, which receivers use to
//! drop a duplicate (docs/integration.md, "Webhooks").

use crate::db::Database;
use crate::db::webhooks::{AttemptResult, Claimed, DeliveryStatus};
use crate::domain::webhooks::{backoff, signature_header};
use crate::outbound::TargetPolicy;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLL_EVERY: Duration = Duration::from_millis(250);
/// Deliveries claimed per organization and round.
const CLAIM_LIMIT: i64 = 32;

#[derive(Clone, Copy, Debug)]
pub struct DispatchSettings {
    /// How long one attempt may take, connection to status line.
    pub attempt_timeout: Duration,
    /// The wait after the first failed attempt (doubling after each further one).
    pub first_retry: Duration,
    /// How long a delivery is retried before it is `failed`.
    pub retry_budget: Duration,
}

/// Starts the dispatcher on the current runtime.
pub fn spawn(database: Database, policy: TargetPolicy, settings: DispatchSettings) {
    let client = Arc::new(policy.client(settings.attempt_timeout));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            if let Err(error) = round(&database, policy, &client, settings).await {
                tracing::warn!(%error, "webhook dispatch round failed");
            }
        }
    });
}

async fn round(
    database: &Database,
    policy: TargetPolicy,
    client: &Arc<reqwest::Client>,
    settings: DispatchSettings,
) -> Result<(), crate::db::DbError> {
    for organization_id in database.organizations_with_due_deliveries().await? {
        let claimed = database.claim_deliveries(organization_id, None, CLAIM_LIMIT, lease(settings)).await?;
        for delivery in claimed {
            tokio::spawn(work_queue(database.clone(), client.clone(), policy, settings, delivery));
        }
    }
    Ok(())
}

fn lease(settings: DispatchSettings) -> Duration {
    settings.attempt_timeout.saturating_add(Duration::from_secs(10))
}

/// Sends `delivery`, then, while deliveries succeed, the next due one of the same subscription
/// at once (claimed in the transaction that records this one, so the order is kept), so a busy
/// subscription is not paced by the polling interval.
async fn work_queue(
    database: Database,
    client: Arc<reqwest::Client>,
    policy: TargetPolicy,
    settings: DispatchSettings,
    first: Claimed,
) {
    let mut next = Some(first);
    while let Some(delivery) = next.take() {
        let result = send(&client, policy, &delivery).await;
        let retry_after = backoff(settings.first_retry, u32::try_from(delivery.attempt).unwrap_or(1), rand::random());
        let (delivery_id, attempt) = (delivery.delivery_id, delivery.attempt);
        let finished =
            database.finish_attempt(delivery, result, retry_after, settings.retry_budget, Some(lease(settings))).await;
        match finished {
            Ok((DeliveryStatus::Delivered, following)) => next = following,
            Ok((status, _)) => {
                tracing::debug!(%delivery_id, attempt, status = status.as_str(), "webhook attempt failed")
            }
            Err(error) => tracing::warn!(%delivery_id, %error, "could not record a webhook attempt"),
        }
    }
}

/// One attempt. The error text never holds the URL or a secret.
async fn send(client: &reqwest::Client, policy: TargetPolicy, delivery: &Claimed) -> AttemptResult {
    let started_at = Utc::now();
    let clock = Instant::now();
    let failed = |status_code: Option<u16>, error: String| AttemptResult {
        started_at,
        duration: clock.elapsed(),
        status_code,
        error: Some(error),
    };
    // Literal addresses never reach the guarded resolver: check the URL itself every time.
    let url = match policy.check_url(&delivery.url) {
        Ok(url) => url,
        Err(why) => return failed(None, format!("refused target: {why}")),
    };
    let body = match serde_json::to_vec(&delivery.payload) {
        Ok(body) => body,
        Err(error) => return failed(None, format!("payload: {error}")),
    };
    let message_id = delivery.event_id.to_string();
    let timestamp = Utc::now().timestamp();
    let secrets: Vec<&str> = delivery.secrets.iter().map(String::as_str).collect();
    let Some(signature) = signature_header(&secrets, &message_id, timestamp, &body) else {
        return failed(None, "the subscription's secret is malformed".into());
    };
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let duration = clock.elapsed();
            if response.status().is_success() {
                AttemptResult { started_at, duration, status_code: Some(status), error: None }
            } else {
                AttemptResult {
                    started_at,
                    duration,
                    status_code: Some(status),
                    error: Some(format!("answered {status}")),
                }
            }
        }
        Err(error) => {
            let timed_out = error.is_timeout();
            let mut cause: &dyn std::error::Error = &error;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            failed(None, if timed_out { "timed out".into() } else { cause.to_string() })
        }
    }
}
