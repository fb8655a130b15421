//! Where the CPU went: per-thread on-CPU time of this process from `/proc/self/task/*/schedstat`
//! (Linux), grouped by thread name with digits stripped (`tokio-runtime-w`, `actix-rt|system:|
//! arbiter:`, `sqlx-sqlite-wor…`). Client and server share the process, so the grouping is the
//! cheapest honest split between them. Elsewhere the snapshot is simply empty.
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// On-CPU nanoseconds per thread id, with the thread's name, and the machine's busy and total
/// jiffies (`/proc/stat`) to show what other processes (PostgreSQL) used meanwhile.
#[derive(Default)]
pub struct Snapshot {
    threads: HashMap<u64, (String, u64)>,
    machine: Option<(u64, u64)>,
}

/// CPU seconds spent by one group of threads between two snapshots.
#[derive(Clone, Debug, Serialize)]
pub struct GroupUsage {
    pub threads: String,
    pub cpu_s: f64,
}

pub fn snapshot() -> Snapshot {
    let mut threads = HashMap::new();
    let machine = machine_jiffies();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Snapshot { threads, machine };
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            });
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if let Some(ns) = ns {
            threads.insert(tid, (name.trim().to_string(), ns));
        }
    }
    Snapshot { threads, machine }
}

/// (busy, total) jiffies of all CPUs: the `cpu` line of `/proc/stat`, idle and iowait not busy.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Share of all CPUs that was busy (any process) between two snapshots, 0..=1.
pub fn machine_busy(before: &Snapshot, after: &Snapshot) -> Option<f64> {
    let ((b0, t0), (b1, t1)) = (before.machine?, after.machine?);
    let dt = t1.checked_sub(t0).filter(|d| *d > 0)?;
    Some(b1.saturating_sub(b0) as f64 / dt as f64)
}

/// Thread names without their numbers, so that numbered workers of one kind group together.
fn group_name(name: &str) -> String {
    let g: String = name.chars().filter(|c| !c.is_ascii_digit()).collect();
    if g.is_empty() { "?".into() } else { g }
}

/// CPU used per thread group from `before` to `after`, busiest first, plus the total.
pub fn usage(before: &Snapshot, after: &Snapshot) -> (f64, Vec<GroupUsage>) {
    let mut groups: BTreeMap<String, u64> = BTreeMap::new();
    for (tid, (name, ns)) in &after.threads {
        let start = before.threads.get(tid).map(|(_, v)| *v).unwrap_or(0);
        *groups.entry(group_name(name)).or_default() += ns.saturating_sub(start);
    }
    let total = groups.values().sum::<u64>() as f64 / 1e9;
    let mut out: Vec<GroupUsage> = groups
        .into_iter()
        .filter(|(_, ns)| *ns > 0)
        .map(|(threads, ns)| GroupUsage {
            threads,
            cpu_s: ns as f64 / 1e9,
        })
        .collect();
    out.sort_by(|a, b| b.cpu_s.total_cmp(&a.cpu_s));
    (total, out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_numbered_threads() {
        assert_eq!(super::group_name("tokio-runtime-w"), "tokio-runtime-w");
        assert_eq!(
            super::group_name("sqlx-sqlite-worker-12"),
            "sqlx-sqlite-worker-"
        );
        let a = super::snapshot();
        let b = super::snapshot();
        let (total, _) = super::usage(&a, &b);
        assert!(total >= 0.0);
    }
}
