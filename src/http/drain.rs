//! Graceful shutdown that answers every request.
//!
//! actix-server's own stop can drop a worker's connections unanswered: it stops the accept
//! thread first, and a worker that sees its connection channel close before it reads the stop
//! message exits at once, with everything it was serving (the cause of requests lost on
//! SIGTERM under load). So the service drains by itself before it asks actix to stop:
//!
//! 1. turn `/readyz` to 503 and answer every request that arrives from now on at once with 503
//!    `shutting_down`, `Retry-After` and `Connection: close`. The listener stays open
//!    meanwhile: a connection the kernel has already queued would otherwise be reset with its
//!    request unanswered;
//! 2. wait until no request that began before the stop is in flight (their connections close
//!    after their answers), up to the shutdown timeout;
//! 3. past the timeout, answer the requests still running (a stalled upload, say) with 503
//!    `shutting_down` and `Retry-After` instead of cutting them off;
//! 4. only then stop the server, which has nothing left to lose: later connections are refused.

use crate::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use futures_util::future::{Either, select};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Serving,
    Draining,
    /// The shutdown timeout passed: requests still running are answered 503.
    Expired,
}

/// Requests in flight and the shutdown phase, shared by the middleware and the stopper.
#[derive(Debug)]
pub struct Drain {
    in_flight: AtomicUsize,
    phase: watch::Sender<Phase>,
    idle: tokio::sync::Notify,
}

impl Default for Drain {
    fn default() -> Self {
        Self { in_flight: AtomicUsize::new(0), phase: watch::Sender::new(Phase::Serving), idle: Default::default() }
    }
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        *self.phase.borrow() != Phase::Serving
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// Waits until no request is in flight; false if `timeout` passed first.
    async fn until_idle(&self, timeout: Duration) -> bool {
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(timeout).unwrap_or(now);
        loop {
            let notified = self.idle.notified();
            if self.in_flight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight() == 0;
            }
        }
    }

    /// Resolves once the shutdown timeout has passed.
    async fn expired(&self) {
        let mut phase = self.phase.subscribe();
        let _ = phase.wait_for(|p| *p == Phase::Expired).await;
    }
}

/// Counts one request while it runs, whatever way it ends (answer, error, panic, cancel).
struct InFlight<'a>(&'a Drain);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::Unavailable {
        code: "shutting_down",
        detail: "The service is shutting down; retry on another instance or shortly.".into(),
        retry_after_secs: 1,
    }
}

/// The middleware (see the module doc).
pub async fn track_in_flight(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(drain) = request.app_data::<web::Data<Drain>>().cloned() else {
        return next.call(request).await.map(ServiceResponse::map_into_boxed_body);
    };
    if drain.is_draining() {
        let mut refused = request.into_response(shutting_down().error_response());
        refused.response_mut().head_mut().set_connection_type(ConnectionType::Close);
        return Ok(refused);
    }
    let _counted = drain.enter();
    let answer = next.call(request);
    let expired = drain.expired();
    let mut response = match select(Box::pin(answer), Box::pin(expired)).await {
        Either::Left((answer, _)) => answer?,
        Either::Right(_) => return Err(shutting_down().into()),
    };
    if drain.is_draining() {
        response.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(response.map_into_boxed_body())
}

/// Stops the server the way SIGTERM does (see the module doc).
#[derive(Clone)]
pub struct Stopper {
    pub(crate) server: ServerHandle,
    pub(crate) drain: web::Data<Drain>,
    pub(crate) timeout: Duration,
}

impl Stopper {
    pub async fn stop(&self) {
        self.drain.phase.send_replace(Phase::Draining);
        let in_flight = self.drain.in_flight();
        tracing::info!(in_flight, "draining: new requests answered 503; waiting for the requests in flight");
        if !self.drain.until_idle(self.timeout).await {
            tracing::warn!(
                in_flight = self.drain.in_flight(),
                "shutdown timeout: answering requests still running 503"
            );
            self.drain.phase.send_replace(Phase::Expired);
            self.drain.until_idle(Duration::from_secs(2)).await;
        }
        // Let the last answers reach their sockets before the connections are closed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.server.stop(false).await;
        tracing::info!("stopped");
    }
}
