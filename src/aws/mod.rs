//! The AWS edge: builds SDK clients from the standard aws-config chain, maps SDK failures to
//! one `AwsError` enum, and implements `World` over SQS, CloudWatch and ECS (`AwsWorld`).
//!
//! Per service per tick it makes a small, fixed number of read calls (see `sqs.rs`, `ecs.rs`)
//! and turns each failed read into a `None` field of the `Observation`; the core refuses to
//! scale in on `None`. It writes only what the core decided (`UpdateService`, and the
//! read-modify-write `UpdateCapacityProvider`), at most one capacity-provider write per second.
//! It decides nothing itself, does not log decisions (the loop's observer does) and does not
//! retry beyond the SDK's retry policy: the reconcile loop owns back-off between ticks.
//! Dry-run is not here either: `world::DryRun` wraps this world and drops the writes.

pub mod aas;
pub mod cloudwatch;
pub mod ecs;
pub mod fixture;
pub mod sqs;

use crate::core::config::ServiceConfig;
use crate::core::model::{Action, InstanceCounts, Observation, QueueMetrics, TaskInfo, TaskPhase};
use crate::world::{ApplyError, World};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::collections::HashMap;
use std::time::Duration;

/// What went wrong talking to AWS, with the API and the resource named so the message can say
/// what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error(
        "{api}: cannot reach the AWS endpoint ({endpoint}): {message}; check --endpoint-url / \
         AWS_ENDPOINT_URL, the region and the network"
    )]
    Unreachable {
        api: &'static str,
        endpoint: String,
        message: String,
    },
    #[error("{api}: throttled or unavailable ({code}, HTTP {status}): {message}")]
    Throttled {
        api: &'static str,
        code: String,
        status: u16,
        message: String,
    },
    #[error("{what} {name:?} does not exist ({api}: {message}); {fix}")]
    NotFound {
        api: &'static str,
        what: &'static str,
        name: String,
        message: String,
        fix: &'static str,
    },
    #[error("{api} was refused: {code}: {message}")]
    Refused {
        api: &'static str,
        code: String,
        message: String,
    },
    #[error("{api} answered something preheat cannot use: {message}")]
    BadAnswer { api: &'static str, message: String },
}

impl AwsError {
    /// True for failures worth waiting out (throttling, 5xx, network).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AwsError::Throttled { .. } | AwsError::Unreachable { .. }
        )
    }

    fn code(&self) -> Option<&str> {
        match self {
            AwsError::Throttled { code, .. } | AwsError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            AwsError::Throttled { message, .. }
            | AwsError::Refused { message, .. }
            | AwsError::Unreachable { message, .. }
            | AwsError::BadAnswer { message, .. }
            | AwsError::NotFound { message, .. } => message.clone(),
        }
    }

    /// Rename a `Refused` error into `NotFound` when its code says the resource is missing.
    fn not_found_if(
        self,
        codes: &[&str],
        what: &'static str,
        name: &str,
        fix: &'static str,
    ) -> AwsError {
        let hit = self
            .code()
            .is_some_and(|c| codes.iter().any(|k| c.contains(k)));
        if !hit {
            return self;
        }
        let api = match &self {
            AwsError::Refused { api, .. } | AwsError::Throttled { api, .. } => *api,
            _ => "?",
        };
        AwsError::NotFound {
            api,
            what,
            name: name.to_string(),
            message: self.message(),
            fix,
        }
    }
}

impl From<AwsError> for ApplyError {
    fn from(e: AwsError) -> Self {
        let api = match &e {
            AwsError::Unreachable { api, .. }
            | AwsError::Throttled { api, .. }
            | AwsError::NotFound { api, .. }
            | AwsError::Refused { api, .. }
            | AwsError::BadAnswer { api, .. } => (*api).to_string(),
        };
        if e.is_transient() {
            ApplyError::Throttled {
                api,
                message: e.to_string(),
            }
        } else {
            ApplyError::Failed {
                api,
                message: e.to_string(),
            }
        }
    }
}

/// Map any SDK failure to `AwsError`. Every aws-sdk-* crate shares the smithy runtime types, so
/// one function serves SQS, ECS and Application Auto Scaling.
pub(crate) fn classify<E>(
    api: &'static str,
    endpoint: &str,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => AwsError::Unreachable {
            api,
            endpoint: endpoint.to_string(),
            message: DisplayErrorContext(&err).to_string(),
        },
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("UnknownError").to_string();
            let message = ctx.err().message().unwrap_or("").to_string();
            let throttled = code.contains("Throttl")
                || code == "RequestLimitExceeded"
                || status == 429
                || status >= 500;
            if throttled {
                AwsError::Throttled {
                    api,
                    code,
                    status,
                    message,
                }
            } else {
                AwsError::Refused { api, code, message }
            }
        }
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            // A 5xx with an unreadable body (moto's HTML error pages) is still a server
            // failure: wait it out like throttling.
            if status >= 500 {
                AwsError::Throttled {
                    api,
                    code: "ServerError".into(),
                    status,
                    message: DisplayErrorContext(&err).to_string(),
                }
            } else {
                AwsError::BadAnswer {
                    api,
                    message: DisplayErrorContext(&err).to_string(),
                }
            }
        }
        _ => AwsError::BadAnswer {
            api,
            message: DisplayErrorContext(&err).to_string(),
        },
    }
}

/// Where the SDK clients send their calls and how hard they retry.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per call including the first (the SDK's standard retry with jittered back-off
    /// on throttling and 5xx); 0 = SDK default (3).
    pub max_attempts: u32,
}

/// One HTTPS client for every SDK client: rustls with the ring provider, which keeps aws-lc-sys
/// (29 s of build script) out of the build; see TOOLING.md §2. Without an explicit client the
/// SDK fails every call at runtime, so production and tests both come through here.
fn http_client() -> aws_sdk_ecs::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Load the shared SDK config from the standard chain (env, profile, ECS task role, IMDS).
pub async fn load_sdk_config(opts: &AwsOptions) -> SdkConfig {
    let mut retry = RetryConfig::standard();
    if opts.max_attempts > 0 {
        retry = retry.with_max_attempts(opts.max_attempts);
    }
    // Short timeouts: a tick must not hang on a dead endpoint, and shutdown waits for the
    // current tick to end.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &opts.endpoint_url {
        loader = loader.endpoint_url(u.clone());
    }
    loader.load().await
}

/// The SDK clients preheat uses, plus a label for error messages.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub sqs: aws_sdk_sqs::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub aas: aws_sdk_applicationautoscaling::Client,
    pub cw: aws_sdk_cloudwatch::Client,
    /// The endpoint override, or "AWS in REGION" (for messages only).
    pub endpoint: String,
}

impl AwsClients {
    pub fn new(cfg: &SdkConfig) -> Self {
        let endpoint = match (cfg.endpoint_url(), cfg.region()) {
            (Some(u), _) => u.to_string(),
            (None, Some(r)) => format!("AWS in {r}"),
            (None, None) => "AWS, no region set".to_string(),
        };
        AwsClients {
            sqs: aws_sdk_sqs::Client::new(cfg),
            ecs: aws_sdk_ecs::Client::new(cfg),
            aas: aws_sdk_applicationautoscaling::Client::new(cfg),
            cw: aws_sdk_cloudwatch::Client::new(cfg),
            endpoint,
        }
    }
}

/// Capacity-provider writes are throttled at 1/s per account (and every MI update resends the
/// whole launch template), so all services share one limiter.
#[derive(Debug, Default)]
struct CpWriteLimiter {
    last: Option<tokio::time::Instant>,
}

impl CpWriteLimiter {
    const MIN_GAP: Duration = Duration::from_secs(1);

    async fn wait_turn(&mut self) {
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + Self::MIN_GAP).await;
        }
        self.last = Some(tokio::time::Instant::now());
    }
}

/// The real world: SQS and ECS through the SDK.
pub struct AwsWorld {
    clients: AwsClients,
    services: Vec<ServiceConfig>,
    limiter: CpWriteLimiter,
    /// Last `scaleInAfter` read or written per service: writes are skipped when unchanged.
    scale_in_after: Vec<Option<i32>>,
    /// Container instances are per cluster: services of one cluster share one read per tick
    /// (key: cluster; value: the tick's `now_s` and the instances, `None` if the read failed).
    instances_this_tick: HashMap<String, (f64, Option<Vec<ecs::EcsInstance>>)>,
    /// CloudWatch is read once per tick for every service (one batched call).
    metrics: cloudwatch::MetricsReader,
    metrics_this_tick: Option<(f64, Vec<Option<QueueMetrics>>)>,
}

impl AwsWorld {
    pub fn new(clients: AwsClients, services: Vec<ServiceConfig>) -> Self {
        let n = services.len();
        AwsWorld {
            clients,
            services,
            limiter: CpWriteLimiter::default(),
            scale_in_after: vec![None; n],
            instances_this_tick: HashMap::new(),
            metrics: cloudwatch::MetricsReader::default(),
            metrics_this_tick: None,
        }
    }

    /// Whether CloudWatch is still read (false once a call was denied: SQS-only).
    pub fn reads_cloudwatch(&self) -> bool {
        self.metrics.state != cloudwatch::ReaderState::Denied
    }

    /// Service `i`'s CloudWatch minutes at `now_s`: the first service observed in a tick reads
    /// every service's queue in one batched call; the others take their share.
    async fn metrics_for(&mut self, i: usize, now_s: f64) -> Option<QueueMetrics> {
        let fresh = self
            .metrics_this_tick
            .as_ref()
            .is_some_and(|(t, _)| *t == now_s);
        if !fresh {
            let names: Vec<&str> = self
                .services
                .iter()
                .map(|s| cloudwatch::queue_name(&s.queue_url))
                .collect();
            let c = &self.clients;
            let read = self.metrics.read(&c.cw, &c.endpoint, &names, now_s).await;
            self.metrics_this_tick = Some((now_s, read));
        }
        self.metrics_this_tick
            .as_ref()
            .and_then(|(_, v)| v.get(i).cloned().flatten())
    }

    pub fn clients(&self) -> &AwsClients {
        &self.clients
    }

    pub fn service_configs(&self) -> &[ServiceConfig] {
        &self.services
    }

    /// Start-up check: every queue, cluster, service and capacity provider in the config
    /// exists and answers. Returns every problem (stops early if the endpoint is unreachable).
    pub async fn check_resources(&self) -> Vec<AwsError> {
        let mut errors = Vec::new();
        let c = &self.clients;
        for s in &self.services {
            if let Err(e) = sqs::queue_depth(&c.sqs, &c.endpoint, &s.queue_url).await {
                let stop = matches!(e, AwsError::Unreachable { .. });
                errors.push(e);
                if stop {
                    return errors;
                }
            }
            if let Err(e) = ecs::service_counts(&c.ecs, &c.endpoint, &s.cluster, &s.service).await {
                errors.push(e);
            }
            if let Some(cp) = &s.capacity_provider
                && let Err(e) = ecs::capacity_provider(&c.ecs, &c.endpoint, &s.cluster, cp).await
            {
                errors.push(e);
            }
        }
        errors
    }

    async fn set_scale_in_after(&mut self, i: usize, seconds: i32) -> Result<(), AwsError> {
        let s = &self.services[i];
        let Some(cp) = s.capacity_provider.clone() else {
            // The core only asks when a provider is configured; nothing to write otherwise.
            return Ok(());
        };
        if self.scale_in_after[i] == Some(seconds) {
            tracing::debug!(service = %s.name, seconds, "scaleInAfter unchanged; no write");
            return Ok(());
        }
        self.limiter.wait_turn().await;
        let c = &self.clients;
        ecs::update_scale_in_after(&c.ecs, &c.endpoint, &s.cluster, &cp, seconds).await?;
        self.scale_in_after[i] = Some(seconds);
        Ok(())
    }
}

/// Stable numeric id for a task ARN (FNV-1a), so the lag learner can tell tasks apart.
fn task_id(arn: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in arn.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn phase(last_status: &str) -> Option<TaskPhase> {
    Some(match last_status {
        "PROVISIONING" => TaskPhase::Provisioning,
        "PENDING" | "ACTIVATING" => TaskPhase::Pending,
        "RUNNING" => TaskPhase::Running,
        "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" => TaskPhase::Stopping,
        // STOPPED tasks hold no capacity; unknown states are left out rather than guessed.
        _ => return None,
    })
}

/// How close an instance's registration may be to a task's creation and still count as
/// launched for that task (registration follows the launch the task triggered).
const COLD_SLACK_S: f64 = 5.0;

/// Turn raw ECS tasks (and, when known, the instances they sit on and their protection state)
/// into the core's `TaskInfo`.
fn task_infos(
    tasks: &[ecs::EcsTask],
    instances: Option<&[ecs::EcsInstance]>,
    protected: Option<&HashMap<String, bool>>,
) -> Vec<TaskInfo> {
    let registered: HashMap<&str, f64> = instances
        .unwrap_or(&[])
        .iter()
        .filter_map(|i| Some((i.arn.as_str(), i.registered_at_s?)))
        .collect();
    tasks
        .iter()
        .filter_map(|t| {
            let phase = phase(&t.last_status)?;
            let created = t.created_at_s?;
            // Cold = the instance registered after the task was created: MI launched it for
            // this task. Unknown instance or unknown registration time = cannot tell.
            let cold = if instances.is_some() {
                t.container_instance_arn
                    .as_deref()
                    .and_then(|a| registered.get(a))
                    .map(|reg| *reg + COLD_SLACK_S >= created)
            } else {
                None
            };
            Some(TaskInfo {
                id: task_id(&t.arn),
                phase,
                created_at_s: created,
                started_at_s: t.started_at_s,
                cold,
                busy: protected.and_then(|p| p.get(&t.arn).copied()),
                idle_since_s: None,
            })
        })
        .collect()
}

/// Count the capacity provider's ACTIVE instances and the idle ones among them.
fn instance_counts(instances: &[ecs::EcsInstance], cp: Option<&str>) -> InstanceCounts {
    let mine = instances
        .iter()
        .filter(|i| cp.is_none() || i.capacity_provider.as_deref() == cp);
    let mut c = InstanceCounts::default();
    for i in mine {
        c.total += 1;
        if i.running_tasks == 0 && i.pending_tasks == 0 {
            c.idle += 1;
        }
    }
    c
}

/// Most tasks one GetTaskProtection call covers; above it preheat does not read protection
/// (the core then counts busy workers from in-flight messages).
const PROTECTION_BATCH: usize = 10;

impl World for AwsWorld {
    fn services(&self) -> usize {
        self.services.len()
    }

    async fn observe(&mut self, i: usize, now_s: f64) -> Observation {
        let metrics = self.metrics_for(i, now_s).await;
        let s = &self.services[i];
        let c = &self.clients;
        let ep = c.endpoint.as_str();
        let cached = self
            .instances_this_tick
            .get(&s.cluster)
            .filter(|(t, _)| *t == now_s)
            .map(|(_, v)| v.clone());
        let name = s.name.as_str();
        // The reads are independent: issue them together so a tick costs one round trip.
        let (queue, service, tasks, instances, cp) = tokio::join!(
            sqs::queue_depth(&c.sqs, ep, &s.queue_url),
            ecs::service_counts(&c.ecs, ep, &s.cluster, &s.service),
            ecs::service_tasks(&c.ecs, ep, &s.cluster, &s.service),
            async {
                if let Some(v) = cached {
                    return v;
                }
                match ecs::container_instances(&c.ecs, ep, &s.cluster).await {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!(service = name, read = "instances", error = %e,
                            "read failed; field left unknown");
                        None
                    }
                }
            },
            async {
                match &s.capacity_provider {
                    Some(cp) => Some(ecs::capacity_provider(&c.ecs, ep, &s.cluster, cp).await),
                    None => None,
                }
            },
        );
        let log = |what: &str, e: &AwsError| {
            tracing::warn!(service = %s.name, read = what, error = %e, "read failed; field left unknown");
        };
        if let Err(e) = &queue {
            log("queue", e);
        }
        if let Err(e) = &service {
            log("service", e);
        }
        if let Err(e) = &tasks {
            log("tasks", e);
        }
        let scale_in_after_s = match cp {
            Some(Ok(cp)) => {
                self.scale_in_after[i] = cp.scale_in_after_s;
                cp.scale_in_after_s
            }
            Some(Err(e)) => {
                log("capacity provider", &e);
                None
            }
            None => None,
        };
        let protected = match &tasks {
            Ok(t) if s.worker_protection && !t.is_empty() && t.len() <= PROTECTION_BATCH => {
                let arns: Vec<String> = t.iter().map(|t| t.arn.clone()).collect();
                match ecs::task_protection(&c.ecs, ep, &s.cluster, &arns).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::debug!(service = %s.name, error = %e, "task protection unknown");
                        None
                    }
                }
            }
            _ => None,
        };
        self.instances_this_tick
            .insert(s.cluster.clone(), (now_s, instances.clone()));
        Observation {
            queue: queue.ok(),
            metrics,
            service: service.ok(),
            tasks: tasks
                .ok()
                .map(|t| task_infos(&t, instances.as_deref(), protected.as_ref())),
            instances: instances
                .as_deref()
                .map(|v| instance_counts(v, s.capacity_provider.as_deref())),
            scale_in_after_s,
        }
    }

    async fn apply(&mut self, i: usize, actions: &[Action], _now_s: f64) -> Result<(), ApplyError> {
        for a in actions {
            match a {
                Action::SetDesired { desired, .. } => {
                    let s = &self.services[i];
                    let c = &self.clients;
                    ecs::update_desired(&c.ecs, &c.endpoint, &s.cluster, &s.service, *desired)
                        .await?;
                }
                Action::SetScaleInAfter { seconds, .. } => {
                    self.set_scale_in_after(i, *seconds).await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(arn: &str, status: &str, inst: Option<&str>, created: f64) -> ecs::EcsTask {
        ecs::EcsTask {
            arn: arn.into(),
            last_status: status.into(),
            created_at_s: Some(created),
            started_at_s: Some(created + 30.0),
            container_instance_arn: inst.map(str::to_string),
        }
    }

    fn inst(arn: &str, reg: f64, running: i32) -> ecs::EcsInstance {
        ecs::EcsInstance {
            arn: arn.into(),
            capacity_provider: Some("gpu".into()),
            registered_at_s: Some(reg),
            running_tasks: running,
            pending_tasks: 0,
        }
    }

    #[test]
    fn cold_when_instance_registered_after_task_creation() {
        let tasks = [
            task("t1", "RUNNING", Some("i1"), 1000.0),
            task("t2", "RUNNING", Some("i2"), 1000.0),
            task("t3", "STOPPED", Some("i2"), 1000.0),
        ];
        let insts = [inst("i1", 1100.0, 1), inst("i2", 10.0, 1)];
        let infos = task_infos(&tasks, Some(&insts), None);
        assert_eq!(infos.len(), 2, "STOPPED tasks are dropped");
        assert_eq!(infos[0].cold, Some(true));
        assert_eq!(infos[1].cold, Some(false));
        assert_eq!(infos[0].busy, None);
        let unknown = task_infos(&tasks, None, None);
        assert_eq!(unknown[0].cold, None, "no instance read = cannot tell");
    }

    #[test]
    fn idle_instances_are_those_without_tasks() {
        let mut other = inst("i3", 0.0, 0);
        other.capacity_provider = Some("cpu".into());
        let insts = [inst("i1", 0.0, 1), inst("i2", 0.0, 0), other];
        assert_eq!(
            instance_counts(&insts, Some("gpu")),
            InstanceCounts { total: 2, idle: 1 }
        );
        assert_eq!(instance_counts(&insts, None).total, 3);
    }

    #[test]
    fn task_ids_are_stable_and_distinct() {
        assert_eq!(task_id("a"), task_id("a"));
        assert_ne!(task_id("arn:1"), task_id("arn:2"));
    }
}
