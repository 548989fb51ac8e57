//! `preheat chaos`: many short, seeded fault runs across slices of the backtest scenarios, each
//! paired with the same run without faults, to show that nothing is lost and nothing is
//! overspent when AWS misbehaves, and what each kind of fault costs in SLO and dollars.
//!
//! A run picks a scenario, a fault class and a slice of the trace (1–2 days) from the chaos seed;
//! the simulator injects the faults (`sim::faults`) and checks the invariants on every tick
//! (`sim::invariants`). This file plans the runs, spreads them over the cores and adds up the
//! figures; loading scenarios is `backtest`'s job and printing is the caller's.

use crate::core::config::FaultConfig;
use crate::eval::backtest::Scenario;
use crate::sim::faults::FaultCounts;
use crate::sim::invariants::{Invariant, InvariantReport};
use crate::sim::scenario::{UnknownPolicy, build_policy};
use crate::sim::{self, SimSetup};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One kind of trouble, switched on alone (or all together) for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultClass {
    ApiErrors,
    Throttling,
    StaleSqs,
    Capacity,
    Spot,
    FailedStarts,
    Restarts,
    /// Workers protect 30 s after ReceiveMessage (not a fault of AWS, but of the worker: the
    /// busy floor must come from in-flight messages meanwhile).
    LateProtection,
    /// Workers never protect.
    NoProtection,
    All,
}

impl FaultClass {
    pub const ALL: [FaultClass; 10] = [
        FaultClass::ApiErrors,
        FaultClass::Throttling,
        FaultClass::StaleSqs,
        FaultClass::Capacity,
        FaultClass::Spot,
        FaultClass::FailedStarts,
        FaultClass::Restarts,
        FaultClass::LateProtection,
        FaultClass::NoProtection,
        FaultClass::All,
    ];

    /// The class by its CLI name.
    pub fn from_name(name: &str) -> Option<FaultClass> {
        FaultClass::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultClass::ApiErrors => "api-errors",
            FaultClass::Throttling => "throttling",
            FaultClass::StaleSqs => "stale-sqs",
            FaultClass::Capacity => "capacity",
            FaultClass::Spot => "spot",
            FaultClass::FailedStarts => "failed-starts",
            FaultClass::Restarts => "restarts",
            FaultClass::LateProtection => "late-protection",
            FaultClass::NoProtection => "no-protection",
            FaultClass::All => "all",
        }
    }

    /// How the class's workers protect (`SimConfig::worker_protect_delay_s`); `None` = as the
    /// scenario says.
    pub fn worker_protect_delay_s(self) -> Option<Option<f64>> {
        match self {
            FaultClass::LateProtection => Some(Some(30.0)),
            FaultClass::NoProtection => Some(None),
            _ => None,
        }
    }

    /// What the class injects. Harsher than AWS on a bad day, so that a short run meets each
    /// fault many times.
    pub fn config(self) -> FaultConfig {
        let base = crate::core::config::SimConfig::default().faults;
        let api = FaultConfig {
            api_error_rate: 0.1,
            ..base.clone()
        };
        let throttle = FaultConfig {
            throttle_rate: 0.1,
            ..base.clone()
        };
        let stale = FaultConfig {
            sqs_stale_rate: 0.3,
            sqs_stale_max_s: 300.0,
            sqs_missing_rate: 0.1,
            ..base.clone()
        };
        let capacity = FaultConfig {
            capacity_errors_per_day: 6.0,
            capacity_error_duration_s: 900.0,
            ..base.clone()
        };
        let spot = FaultConfig {
            spot_interruptions_per_day: 12.0,
            ..base.clone()
        };
        let starts = FaultConfig {
            task_start_failure_rate: 0.2,
            ..base.clone()
        };
        let restarts = FaultConfig {
            restarts_per_day: 24.0,
            ..base.clone()
        };
        match self {
            FaultClass::ApiErrors => api,
            FaultClass::Throttling => throttle,
            FaultClass::StaleSqs => stale,
            FaultClass::Capacity => capacity,
            FaultClass::Spot => spot,
            FaultClass::FailedStarts => starts,
            FaultClass::Restarts => restarts,
            // Worker behaviours: no AWS fault, see `worker_protect_delay_s`.
            FaultClass::LateProtection | FaultClass::NoProtection => base,
            FaultClass::All => FaultConfig {
                api_error_rate: api.api_error_rate / 2.0,
                throttle_rate: throttle.throttle_rate / 2.0,
                sqs_stale_rate: stale.sqs_stale_rate / 2.0,
                sqs_stale_max_s: stale.sqs_stale_max_s,
                sqs_missing_rate: stale.sqs_missing_rate / 2.0,
                capacity_errors_per_day: capacity.capacity_errors_per_day / 2.0,
                capacity_error_duration_s: capacity.capacity_error_duration_s,
                spot_interruptions_per_day: spot.spot_interruptions_per_day / 2.0,
                task_start_failure_rate: starts.task_start_failure_rate / 2.0,
                restarts_per_day: restarts.restarts_per_day / 2.0,
            },
        }
    }
}

/// How the runs are drawn.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub runs: usize,
    pub seed: u64,
    /// Slices last between `slice_min_s` and `slice_max_s` (uniform).
    pub slice_min_s: f64,
    pub slice_max_s: f64,
    /// Policy under test (its CLI name).
    pub policy: String,
    /// Fault classes to cycle through (empty = all).
    pub classes: Vec<FaultClass>,
    /// Hourly budget as a share of `max_tasks` at full price (so the budget guard is exercised);
    /// 0 = no budget.
    pub budget_share: f64,
    pub progress: bool,
    /// Run each faulty replay through the twin (`twin::lockstep`): the real AWS edge over
    /// loopback HTTP, each injected fault arriving as a wire error. The fault-free twin of
    /// each run stays in-process.
    pub through_twin: bool,
    /// Replay only this run of the plan (0-based, as the report names it), to look at it.
    pub only_run: Option<usize>,
    /// Keep the faulty run's per-tick timeline (for `--run R --timeline F`).
    pub record_timeline: bool,
}

/// Why a chaos campaign could not run.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error(transparent)]
    UnknownPolicy(#[from] UnknownPolicy),
    #[error(transparent)]
    Twin(#[from] crate::twin::lockstep::TwinError),
    #[error("--run {run}: the plan has runs 0 to {} (raise --runs to reach it)", runs.saturating_sub(1))]
    NoSuchRun { run: usize, runs: usize },
}

impl Default for ChaosOptions {
    fn default() -> Self {
        ChaosOptions {
            runs: 1000,
            seed: 1,
            slice_min_s: 86_400.0,
            slice_max_s: 2.0 * 86_400.0,
            policy: "preheat".into(),
            classes: Vec::new(),
            budget_share: 0.75,
            progress: false,
            through_twin: false,
            only_run: None,
            record_timeline: false,
        }
    }
}

/// One planned run.
#[derive(Debug, Clone)]
struct Case {
    /// Its place in the plan (what `--run` replays).
    index: usize,
    scenario: usize,
    class: FaultClass,
    start_s: f64,
    len_s: f64,
    seed: u64,
}

/// One run's outcome: the faulty run and its fault-free twin.
#[derive(Debug, Clone)]
struct CaseResult {
    index: usize,
    scenario: usize,
    class: FaultClass,
    timeline: Vec<crate::sim::world::TimelineRow>,
    jobs: u64,
    faults: FaultCounts,
    invariants: InvariantReport,
    clean_invariants: InvariantReport,
    clean_attainment: f64,
    faulty_attainment: f64,
    clean_cost_usd: f64,
    faulty_cost_usd: f64,
    clean_p95_s: f64,
    faulty_p95_s: f64,
    interrupted_jobs: u64,
    apply_errors: u64,
    unstarted: u64,
}

/// The figures for one fault class.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClassStats {
    pub runs: u64,
    pub jobs: u64,
    pub faults: FaultCounts,
    pub violations: u64,
    /// SLO attainment over all jobs of the class's runs (job-weighted), without and with faults.
    pub clean_attainment: f64,
    pub faulty_attainment: f64,
    pub clean_cost_usd: f64,
    pub faulty_cost_usd: f64,
    /// Mean of the per-run wait p95.
    pub clean_p95_s: f64,
    pub faulty_p95_s: f64,
    pub interrupted_jobs: u64,
    pub apply_errors: u64,
    /// Jobs not started by the end of the drain limit (with faults).
    pub unstarted: u64,
}

/// Everything `preheat chaos` prints.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChaosReport {
    pub runs: u64,
    pub seed: u64,
    pub policy: String,
    pub scenarios: Vec<String>,
    pub budget_share: f64,
    pub jobs: u64,
    pub faults: FaultCounts,
    /// Violations in the faulty runs.
    pub invariants: InvariantReport,
    /// Violations in the fault-free twins.
    pub clean_invariants: InvariantReport,
    pub per_class: Vec<(FaultClass, ClassStats)>,
    /// The runs with a violation, in plan order, so that one can be replayed (`--run`).
    pub violating_runs: Vec<ViolatingRun>,
    /// With `only_run` and `record_timeline`: that faulty run's per-tick timeline.
    #[serde(skip)]
    pub timeline: Vec<crate::sim::world::TimelineRow>,
}

/// A run that broke an invariant: enough to find and replay it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ViolatingRun {
    pub run: usize,
    pub scenario: String,
    pub class: FaultClass,
    pub violations: u64,
    pub clean_violations: u64,
}

impl ChaosReport {
    pub fn violations(&self) -> u64 {
        self.invariants.total() + self.clean_invariants.total()
    }
}

/// The part of `setup` whose arrivals fall in [start_s, start_s + len_s), on the same clock,
/// with the history a controller started at `start_s` would have (the days before it).
pub fn slice(setup: &SimSetup, start_s: f64, len_s: f64) -> SimSetup {
    let mut out = setup.clone();
    out.history = setup
        .history
        .iter()
        .chain(&setup.jobs)
        .filter(|j| j.arrival_s >= start_s - crate::trace::HISTORY_S && j.arrival_s < start_s)
        .copied()
        .collect();
    out.jobs = setup
        .jobs
        .iter()
        .filter(|j| j.arrival_s >= start_s && j.arrival_s < start_s + len_s)
        .copied()
        .collect();
    out.start_s = start_s;
    out
}

fn plan(scenarios: &[Scenario], o: &ChaosOptions) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(o.seed);
    let classes: &[FaultClass] = if o.classes.is_empty() {
        &FaultClass::ALL
    } else {
        &o.classes
    };
    (0..o.runs)
        .map(|r| {
            // Classes interleave (run r has class r mod C), so that any C runs cover every
            // class; each class then walks through the scenarios, so C × S runs cover every pair.
            let (nc, ns) = (classes.len(), scenarios.len());
            let class = classes[r % nc];
            let scenario = (r % nc + r / nc) % ns;
            let setup = &scenarios[scenario].setup;
            let u: f64 = rng.random();
            let len_s = o.slice_min_s + u * (o.slice_max_s - o.slice_min_s).max(0.0);
            let first = setup.jobs.first().map_or(setup.start_s, |j| j.arrival_s);
            let last = setup.jobs.last().map_or(first, |j| j.arrival_s);
            // Start a minute before a random job (so a slice is never empty and busy periods,
            // where faults hurt most, come up as often as they hold jobs), without running
            // past the trace's end.
            let k = ((rng.random::<f64>() * setup.jobs.len() as f64) as usize)
                .min(setup.jobs.len().saturating_sub(1));
            let at = setup.jobs.get(k).map_or(first, |j| j.arrival_s);
            let start_s = (at.min(last - len_s).max(first) - 60.0).floor();
            Case {
                index: r,
                scenario,
                class,
                start_s,
                len_s,
                seed: rng.random(),
            }
        })
        .collect()
}

fn run_case(scenarios: &[Scenario], o: &ChaosOptions, c: &Case) -> Result<CaseResult, ChaosError> {
    let mut setup = slice(&scenarios[c.scenario].setup, c.start_s, c.len_s);
    setup.sim.seed = c.seed;
    let per_task_h =
        setup.service.price.per_hour_usd() / f64::from(setup.service.tasks_per_instance.max(1));
    let min_cost = f64::from(setup.service.min_tasks) * per_task_h;
    if o.budget_share > 0.0 {
        let full = f64::from(setup.service.max_tasks) * per_task_h;
        setup.service.budget_per_hour_usd = Some((full * o.budget_share).max(min_cost));
    }
    let slo_s = setup.service.slo.max_wait_s;

    let clean = sim::run_raw(&setup, build_policy(&o.policy, &setup)?, false);
    let mut faulty_setup = setup.clone();
    faulty_setup.sim.faults = c.class.config();
    if let Some(delay) = c.class.worker_protect_delay_s() {
        faulty_setup.sim.worker_protect_delay_s = delay;
    }
    let policy = build_policy(&o.policy, &faulty_setup)?;
    let mut faulty = if o.through_twin {
        crate::twin::lockstep::run_raw(&faulty_setup, policy)?.raw
    } else {
        sim::run_raw(&faulty_setup, policy, o.record_timeline)
    };
    let cs = clean.summarize(&setup, &o.policy, slo_s);
    let fs = faulty.summarize(&faulty_setup, &o.policy, slo_s);
    Ok(CaseResult {
        index: c.index,
        scenario: c.scenario,
        class: c.class,
        timeline: std::mem::take(&mut faulty.timeline),
        jobs: fs.jobs,
        faults: faulty.faults,
        invariants: faulty.invariants,
        clean_invariants: clean.invariants,
        clean_attainment: cs.slo_attainment,
        faulty_attainment: fs.slo_attainment,
        clean_cost_usd: cs.cost_usd,
        faulty_cost_usd: fs.cost_usd,
        clean_p95_s: cs.wait_p95_s,
        faulty_p95_s: fs.wait_p95_s,
        interrupted_jobs: fs.interrupted_jobs,
        apply_errors: faulty.apply_errors,
        unstarted: fs.unstarted,
    })
}

/// Plan and run `o.runs` chaos runs over `scenarios` on all cores (rayon's global pool).
pub fn run(scenarios: &[Scenario], o: &ChaosOptions) -> Result<ChaosReport, ChaosError> {
    // Fail on a bad policy name before any work starts.
    if let Some(sc) = scenarios.first() {
        build_policy(&o.policy, &sc.setup)?;
    }
    let mut cases = if scenarios.is_empty() {
        Vec::new()
    } else {
        plan(scenarios, o)
    };
    if let Some(r) = o.only_run {
        // The plan draws runs in order from one seeded stream, so run r is the same whether
        // it is replayed alone or with the rest.
        if r >= cases.len() {
            return Err(ChaosError::NoSuchRun {
                run: r,
                runs: cases.len(),
            });
        }
        cases = vec![cases.swap_remove(r)];
    }
    let total = cases.len();
    let done = AtomicUsize::new(0);
    let mut results: Vec<CaseResult> = cases
        .par_iter()
        .map(|c| {
            let r = run_case(scenarios, o, c);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if o.progress && (n.is_multiple_of(50) || n == total) {
                eprintln!("[{n:>5}/{total}] chaos runs done");
            }
            r
        })
        .collect::<Result<_, _>>()?;

    let mut report = ChaosReport {
        runs: total as u64,
        seed: o.seed,
        policy: o.policy.clone(),
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        budget_share: o.budget_share,
        jobs: 0,
        faults: FaultCounts::default(),
        invariants: InvariantReport::default(),
        clean_invariants: InvariantReport::default(),
        per_class: FaultClass::ALL
            .iter()
            .map(|&c| (c, ClassStats::default()))
            .collect(),
        violating_runs: Vec::new(),
        timeline: Vec::new(),
    };
    // Results come back in plan order, so the sums (and the report) are deterministic.
    for r in &mut results {
        if r.invariants.total() + r.clean_invariants.total() > 0 {
            report.violating_runs.push(ViolatingRun {
                run: r.index,
                scenario: scenarios[r.scenario].name.clone(),
                class: r.class,
                violations: r.invariants.total(),
                clean_violations: r.clean_invariants.total(),
            });
        }
        if o.only_run.is_some() {
            report.timeline = std::mem::take(&mut r.timeline);
        }
        report.jobs += r.jobs;
        report.faults.add(&r.faults);
        report.invariants.merge(&r.invariants);
        report.clean_invariants.merge(&r.clean_invariants);
        let s = &mut report
            .per_class
            .iter_mut()
            .find(|(c, _)| *c == r.class)
            .expect("every class is listed")
            .1;
        s.runs += 1;
        s.jobs += r.jobs;
        s.faults.add(&r.faults);
        s.violations += r.invariants.total();
        let w = r.jobs as f64;
        s.clean_attainment += r.clean_attainment * w;
        s.faulty_attainment += r.faulty_attainment * w;
        s.clean_cost_usd += r.clean_cost_usd;
        s.faulty_cost_usd += r.faulty_cost_usd;
        s.clean_p95_s += r.clean_p95_s;
        s.faulty_p95_s += r.faulty_p95_s;
        s.interrupted_jobs += r.interrupted_jobs;
        s.apply_errors += r.apply_errors;
        s.unstarted += r.unstarted;
    }
    for (_, s) in &mut report.per_class {
        if s.jobs > 0 {
            s.clean_attainment /= s.jobs as f64;
            s.faulty_attainment /= s.jobs as f64;
        }
        if s.runs > 0 {
            s.clean_p95_s /= s.runs as f64;
            s.faulty_p95_s /= s.runs as f64;
        }
    }
    Ok(report)
}

/// The report as Markdown tables (also what the README's "Reliability" section quotes).
pub fn render(r: &ChaosReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} chaos runs (seed {}, policy {}) over slices of {}: {} jobs, {} faults injected.\n",
        r.runs,
        r.seed,
        r.policy,
        r.scenarios.join(", "),
        r.jobs,
        r.faults.total()
    );
    let _ = writeln!(
        out,
        "| invariant | violations (with faults) | violations (fault-free twins) |\n|---|---:|---:|"
    );
    for inv in Invariant::ALL {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            inv.name(),
            r.invariants.count(inv),
            r.clean_invariants.count(inv)
        );
    }
    let _ = writeln!(
        out,
        "| **total** ({} checks) | **{}** | **{}** |\n",
        r.invariants.checks + r.clean_invariants.checks,
        r.invariants.total(),
        r.clean_invariants.total()
    );
    let _ = writeln!(
        out,
        "Budget cap: {} of max_tasks at full price; {} decisions were capped by it (with faults: {}).\n",
        if r.budget_share > 0.0 {
            format!("{:.0}%", r.budget_share * 100.0)
        } else {
            "none".to_string()
        },
        r.invariants.budget_capped + r.clean_invariants.budget_capped,
        r.invariants.budget_capped
    );
    let _ = writeln!(
        out,
        "Busy tasks stopped whose job no read showed yet (taken after the SQS count was read, by a worker that protects late or never; the reads' lag, not counted as a violation): {} (with faults: {}).\n",
        r.invariants.hidden_busy_stops + r.clean_invariants.hidden_busy_stops,
        r.invariants.hidden_busy_stops
    );
    let _ = writeln!(out, "| fault injected | count |\n|---|---:|");
    for (label, n) in r.faults.rows() {
        let _ = writeln!(out, "| {} | {n} |", label.trim());
    }
    let _ = writeln!(
        out,
        "\n| fault class | runs | jobs | faults | SLO attainment clean → faulty | wait p95 clean → faulty (mean) | cost clean → faulty | interrupted jobs | unstarted at the end | violations |\n|---|---:|---:|---:|---|---|---|---:|---:|---:|"
    );
    for (c, s) in &r.per_class {
        if s.runs == 0 {
            continue;
        }
        let dcost = if s.clean_cost_usd > 0.0 {
            (s.faulty_cost_usd / s.clean_cost_usd - 1.0) * 100.0
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2}% → {:.2}% ({:+.2} pt) | {:.0} s → {:.0} s | ${:.0} → ${:.0} ({dcost:+.1}%) | {} | {} | {} |",
            c.name(),
            s.runs,
            s.jobs,
            s.faults.total(),
            s.clean_attainment * 100.0,
            s.faulty_attainment * 100.0,
            (s.faulty_attainment - s.clean_attainment) * 100.0,
            s.clean_p95_s,
            s.faulty_p95_s,
            s.clean_cost_usd,
            s.faulty_cost_usd,
            s.interrupted_jobs,
            s.unstarted,
            s.violations
        );
    }
    if !r.invariants.examples.is_empty() || !r.clean_invariants.examples.is_empty() {
        let _ = writeln!(out, "\nFirst violations:");
        for e in r
            .invariants
            .examples
            .iter()
            .chain(&r.clean_invariants.examples)
        {
            let _ = writeln!(out, "- {e}");
        }
    }
    if !r.violating_runs.is_empty() {
        let _ = writeln!(
            out,
            "\nRuns with a violation (replay one with `preheat chaos --seed {} --run R --timeline FILE` and the same --runs, --scenarios and --classes):",
            r.seed
        );
        for v in &r.violating_runs {
            let _ = writeln!(
                out,
                "- run {}: {} with {} faults, {} violation(s) (fault-free twin: {})",
                v.run,
                v.scenario,
                v.class.name(),
                v.violations,
                v.clean_violations
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{Config, DEFAULT_CONFIG_YAML};
    use crate::sim::scenario::synthetic_trace;

    /// Two synthetic scenarios (the bundled traces are for the CLI test and the real command).
    fn scenarios() -> Vec<Scenario> {
        let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
        let mut service = cfg.services[0].clone();
        service.floors.clear();
        service.budget_per_hour_usd = None;
        [(600, 3.0, 11u64), (1500, 3.0, 12)]
            .iter()
            .enumerate()
            .map(|(i, &(jobs, days, seed))| {
                let mut s = service.clone();
                s.max_tasks = 12 + 8 * i as u32;
                s.min_tasks = i as u32;
                let tr = synthetic_trace(jobs, days, seed);
                Scenario {
                    name: format!("synthetic-{i}"),
                    description: String::new(),
                    setup: SimSetup::from_trace(s, 15.0, cfg.simulation.clone(), &tr),
                    slos: vec![("loose".into(), service.slo.clone())],
                    trace_note: String::new(),
                }
            })
            .collect()
    }

    fn opts(runs: usize, seed: u64) -> ChaosOptions {
        ChaosOptions {
            runs,
            seed,
            slice_min_s: 12.0 * 3600.0,
            slice_max_s: 24.0 * 3600.0,
            ..ChaosOptions::default()
        }
    }

    #[test]
    fn twenty_fault_runs_keep_every_invariant() {
        // A budget of a quarter of max_tasks binds (at 0.75 it never did: budget_capped was 0).
        let o = ChaosOptions {
            budget_share: 0.25,
            ..opts(20, 5)
        };
        let r = run(&scenarios(), &o).unwrap();
        assert_eq!(r.runs, 20);
        assert!(r.invariants.checks > 0 && r.clean_invariants.checks > 0);
        assert!(
            r.invariants.budget_capped > 0 && r.clean_invariants.budget_capped > 0,
            "{}",
            render(&r)
        );
        assert!(r.faults.total() > 100, "{:?}", r.faults);
        for (c, s) in &r.per_class {
            assert!(s.runs >= 2, "{c:?}");
            // Capacity episodes may miss a short slice; worker behaviours inject no AWS fault.
            let no_fault_ok = matches!(
                c,
                FaultClass::Capacity | FaultClass::LateProtection | FaultClass::NoProtection
            );
            assert!(s.faults.total() > 0 || no_fault_ok, "{c:?} {s:?}");
        }
        assert_eq!(r.violations(), 0, "{}", render(&r));
    }

    #[test]
    fn chaos_report_is_deterministic() {
        let a = render(&run(&scenarios(), &opts(8, 9)).unwrap());
        let b = render(&run(&scenarios(), &opts(8, 9)).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, render(&run(&scenarios(), &opts(8, 10)).unwrap()));
    }

    /// `--run R` replays run R of the same plan alone: the same jobs as in the campaign, and a
    /// run beyond the plan is refused with the range it has.
    #[test]
    fn one_run_replays_alone_and_a_run_beyond_the_plan_is_refused() {
        let sc = scenarios();
        let all = run(&sc, &opts(4, 9)).unwrap();
        let one = run(
            &sc,
            &ChaosOptions {
                only_run: Some(3),
                record_timeline: true,
                ..opts(4, 9)
            },
        )
        .unwrap();
        assert_eq!(one.runs, 1);
        assert!(
            one.jobs > 0 && one.jobs < all.jobs,
            "{} of {}",
            one.jobs,
            all.jobs
        );
        assert!(!one.timeline.is_empty());
        let e = run(
            &sc,
            &ChaosOptions {
                only_run: Some(4),
                ..opts(4, 9)
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("runs 0 to 3"), "{e}");
    }

    #[test]
    fn unknown_policy_is_refused_before_running() {
        let o = ChaosOptions {
            policy: "magic".into(),
            ..opts(4, 1)
        };
        assert!(run(&scenarios(), &o).is_err());
    }
}
