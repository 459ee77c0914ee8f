//! The allocator's settings. glibc gives threads that allocate at the same moment arenas of
//! their own (up to eight per core) and seldom hands their free pages back, so sixteen
//! concurrent insights requests over a year of responses left the service at about 300 MB
//! resident long after they ended. Two arenas kept the same load at 114 MB with the same
//! throughput on every other read and 13 % less on insights (README.md, "Benchmarks").
//!
//! glibc also raises its mmap threshold each time a large block is freed (up to 32 MiB), and
//! every Argon2id hash frees a 19 MiB block: after the first logins, buffers of several MiB
//! (an insights request's rows, an export batch) came from the arenas and stayed resident.
//! A fixed threshold turns that off, so blocks from 1 MiB up are mapped and unmapped again.
//! An operator's own `MALLOC_ARENA_MAX` or `MALLOC_MMAP_THRESHOLD_` wins.

/// Limits glibc's malloc arenas and fixes its mmap threshold, unless the environment sets them. Called first thing in
/// `main`, before any other thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() {
    const ARENAS: libc::c_int = 2;
    const MMAP_THRESHOLD: libc::c_int = 1 << 20;
    // SAFETY: mallopt only sets a tunable of the allocator; it is called before the process
    // starts any thread, and a refused setting (return 0) leaves glibc's default in place.
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}
