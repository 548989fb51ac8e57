//! The AWS edge: builds SDK clients from the standard aws-config chain, maps SDK failures to
//! one `AwsError` enum (AccessDenied apart: it is never transient), counts every call per API
//! (`stats.rs`, through `call`), and implements `World` over SQS, CloudWatch and ECS
//! (`AwsWorld`).
//!
//! Each tick it reads every service's queue (`sqs.rs`), and once per cluster, in batched calls
//! for all the cluster's services, the services, every page of their tasks (with their
//! protection), the instances and the capacity providers (`batch.rs` over `ecs.rs`, `cp.rs`),
//! then turns each failed or cut-short read into a `None` field of the `Observation` of every
//! service the read covered; the core refuses to scale in on `None`. At start-up it calls each of those reads once and
//! reports every missing resource or permission. It writes only what the core decided
//! (`UpdateService`, and the read-modify-write `UpdateCapacityProvider`), at most one
//! capacity-provider write per second. It decides nothing itself, does not log decisions (the
//! loop's observer does) and does not retry beyond the SDK's retry policy: the reconcile loop
//! owns back-off between ticks. Dry-run and the writer lease are decorators around this world
//! (`world::DryRun`, `lease::Leased`) that drop writes.

pub mod aas;
mod batch;
pub mod cloudwatch;
pub mod cp;
pub mod ecs;
pub mod fixture;
pub mod history;
pub mod lease;
pub mod sqs;
pub mod stats;

use crate::core::config::ServiceConfig;
use crate::core::model::{
    Action, InstanceCounts, Observation, QueueDepth, QueueMetrics, TaskInfo, TaskPhase,
};
use crate::world::{ApplyError, World};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use futures_util::StreamExt;
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
    /// The role preheat runs as lacks a permission. Not transient: waiting does not grant it.
    #[error(
        "{api} was denied ({code}: {message}); grant the IAM action {api} to preheat's role \
         (see the IAM table in README.md and deploy/preheat.cfn.yaml)"
    )]
    AccessDenied {
        api: &'static str,
        code: String,
        message: String,
    },
    #[error("{api} was refused: {code}: {message}")]
    Refused {
        api: &'static str,
        code: String,
        message: String,
    },
    #[error("{api} answered something preheat cannot use: {message}")]
    BadAnswer { api: &'static str, message: String },
    /// preheat chose not to send a write (it would be unsafe now); nothing was called.
    #[error("{api} not sent: {message}")]
    NotSent { api: &'static str, message: String },
}

impl AwsError {
    /// True for failures worth waiting out (throttling, 5xx, network).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AwsError::Throttled { .. } | AwsError::Unreachable { .. }
        )
    }

    pub fn is_access_denied(&self) -> bool {
        matches!(self, AwsError::AccessDenied { .. })
    }

    /// The API (IAM action name) the error came from.
    pub fn api(&self) -> &'static str {
        match self {
            AwsError::Unreachable { api, .. }
            | AwsError::Throttled { api, .. }
            | AwsError::NotFound { api, .. }
            | AwsError::AccessDenied { api, .. }
            | AwsError::Refused { api, .. }
            | AwsError::NotSent { api, .. }
            | AwsError::BadAnswer { api, .. } => api,
        }
    }

    fn code(&self) -> Option<&str> {
        match self {
            AwsError::Throttled { code, .. }
            | AwsError::Refused { code, .. }
            | AwsError::AccessDenied { code, .. } => Some(code),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            AwsError::Throttled { message, .. }
            | AwsError::Refused { message, .. }
            | AwsError::AccessDenied { message, .. }
            | AwsError::Unreachable { message, .. }
            | AwsError::BadAnswer { message, .. }
            | AwsError::NotSent { message, .. }
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
        let api = e.api().to_string();
        if e.is_access_denied() {
            ApplyError::Denied {
                api,
                message: e.to_string(),
            }
        } else if e.is_transient() {
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
/// The innermost cause's own words ("Connection refused (os error 111)"), without the layers
/// of SDK wrappers whose Display falls back to Rust Debug output (issue #13: ~500 characters).
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.trim().is_empty() || text.contains(" { ") {
        "the connection failed".to_string()
    } else {
        text
    }
}

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
            message: root_cause(&err),
        },
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("UnknownError").to_string();
            let message = ctx.err().message().unwrap_or("").to_string();
            let throttled = code.contains("Throttl")
                || code == "RequestLimitExceeded"
                || status == 429
                || status >= 500;
            // ECS and SQS's JSON protocol say AccessDeniedException, SQS's query protocol
            // AccessDenied; EC2-style APIs UnauthorizedOperation.
            let denied = code.starts_with("AccessDenied") || code.starts_with("Unauthorized");
            if denied {
                AwsError::AccessDenied { api, code, message }
            } else if throttled {
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

/// Await one SDK call, map its failure to `AwsError` and count it (`stats`). Every call of the
/// AWS edge goes through here, so the per-API counters see them all.
pub(crate) async fn call<T, E>(
    api: &'static str,
    endpoint: &str,
    send: impl std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let r = send.await.map_err(|e| classify(api, endpoint, e));
    let outcome = match &r {
        Ok(_) => stats::Outcome::Ok,
        Err(e) if e.is_access_denied() => stats::Outcome::Denied,
        Err(e) if e.is_transient() => stats::Outcome::Throttled,
        Err(_) => stats::Outcome::Failed,
    };
    stats::record(api, outcome);
    r
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
/// (29 s of build script) out of the build. Without an explicit client the
/// SDK fails every call at runtime, so production and tests both come through here.
pub(crate) fn http_client() -> aws_sdk_ecs::config::SharedHttpClient {
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
    /// The writer lease table (`lease.rs`).
    pub ddb: aws_sdk_dynamodb::Client,
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
            ddb: aws_sdk_dynamodb::Client::new(cfg),
            cw: aws_sdk_cloudwatch::Client::new(cfg),
            endpoint,
        }
    }
}

/// Capacity-provider writes are throttled at 1/s per account (and every MI update resends the
/// whole launch template), so all services share one limiter.
#[derive(Debug)]
struct CpWriteLimiter {
    last: Option<tokio::time::Instant>,
    min_gap: Duration,
}

impl Default for CpWriteLimiter {
    fn default() -> Self {
        CpWriteLimiter {
            last: None,
            min_gap: Duration::from_secs(1),
        }
    }
}

impl CpWriteLimiter {
    async fn wait_turn(&mut self) {
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + self.min_gap).await;
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
    /// The ECS reads of the tick, for every service: made in batches per cluster by the first
    /// service observed at a new `now_s` (`batch.rs`), taken by the others.
    ecs_this_tick: Option<batch::TickReads>,
    /// The queue reads of the tick, made with the ECS reads; each taken by its service.
    queues_this_tick: Vec<Option<Result<QueueDepth, AwsError>>>,
    /// Task descriptions that cannot change, kept between ticks (`ecs::TaskCache`).
    tasks_seen: ecs::TaskCache,
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
            ecs_this_tick: None,
            queues_this_tick: Vec::new(),
            tasks_seen: ecs::TaskCache::default(),
            metrics: cloudwatch::MetricsReader::default(),
            metrics_this_tick: None,
        }
    }

    /// Change the wall-clock gap between capacity-provider writes (1 s, AWS's rate). The twin's
    /// lockstep mode sets 0: its simulated seconds pass in microseconds of wall time, and its
    /// endpoint has no rate limit to respect.
    pub fn with_cp_write_gap(mut self, gap: Duration) -> Self {
        self.limiter.min_gap = gap;
        self
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
                && let Err(e) = cp::capacity_provider(&c.ecs, &c.endpoint, &s.cluster, cp).await
            {
                errors.push(e);
            }
            // Every other read a tick makes, once, so that a missing permission stops the
            // start-up with its name instead of failing every tick (issue #10: ListTasks was
            // denied by the shipped policy and nothing said so).
            errors.extend(
                ecs::probe_reads(
                    &c.ecs,
                    &c.endpoint,
                    &s.cluster,
                    &s.service,
                    s.worker_protection,
                )
                .await,
            );
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
        cp::update_scale_in_after(&c.ecs, &c.endpoint, &s.cluster, &cp, seconds).await?;
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

/// Queue reads in flight at once. Each holds its own kept-alive connection: ten at once were no
/// faster than four and kept RSS at the 20 MB goal (README "Footprint", sixth step).
const QUEUE_READS_IN_FLIGHT: usize = 4;

/// How close an instance's registration may be to a task's creation and still count as
/// launched for that task (registration follows the launch the task triggered).
pub(crate) const COLD_SLACK_S: f64 = 5.0;

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
                busy: protected.and_then(|p| match phase {
                    TaskPhase::Running => p.get(&t.arn).copied(),
                    _ => Some(false),
                }),
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

impl World for AwsWorld {
    fn services(&self) -> usize {
        self.services.len()
    }

    async fn observe(&mut self, i: usize, now_s: f64) -> Observation {
        let metrics = self.metrics_for(i, now_s).await;
        let fresh = self
            .ecs_this_tick
            .as_ref()
            .is_some_and(|t| t.now_s == now_s);
        if !fresh {
            // The queues are read alongside the ECS reads, `QUEUE_READS_IN_FLIGHT` at a time:
            // SQS has no batched read, and ten calls one after another cost ten round trips and
            // as many wake-ups.
            let c = &self.clients;
            let queue_reads = futures_util::stream::iter(
                self.services
                    .iter()
                    .map(|s| sqs::queue_depth(&c.sqs, &c.endpoint, &s.queue_url)),
            )
            .buffered(QUEUE_READS_IN_FLIGHT)
            .collect::<Vec<_>>();
            let (reads, queues) = tokio::join!(
                batch::read_tick(c, &self.services, &mut self.tasks_seen, now_s),
                queue_reads
            );
            self.ecs_this_tick = Some(reads);
            self.queues_this_tick = queues.into_iter().map(Some).collect();
        }
        let s = &self.services[i];
        let c = &self.clients;
        // Taken once; a service observed twice at the same tick reads its queue again.
        let queue = match self.queues_this_tick.get_mut(i).and_then(Option::take) {
            Some(q) => q,
            None => sqs::queue_depth(&c.sqs, &c.endpoint, &s.queue_url).await,
        };
        let Some(t) = self.ecs_this_tick.as_ref() else {
            unreachable!("the tick's ECS reads were made above");
        };
        let log = |what: &str, e: &AwsError| {
            if e.is_access_denied() {
                // Not transient: say so loudly, every time, until the role is fixed.
                tracing::error!(service = %s.name, read = what, api = e.api(), error = %e,
                    "AccessDenied: read failed; field left unknown");
            } else {
                tracing::warn!(service = %s.name, read = what, error = %e,
                    "read failed; field left unknown");
            }
        };
        if let Err(e) = &queue {
            log("queue", e);
        }
        let service = match &t.service[i] {
            Ok(v) => Some(*v),
            Err(e) => {
                log("service", e);
                None
            }
        };
        let tasks = match &t.tasks[i] {
            Ok(v) => Some(v),
            Err(e) => {
                log("tasks", e);
                None
            }
        };
        let scale_in_after_s = match &t.cp[i] {
            Some(Ok(cp)) => Some(cp.observed_scale_in_after_s()),
            Some(Err(e)) => {
                log("capacity provider", e);
                None
            }
            None => None,
        };
        let protected = match &t.protection[i] {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                if e.is_access_denied() {
                    log("task protection", e);
                } else {
                    tracing::debug!(service = %s.name, error = %e, "task protection unknown");
                }
                None
            }
            None => None,
        };
        let instances = t.instances[i].as_deref().map(Vec::as_slice);
        let obs = Observation {
            queue: queue.ok(),
            metrics,
            service,
            tasks: tasks.map(|v| task_infos(v, instances, protected)),
            instances: instances.map(|v| instance_counts(v, s.capacity_provider.as_deref())),
            scale_in_after_s,
        };
        if let Some(v) = scale_in_after_s {
            self.scale_in_after[i] = Some(v);
        }
        obs
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
