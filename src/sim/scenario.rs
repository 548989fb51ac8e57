//! Scenario plumbing shared by `simulate`, `bench` and `backtest`: the bundled demo trace, a
//! synthetic trace for benchmarks, turning a loaded trace into a `SimSetup`, and building a
//! policy by its CLI name.
//!
//! The policies themselves live in `decide.rs` (preheat) and `baselines/`.

use crate::baselines::{
    BaselineCommon, Keda, KedaParams, KeepAlive, KeepAliveParams, Oracle, OracleParams, PolicyName,
    StaticN, StaticParams, Step, StepParams, TargetTracking, TargetTrackingParams,
};
use crate::core::config::{ServiceConfig, SimConfig};
use crate::core::decide::Preheat;
use crate::core::job::Job;
use crate::core::model::Policy;
use crate::sim::SimSetup;
use crate::trace::{self, ServiceModel, Trace, TraceFormat, TraceOptions};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal};

/// The demo trace, bundled so `preheat simulate` works anywhere: the Parallel Workloads Archive
/// KTH SP2 log (see data/traces/README.md for attribution).
pub const DEMO_TRACE_NAME: &str =
    "data/traces/pwa-kth-sp2-1996/KTH-SP2-1996-2.1-cln.swf.gz (bundled)";
const DEMO_TRACE: &[u8] =
    include_bytes!("../../data/traces/pwa-kth-sp2-1996/KTH-SP2-1996-2.1-cln.swf.gz");

/// The demo: the first 14 days of KTH SP2 (its first job comes on day 6 after the log's
/// `UnixStartTime`, a Monday; office-hours traffic, idle nights and weekends),
/// each job's run time × 0.25 clamped to 1 min..1 h, a plausible transcription job.
pub fn demo_trace(seed: u64) -> Result<Trace, trace::TraceError> {
    let opts = TraceOptions {
        format: Some(TraceFormat::Swf),
        window_start_s: Some(6.0 * 86_400.0),
        window_end_s: Some(20.0 * 86_400.0),
        service: ServiceModel::Scale {
            factor: 0.25,
            min_s: 60.0,
            max_s: 3600.0,
        },
        seed,
        ..TraceOptions::default()
    };
    trace::parse_trace_bytes(DEMO_TRACE, TraceFormat::Swf, DEMO_TRACE_NAME, &opts)
}

/// A seeded synthetic trace: Poisson arrivals with a daily cycle (peak 3× the trough) and
/// log-normal service times (median 4 min), `jobs` jobs over `days` days.
pub fn synthetic_trace(jobs: usize, days: f64, seed: u64) -> Trace {
    let mut rng = StdRng::seed_from_u64(seed);
    let span_s = days * 86_400.0;
    let mean_rate = jobs as f64 / span_s;
    let peak = mean_rate * 1.5;
    let service = LogNormal::new(240f64.ln(), 0.5).expect("valid log-normal parameters");
    let mut out = Vec::with_capacity(jobs);
    let mut t = 0.0;
    // Thinning: candidates at the peak rate, kept with probability rate(t)/peak.
    while out.len() < jobs {
        let u: f64 = rng.random();
        t += -(1.0 - u).ln() / peak;
        let phase = (t / 86_400.0) * std::f64::consts::TAU;
        let rate = mean_rate * (1.0 + 0.5 * phase.sin());
        let keep: f64 = rng.random();
        if keep * peak <= rate {
            out.push(Job {
                arrival_s: t,
                service_s: service.sample(&mut rng).clamp(10.0, 7200.0),
            });
        }
    }
    Trace {
        jobs: out,
        epoch_unix_s: 0.0,
        skipped_rows: 0,
        filtered_rows: 0,
        source: format!("synthetic({jobs} jobs, {days} days, seed {seed})"),
        format: TraceFormat::Native,
        history: Vec::new(),
    }
}

impl SimSetup {
    /// The trace's measured mean service time (the configured estimate for an empty trace).
    pub fn mean_service_s(&self) -> f64 {
        if self.jobs.is_empty() {
            return self.service.estimates.service_s;
        }
        self.jobs.iter().map(|j| j.service_s).sum::<f64>() / self.jobs.len() as f64
    }

    /// Put a loaded trace on the simulation clock (its epoch), so days and weekdays are real.
    pub fn from_trace(service: ServiceConfig, tick_s: f64, sim: SimConfig, trace: &Trace) -> Self {
        let start_s = trace.epoch_unix_s;
        let on_clock = |jobs: &[Job]| -> Vec<Job> {
            jobs.iter()
                .map(|j| Job {
                    arrival_s: start_s + j.arrival_s,
                    service_s: j.service_s,
                })
                .collect()
        };
        SimSetup {
            service,
            tick_s,
            sim,
            jobs: on_clock(&trace.jobs),
            history: on_clock(&trace.history),
            start_s,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown policy {0:?} (choose one of: preheat, keda, target-tracking, step, keep-alive, static, oracle)"
)]
pub struct UnknownPolicy(pub String);

/// A policy by its CLI name, with its documented defaults for this setup (docs/peers.md):
/// KEDA's and the HPA's defaults; target tracking at T = SLO wait ÷ the trace's measured mean
/// service time (what the AWS recipe tells a user to measure); the step template as deployed
/// (ChangeInCapacity on the 5-minute maximum), its last band widened to `max_tasks`; keep-alive at
/// K = 10 min; static sized for the trace's zero-wait peak (capped at `max_tasks`); the oracle looking one high-quantile cold start ahead.
pub fn build_policy(name: &str, setup: &SimSetup) -> Result<Box<dyn Policy + Send>, UnknownPolicy> {
    let name: PolicyName = name.parse().map_err(|_| UnknownPolicy(name.to_string()))?;
    let common = BaselineCommon {
        min_tasks: setup.service.min_tasks,
        max_tasks: setup.service.max_tasks,
        jobs_per_task: setup.service.jobs_per_task,
    };
    Ok(match name {
        PolicyName::Preheat => Box::new(Preheat::new(setup.service.clone(), setup.tick_s)),
        PolicyName::Keda => Box::new(Keda::new(
            KedaParams {
                min_replica_count: setup.service.min_tasks,
                ..KedaParams::default()
            },
            common,
        )),
        PolicyName::TargetTracking => Box::new(TargetTracking::new(
            TargetTrackingParams::for_slo(setup.service.slo.max_wait_s, setup.mean_service_s()),
            common,
        )),
        PolicyName::Step => Box::new(Step::new(
            StepParams {
                max_step_tasks: setup.service.max_tasks,
                ..StepParams::default()
            },
            common,
        )),
        PolicyName::KeepAlive => Box::new(KeepAlive::new(KeepAliveParams::default(), common)),
        PolicyName::Static => Box::new(StaticN::new(
            StaticParams::sized_for_peak(&setup.jobs, setup.service.jobs_per_task),
            common,
        )),
        PolicyName::Oracle => Box::new(Oracle::new(&setup.jobs, oracle_params(setup), common)),
    })
}

/// The oracle plans for a high quantile of the cold start (so launches are ready in time) and
/// holds through gaps shorter than the median boot it would pay again.
pub fn oracle_params(setup: &SimSetup) -> OracleParams {
    let cold_s = setup.sim.cold_start_s();
    OracleParams {
        lead_s: cold_s * (1.0 + 2.0 * setup.sim.start_jitter) + setup.tick_s,
        hold_s: cold_s,
        tick_s: setup.tick_s,
    }
}
