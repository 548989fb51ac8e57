//! `preheat backtest`: runs every scenario of the scenarios file against preheat and the swept
//! peers, then writes the tables, charts and README block. The sweep and verdicts live in
//! `preheat::eval::backtest`.

use super::*;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub(crate) struct BacktestArgs {
    /// Scenario file (default: config/scenarios.yaml in the working directory, else in the
    /// source tree the binary was built from). Trace paths inside are relative to this file.
    #[arg(long)]
    pub(crate) scenarios: Option<PathBuf>,
    /// Run only the scenario with this name.
    #[arg(long)]
    pub(crate) only: Option<String>,
    /// Where to write results.md, results.json and the SVG charts (default: charts, or
    /// backtest-out with --trace).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Markdown file whose `<!-- backtest:begin -->`…`<!-- backtest:end -->` block gets the
    /// tables (skipped if the file or the markers are missing).
    #[arg(long, default_value = "README.md")]
    pub(crate) readme: PathBuf,
    /// Do not touch the README.
    #[arg(long)]
    pub(crate) no_readme: bool,
    /// Threads (default: all cores).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Backtest this one trace (native CSV, e.g. from `preheat history`) instead of the
    /// scenario file: preheat and every swept peer at the config's SLO.
    #[arg(long, conflicts_with_all = ["scenarios", "only"])]
    pub(crate) trace: Option<PathBuf>,
    /// With --trace: policy YAML file whose service (SLO, max tasks, instance type) to use
    /// (default: the bundled config/whisper.yaml).
    #[arg(long, requires = "trace")]
    pub(crate) config: Option<PathBuf>,
    /// With --trace: which service of the config (default: the first).
    #[arg(long, requires = "trace")]
    pub(crate) service: Option<String>,
    /// With --trace: your current policy, shown beside preheat (repeatable). One of
    /// keda:queueLength=N[,min=M], target-tracking:T=X, static:N, keep-alive:K=DURATION.
    #[arg(long, requires = "trace")]
    pub(crate) current: Vec<String>,
}

pub(crate) fn cmd_backtest(a: BacktestArgs) -> Result<()> {
    use preheat::eval::backtest;
    use preheat::sim::charts;
    set_threads(a.threads)?;
    if a.trace.is_some() {
        return super::backtest_trace::cmd_backtest_trace(a);
    }
    let started = Instant::now();
    let out_dir = a.out.clone().unwrap_or_else(|| PathBuf::from("charts"));
    let file = scenario_file(a.scenarios.as_deref(), "--scenarios")?;
    eprintln!("loading scenarios from {} ...", file.display());
    let scenarios = backtest::load_scenarios(&file, a.only.as_deref())?;
    for sc in &scenarios {
        eprintln!("  {:<20} {}", sc.name, sc.trace_note);
    }
    let results = backtest::run_all(&scenarios, true);
    let out = backtest::Outputs {
        dir: out_dir.clone(),
    };
    let md = backtest::render_markdown(&results, "");
    let md_path = out.write("results.md", md.as_bytes())?;
    let readme_md = backtest::render_markdown(&results, &format!("{}/", out_dir.display()));
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
            let f = out_dir.join(format!("{}-{}-frontier.svg", sc.name, r.slo_name));
            charts::frontier_svg(
                &f,
                &format!(
                    "{}: cost vs jobs not started within {} ({} SLO); lower left is better",
                    sc.name,
                    preheat::core::config::fmt_s(r.slo.max_wait_s),
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
            let t = out_dir.join(format!("{}-{}-timeline.svg", sc.name, r.slo_name));
            charts::timeline_svg(
                &t,
                &format!(
                    "{} ({} SLO): preheat vs the strongest baseline",
                    sc.name, r.slo_name
                ),
                "hours since the start of the trace slice",
                &series,
            )?;
            // The whole slice is too dense to read; its busiest day, at the same scale as a
            // working day, shows each cold start and scale-in.
            if let Some(day_s) = series
                .first()
                .and_then(|(_, rows)| charts::busiest_day_start(rows))
            {
                let t0 = series
                    .first()
                    .and_then(|(_, rows)| rows.first())
                    .map_or(day_s, |r| r.t_s);
                let day_no = ((day_s - t0) / 86_400.0).round() as u64 + 1;
                let t = out_dir.join(format!("{}-{}-busiest-day.svg", sc.name, r.slo_name));
                charts::timeline_svg(
                    &t,
                    &format!(
                        "{} ({} SLO): the busiest day (day {day_no}), preheat vs the strongest baseline",
                        sc.name, r.slo_name
                    ),
                    &format!("hours since the start of day {day_no}"),
                    &charts::one_day(&series, day_s),
                )?;
            }
        }
    }
    println!("{md}");
    if !full_run(&a) {
        eprintln!(
            "a partial run (--only or --out): {} left as is (its block holds the full backtest)",
            a.readme.display()
        );
    } else if !a.no_readme && a.readme.exists() {
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
        out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Only a run of every scenario into the default `charts/` may rewrite the README block: a
/// partial one (an `--only` scenario, or results written elsewhere) replaced the whole block
/// and pointed its chart links away from `charts/`.
fn full_run(a: &BacktestArgs) -> bool {
    a.only.is_none() && a.out.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: BacktestArgs,
    }

    /// Regression: `backtest --only X --out /tmp/y` rewrote the README's whole results block
    /// with one scenario.
    #[test]
    fn only_a_full_run_into_charts_rewrites_the_readme() {
        let args = |v: &[&str]| Cli::parse_from([&["t"], v].concat()).a;
        assert!(full_run(&args(&[])));
        assert!(!full_run(&args(&["--only", "kth-office-hours"])));
        assert!(!full_run(&args(&["--out", "/tmp/x"])));
    }
}
