//! What `preheat run` tells people: a log line per decision (via `tracing`), Prometheus text on
//! `/metrics`, a `/healthz` that turns 503 when the last observation failed, and the process's
//! own RSS and CPU time (for `/metrics` and `preheat footprint`).
//!
//! The HTTP side is a deliberately tiny HTTP/1.1 responder on a tokio `TcpListener` (two GET
//! routes, one request per connection, bounded reads): it keeps hyper's server and axum out of
//! the build. It decides nothing; it only records what the loop and the core report.

use crate::core::attainment::AttainmentEstimator;
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
    /// Workers the in-flight messages keep busy beyond the protected tasks (workers that
    /// protect late or not at all), when both were read.
    pub unprotected_busy: Option<u32>,
    /// Since when in-flight has stayed above protected, and whether that was warned about.
    pub unprotected_since_s: Option<f64>,
    pub unprotected_warned: bool,
    /// When the last observation with every read a scale-in needs was made (loop clock,
    /// Unix seconds in `preheat run`).
    pub last_good_observation_s: Option<f64>,
    /// Whether this controller holds the service's writer lease (`None` = no lease table).
    pub lease_held: Option<bool>,
    /// Whether Application Auto Scaling owns desiredCount too (the periodic re-check).
    pub second_owner: Option<bool>,
    /// Whether the last decision said the SLO is out of reach under max_tasks or the budget,
    /// and by how many workers (`None` before the first decision).
    pub slo_unreachable: Option<bool>,
    pub slo_shortfall_workers: Option<u32>,
    pub slo_unreachable_ticks: u64,
    /// At a strict SLO: the idle pool's size and whether a learned pool can meet the SLO.
    pub idle_pool_tasks: Option<u32>,
    pub slo_reachable_by_learning: Option<bool>,
    /// The SLO's target share, and preheat's estimate of the share reached, from the SQS
    /// counts and CloudWatch sums alone: over the last hour and since start.
    pub slo_target: Option<f64>,
    pub attainment_estimate_window: Option<f64>,
    pub attainment_estimate_since_start: Option<f64>,
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
                slo_target: Some(s.slo.attainment),
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

/// APIs whose last call was denied (AccessDenied): the role lacks a permission.
pub fn denied_apis() -> Vec<&'static str> {
    crate::aws::stats::denied_now()
}

fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Prometheus text exposition format 0.0.4, ages measured from the wall clock.
pub fn encode(m: &Metrics) -> String {
    encode_at(m, unix_now_s())
}

/// Prometheus text with ages measured at `now_s`.
pub fn encode_at(m: &Metrics, now_s: f64) -> String {
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
    family(
        "preheat_unprotected_busy_workers",
        "gauge",
        "Workers holding an in-flight message beyond those with task scale-in protection: \
         workers that protect late or never (ECS stops unprotected tasks on a scale-in).",
        gauge(&|s| s.unprotected_busy.map(f64::from)),
    );
    family(
        "preheat_last_good_observation_age_seconds",
        "gauge",
        "Seconds since the last observation with every read a scale-in needs.",
        gauge(&|s| s.last_good_observation_s.map(|t| (now_s - t).max(0.0))),
    );
    family(
        "preheat_lease_held",
        "gauge",
        "1 when this controller holds the service's writer lease (only the holder writes).",
        gauge(&|s| s.lease_held.map(|h| if h { 1.0 } else { 0.0 })),
    );
    family(
        "preheat_second_owner",
        "gauge",
        "1 when Application Auto Scaling has an active scalable target on the service too.",
        gauge(&|s| s.second_owner.map(|h| if h { 1.0 } else { 0.0 })),
    );
    family(
        "preheat_slo_unreachable",
        "gauge",
        "1 when the last decision found the SLO out of reach: preheat's sizing for it needs \
         more workers than max_tasks or the hourly budget allow (the reason text has the figures).",
        gauge(&|s| s.slo_unreachable.map(|u| if u { 1.0 } else { 0.0 })),
    );
    family(
        "preheat_slo_shortfall_workers",
        "gauge",
        "Workers the SLO needs beyond what max_tasks or the budget allow, at the last decision.",
        gauge(&|s| s.slo_shortfall_workers.map(f64::from)),
    );
    family(
        "preheat_slo_unreachable_ticks_total",
        "counter",
        "Decisions that found the SLO out of reach under max_tasks or the budget.",
        gauge(&|s| s.slo_unreachable.map(|_| s.slo_unreachable_ticks as f64)),
    );
    family(
        "preheat_idle_pool_tasks",
        "gauge",
        "At a strict SLO: idle workers kept beside the busy ones for the demand rises a launch \
         cannot meet in time, sized to the week's budget of misses.",
        gauge(&|s| s.idle_pool_tasks.map(f64::from)),
    );
    family(
        "preheat_slo_reachable_by_learning",
        "gauge",
        "At a strict SLO: 0 when the week's demand rises past the highest seen before them alone \
         overspend the SLO's budget of misses, so no pool learned from history meets it.",
        gauge(&|s| {
            s.slo_reachable_by_learning
                .map(|r| if r { 1.0 } else { 0.0 })
        }),
    );
    family(
        "preheat_slo_attainment_target",
        "gauge",
        "The configured share of jobs that should start within the SLO wait.",
        gauge(&|s| s.slo_target),
    );
    let mut estimates = Vec::new();
    for s in &m.services {
        for (window, v) in [
            ("1h", s.attainment_estimate_window),
            ("since_start", s.attainment_estimate_since_start),
        ] {
            if let Some(v) = v {
                estimates.push((format!("{},window=\"{window}\"", label(s)), v));
            }
        }
    }
    family(
        "preheat_attainment_estimate",
        "gauge",
        "Share of jobs estimated to have started within the SLO wait, from the SQS counts and \
         CloudWatch minute sums alone (docs/attainment.md); verdicts come minutes late.",
        estimates,
    );
    let api_stats = crate::aws::stats::snapshot();
    let per_api = |f: &dyn Fn(&crate::aws::stats::ApiCount) -> u64| -> Vec<(String, f64)> {
        api_stats
            .iter()
            .map(|(api, c)| (format!("api=\"{}\"", escape(api)), f(c) as f64))
            .collect()
    };
    family(
        "preheat_aws_calls_total",
        "counter",
        "AWS API calls made, by API (each page of a list is one call).",
        per_api(&|c| c.calls),
    );
    family(
        "preheat_aws_errors_total",
        "counter",
        "AWS API calls that failed, by API (throttles and denials included).",
        per_api(&|c| c.errors),
    );
    family(
        "preheat_aws_throttles_total",
        "counter",
        "AWS API calls throttled or answered 5xx, by API (after the SDK's retries).",
        per_api(&|c| c.throttles),
    );
    family(
        "preheat_aws_access_denied_total",
        "counter",
        "AWS API calls denied for lack of an IAM permission, by API.",
        per_api(&|c| c.access_denied),
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

/// How long in-flight messages may exceed protected tasks before preheat warns: a worker
/// between ReceiveMessage and its protection call is normal for a moment, not for minutes.
pub const UNPROTECTED_WARN_AFTER_S: f64 = 300.0;

/// Track in-flight workers above protected ones; true when it has lasted long enough to warn
/// (once per episode).
fn note_unprotected(g: &mut ServiceGauges, excess: Option<u32>, now_s: f64) -> bool {
    g.unprotected_busy = excess;
    match excess {
        Some(n) if n > 0 => {
            let since = *g.unprotected_since_s.get_or_insert(now_s);
            if !g.unprotected_warned && now_s - since >= UNPROTECTED_WARN_AFTER_S {
                g.unprotected_warned = true;
                return true;
            }
            false
        }
        Some(_) => {
            g.unprotected_since_s = None;
            g.unprotected_warned = false;
            false
        }
        None => false,
    }
}

/// Logs every decision with its reason and keeps the gauges current.
pub struct TelemetryObserver {
    metrics: SharedMetrics,
    services: Vec<ServiceConfig>,
    /// Print a CloudWatch EMF line per service per tick on stdout (`emf.rs`).
    emf: bool,
    /// Apply errors already reported in EMF lines, per service.
    emf_apply_errors: Vec<u64>,
    /// Each service's observable attainment estimate, fed every observation.
    estimators: Vec<AttainmentEstimator>,
}

impl TelemetryObserver {
    pub fn new(metrics: SharedMetrics, services: Vec<ServiceConfig>) -> Self {
        let n = services.len();
        let estimators = services
            .iter()
            .map(|s| AttainmentEstimator::new(s.slo.max_wait_s, s.estimates.service_s))
            .collect();
        TelemetryObserver {
            metrics,
            services,
            emf: false,
            emf_apply_errors: vec![0; n],
            estimators,
        }
    }

    /// Also print CloudWatch Embedded Metric Format lines (stdout).
    pub fn with_emf(mut self, on: bool) -> Self {
        self.emf = on;
        self
    }
}

fn lock(m: &SharedMetrics) -> std::sync::MutexGuard<'_, Metrics> {
    // A panic elsewhere while holding the lock leaves plain numbers behind; keep serving them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LoopObserver for TelemetryObserver {
    fn on_decision(&mut self, i: usize, now_s: f64, obs: &Observation, d: &Decision) {
        let cfg = &self.services[i];
        let decided = d.actions.iter().find_map(|a| match a {
            Action::SetDesired { desired, .. } => Some(*desired),
            _ => None,
        });
        let observed = obs.service.map(|s| s.desired);
        let ok = obs.complete_for_scale_in();
        let actions: Vec<String> = d.actions.iter().map(ToString::to_string).collect();
        // Option fields are recorded as numbers when known and left out when not (a JSON log
        // line never says "Some(3)").
        tracing::info!(
            service = %cfg.name,
            visible = obs.queue.map(|q| q.visible),
            in_flight = obs.queue.map(|q| q.in_flight),
            desired = observed,
            running = obs.service.map(|s| s.running),
            decided = decided.or(observed),
            actions = ?actions,
            reason = %d.why,
            "decision"
        );
        let est = &mut self.estimators[i];
        est.observe(obs, now_s);
        let mut m = lock(&self.metrics);
        let g = &mut m.services[i];
        // Once per episode: the reason text on every decision line carries the figures.
        if let Some(u) = d.unreachable
            && g.slo_unreachable != Some(true)
        {
            tracing::warn!(
                service = %cfg.name,
                need = u.need_tasks,
                limit = u.limit_tasks,
                "{}; raise the cap or expect to miss the SLO",
                crate::core::unreachable::describe(cfg, &u)
            );
        }
        if let Some(p) = d.idle_pool
            && !p.reachable_by_learning
            && g.slo_reachable_by_learning != Some(false)
        {
            tracing::warn!(
                service = %cfg.name,
                "this week's demand rises past the highest seen before them overspend the SLO's budget of misses: no pool learned from history meets it; raise min_tasks (or a schedule floor) to the flurries' size, or relax the SLO"
            );
        }
        g.idle_pool_tasks = d.idle_pool.map(|p| p.idle_tasks);
        g.slo_reachable_by_learning = d.idle_pool.map(|p| p.reachable_by_learning);
        g.slo_unreachable = Some(d.unreachable.is_some());
        g.slo_shortfall_workers = Some(d.unreachable.map_or(0, |u| u.workers()));
        g.slo_unreachable_ticks += u64::from(d.unreachable.is_some());
        g.attainment_estimate_window = est.last_window();
        g.attainment_estimate_since_start = est.since_start();
        let excess = match (
            obs.protected_tasks(),
            obs.in_flight_tasks(cfg.jobs_per_task),
        ) {
            (Some(p), Some(f)) if cfg.worker_protection => Some(f.saturating_sub(p)),
            _ => None,
        };
        if note_unprotected(g, excess, now_s) {
            tracing::warn!(
                service = %cfg.name,
                unprotected_busy = excess,
                for_s = UNPROTECTED_WARN_AFTER_S,
                "in-flight messages have exceeded protected tasks for minutes: workers do not \
                 set task scale-in protection (or set it late); preheat keeps them by the \
                 in-flight count, but ECS may stop an unprotected busy task when the service \
                 shrinks. Call UpdateTaskProtection right after ReceiveMessage (deploy/worker_protection.py)"
            );
        }
        g.visible = obs.queue.map(|q| q.visible);
        g.in_flight = obs.queue.map(|q| q.in_flight);
        g.delayed = obs.queue.map(|q| q.delayed);
        g.desired_observed = observed;
        g.running = obs.service.map(|s| s.running);
        g.decided = decided.or(observed);
        g.observation_ok = ok;
        if ok {
            g.last_good_observation_s = Some(now_s);
        }
        let instances = obs.instances.map(|c| c.total).or_else(|| {
            obs.service
                .map(|s| s.running.div_ceil(cfg.tasks_per_instance.max(1)))
        });
        g.cost_per_hour_usd = instances.map(|n| f64::from(n) * cfg.price.per_hour_usd());
        *g.decisions.entry(d.why.code).or_default() += 1;
        if self.emf {
            let errors = g.apply_errors - self.emf_apply_errors[i];
            self.emf_apply_errors[i] = g.apply_errors;
            println!(
                "{}",
                crate::emf::line(g, now_s, errors, crate::aws::stats::denied_now().len())
            );
        }
        if i + 1 == m.services.len() {
            m.ticks += 1;
        }
    }

    fn on_apply_error(&mut self, i: usize, _now_s: f64, e: &ApplyError) {
        if let ApplyError::Denied { api, .. } = e {
            tracing::error!(service = %self.services[i].name, api = %api, error = %e,
                "AccessDenied: apply failed; fix the role, waiting will not help");
        } else {
            tracing::warn!(service = %self.services[i].name, error = %e, "apply failed; backing off");
        }
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
    fn prime(&mut self, history: &[crate::core::job::Job], now_s: f64) {
        self.inner.prime(history, now_s);
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
            let denied = denied_apis();
            if !denied.is_empty() {
                let body = format!(
                    "AccessDenied on {}: preheat's role lacks these permissions; it holds and \
                     will not scale in until they are granted\n",
                    denied.join(", ")
                );
                respond(&mut stream, 503, "text/plain", &body).await
            } else if ticks == 0 {
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

/// The anonymous part of the resident set (`RssAnon`: heap, stacks), in bytes; Linux only. The
/// rest is file-backed, mostly the executable's mapped pages, which the kernel may map in
/// large blocks whether or not the code in them runs, and which every process of the same
/// binary shares.
pub fn resident_anon_bytes() -> Option<u64> {
    proc_status_kib("RssAnon:").map(|k| k * 1024)
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
    let (user, sys) = cpu_user_sys_seconds();
    user + sys
}

/// User and system CPU time of this process so far, apart, in seconds (0 if unknown).
pub fn cpu_user_sys_seconds() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass; zeroed is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a live rusage; RUSAGE_SELF is always accepted.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime), tv(ru.ru_stime))
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
            unreachable: None,
            idle_pool: None,
        };
        o.on_decision(0, 0.0, &obs, &d);
        assert!(
            encode(&m.lock().unwrap()).contains("preheat_slo_unreachable{service=\"whisper\"} 0")
        );
        let short = Decision {
            unreachable: Some(crate::core::model::Shortfall {
                need_tasks: 14,
                need_at_least: false,
                limit_tasks: 8,
                cap: crate::core::model::CapKind::MaxTasks,
            }),
            ..d.clone()
        };
        o.on_decision(0, 0.0, &obs, &short);
        assert!(
            !encode(&m.lock().unwrap()).contains("preheat_idle_pool_tasks{"),
            "no pool gauge without a strict SLO's pool"
        );
        let pooled = Decision {
            idle_pool: Some(crate::core::model::IdlePool {
                idle_tasks: 0,
                reachable_by_learning: false,
            }),
            ..short.clone()
        };
        o.on_decision(0, 0.0, &obs, &pooled);
        let guard = m.lock().unwrap();
        let text = encode(&guard);
        assert!(healthy(&guard));
        assert!(text.contains("preheat_queue_messages{service=\"whisper\",state=\"visible\"} 5"));
        assert!(text.contains("preheat_decided_tasks{service=\"whisper\"} 3"));
        assert!(text.contains("preheat_decisions_total{service=\"whisper\",reason=\"backlog\"} 3"));
        assert!(text.contains("preheat_ticks_total 3"));
        assert!(text.contains("preheat_slo_unreachable{service=\"whisper\"} 1"));
        assert!(text.contains("preheat_slo_shortfall_workers{service=\"whisper\"} 6"));
        assert!(text.contains("preheat_slo_unreachable_ticks_total{service=\"whisper\"} 2"));
        assert!(text.contains("preheat_idle_pool_tasks{service=\"whisper\"} 0"));
        assert!(text.contains("preheat_slo_reachable_by_learning{service=\"whisper\"} 0"));
        assert!(text.contains("preheat_slo_attainment_target{service=\"whisper\"} 0.95"));
        let aged = encode_at(&guard, 7.5);
        assert!(
            aged.contains("preheat_last_good_observation_age_seconds{service=\"whisper\"} 7.5"),
            "{aged}"
        );
        assert!(text.contains("preheat_cost_usd_per_hour{service=\"whisper\"} 0.901"));
        drop(guard);
        o.on_decision(0, 1.0, &Observation::default(), &d);
        assert!(
            !healthy(&m.lock().unwrap()),
            "a failed read makes /healthz 503"
        );
    }

    /// The estimate reaches /metrics: one job that waits 19 minutes against a 10-minute SLO,
    /// read as production would (counts every 15 s, minute sums published 2 minutes late),
    /// is judged a miss in both windows.
    #[test]
    fn attainment_estimate_is_exported_per_window() {
        use crate::core::model::{MinuteSums, QueueMetrics};
        let services = vec![cfg()];
        let m = new_metrics(&services, true);
        let mut o = TelemetryObserver::new(m.clone(), services);
        let (arrival_s, start_s, end_s) = (70.0, 1200.0, 1500.0);
        let d = Decision {
            actions: vec![],
            why: Reason::new(ReasonCode::Steady, "watch"),
            wake_at_s: 0.0,
            unreachable: None,
            idle_pool: None,
        };
        let mut t = 0.0;
        while t <= 2400.0 {
            let seen = t - crate::core::attainment::COUNT_LAG_S;
            let minutes = (0..)
                .map(|k: i64| k * 60)
                .take_while(|&m| m as f64 + 180.0 <= t)
                .map(|m| {
                    let inside = |x: f64| x >= m as f64 && x < m as f64 + 60.0;
                    MinuteSums {
                        minute_start_s: m,
                        sent: u64::from(inside(arrival_s)),
                        deleted: u64::from(inside(end_s)),
                    }
                })
                .collect();
            let obs = Observation {
                queue: Some(QueueDepth {
                    visible: u64::from(seen >= arrival_s && seen < start_s),
                    in_flight: u64::from(seen >= start_s && seen < end_s),
                    delayed: 0,
                }),
                metrics: Some(QueueMetrics { minutes }),
                ..Observation::default()
            };
            o.on_decision(0, t, &obs, &d);
            t += 15.0;
        }
        let text = encode(&m.lock().unwrap());
        for window in ["1h", "since_start"] {
            let line = format!(
                "preheat_attainment_estimate{{service=\"whisper\",window=\"{window}\"}} 0\n"
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
    }

    /// Workers that never protect: in-flight stays above protected; the gauge shows it at
    /// once and the warning comes once, after UNPROTECTED_WARN_AFTER_S, and re-arms when the
    /// gap closes.
    #[test]
    fn in_flight_above_protected_is_a_gauge_then_one_warning() {
        let mut g = ServiceGauges::default();
        assert!(!note_unprotected(&mut g, Some(2), 0.0));
        assert_eq!(g.unprotected_busy, Some(2));
        assert!(!note_unprotected(
            &mut g,
            Some(1),
            UNPROTECTED_WARN_AFTER_S - 1.0
        ));
        assert!(note_unprotected(&mut g, Some(1), UNPROTECTED_WARN_AFTER_S));
        assert!(!note_unprotected(
            &mut g,
            Some(1),
            2.0 * UNPROTECTED_WARN_AFTER_S
        ));
        assert!(!note_unprotected(&mut g, Some(0), 1000.0));
        assert!(!note_unprotected(&mut g, Some(3), 1001.0));
        assert!(note_unprotected(
            &mut g,
            Some(3),
            1001.0 + UNPROTECTED_WARN_AFTER_S
        ));
        let m = Metrics {
            services: vec![g],
            ..Metrics::default()
        };
        assert!(encode(&m).contains("preheat_unprotected_busy_workers{service=\"\"} 3"));
    }

    /// The parser picks the named line's number, not a prefix match on another key, and
    /// refuses a line without a number.
    #[test]
    fn status_lines_are_parsed_by_key() {
        let text = "Name:\tpreheat\nVmHWM:\t  20480 kB\nVmRSS:\t   4096 kB\nRssAnon:\t 1024 kB\nVmSwap:\tx kB\n";
        assert_eq!(status_kib(text, "VmRSS:"), Some(4096));
        assert_eq!(status_kib(text, "RssAnon:"), Some(1024));
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
