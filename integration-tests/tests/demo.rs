//! `just demo` end to end: the demo driver (every service a separate process) walks through the
//! first sync, a webhook-delivered commit, a drift correction and an image update, and shows
//! one trace per revision across the services. It always runs on the emulator: the example
//! app's image lives in a loopback registry no real cluster's nodes could pull from.

use std::process::Command;

#[test]
fn demo_walks_through_sync_commit_drift_and_image_update_with_one_trace_per_revision() {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let demo = dir.join("ferry-demo");
    assert!(
        demo.is_file(),
        "build it first: cargo build -p ferry-integration-tests --bin ferry-demo"
    );
    let out = Command::new(demo)
        .arg("--once")
        .env_remove("KUBECONFIG")
        .output()
        .expect("ferry-demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for step in [
        "✔ seed Git with the example app",
        "✔ first sync: dev and prod become Ready",
        "✔ a commit, announced by webhook, reaches dev and prod",
        "✔ a manual change in dev is detected and corrected",
        "✔ image 1.1.0 is pushed: commit to Git, rollout in dev and prod",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("across applier, image-scanner, kustomize-renderer, source-controller"),
        "the image update's trace must run through all four services:\n{stdout}"
    );
    assert!(
        stdout.contains("dev runs") && stdout.contains("podinfo:1.1.0"),
        "{stdout}"
    );
}
