//! In embedded mode Rapport owns its cluster, so it keeps it alive: a thread checks the
//! postmaster every second and, when it has died (killed, crashed, out of memory), starts it
//! again on the same port with back-off (1 s, 2 s, 4 s … 30 s), logging each attempt.
//! PostgreSQL's crash recovery brings committed work back; the connection pool notices the
//! outage by itself (see `db::pool`) and recovers when the server is back.

use super::EmbeddedCluster;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CHECK_EVERY: Duration = Duration::from_secs(1);
const LONGEST_BACK_OFF: Duration = Duration::from_secs(30);

/// The watching thread; stop it before stopping the cluster on purpose.
pub struct Supervisor {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub fn watch(cluster: EmbeddedCluster) -> Self {
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("embedded-pg-supervisor".into())
            .spawn(move || supervise(&cluster, &flag))
            .ok();
        if thread.is_none() {
            tracing::error!("cannot start the embedded PostgreSQL supervisor thread");
        }
        Self { stopping, thread }
    }

    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sleeps `duration` in short steps; false when told to stop meanwhile.
fn pause(duration: Duration, stopping: &AtomicBool) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if stopping.load(Ordering::Acquire) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100).min(until.saturating_duration_since(Instant::now())));
    }
    !stopping.load(Ordering::Acquire)
}

fn supervise(cluster: &EmbeddedCluster, stopping: &AtomicBool) {
    while pause(CHECK_EVERY, stopping) {
        if cluster.is_running() {
            continue;
        }
        tracing::error!(port = cluster.port(), "the embedded PostgreSQL server is not running; restarting it");
        let mut back_off = Duration::from_secs(1);
        loop {
            match cluster.restart() {
                Ok(()) => {
                    tracing::info!(port = cluster.port(), "restarted the embedded PostgreSQL server");
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, retry_in_secs = back_off.as_secs(), "could not restart the embedded PostgreSQL server");
                    if !pause(back_off, stopping) {
                        return;
                    }
                    back_off = (back_off * 2).min(LONGEST_BACK_OFF);
                }
            }
        }
    }
}
