//! CPU time of processes, read from `/proc` (Linux): the benchmark's own,
//! and a local PostgreSQL server's (the postmaster and every backend), so a
//! benchmark can say where a run's CPU went, measured over the same window.
//!
//! The workspace denies `unsafe`; this module allows it for one `sysconf`.
#![allow(unsafe_code)]

use std::fs;

/// Clock ticks per second of `/proc`'s CPU times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf takes a constant and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// `(parent pid, own CPU ticks, CPU ticks of its reaped children)` of `pid`.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name (field 2) may hold spaces and parentheses: the
    // fields after it start after the last ')'
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // from field 3 (state) on: ppid is field 4, utime … cstime 14–17
    let num = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    Some((
        u32::try_from(num(4)?).ok()?,
        num(14)? + num(15)?,
        num(16)? + num(17)?,
    ))
}

/// CPU seconds this process has used so far.
pub fn own_seconds() -> f64 {
    stat(std::process::id()).map_or(0.0, |(_, own, _)| own as f64 / ticks_per_second())
}

/// CPU seconds used so far by process `root` and its children: the live
/// ones and, through `root`'s own account, those it has reaped. For a
/// postmaster that is the whole server: backends and background workers.
pub fn tree_seconds(root: u32) -> Option<f64> {
    let (_, own, reaped) = stat(root)?;
    let mut ticks = own + reaped;
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((parent, own, reaped)) = stat(pid) {
            if parent == root {
                ticks += own + reaped;
            }
        }
    }
    Some(ticks as f64 / ticks_per_second())
}

/// The postmaster of the PostgreSQL server behind `pool`, if it runs on
/// this machine (the parent of the backend that answers).
pub async fn local_postmaster(pool: &sqlx::PgPool) -> Option<u32> {
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
        .ok()?;
    let (parent, ..) = stat(u32::try_from(backend).ok()?)?;
    let comm = fs::read_to_string(format!("/proc/{parent}/comm")).ok()?;
    (comm.trim() == "postgres").then_some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU seconds of this process by `getrusage` — the kernel's other
    /// account of the same time, to check the `/proc` reading against.
    fn rusage_seconds() -> f64 {
        // SAFETY: getrusage writes one plain struct that we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Spins until the kernel has counted 300 ms of this process's CPU —
    /// however long that takes on a busy machine — and checks that `/proc`
    /// counted the same. Every bound is CPU time, never wall time: the
    /// `/proc` readings sit between two pairs of `getrusage` readings, so
    /// they must fall between the inner and the outer window (give or take
    /// the clock ticks `/proc` rounds to), however the threads of this
    /// process are scheduled.
    #[test]
    fn this_process_burns_cpu_that_its_own_clock_sees() {
        let outer_start = rusage_seconds();
        let before = own_seconds();
        let inner_start = rusage_seconds();
        let mut x = 0u64;
        while rusage_seconds() - inner_start < 0.3 {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        let inner = rusage_seconds() - inner_start;
        let used = own_seconds() - before;
        let outer = rusage_seconds() - outer_start;
        let tick = 1.0 / ticks_per_second();
        assert!(
            inner - 2.0 * tick <= used && used <= outer + 2.0 * tick,
            "/proc counted {used} s of CPU where getrusage counted {inner}..{outer} s"
        );
        // a tree rooted here holds at least this process's own time
        let own = own_seconds();
        assert!(tree_seconds(std::process::id()).unwrap() >= own);
    }
}
