//! One reconcile per Kustomization on a replica: starting a new one cancels the previous one's
//! health wait (Flux's `HealthCheckCanceled`), so a long wait never blocks a newer revision.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

type Key = (String, String);

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    running: Mutex<HashMap<Key, (u64, CancellationToken)>>,
}

/// Cancellation tokens of the reconciles running on this replica, by Kustomization.
#[derive(Clone, Default)]
pub struct InFlight {
    inner: Arc<Inner>,
}

/// A running reconcile; dropping it forgets it (unless a newer one replaced it).
pub struct Running {
    inflight: InFlight,
    key: Key,
    id: u64,
    token: CancellationToken,
}

impl Running {
    /// The token to pass to [`super::reconcile`].
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl InFlight {
    /// Registers a reconcile of `namespace/name`, cancelling the one already running.
    pub fn begin(&self, namespace: &str, name: &str) -> Running {
        let key = (namespace.to_owned(), name.to_owned());
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        let previous = match self.inner.running.lock() {
            Ok(mut map) => map.insert(key.clone(), (id, token.clone())),
            Err(poisoned) => poisoned
                .into_inner()
                .insert(key.clone(), (id, token.clone())),
        };
        if let Some((_, old)) = previous {
            old.cancel();
        }
        Running {
            inflight: self.clone(),
            key,
            id,
            token,
        }
    }

    /// Number of reconciles running.
    pub fn len(&self) -> usize {
        match self.inner.running.lock() {
            Ok(map) => map.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut map = match self.inflight.inner.running.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_reconcile_cancels_the_previous_one_of_the_same_kustomization_only() {
        let inflight = InFlight::default();
        let first = inflight.begin("ns", "app");
        let other = inflight.begin("ns", "other");
        let second = inflight.begin("ns", "app");
        assert!(first.token().is_cancelled());
        assert!(!second.token().is_cancelled());
        assert!(!other.token().is_cancelled());
        drop(first);
        assert_eq!(inflight.len(), 2);
        drop(second);
        drop(other);
        assert!(inflight.is_empty());
    }
}
