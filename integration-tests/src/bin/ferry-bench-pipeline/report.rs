//! Latency statistics and the Markdown tables the benchmark prints.

use std::fmt::Write as _;
use std::time::Duration;

/// p50, p99, min and max of a sample (nearest rank).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Summary {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort();
        let rank = |p: f64| {
            let i = (p * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1]
        };
        Some(Summary {
            count: sorted.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// One row of the commit-to-Ready table.
pub struct LatencyRow {
    pub delivery: String,
    pub summary: Summary,
}

/// One row of the MTTP table: N, the first sync, the measured commit, peak RSS per process.
pub struct MttpRow {
    pub n: usize,
    pub first_sync: Duration,
    pub commit_to_ready: Duration,
    pub peak_rss_kib: Vec<(&'static str, u64)>,
    /// CPU time each process used from the push to all Ready (same order).
    pub cpu_during_commit: Vec<(&'static str, Duration)>,
}

/// `1.234 s` or `456 ms`.
pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The commit-to-Ready table.
pub fn latency_table(rows: &[LatencyRow]) -> String {
    samples_table("Pipeline: commit to Ready", "delivery", "commits", rows)
}

/// The image-update table: push to commit, push to Ready.
pub fn image_table(rows: &[LatencyRow]) -> String {
    samples_table(
        "image-scanner: image push to Git and to Ready",
        "from → to",
        "images",
        rows,
    )
}

fn samples_table(title: &str, what: &str, count: &str, rows: &[LatencyRow]) -> String {
    let mut out = format!(
        "## {title}\n\n| {what} | {count} | p50 | p99 | min | max |\n|---|---|---|---|---|---|\n"
    );
    for row in rows {
        let s = &row.summary;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            row.delivery,
            s.count,
            secs(s.p50),
            secs(s.p99),
            secs(s.min),
            secs(s.max)
        );
    }
    out
}

/// The MTTP table; one peak-RSS column per process of the first row.
pub fn mttp_table(rows: &[MttpRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let names: Vec<&str> = first.peak_rss_kib.iter().map(|(n, _)| *n).collect();
    let mut out = String::from(
        "## Applier: Flux MTTP workload\n\n| N | objects | first sync (empty apps) | commit → all Ready |",
    );
    for name in &names {
        let _ = write!(out, " peak RSS {name} |");
    }
    out.push_str("\n|---|---|---|---|");
    out.push_str(&"---|".repeat(names.len()));
    out.push('\n');
    for row in rows {
        let _ = write!(
            out,
            "| {} | {} | {} | **{}** |",
            row.n,
            row.n * 4,
            secs(row.first_sync),
            secs(row.commit_to_ready)
        );
        for (_, kib) in &row.peak_rss_kib {
            let _ = write!(out, " {} |", mib(*kib));
        }
        out.push('\n');
    }
    out
}

/// CPU time per process during each MTTP commit: where the wall time went.
pub fn mttp_cpu_table(rows: &[MttpRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut out =
        String::from("\nCPU time per process from the push to all Ready:\n\n| N | wall |");
    for (name, _) in &first.cpu_during_commit {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(first.cpu_during_commit.len()));
    out.push('\n');
    for row in rows {
        let _ = write!(out, "| {} | {} |", row.n, secs(row.commit_to_ready));
        for (_, cpu) in &row.cpu_during_commit {
            let _ = write!(out, " {} |", secs(*cpu));
        }
        out.push('\n');
    }
    out
}
