//! Lockstep: the real AWS edge (`aws::AwsWorld`, the code `preheat run` uses) against the twin,
//! over loopback HTTP through the SDK, on a virtual clock shared in-process.
//!
//! Each tick the world is advanced to the clock's time and its view frozen (`wire_view`); the
//! edge then reads it through ECS, SQS and CloudWatch calls and writes back through
//! `UpdateService` / `UpdateCapacityProvider`, which the twin applies to the world. One server
//! task and the loop share one current-thread runtime, so a run is as deterministic as
//! `simulate`: same setup and seed, same bytes. The SDK makes one attempt per call (a fault the
//! world injects is one failed read, as in `simulate`). Comparing with `simulate` is
//! `parity`'s job, below; scoring is `sim::report`'s.

use super::faults::WireFaults;
use super::{Names, Shared, TwinState, lock};
use crate::aws::{AwsClients, AwsWorld};
use crate::core::model::TaskPhase;
use crate::core::model::{Action, Decision, Observation, Policy};
use crate::reconcile::{self, LoopObserver};
use crate::sim::world::wire::WireView;
use crate::sim::world::{SimWorld, TimelineRow};
use crate::sim::{RawRun, SimSetup};
use crate::world::{ApplyError, SimClock, World};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ecs::config::Credentials;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    #[error("cannot start the twin's loopback server: {0}")]
    Listen(#[from] std::io::Error),
}

/// The edge, with the world frozen at each tick before the edge reads it.
struct Lockstep {
    edge: AwsWorld,
    state: Shared,
    cold_misreads: BTreeSet<usize>,
}

/// Running tasks the edge will read as cold or warm differently from the world: ECS has no
/// "cold" flag, so the edge infers it from the instance's `registeredAt` against the task's
/// `createdAt` (`aws::COLD_SLACK_S`), which misreads a task placed on an instance that
/// registered just before it (a known source of parity differences, through the lag learner).
fn note_cold_misreads(v: &WireView, out: &mut BTreeSet<usize>) {
    let Some(tasks) = &v.obs.tasks else {
        return;
    };
    for t in tasks.iter().filter(|t| t.phase == TaskPhase::Running) {
        let wire = v.tasks.iter().find(|w| w.id as u64 == t.id);
        let reg = wire
            .and_then(|w| w.instance)
            .and_then(|i| v.instances.iter().find(|x| x.id == i))
            .map(|x| x.registered_s);
        if let (Some(cold), Some(reg)) = (t.cold, reg)
            && (reg + crate::aws::COLD_SLACK_S >= t.created_at_s) != cold
        {
            out.insert(t.id as usize);
        }
    }
}

impl World for Lockstep {
    fn services(&self) -> usize {
        1
    }
    async fn observe(&mut self, service: usize, now_s: f64) -> Observation {
        {
            let mut st = lock(&self.state);
            let w = &mut st.worlds[0];
            w.freeze(now_s);
            if let Some(view) = &w.view {
                note_cold_misreads(view, &mut self.cold_misreads);
            }
        }
        self.edge.observe(service, now_s).await
    }
    async fn apply(
        &mut self,
        service: usize,
        actions: &[Action],
        now_s: f64,
    ) -> Result<(), ApplyError> {
        self.edge.apply(service, actions, now_s).await
    }
    fn finished(&self, now_s: f64) -> bool {
        lock(&self.state).worlds[0].sim.finished(now_s)
    }
}

/// Each tick's reason, for the timeline (as `sim::run_raw` keeps them).
struct Reasons(Vec<String>);

impl LoopObserver for Reasons {
    fn on_decision(&mut self, _: usize, _: f64, _: &Observation, d: &Decision) {
        self.0.push(d.why.to_string());
    }
}

/// A lockstep run: the simulator's records plus what went over the wire.
pub struct TwinRun {
    pub raw: RawRun,
    /// Requests the twin answered, per operation.
    pub calls: BTreeMap<String, u64>,
    /// Faults injected at the wire, per kind.
    pub wire_faults: BTreeMap<&'static str, u64>,
    /// Tasks the edge read as cold/warm differently from the world (`note_cold_misreads`).
    pub cold_misreads: usize,
}

/// SDK clients for the twin at `endpoint`: fixed dummy credentials (the twin only checks that
/// requests are signed), one attempt per call, short timeouts.
pub async fn clients(endpoint: &str) -> AwsClients {
    let cfg = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::aws::http_client())
        .region(Region::new(super::REGION))
        .credentials_provider(Credentials::new("twin", "twin", None, None, "twin"))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .endpoint_url(endpoint)
        .load()
        .await;
    AwsClients::new(&cfg)
}

/// Replay `setup` with `policy` through the edge and the twin; the same records as
/// `sim::run_raw` (always with the timeline, which parity compares).
pub fn run_raw(setup: &SimSetup, policy: Box<dyn Policy + Send>) -> Result<TwinRun, TwinError> {
    run_raw_with(setup, policy, WireFaults::default())
}

/// `run_raw` with faults injected at the wire as well (`twin::faults`).
pub fn run_raw_with(
    setup: &SimSetup,
    policy: Box<dyn Policy + Send>,
    wire: WireFaults,
) -> Result<TwinRun, TwinError> {
    let mut world = SimWorld::new(
        setup.sim_service(),
        setup.sim.clone(),
        &setup.jobs,
        setup.start_s,
        true,
    );
    let name = policy.name().to_string();
    let policy = crate::sim::with_restarts(setup, &mut world, crate::sim::primed(setup, policy));
    let state = TwinState::new(world, Names::of(&setup.service));
    lock(&state).wire_faults = wire;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stats, reasons, cold_misreads) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(super::serve(listener, state.clone()));
        let edge = AwsWorld::new(clients(&endpoint).await, vec![setup.service.clone()])
            .with_cp_write_gap(Duration::ZERO);
        let mut world = Lockstep {
            edge,
            state: state.clone(),
            cold_misreads: BTreeSet::new(),
        };
        let mut reasons = Reasons(Vec::new());
        let stats = reconcile::run(
            &mut world,
            &mut SimClock::new(setup.start_s),
            &mut [policy],
            &mut reasons,
            None,
        )
        .await;
        server.abort();
        Ok::<_, TwinError>((stats, reasons, world.cold_misreads.len()))
    })?;
    let mut st = lock(&state);
    let TwinState {
        worlds,
        calls,
        wire_fault_counts,
        ..
    } = &mut *st;
    let mut raw = finish(
        &mut worlds[0].sim,
        setup,
        name,
        stats.ticks,
        stats.apply_errors,
    );
    for (row, text) in raw.timeline.iter_mut().zip(reasons.0) {
        row.reason = text;
    }
    Ok(TwinRun {
        raw,
        calls: std::mem::take(calls),
        wire_faults: std::mem::take(wire_fault_counts),
        cold_misreads,
    })
}

/// Close the world and collect its records (as `sim::run_raw` does).
pub fn finish(
    world: &mut SimWorld,
    setup: &SimSetup,
    policy: String,
    ticks: u64,
    apply_errors: u64,
) -> RawRun {
    world.close();
    crate::sim::collect(
        world,
        setup,
        policy,
        ticks,
        apply_errors,
        Default::default(),
    )
}

/// One tick where the twin and `simulate` disagree.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TickDiff {
    pub t_s: f64,
    pub simulate: String,
    pub twin: String,
}

/// How closely a twin run matches the `simulate` run of the same setup.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Parity {
    pub ticks_simulate: usize,
    pub ticks_twin: usize,
    /// Ticks (by position) whose time, desired count or reason differ; the first few are kept.
    pub differing_ticks: usize,
    pub first_differences: Vec<TickDiff>,
    pub cost_simulate_usd: f64,
    pub cost_twin_usd: f64,
    /// |twin − simulate| / simulate.
    pub cost_rel_diff: f64,
    pub attainment_simulate: f64,
    pub attainment_twin: f64,
    /// |twin − simulate| in percentage points.
    pub attainment_diff_pt: f64,
    /// Tasks the edge read as cold/warm differently from the world: the protocol cause of any
    /// differing ticks seen so far (ECS reports no cold flag; see `note_cold_misreads`).
    pub cold_misreads: usize,
}

impl Parity {
    /// The bar: cost within 1 %, attainment within 0.5 pt.
    pub fn within_bounds(&self) -> bool {
        self.cost_rel_diff <= 0.01 && self.attainment_diff_pt <= 0.5
    }
}

/// What must agree tick by tick: the time, the count the world was asked for (the previous
/// tick's decision), what that did (visible, running, busy) and the kind of reason (its
/// `[code]`). The reason's numbers may differ slightly (e.g. a learned lag) and are shown, not
/// compared.
fn row_key(r: &TimelineRow) -> String {
    let code = r.reason.split(']').next().unwrap_or("");
    format!(
        "t={:.0} desired={} visible={} running={} busy={} {code}]",
        r.t_s, r.desired, r.visible, r.running, r.busy
    )
}

/// Compare the timelines and summaries of a `simulate` run and a twin run of the same setup.
pub fn parity(setup: &SimSetup, sim: &RawRun, twin: &TwinRun) -> Parity {
    let cold_misreads = twin.cold_misreads;
    let twin = &twin.raw;
    let slo = setup.service.slo.max_wait_s;
    let a = sim.summarize(setup, &sim.policy, slo);
    let b = twin.summarize(setup, &twin.policy, slo);
    let mut differing = 0;
    let mut first = Vec::new();
    let n = sim.timeline.len().max(twin.timeline.len());
    for i in 0..n {
        let (rx, ry) = (sim.timeline.get(i), twin.timeline.get(i));
        if rx.map(row_key) != ry.map(row_key) {
            let show = |r: Option<&TimelineRow>| {
                r.map_or("(no tick)".to_string(), |r| {
                    format!("{} {}", row_key(r), r.reason)
                })
            };
            let (x, y) = (show(rx), show(ry));
            differing += 1;
            if first.len() < 5 {
                let t_s = sim
                    .timeline
                    .get(i)
                    .or(twin.timeline.get(i))
                    .map_or(0.0, |r| r.t_s);
                first.push(TickDiff {
                    t_s,
                    simulate: x,
                    twin: y,
                });
            }
        }
    }
    let rel = if a.cost_usd > 0.0 {
        (b.cost_usd - a.cost_usd).abs() / a.cost_usd
    } else {
        (b.cost_usd - a.cost_usd).abs()
    };
    Parity {
        ticks_simulate: sim.timeline.len(),
        ticks_twin: twin.timeline.len(),
        differing_ticks: differing,
        first_differences: first,
        cost_simulate_usd: a.cost_usd,
        cost_twin_usd: b.cost_usd,
        cost_rel_diff: rel,
        attainment_simulate: a.slo_attainment,
        attainment_twin: b.slo_attainment,
        attainment_diff_pt: (b.slo_attainment - a.slo_attainment).abs() * 100.0,
        cold_misreads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{Config, DEFAULT_CONFIG_YAML};
    use crate::core::decide::Preheat;
    use crate::sim::scenario::synthetic_trace;

    fn setup(jobs: usize, days: f64) -> SimSetup {
        let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
        let trace = synthetic_trace(jobs, days, 3);
        SimSetup::from_trace(
            cfg.services[0].clone(),
            cfg.tick_s,
            cfg.simulation.clone(),
            &trace,
        )
    }

    /// The parity bar on a short slice: the real edge against the twin decides what
    /// `simulate` decides, tick by tick, and scores the same.
    #[test]
    fn twin_and_simulate_decide_the_same_on_a_short_slice() {
        let s = setup(80, 0.25);
        let policy = || Box::new(Preheat::new(s.service.clone(), s.tick_s));
        let sim = crate::sim::run_raw(&s, policy(), true);
        let twin = run_raw(&s, policy()).unwrap();
        let p = parity(&s, &sim, &twin);
        eprintln!(
            "parity: {} of {} ticks differ, {} cold misread(s), cost {:.3}% apart, attainment {:.2} pt",
            p.differing_ticks,
            p.ticks_simulate,
            p.cold_misreads,
            p.cost_rel_diff * 100.0,
            p.attainment_diff_pt
        );
        assert!(p.ticks_simulate > 100, "{p:?}");
        assert_eq!(p.ticks_simulate, p.ticks_twin);
        // Every difference has its listed cause: a task the edge read cold that the world
        // started warm (or the reverse). Without one, the decisions are the same to the tick.
        assert!(
            p.differing_ticks == 0 || p.cold_misreads > 0,
            "{:#?}",
            p.first_differences
        );
        assert!(p.differing_ticks * 100 <= p.ticks_simulate, "{p:#?}");
        assert!(p.within_bounds(), "{p:?}");
        // It went over the wire: every read and both writes.
        for api in [
            "sqs:GetQueueAttributes",
            "cloudwatch:GetMetricData",
            "ecs:DescribeServices",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "ecs:GetTaskProtection",
            "ecs:ListContainerInstances",
            "ecs:DescribeContainerInstances",
            "ecs:DescribeCapacityProviders",
            "ecs:UpdateService",
        ] {
            assert!(
                twin.calls.get(api).is_some_and(|&n| n > 0),
                "{api}: {:?}",
                twin.calls
            );
        }
    }

    /// Records what the policy was shown, and decides as the wrapped policy does.
    struct Shown(
        std::sync::Arc<std::sync::Mutex<Vec<Observation>>>,
        Box<dyn Policy + Send>,
    );
    impl Policy for Shown {
        fn name(&self) -> &str {
            "shown"
        }
        fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
            self.0.lock().unwrap().push(obs.clone());
            self.1.decide(obs, now_s)
        }
    }

    /// What the edge reads through the twin is what `simulate` hands the policy, field by
    /// field, except where the AWS APIs say less: task ids are ARN hashes, a task still
    /// PROVISIONING has no container instance yet (so no cold flag), only registered
    /// instances are counted, and timestamps pass through the SDK at nanosecond precision.
    #[test]
    fn the_edge_reads_what_simulate_shows() {
        let s = setup(80, 0.25);
        let shown = |runs_twin: bool| {
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let policy = crate::sim::scenario::build_policy("keep-alive", &s).unwrap();
            let p = Box::new(Shown(seen.clone(), policy));
            if runs_twin {
                run_raw(&s, p).unwrap();
            } else {
                crate::sim::run_raw(&s, p, false);
            }
            let mut v = std::mem::take(&mut *seen.lock().unwrap());
            for o in &mut v {
                o.instances = None;
                for t in o.tasks.iter_mut().flatten() {
                    t.id = 0;
                    t.created_at_s = (t.created_at_s * 1e6).round();
                    t.started_at_s = t.started_at_s.map(|x| (x * 1e6).round());
                    if t.phase != TaskPhase::Running {
                        t.cold = None;
                    }
                }
            }
            v
        };
        let (sim, twin) = (shown(false), shown(true));
        assert!(sim.len() > 100);
        assert_eq!(sim.len(), twin.len());
        for (i, (a, b)) in sim.iter().zip(&twin).enumerate() {
            assert_eq!(a, b, "tick {i}");
        }
    }

    /// AccessDenied answers, garbled bodies and dropped connections at the wire: the run is
    /// still deterministic, every job is served, and no busy worker is stopped (a read that
    /// failed is unknown, and the core never scales in on unknown).
    #[test]
    fn wire_faults_are_deterministic_and_stop_no_busy_worker() {
        let s = setup(60, 0.25);
        let wire = WireFaults::parse("denied=0.02,garbled=0.05,dropped=0.05", 9).unwrap();
        let go = || {
            run_raw_with(
                &s,
                Box::new(Preheat::new(s.service.clone(), s.tick_s)),
                wire,
            )
            .unwrap()
        };
        let (a, b) = (go(), go());
        assert_eq!(a.wire_faults, b.wire_faults);
        for kind in ["denied", "garbled", "dropped"] {
            assert!(
                a.wire_faults.get(kind).is_some_and(|&n| n > 0),
                "{:?}",
                a.wire_faults
            );
        }
        let summary = |r: &TwinRun| r.raw.summarize(&s, "preheat", s.service.slo.max_wait_s);
        let sa = summary(&a);
        assert_eq!(sa, summary(&b));
        assert_eq!(sa.completed, sa.jobs);
        assert_eq!(sa.busy_tasks_stopped, 0);
        assert_eq!(sa.interrupted_jobs, 0);
    }
}
