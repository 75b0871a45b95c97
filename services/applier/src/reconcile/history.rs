//! `status.history` as Flux keeps it: one snapshot per (manifests digest, Ready reason), the
//! newest first, at most five.

use std::collections::BTreeMap;
use std::time::Duration;

use flux_api::duration::GoDuration;
use flux_api::kustomize::Snapshot;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest as _, Sha256};

/// Snapshots kept (Flux's `maxHistorySize`).
pub const MAX_SNAPSHOTS: usize = 5;

/// `sha256:<hex>` of the manifests a reconcile applied.
pub fn manifests_digest(manifests: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(manifests.as_bytes()))
    )
}

/// One finished reconcile to record.
#[derive(Debug, Clone)]
pub struct Reconciled<'a> {
    /// Digest of the manifests ([`manifests_digest`]).
    pub digest: &'a str,
    /// The source revision they came from.
    pub revision: &'a str,
    /// The reason of the Ready condition written.
    pub status: &'a str,
    /// When it finished.
    pub at: Time,
    /// How long it took.
    pub duration: Duration,
}

/// Counts the reconcile into the snapshot of the same digest and status, or starts a new one;
/// keeps the newest [`MAX_SNAPSHOTS`], newest first.
pub fn record(history: &mut Vec<Snapshot>, r: &Reconciled<'_>) {
    let metadata = Some(BTreeMap::from([(
        "revision".to_owned(),
        r.revision.to_owned(),
    )]));
    let duration = GoDuration::from_duration(r.duration);
    match history
        .iter_mut()
        .find(|s| s.digest == r.digest && s.last_reconciled_status == r.status)
    {
        Some(s) => {
            s.last_reconciled = r.at.clone();
            s.last_reconciled_duration = duration;
            s.total_reconciliations += 1;
            s.metadata = metadata;
        }
        // In front: times read back from the API have whole seconds, and the stable sort
        // must keep the newest of two reconciles of one second first.
        None => history.insert(
            0,
            Snapshot {
                digest: r.digest.to_owned(),
                first_reconciled: r.at.clone(),
                last_reconciled: r.at.clone(),
                last_reconciled_duration: duration,
                last_reconciled_status: r.status.to_owned(),
                total_reconciliations: 1,
                metadata,
            },
        ),
    }
    history.sort_by_key(|s| std::cmp::Reverse(s.last_reconciled.0));
    history.truncate(MAX_SNAPSHOTS);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).expect("time"))
    }

    fn reconciled<'a>(digest: &'a str, status: &'a str, seconds: i64) -> Reconciled<'a> {
        Reconciled {
            digest,
            revision: "main@sha1:1",
            status,
            at: at(seconds),
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn the_same_digest_and_status_is_counted_not_repeated() {
        let mut h = Vec::new();
        record(
            &mut h,
            &reconciled("sha256:a", "ReconciliationSucceeded", 10),
        );
        record(
            &mut h,
            &reconciled("sha256:a", "ReconciliationSucceeded", 20),
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].total_reconciliations, 2);
        assert_eq!(h[0].first_reconciled, at(10));
        assert_eq!(h[0].last_reconciled, at(20));
        assert_eq!(h[0].last_reconciled_duration.as_str(), "1.5s");
        assert_eq!(
            h[0].metadata
                .as_ref()
                .and_then(|m| m.get("revision"))
                .map(String::as_str),
            Some("main@sha1:1")
        );
    }

    #[test]
    fn a_new_status_or_digest_starts_a_snapshot_and_only_the_newest_five_stay() {
        let mut h = Vec::new();
        record(
            &mut h,
            &reconciled("sha256:a", "ReconciliationSucceeded", 10),
        );
        record(&mut h, &reconciled("sha256:a", "HealthCheckFailed", 10));
        assert_eq!(h.len(), 2);
        assert_eq!(
            h[0].last_reconciled_status, "HealthCheckFailed",
            "newest first"
        );
        for (i, d) in ["b", "c", "d", "e"].iter().enumerate() {
            let digest = format!("sha256:{d}");
            record(
                &mut h,
                &reconciled(&digest, "ReconciliationSucceeded", 30 + i as i64),
            );
        }
        assert_eq!(h.len(), MAX_SNAPSHOTS);
        assert_eq!(h[0].digest, "sha256:e");
        let statuses: Vec<&str> = h
            .iter()
            .map(|s| s.last_reconciled_status.as_str())
            .collect();
        assert_eq!(
            statuses.last(),
            Some(&"HealthCheckFailed"),
            "the oldest snapshot was dropped, the newer one of the same second kept"
        );
    }

    #[test]
    fn digests_are_sha256_of_the_manifests() {
        assert_eq!(
            manifests_digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
