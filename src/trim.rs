//! Gives freed heap memory back to the operating system.
//!
//! Every component of a node shares one process, and glibc's allocator
//! keeps what is freed inside its per-thread arenas: a scan that streams
//! a million rows through the buffer pools and the storage nodes' page
//! reads frees as much as it allocates, yet leaves the freed chunks
//! scattered between live ones, where the arenas cannot shrink. Measured
//! on `sextant dev` with 1,000,000 events: resident memory rose by ~250 MiB
//! per full-table query while the bytes in use stayed flat, and one
//! `malloc_trim(0)` returned ~900 MiB. So a background thread trims every
//! few seconds; a trim takes milliseconds and touches only free pages.

use std::time::{Duration, Instant};

/// How often the heap is trimmed.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Starts the trimmer thread (glibc only; other allocators return memory
/// themselves, and other C libraries lack `malloc_trim`).
pub fn start() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(|| loop {
            std::thread::sleep(TRIM_EVERY);
            let started = Instant::now();
            let released = trim();
            tracing::trace!(released, elapsed = ?started.elapsed(), "heap trimmed");
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "heap trimmer not started");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: malloc_trim takes the allocator's own locks and only returns
    // free memory to the system; it is safe to call from any thread.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}
