//! Per-type validation of an incoming webhook call, as Flux's notification-controller does it.
//! A rejected call has no side effects; the caller answers 401/400 and triggers nothing.

use hmac::{Hmac, KeyInit, Mac};
use std::str::FromStr;

/// The Receiver `spec.type` values Ferry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    /// No check beyond the secret path.
    Generic,
    /// `X-Signature: <algo>=<hex hmac of the body>`.
    GenericHmac,
    /// GitHub (and Gitea): `X-Hub-Signature-256` / `X-Hub-Signature`, `X-GitHub-Event`.
    Github,
    /// GitLab: `X-Gitlab-Token`, `X-Gitlab-Event`.
    Gitlab,
    /// Bitbucket Server: `X-Hub-Signature`, `X-Event-Key`.
    Bitbucket,
    /// Harbor: `Authorization` equals the token.
    Harbor,
    /// Docker Hub: a JSON body.
    Dockerhub,
    /// Quay: a JSON body.
    Quay,
    /// Azure Container Registry: a JSON body.
    Acr,
    /// Sonatype Nexus: `X-Nexus-Webhook-Signature` (HMAC-SHA1).
    Nexus,
}

/// A type Flux has that Ferry does not verify yet; the Receiver goes Stalled naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "spec.type: receiver type '{0}' is not supported (supported: generic, generic-hmac, github, gitlab, bitbucket, harbor, dockerhub, quay, acr, nexus)"
)]
pub struct UnsupportedKind(pub String);

impl FromStr for ReceiverKind {
    type Err = UnsupportedKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "generic" => ReceiverKind::Generic,
            "generic-hmac" => ReceiverKind::GenericHmac,
            "github" => ReceiverKind::Github,
            "gitlab" => ReceiverKind::Gitlab,
            "bitbucket" => ReceiverKind::Bitbucket,
            "harbor" => ReceiverKind::Harbor,
            "dockerhub" => ReceiverKind::Dockerhub,
            "quay" => ReceiverKind::Quay,
            "acr" => ReceiverKind::Acr,
            "nexus" => ReceiverKind::Nexus,
            other => return Err(UnsupportedKind(other.to_string())),
        })
    }
}

/// The parts of an HTTP request a check looks at.
pub struct HookRequest<'a> {
    /// Request headers.
    pub headers: &'a http::HeaderMap,
    /// The raw body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
}

/// What to do with a call that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Trigger a reconcile of the Receiver's resources.
    Trigger,
    /// Answer 200 but trigger nothing (a ping).
    Acknowledge(&'static str),
}

/// Why a call was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the type requires is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The signature or token does not match.
    #[error("{0} does not match the receiver's token")]
    BadSignature(&'static str),
    /// The signature header is not `<algo>=<hex>` with a known algorithm.
    #[error("malformed signature header {0}")]
    MalformedSignature(&'static str),
    /// The event is not in `spec.events`.
    #[error("event '{0}' is not in spec.events")]
    EventNotAllowed(String),
    /// The body is not the JSON the type sends.
    #[error("payload is not valid JSON: {0}")]
    InvalidPayload(String),
}

impl VerifyError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> http::StatusCode {
        match self {
            VerifyError::BadSignature(_) | VerifyError::MissingHeader(_) => {
                http::StatusCode::UNAUTHORIZED
            }
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// Validates a call for a Receiver of `kind` with secret `token` and `spec.events` filter.
pub fn verify(
    kind: ReceiverKind,
    token: &[u8],
    events: &[String],
    req: &HookRequest<'_>,
) -> Result<Verdict, VerifyError> {
    match kind {
        ReceiverKind::Generic => Ok(Verdict::Trigger),
        ReceiverKind::GenericHmac => {
            check_prefixed_hmac(req, "x-signature", "X-Signature", token).map(|()| Verdict::Trigger)
        }
        ReceiverKind::Github => github(token, events, req),
        ReceiverKind::Gitlab => {
            let sent = header(req, "x-gitlab-token", "X-Gitlab-Token")?;
            if !constant_time_eq(sent.as_bytes(), token) {
                return Err(VerifyError::BadSignature("X-Gitlab-Token"));
            }
            check_event(events, header(req, "x-gitlab-event", "X-Gitlab-Event").ok())?;
            Ok(Verdict::Trigger)
        }
        ReceiverKind::Bitbucket => {
            let event = header(req, "x-event-key", "X-Event-Key").ok();
            if event == Some("diagnostics:ping") {
                return Ok(Verdict::Acknowledge("bitbucket ping"));
            }
            check_prefixed_hmac(req, "x-hub-signature", "X-Hub-Signature", token)?;
            check_event(events, event)?;
            Ok(Verdict::Trigger)
        }
        ReceiverKind::Harbor => {
            let sent = header(req, "authorization", "Authorization")?;
            if !constant_time_eq(sent.as_bytes(), token) {
                return Err(VerifyError::BadSignature("Authorization"));
            }
            Ok(Verdict::Trigger)
        }
        ReceiverKind::Dockerhub | ReceiverKind::Quay | ReceiverKind::Acr => {
            serde_json::from_slice::<serde_json::Value>(req.body)
                .map_err(|e| VerifyError::InvalidPayload(e.to_string()))?;
            Ok(Verdict::Trigger)
        }
        ReceiverKind::Nexus => {
            let sent = header(
                req,
                "x-nexus-webhook-signature",
                "X-Nexus-Webhook-Signature",
            )?;
            let ok = hex::decode(sent)
                .map(|sig| hmac_matches::<Hmac<sha1::Sha1>>(token, req.body, &sig))
                .unwrap_or(false);
            if !ok {
                return Err(VerifyError::BadSignature("X-Nexus-Webhook-Signature"));
            }
            Ok(Verdict::Trigger)
        }
    }
}

fn github(token: &[u8], events: &[String], req: &HookRequest<'_>) -> Result<Verdict, VerifyError> {
    if req.headers.contains_key("x-hub-signature-256") {
        check_prefixed_hmac(req, "x-hub-signature-256", "X-Hub-Signature-256", token)?;
    } else {
        check_prefixed_hmac(req, "x-hub-signature", "X-Hub-Signature", token)?;
    }
    let event = header(req, "x-github-event", "X-GitHub-Event")?;
    if event == "ping" {
        return Ok(Verdict::Acknowledge("github ping"));
    }
    check_event(events, Some(event))?;
    Ok(Verdict::Trigger)
}

fn header<'a>(
    req: &'a HookRequest<'_>,
    key: &'static str,
    display: &'static str,
) -> Result<&'a str, VerifyError> {
    req.headers
        .get(key)
        .and_then(|v| v.to_str().ok())
        .ok_or(VerifyError::MissingHeader(display))
}

/// Events are compared case-insensitively; an empty `spec.events` allows every event.
fn check_event(events: &[String], event: Option<&str>) -> Result<(), VerifyError> {
    if events.is_empty() {
        return Ok(());
    }
    let event = event.unwrap_or_default();
    if events
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(event))
    {
        Ok(())
    } else {
        Err(VerifyError::EventNotAllowed(event.to_string()))
    }
}

/// `<algo>=<hex>` with sha1, sha256 or sha512 over the raw body, keyed with the token.
fn check_prefixed_hmac(
    req: &HookRequest<'_>,
    key: &'static str,
    display: &'static str,
    token: &[u8],
) -> Result<(), VerifyError> {
    let value = header(req, key, display)?;
    let (algo, hex_sig) = value
        .split_once('=')
        .ok_or(VerifyError::MalformedSignature(display))?;
    let sig = hex::decode(hex_sig).map_err(|_| VerifyError::MalformedSignature(display))?;
    let ok = match algo {
        "sha1" => hmac_matches::<Hmac<sha1::Sha1>>(token, req.body, &sig),
        "sha256" => hmac_matches::<Hmac<sha2::Sha256>>(token, req.body, &sig),
        "sha512" => hmac_matches::<Hmac<sha2::Sha512>>(token, req.body, &sig),
        _ => return Err(VerifyError::MalformedSignature(display)),
    };
    if ok {
        Ok(())
    } else {
        Err(VerifyError::BadSignature(display))
    }
}

fn hmac_matches<M: KeyInit + Mac>(key: &[u8], body: &[u8], sig: &[u8]) -> bool {
    match <M as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            mac.verify_slice(sig).is_ok()
        }
        Err(_) => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign<M: KeyInit + Mac>(key: &[u8], body: &[u8]) -> String {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_str(v).expect("header value"),
                )
            })
            .collect()
    }

    const BODY: &[u8] = br#"{"ref":"refs/heads/main"}"#;

    #[test]
    fn github_push_with_valid_sha256_signature_triggers() {
        let h = headers(&[
            (
                "x-hub-signature-256",
                format!("sha256={}", sign::<Hmac<sha2::Sha256>>(b"tok", BODY)),
            ),
            ("x-github-event", "push".into()),
        ]);
        let req = HookRequest {
            headers: &h,
            body: BODY,
        };
        assert_eq!(
            verify(ReceiverKind::Github, b"tok", &[], &req),
            Ok(Verdict::Trigger)
        );
    }

    #[test]
    fn github_signature_from_another_token_is_rejected_as_unauthorized() {
        let h = headers(&[
            (
                "x-hub-signature-256",
                format!("sha256={}", sign::<Hmac<sha2::Sha256>>(b"other", BODY)),
            ),
            ("x-github-event", "push".into()),
        ]);
        let req = HookRequest {
            headers: &h,
            body: BODY,
        };
        let err = verify(ReceiverKind::Github, b"tok", &[], &req).expect_err("rejected");
        assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn github_ping_is_acknowledged_without_trigger() {
        let h = headers(&[
            (
                "x-hub-signature",
                format!("sha1={}", sign::<Hmac<sha1::Sha1>>(b"tok", BODY)),
            ),
            ("x-github-event", "ping".into()),
        ]);
        let req = HookRequest {
            headers: &h,
            body: BODY,
        };
        assert!(matches!(
            verify(ReceiverKind::Github, b"tok", &["push".into()], &req),
            Ok(Verdict::Acknowledge(_))
        ));
    }

    #[test]
    fn github_event_outside_spec_events_is_rejected() {
        let h = headers(&[
            (
                "x-hub-signature-256",
                format!("sha256={}", sign::<Hmac<sha2::Sha256>>(b"tok", BODY)),
            ),
            ("x-github-event", "issues".into()),
        ]);
        let req = HookRequest {
            headers: &h,
            body: BODY,
        };
        let err =
            verify(ReceiverKind::Github, b"tok", &["push".into()], &req).expect_err("filtered");
        assert_eq!(err, VerifyError::EventNotAllowed("issues".into()));
    }

    #[test]
    fn gitlab_token_header_must_equal_the_token() {
        let good = headers(&[
            ("x-gitlab-token", "tok".into()),
            ("x-gitlab-event", "Push Hook".into()),
        ]);
        let req = HookRequest {
            headers: &good,
            body: BODY,
        };
        assert_eq!(
            verify(ReceiverKind::Gitlab, b"tok", &["Push Hook".into()], &req),
            Ok(Verdict::Trigger)
        );
        let bad = headers(&[("x-gitlab-token", "nope".into())]);
        let req = HookRequest {
            headers: &bad,
            body: BODY,
        };
        assert!(verify(ReceiverKind::Gitlab, b"tok", &[], &req).is_err());
    }

    #[test]
    fn generic_hmac_requires_a_matching_signature() {
        let good = headers(&[(
            "x-signature",
            format!("sha512={}", sign::<Hmac<sha2::Sha512>>(b"tok", BODY)),
        )]);
        let req = HookRequest {
            headers: &good,
            body: BODY,
        };
        assert_eq!(
            verify(ReceiverKind::GenericHmac, b"tok", &[], &req),
            Ok(Verdict::Trigger)
        );
        let none = http::HeaderMap::new();
        let req = HookRequest {
            headers: &none,
            body: BODY,
        };
        assert_eq!(
            verify(ReceiverKind::GenericHmac, b"tok", &[], &req),
            Err(VerifyError::MissingHeader("X-Signature"))
        );
    }

    #[test]
    fn bitbucket_and_harbor_and_nexus_checks() {
        let bb = headers(&[
            (
                "x-hub-signature",
                format!("sha256={}", sign::<Hmac<sha2::Sha256>>(b"tok", BODY)),
            ),
            ("x-event-key", "repo:refs_changed".into()),
        ]);
        let req = HookRequest {
            headers: &bb,
            body: BODY,
        };
        assert_eq!(
            verify(ReceiverKind::Bitbucket, b"tok", &[], &req),
            Ok(Verdict::Trigger)
        );
        let harbor = headers(&[("authorization", "tok".into())]);
        let req = HookRequest {
            headers: &harbor,
            body: BODY,
        };
        assert_eq!(
            verify(ReceiverKind::Harbor, b"tok", &[], &req),
            Ok(Verdict::Trigger)
        );
        let nexus = headers(&[(
            "x-nexus-webhook-signature",
            sign::<Hmac<sha1::Sha1>>(b"tok", BODY),
        )]);
        let req = HookRequest {
            headers: &nexus,
            body: BODY,
        };
        assert_eq!(
            verify(ReceiverKind::Nexus, b"tok", &[], &req),
            Ok(Verdict::Trigger)
        );
    }

    #[test]
    fn registry_types_need_a_json_body() {
        let h = http::HeaderMap::new();
        let req = HookRequest {
            headers: &h,
            body: b"not json",
        };
        assert!(matches!(
            verify(ReceiverKind::Acr, b"tok", &[], &req),
            Err(VerifyError::InvalidPayload(_))
        ));
        let req = HookRequest {
            headers: &h,
            body: br#"{"action":"push"}"#,
        };
        assert_eq!(
            verify(ReceiverKind::Acr, b"tok", &[], &req),
            Ok(Verdict::Trigger)
        );
    }

    #[test]
    fn unknown_type_is_a_clear_unsupported_error() {
        let err = "gcr".parse::<ReceiverKind>().expect_err("unsupported");
        assert!(
            err.to_string()
                .starts_with("spec.type: receiver type 'gcr'")
        );
    }
}
