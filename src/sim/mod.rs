//! The deterministic simulator: replays a trace of jobs through the simulated ECS MI world with
//! any policy, driven by the same reconcile loop as the real controller, and summarizes it.
//!
//! `world` models SQS + ECS + MI; `report` computes the metrics; this file wires a scenario
//! (service config, cluster model, jobs) to a policy and runs it on a simulated clock.

pub mod report;
pub mod world;

use crate::config::{ServiceConfig, SimConfig};
use crate::model::Policy;
use crate::reconcile::{self, LoopObserver};
use crate::trace::Job;
use crate::world::SimClock;
use report::{ReportInput, Summary};
use world::{SimService, SimWorld, TimelineRow};

/// Everything a simulation needs besides the policy.
#[derive(Debug, Clone)]
pub struct SimSetup {
    pub service: ServiceConfig,
    pub tick_s: f64,
    pub sim: SimConfig,
    /// Jobs sorted by arrival, on the simulation clock.
    pub jobs: Vec<Job>,
    /// Clock value at the start (the trace's epoch, so schedules and profiles see real days).
    pub start_s: f64,
}

pub struct SimResult {
    pub summary: Summary,
    pub timeline: Vec<TimelineRow>,
    pub ticks: u64,
}

impl SimSetup {
    pub fn sim_service(&self) -> SimService {
        SimService {
            tasks_per_instance: self.service.tasks_per_instance,
            jobs_per_task: self.service.jobs_per_task,
            worker_protection: self.service.worker_protection,
            price_per_hour_usd: self.service.price.per_hour_usd(),
            initial_scale_in_after_s: self.sim.scale_in_after_default_s,
        }
    }

    /// Jobs one instance runs at once.
    pub fn jobs_per_instance(&self) -> u32 {
        self.service.tasks_per_instance * self.service.jobs_per_task
    }
}

/// Replay `setup` against `policy`. Same setup, same policy, same seed → same bytes.
pub fn run(setup: &SimSetup, mut policy: Box<dyn Policy + Send>, record_timeline: bool) -> SimResult {
    let mut world = SimWorld::new(setup.sim_service(), setup.sim.clone(), &setup.jobs, setup.start_s, record_timeline);
    let mut clock = SimClock::new(setup.start_s);
    let name = policy.name().to_string();
    let mut policies = vec![policy];
    // The simulated world never blocks, so a current-thread runtime just polls to completion.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread tokio runtime needs no OS resources");
    let stats = rt.block_on(reconcile::run(&mut world, &mut clock, &mut policies, &mut () as &mut dyn LoopObserver, None));
    policy = policies.pop().expect("one policy in, one out");
    drop(policy);
    world.close();
    let oracle = crate::baselines::oracle::oracle_cost(
        &setup.jobs,
        setup.sim.cold_start_s(),
        setup.service.price.per_hour_usd(),
        setup.jobs_per_instance(),
    );
    let jobs = world.jobs().to_vec();
    let instances = world.instance_records();
    let summary = report::summarize(&ReportInput {
        policy: &name,
        jobs: &jobs,
        instances: &instances,
        end_s: world.now_s(),
        start_s: setup.start_s,
        price_per_hour_usd: setup.service.price.per_hour_usd(),
        jobs_per_instance: setup.jobs_per_instance(),
        slo_max_wait_s: setup.service.slo.max_wait_s,
        oracle_cost_usd: oracle.cost_usd,
        cold_starts: world.cold_starts(),
        warm_starts: world.warm_starts(),
        busy_tasks_stopped: world.busy_kills(),
    });
    SimResult {
        summary,
        timeline: std::mem::take(&mut world.timeline),
        ticks: stats.ticks,
    }
}
