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
//! 4. close the door: a socket filter on the listener drops every new handshake (the client
//!    retries its SYN, then finds the port closed: "connection refused", never a request cut
//!    off), while the connections the kernel had already queued are still accepted and
//!    answered 503; wait until no request has arrived for a moment;
//! 5. only then stop the server, which has nothing left to lose: later connections are refused.
//!
//! Without step 4, clients that keep retrying (as they should on 503) never leave a quiet
//! moment, and the connections queued or just accepted when the listener closes were reset
//! after their requests had been sent.

use crate::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use futures_util::future::{Either, select};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    started: std::time::Instant,
    /// When the latest request arrived, in milliseconds since `started`.
    last_arrival_ms: AtomicU64,
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            phase: watch::Sender::new(Phase::Serving),
            idle: Default::default(),
            started: std::time::Instant::now(),
            last_arrival_ms: AtomicU64::new(0),
        }
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

    fn arrived(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_arrival_ms.fetch_max(now, Ordering::AcqRel);
    }

    /// Waits until nothing is in flight and no request arrived for `quiet`, at most `limit`.
    async fn until_quiet(&self, quiet: Duration, limit: Duration) {
        let deadline = tokio::time::Instant::now().checked_add(limit);
        loop {
            let since_arrival = self
                .started
                .elapsed()
                .saturating_sub(Duration::from_millis(self.last_arrival_ms.load(Ordering::Acquire)));
            if self.in_flight() == 0 && since_arrival >= quiet {
                return;
            }
            if deadline.is_none_or(|d| tokio::time::Instant::now() >= d) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
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
    drain.arrived();
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
    /// The listening socket (a duplicate of the server's), to close the door on (step 4);
    /// closed after the server stops, or the port would stay open.
    pub(crate) listener: std::sync::Arc<std::sync::Mutex<Option<std::net::TcpListener>>>,
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
        let closed = {
            let listener = self.listener.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            listener.as_ref().map(refuse_new_connections)
        };
        match closed {
            Some(Ok(())) => self.drain.until_quiet(Duration::from_millis(300), Duration::from_secs(3)).await,
            Some(Err(error)) => tracing::warn!(%error, "could not close the listener to new connections"),
            None => {}
        }
        // Let the last answers reach their sockets before the connections are closed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.server.stop(false).await;
        drop(self.listener.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take());
        tracing::info!("stopped");
    }
}

/// Makes the kernel drop every packet addressed to the listening socket: no new handshake
/// completes, while connections already queued or accepted are untouched (their packets go to
/// their own sockets). A classic BPF program of one instruction, "return 0".
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn refuse_new_connections(listener: &std::net::TcpListener) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut drop_everything = [libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: 0 }];
    let program = libc::sock_fprog { len: 1, filter: drop_everything.as_mut_ptr() };
    let size = libc::socklen_t::try_from(std::mem::size_of::<libc::sock_fprog>()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `program` and the instruction it points to outlive the call, and `size` is the
    // size of `program`; the kernel copies the program before returning.
    let status = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::addr_of!(program).cast(),
            size,
        )
    };
    if status == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
fn refuse_new_connections(_listener: &std::net::TcpListener) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "socket filters are Linux-only"))
}
