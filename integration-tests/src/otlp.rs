//! An in-process OTLP/gRPC trace collector that records every span it receives.

use crate::error::{HarnessError, Result};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

/// One span as the collector received it, with ids in lowercase hex.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedSpan {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// The parent's span id, `None` for a root span.
    pub parent_span_id: Option<String>,
    /// The span name.
    pub name: String,
    /// The span kind as OTLP names it, e.g. `SPAN_KIND_INTERNAL`.
    pub kind: String,
    /// The `service.name` resource attribute.
    pub service_name: Option<String>,
    /// The instrumentation scope (tracer) name.
    pub scope_name: String,
    /// Span attributes, values rendered as text (arrays as `[a, b]`).
    pub attributes: BTreeMap<String, String>,
    /// Resource attributes, rendered the same way.
    pub resource_attributes: BTreeMap<String, String>,
    /// Names of the span's events, in order.
    pub events: Vec<String>,
    /// The status code as OTLP names it, e.g. `STATUS_CODE_ERROR`.
    pub status_code: String,
    /// The status message.
    pub status_message: String,
    /// Start time, nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End time, nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
}

impl RecordedSpan {
    /// The value of the span attribute `key`, if set.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// Whether the span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }
}

/// A span with its children (ordered by start time): a node of a trace tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanNode {
    /// The span.
    pub span: RecordedSpan,
    /// Spans whose parent is this span.
    pub children: Vec<SpanNode>,
}

impl SpanNode {
    /// The first node named `name` in this subtree, depth first, this node included.
    pub fn find(&self, name: &str) -> Option<&SpanNode> {
        if self.span.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|child| child.find(name))
    }

    /// The subtree as indented lines `name (service)`, for assertion messages.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(0, &mut out);
        out
    }

    fn render_into(&self, depth: usize, out: &mut String) {
        let service = self.span.service_name.as_deref().unwrap_or("?");
        out.push_str(&format!(
            "{}{} ({service})\n",
            "  ".repeat(depth),
            self.span.name
        ));
        for child in &self.children {
            child.render_into(depth + 1, out);
        }
    }
}

#[derive(Debug)]
struct Recorder {
    spans: Mutex<Vec<RecordedSpan>>,
    requests: Mutex<usize>,
    changed: watch::Sender<usize>,
}

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> std::result::Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let recorded = flatten(request.into_inner());
        let total = {
            let mut spans = self.spans.lock();
            spans.extend(recorded);
            spans.len()
        };
        *self.requests.lock() += 1;
        self.changed.send_replace(total);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// An OTLP/gRPC collector (`opentelemetry.proto.collector.trace.v1.TraceService`) on a random
/// loopback port, recording every span. Dropping it stops the server.
#[derive(Debug)]
pub struct OtlpCollector {
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl OtlpCollector {
    /// Starts the collector. Must be called inside a Tokio runtime.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| HarnessError::io("binding the OTLP collector", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io("reading the OTLP collector address", e))?;
        let (changed, _) = watch::channel(0);
        let recorder = Arc::new(Recorder {
            spans: Mutex::new(Vec::new()),
            requests: Mutex::new(0),
            changed,
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::from_arc(Arc::clone(&recorder)))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "OTLP collector stopped with an error");
            }
        });
        Ok(Self {
            addr,
            recorder,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// The OTLP endpoint, `http://127.0.0.1:<port>` (what `OTEL_EXPORTER_OTLP_ENDPOINT` takes).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the collector listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<RecordedSpan> {
        self.recorder.spans.lock().clone()
    }

    /// How many export requests were received so far.
    pub fn export_count(&self) -> usize {
        *self.recorder.requests.lock()
    }

    /// Forgets every span received so far.
    pub fn clear(&self) {
        self.recorder.spans.lock().clear();
    }

    /// Waits until `predicate` holds for the spans received so far and returns them, or fails
    /// after `timeout` with the spans seen (names) in the error.
    pub async fn wait_for_spans(
        &self,
        predicate: impl Fn(&[RecordedSpan]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<RecordedSpan>> {
        let mut changed = self.recorder.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changed.borrow_and_update();
            let spans = self.spans();
            if predicate(&spans) {
                return Ok(spans);
            }
            let woke = tokio::time::timeout_at(deadline, changed.changed()).await;
            if woke.is_err() {
                let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
                return Err(HarnessError::Timeout {
                    what: format!("spans matching the predicate (received: {names:?})"),
                    timeout,
                });
            }
        }
    }

    /// Waits until a span named `name` arrives and returns it.
    pub async fn wait_for_span(&self, name: &str, timeout: Duration) -> Result<RecordedSpan> {
        let spans = self
            .wait_for_spans(|spans| spans.iter().any(|s| s.name == name), timeout)
            .await?;
        spans
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| HarnessError::Invalid(format!("span {name:?} vanished")))
    }

    /// The spans of the trace `trace_id` (hex), ordered by start time.
    pub fn spans_in_trace(&self, trace_id: &str) -> Vec<RecordedSpan> {
        let mut spans: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|s| s.trace_id.eq_ignore_ascii_case(trace_id))
            .collect();
        spans.sort_by_key(|s| s.start_time_unix_nano);
        spans
    }

    /// The trace `trace_id` as trees: one per span whose parent was not received (normally
    /// just the root span).
    pub fn trace_tree(&self, trace_id: &str) -> Vec<SpanNode> {
        build_tree(self.spans_in_trace(trace_id))
    }
}

impl Drop for OtlpCollector {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}

/// Builds trees from spans of one trace sorted by start time.
fn build_tree(spans: Vec<RecordedSpan>) -> Vec<SpanNode> {
    let ids: std::collections::HashSet<String> = spans.iter().map(|s| s.span_id.clone()).collect();
    let mut children: BTreeMap<String, Vec<RecordedSpan>> = BTreeMap::new();
    let mut roots = Vec::new();
    for span in spans {
        match &span.parent_span_id {
            Some(parent) if ids.contains(parent) && *parent != span.span_id => {
                children.entry(parent.clone()).or_default().push(span);
            }
            _ => roots.push(span),
        }
    }
    fn attach(span: RecordedSpan, children: &mut BTreeMap<String, Vec<RecordedSpan>>) -> SpanNode {
        let kids = children.remove(&span.span_id).unwrap_or_default();
        SpanNode {
            children: kids.into_iter().map(|kid| attach(kid, children)).collect(),
            span,
        }
    }
    roots
        .into_iter()
        .map(|root| attach(root, &mut children))
        .collect()
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<RecordedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource_attributes = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service_name = resource_attributes.get("service.name").cloned();
        for scope_spans in resource_spans.scope_spans {
            let scope_name = scope_spans.scope.map(|s| s.name).unwrap_or_default();
            for span in scope_spans.spans {
                let (status_code, status_message) = match &span.status {
                    Some(status) => (
                        status.code().as_str_name().to_owned(),
                        status.message.clone(),
                    ),
                    None => ("STATUS_CODE_UNSET".to_owned(), String::new()),
                };
                out.push(RecordedSpan {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()
                        && span.parent_span_id.iter().any(|&b| b != 0))
                    .then(|| hex::encode(&span.parent_span_id)),
                    kind: span.kind().as_str_name().to_owned(),
                    service_name: service_name.clone(),
                    scope_name: scope_name.clone(),
                    attributes: attributes(&span.attributes),
                    resource_attributes: resource_attributes.clone(),
                    events: span.events.iter().map(|e| e.name.clone()).collect(),
                    status_code,
                    status_message,
                    start_time_unix_nano: span.start_time_unix_nano,
                    end_time_unix_nano: span.end_time_unix_nano,
                    name: span.name,
                });
            }
        }
    }
    out
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(render).unwrap_or_default(),
            )
        })
        .collect()
}

fn render(value: &AnyValue) -> String {
    match &value.value {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(bytes)) => hex::encode(bytes),
        Some(any_value::Value::ArrayValue(array)) => {
            let items: Vec<_> = array.values.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let items: Vec<_> = list
                .values
                .iter()
                .map(|kv| {
                    format!(
                        "{}={}",
                        kv.key,
                        kv.value.as_ref().map(render).unwrap_or_default()
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Some(any_value::Value::StringValueStrindex(index)) => format!("strindex:{index}"),
    }
}
