//! Readiness: the service is ready only while NATS and the Kubernetes API both answer.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::watch;

/// A dependency that readiness depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dependency {
    /// The NATS server (connected, and the bus topology in place).
    Nats,
    /// The Kubernetes API server (answers `/version`).
    Kubernetes,
}

impl Dependency {
    /// Every dependency, in report order.
    pub const ALL: [Dependency; 2] = [Dependency::Nats, Dependency::Kubernetes];

    /// The name used in `/readyz` bodies and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Nats => "nats",
            Dependency::Kubernetes => "kubernetes",
        }
    }
}

/// The last known state of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Whether it answered.
    pub ready: bool,
    /// Why not, or what it is connected to.
    pub detail: String,
}

impl Check {
    fn pending() -> Self {
        Self {
            ready: false,
            detail: "not checked yet".to_owned(),
        }
    }
}

/// A snapshot of every readiness input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// NATS state.
    pub nats: Check,
    /// Kubernetes API state.
    pub kubernetes: Check,
    /// True once shutdown began: the service takes no new work.
    pub draining: bool,
}

impl Status {
    /// Whether the service should receive traffic and work.
    pub fn is_ready(&self) -> bool {
        !self.draining && self.nats.ready && self.kubernetes.ready
    }

    /// The state of one dependency.
    pub fn check(&self, dep: Dependency) -> &Check {
        match dep {
            Dependency::Nats => &self.nats,
            Dependency::Kubernetes => &self.kubernetes,
        }
    }

    /// The `/readyz` body: overall state, what is not ready, and each check.
    pub fn to_json(&self) -> Value {
        let mut not_ready: Vec<&str> = Dependency::ALL
            .iter()
            .filter(|d| !self.check(**d).ready)
            .map(|d| d.name())
            .collect();
        if self.draining {
            not_ready.push("shutdown");
        }
        let checks: serde_json::Map<String, Value> = Dependency::ALL
            .iter()
            .map(|d| {
                let c = self.check(*d);
                (
                    d.name().to_owned(),
                    json!({ "ready": c.ready, "detail": c.detail }),
                )
            })
            .collect();
        json!({
            "ready": self.is_ready(),
            "not_ready": not_ready,
            "draining": self.draining,
            "checks": checks,
        })
    }
}

/// Shared, watchable readiness state.
#[derive(Debug, Clone)]
pub struct Readiness {
    tx: Arc<watch::Sender<Status>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// Starts with every dependency not checked yet.
    pub fn new() -> Self {
        let (tx, _) = watch::channel(Status {
            nats: Check::pending(),
            kubernetes: Check::pending(),
            draining: false,
        });
        Self { tx: Arc::new(tx) }
    }

    /// Records the state of `dep`; notifies watchers only on change.
    pub fn set(&self, dep: Dependency, ready: bool, detail: impl Into<String>) {
        let check = Check {
            ready,
            detail: detail.into(),
        };
        self.tx.send_if_modified(|status| {
            let slot = match dep {
                Dependency::Nats => &mut status.nats,
                Dependency::Kubernetes => &mut status.kubernetes,
            };
            if *slot == check {
                return false;
            }
            *slot = check;
            true
        });
    }

    /// Marks the service as shutting down: never ready again.
    pub fn set_draining(&self) {
        self.tx
            .send_if_modified(|status| !std::mem::replace(&mut status.draining, true));
    }

    /// The current state.
    pub fn status(&self) -> Status {
        self.tx.borrow().clone()
    }

    /// Whether the service is ready now.
    pub fn is_ready(&self) -> bool {
        self.tx.borrow().is_ready()
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.tx.subscribe()
    }

    /// Waits until the service is ready; returns at once if it already is.
    pub async fn wait_ready(&self) {
        let mut rx = self.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we hold it.
        let _ = rx.wait_for(Status::is_ready).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_both_dependencies_answer() {
        let readiness = Readiness::new();
        assert!(!readiness.is_ready());
        readiness.set(Dependency::Nats, true, "connected");
        assert!(!readiness.is_ready());
        readiness.set(Dependency::Kubernetes, true, "v1.33.0");
        assert!(readiness.is_ready());
        readiness.set_draining();
        assert!(!readiness.is_ready());
    }

    #[test]
    fn body_names_what_is_not_ready() {
        let readiness = Readiness::new();
        readiness.set(Dependency::Kubernetes, true, "v1.33.0");
        readiness.set(Dependency::Nats, false, "connection refused");
        let body = readiness.status().to_json();
        assert_eq!(body["ready"], false);
        assert_eq!(body["not_ready"], json!(["nats"]));
        assert_eq!(body["checks"]["nats"]["detail"], "connection refused");
    }

    #[tokio::test]
    async fn watchers_see_changes() {
        let readiness = Readiness::new();
        let mut rx = readiness.subscribe();
        readiness.set(Dependency::Nats, true, "connected");
        rx.changed().await.expect("sender alive");
        assert!(rx.borrow_and_update().nats.ready);
        readiness.set(Dependency::Nats, true, "connected");
        assert!(!rx.has_changed().expect("sender alive"));
    }
}
