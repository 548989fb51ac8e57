//! What `preheat run` tells people: a log line per decision (via `tracing`), Prometheus text on
//! `/metrics`, a `/healthz` that turns 503 when the last observation failed, and the process's
//! own RSS and CPU time (for `/metrics` and `preheat footprint`).
//!
//! The HTTP side is a deliberately tiny HTTP/1.1 responder on a tokio `TcpListener` (two GET
//! routes, one request per connection, bounded reads): it keeps hyper's server and axum out of
//! the build. It decides nothing; it only records what the loop and the core report.

use crate::core::config::ServiceConfig;
use crate::core::decide::Preheat;
use crate::core::model::{Action, Decision, Observation, Policy, ReasonCode};
use crate::reconcile::LoopObserver;
use crate::world::ApplyError;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Latest figures of one service.
#[derive(Debug, Clone, Default)]
pub struct ServiceGauges {
    pub name: String,
    pub visible: Option<u64>,
    pub in_flight: Option<u64>,
    pub delayed: Option<u64>,
    pub desired_observed: Option<u32>,
    pub running: Option<u32>,
    pub decided: Option<u32>,
    pub cold_lag_s: Option<f64>,
    pub warm_lag_s: Option<f64>,
    pub cost_per_hour_usd: Option<f64>,
    pub observation_ok: bool,
    pub decisions: BTreeMap<ReasonCode, u64>,
    pub apply_errors: u64,
}

/// Everything `/metrics` and `/healthz` show; shared between the loop and the HTTP server.
#[derive(Debug, Default)]
pub struct Metrics {
    pub services: Vec<ServiceGauges>,
    pub ticks: u64,
    pub dry_run: bool,
}

pub type SharedMetrics = Arc<Mutex<Metrics>>;

pub fn new_metrics(services: &[ServiceConfig], dry_run: bool) -> SharedMetrics {
    Arc::new(Mutex::new(Metrics {
        services: services
            .iter()
            .map(|s| ServiceGauges {
                name: s.name.clone(),
                ..ServiceGauges::default()
            })
            .collect(),
        ticks: 0,
        dry_run,
    }))
}

/// Healthy = every service's last observation had the reads a scale-in needs.
pub fn healthy(m: &Metrics) -> bool {
    m.services.iter().all(|s| s.observation_ok)
}

/// Prometheus text exposition format 0.0.4.
pub fn encode(m: &Metrics) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    };
    let label = |s: &ServiceGauges| format!("service=\"{}\"", escape(&s.name));
    let gauge = |f: &dyn Fn(&ServiceGauges) -> Option<f64>| -> Vec<(String, f64)> {
        m.services
            .iter()
            .filter_map(|s| f(s).map(|v| (label(s), v)))
            .collect()
    };
    let mut depth = Vec::new();
    for s in &m.services {
        for (state, v) in [
            ("visible", s.visible),
            ("in_flight", s.in_flight),
            ("delayed", s.delayed),
        ] {
            if let Some(v) = v {
                depth.push((format!("{},state=\"{state}\"", label(s)), v as f64));
            }
        }
    }
    family(
        "preheat_queue_messages",
        "gauge",
        "SQS approximate message counts at the last observation.",
        depth,
    );
    family(
        "preheat_desired_tasks",
        "gauge",
        "ECS desiredCount at the last observation.",
        gauge(&|s| s.desired_observed.map(f64::from)),
    );
    family(
        "preheat_running_tasks",
        "gauge",
        "ECS runningCount at the last observation.",
        gauge(&|s| s.running.map(f64::from)),
    );
    family(
        "preheat_decided_tasks",
        "gauge",
        "Desired count preheat decided at the last tick.",
        gauge(&|s| s.decided.map(f64::from)),
    );
    family(
        "preheat_cold_start_lag_seconds",
        "gauge",
        "Learned cold-start lag (task createdAt to startedAt on a new instance).",
        gauge(&|s| s.cold_lag_s),
    );
    family(
        "preheat_warm_start_lag_seconds",
        "gauge",
        "Learned warm-start lag (task on an instance that was already there).",
        gauge(&|s| s.warm_lag_s),
    );
    family(
        "preheat_cost_usd_per_hour",
        "gauge",
        "Instances running now times the configured hourly price (EC2 + MI fee).",
        gauge(&|s| s.cost_per_hour_usd),
    );
    family(
        "preheat_observation_ok",
        "gauge",
        "1 when the last observation had every read a scale-in needs.",
        gauge(&|s| Some(if s.observation_ok { 1.0 } else { 0.0 })),
    );
    let mut by_reason = Vec::new();
    for s in &m.services {
        for (code, n) in &s.decisions {
            by_reason.push((
                format!("{},reason=\"{}\"", label(s), code.as_str()),
                *n as f64,
            ));
        }
    }
    family(
        "preheat_decisions_total",
        "counter",
        "Decisions by reason code.",
        by_reason,
    );
    family(
        "preheat_apply_errors_total",
        "counter",
        "Actions that failed to apply (the loop backs off).",
        gauge(&|s| Some(s.apply_errors as f64)),
    );
    family(
        "preheat_ticks_total",
        "counter",
        "Reconcile ticks.",
        vec![(String::new(), m.ticks as f64)],
    );
    family(
        "preheat_dry_run",
        "gauge",
        "1 when running with --dry-run (no writes).",
        vec![(String::new(), if m.dry_run { 1.0 } else { 0.0 })],
    );
    if let Some(rss) = resident_bytes() {
        family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident set size.",
            vec![(String::new(), rss as f64)],
        );
    }
    family(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time.",
        vec![(String::new(), cpu_seconds())],
    );
    // `{}` is not valid for an unlabelled sample; drop empty label sets.
    out.replace("{}", "")
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Logs every decision with its reason and keeps the gauges current.
pub struct TelemetryObserver {
    metrics: SharedMetrics,
    services: Vec<ServiceConfig>,
}

impl TelemetryObserver {
    pub fn new(metrics: SharedMetrics, services: Vec<ServiceConfig>) -> Self {
        TelemetryObserver { metrics, services }
    }
}

fn lock(m: &SharedMetrics) -> std::sync::MutexGuard<'_, Metrics> {
    // A panic elsewhere while holding the lock leaves plain numbers behind; keep serving them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LoopObserver for TelemetryObserver {
    fn on_decision(&mut self, i: usize, _now_s: f64, obs: &Observation, d: &Decision) {
        let cfg = &self.services[i];
        let decided = d.actions.iter().find_map(|a| match a {
            Action::SetDesired { desired, .. } => Some(*desired),
            _ => None,
        });
        let observed = obs.service.map(|s| s.desired);
        let ok = obs.complete_for_scale_in();
        let actions: Vec<String> = d.actions.iter().map(ToString::to_string).collect();
        tracing::info!(
            service = %cfg.name,
            visible = ?obs.queue.map(|q| q.visible),
            in_flight = ?obs.queue.map(|q| q.in_flight),
            desired = ?observed,
            running = ?obs.service.map(|s| s.running),
            decided = ?decided.or(observed),
            actions = ?actions,
            reason = %d.why,
            "decision"
        );
        let mut m = lock(&self.metrics);
        let g = &mut m.services[i];
        g.visible = obs.queue.map(|q| q.visible);
        g.in_flight = obs.queue.map(|q| q.in_flight);
        g.delayed = obs.queue.map(|q| q.delayed);
        g.desired_observed = observed;
        g.running = obs.service.map(|s| s.running);
        g.decided = decided.or(observed);
        g.observation_ok = ok;
        let instances = obs.instances.map(|c| c.total).or_else(|| {
            obs.service
                .map(|s| s.running.div_ceil(cfg.tasks_per_instance.max(1)))
        });
        g.cost_per_hour_usd = instances.map(|n| f64::from(n) * cfg.price.per_hour_usd());
        *g.decisions.entry(d.why.code).or_default() += 1;
        if i + 1 == m.services.len() {
            m.ticks += 1;
        }
    }

    fn on_apply_error(&mut self, i: usize, _now_s: f64, e: &ApplyError) {
        tracing::warn!(service = %self.services[i].name, error = %e, "apply failed; backing off");
        lock(&self.metrics).services[i].apply_errors += 1;
    }
}

/// preheat's policy with its learned lags copied into the metrics after each decision (the
/// core keeps them; this only reads them).
pub struct Instrumented {
    inner: Preheat,
    metrics: SharedMetrics,
    index: usize,
}

impl Instrumented {
    pub fn new(inner: Preheat, metrics: SharedMetrics, index: usize) -> Self {
        Instrumented {
            inner,
            metrics,
            index,
        }
    }
}

impl Policy for Instrumented {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
        let d = self.inner.decide(obs, now_s);
        let mut m = lock(&self.metrics);
        if let Some(g) = m.services.get_mut(self.index) {
            g.cold_lag_s = Some(self.inner.state.lag.cold_plan_s());
            g.warm_lag_s = Some(self.inner.state.lag.warm_plan_s());
        }
        d
    }
    fn restart(&mut self) {
        self.inner.restart();
    }
}

/// Longest a client may take to send its request line and headers.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read; anything longer is refused.
const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Serve `/metrics` and `/healthz` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: SharedMetrics,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(READ_TIMEOUT, handle(stream, metrics)).await;
                });
            }
        }
    }
}

async fn handle(mut stream: tokio::net::TcpStream, metrics: SharedMetrics) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST_BYTES {
            return respond(&mut stream, 431, "text/plain", "request too large\n").await;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, 405, "text/plain", "only GET\n").await;
    }
    match path {
        "/metrics" => {
            let body = encode(&lock(&metrics));
            respond(&mut stream, 200, "text/plain; version=0.0.4", &body).await
        }
        "/healthz" => {
            let (ok, ticks) = {
                let m = lock(&metrics);
                (healthy(&m), m.ticks)
            };
            if ticks == 0 {
                respond(&mut stream, 503, "text/plain", "starting: no tick yet\n").await
            } else if ok {
                respond(&mut stream, 200, "text/plain", "ok\n").await
            } else {
                respond(
                    &mut stream,
                    503,
                    "text/plain",
                    "last observation failed (see the logs); preheat holds and will not scale in\n",
                )
                .await
            }
        }
        _ => respond(&mut stream, 404, "text/plain", "try /metrics or /healthz\n").await,
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Resident set size now (`VmRSS`), in bytes; Linux only.
pub fn resident_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|k| k * 1024)
}

/// Peak resident set size (`VmHWM`), in bytes; Linux only.
pub fn peak_resident_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|k| k * 1024)
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&s, key)
}

/// The kB figure after `key` in a `/proc/<pid>/status` text.
fn status_kib(s: &str, key: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// User + system CPU time of this process so far, in seconds (getrusage, µs resolution).
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass; zeroed is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a live rusage; RUSAGE_SELF is always accepted.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{QueueDepth, Reason, ServiceCounts};

    fn cfg() -> ServiceConfig {
        crate::core::config::Config::parse(crate::core::config::DEFAULT_CONFIG_YAML, "t")
            .unwrap()
            .services
            .remove(0)
    }

    #[test]
    fn metrics_text_has_depth_decision_and_reason() {
        let services = vec![cfg()];
        let m = new_metrics(&services, true);
        let mut o = TelemetryObserver::new(m.clone(), services);
        let obs = Observation {
            queue: Some(QueueDepth {
                visible: 5,
                in_flight: 1,
                delayed: 0,
            }),
            service: Some(ServiceCounts {
                desired: 1,
                running: 1,
                pending: 0,
            }),
            tasks: Some(Vec::new()),
            ..Observation::default()
        };
        let d = Decision {
            actions: vec![Action::SetDesired {
                desired: 3,
                reason: Reason::new(ReasonCode::Backlog, "drain"),
            }],
            why: Reason::new(ReasonCode::Backlog, "drain"),
            wake_at_s: 15.0,
        };
        o.on_decision(0, 0.0, &obs, &d);
        let guard = m.lock().unwrap();
        let text = encode(&guard);
        assert!(healthy(&guard));
        assert!(text.contains("preheat_queue_messages{service=\"whisper\",state=\"visible\"} 5"));
        assert!(text.contains("preheat_decided_tasks{service=\"whisper\"} 3"));
        assert!(text.contains("preheat_decisions_total{service=\"whisper\",reason=\"backlog\"} 1"));
        assert!(text.contains("preheat_ticks_total 1"));
        assert!(text.contains("preheat_cost_usd_per_hour{service=\"whisper\"} 0.901"));
        drop(guard);
        o.on_decision(0, 1.0, &Observation::default(), &d);
        assert!(
            !healthy(&m.lock().unwrap()),
            "a failed read makes /healthz 503"
        );
    }

    /// The parser picks the named line's number, not a prefix match on another key, and
    /// refuses a line without a number.
    #[test]
    fn status_lines_are_parsed_by_key() {
        let text = "Name:\tpreheat\nVmHWM:\t  20480 kB\nVmRSS:\t   4096 kB\nVmSwap:\tx kB\n";
        assert_eq!(status_kib(text, "VmRSS:"), Some(4096));
        assert_eq!(status_kib(text, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(text, "VmSwap:"), None);
        assert_eq!(status_kib(text, "VmData:"), None);
    }

    /// The real reads succeed on Linux (a failed read would be `None` or a 0.0 CPU time) and
    /// agree with each other: the peak read after the current size is at least that size, and
    /// CPU time grows when the process does work.
    #[cfg(target_os = "linux")]
    #[test]
    fn process_figures_are_read_from_the_kernel() {
        let rss = resident_bytes().expect("VmRSS is readable on Linux");
        assert!(
            rss >= 1024 * 1024,
            "a test binary is bigger than 1 MiB: {rss}"
        );
        let peak = peak_resident_bytes().expect("VmHWM is readable on Linux");
        assert!(peak >= rss, "peak {peak} < resident {rss}");
        let before = cpu_seconds();
        let mut x = 0u64;
        // Work until the kernel has charged more CPU time to this process (bounded, so a
        // broken read fails instead of spinning for ever: 20,000 rounds are seconds of work).
        for _ in 0..20_000 {
            if cpu_seconds() > before {
                break;
            }
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
        }
        assert!(cpu_seconds() > before && before >= 0.0, "{x}");
    }
}
