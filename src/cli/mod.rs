//! One file per `preheat` command, plus the few helpers they share (loading the config,
//! picking a service, parsing duration flags, sizing the thread pool). Each command turns its
//! flags into library calls and prints the result; errors become `anyhow` errors that `main`
//! prints once.

pub(crate) mod backtest;
pub(crate) mod backtest_trace;
pub(crate) mod bench;
pub(crate) mod chaos;
pub(crate) mod footprint;
pub(crate) mod history;
pub(crate) mod run;
pub(crate) mod simulate;
pub(crate) mod twin;
pub(crate) mod twin_serve;
pub(crate) mod validate;

use anyhow::{Context, Result};
use preheat::core::config::{Config, DEFAULT_CONFIG_YAML, ServiceConfig};
use std::path::{Path, PathBuf};

pub(crate) fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::parse(DEFAULT_CONFIG_YAML, "config/whisper.yaml (bundled)")?,
    })
}

pub(crate) fn pick_service(cfg: &Config, name: Option<&str>) -> Result<ServiceConfig> {
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

pub(crate) fn parse_humantime_s(flag: &str, v: &str) -> Result<f64> {
    humantime::parse_duration(v.trim())
        .map(|d| d.as_secs_f64())
        .with_context(|| format!("--{flag} {v:?} is not a duration; write e.g. 14d, 36h or 90m"))
}

/// `--threads N`: size the worker pool (default: all cores).
pub(crate) fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("cannot start the worker threads")?;
    }
    Ok(())
}

pub(crate) fn fault_class(name: &str) -> Result<preheat::eval::chaos::FaultClass> {
    use preheat::eval::chaos::FaultClass;
    FaultClass::from_name(name).with_context(|| {
        format!(
            "unknown fault class {name:?} (choose from: {})",
            FaultClass::ALL.map(|c| c.name()).join(", ")
        )
    })
}

/// The scenario file `backtest` and `chaos` read: the one given, else `config/scenarios.yaml`
/// under the working directory, else the one in the source tree this binary was built from (so
/// that both commands work from any directory of a checkout, or after `cargo install --path .`
/// while the checkout exists). Trace paths inside are relative to the file itself.
pub(crate) fn scenario_file(given: Option<&Path>, flag: &str) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let here = PathBuf::from("config/scenarios.yaml");
    if here.is_file() {
        return Ok(here);
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/scenarios.yaml");
    if built_from.is_file() {
        return Ok(built_from);
    }
    anyhow::bail!(
        "cannot find config/scenarios.yaml in the working directory nor in the source tree this          binary was built from ({}); run from a checkout of preheat or pass {flag} FILE",
        built_from.display()
    )
}
