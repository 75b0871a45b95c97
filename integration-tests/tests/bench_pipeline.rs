//! The whole-stack benchmark (`ferry-bench-pipeline`, run by `just bench`) end to end with tiny
//! parameters, so it cannot rot: it must start the stack, measure both delivery modes, image
//! updates and one MTTP size, and print every table row. Timings are not asserted (they belong to the bench).

use std::process::Command;

#[test]
fn pipeline_benchmark_prints_latency_rows_for_both_deliveries_image_updates_and_an_mttp_row() {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let bench = dir.join("ferry-bench-pipeline");
    assert!(
        bench.is_file(),
        "build it first: cargo build -p ferry-integration-tests --bin ferry-bench-pipeline"
    );
    let out = Command::new(bench)
        .args(["--commits", "2", "--image-updates", "2", "--mttp", "3"])
        .args(["--mttp-limit-secs", "120"])
        .env_remove("KUBECONFIG")
        .output()
        .expect("ferry-bench-pipeline runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    let row = |prefix: &str| {
        rows.iter()
            .find(|r| r.starts_with(prefix))
            .unwrap_or_else(|| panic!("no row starting {prefix:?} in:\n{stdout}"))
            .split('|')
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    assert!(stdout.contains("## Pipeline: commit to Ready"), "{stdout}");
    assert!(
        stdout.contains("## Applier: Flux MTTP workload"),
        "{stdout}"
    );
    let webhook = row("| webhook (Receiver called right after the push)");
    assert_eq!(
        webhook[2], "2",
        "two commits measured with the webhook: {webhook:?}"
    );
    let polling = row("| polling (GitRepository interval 1s, no webhook)");
    assert_eq!(
        polling[2], "2",
        "two commits measured by polling: {polling:?}"
    );
    assert!(
        stdout.contains("## image-scanner: image push to Git and to Ready"),
        "{stdout}"
    );
    for prefix in [
        "| image pushed → automation's commit on main",
        "| image pushed → dev and prod Ready at that commit",
    ] {
        let image = row(prefix);
        assert_eq!(image[2], "2", "two image updates measured: {image:?}");
    }
    let mttp = row("| 3 |");
    assert_eq!(mttp[2], "12", "3 apps are 12 objects: {mttp:?}");
    for process in [
        "source-controller",
        "kustomize-renderer",
        "applier",
        "image-scanner",
        "kube-emulator",
    ] {
        assert!(
            stdout.contains(&format!("peak RSS {process}")),
            "no peak RSS column for {process}:\n{stdout}"
        );
    }
    // Every peak-RSS cell is a measured size, not a blank.
    assert_eq!(
        mttp.iter().filter(|c| c.ends_with(" MiB")).count(),
        5,
        "{mttp:?}"
    );
}
