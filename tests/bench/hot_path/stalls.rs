//! The machine's own stalls, measured before the scenarios.

use std::time::{Duration, Instant};

use numbering_tests::affinity;

/// The machine's own stalls: one thread per CPU, each pinned to its CPU,
/// reads the clock in a tight loop for `duration`, all at once. A gap above
/// half a millisecond between two readings is time the CPU was taken from
/// the thread (by the hypervisor or the kernel); a call in flight then
/// waits as long, whatever the code under test does.
pub fn machine_stalls(cpus: &[usize], duration: Duration) -> String {
    let threshold = Duration::from_micros(500);
    let probes: Vec<_> = cpus
        .iter()
        .map(|&cpu| {
            std::thread::spawn(move || {
                affinity::pin_current_thread(&[cpu]).expect("pinning a stall probe");
                let start = Instant::now();
                let (mut previous, mut gaps) = (start, Vec::new());
                while previous - start < duration {
                    let now = Instant::now();
                    if now - previous > threshold {
                        gaps.push(now - previous);
                    }
                    previous = now;
                }
                gaps
            })
        })
        .collect();
    let gaps: Vec<Duration> = probes
        .into_iter()
        .flat_map(|p| p.join().expect("a stall probe"))
        .collect();
    let lost: Duration = gaps.iter().sum();
    format!(
        "machine stalls, every CPU spinning for {:.0} s: {} gaps over 0.5 ms, longest {:.1} ms, {:.2} % of CPU time lost",
        duration.as_secs_f64(),
        gaps.len(),
        gaps.iter().max().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        100.0 * lost.as_secs_f64() / (duration.as_secs_f64() * cpus.len() as f64)
    )
}
