//! Tracing set-up: JSON or text logs, the OTLP span exporter and the W3C propagator.

use std::{ffi::OsString, fmt, io::IsTerminal, time::Duration};

use opentelemetry::{
    Key, KeyValue,
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter, Layer,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{JsonFields, Writer},
        time::{FormatTime, SystemTime},
    },
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{config::LogFormat, exit::UsageError};

const ENV_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
const ENV_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
const ENV_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const ENV_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENV_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const ENV_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const ENV_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
const ENV_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// OpenTelemetry settings read from the standard `OTEL_*` variables.
///
/// Everything else (`OTEL_EXPORTER_OTLP_TIMEOUT`, `..._HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`,
/// the sampler) is read by the OpenTelemetry SDK and exporter themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `OTEL_SDK_DISABLED=true`: no spans are recorded at all.
    pub disabled: bool,
    /// The OTLP/gRPC traces endpoint; spans are exported only when one is set.
    pub endpoint: Option<String>,
    /// Whether `OTEL_SERVICE_NAME` names the service (otherwise the Ferry service name is used).
    pub service_name_from_env: bool,
}

impl TelemetryConfig {
    /// Reads and checks the variables through `env`.
    pub fn from_env(env: &impl Fn(&str) -> Option<OsString>) -> Result<Self, UsageError> {
        let get = |key: &str| -> Result<Option<String>, UsageError> {
            match env(key) {
                None => Ok(None),
                Some(raw) => match raw.into_string() {
                    Ok(s) if s.trim().is_empty() => Ok(None),
                    Ok(s) => Ok(Some(s.trim().to_owned())),
                    Err(raw) => Err(UsageError::invalid(
                        key,
                        raw.to_string_lossy(),
                        "valid UTF-8",
                    )),
                },
            }
        };
        let disabled = match get(ENV_SDK_DISABLED)? {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => return Err(UsageError::invalid(ENV_SDK_DISABLED, v, "true or false")),
        };
        let exporter_off = match get(ENV_TRACES_EXPORTER)? {
            None => false,
            Some(v) if v == "otlp" => false,
            Some(v) if v == "none" => true,
            Some(v) => return Err(UsageError::invalid(ENV_TRACES_EXPORTER, v, "otlp or none")),
        };
        for key in [ENV_TRACES_PROTOCOL, ENV_PROTOCOL] {
            if let Some(v) = get(key)?
                && v != "grpc"
            {
                return Err(UsageError::invalid(
                    key,
                    v,
                    "grpc (the only OTLP protocol Ferry exports with)",
                ));
            }
        }
        if let Some(sampler) = get(ENV_SAMPLER)? {
            if !SAMPLERS.contains(&sampler.as_str()) {
                return Err(UsageError::invalid(
                    ENV_SAMPLER,
                    sampler,
                    SAMPLERS.join(", "),
                ));
            }
            if sampler.ends_with("traceidratio")
                && let Some(arg) = get(ENV_SAMPLER_ARG)?
                && !arg.parse::<f64>().is_ok_and(|r| (0.0..=1.0).contains(&r))
            {
                return Err(UsageError::invalid(
                    ENV_SAMPLER_ARG,
                    arg,
                    "a ratio between 0.0 and 1.0",
                ));
            }
        }
        let mut endpoint = None;
        for key in [ENV_TRACES_ENDPOINT, ENV_ENDPOINT] {
            if let Some(url) = get(key)? {
                check_endpoint(key, &url)?;
                endpoint = Some(url);
                break;
            }
        }
        Ok(Self {
            disabled,
            endpoint: endpoint.filter(|_| !disabled && !exporter_off),
            service_name_from_env: get(ENV_SERVICE_NAME)?.is_some(),
        })
    }
}

fn check_endpoint(key: &str, url: &str) -> Result<(), UsageError> {
    const EXPECTED: &str = "an http:// or https:// URL such as http://127.0.0.1:4317";
    let uri: tonic::codegen::http::Uri =
        url.parse()
            .map_err(|e: tonic::codegen::http::uri::InvalidUri| {
                UsageError::invalid(key, url, EXPECTED).with_cause(e.to_string())
            })?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(UsageError::invalid(key, url, EXPECTED)),
    }
}

/// Failure to install telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP span exporter could not be built from the configuration.
    #[error("building the OTLP span exporter")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// A global tracing subscriber was already installed in this process.
    #[error("installing the tracing subscriber")]
    Subscriber(#[source] tracing_subscriber::util::TryInitError),
    /// The log filter did not parse (it is checked earlier, so this is a bug).
    #[error("parsing the log filter")]
    Filter(#[source] tracing_subscriber::filter::ParseError),
}

/// Installed telemetry; flush it with [`Telemetry::shutdown`] before the process exits.
#[derive(Debug)]
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans leave the process.
    pub(crate) fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes and stops the span exporter, waiting at most `timeout`.
    pub(crate) async fn shutdown(self, timeout: Duration) {
        let Some(provider) = self.provider else {
            return;
        };
        let flush = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout));
        match tokio::time::timeout(timeout, flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "flushing spans failed"),
            Ok(Err(error)) => tracing::warn!(%error, "span flush task failed"),
            Err(_) => tracing::warn!(?timeout, "flushing spans timed out"),
        }
    }
}

/// Installs the global tracing subscriber, tracer provider and propagator.
///
/// Must run inside the Tokio runtime: the gRPC exporter spawns its connection there.
pub(crate) fn init(
    service: &'static str,
    version: &'static str,
    format: LogFormat,
    filter: &str,
    config: &TelemetryConfig,
) -> Result<Telemetry, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::builder()
        .parse(filter)
        .map_err(TelemetryError::Filter)?;

    let provider = if config.disabled {
        None
    } else {
        let mut builder =
            SdkTracerProvider::builder().with_resource(resource(service, version, config));
        if let Some(endpoint) = &config.endpoint {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(TelemetryError::Exporter)?;
            builder = builder.with_batch_exporter(exporter);
        }
        let provider = builder.build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        Some(provider)
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            .with_threads(false)
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
    });
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .boxed()
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(json)
        .with(text)
        .try_init()
        .map_err(TelemetryError::Subscriber)?;
    Ok(Telemetry {
        provider: provider.filter(|_| config.endpoint.is_some()),
    })
}

fn resource(service: &'static str, version: &'static str, config: &TelemetryConfig) -> Resource {
    let mut builder = Resource::builder();
    let named_by_attributes = Resource::builder()
        .build()
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    if !config.service_name_from_env && !named_by_attributes {
        builder = builder.with_service_name(service);
    }
    builder
        .with_attribute(KeyValue::new("service.version", version))
        .build()
}

/// One JSON object per event, carrying the OpenTelemetry `trace_id` and `span_id`.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());

        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        if let Some(message) = fields.remove("message") {
            line.insert("message".into(), message);
        }

        let mut leaf = None;
        if let Some(scope) = ctx.event_scope() {
            let mut spans = Vec::new();
            for span in scope.from_root() {
                let mut entry = Map::new();
                entry.insert("name".into(), span.name().into());
                if let Some(formatted) = span.extensions().get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str(formatted.as_str())
                {
                    entry.extend(map);
                }
                spans.push(Value::Object(entry));
                leaf = Some(span.id());
            }
            if let Some(Value::Object(current)) = spans.last() {
                line.insert("span".into(), Value::Object(current.clone()));
            }
            line.insert("spans".into(), Value::Array(spans));
        }
        if let Some(id) = leaf {
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            if let Some(cx) = tracing_opentelemetry::get_otel_context(&id, &dispatch) {
                let span = cx.span();
                let sc = span.span_context();
                if sc.is_valid() {
                    line.insert("trace_id".into(), sc.trace_id().to_string().into());
                    line.insert("span_id".into(), sc.span_id().to_string().into());
                }
            }
        }
        for (key, value) in fields {
            line.entry(key).or_insert(value);
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Records event fields into a JSON map.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(
            field.name().into(),
            crate::config::error_chain(value).into(),
        );
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn no_endpoint_means_no_export() {
        let config = TelemetryConfig::from_env(&env_of(&[])).expect("empty env is valid");
        assert_eq!(config.endpoint, None);
        assert!(!config.disabled);
    }

    #[test]
    fn traces_endpoint_wins_over_generic() {
        let config = TelemetryConfig::from_env(&env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4317"),
        ]))
        .expect("valid");
        assert_eq!(config.endpoint.as_deref(), Some("http://b:4317"));
    }

    #[test]
    fn disabled_sdk_drops_the_endpoint() {
        let config = TelemetryConfig::from_env(&env_of(&[
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
        ]))
        .expect("valid");
        assert!(config.disabled);
        assert_eq!(config.endpoint, None);
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (key, value) in [
            ("OTEL_SDK_DISABLED", "maybe"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x:1"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_EXPORTER", "jaeger"),
        ] {
            let err = TelemetryConfig::from_env(&env_of(&[(key, value)])).expect_err(key);
            assert_eq!(err.name(), key);
        }
        let err = TelemetryConfig::from_env(&env_of(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]))
        .expect_err("ratio out of range");
        assert_eq!(err.name(), "OTEL_TRACES_SAMPLER_ARG");
    }
}
