//! CPU time per request, beside requests per second: steadier than throughput on a shared
//! machine. Read from `/proc`: the service's process (all its threads), and PostgreSQL's, the
//! postmaster with every backend it started (live ones, plus the exited ones it has reaped).
//! With `DATABASE_URL` the server's processes are not known and only the service is counted.

use std::sync::OnceLock;

struct Watched {
    service: u32,
    postmaster: Option<u32>,
}

static WATCHED: OnceLock<Watched> = OnceLock::new();

/// Names the processes to count; called once, when the server is up.
pub fn watch(service: u32, postmaster: Option<u32>) {
    let _ = WATCHED.set(Watched { service, postmaster });
}

/// Seconds of CPU used so far.
#[derive(Clone, Copy, Debug)]
pub struct CpuTime {
    pub service: f64,
    pub postgres: Option<f64>,
}

/// CPU milliseconds per request between two readings.
#[derive(Clone, Copy, Debug)]
pub struct PerRequest {
    pub service_ms: f64,
    pub postgres_ms: Option<f64>,
}

pub fn now() -> Option<CpuTime> {
    let watched = WATCHED.get()?;
    let service = own_ticks(watched.service)?;
    let postgres = watched.postmaster.and_then(postgres_ticks);
    let per_second = clock_ticks_per_second();
    Some(CpuTime { service: service / per_second, postgres: postgres.map(|t| t / per_second) })
}

pub fn per_request(before: Option<CpuTime>, after: Option<CpuTime>, requests: usize) -> Option<PerRequest> {
    let (before, after) = (before?, after?);
    let n = requests.max(1) as f64;
    Some(PerRequest {
        service_ms: (after.service - before.service) * 1000.0 / n,
        postgres_ms: after.postgres.zip(before.postgres).map(|(a, b)| (a - b) * 1000.0 / n),
    })
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &text[text.rfind(')')? + 2..];
    // Field 3 (the state) is a letter; number the rest from field 4 (ppid) on.
    Some(after_name.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect())
}

/// utime + stime of a process (fields 14 and 15).
fn own_ticks(pid: u32) -> Option<f64> {
    let fields = stat_fields(pid)?;
    Some((fields.get(10)? + fields.get(11)?) as f64)
}

/// The postmaster's own time, its reaped children's (cutime + cstime, fields 16 and 17), and
/// every live child's.
fn postgres_ticks(postmaster: u32) -> Option<f64> {
    let fields = stat_fields(postmaster)?;
    let mut ticks = (fields.get(10)? + fields.get(11)? + fields.get(12)? + fields.get(13)?) as f64;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        if let Some(child) = stat_fields(pid)
            && child.first().copied() == Some(u64::from(postmaster))
        {
            ticks += (child.get(10).unwrap_or(&0) + child.get(11).unwrap_or(&0)) as f64;
        }
    }
    Some(ticks)
}
