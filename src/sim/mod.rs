//! The deterministic simulator: replays a trace of jobs through the simulated ECS MI world with
//! any policy, driven by the same reconcile loop as the real controller, and summarizes it.
//!
//! `world` models SQS + ECS + MI; `report` computes the metrics; this file wires a scenario
//! (service config, cluster model, jobs) to a policy and runs it on a simulated clock.

pub mod charts;
pub mod faults;
#[cfg(test)]
mod invariant_tests;
pub mod invariants;
pub mod reference;
pub mod report;
pub mod scenario;
pub mod slo_watch;
pub mod world;

use crate::core::config::{ServiceConfig, SimConfig};
use crate::core::job::Job;
use crate::core::model::Policy;
use crate::reconcile::{self, LoopObserver};
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
    /// Jobs of the days before `start_s` (sim clock, sorted), which the queue's CloudWatch
    /// history holds when the controller starts; empty when the trace has none.
    pub history: Vec<Job>,
}

pub struct SimResult {
    pub summary: Summary,
    pub timeline: Vec<TimelineRow>,
    pub ticks: u64,
    pub faults: faults::FaultCounts,
    pub invariants: invariants::InvariantReport,
}

impl SimSetup {
    pub fn sim_service(&self) -> SimService {
        SimService {
            tasks_per_instance: self.service.tasks_per_instance,
            jobs_per_task: self.service.jobs_per_task,
            worker_protection: self.service.worker_protection,
            price_per_hour_usd: self.service.price.per_hour_usd(),
            initial_scale_in_after_s: self.sim.scale_in_after_default_s,
            min_tasks: self.service.min_tasks,
            max_tasks: self.service.max_tasks,
            floors: self.service.floors.clone(),
            budget_per_hour_usd: self.service.budget_per_hour_usd,
        }
    }

    /// Jobs one instance runs at once.
    pub fn jobs_per_instance(&self) -> u32 {
        self.service.tasks_per_instance * self.service.jobs_per_task
    }
}

/// The records of one finished replay, before they are scored against an SLO.
pub struct RawRun {
    pub policy: String,
    pub jobs: Vec<world::JobRecord>,
    pub instances: Vec<world::InstanceRecord>,
    pub start_s: f64,
    pub end_s: f64,
    pub cold_starts: u64,
    pub warm_starts: u64,
    pub busy_kills: u64,
    pub ticks: u64,
    pub timeline: Vec<TimelineRow>,
    /// What the fault stream injected (all zero without faults).
    pub faults: faults::FaultCounts,
    /// Invariant violations found while the run went (must all be zero).
    pub invariants: invariants::InvariantReport,
    /// Applies the world refused (injected faults).
    pub apply_errors: u64,
    /// Unreachable-SLO ticks and the observable attainment estimate, at the run's SLO.
    pub slo_watch: slo_watch::SloWatch,
}

impl RawRun {
    /// Score the run against a wait SLO of `slo_max_wait_s` (the same run can be judged at
    /// several SLOs).
    pub fn summarize(&self, setup: &SimSetup, label: &str, slo_max_wait_s: f64) -> Summary {
        let oracle = reference::oracle_cost(
            &setup.jobs,
            setup.sim.cold_start_s(),
            setup.service.price.per_hour_usd(),
            setup.jobs_per_instance(),
        );
        report::summarize(&ReportInput {
            policy: label,
            jobs: &self.jobs,
            instances: &self.instances,
            end_s: self.end_s,
            start_s: self.start_s,
            price_per_hour_usd: setup.service.price.per_hour_usd(),
            jobs_per_instance: setup.jobs_per_instance(),
            slo_max_wait_s,
            oracle_cost_usd: oracle.cost_usd,
            cold_starts: self.cold_starts,
            warm_starts: self.warm_starts,
            busy_tasks_stopped: self.busy_kills,
            // The watch is for the SLO the policy ran with; at another one it says nothing.
            slo_watch: (slo_max_wait_s == self.slo_watch.max_wait_s && self.slo_watch.ticks > 0)
                .then_some(&self.slo_watch),
        })
    }
}

/// `policy` restarted at the seeded restart times of `setup`'s faults (the world told when,
/// to watch for flaps after each); unchanged when there are none. Shared with the twin.
pub fn with_restarts(
    setup: &SimSetup,
    world: &mut SimWorld,
    policy: Box<dyn Policy + Send>,
) -> Box<dyn Policy + Send> {
    let restarts = faults::restart_times(
        &setup.sim.faults,
        setup.sim.seed,
        setup.start_s,
        setup.jobs.last().map_or(setup.start_s, |j| j.arrival_s) + setup.sim.drain_limit_s,
    );
    if restarts.is_empty() {
        policy
    } else {
        world.set_restarts(restarts.clone());
        Box::new(faults::Restarting::new(policy, restarts))
    }
}

/// The history a controller started at `setup.start_s` reads back from CloudWatch, as jobs:
/// the days before the window (`setup.history`) turned into the minute sums CloudWatch would
/// hold and back into jobs the way the edge does (`history::synthesize`, service times by
/// Little's law). None when the policy gets no CloudWatch (SQS-only) or nothing came before.
pub fn cloudwatch_history(setup: &SimSetup) -> Option<Vec<Job>> {
    use crate::history::{QueueHistory, Window};
    if !setup.sim.cloudwatch_metrics || setup.history.is_empty() {
        return None;
    }
    let w = Window::new(
        setup.start_s,
        None,
        crate::trace::HISTORY_S / crate::history::DAY_S,
    )
    .ok()?;
    let h = QueueHistory::of_jobs(&setup.history, &w);
    let jobs = crate::history::recent_jobs_of(&h, &w, setup.sim.seed).ok()?;
    (!jobs.is_empty()).then_some(jobs)
}

/// `policy` primed with the history a controller started at `setup.start_s` reads
/// (`cloudwatch_history`). Shared with the twin.
pub fn primed(setup: &SimSetup, mut policy: Box<dyn Policy + Send>) -> Box<dyn Policy + Send> {
    if let Some(past) = cloudwatch_history(setup) {
        policy.prime(&past, setup.start_s);
    }
    policy
}

/// Replay `setup` against `policy` and keep the raw records.
pub fn run_raw(setup: &SimSetup, policy: Box<dyn Policy + Send>, record_timeline: bool) -> RawRun {
    let mut world = SimWorld::new(
        setup.sim_service(),
        setup.sim.clone(),
        &setup.jobs,
        setup.start_s,
        record_timeline,
    );
    let mut clock = SimClock::new(setup.start_s);
    let name = policy.name().to_string();
    let policy = with_restarts(setup, &mut world, primed(setup, policy));
    let mut policies = vec![policy];
    // The simulated world never blocks, so a current-thread runtime just polls to completion.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread tokio runtime needs no OS resources");
    let mut watcher = slo_watch::Watcher::new(
        setup.service.slo.max_wait_s,
        setup.tick_s,
        setup.service.estimates.service_s,
        record_timeline,
    );
    let stats = rt.block_on(reconcile::run(
        &mut world,
        &mut clock,
        &mut policies,
        &mut watcher as &mut dyn LoopObserver,
        None,
    ));
    world.close();
    let (reasons, slo_watch) = watcher.finish();
    // One observation and one decision per tick, in the same order.
    for (row, text) in world.timeline.iter_mut().zip(reasons) {
        row.reason = text;
    }
    collect(
        &mut world,
        setup,
        name,
        stats.ticks,
        stats.apply_errors,
        slo_watch,
    )
}

/// A closed world's records as a run's raw outcome (`run_raw` here, and the twin's lockstep).
pub fn collect(
    world: &mut SimWorld,
    setup: &SimSetup,
    policy: String,
    ticks: u64,
    apply_errors: u64,
    slo_watch: slo_watch::SloWatch,
) -> RawRun {
    RawRun {
        policy,
        jobs: world.jobs().to_vec(),
        instances: world.instance_records(),
        start_s: setup.start_s,
        end_s: world.now_s(),
        cold_starts: world.cold_starts(),
        warm_starts: world.warm_starts(),
        busy_kills: world.busy_kills(),
        ticks,
        timeline: std::mem::take(&mut world.timeline),
        faults: world.fault_counts(),
        invariants: std::mem::take(&mut world.invariants),
        apply_errors,
        slo_watch,
    }
}

/// Replay `setup` against `policy` and score it at the setup's SLO. Same setup, same policy,
/// same seed → same bytes.
pub fn run(setup: &SimSetup, policy: Box<dyn Policy + Send>, record_timeline: bool) -> SimResult {
    let mut raw = run_raw(setup, policy, record_timeline);
    let summary = raw.summarize(setup, &raw.policy.clone(), setup.service.slo.max_wait_s);
    SimResult {
        summary,
        timeline: std::mem::take(&mut raw.timeline),
        ticks: raw.ticks,
        faults: raw.faults,
        invariants: std::mem::take(&mut raw.invariants),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{Config, DEFAULT_CONFIG_YAML};
    use crate::core::model::{Decision, Observation};
    use crate::sim::scenario::synthetic_trace;

    /// A deliberately bad policy that flaps between `hi` and 0 every `period_s`.
    struct Flapper {
        hi: u32,
        period_s: f64,
    }
    impl Policy for Flapper {
        fn name(&self) -> &str {
            "flapper"
        }
        fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
            let want = if ((now_s / self.period_s) as u64).is_multiple_of(2) {
                self.hi
            } else {
                0
            };
            crate::baselines::set_to(obs, want, "flap".into(), now_s, now_s + 15.0)
        }
    }

    /// The history a simulated controller reads at start: the days before the window as
    /// CloudWatch holds them, back into jobs, within the 14 days before the start; none
    /// SQS-only (the read needs `cloudwatch:GetMetricData`) or without days before the window.
    #[test]
    fn the_history_read_at_start_is_the_days_before_the_window_unless_sqs_only() {
        let mut s = setup(true);
        s.start_s = 20.0 * 86_400.0;
        assert_eq!(cloudwatch_history(&s), None);
        s.history = (0..20)
            .map(|d| Job {
                arrival_s: f64::from(d) * 86_400.0 + 36_000.0,
                service_s: 600.0,
            })
            .collect();
        let past = cloudwatch_history(&s).expect("a history");
        // Days 6..20 of the twenty are within the 14 days before the start.
        assert_eq!(past.len(), 14);
        assert!(
            past.iter()
                .all(|j| j.arrival_s >= 6.0 * 86_400.0 && j.arrival_s < s.start_s)
        );
        assert!(past.iter().all(|j| (j.service_s - 600.0).abs() < 1e-6));
        s.sim.cloudwatch_metrics = false;
        assert_eq!(cloudwatch_history(&s), None);
    }

    fn setup(protection: bool) -> SimSetup {
        let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
        let mut service = cfg.services[0].clone();
        service.worker_protection = protection;
        let trace = synthetic_trace(400, 2.0, 3);
        SimSetup::from_trace(service, 15.0, cfg.simulation.clone(), &trace)
    }

    fn check_conservation(setup: &SimSetup, policy: Box<dyn Policy + Send>) -> Summary {
        let r = run(setup, policy, true);
        let s = &r.summary;
        assert_eq!(s.jobs, setup.jobs.len() as u64);
        // Every job completed, or is still waiting/running at the drain limit: none lost.
        assert!(s.completed + s.unstarted <= s.jobs);
        assert!(s.cost_usd >= s.floor_cost_usd * 0.999, "{s:?}");
        assert!(
            r.timeline
                .windows(2)
                .all(|w| w[0].t_s < w[1].t_s && w[0].cost_usd <= w[1].cost_usd + 1e-9)
        );
        r.summary
    }

    #[test]
    fn conservation_with_protection_no_job_is_interrupted() {
        let s = check_conservation(
            &setup(true),
            Box::new(Flapper {
                hi: 6,
                period_s: 1800.0,
            }),
        );
        assert_eq!(s.interrupted_jobs, 0);
        assert_eq!(s.busy_tasks_stopped, 0);
        assert_eq!(s.completed, s.jobs, "{s:?}");
    }

    #[test]
    fn conservation_without_protection_interrupted_jobs_return_and_finish_once() {
        let setup = setup(false);
        let cfg = setup.sim.clone();
        let mut world =
            world::SimWorld::new(setup.sim_service(), cfg, &setup.jobs, setup.start_s, false);
        let mut clock = SimClock::new(setup.start_s);
        let mut policies: Vec<Box<dyn Policy + Send>> = vec![Box::new(Flapper {
            hi: 6,
            period_s: 1800.0,
        })];
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(reconcile::run(
            &mut world,
            &mut clock,
            &mut policies,
            &mut (),
            None,
        ));
        // Regression: placement and billing scanned every instance ever launched (quadratic on
        // long runs); the live index that replaced the scan must list exactly the live ones.
        assert!(world.instance_records().len() > 6, "the flapper relaunches");
        assert!(world.live_index_consistent());
        let jobs = world.jobs();
        let interrupted = jobs.iter().filter(|j| j.interrupted > 0).count();
        assert!(interrupted > 0, "the flapper should interrupt busy workers");
        assert!(world.busy_kills() > 0);
        for j in jobs {
            if let (Some(s), Some(e)) = (j.start_s, j.end_s) {
                assert!(s >= j.arrival_s && e >= s + j.service_s - 1e-6, "{j:?}");
            }
            assert!(j.end_s.is_none() || j.start_s.is_some());
        }
        assert_eq!(
            jobs.iter().filter(|j| j.end_s.is_some()).count(),
            jobs.len()
        );
    }

    #[test]
    fn preheat_serves_every_job_and_is_deterministic() {
        let setup = setup(true);
        let a = check_conservation(
            &setup,
            Box::new(crate::core::decide::Preheat::new(
                setup.service.clone(),
                15.0,
            )),
        );
        let b = check_conservation(
            &setup,
            Box::new(crate::core::decide::Preheat::new(
                setup.service.clone(),
                15.0,
            )),
        );
        assert_eq!(a, b);
        assert_eq!(a.completed, a.jobs);
        assert_eq!(a.interrupted_jobs, 0);
    }

    #[test]
    fn scale_in_after_keeps_instances_warm_and_billed() {
        // One job, then another 2 minutes after the first finishes: with a long scaleInAfter
        // the second lands warm on the same instance; with 0 it needs a new one.
        let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
        let service = cfg.services[0].clone();
        let jobs = vec![
            crate::core::job::Job {
                arrival_s: 0.0,
                service_s: 60.0,
            },
            crate::core::job::Job {
                arrival_s: 600.0,
                service_s: 60.0,
            },
        ];
        let mk = |sia: i32| {
            let mut sim = cfg.simulation.clone();
            sim.scale_in_after_default_s = sia;
            SimSetup {
                service: service.clone(),
                tick_s: 15.0,
                sim,
                jobs: jobs.clone(),
                start_s: 0.0,
                history: Vec::new(),
            }
        };
        let keep = run(&mk(3600), Box::new(Flapper2), false).summary;
        let drop = run(&mk(0), Box::new(Flapper2), false).summary;
        assert_eq!(
            (keep.instances_launched, keep.warm_starts),
            (1, 1),
            "{keep:?}"
        );
        assert_eq!(
            (drop.instances_launched, drop.warm_starts),
            (2, 0),
            "{drop:?}"
        );
        assert!(keep.cost_usd > drop.cost_usd);
    }

    /// Sizes to the protected tasks plus the waiting jobs: the pre-#10 busy floor, which trusted
    /// task protection alone.
    struct TrustsProtection;
    impl Policy for TrustsProtection {
        fn name(&self) -> &str {
            "trusts-protection"
        }
        fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
            let protected = obs.protected_tasks().unwrap_or(0);
            let want = protected + obs.queue.map_or(0, |q| q.backlog() as u32);
            crate::baselines::set_to(obs, want, "test".into(), now_s, now_s + 15.0)
        }
    }

    /// Workers that protect late or never look idle to a floor built on protection alone, and
    /// the simulator's ECS stops them (issue #10); preheat's floor counts in-flight messages
    /// too and stops none.
    #[test]
    fn late_or_missing_protection_exposes_a_protection_only_floor() {
        let with_delay = |delay: Option<f64>| {
            let mut s = setup(true);
            s.sim.worker_protect_delay_s = delay;
            s
        };
        let kills = |s: &SimSetup, p: Box<dyn Policy + Send>| {
            run_raw(s, p, false)
                .invariants
                .count(invariants::Invariant::BusyTaskStopped)
        };
        assert_eq!(kills(&with_delay(Some(0.0)), Box::new(TrustsProtection)), 0);
        for delay in [Some(60.0), None] {
            let s = with_delay(delay);
            assert!(kills(&s, Box::new(TrustsProtection)) > 0, "{delay:?}");
            let preheat = crate::core::decide::Preheat::new(s.service.clone(), 15.0);
            assert_eq!(kills(&s, Box::new(preheat)), 0, "{delay:?}");
        }
    }

    /// One task while the queue holds work, zero otherwise.
    struct Flapper2;
    impl Policy for Flapper2 {
        fn name(&self) -> &str {
            "one-per-busy"
        }
        fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
            let q = obs.queue.unwrap();
            let want = u32::from(q.visible + q.in_flight > 0);
            crate::baselines::set_to(obs, want, "test".into(), now_s, now_s + 15.0)
        }
    }
}
