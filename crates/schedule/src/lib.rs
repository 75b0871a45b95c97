//! Decides when a watched object needs a reconcile: a new generation, a new `requestedAt` token, or
//! the next interval slot. Pure bookkeeping, so every replica reaches the same decisions and
//! the message ids it derives de-duplicate on the work stream.

use std::collections::HashMap;
use std::time::Duration;

/// What the watch knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// metadata.uid
    pub uid: String,
    /// metadata.namespace
    pub namespace: String,
    /// metadata.name
    pub name: String,
    /// metadata.generation
    pub generation: i64,
    /// `reconcile.fluxcd.io/requestedAt`, when set.
    pub requested_at: Option<String>,
    /// `spec.interval`
    pub interval: Duration,
    /// `spec.suspend`
    pub suspended: bool,
    /// `ferry.dev/traceparent`: the W3C trace context of whoever requested the reconcile
    /// (the image-scanner after a push), so the fetch joins that trace.
    pub traceparent: Option<String>,
}

/// A reconcile to ask for, with the message id that de-duplicates it across replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The object.
    pub namespace: String,
    /// The object.
    pub name: String,
    /// The object's uid.
    pub uid: String,
    /// Its generation at the time.
    pub generation: i64,
    /// `watch`, `requested` or `interval`.
    pub reason: &'static str,
    /// The requestedAt token, when that caused it.
    pub requested_at: Option<String>,
    /// `Nats-Msg-Id`: the same trigger on two replicas gives the same id.
    pub message_id: String,
    /// The requester's trace context, for `requested` triggers.
    pub traceparent: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    seen: Observed,
    last_slot: u64,
}

impl Trigger {
    /// A trigger from outside the watch (a source moved, a retry fell due) with the caller's
    /// de-duplicating message id.
    pub fn external(observed: &Observed, reason: &'static str, message_id: String) -> Self {
        Self {
            namespace: observed.namespace.clone(),
            name: observed.name.clone(),
            uid: observed.uid.clone(),
            generation: observed.generation,
            reason,
            requested_at: None,
            message_id,
            traceparent: None,
        }
    }

    /// The retry of a failed reconcile, due after `delay`: the id names the time slot
    /// (`<uid>/retry/<slot>`, slots of `delay` but at least a second), so replicas retrying the
    /// same failure publish one message.
    pub fn retry(observed: &Observed, delay: Duration, now_ms: u64) -> Self {
        let slot_ms = u64::try_from(delay.as_millis())
            .unwrap_or(u64::MAX)
            .max(1000);
        let id = format!("{}/retry/{}", observed.uid, now_ms / slot_ms);
        Self::external(observed, "retry", id)
    }
}

/// The objects a replica watches and when each is due.
#[derive(Debug, Default)]
pub struct Schedule {
    entries: HashMap<String, Entry>,
}

impl Schedule {
    /// Records an object from the watch; returns a trigger when it is new to this replica, its
    /// generation moved, or its `requestedAt` token changed.
    pub fn observe(&mut self, seen: Observed, now_ms: u64) -> Option<Trigger> {
        let key = seen.uid.clone();
        let slot = slot_of(now_ms, seen.interval);
        let previous = self.entries.insert(
            key.clone(),
            Entry {
                seen: seen.clone(),
                last_slot: slot,
            },
        );
        if seen.suspended {
            return None;
        }
        let reason = match &previous {
            None => "watch",
            Some(p) if p.seen.generation != seen.generation => "watch",
            Some(p) if p.seen.requested_at != seen.requested_at => "requested",
            Some(p) => {
                // Keep the interval clock of the earlier sighting.
                if let Some(e) = self.entries.get_mut(&key) {
                    e.last_slot = p.last_slot;
                }
                return None;
            }
        };
        let token = seen.requested_at.clone().unwrap_or_default();
        Some(Trigger {
            message_id: format!("{}/{}/{}", seen.uid, seen.generation, token),
            namespace: seen.namespace,
            name: seen.name,
            uid: seen.uid,
            generation: seen.generation,
            reason,
            traceparent: if reason == "requested" {
                seen.traceparent
            } else {
                None
            },
            requested_at: seen.requested_at,
        })
    }

    /// Forgets a deleted object.
    pub fn forget(&mut self, uid: &str) {
        self.entries.remove(uid);
    }

    /// The interval triggers that fell due since the last call.
    pub fn due(&mut self, now_ms: u64) -> Vec<Trigger> {
        let mut due = Vec::new();
        for entry in self.entries.values_mut() {
            let slot = slot_of(now_ms, entry.seen.interval);
            if slot == entry.last_slot || entry.seen.suspended {
                continue;
            }
            entry.last_slot = slot;
            let seen = &entry.seen;
            due.push(Trigger {
                message_id: format!("{}/interval/{slot}", seen.uid),
                namespace: seen.namespace.clone(),
                name: seen.name.clone(),
                uid: seen.uid.clone(),
                generation: seen.generation,
                reason: "interval",
                requested_at: None,
                traceparent: None,
            });
        }
        due
    }
}

/// Interval slots are aligned to the epoch so every replica computes the same slot number.
fn slot_of(now_ms: u64, interval: Duration) -> u64 {
    let interval_ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1000);
    now_ms / interval_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(generation: i64, requested_at: Option<&str>) -> Observed {
        Observed {
            uid: "u1".into(),
            namespace: "ns".into(),
            name: "app".into(),
            generation,
            requested_at: requested_at.map(String::from),
            interval: Duration::from_secs(60),
            suspended: false,
            traceparent: None,
        }
    }

    #[test]
    fn retries_of_one_failure_share_a_slot_across_replicas() {
        let at = 3_600_000;
        let a = Trigger::retry(&seen(1, None), Duration::from_secs(30), at);
        let b = Trigger::retry(&seen(1, None), Duration::from_secs(30), at + 900);
        assert_eq!(a.message_id, b.message_id);
        assert_eq!(a.reason, "retry");
        let fast = Trigger::retry(&seen(1, None), Duration::ZERO, at);
        assert_eq!(
            fast.message_id, "u1/retry/3600",
            "slots are at least a second"
        );
    }

    #[test]
    fn first_sighting_and_generation_change_trigger_but_status_updates_do_not() {
        let mut s = Schedule::default();
        let first = s.observe(seen(1, None), 0).expect("new object");
        assert_eq!(first.message_id, "u1/1/");
        assert_eq!(s.observe(seen(1, None), 10), None, "same generation");
        let second = s.observe(seen(2, None), 20).expect("spec changed");
        assert_eq!(second.message_id, "u1/2/");
    }

    #[test]
    fn new_requested_at_token_triggers_once() {
        let mut s = Schedule::default();
        s.observe(seen(1, None), 0);
        let t = s.observe(seen(1, Some("now")), 1).expect("requested");
        assert_eq!((t.reason, t.message_id.as_str()), ("requested", "u1/1/now"));
        assert_eq!(s.observe(seen(1, Some("now")), 2), None);
    }

    #[test]
    fn interval_fires_once_per_slot_with_a_replica_independent_id() {
        let mut a = Schedule::default();
        let mut b = Schedule::default();
        a.observe(seen(1, None), 5_000);
        b.observe(seen(1, None), 7_000);
        assert!(a.due(30_000).is_empty());
        let fa = a.due(61_000);
        let fb = b.due(62_500);
        assert_eq!(fa.len(), 1);
        assert_eq!(
            fa[0].message_id, fb[0].message_id,
            "replicas agree on the id"
        );
        assert!(a.due(70_000).is_empty(), "once per slot");
    }

    #[test]
    fn requested_trigger_carries_the_requesters_trace_context() {
        let mut s = Schedule::default();
        s.observe(seen(1, None), 0);
        let mut requested = seen(1, Some("t1"));
        requested.traceparent =
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        let t = s.observe(requested, 1).expect("requested");
        assert_eq!(
            t.traceparent.as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        let mut spec_change = seen(2, Some("t1"));
        spec_change.traceparent = Some("00-aa-bb-01".into());
        assert_eq!(s.observe(spec_change, 2).expect("watch").traceparent, None);
    }

    #[test]
    fn suspended_objects_are_never_due() {
        let mut s = Schedule::default();
        let mut obj = seen(1, None);
        obj.suspended = true;
        assert_eq!(s.observe(obj, 0), None);
        assert!(s.due(120_000).is_empty());
    }
}
