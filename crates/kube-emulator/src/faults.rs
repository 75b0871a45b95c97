//! Fault injection: per-request latency, a random error rate and one-shot rules.

use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// What a fault rule does to a matching request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// Answer `500 InternalError`.
    #[serde(rename = "500", alias = "internalError")]
    InternalError,
    /// Answer `429 TooManyRequests` with `Retry-After`.
    #[serde(rename = "429", alias = "tooManyRequests")]
    TooManyRequests,
    /// Close the connection without a response.
    #[serde(rename = "drop", alias = "dropConnection")]
    DropConnection,
}

/// Fail the next `count` requests whose path starts with `path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// Path prefix, e.g. `/api/v1/namespaces/default/configmaps`.
    pub path: String,
    /// Only requests with this HTTP method (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// How many requests to fail.
    pub count: u32,
    /// The failure.
    pub kind: FaultKind,
    /// Retry-After seconds for 429 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

/// The decision for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Serve normally.
    None,
    /// Answer with 500.
    InternalError,
    /// Answer with 429 and this Retry-After.
    TooManyRequests(u64),
    /// Drop the connection.
    Drop,
}

struct Inner {
    latency: Duration,
    error_rate: f64,
    rules: Vec<FaultRule>,
    rng: u64,
}

/// Fault injection state.
pub struct Faults {
    inner: Mutex<Inner>,
}

impl Faults {
    /// New state with a base latency and error rate.
    pub fn new(latency: Duration, error_rate: f64) -> Self {
        let seed = u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .unwrap_or([7; 8]),
        ) | 1;
        Self {
            inner: Mutex::new(Inner {
                latency,
                error_rate,
                rules: vec![],
                rng: seed,
            }),
        }
    }

    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) {
        self.inner.lock().rules.push(rule);
    }

    /// Current rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.inner.lock().rules.clone()
    }

    /// Removes rules and resets latency and error rate.
    pub fn clear(&self) {
        let mut i = self.inner.lock();
        i.rules.clear();
        i.latency = Duration::ZERO;
        i.error_rate = 0.0;
    }

    /// Sets the added latency.
    pub fn set_latency(&self, d: Duration) {
        self.inner.lock().latency = d;
    }

    /// Sets the random error rate.
    pub fn set_error_rate(&self, r: f64) {
        self.inner.lock().error_rate = r.clamp(0.0, 1.0);
    }

    /// Latency to add and the action for a request.
    pub fn decide(&self, method: &str, path: &str) -> (Duration, FaultAction) {
        let mut i = self.inner.lock();
        let latency = i.latency;
        let pos = i.rules.iter().position(|r| {
            r.count > 0
                && path.starts_with(&r.path)
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        });
        if let Some(pos) = pos {
            let rule = &mut i.rules[pos];
            rule.count -= 1;
            let action = match rule.kind {
                FaultKind::InternalError => FaultAction::InternalError,
                FaultKind::TooManyRequests => {
                    FaultAction::TooManyRequests(rule.retry_after_seconds.unwrap_or(1))
                }
                FaultKind::DropConnection => FaultAction::Drop,
            };
            if rule.count == 0 {
                i.rules.remove(pos);
            }
            return (latency, action);
        }
        if i.error_rate > 0.0 {
            // xorshift64
            let mut x = i.rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i.rng = x;
            let sample = (x >> 11) as f64 / (1u64 << 53) as f64;
            if sample < i.error_rate {
                return (latency, FaultAction::InternalError);
            }
        }
        (latency, FaultAction::None)
    }
}
