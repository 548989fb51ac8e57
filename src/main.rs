//! The `preheat` command line: parses flags, loads and validates inputs, wires a world, a clock
//! and policies together, and prints results. All decisions live in the library; errors from
//! the library's edges are wrapped with `anyhow` here and printed once, with a non-zero exit.

mod cli;

use clap::{Parser, Subcommand};
use cli::backtest::BacktestArgs;
use cli::chaos::ChaosArgs;
use cli::footprint::FootprintArgs;
use cli::history::HistoryArgs;
use cli::run::RunArgs;
use cli::simulate::SimulateArgs;
use cli::twin::TwinArgs;
use std::path::PathBuf;

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
    /// Replay a trace as `simulate` does, but through preheat's real AWS edge talking to a
    /// simulated cluster over loopback HTTP (SQS, ECS, CloudWatch); or serve it (--serve).
    Twin(TwinArgs),
    /// Check a policy file and print every problem with its path and line.
    Validate {
        /// Policy YAML file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the JSON Schema of a policy file (for editors: see README "Configuration").
    Schema,
    /// Run every scenario × every policy (baseline knobs swept); write tables, JSON and charts.
    /// With --trace: the same on one trace (e.g. from `preheat history`), beside --current.
    Backtest(BacktestArgs),
    /// Read a queue's history from CloudWatch and write it as a trace to backtest on.
    #[command(long_about = cli::history::LONG_ABOUT)]
    History(HistoryArgs),
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

fn main() {
    let args = Cli::parse();
    let result = match args.command {
        Command::Simulate(a) => cli::simulate::cmd_simulate(a),
        Command::Twin(a) => cli::twin::cmd_twin(a),
        Command::Validate { config } => cli::validate::cmd_validate(config),
        Command::Schema => cli::validate::cmd_schema(),
        Command::Backtest(a) => cli::backtest::cmd_backtest(a),
        Command::History(a) => cli::history::cmd_history(a),
        Command::Chaos(a) => cli::chaos::cmd_chaos(a),
        Command::Bench { jobs, days, seed } => cli::bench::cmd_bench(jobs, days, seed),
        Command::Run(a) => cli::run::cmd_run(a),
        Command::Footprint(a) => cli::footprint::cmd_footprint(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", chain_once(&e));
        std::process::exit(1);
    }
}

/// The error and its causes joined with ": ", skipping a cause whose text the message already
/// holds (a library error that prints its OS error would otherwise show it twice).
fn chain_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
