//! `preheat chaos`: seeded fault-injection runs over the scenarios, reporting invariant
//! violations and the cost of each fault class. The runner is `preheat::eval::chaos`.

use super::simulate::{open_timeline, write_timeline};
use super::*;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub(crate) struct ChaosArgs {
    /// Fault runs (each also runs once without faults for comparison).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    runs: u64,
    /// Seed that picks each run's scenario slice, fault class and simulator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scenario names to use, comma-separated (default: all in the scenario file).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Scenario file (default: config/scenarios.yaml in the working directory, else in the
    /// source tree the binary was built from). Trace paths inside are relative to this file.
    #[arg(long)]
    scenario_file: Option<PathBuf>,
    /// Shortest slice of a trace one run replays (humantime).
    #[arg(long, default_value = "1d")]
    slice_min: String,
    /// Longest slice (humantime).
    #[arg(long, default_value = "2d")]
    slice_max: String,
    /// Policy under test.
    #[arg(long, default_value = "preheat")]
    policy: String,
    /// Fault classes to cycle through, comma-separated: api-errors, throttling, stale-sqs,
    /// capacity, spot, failed-starts, restarts, late-protection, no-protection, all (default:
    /// every one).
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// Hourly budget cap for every run, as a share of max_tasks at full price (so the budget
    /// guard is exercised); 0 = no budget.
    #[arg(long, default_value_t = 0.75)]
    budget_share: f64,
    /// Print the report as JSON instead of Markdown tables.
    #[arg(long)]
    json: bool,
    /// Send each faulty run through `preheat twin` (the real AWS edge over loopback HTTP, the
    /// faults as wire errors) instead of the in-process world.
    #[arg(long)]
    through_twin: bool,
    /// Replay only run R of the plan (the report lists the runs with a violation by R); give
    /// the same --seed, --runs, --scenarios and --classes as the campaign it came from.
    #[arg(long, value_name = "R")]
    run: Option<usize>,
    /// With --run: write that faulty run's per-tick timeline (counts, desired, reason) as CSV.
    #[arg(long, requires = "run")]
    timeline: Option<PathBuf>,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

pub(crate) fn cmd_chaos(a: ChaosArgs) -> Result<()> {
    use preheat::eval::{backtest, chaos};
    let slice_min_s = parse_humantime_s("slice-min", &a.slice_min)?;
    let slice_max_s = parse_humantime_s("slice-max", &a.slice_max)?;
    if slice_min_s < 3600.0 || slice_max_s < slice_min_s {
        bail!(
            "--slice-min must be at least 1h and --slice-max at least --slice-min (got {} and {})",
            a.slice_min,
            a.slice_max
        );
    }
    set_threads(a.threads)?;
    let started = Instant::now();
    let file = scenario_file(a.scenario_file.as_deref(), "--scenario-file")?;
    eprintln!("loading scenarios from {} ...", file.display());
    // One scenario asked for: load only its trace (loading all five takes a while).
    let only = match a.scenarios.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    let mut scenarios = match backtest::load_scenarios(&file, only) {
        Ok(s) => s,
        // Unknown name: load them all to list the names below.
        Err(_) if only.is_some() => backtest::load_scenarios(&file, None)?,
        Err(e) => return Err(e.into()),
    };
    if !a.scenarios.is_empty() {
        let known: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
        for want in &a.scenarios {
            if !known.contains(want) {
                bail!(
                    "--scenarios: no scenario named {want:?} in {} (it has: {})",
                    file.display(),
                    known.join(", ")
                );
            }
        }
        scenarios.retain(|s| a.scenarios.contains(&s.name));
    }
    let classes = a
        .classes
        .iter()
        .map(|c| fault_class(c).context("--classes"))
        .collect::<Result<Vec<_>>>()?;
    if !(0.0..=1.0).contains(&a.budget_share) {
        bail!(
            "--budget-share must be between 0 (no budget) and 1 (max_tasks at full price), got {}",
            a.budget_share
        );
    }
    let opts = chaos::ChaosOptions {
        budget_share: a.budget_share,
        classes,
        runs: a.runs as usize,
        seed: a.seed,
        slice_min_s,
        slice_max_s,
        policy: a.policy.clone(),
        progress: true,
        through_twin: a.through_twin,
        only_run: a.run,
        record_timeline: a.timeline.is_some(),
    };
    // Fail on an unwritable timeline path before the runs, not after.
    let timeline = match &a.timeline {
        Some(path) => Some((path, open_timeline(path)?)),
        None => None,
    };
    match a.run {
        Some(r) => eprintln!(
            "replaying run {r} of {} (and its fault-free twin) ...",
            a.runs
        ),
        None => eprintln!(
            "running {} fault runs (+ {} fault-free twins) over {} scenario(s) ...",
            a.runs,
            a.runs,
            scenarios.len()
        ),
    }
    let report = chaos::run(&scenarios, &opts)?;
    if let Some((path, w)) = timeline {
        write_timeline(path, w, &report.timeline)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", chaos::render(&report));
    }
    eprintln!(
        "{} runs in {:.0} s",
        report.runs,
        started.elapsed().as_secs_f64()
    );
    if report.violations() > 0 {
        bail!(
            "{} invariant violation(s); see the table above",
            report.violations()
        );
    }
    Ok(())
}
