//! Policy files: YAML → raw structs (every field optional, with its source line) → a validated
//! `Config` the rest of the program can trust.
//!
//! Validation collects **every** problem before anything starts, each with its path and line
//! (`services[0].max_tasks (line 9): 1 is below min_tasks (2)`); unknown keys are errors too.
//! Durations are humantime strings (`3m30s`). Defaults follow the field figures in docs/simulator.md (a
//! one-GPU g6.xlarge worker, cold start ≈ 3.5 min). What the values mean at run time is left to
//! the core (`decide.rs`) and the simulator (`sim/`).

use std::fmt;
use std::path::Path;

mod locate;
mod raw;
mod scalar;
pub use locate::json_schema;
use raw::{RawConfig, Validator, display_path};

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

/// Why a policy file cannot be used. Every problem inside a file, YAML syntax and type errors
/// included, is an `Invalid` issue with its key path and line: one format for all of them.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The OS error is the message's last part, not a `source`, so that it is printed once.
    #[error("cannot read config {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {} problem(s):\n{}", issues.len(), issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        issues: Vec<ConfigIssue>,
    },
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
    /// How old the SQS approximate counts are when read (SQS documents them as eventually
    /// consistent, settling within about a minute).
    pub sqs_staleness_s: f64,
    /// Whether policies get CloudWatch `AWS/SQS` minute sums at all (`false` = SQS-only, as a
    /// controller without `cloudwatch:GetMetricData` runs).
    pub cloudwatch_metrics: bool,
    /// How long after a minute closes its CloudWatch datapoint can be read.
    pub cloudwatch_delay_s: f64,
    /// A queue with no message activity this long is inactive: CloudWatch gets no datapoints.
    pub cloudwatch_inactive_after_s: f64,
    /// After an inactive queue wakes, its datapoints appear only this long after the wake.
    pub cloudwatch_wake_delay_s: f64,
    /// What ECS does with `scaleInAfter = null` (unpublished; an assumption).
    pub scale_in_after_default_s: i32,
    /// How long after the last arrival the simulation may run to drain the queue.
    pub drain_limit_s: f64,
    /// How long after ReceiveMessage a worker turns on task scale-in protection: `Some(0)` =
    /// at once (the worker example), `Some(d)` = late by `d`, `None` = never (workers that do
    /// not protect). Only matters with `worker_protection: true` in the service.
    pub worker_protect_delay_s: Option<f64>,
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
        // (docs/simulator.md, "Field figures": 3–4 min from zero for one GPU task).
        SimConfig {
            seed: 1,
            instance_launch_s: 45.0,
            image_pull_s: 120.0,
            app_start_s: 45.0,
            warm_start_s: 30.0,
            start_jitter: 0.2,
            visibility_timeout_s: 1800.0,
            // Inside the documented ~1 min settling window of the approximate counts.
            sqs_staleness_s: 30.0,
            cloudwatch_metrics: true,
            // An assumption: AWS publishes no latency for AWS/SQS datapoints of an active queue;
            // two minutes is the delay commonly seen (docs/simulator.md).
            cloudwatch_delay_s: 120.0,
            // SQS developer guide: a queue stays active for six hours after its last activity;
            // metrics may be delayed up to 15 minutes when an inactive queue is activated.
            cloudwatch_inactive_after_s: 6.0 * 3600.0,
            cloudwatch_wake_delay_s: 900.0,
            scale_in_after_default_s: 300,
            drain_limit_s: 6.0 * 3600.0,
            worker_protect_delay_s: Some(0.0),
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// Send every call here instead of the AWS endpoints (an emulator such as moto).
    pub endpoint_url: Option<String>,
    /// DynamoDB table holding one writer lease per service (`aws.lease_table`); `None` = no
    /// lease, and no way to notice a second controller writing the same service.
    pub lease_table: Option<String>,
    /// How long a lease lasts without a heartbeat (`aws.lease_duration`, default 30 s): the
    /// longest a service goes without a writer after its holder dies.
    pub lease_duration_s: f64,
}

/// Default `aws.lease_duration`.
pub const DEFAULT_LEASE_DURATION_S: f64 = 30.0;

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            endpoint_url: None,
            lease_table: None,
            lease_duration_s: DEFAULT_LEASE_DURATION_S,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    pub tick_s: f64,
    pub services: Vec<ServiceConfig>,
    pub simulation: SimConfig,
    pub aws: AwsSettings,
}

/// The bundled example for a Whisper-style GPU worker (also the demo's policy).
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../../../config/whisper.yaml");

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "not found (check the path)".to_string(),
                _ => e.to_string(),
            },
        })?;
        Config::parse(&text, &shown)
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let invalid = |issues| ConfigError::Invalid {
            path: source_name.to_string(),
            issues,
        };
        let mut unknown: Vec<String> = Vec::new();
        let raw: RawConfig = serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_ignored::deserialize(de, |p| unknown.push(display_path(&p)))
        })
        .map_err(|e| invalid(vec![syntax_issue(text, &e)]))?;
        let mut v = Validator::default();
        let paths = locate::line_paths(text);
        // serde_ignored also sees the private marker Spanned<T> uses to carry locations.
        for key in unknown
            .into_iter()
            .filter(|k| !k.contains("__serde_saphyr_private"))
        {
            let last = key
                .rsplit(['.', ']'])
                .next()
                .unwrap_or(&key)
                .trim_matches('"');
            let hint = match locate::did_you_mean(last) {
                Some(k) => format!("unknown key; did you mean {k}?"),
                None => {
                    "unknown key (check its spelling and indentation against config/whisper.yaml)"
                        .to_string()
                }
            };
            let line = locate::line_of_path(&paths, &key);
            v.issue(key, line, hint);
        }
        let config = v.config(raw);
        if v.issues.is_empty() {
            Ok(config)
        } else {
            Err(invalid(v.issues))
        }
    }
}

/// A YAML syntax (or shape) error as an issue: the key path of its line, the line, and the
/// parser's message without its source snippet (which would name the text `<input>`).
fn syntax_issue(text: &str, e: &serde_saphyr::Error) -> ConfigIssue {
    let line = e.location().map(|l| l.line()).filter(|&l| l > 0);
    let mut message = e.without_snippet().to_string();
    // The parser starts its message with "line L column C: "; the issue prints the line itself.
    if let Some((head, tail)) = message.split_once(": ")
        && head.starts_with("line ")
    {
        message = tail.to_string();
    }
    // ...or ends it with " at line L, column C".
    if let Some(i) = message.rfind(" at line ")
        && message[i + 9..]
            .chars()
            .all(|c| c.is_ascii_digit() || ", column".contains(c))
    {
        message.truncate(i);
    }
    let path = line
        .and_then(|l| locate::line_paths(text).get(l as usize - 1).cloned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "(document)".to_string());
    ConfigIssue {
        path,
        line,
        message: format!("{message} (YAML syntax; compare with config/whisper.yaml)"),
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
    fn lease_table_and_duration_are_read_and_checked() {
        let base = "services:\n  - {name: w, cluster: c, service: s, queue_url: \"https://sqs.us-east-1.amazonaws.com/1/q\", max_tasks: 2, slo: {max_wait: 2m, attainment: 0.9}}\n";
        let c = Config::parse(base, "t").unwrap();
        assert_eq!(c.aws.lease_table, None);
        assert_eq!(c.aws.lease_duration_s, DEFAULT_LEASE_DURATION_S);
        let c = Config::parse(
            &format!("{base}aws:\n  lease_table: preheat-leases\n  lease_duration: 1m\n"),
            "t",
        )
        .unwrap();
        assert_eq!(c.aws.lease_table.as_deref(), Some("preheat-leases"));
        assert_eq!(c.aws.lease_duration_s, 60.0);
        let e = Config::parse(&format!("{base}aws:\n  lease_duration: 1s\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("aws.lease_duration"), "{e}");
    }

    #[test]
    fn worker_protect_delay_reads_a_duration_or_never() {
        let base = "services:\n  - {name: w, cluster: c, service: s, queue_url: \"https://sqs.us-east-1.amazonaws.com/1/q\", max_tasks: 2, slo: {max_wait: 2m, attainment: 0.9}}\n";
        let at = |v: &str| {
            Config::parse(
                &format!("{base}simulation:\n  worker_protect_delay: {v}\n"),
                "t",
            )
            .unwrap()
            .simulation
            .worker_protect_delay_s
        };
        assert_eq!(at("20s"), Some(20.0));
        assert_eq!(at("never"), None);
        assert_eq!(
            Config::parse(base, "t")
                .unwrap()
                .simulation
                .worker_protect_delay_s,
            Some(0.0)
        );
    }

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
            got.iter().any(
                |e| e == "services[0].max_taks (line 10): unknown key; did you mean max_tasks?"
            ),
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
            "\".\" (line 7): unknown key",
            "\"\" (line 8): unknown key",
            "\"a b\" (line 9): unknown key",
        ] {
            assert!(got.iter().any(|e| e.starts_with(want)), "{want}: {got:?}");
        }
        let got = issues(&format!("{MIN}    slo2: {{x.y: 1}}\n"));
        assert!(
            got.iter()
                .any(|e| e.starts_with("services[0].slo2 (line 7): unknown key; did you mean slo?")),
            "{got:?}"
        );
    }

    #[test]
    fn syntax_error_is_not_half_parsed() {
        let e = Config::parse("services: [\n", "bad.yaml").unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }));
        let shown = e.to_string();
        assert!(shown.starts_with("bad.yaml: 1 problem(s):"), "{shown}");
        assert!(shown.contains("services (line 1)"), "{shown}");
        assert!(shown.contains("YAML syntax"), "{shown}");
        assert!(!shown.contains("<input>"), "{shown}");
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
