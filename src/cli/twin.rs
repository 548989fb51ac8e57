//! `preheat twin`: the same replay as `simulate`, but with preheat's real AWS edge reading and
//! writing the simulated cluster through SQS, ECS and CloudWatch calls over loopback HTTP
//! (`preheat::twin`). Lockstep by default (a virtual clock, deterministic with a seed, the same
//! summary as `simulate`); `--parity` also runs `simulate` and compares tick by tick; `--serve`
//! serves the endpoints in real time (or `--speed` times faster) for a `preheat run` elsewhere.
//! This file only turns flags into library calls and prints.

use super::simulate::{SimulateArgs, open_timeline, setup_from, write_timeline};
use anyhow::{Context, Result};
use clap::Args;
use preheat::sim::scenario::{self, DEMO_TRACE_NAME};
use preheat::sim::{self, report};
use preheat::twin::faults::WireFaults;
use preheat::twin::lockstep;
use std::time::Instant;

#[derive(Args)]
pub(crate) struct TwinArgs {
    #[command(flatten)]
    sim: SimulateArgs,
    /// Also run `simulate` on the same setup and report how the two compare tick by tick (on
    /// stderr; with --json, as a second JSON document).
    #[arg(long)]
    parity: bool,
    /// Serve the endpoints for a `preheat run --endpoint-url` in another terminal instead of
    /// driving them in lockstep.
    #[arg(long)]
    serve: bool,
    /// With --serve: simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Faults injected at the wire on top of the simulation's own, e.g.
    /// `denied=0.001,garbled=0.01,dropped=0.01` (per-request probabilities; seeded by --seed).
    #[arg(long)]
    wire_faults: Option<String>,
    /// With --serve: the loopback address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: String,
    /// With --serve: serve this many services in the config's cluster, each with its own world
    /// replaying the trace (seed + k, arrivals k × 7 min later) and its own queue, ECS service
    /// and MI capacity provider (the first keeps the config's names, the others add `-k`).
    #[arg(long, default_value_t = 1)]
    services: usize,
}

pub(crate) fn cmd_twin(a: TwinArgs) -> Result<()> {
    let wire = |seed: u64| -> Result<WireFaults> {
        match &a.wire_faults {
            None => Ok(WireFaults::default()),
            Some(spec) => WireFaults::parse(spec, seed)
                .map_err(|e| anyhow::anyhow!("--wire-faults {spec:?}: {e}")),
        }
    };
    // Checked before any run.
    wire(0)?;
    if a.serve {
        let seed = a.sim.seed.unwrap_or(0);
        return super::twin_serve::cmd_serve(
            &a.sim,
            super::twin_serve::ServeOptions {
                speed: a.speed,
                listen: &a.listen,
                services: a.services,
                wire: wire(seed)?,
            },
        );
    }
    if a.services != 1 {
        anyhow::bail!(
            "--services {} is for --serve; a lockstep run drives the one service it replays",
            a.services
        );
    }
    let timeline = match &a.sim.timeline {
        Some(path) => Some((path, open_timeline(path)?)),
        None => None,
    };
    let (setup, trace) = setup_from(&a.sim)?;
    let policy_name = a.sim.policy.as_deref().unwrap_or("preheat");
    let started = Instant::now();
    let run = lockstep::run_raw_with(
        &setup,
        scenario::build_policy(policy_name, &setup)?,
        wire(setup.sim.seed)?,
    )
    .context("preheat twin")?;
    let elapsed = started.elapsed();
    let summary = run
        .raw
        .summarize(&setup, &run.raw.policy, setup.service.slo.max_wait_s);
    if let Some((path, w)) = timeline {
        write_timeline(path, w, &run.raw.timeline)?;
    }
    let parity = if a.parity {
        let sim = sim::run_raw(&setup, scenario::build_policy(policy_name, &setup)?, true);
        Some(lockstep::parity(&setup, &sim, &run))
    } else {
        None
    };
    if a.sim.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        if let Some(p) = &parity {
            println!("{}", serde_json::to_string_pretty(p)?);
        }
    } else {
        let source = if a.sim.trace.is_some() {
            trace.source.clone()
        } else {
            DEMO_TRACE_NAME.to_string()
        };
        println!(
            "preheat twin: {} jobs from {} ({} format), service {:?}, SLO {:.1}% within {}; \
             the AWS edge over loopback HTTP",
            trace.jobs.len(),
            source,
            trace.format.name(),
            setup.service.name,
            setup.service.slo.attainment * 100.0,
            preheat::core::config::fmt_s(setup.service.slo.max_wait_s),
        );
        print!("{}", report::render_text(&summary));
        let requests: u64 = run.calls.values().sum();
        eprintln!(
            "({} ticks through the twin in {:.2} s; {requests} requests; seed {})",
            run.raw.ticks,
            elapsed.as_secs_f64(),
            setup.sim.seed
        );
        for (api, n) in &run.calls {
            eprintln!("  {api:<34} {n:>9}");
        }
        if !run.wire_faults.is_empty() {
            let list: Vec<String> = run
                .wire_faults
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            eprintln!("faults injected at the wire: {}", list.join(", "));
        }
        if let Some(p) = &parity {
            eprintln!("{}", render_parity(p, run.wire_faults.values().sum()));
        }
    }
    if run.raw.invariants.total() > 0 {
        eprintln!(
            "invariant violations: {} ({} checks)",
            run.raw.invariants.total(),
            run.raw.invariants.checks
        );
        for e in &run.raw.invariants.examples {
            eprintln!("  {e}");
        }
    }
    Ok(())
}

fn render_parity(p: &lockstep::Parity, wire_faults: u64) -> String {
    let mut out = format!(
        "parity with simulate: {} of {} ticks differ ({} twin ticks); cost ${:.2} vs ${:.2} \
         ({:.3}%); attainment {:.2}% vs {:.2}% ({:.2} pt); {}\n",
        p.differing_ticks,
        p.ticks_simulate,
        p.ticks_twin,
        p.cost_twin_usd,
        p.cost_simulate_usd,
        p.cost_rel_diff * 100.0,
        p.attainment_twin * 100.0,
        p.attainment_simulate * 100.0,
        p.attainment_diff_pt,
        if p.within_bounds() {
            "within the bounds (1% cost, 0.5 pt)"
        } else {
            "OUTSIDE the bounds (1% cost, 0.5 pt)"
        }
    );
    if p.differing_ticks > 0 && wire_faults > 0 {
        out.push_str(&format!(
            "  protocol cause: {wire_faults} fault(s) injected at the wire, which `simulate` does \
             not have\n"
        ));
    }
    if p.differing_ticks > 0 {
        out.push_str(&format!(
            "  protocol cause: {} task(s) read cold/warm differently from the simulator (ECS has \
             no cold flag; the edge infers it from registeredAt vs createdAt)\n",
            p.cold_misreads
        ));
        for d in &p.first_differences {
            out.push_str(&format!(
                "  t={:.0}\n    simulate: {}\n    twin:     {}\n",
                d.t_s, d.simulate, d.twin
            ));
        }
    }
    out
}
