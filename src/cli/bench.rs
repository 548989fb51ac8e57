//! `preheat bench`: times preheat against the static policy on a long synthetic trace, both in
//! the same run, and prints the ratio.

use anyhow::{Result, bail};
use preheat::core::config::{Config, DEFAULT_CONFIG_YAML};
use preheat::sim::scenario::{self};
use preheat::sim::{self, SimSetup};
use std::time::Instant;

pub(crate) fn cmd_bench(jobs: usize, days: f64, seed: u64) -> Result<()> {
    if jobs == 0 || days.is_nan() || days <= 0.0 {
        bail!("--jobs must be at least 1 and --days positive");
    }
    let cfg = Config::parse(DEFAULT_CONFIG_YAML, "bundled")?;
    let mut service = cfg.services[0].clone();
    // Room for the load: 100k jobs in 30 days at ~5 min each keep ~12 workers busy.
    service.max_tasks = 200;
    service.budget_per_hour_usd = None;
    let trace = scenario::synthetic_trace(jobs, days, seed);
    let setup = SimSetup::from_trace(service, 15.0, cfg.simulation.clone(), &trace);
    println!(
        "bench: {} jobs over {:.0} days, tick 15 s, one core; wall time per full replay (best of 3)",
        trace.jobs.len(),
        days
    );
    let mut base_s = 0.0;
    for name in ["static", "preheat"] {
        let mut best = f64::INFINITY;
        let mut ticks = 0;
        for _ in 0..3 {
            let policy = scenario::build_policy(name, &setup)?;
            let t = Instant::now();
            let r = sim::run(&setup, policy, false);
            best = best.min(t.elapsed().as_secs_f64());
            ticks = r.ticks;
        }
        if name == "static" {
            base_s = best;
        }
        println!(
            "  {name:<8} {best:>7.3} s  {:>10.0} jobs/s  {:>10.0} ticks/s  ({:.2}× the static-policy replay)",
            trace.jobs.len() as f64 / best,
            ticks as f64 / best,
            best / base_s
        );
    }
    Ok(())
}
