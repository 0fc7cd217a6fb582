//! CPU affinity for benchmarks that must keep the load generator off the
//! cores of the system under test (Linux `sched_setaffinity`).
//!
//! On a machine this small the load generator and the server otherwise
//! preempt each other, and a latency tail measures that rather than the
//! server. Pinning gives each side its own cores — the nearest thing to a
//! load generator on another machine that one machine can give.
//!
//! The workspace denies `unsafe`; this module allows it for the two libc
//! calls and the `cpu_set_t` macros, each with its safety argument.
#![allow(unsafe_code)]

use std::io;

/// The CPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is plain data; `sched_getaffinity` writes at most
    // `size_of::<cpu_set_t>()` bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Restricts the calling thread to `cpus`. Threads it starts and processes
/// it spawns later inherit the restriction (and a PostgreSQL postmaster's
/// backends inherit it from the postmaster).
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: as above; `CPU_SET` is given indices below CPU_SETSIZE only.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cpu {cpu} is out of range"),
            ));
        }
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_runs_only_on_its_cpu_and_its_children_inherit_it() {
        let cpus = allowed_cpus().unwrap();
        let last = *cpus.last().unwrap();
        std::thread::spawn(move || {
            pin_current_thread(&[last]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), vec![last]);
            let child = std::process::Command::new("sh")
                .args(["-c", "grep Cpus_allowed_list /proc/self/status"])
                .output()
                .unwrap();
            let line = String::from_utf8(child.stdout).unwrap();
            assert_eq!(line.split_whitespace().nth(1), Some(&*last.to_string()));
        })
        .join()
        .unwrap();
        // the calling thread kept its own set
        assert_eq!(allowed_cpus().unwrap(), cpus);
    }
}
