//! Policy files: YAML → raw structs (every field optional, with its source line) → a validated
//! `Config` the rest of the program can trust.
//!
//! Validation collects **every** problem before anything starts, each with its path and line
//! (`services[0].max_tasks (line 9): 1 is below min_tasks (2)`); unknown keys are errors too.
//! Durations are humantime strings (`3m30s`). Defaults follow ../shared/ECS-MI-FACTS.md (a
//! one-GPU g6.xlarge worker, cold start ≈ 3.5 min). What the values mean at run time is left to
//! the core (`decide.rs`) and the simulator (`sim/`).

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::fmt;
use std::path::Path;

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigIssue {
    pub path: String,
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) if line > 0 => write!(f, "{} (line {}): {}", self.path, line, self.message),
            _ => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not valid YAML for a preheat config:\n{message}")]
    Syntax { path: String, message: String },
    #[error("{path}: {} problem(s):\n{}", issues.len(), issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        issues: Vec<ConfigIssue>,
    },
}

// ---------------------------------------------------------------- raw (as written)

type S<T> = Option<Spanned<T>>;

#[derive(Debug, Deserialize, Default)]
struct RawConfig {
    tick: S<String>,
    services: Option<Vec<RawService>>,
    simulation: Option<RawSimulation>,
    aws: Option<RawAws>,
}

#[derive(Debug, Deserialize, Default)]
struct RawAws {
    region: S<String>,
    endpoint_url: S<String>,
}

#[derive(Debug, Deserialize, Default)]
struct RawService {
    name: S<String>,
    cluster: S<String>,
    service: S<String>,
    queue_url: S<String>,
    capacity_provider: S<String>,
    min_tasks: S<u32>,
    max_tasks: S<u32>,
    tasks_per_instance: S<u32>,
    jobs_per_task: S<u32>,
    slo: Option<RawSlo>,
    estimates: Option<RawEstimates>,
    price: Option<RawPrice>,
    budget_per_hour_usd: S<f64>,
    floors: Option<Vec<RawFloor>>,
    scale_in_stabilization: S<String>,
    max_step: S<u32>,
    worker_protection: S<bool>,
    scale_in_after_max: S<String>,
}

#[derive(Debug, Deserialize, Default)]
struct RawSlo {
    max_wait: S<String>,
    attainment: S<f64>,
}

#[derive(Debug, Deserialize, Default)]
struct RawEstimates {
    service_time: S<String>,
    cold_start: S<String>,
    warm_start: S<String>,
}

#[derive(Debug, Deserialize, Default)]
struct RawPrice {
    instance_type: S<String>,
    on_demand_per_hour_usd: S<f64>,
    mi_fee_per_hour_usd: S<f64>,
}

#[derive(Debug, Deserialize, Default)]
struct RawFloor {
    days: Option<Vec<Spanned<String>>>,
    from: S<String>,
    to: S<String>,
    min_tasks: S<u32>,
}

#[derive(Debug, Deserialize, Default)]
struct RawSimulation {
    seed: S<u64>,
    instance_launch: S<String>,
    image_pull: S<String>,
    app_start: S<String>,
    warm_start: S<String>,
    start_jitter: S<f64>,
    visibility_timeout: S<String>,
    sqs_staleness: S<String>,
    scale_in_after_default: S<String>,
    drain_limit: S<String>,
    faults: Option<RawFaults>,
}

#[derive(Debug, Deserialize, Default)]
struct RawFaults {
    api_error_rate: S<f64>,
    throttle_rate: S<f64>,
    sqs_stale_rate: S<f64>,
    sqs_stale_max: S<String>,
    sqs_missing_rate: S<f64>,
    capacity_errors_per_day: S<f64>,
    capacity_error_duration: S<String>,
    spot_interruptions_per_day: S<f64>,
    task_start_failure_rate: S<f64>,
    restarts_per_day: S<f64>,
}

// ---------------------------------------------------------------- validated

/// A wait service-level objective: `attainment` of jobs start within `max_wait_s`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slo {
    pub max_wait_s: f64,
    pub attainment: f64,
}

/// Starting estimates; the core replaces them with what it learns.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Estimates {
    pub service_s: f64,
    pub cold_start_s: f64,
    pub warm_start_s: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Price {
    pub instance_type: String,
    pub on_demand_per_hour_usd: f64,
    pub mi_fee_per_hour_usd: f64,
}

impl Price {
    pub fn per_hour_usd(&self) -> f64 {
        self.on_demand_per_hour_usd + self.mi_fee_per_hour_usd
    }
    pub fn per_second_usd(&self) -> f64 {
        self.per_hour_usd() / 3600.0
    }
}

/// A minimum task count for a weekly time window (UTC).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Floor {
    /// Days of the week, 0 = Monday.
    pub days: Vec<u8>,
    pub from_s_of_day: u32,
    pub to_s_of_day: u32,
    pub min_tasks: u32,
}

impl Floor {
    /// Whether the floor applies at Unix time `now_s` (UTC).
    pub fn active_at(&self, now_s: f64) -> bool {
        let t = now_s.max(0.0) as i64;
        // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
        let day = ((t.div_euclid(86_400) + 3) % 7) as u8;
        let sod = t.rem_euclid(86_400) as u32;
        self.days.contains(&day) && sod >= self.from_s_of_day && sod < self.to_s_of_day
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServiceConfig {
    pub name: String,
    pub cluster: String,
    pub service: String,
    pub queue_url: String,
    pub capacity_provider: Option<String>,
    pub min_tasks: u32,
    pub max_tasks: u32,
    pub tasks_per_instance: u32,
    pub jobs_per_task: u32,
    pub slo: Slo,
    pub estimates: Estimates,
    pub price: Price,
    pub budget_per_hour_usd: Option<f64>,
    pub floors: Vec<Floor>,
    pub scale_in_stabilization_s: f64,
    pub max_step: u32,
    /// Workers set ECS task scale-in protection while they hold a job.
    pub worker_protection: bool,
    /// Upper bound for the `scaleInAfter` preheat sets (the API allows up to 3600 s).
    pub scale_in_after_max_s: u32,
}

impl ServiceConfig {
    /// The floor from schedules at `now_s`, at least `min_tasks`.
    pub fn floor_at(&self, now_s: f64) -> u32 {
        self.floors
            .iter()
            .filter(|f| f.active_at(now_s))
            .map(|f| f.min_tasks)
            .fold(self.min_tasks, u32::max)
    }
}

/// The simulated cluster (only `preheat simulate` / `backtest` read it).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimConfig {
    pub seed: u64,
    /// Median time for MI to launch an instance and register it.
    pub instance_launch_s: f64,
    /// Median image pull on a new instance (no cache).
    pub image_pull_s: f64,
    /// Median app start (model load) after the pull.
    pub app_start_s: f64,
    /// Median start of a task on an instance that already has the image.
    pub warm_start_s: f64,
    /// Log-normal sigma of every start draw (0 = fixed).
    pub start_jitter: f64,
    pub visibility_timeout_s: f64,
    pub sqs_staleness_s: f64,
    /// What ECS does with `scaleInAfter = null` (unpublished; an assumption).
    pub scale_in_after_default_s: i32,
    /// How long after the last arrival the simulation may run to drain the queue.
    pub drain_limit_s: f64,
    /// Injected faults (all off by default; `preheat chaos` turns them on).
    pub faults: FaultConfig,
}

/// Faults the simulator can inject, each from its own seeded stream (`sim::faults`). Rates are
/// probabilities per call or per tick; episodes are Poisson processes. All zero = no fault, and
/// a run without faults is byte-identical to one from before faults existed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FaultConfig {
    /// Probability that one ECS/SQS/CloudWatch call fails (a read becomes `None`, an apply
    /// returns `ApplyError::Failed`).
    pub api_error_rate: f64,
    /// Probability that one call is throttled (`ThrottlingException`; `ApplyError::Throttled`).
    pub throttle_rate: f64,
    /// Probability that the SQS counts read are stale (up to `sqs_stale_max_s` old).
    pub sqs_stale_rate: f64,
    pub sqs_stale_max_s: f64,
    /// Probability that the SQS counts are missing from an otherwise good read.
    pub sqs_missing_rate: f64,
    /// Capacity-error episodes (`InsufficientInstanceCapacity`, `UnfulfillableCapacity`) per day:
    /// no instance launches while one lasts; tasks that need one stay PROVISIONING.
    pub capacity_errors_per_day: f64,
    /// Mean length of one capacity-error episode (exponential).
    pub capacity_error_duration_s: f64,
    /// Spot reclaims per day: an instance running a task is taken back; its tasks stop and
    /// their jobs return after the visibility timeout.
    pub spot_interruptions_per_day: f64,
    /// Probability that a task fails to start (e.g. `CannotPullContainerError`); ECS replaces it.
    pub task_start_failure_rate: f64,
    /// Controller restarts per day: the policy loses its in-memory state (`Policy::restart`).
    pub restarts_per_day: f64,
}

impl FaultConfig {
    /// True when no fault can fire.
    pub fn is_off(&self) -> bool {
        self.api_error_rate <= 0.0
            && self.throttle_rate <= 0.0
            && self.sqs_stale_rate <= 0.0
            && self.sqs_missing_rate <= 0.0
            && self.capacity_errors_per_day <= 0.0
            && self.spot_interruptions_per_day <= 0.0
            && self.task_start_failure_rate <= 0.0
            && self.restarts_per_day <= 0.0
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        // Cold ≈ 45 + 120 + 45 = 210 s = 3.5 min: the fourTheorem field figure for a GPU worker
        // (ECS-MI-FACTS §1.5: box ACTIVE at ~42 s, task RUNNING ~281 s in ADR 0074).
        SimConfig {
            seed: 1,
            instance_launch_s: 45.0,
            image_pull_s: 120.0,
            app_start_s: 45.0,
            warm_start_s: 30.0,
            start_jitter: 0.2,
            visibility_timeout_s: 1800.0,
            sqs_staleness_s: 0.0,
            scale_in_after_default_s: 300,
            drain_limit_s: 6.0 * 3600.0,
            faults: FaultConfig {
                sqs_stale_max_s: 300.0,
                capacity_error_duration_s: 600.0,
                ..FaultConfig::default()
            },
        }
    }
}

impl SimConfig {
    /// Median cold start (new instance + full pull + app start).
    pub fn cold_start_s(&self) -> f64 {
        self.instance_launch_s + self.image_pull_s + self.app_start_s
    }
}

/// Where `preheat run` sends its AWS calls. Both keys are optional: without them the standard
/// aws-config chain decides (`AWS_REGION`, profile, ECS task metadata; `AWS_ENDPOINT_URL`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// Send every call here instead of the AWS endpoints (an emulator such as moto).
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    pub tick_s: f64,
    pub services: Vec<ServiceConfig>,
    pub simulation: SimConfig,
    pub aws: AwsSettings,
}

/// The bundled example for a Whisper-style GPU worker (also the demo's policy).
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../config/whisper.yaml");

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::parse(&text, &shown)
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let mut unknown: Vec<String> = Vec::new();
        let raw: RawConfig = serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_ignored::deserialize(de, |p| unknown.push(display_path(&p)))
        })
        .map_err(|e| ConfigError::Syntax {
            path: source_name.to_string(),
            message: e.to_string(),
        })?;
        let mut v = Validator::default();
        // serde_ignored also sees the private marker Spanned<T> uses to carry locations.
        for key in unknown
            .into_iter()
            .filter(|k| !k.contains("__serde_saphyr_private"))
        {
            v.issue(
                key,
                None,
                "unknown key (check its spelling and indentation against config/whisper.yaml)",
            );
        }
        let config = v.config(raw);
        if v.issues.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: source_name.to_string(),
                issues: v.issues,
            })
        }
    }
}

/// serde_ignored writes `services.0.max_taks`; people read `services[0].max_taks`. Built from
/// the path's parts, not its text, so that a key with a dot, a bracket, a space or nothing in it
/// is still named (quoted) rather than lost (found by fuzzing: a key `.` gave an empty path).
fn display_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", display_path(parent)),
        Path::Map { parent, key } => {
            let parent = display_path(parent);
            let plain = !key.is_empty()
                && !key.contains(|c: char| {
                    matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace() || c.is_control()
                });
            let key = if plain {
                key.clone()
            } else {
                format!("{key:?}")
            };
            if parent.is_empty() {
                key
            } else {
                format!("{parent}.{key}")
            }
        }
        // An Option or newtype layer is not a key.
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => display_path(parent),
    }
}

fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
    Some(s.referenced.line())
}

#[derive(Default)]
struct Validator {
    issues: Vec<ConfigIssue>,
}

impl Validator {
    fn issue(&mut self, path: impl Into<String>, line: Option<u64>, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            path: path.into(),
            line,
            message: message.into(),
        });
    }

    fn required_str(&mut self, v: &S<String>, path: &str, hint: &str) -> String {
        match v {
            Some(s) if !s.value.trim().is_empty() => s.value.clone(),
            Some(s) => {
                self.issue(path, line_of(s), format!("must not be empty ({hint})"));
                String::new()
            }
            None => {
                self.issue(path, None, format!("is required ({hint})"));
                String::new()
            }
        }
    }

    fn aws(&mut self, r: RawAws) -> AwsSettings {
        let region = r.region.as_ref().map(|s| s.value.trim().to_string());
        if let Some(s) = &r.region
            && s.value.trim().is_empty()
        {
            self.issue(
                "aws.region",
                line_of(s),
                "must not be empty (write e.g. us-east-1, or drop the key)",
            );
        }
        let endpoint_url = r.endpoint_url.as_ref().map(|s| s.value.trim().to_string());
        if let Some(s) = &r.endpoint_url
            && !(s.value.starts_with("http://") || s.value.starts_with("https://"))
        {
            self.issue(
                "aws.endpoint_url",
                line_of(s),
                format!(
                    "\"{}\" is not a URL; write e.g. http://127.0.0.1:5000, or drop the key",
                    s.value
                ),
            );
        }
        AwsSettings {
            region,
            endpoint_url,
        }
    }

    /// A humantime duration in seconds, within [min_s, max_s].
    fn duration(
        &mut self,
        v: &S<String>,
        path: &str,
        default_s: f64,
        min_s: f64,
        max_s: f64,
    ) -> f64 {
        let Some(s) = v else { return default_s };
        match humantime::parse_duration(s.value.trim()) {
            Ok(d) => {
                let secs = d.as_secs_f64();
                if secs < min_s || secs > max_s {
                    self.issue(
                        path,
                        line_of(s),
                        format!(
                            "{} is out of range ({} to {})",
                            s.value,
                            fmt_s(min_s),
                            fmt_s(max_s)
                        ),
                    );
                    default_s
                } else {
                    secs
                }
            }
            Err(e) => {
                self.issue(
                    path,
                    line_of(s),
                    format!(
                        "\"{}\" is not a duration ({e}); write e.g. 90s, 3m30s or 1h",
                        s.value
                    ),
                );
                default_s
            }
        }
    }

    fn number(&mut self, v: &S<f64>, path: &str, default: f64, min: f64, max: f64) -> f64 {
        let Some(s) = v else { return default };
        if !s.value.is_finite() || s.value < min || s.value > max {
            self.issue(
                path,
                line_of(s),
                format!("{} is out of range ({min} to {max})", s.value),
            );
            default
        } else {
            s.value
        }
    }

    fn count(&mut self, v: &S<u32>, path: &str, default: u32, min: u32, max: u32) -> u32 {
        let Some(s) = v else { return default };
        if s.value < min || s.value > max {
            self.issue(
                path,
                line_of(s),
                format!("{} is out of range ({min} to {max})", s.value),
            );
            default
        } else {
            s.value
        }
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let tick_s = self.duration(&raw.tick, "tick", 15.0, 1.0, 600.0);
        let services: Vec<ServiceConfig> = match raw.services {
            Some(list) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(i, s)| self.service(s, &format!("services[{i}]")))
                .collect(),
            _ => {
                self.issue(
                    "services",
                    None,
                    "at least one service is required (see config/whisper.yaml)",
                );
                Vec::new()
            }
        };
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in services.iter().enumerate() {
            if !s.name.is_empty() && !seen.insert(s.name.clone()) {
                self.issue(
                    format!("services[{i}].name"),
                    None,
                    format!(
                        "\"{}\" is used by an earlier service; names must be unique",
                        s.name
                    ),
                );
            }
        }
        let simulation = self.simulation(raw.simulation.unwrap_or_default());
        let aws = self.aws(raw.aws.unwrap_or_default());
        Config {
            tick_s,
            services,
            simulation,
            aws,
        }
    }

    fn service(&mut self, r: &RawService, p: &str) -> ServiceConfig {
        let name = self.required_str(&r.name, &format!("{p}.name"), "a short label, e.g. whisper");
        let cluster =
            self.required_str(&r.cluster, &format!("{p}.cluster"), "the ECS cluster name");
        let service =
            self.required_str(&r.service, &format!("{p}.service"), "the ECS service name");
        let queue_url = self.required_str(
            &r.queue_url,
            &format!("{p}.queue_url"),
            "the SQS queue URL the workers read",
        );
        if let Some(q) = &r.queue_url
            && !q.value.is_empty()
            && !(q.value.starts_with("https://") || q.value.starts_with("http://"))
        {
            self.issue(
                format!("{p}.queue_url"),
                line_of(q),
                format!(
                    "\"{}\" is not a queue URL; write https://sqs.REGION.amazonaws.com/ACCOUNT/NAME",
                    q.value
                ),
            );
        }
        let min_tasks = self.count(&r.min_tasks, &format!("{p}.min_tasks"), 0, 0, 10_000);
        let max_tasks = self.count(&r.max_tasks, &format!("{p}.max_tasks"), 10, 1, 10_000);
        if let Some(m) = &r.max_tasks
            && max_tasks < min_tasks
        {
            self.issue(
                format!("{p}.max_tasks"),
                line_of(m),
                format!("{max_tasks} is below min_tasks ({min_tasks})"),
            );
        }
        let tasks_per_instance = self.count(
            &r.tasks_per_instance,
            &format!("{p}.tasks_per_instance"),
            1,
            1,
            64,
        );
        let jobs_per_task = self.count(&r.jobs_per_task, &format!("{p}.jobs_per_task"), 1, 1, 64);

        let raw_slo = r.slo.as_ref();
        if raw_slo.is_none() {
            self.issue(
                format!("{p}.slo"),
                None,
                "is required: say how long a job may wait, e.g. slo: {max_wait: 2m, attainment: 0.99}",
            );
        }
        let default_slo = RawSlo::default();
        let rs = raw_slo.unwrap_or(&default_slo);
        let slo = Slo {
            max_wait_s: self.duration(
                &rs.max_wait,
                &format!("{p}.slo.max_wait"),
                300.0,
                0.0,
                86_400.0,
            ),
            attainment: self.number(
                &rs.attainment,
                &format!("{p}.slo.attainment"),
                0.95,
                0.5,
                0.9999,
            ),
        };
        if raw_slo.is_some() && rs.max_wait.is_none() {
            self.issue(
                format!("{p}.slo.max_wait"),
                None,
                "is required (the longest a job may wait before a worker starts it, e.g. 2m)",
            );
        }

        let default_est = RawEstimates::default();
        let re = r.estimates.as_ref().unwrap_or(&default_est);
        let estimates = Estimates {
            service_s: self.duration(
                &re.service_time,
                &format!("{p}.estimates.service_time"),
                300.0,
                1.0,
                7.0 * 86_400.0,
            ),
            cold_start_s: self.duration(
                &re.cold_start,
                &format!("{p}.estimates.cold_start"),
                210.0,
                1.0,
                7200.0,
            ),
            warm_start_s: self.duration(
                &re.warm_start,
                &format!("{p}.estimates.warm_start"),
                30.0,
                0.0,
                7200.0,
            ),
        };
        if estimates.warm_start_s > estimates.cold_start_s {
            self.issue(
                format!("{p}.estimates.warm_start"),
                re.warm_start.as_ref().and_then(line_of),
                format!(
                    "{} is longer than cold_start ({}); a warm start reuses an instance and is the shorter one",
                    fmt_s(estimates.warm_start_s),
                    fmt_s(estimates.cold_start_s)
                ),
            );
        }

        let default_price = RawPrice::default();
        let rp = r.price.as_ref().unwrap_or(&default_price);
        let od = self.number(
            &rp.on_demand_per_hour_usd,
            &format!("{p}.price.on_demand_per_hour_usd"),
            0.8048,
            0.0,
            1000.0,
        );
        // MI fee ≈ 12% of On-Demand when not given (ECS-MI-FACTS §1.7).
        let fee = self.number(
            &rp.mi_fee_per_hour_usd,
            &format!("{p}.price.mi_fee_per_hour_usd"),
            od * 0.12,
            0.0,
            1000.0,
        );
        let price = Price {
            instance_type: rp
                .instance_type
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_else(|| "g6.xlarge".to_string()),
            on_demand_per_hour_usd: od,
            mi_fee_per_hour_usd: fee,
        };
        if price.per_hour_usd() <= 0.0 {
            self.issue(
                format!("{p}.price"),
                None,
                "the instance costs nothing per hour; set on_demand_per_hour_usd (e.g. 0.8048 for g6.xlarge)",
            );
        }
        let budget_per_hour_usd = r.budget_per_hour_usd.as_ref().map(|b| {
            let v = self.number(&Some(b.clone()), &format!("{p}.budget_per_hour_usd"), 0.0, 0.0, 1e6);
            let floor_cost = f64::from(min_tasks) * price.per_hour_usd() / f64::from(tasks_per_instance);
            if v > 0.0 && v < floor_cost {
                self.issue(
                    format!("{p}.budget_per_hour_usd"),
                    line_of(b),
                    format!(
                        "{v} $/h cannot pay for min_tasks ({min_tasks} × {:.4} $/h = {floor_cost:.4} $/h); raise the budget or lower min_tasks",
                        price.per_hour_usd()
                    ),
                );
            }
            v
        });

        let floors = r
            .floors
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, f)| self.floor(f, &format!("{p}.floors[{i}]"), max_tasks))
            .collect();
        let scale_in_stabilization_s = self.duration(
            &r.scale_in_stabilization,
            &format!("{p}.scale_in_stabilization"),
            300.0,
            0.0,
            86_400.0,
        );
        let max_step = self.count(&r.max_step, &format!("{p}.max_step"), 50, 1, 10_000);
        let worker_protection = r
            .worker_protection
            .as_ref()
            .map(|b| b.value)
            .unwrap_or(true);
        let scale_in_after_max_s = self.duration(
            &r.scale_in_after_max,
            &format!("{p}.scale_in_after_max"),
            3600.0,
            0.0,
            3600.0,
        ) as u32;
        ServiceConfig {
            name,
            cluster,
            service,
            queue_url,
            capacity_provider: r.capacity_provider.as_ref().map(|s| s.value.clone()),
            min_tasks,
            max_tasks,
            tasks_per_instance,
            jobs_per_task,
            slo,
            estimates,
            price,
            budget_per_hour_usd,
            floors,
            scale_in_stabilization_s,
            max_step,
            worker_protection,
            scale_in_after_max_s,
        }
    }

    fn floor(&mut self, f: &RawFloor, p: &str, max_tasks: u32) -> Floor {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut days = Vec::new();
        match &f.days {
            None => days.extend(0..7u8),
            Some(list) => {
                for (i, d) in list.iter().enumerate() {
                    let key = d.value.trim().to_ascii_lowercase();
                    match NAMES.iter().position(|n| key.starts_with(n)) {
                        Some(idx) => days.push(idx as u8),
                        None => self.issue(
                            format!("{p}.days[{i}]"),
                            line_of(d),
                            format!(
                                "\"{}\" is not a day; use mon, tue, wed, thu, fri, sat or sun",
                                d.value
                            ),
                        ),
                    }
                }
            }
        }
        let from = self.time_of_day(&f.from, &format!("{p}.from"), 0);
        let to = self.time_of_day(&f.to, &format!("{p}.to"), 86_400);
        if to <= from {
            self.issue(
                format!("{p}.to"),
                f.to.as_ref().and_then(line_of),
                "must be after `from` (a window cannot cross midnight; split it in two)",
            );
        }
        let min_tasks = match &f.min_tasks {
            Some(m) if m.value > max_tasks => {
                self.issue(
                    format!("{p}.min_tasks"),
                    line_of(m),
                    format!("{} is above max_tasks ({max_tasks})", m.value),
                );
                max_tasks
            }
            Some(m) => m.value,
            None => {
                self.issue(
                    format!("{p}.min_tasks"),
                    None,
                    "is required (the tasks to keep during the window)",
                );
                0
            }
        };
        Floor {
            days,
            from_s_of_day: from,
            to_s_of_day: to,
            min_tasks,
        }
    }

    fn time_of_day(&mut self, v: &S<String>, path: &str, default: u32) -> u32 {
        let Some(s) = v else { return default };
        let parsed = s.value.trim().split_once(':').and_then(|(h, m)| {
            let h: u32 = h.parse().ok()?;
            let m: u32 = m.parse().ok()?;
            (h <= 24 && m < 60 && h * 3600 + m * 60 <= 86_400).then_some(h * 3600 + m * 60)
        });
        parsed.unwrap_or_else(|| {
            self.issue(
                path,
                line_of(s),
                format!(
                    "\"{}\" is not a UTC time of day; write HH:MM, e.g. \"08:30\"",
                    s.value
                ),
            );
            default
        })
    }

    fn simulation(&mut self, r: RawSimulation) -> SimConfig {
        let d = SimConfig::default();
        let p = "simulation";
        let sia = match &r.scale_in_after_default {
            None => d.scale_in_after_default_s,
            Some(s) if s.value.trim() == "never" => -1,
            Some(_) => self.duration(
                &r.scale_in_after_default,
                &format!("{p}.scale_in_after_default"),
                300.0,
                0.0,
                3600.0,
            ) as i32,
        };
        SimConfig {
            seed: r.seed.map(|s| s.value).unwrap_or(d.seed),
            instance_launch_s: self.duration(
                &r.instance_launch,
                &format!("{p}.instance_launch"),
                d.instance_launch_s,
                0.0,
                7200.0,
            ),
            image_pull_s: self.duration(
                &r.image_pull,
                &format!("{p}.image_pull"),
                d.image_pull_s,
                0.0,
                7200.0,
            ),
            app_start_s: self.duration(
                &r.app_start,
                &format!("{p}.app_start"),
                d.app_start_s,
                0.0,
                7200.0,
            ),
            warm_start_s: self.duration(
                &r.warm_start,
                &format!("{p}.warm_start"),
                d.warm_start_s,
                0.0,
                7200.0,
            ),
            start_jitter: self.number(
                &r.start_jitter,
                &format!("{p}.start_jitter"),
                d.start_jitter,
                0.0,
                2.0,
            ),
            visibility_timeout_s: self.duration(
                &r.visibility_timeout,
                &format!("{p}.visibility_timeout"),
                d.visibility_timeout_s,
                0.0,
                43_200.0,
            ),
            sqs_staleness_s: self.duration(
                &r.sqs_staleness,
                &format!("{p}.sqs_staleness"),
                d.sqs_staleness_s,
                0.0,
                3600.0,
            ),
            scale_in_after_default_s: sia,
            drain_limit_s: self.duration(
                &r.drain_limit,
                &format!("{p}.drain_limit"),
                d.drain_limit_s,
                0.0,
                30.0 * 86_400.0,
            ),
            faults: self.faults(r.faults, &d.faults),
        }
    }

    fn faults(&mut self, r: Option<RawFaults>, d: &FaultConfig) -> FaultConfig {
        let Some(r) = r else { return d.clone() };
        let p = "simulation.faults";
        // Rates below 1 so that a replaced task or a retried call eventually succeeds.
        let rate = |v: &mut Self, x: &S<f64>, name: &str, max: f64| {
            v.number(x, &format!("{p}.{name}"), 0.0, 0.0, max)
        };
        FaultConfig {
            api_error_rate: rate(self, &r.api_error_rate, "api_error_rate", 0.9),
            throttle_rate: rate(self, &r.throttle_rate, "throttle_rate", 0.9),
            sqs_stale_rate: rate(self, &r.sqs_stale_rate, "sqs_stale_rate", 1.0),
            sqs_stale_max_s: self.duration(
                &r.sqs_stale_max,
                &format!("{p}.sqs_stale_max"),
                d.sqs_stale_max_s,
                0.0,
                3600.0,
            ),
            sqs_missing_rate: rate(self, &r.sqs_missing_rate, "sqs_missing_rate", 1.0),
            capacity_errors_per_day: rate(
                self,
                &r.capacity_errors_per_day,
                "capacity_errors_per_day",
                1000.0,
            ),
            capacity_error_duration_s: self.duration(
                &r.capacity_error_duration,
                &format!("{p}.capacity_error_duration"),
                d.capacity_error_duration_s,
                1.0,
                86_400.0,
            ),
            spot_interruptions_per_day: rate(
                self,
                &r.spot_interruptions_per_day,
                "spot_interruptions_per_day",
                10_000.0,
            ),
            task_start_failure_rate: rate(
                self,
                &r.task_start_failure_rate,
                "task_start_failure_rate",
                0.9,
            ),
            restarts_per_day: rate(self, &r.restarts_per_day, "restarts_per_day", 1000.0),
        }
    }
}

/// Seconds as a humantime string (`210s` → `3m 30s`).
pub fn fmt_s(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return format!("{s}s");
    }
    humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(yaml: &str) -> Vec<String> {
        match Config::parse(yaml, "t.yaml") {
            Err(ConfigError::Invalid { issues, .. }) => {
                issues.iter().map(|i| i.to_string()).collect()
            }
            Err(e) => vec![format!("OTHER: {e}")],
            Ok(_) => vec![],
        }
    }

    const MIN: &str = "services:\n  - name: w\n    cluster: c\n    service: s\n    queue_url: https://sqs.us-east-1.amazonaws.com/1/q\n    slo: {max_wait: 2m, attainment: 0.99}\n";

    #[test]
    fn bundled_example_is_valid() {
        let c = Config::parse(DEFAULT_CONFIG_YAML, "whisper.yaml").unwrap();
        assert_eq!(c.services.len(), 1);
        assert!(c.services[0].estimates.cold_start_s > 60.0);
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MIN, "t.yaml").unwrap();
        let s = &c.services[0];
        assert_eq!(c.tick_s, 15.0);
        assert_eq!(s.slo.max_wait_s, 120.0);
        assert_eq!(s.max_tasks, 10);
        assert!((s.price.mi_fee_per_hour_usd - 0.8048 * 0.12).abs() < 1e-9);
    }

    #[test]
    fn every_error_is_reported_with_path_and_line() {
        let yaml = "tick: 90 parsecs\nservices:\n  - name: w\n    cluster: c\n    service: s\n    queue_url: sqs-queue\n    min_tasks: 2\n    max_tasks: 1\n    slo: {max_wait: 2m, attainment: 1.5}\n    max_taks: 3\n";
        let got = issues(yaml);
        assert!(
            got.iter()
                .any(|e| e.starts_with("tick (line 1): \"90 parsecs\" is not a duration")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e == "services[0].max_tasks (line 8): 1 is below min_tasks (2)"),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.starts_with("services[0].queue_url (line 6)")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.starts_with("services[0].slo.attainment (line 9): 1.5 is out of range")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.starts_with("services[0].max_taks: unknown key")),
            "{got:?}"
        );
        assert_eq!(got.len(), 5, "{got:?}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let got = issues("services:\n  - name: w\n");
        for f in ["cluster", "service", "queue_url", "slo"] {
            assert!(
                got.iter()
                    .any(|e| e.starts_with(&format!("services[0].{f}: "))),
                "{f}: {got:?}"
            );
        }
        assert_eq!(
            issues("tick: 10s\n"),
            vec!["services: at least one service is required (see config/whisper.yaml)"]
        );
    }

    /// Regression (fuzzing, issue #5): a key `.` was reported with an empty path.
    #[test]
    fn odd_unknown_keys_are_named_quoted() {
        let got = issues(&format!("{MIN}\".\": 1\n\"\": 2\na b: 3\n"));
        for want in [
            "\".\": unknown key",
            "\"\": unknown key",
            "\"a b\": unknown key",
        ] {
            assert!(got.iter().any(|e| e.starts_with(want)), "{want}: {got:?}");
        }
        let got = issues(&format!("{MIN}    slo2: {{x.y: 1}}\n"));
        assert!(
            got.iter()
                .any(|e| e.starts_with("services[0].slo2: unknown key")),
            "{got:?}"
        );
    }

    #[test]
    fn syntax_error_is_not_half_parsed() {
        let e = Config::parse("services: [\n", "bad.yaml").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }));
        assert!(e.to_string().starts_with("bad.yaml: not valid YAML"));
    }

    #[test]
    fn floors_parse_and_apply_in_utc() {
        let yaml = format!(
            "{MIN}    floors:\n      - days: [mon, fri]\n        from: \"08:00\"\n        to: \"18:00\"\n        min_tasks: 2\n"
        );
        let c = Config::parse(&yaml, "t.yaml").unwrap();
        let s = &c.services[0];
        // 1970-01-05 was a Monday; 09:00 UTC.
        let monday_9 = 4.0 * 86_400.0 + 9.0 * 3600.0;
        assert_eq!(s.floor_at(monday_9), 2);
        assert_eq!(s.floor_at(monday_9 + 86_400.0), 0); // Tuesday
        assert_eq!(s.floor_at(monday_9 + 10.0 * 3600.0), 0); // 19:00
        let bad = format!(
            "{MIN}    floors:\n      - days: [funday]\n        from: \"18:00\"\n        to: \"08:00\"\n"
        );
        let got = issues(&bad);
        assert!(
            got.iter()
                .any(|e| e.contains("days[0]") && e.contains("funday")),
            "{got:?}"
        );
        assert!(got.iter().any(|e| e.contains("floors[0].to")), "{got:?}");
        assert!(
            got.iter()
                .any(|e| e.contains("floors[0].min_tasks: is required")),
            "{got:?}"
        );
    }

    #[test]
    fn duplicate_names_and_budget_below_floor() {
        let yaml = format!(
            "{MIN}    min_tasks: 2\n    budget_per_hour_usd: 0.5\n{}",
            &MIN[10..]
        );
        let got = issues(&yaml);
        assert!(
            got.iter()
                .any(|e| e.contains("budget_per_hour_usd") && e.contains("cannot pay")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.contains("services[1].name") && e.contains("unique")),
            "{got:?}"
        );
    }
}
