//! The `preheat` command line: parses flags, loads and validates inputs, wires a world, a clock
//! and policies together, and prints results. All decisions live in the library; errors from
//! the library's edges are wrapped with `anyhow` here and printed once, with a non-zero exit.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use preheat::config::{Config, DEFAULT_CONFIG_YAML, ServiceConfig};
use preheat::scenario::{self, DEMO_TRACE_NAME};
use preheat::sim::{self, SimSetup, report};
use preheat::trace::{self, ServiceModel, TraceFormat, TraceOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "preheat",
    version,
    about = "Keeps GPU queue workers on ECS Managed Instances warm just before work arrives",
    long_about = "Keeps GPU queue workers on Amazon ECS Managed Instances warm just before work \
                  arrives, and lets them go when it does not.\n\nStart with `preheat simulate`: \
                  it replays a bundled trace through a simulated ECS MI cluster, no AWS account \
                  needed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a trace through the simulated ECS MI cluster with one policy and print a summary.
    Simulate(SimulateArgs),
    /// Check a policy file and print every problem with its path and line.
    Validate {
        /// Policy YAML file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run every scenario × every policy (baseline knobs swept); write tables, JSON and charts.
    Backtest(BacktestArgs),
    /// Run the controller against AWS: observe SQS and ECS, decide, update the services.
    Run(RunArgs),
    /// Measure the AWS loop's RSS and CPU per tick against a local emulator (moto).
    Footprint(FootprintArgs),
    /// Run seeded fault-injection runs (each beside its fault-free twin) over short slices of the
    /// backtest scenarios; print invariant violations (must be 0) and each fault's SLO/cost impact.
    Chaos(ChaosArgs),
    /// Measure simulator throughput on a synthetic 30-day, 100k-job trace.
    Bench {
        /// Jobs in the synthetic trace.
        #[arg(long, default_value_t = 100_000)]
        jobs: usize,
        /// Days the trace spans.
        #[arg(long, default_value_t = 30.0)]
        days: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Args)]
struct RunArgs {
    /// Policy YAML file (its services name the cluster, service, queue and capacity provider).
    #[arg(long)]
    config: PathBuf,
    /// Observe and decide, log what would be done, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// One tick, then exit (non-zero if a read or a write failed).
    #[arg(long)]
    once: bool,
    /// Send every AWS call here (e.g. http://127.0.0.1:5000 for moto). Default: the config's
    /// aws.endpoint_url, else AWS_ENDPOINT_URL, else the real AWS endpoints.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// AWS region. Default: the config's aws.region, else the standard chain (AWS_REGION,
    /// profile, ECS task metadata).
    #[arg(long)]
    region: Option<String>,
    /// Address for /metrics and /healthz (not served with --once).
    #[arg(long, default_value = "127.0.0.1:9464")]
    listen: String,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Write even though Application Auto Scaling also has a scalable target on the service.
    #[arg(long)]
    share_with_aas: bool,
    /// Attempts per AWS call, including the first (SDK standard retry with back-off).
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
}

#[derive(Args)]
struct FootprintArgs {
    /// The emulator (must be a loopback address, e.g. the one scripts/moto prints).
    #[arg(long)]
    endpoint_url: String,
    /// Services (each with its own queue) in one cluster.
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Ticks to measure (after one warm-up tick).
    #[arg(long, default_value_t = 50)]
    ticks: u64,
}

#[derive(Args)]
struct BacktestArgs {
    /// Scenario file.
    #[arg(long, default_value = "config/scenarios.yaml")]
    scenarios: PathBuf,
    /// Run only the scenario with this name.
    #[arg(long)]
    only: Option<String>,
    /// Where to write results.md, results.json and the SVG charts.
    #[arg(long, default_value = "charts")]
    out: PathBuf,
    /// Markdown file whose `<!-- backtest:begin -->`…`<!-- backtest:end -->` block gets the
    /// tables (skipped if the file or the markers are missing).
    #[arg(long, default_value = "README.md")]
    readme: PathBuf,
    /// Do not touch the README.
    #[arg(long)]
    no_readme: bool,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct ChaosArgs {
    /// Fault runs (each also runs once without faults for comparison).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    runs: u64,
    /// Seed that picks each run's scenario slice, fault class and simulator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scenario names to use, comma-separated (default: all in the scenario file).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Scenario file.
    #[arg(long, default_value = "config/scenarios.yaml")]
    scenario_file: PathBuf,
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
    /// capacity, spot, failed-starts, restarts, all (default: every one).
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// Hourly budget cap for every run, as a share of max_tasks at full price (so the budget
    /// guard is exercised); 0 = no budget.
    #[arg(long, default_value_t = 0.75)]
    budget_share: f64,
    /// Print the report as JSON instead of Markdown tables.
    #[arg(long)]
    json: bool,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct SimulateArgs {
    /// Policy YAML file (default: the bundled config/whisper.yaml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Which service of the config to simulate (its name; default: the first).
    #[arg(long)]
    service: Option<String>,
    /// Trace file or ServeGen directory (default: the bundled KTH SP2 demo trace).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Trace format: native, swf, alibaba-pods, azure-llm, servegen (default: detect).
    #[arg(long)]
    format: Option<String>,
    /// Keep arrivals from this point of the trace (humantime, e.g. 115d).
    #[arg(long)]
    window_start: Option<String>,
    /// Keep arrivals before this point of the trace (humantime).
    #[arg(long)]
    window_end: Option<String>,
    /// Multiply inter-arrival times (0.5 = twice as dense).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Service times: from-trace, fixed:SECONDS, scale:FACTOR[:MIN_S:MAX_S],
    /// lognormal:MEDIAN_S:SIGMA[:MIN_S:MAX_S].
    #[arg(long)]
    service_model: Option<String>,
    /// Keep only the first N jobs.
    #[arg(long)]
    max_jobs: Option<usize>,
    /// ServeGen: multiply every client's request rate.
    #[arg(long)]
    servegen_rate_scale: Option<f64>,
    /// Policy: preheat (default), keda, target-tracking, step, keep-alive, static, oracle.
    #[arg(long, default_value = "preheat")]
    policy: String,
    /// Seed of the simulated cluster's random draws (default: the config's simulation.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Inject one class of faults (api-errors, throttling, stale-sqs, capacity, spot,
    /// failed-starts, restarts, all) at `preheat chaos` strength, replacing the config's
    /// `simulation.faults`.
    #[arg(long)]
    faults: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Write the per-tick timeline as CSV to this file.
    #[arg(long)]
    timeline: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(a) => cmd_simulate(a),
        Command::Validate { config } => cmd_validate(config),
        Command::Backtest(a) => cmd_backtest(a),
        Command::Chaos(a) => cmd_chaos(a),
        Command::Bench { jobs, days, seed } => cmd_bench(jobs, days, seed),
        Command::Run(a) => cmd_run(a),
        Command::Footprint(a) => cmd_footprint(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::parse(DEFAULT_CONFIG_YAML, "config/whisper.yaml (bundled)")?,
    })
}

fn pick_service(cfg: &Config, name: Option<&str>) -> Result<ServiceConfig> {
    match name {
        None => Ok(cfg.services[0].clone()),
        Some(n) => cfg
            .services
            .iter()
            .find(|s| s.name == n)
            .cloned()
            .with_context(|| {
                let names: Vec<&str> = cfg.services.iter().map(|s| s.name.as_str()).collect();
                format!(
                    "no service named {n:?} in the config (it has: {})",
                    names.join(", ")
                )
            }),
    }
}

fn parse_humantime_s(flag: &str, v: &str) -> Result<f64> {
    humantime::parse_duration(v.trim())
        .map(|d| d.as_secs_f64())
        .with_context(|| format!("--{flag} {v:?} is not a duration; write e.g. 14d, 36h or 90m"))
}

fn cmd_simulate(a: SimulateArgs) -> Result<()> {
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
    let policy = scenario::build_policy(&a.policy, &setup)?;
    let started = Instant::now();
    let result = sim::run(&setup, policy, a.timeline.is_some());
    let elapsed = started.elapsed();
    if let Some(path) = &a.timeline {
        write_timeline(path, &result.timeline)?;
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
            preheat::config::fmt_s(setup.service.slo.max_wait_s),
        );
        print!("{}", report::render_text(&result.summary));
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
            "faults injected: {}; invariant violations: {}",
            if injected.is_empty() {
                "none".to_string()
            } else {
                injected.join(", ")
            },
            result.invariants.total()
        );
        for e in &result.invariants.examples {
            eprintln!("  {e}");
        }
    }
    Ok(())
}

fn fault_class(name: &str) -> Result<preheat::chaos::FaultClass> {
    use preheat::chaos::FaultClass;
    FaultClass::from_name(name).with_context(|| {
        format!(
            "unknown fault class {name:?} (choose from: {})",
            FaultClass::ALL.map(|c| c.name()).join(", ")
        )
    })
}

fn write_timeline(path: &PathBuf, rows: &[sim::world::TimelineRow]) -> Result<()> {
    let mut w = csv::Writer::from_path(path)
        .with_context(|| format!("cannot write timeline to {}", path.display()))?;
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()
        .with_context(|| format!("cannot write timeline to {}", path.display()))?;
    Ok(())
}

/// `--threads N`: size the worker pool (default: all cores).
fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("cannot start the worker threads")?;
    }
    Ok(())
}

fn cmd_backtest(a: BacktestArgs) -> Result<()> {
    use preheat::backtest;
    use preheat::sim::charts;
    set_threads(a.threads)?;
    let started = Instant::now();
    eprintln!("loading scenarios from {} ...", a.scenarios.display());
    let scenarios = backtest::load_scenarios(&a.scenarios, a.only.as_deref())?;
    for sc in &scenarios {
        eprintln!("  {:<20} {}", sc.name, sc.trace_note);
    }
    let results = backtest::run_all(&scenarios, true);
    let out = backtest::Outputs { dir: a.out.clone() };
    let md = backtest::render_markdown(&results, "");
    let md_path = out.write("results.md", md.as_bytes())?;
    let readme_md = backtest::render_markdown(&results, &format!("{}/", a.out.display()));
    let json_path = out.write(
        "results.json",
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    eprintln!("drawing charts ...");
    for (sc, res) in scenarios.iter().zip(&results) {
        for r in &res.per_slo {
            let points: Vec<charts::FrontierPoint> = r
                .rows
                .iter()
                .map(|row| charts::FrontierPoint {
                    family: row.variant.family.clone(),
                    label: row.variant.label.clone(),
                    attainment: row.summary.slo_attainment,
                    cost_usd: row.summary.cost_usd,
                })
                .collect();
            let f = a
                .out
                .join(format!("{}-{}-frontier.svg", sc.name, r.slo_name));
            charts::frontier_svg(
                &f,
                &format!(
                    "{}: cost vs share of jobs started within {} ({} SLO)",
                    sc.name,
                    preheat::config::fmt_s(r.slo.max_wait_s),
                    r.slo_name
                ),
                &points,
            )?;
        }
        // The timeline at the strictest SLO, where the policies differ most.
        if let Some(r) = res
            .per_slo
            .iter()
            .min_by(|x, y| x.slo.max_wait_s.total_cmp(&y.slo.max_wait_s))
        {
            let series = backtest::timelines(sc, r);
            let t = a
                .out
                .join(format!("{}-{}-timeline.svg", sc.name, r.slo_name));
            charts::timeline_svg(
                &t,
                &format!(
                    "{} ({} SLO): preheat vs the strongest baseline",
                    sc.name, r.slo_name
                ),
                &series,
            )?;
        }
    }
    println!("{md}");
    if !a.no_readme && a.readme.exists() {
        if backtest::update_readme(&a.readme, &readme_md)? {
            eprintln!("updated the results block in {}", a.readme.display());
        } else {
            eprintln!(
                "{} has no <!-- backtest:begin --> / <!-- backtest:end --> markers; left alone",
                a.readme.display()
            );
        }
    }
    eprintln!(
        "wrote {}, {} and charts to {} in {:.0} s",
        md_path.display(),
        json_path.display(),
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cmd_chaos(a: ChaosArgs) -> Result<()> {
    use preheat::{backtest, chaos};
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
    eprintln!("loading scenarios from {} ...", a.scenario_file.display());
    // One scenario asked for: load only its trace (loading all five takes a while).
    let only = match a.scenarios.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    let mut scenarios = match backtest::load_scenarios(&a.scenario_file, only) {
        Ok(s) => s,
        // Unknown name: load them all to list the names below.
        Err(_) if only.is_some() => backtest::load_scenarios(&a.scenario_file, None)?,
        Err(e) => return Err(e.into()),
    };
    if !a.scenarios.is_empty() {
        let known: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
        for want in &a.scenarios {
            if !known.contains(want) {
                bail!(
                    "--scenarios: no scenario named {want:?} in {} (it has: {})",
                    a.scenario_file.display(),
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
    };
    eprintln!(
        "running {} fault runs (+ {} fault-free twins) over {} scenario(s) ...",
        a.runs,
        a.runs,
        scenarios.len()
    );
    let report = chaos::run(&scenarios, &opts)?;
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

fn cmd_validate(path: PathBuf) -> Result<()> {
    let cfg = Config::load(&path)?;
    println!(
        "{}: OK ({} service{}, tick {})",
        path.display(),
        cfg.services.len(),
        if cfg.services.len() == 1 { "" } else { "s" },
        preheat::config::fmt_s(cfg.tick_s)
    );
    for s in &cfg.services {
        println!(
            "  {}: {}/{} on {}, {}..{} tasks, SLO {:.1}% within {}, {:.4} $/h per instance",
            s.name,
            s.cluster,
            s.service,
            s.capacity_provider
                .as_deref()
                .unwrap_or("(no capacity provider)"),
            s.min_tasks,
            s.max_tasks,
            s.slo.attainment * 100.0,
            preheat::config::fmt_s(s.slo.max_wait_s),
            s.price.per_hour_usd()
        );
    }
    Ok(())
}

fn cmd_bench(jobs: usize, days: f64, seed: u64) -> Result<()> {
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

fn init_logging(format: LogFormat) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // RUST_LOG takes `target=level` pairs (no regexes: that keeps env-filter out of the build).
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            Targets::new()
                .with_target("preheat", LevelFilter::INFO)
                .with_default(LevelFilter::WARN)
        });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

fn cmd_run(a: RunArgs) -> Result<()> {
    // A bad config or flag never starts anything.
    let cfg = Config::load(&a.config)?;
    let listen: std::net::SocketAddr = a.listen.parse().with_context(|| {
        format!(
            "--listen {:?} is not an address; write HOST:PORT, e.g. 127.0.0.1:9464",
            a.listen
        )
    })?;
    if let Some(u) = &a.endpoint_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--endpoint-url {u:?} is not a URL; write e.g. http://127.0.0.1:5000");
    }
    init_logging(a.log_format);
    // One thread is plenty for a few calls every few seconds, and keeps RSS small.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(cfg, a, listen))
}

async fn run_async(cfg: Config, a: RunArgs, listen: std::net::SocketAddr) -> Result<()> {
    use preheat::aws::{AwsClients, AwsOptions, AwsWorld, aas, load_sdk_config};
    use preheat::clock::{RealClock, Shutdown};
    use preheat::decide::Preheat;
    use preheat::model::Policy;
    use preheat::telemetry::{self, Instrumented, TelemetryObserver};
    use preheat::world::DryRun;

    let opts = AwsOptions {
        region: a.region.clone().or(cfg.aws.region.clone()),
        endpoint_url: a.endpoint_url.clone().or(cfg.aws.endpoint_url.clone()),
        max_attempts: a.max_attempts,
    };
    let sdk = load_sdk_config(&opts).await;
    if sdk.region().is_none() {
        bail!(
            "no AWS region: set AWS_REGION, aws.region in {} or --region",
            a.config.display()
        );
    }
    let clients = AwsClients::new(&sdk);
    tracing::info!(
        endpoint = %clients.endpoint,
        services = cfg.services.len(),
        dry_run = a.dry_run,
        "checking the queues, clusters, services and capacity providers in the config"
    );
    let world = AwsWorld::new(clients.clone(), cfg.services.clone());
    let problems = world.check_resources().await;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|e| format!("  {e}")).collect();
        bail!(
            "{} problem{} with the AWS resources named in {} (nothing was changed):\n{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            a.config.display(),
            list.join("\n")
        );
    }

    // A second owner of desiredCount would undo every write of ours (and we theirs).
    let mut owners = Vec::new();
    for s in &cfg.services {
        match aas::scalable_target(&clients.aas, &clients.endpoint, &s.cluster, &s.service).await {
            Ok(Some(t)) => owners.push(format!(
                "{} (min {}, max {}{})",
                t.resource_id,
                t.min_capacity,
                t.max_capacity,
                if t.suspended {
                    ", dynamic scaling suspended"
                } else {
                    ""
                }
            )),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                service = %s.name,
                error = %e,
                "could not check for an Application Auto Scaling target (needs \
                 application-autoscaling:DescribeScalableTargets); if one exists, it and \
                 preheat will fight over desiredCount"
            ),
        }
    }
    if !owners.is_empty() {
        let msg = format!(
            "Application Auto Scaling also owns desiredCount of {}: its policies and preheat \
             would overwrite each other",
            owners.join(", ")
        );
        if a.dry_run {
            tracing::warn!("{msg}; --dry-run writes nothing, so going on");
        } else if a.share_with_aas {
            tracing::warn!("{msg}; --share-with-aas given, so writing anyway");
        } else {
            bail!(
                "{msg}. Refusing to write. Deregister the target (aws application-autoscaling \
                 deregister-scalable-target --service-namespace ecs --scalable-dimension \
                 ecs:service:DesiredCount --resource-id service/CLUSTER/SERVICE), or pass \
                 --share-with-aas to run anyway, or --dry-run to only watch"
            );
        }
    }

    let metrics = telemetry::new_metrics(&cfg.services, a.dry_run);
    let mut policies: Vec<Box<dyn Policy + Send>> = cfg
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Box::new(Instrumented::new(
                Preheat::new(s.clone(), cfg.tick_s),
                metrics.clone(),
                i,
            )) as Box<dyn Policy + Send>
        })
        .collect();
    let shutdown = Shutdown::listen().context("cannot listen for SIGTERM")?;
    if !a.once {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!("cannot listen on {listen} for /metrics; pass --listen HOST:PORT")
            })?;
        let bound = listener.local_addr().unwrap_or(listen);
        tracing::info!(address = %bound, "serving /metrics and /healthz");
        let mut stop = shutdown.clone();
        tokio::spawn(telemetry::serve(listener, metrics.clone(), async move {
            stop.requested().await
        }));
    }

    let mut observer = TelemetryObserver::new(metrics.clone(), cfg.services.clone());
    let mut clock = RealClock::new(shutdown.clone());
    let max_ticks = a.once.then_some(1);
    let names: Vec<String> = cfg.services.iter().map(|s| s.name.clone()).collect();
    let dry_run = a.dry_run;
    let run_loop = async {
        if dry_run {
            let mut w = DryRun::new(world, names);
            preheat::reconcile::run(&mut w, &mut clock, &mut policies, &mut observer, max_ticks)
                .await
        } else {
            let mut w = world;
            preheat::reconcile::run(&mut w, &mut clock, &mut policies, &mut observer, max_ticks)
                .await
        }
    };
    // The loop ends after the tick in progress; if that tick hangs on AWS, give up on it.
    let mut late = shutdown.clone();
    let grace = async move {
        late.requested().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    let stats = tokio::select! {
        s = run_loop => Some(s),
        _ = grace => None,
    };
    let Some(stats) = stats else {
        tracing::warn!("the tick in progress did not end within 5 s of shutdown; stopped anyway");
        return Ok(());
    };
    tracing::info!(
        ticks = stats.ticks,
        apply_errors = stats.apply_errors,
        "stopped"
    );
    if a.once {
        let healthy = telemetry::healthy(&metrics.lock().unwrap_or_else(|p| p.into_inner()));
        if !healthy {
            bail!("the observation failed (see the warnings above); nothing was scaled in");
        }
        if stats.apply_errors > 0 {
            bail!(
                "{} action(s) failed to apply (see the warnings above)",
                stats.apply_errors
            );
        }
    }
    Ok(())
}

fn cmd_footprint(a: FootprintArgs) -> Result<()> {
    if a.services == 0 || a.ticks == 0 {
        bail!("--services and --ticks must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(footprint_async(a))
}

async fn footprint_async(a: FootprintArgs) -> Result<()> {
    use preheat::aws::AwsWorld;
    use preheat::aws::fixture::Emulator;
    use preheat::clock::BusyClock;
    use preheat::decide::Preheat;
    use preheat::model::Policy;
    use preheat::telemetry::{cpu_seconds, peak_resident_bytes, resident_bytes};
    use preheat::world::World;

    let emu = Emulator::connect(&a.endpoint_url).await?;
    let cluster = format!("preheat-footprint-{}", std::process::id());
    let base = Config::parse(DEFAULT_CONFIG_YAML, "bundled")?;
    let mut services = Vec::new();
    for k in 0..a.services {
        let name = format!("{cluster}-{k}");
        let queue_url = emu.create_queue(&name).await?;
        emu.send(&queue_url, (k % 4) as u32, 0).await?;
        emu.create_service(&cluster, &name, 0).await?;
        let mut s = base.services[0].clone();
        s.name = name.clone();
        s.cluster = cluster.clone();
        s.service = name;
        s.queue_url = queue_url;
        s.capacity_provider = None;
        s.floors.clear();
        services.push(s);
    }
    let mut policies: Vec<Box<dyn Policy + Send>> = services
        .iter()
        .map(|s| Box::new(Preheat::new(s.clone(), base.tick_s)) as Box<dyn Policy + Send>)
        .collect();
    let mut world = AwsWorld::new(emu.clients.clone(), services);
    let mut clock = BusyClock;
    // Warm-up tick: connection set-up and first allocations are not per-tick costs.
    preheat::reconcile::run(&mut world, &mut clock, &mut policies, &mut (), Some(1)).await;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let stats = preheat::reconcile::run(
        &mut world,
        &mut clock,
        &mut policies,
        &mut (),
        Some(a.ticks),
    )
    .await;
    let cpu_ms = (cpu_seconds() - cpu0) * 1000.0 / a.ticks as f64;
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0 / a.ticks as f64;
    // Breakdown: the same reads without deciding, then deciding alone on the last reads.
    let n = world.services();
    let mut last = Vec::with_capacity(n);
    let cpu1 = cpu_seconds();
    for _ in 0..a.ticks {
        last.clear();
        let now = preheat::clock::unix_now_s();
        for i in 0..n {
            last.push(world.observe(i, now).await);
        }
    }
    let observe_ms = (cpu_seconds() - cpu1) * 1000.0 / a.ticks as f64;
    let cpu2 = cpu_seconds();
    let start = preheat::clock::unix_now_s();
    for k in 0..a.ticks {
        let now = start + k as f64 * base.tick_s;
        for (p, obs) in policies.iter_mut().zip(&last) {
            std::hint::black_box(p.decide(obs, now));
        }
    }
    let decide_ms = (cpu_seconds() - cpu2) * 1000.0 / a.ticks as f64;
    let mb = |b: Option<u64>| b.map_or("?".to_string(), |b| format!("{:.1}", b as f64 / 1e6));
    println!(
        "footprint: {} services × {} ticks against {} ({} apply errors)",
        a.services, stats.ticks, a.endpoint_url, stats.apply_errors
    );
    println!(
        "  CPU per tick (all services, user+sys): {cpu_ms:.2} ms   (goal ≤ 5 ms; {:.3} ms per service)",
        cpu_ms / a.services as f64
    );
    println!(
        "    of which reads (SDK calls, {} services): ~{observe_ms:.2} ms; decisions: ~{decide_ms:.3} ms",
        n
    );
    println!("  wall per tick: {wall_ms:.1} ms (mostly waiting on the emulator)");
    println!(
        "  RSS now: {} MB, peak: {} MB   (goal ≤ 20 MB)",
        mb(resident_bytes()),
        mb(peak_resident_bytes())
    );
    Ok(())
}
