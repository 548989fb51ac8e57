//! The first stage of reading a policy file: the raw structs serde fills from YAML (every field
//! optional, each with its source line) and the validator that turns them into the checked
//! types of `mod.rs`, collecting every problem with its key path and line instead of stopping at
//! the first. Parsing the text and formatting the final error are left to `mod.rs`.

use super::scalar::{Kind, Lenient, Sp};
use super::*;
use serde::Deserialize;

/// An optional key with its line.
type S<T> = Option<Sp<T>>;
/// An optional number or flag: any scalar, read by the validator (see `scalar.rs`).
type N<T> = S<Lenient<T>>;

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub(super) struct RawConfig {
    tick: S<String>,
    #[schemars(required, length(min = 1))]
    services: Option<Vec<RawService>>,
    simulation: Option<RawSimulation>,
    aws: Option<RawAws>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawAws {
    region: S<String>,
    endpoint_url: S<String>,
    lease_table: S<String>,
    lease_duration: S<String>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawService {
    #[schemars(required)]
    name: S<String>,
    #[schemars(required)]
    cluster: S<String>,
    #[schemars(required)]
    service: S<String>,
    #[schemars(required)]
    queue_url: S<String>,
    capacity_provider: S<String>,
    min_tasks: N<u32>,
    max_tasks: N<u32>,
    tasks_per_instance: N<u32>,
    jobs_per_task: N<u32>,
    #[schemars(required)]
    slo: Option<RawSlo>,
    estimates: Option<RawEstimates>,
    price: Option<RawPrice>,
    budget_per_hour_usd: N<f64>,
    floors: Option<Vec<RawFloor>>,
    scale_in_stabilization: S<String>,
    max_step: N<u32>,
    worker_protection: N<bool>,
    scale_in_after_max: S<String>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawSlo {
    max_wait: S<String>,
    attainment: N<f64>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawEstimates {
    service_time: S<String>,
    cold_start: S<String>,
    warm_start: S<String>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawPrice {
    instance_type: S<String>,
    on_demand_per_hour_usd: N<f64>,
    mi_fee_per_hour_usd: N<f64>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawFloor {
    days: Option<Vec<Sp<String>>>,
    from: S<String>,
    to: S<String>,
    min_tasks: N<u32>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawSimulation {
    seed: N<u64>,
    instance_launch: S<String>,
    image_pull: S<String>,
    app_start: S<String>,
    warm_start: S<String>,
    start_jitter: N<f64>,
    visibility_timeout: S<String>,
    sqs_staleness: S<String>,
    cloudwatch_metrics: S<bool>,
    cloudwatch_delay: S<String>,
    cloudwatch_inactive_after: S<String>,
    cloudwatch_wake_delay: S<String>,
    scale_in_after_default: S<String>,
    drain_limit: S<String>,
    worker_protect_delay: S<String>,
    faults: Option<RawFaults>,
}

#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
struct RawFaults {
    api_error_rate: N<f64>,
    throttle_rate: N<f64>,
    sqs_stale_rate: N<f64>,
    sqs_stale_max: S<String>,
    sqs_missing_rate: N<f64>,
    capacity_errors_per_day: N<f64>,
    capacity_error_duration: S<String>,
    spot_interruptions_per_day: N<f64>,
    task_start_failure_rate: N<f64>,
    restarts_per_day: N<f64>,
}

/// serde_ignored writes `services.0.max_taks`; people read `services[0].max_taks`. Built from
/// the path's parts, not its text, so that a key with a dot, a bracket, a space or nothing in it
/// is still named (quoted) rather than lost (found by fuzzing: a key `.` gave an empty path).
pub(super) fn display_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", display_path(parent)),
        Path::Map { parent, key } => {
            let parent = display_path(parent);
            let key = super::locate::segment(key);
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

fn line_of<T>(s: &Sp<T>) -> Option<u64> {
    Some(s.referenced.line())
}

#[derive(Default)]
pub(super) struct Validator {
    pub(super) issues: Vec<ConfigIssue>,
}

impl Validator {
    pub(super) fn issue(
        &mut self,
        path: impl Into<String>,
        line: Option<u64>,
        message: impl Into<String>,
    ) {
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
        let lease_table = r.lease_table.as_ref().map(|s| s.value.trim().to_string());
        if let Some(s) = &r.lease_table
            && s.value.trim().is_empty()
        {
            self.issue(
                "aws.lease_table",
                line_of(s),
                "must not be empty (write the DynamoDB table's name, or drop the key)",
            );
        }
        // At least three heartbeats fit in a lease (one every third of it).
        let lease_duration_s = self.duration(
            &r.lease_duration,
            "aws.lease_duration",
            super::DEFAULT_LEASE_DURATION_S,
            3.0,
            3600.0,
        );
        AwsSettings {
            region,
            endpoint_url,
            lease_table,
            lease_duration_s,
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

    /// The value of a number or flag key, or `None` (with an issue) when it holds something else.
    fn value<T: Kind>(&mut self, v: &Sp<Lenient<T>>, path: &str) -> Option<T> {
        match v.value.parse() {
            Ok(x) => Some(x),
            Err(msg) => {
                self.issue(path, line_of(v), msg);
                None
            }
        }
    }

    fn number(&mut self, v: &N<f64>, path: &str, default: f64, min: f64, max: f64) -> f64 {
        let Some(s) = v else { return default };
        let Some(x) = self.value(s, path) else {
            return default;
        };
        if !x.is_finite() || x < min || x > max {
            self.issue(
                path,
                line_of(s),
                format!("{x} is out of range ({min} to {max})"),
            );
            default
        } else {
            x
        }
    }

    fn count(&mut self, v: &N<u32>, path: &str, default: u32, min: u32, max: u32) -> u32 {
        let Some(s) = v else { return default };
        let Some(x) = self.value(s, path) else {
            return default;
        };
        if x < min || x > max {
            self.issue(
                path,
                line_of(s),
                format!("{x} is out of range ({min} to {max})"),
            );
            default
        } else {
            x
        }
    }

    pub(super) fn config(&mut self, raw: RawConfig) -> Config {
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
        // MI fee ≈ 12% of On-Demand when not given (docs/simulator.md, "Field figures").
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
            .and_then(|b| self.value(b, &format!("{p}.worker_protection")))
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
            Some(m) => match self.value(m, &format!("{p}.min_tasks")) {
                Some(x) if x > max_tasks => {
                    self.issue(
                        format!("{p}.min_tasks"),
                        line_of(m),
                        format!("{x} is above max_tasks ({max_tasks})"),
                    );
                    max_tasks
                }
                Some(x) => x,
                None => 0,
            },
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
            seed: r
                .seed
                .as_ref()
                .and_then(|s| self.value(s, &format!("{p}.seed")))
                .unwrap_or(d.seed),
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
            cloudwatch_metrics: r
                .cloudwatch_metrics
                .map(|b| b.value)
                .unwrap_or(d.cloudwatch_metrics),
            cloudwatch_delay_s: self.duration(
                &r.cloudwatch_delay,
                &format!("{p}.cloudwatch_delay"),
                d.cloudwatch_delay_s,
                0.0,
                900.0,
            ),
            cloudwatch_inactive_after_s: self.duration(
                &r.cloudwatch_inactive_after,
                &format!("{p}.cloudwatch_inactive_after"),
                d.cloudwatch_inactive_after_s,
                60.0,
                7.0 * 86_400.0,
            ),
            cloudwatch_wake_delay_s: self.duration(
                &r.cloudwatch_wake_delay,
                &format!("{p}.cloudwatch_wake_delay"),
                d.cloudwatch_wake_delay_s,
                0.0,
                900.0,
            ),
            scale_in_after_default_s: sia,
            drain_limit_s: self.duration(
                &r.drain_limit,
                &format!("{p}.drain_limit"),
                d.drain_limit_s,
                0.0,
                30.0 * 86_400.0,
            ),
            worker_protect_delay_s: match &r.worker_protect_delay {
                Some(s) if s.value.trim() == "never" => None,
                _ => Some(self.duration(
                    &r.worker_protect_delay,
                    &format!("{p}.worker_protect_delay"),
                    0.0,
                    0.0,
                    3600.0,
                )),
            },
            faults: self.faults(r.faults, &d.faults),
        }
    }

    fn faults(&mut self, r: Option<RawFaults>, d: &FaultConfig) -> FaultConfig {
        let Some(r) = r else { return d.clone() };
        let p = "simulation.faults";
        // Rates below 1 so that a replaced task or a retried call eventually succeeds.
        let rate = |v: &mut Self, x: &N<f64>, name: &str, max: f64| {
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
