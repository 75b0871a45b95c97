//! W3C trace context in NATS headers, through OpenTelemetry's global propagator.
//!
//! The services install `TraceContextPropagator` as the global propagator at start-up; with
//! OpenTelemetry's default no-op propagator nothing is injected or extracted.

use std::str::FromStr;

use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Header with the W3C trace parent (`00-<trace-id>-<span-id>-<flags>`).
pub const TRACEPARENT: &str = "traceparent";
/// Header with the W3C trace state.
pub const TRACESTATE: &str = "tracestate";
/// Header with the message's protobuf type name.
pub const FERRY_TYPE: &str = "Ferry-Type";
/// Annotation carrying a requester's W3C trace context on a Kubernetes object (the
/// image-scanner writes it next to `requestedAt`), so the reconcile it asks for joins the trace.
pub const TRACEPARENT_ANNOTATION: &str = "ferry.dev/traceparent";

/// Writes propagation fields into a NATS header map; invalid names or values are skipped.
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_str(key), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

/// Reads propagation fields from a NATS header map.
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let name = HeaderName::from_str(key).ok()?;
        self.0.get(name).map(HeaderValue::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Injects `cx` into `headers` with the global propagator.
pub fn inject_context(cx: &Context, headers: &mut HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(cx, &mut HeaderInjector(headers));
    });
}

/// Injects the OpenTelemetry context of the current `tracing` span into `headers`.
pub fn inject_current_span(headers: &mut HeaderMap) {
    inject_context(&tracing::Span::current().context(), headers);
}

/// Extracts the remote parent context from `headers` with the global propagator (an empty
/// context when the headers carry none).
pub fn extract_context(headers: &HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn traceparent_round_trips_through_nats_headers() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let sent = SpanContext::new(
            TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128),
            SpanId::from(0xb7ad6b7169203331_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let mut headers = HeaderMap::new();
        inject_context(
            &Context::new().with_remote_span_context(sent.clone()),
            &mut headers,
        );
        assert_eq!(
            headers.get(TRACEPARENT).map(HeaderValue::as_str),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        let received = extract_context(&headers);
        assert_eq!(received.span().span_context(), &sent);
    }

    #[test]
    fn invalid_header_names_and_values_are_skipped() {
        let mut headers = HeaderMap::new();
        HeaderInjector(&mut headers).set("bad:name", "v".into());
        HeaderInjector(&mut headers).set("good", "line\nbreak".into());
        assert!(headers.is_empty());
        assert_eq!(HeaderExtractor(&headers).get("traceparent"), None);
    }
}
