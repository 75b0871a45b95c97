//! Prometheus metrics: the shared registry, process and runtime collectors, readiness gauges.

use std::{fmt, sync::Arc, time::SystemTime};

use parking_lot::RwLock;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
        info::Info,
    },
    registry::{Metric, Registry},
};

use crate::readiness::{Dependency, Readiness};

/// Prefix of every metric a service registers through [`Metrics::register`].
pub const SERVICE_PREFIX: &str = "ferry";

/// Labels of the connection failure counter.
type DependencyLabels = Vec<(&'static str, &'static str)>;

/// The process-wide metrics registry, served on `/metrics`.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<RwLock<Registry>>,
    connect_failures: Family<DependencyLabels, Counter>,
}

impl Metrics {
    /// A registry with build info, readiness, process and Tokio runtime metrics.
    pub(crate) fn new(
        service: &'static str,
        version: &'static str,
        readiness: Readiness,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let mut registry = Registry::default();
        let connect_failures = Family::<DependencyLabels, Counter>::default();
        {
            let ferry = registry.sub_registry_with_prefix(SERVICE_PREFIX);
            ferry.register(
                "build",
                "Build information of this service",
                Info::new(vec![("service", service), ("version", version)]),
            );
            ferry.register(
                "connect_failures",
                "Failed attempts to reach a dependency (nats or kubernetes)",
                connect_failures.clone(),
            );
        }
        registry.register_collector(Box::new(ReadinessCollector(readiness)));
        registry.register_collector(Box::new(ProcessCollector {
            started: SystemTime::now(),
        }));
        registry.register_collector(Box::new(RuntimeCollector(runtime)));
        Self {
            registry: Arc::new(RwLock::new(registry)),
            connect_failures,
        }
    }

    /// Registers a service metric as `ferry_<name>` (counters also get `_total`).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .write()
            .sub_registry_with_prefix(SERVICE_PREFIX)
            .register(name, help, metric);
    }

    /// Registers a collector that produces its metrics (with their full names) at scrape time.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry.write().register_collector(collector);
    }

    /// Counts one failed attempt to reach `dep`.
    pub(crate) fn connect_failed(&self, dep: Dependency) {
        self.connect_failures
            .get_or_create(&vec![("dependency", dep.name())])
            .inc();
    }

    /// Renders every metric in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry.read())?;
        Ok(out)
    }
}

/// `ferry_ready{dependency}`: 1 while a dependency answers; `dependency="service"` is overall.
#[derive(Debug)]
struct ReadinessCollector(Readiness);

impl Collector for ReadinessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let status = self.0.status();
        let mut metric = encoder.encode_descriptor(
            "ferry_ready",
            "Whether a dependency answers (1) or not (0); dependency=\"service\" is overall readiness",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for dep in Dependency::ALL {
            let value = i64::from(status.check(dep).ready);
            ConstGauge::new(value).encode(metric.encode_family(&[("dependency", dep.name())])?)?;
        }
        ConstGauge::new(i64::from(status.is_ready()))
            .encode(metric.encode_family(&[("dependency", "service")])?)
    }
}

/// Standard `process_*` metrics read from `/proc/self` (Linux; absent elsewhere).
#[derive(Debug)]
struct ProcessCollector {
    started: SystemTime,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        use prometheus_client::metrics::MetricType::{Counter as C, Gauge as G};
        let start = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        ConstGauge::new(start).encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            None,
            G,
        )?)?;
        let Some(stat) = ProcStat::read() else {
            return Ok(());
        };
        ConstCounter::new(stat.cpu_seconds).encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            C,
        )?)?;
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                stat.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                stat.virtual_bytes,
            ),
            ("process_threads", "Number of OS threads", stat.threads),
            (
                "process_open_fds",
                "Number of open file descriptors",
                stat.open_fds,
            ),
        ] {
            ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, G)?)?;
        }
        Ok(())
    }
}

/// Values from `/proc/self/stat`, `/proc/self/status` and `/proc/self/fd`.
struct ProcStat {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    threads: u64,
    open_fds: u64,
}

impl ProcStat {
    /// Clock ticks per second of `/proc` CPU times (`USER_HZ`, fixed by the Linux ABI).
    const USER_HZ: f64 = 100.0;

    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesised command name, which may itself contain spaces.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state), so field N is at index N - 3.
        let ticks = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let cpu_seconds = (ticks(14)? + ticks(15)?) as f64 / Self::USER_HZ;
        let threads = ticks(20)?;
        let virtual_bytes = ticks(23)?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let resident_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(Self {
            cpu_seconds,
            resident_bytes: resident_kib * 1024,
            virtual_bytes,
            threads,
            open_fds,
        })
    }
}

/// `tokio_*` gauges from the runtime's stable metrics.
#[derive(Debug)]
struct RuntimeCollector(tokio::runtime::Handle);

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        use prometheus_client::metrics::MetricType::Gauge as G;
        let m = self.0.metrics();
        for (name, help, value) in [
            (
                "tokio_workers",
                "Worker threads of the Tokio runtime",
                m.num_workers(),
            ),
            (
                "tokio_alive_tasks",
                "Tasks alive in the Tokio runtime",
                m.num_alive_tasks(),
            ),
            (
                "tokio_global_queue_depth",
                "Tasks waiting in the Tokio runtime's global queue",
                m.global_queue_depth(),
            ),
        ] {
            ConstGauge::new(value as i64)
                .encode(encoder.encode_descriptor(name, help, None, G)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn encodes_core_and_service_metrics() {
        let readiness = Readiness::new();
        readiness.set(Dependency::Nats, true, "connected");
        let metrics = Metrics::new(
            "test-svc",
            "0.0.0",
            readiness,
            tokio::runtime::Handle::current(),
        );
        let counter = Counter::<u64>::default();
        metrics.register("widgets", "Widgets made", counter.clone());
        counter.inc();
        metrics.connect_failed(Dependency::Kubernetes);
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains(r#"ferry_build_info{service="test-svc",version="0.0.0"} 1"#),
            "{text}"
        );
        assert!(text.contains("ferry_widgets_total 1"), "{text}");
        assert!(
            text.contains(r#"ferry_ready{dependency="nats"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ferry_ready{dependency="service"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ferry_connect_failures_total{dependency="kubernetes"} 1"#),
            "{text}"
        );
        assert!(text.contains("tokio_workers"), "{text}");
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_resident_memory_bytes"), "{text}");
            assert!(text.contains("process_cpu_seconds_total"), "{text}");
        }
    }
}
