//! `preheat simulate`: replays one trace through the simulated ECS MI cluster under one policy
//! (preheat by default) and prints the summary, optionally with a per-tick timeline CSV. The
//! simulation itself is `preheat::sim`; this file only turns flags into a `SimSetup`.

use super::*;
use anyhow::{Context, Result};
use clap::Args;
use preheat::sim::scenario::{self, DEMO_TRACE_NAME};
use preheat::sim::{self, SimSetup, report};
use preheat::trace::{self, ServiceModel, TraceFormat, TraceOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub(crate) struct SimulateArgs {
    /// Policy YAML file (default: the bundled config/whisper.yaml).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Which service of the config to simulate (its name; default: the first).
    #[arg(long)]
    pub(crate) service: Option<String>,
    /// Trace file or ServeGen directory (default: the bundled KTH SP2 demo trace).
    #[arg(long)]
    pub(crate) trace: Option<PathBuf>,
    /// Trace format: native, swf, alibaba-pods, azure-llm, servegen (default: detect).
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// Keep arrivals from this point of the trace (humantime, e.g. 115d).
    #[arg(long)]
    pub(crate) window_start: Option<String>,
    /// Keep arrivals before this point of the trace (humantime).
    #[arg(long)]
    pub(crate) window_end: Option<String>,
    /// Multiply inter-arrival times (0.5 = twice as dense).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) time_scale: f64,
    /// Service times: from-trace, fixed:SECONDS, scale:FACTOR[:MIN_S:MAX_S],
    /// lognormal:MEDIAN_S:SIGMA[:MIN_S:MAX_S].
    #[arg(long)]
    pub(crate) service_model: Option<String>,
    /// Keep only the first N jobs.
    #[arg(long)]
    pub(crate) max_jobs: Option<usize>,
    /// ServeGen: multiply every client's request rate.
    #[arg(long)]
    pub(crate) servegen_rate_scale: Option<f64>,
    /// Run only this policy: preheat, keda, target-tracking, step, keep-alive, static, oracle.
    /// Without it, preheat's summary is followed by one line per peer at its defaults on the
    /// same trace (not with --json, whose output stays preheat's summary alone).
    #[arg(long)]
    pub(crate) policy: Option<String>,
    /// Seed of the simulated cluster's random draws (default: the config's simulation.seed).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Inject one class of faults (api-errors, throttling, stale-sqs, capacity, spot,
    /// failed-starts, restarts, all) at `preheat chaos` strength, replacing the config's
    /// `simulation.faults`.
    #[arg(long)]
    pub(crate) faults: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write the per-tick timeline as CSV to this file.
    #[arg(long)]
    pub(crate) timeline: Option<PathBuf>,
}

/// The setup (service, cluster model, jobs) and the trace the flags describe; `twin` shares it.
pub(crate) fn setup_from(a: &SimulateArgs) -> Result<(SimSetup, trace::Trace)> {
    let cfg = load_config(a.config.as_ref())?;
    let service = pick_service(&cfg, a.service.as_deref())?;
    let mut sim_cfg = cfg.simulation.clone();
    if let Some(seed) = a.seed {
        sim_cfg.seed = seed;
    }
    if let Some(name) = &a.faults {
        sim_cfg.faults = fault_class(name)?.config();
    }
    let trace = match &a.trace {
        None => scenario::demo_trace(sim_cfg.seed)?,
        Some(path) => {
            let mut opts = TraceOptions {
                seed: sim_cfg.seed,
                time_scale: a.time_scale,
                max_jobs: a.max_jobs,
                ..TraceOptions::default()
            };
            if let Some(f) = &a.format {
                opts.format = Some(f.parse::<TraceFormat>()?);
            }
            if let Some(w) = &a.window_start {
                opts.window_start_s = Some(parse_humantime_s("window-start", w)?);
            }
            if let Some(w) = &a.window_end {
                opts.window_end_s = Some(parse_humantime_s("window-end", w)?);
            }
            if let Some(m) = &a.service_model {
                opts.service = m.parse::<ServiceModel>()?;
            }
            if let Some(r) = a.servegen_rate_scale {
                opts.servegen_rate_scale = r;
            }
            trace::load_trace(path, &opts)?
        }
    };
    let setup = SimSetup::from_trace(service, cfg.tick_s, sim_cfg, &trace);
    Ok((setup, trace))
}

pub(crate) fn cmd_simulate(a: SimulateArgs) -> Result<()> {
    // Opened before the run, so that a bad path fails in a second rather than after the replay.
    let timeline = match &a.timeline {
        Some(path) => Some((path, open_timeline(path)?)),
        None => None,
    };
    let (setup, trace) = setup_from(&a)?;
    let policy_name = a.policy.as_deref().unwrap_or("preheat");
    let policy = scenario::build_policy(policy_name, &setup)?;
    let started = Instant::now();
    let result = sim::run(&setup, policy, a.timeline.is_some());
    let elapsed = started.elapsed();
    if let Some((path, w)) = timeline {
        write_timeline(path, w, &result.timeline)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result.summary)?);
    } else {
        let source = if a.trace.is_some() {
            trace.source.clone()
        } else {
            DEMO_TRACE_NAME.to_string()
        };
        println!(
            "preheat simulate: {} jobs from {} ({} format), service {:?}, SLO {:.1}% within {}",
            trace.jobs.len(),
            source,
            trace.format.name(),
            setup.service.name,
            setup.service.slo.attainment * 100.0,
            preheat::core::config::fmt_s(setup.service.slo.max_wait_s),
        );
        print!("{}", report::render_text(&result.summary));
        if a.policy.is_none() {
            print!(
                "{}",
                report::render_peers(&result.summary, &run_peers(&setup)?)
            );
        }
        eprintln!(
            "({} ticks simulated in {:.2} s; seed {})",
            result.ticks,
            elapsed.as_secs_f64(),
            setup.sim.seed
        );
    }
    if !setup.sim.faults.is_off() {
        let injected: Vec<String> = result
            .faults
            .rows()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(label, n)| format!("{n} {}", label.trim()))
            .collect();
        eprintln!(
            "faults injected: {}; invariant violations: {} ({} checks)",
            if injected.is_empty() {
                "none".to_string()
            } else {
                injected.join(", ")
            },
            result.invariants.total(),
            result.invariants.checks
        );
        for e in &result.invariants.examples {
            eprintln!("  {e}");
        }
    }
    Ok(())
}

/// Every peer at its documented defaults on the same setup (in parallel; each run is seeded,
/// so the figures do not depend on the thread count).
fn run_peers(setup: &SimSetup) -> Result<Vec<(String, report::Summary)>> {
    use preheat::baselines::PolicyName;
    use rayon::prelude::*;
    PolicyName::ALL
        .into_par_iter()
        .filter(|p| *p != PolicyName::Preheat)
        .map(|p| {
            let policy = scenario::build_policy(p.as_str(), setup)?;
            let label = match p {
                PolicyName::Oracle => "oracle (clairvoyant, zero wait)".to_string(),
                PolicyName::Static => "static (sized for the peak)".to_string(),
                other => other.as_str().to_string(),
            };
            Ok((label, sim::run(setup, policy, false).summary))
        })
        .collect()
}

/// Creates the timeline CSV (and fails now if it cannot).
pub(crate) fn open_timeline(path: &Path) -> Result<csv::Writer<std::fs::File>> {
    csv::Writer::from_path(path).with_context(|| {
        format!(
            "cannot write timeline to {} (does its folder exist?)",
            path.display()
        )
    })
}

pub(crate) fn write_timeline(
    path: &Path,
    mut w: csv::Writer<std::fs::File>,
    rows: &[sim::world::TimelineRow],
) -> Result<()> {
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()
        .with_context(|| format!("cannot write timeline to {}", path.display()))?;
    Ok(())
}
