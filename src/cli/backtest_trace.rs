//! `preheat backtest --trace FILE`: the backtest on one trace of the user's own (usually from
//! `preheat history`), at the config's SLO, with the user's current policy (`--current`) beside
//! preheat and every swept peer; prints the comparison and the table, and writes the frontier
//! chart and results. Running and scoring are `preheat::eval::backtest`'s.

use super::backtest::BacktestArgs;
use super::*;
use anyhow::{Context, Result};
use preheat::core::config::fmt_s;
use preheat::eval::backtest::{self, Row, Scenario};
use preheat::eval::current::parse_current;
use preheat::sim::{SimSetup, charts};
use preheat::trace::{self, TraceFormat, TraceOptions};
use std::path::PathBuf;
use std::time::Instant;

pub(crate) fn cmd_backtest_trace(a: BacktestArgs) -> Result<()> {
    let started = Instant::now();
    let path = a.trace.clone().expect("called with --trace");
    let cfg = load_config(a.config.as_ref())?;
    let service = pick_service(&cfg, a.service.as_deref())?;
    let currents = a
        .current
        .iter()
        .map(|c| parse_current(c))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = TraceOptions {
        format: Some(TraceFormat::Native),
        seed: cfg.simulation.seed,
        ..TraceOptions::default()
    };
    let tr = trace::load_trace(&path, &opts)?;
    if tr.jobs.is_empty() {
        anyhow::bail!(
            "{}: the trace holds no jobs; nothing to backtest (was the queue idle over the \
             window `preheat history` read?)",
            path.display()
        );
    }
    let span_h = tr.jobs.iter().map(|j| j.arrival_s).fold(0.0, f64::max) / 3600.0;
    let name = "your-queue".to_string();
    let slo = service.slo.clone();
    let setup = SimSetup::from_trace(service, cfg.tick_s, cfg.simulation.clone(), &tr);
    let sc = Scenario {
        name: name.clone(),
        description: "your queue (`preheat backtest --trace`)".to_string(),
        setup,
        slos: vec![("yours".to_string(), slo.clone())],
        trace_note: format!("{} jobs from {} (native)", tr.jobs.len(), path.display()),
    };
    eprintln!(
        "backtesting {} ({} jobs over {:.1} h) at the SLO {:.0}% within {} ...",
        path.display(),
        tr.jobs.len(),
        span_h,
        slo.attainment * 100.0,
        fmt_s(slo.max_wait_s)
    );
    let results = backtest::run_all_with(std::slice::from_ref(&sc), &currents, true);
    let r = &results[0].per_slo[0];
    let out_dir = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("backtest-out"));
    let out = backtest::Outputs {
        dir: out_dir.clone(),
    };
    // Only the frontier chart is drawn here: drop the table's links to timeline charts.
    let md: String = backtest::render_markdown(&results, "")
        .lines()
        .filter(|l| !(l.contains("-timeline.svg") || l.contains("-busiest-day.svg")))
        .map(|l| format!("{l}\n"))
        .collect();
    out.write("results.md", md.as_bytes())?;
    out.write(
        "results.json",
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    let points: Vec<charts::FrontierPoint> = r
        .rows
        .iter()
        .map(|row| charts::FrontierPoint {
            // Its own series, so the user's policy stands out from its family's sweep.
            family: if currents.iter().any(|c| c.label == row.variant.label) {
                row.variant.label.clone()
            } else {
                row.variant.family.clone()
            },
            label: row.variant.label.clone(),
            attainment: row.summary.slo_attainment,
            cost_usd: row.summary.cost_usd,
        })
        .collect();
    let chart = out_dir.join(format!("{name}-yours-frontier.svg"));
    charts::frontier_svg(
        &chart,
        &format!(
            "your queue: cost vs jobs not started within {}; lower left is better",
            fmt_s(slo.max_wait_s)
        ),
        &points,
    )
    .with_context(|| format!("cannot draw {}", chart.display()))?;

    let find = |label: &str| r.rows.iter().find(|x| x.variant.label == label);
    let pre = find("preheat").context("the backtest has no preheat row")?;
    println!(
        "On your traffic: {} jobs over {:.1} h, SLO {:.0}% of jobs start within {}.",
        tr.jobs.len(),
        span_h,
        slo.attainment * 100.0,
        fmt_s(slo.max_wait_s)
    );
    let line = |who: &str, row: &Row| {
        println!(
            "  {who:<44} ${:>9.2}  attainment {:>6.2}%  p95 wait {}",
            row.summary.cost_usd,
            row.summary.slo_attainment * 100.0,
            fmt_s(row.summary.wait_p95_s)
        );
    };
    line("preheat", pre);
    for c in &currents {
        if let Some(row) = find(&c.label) {
            line(&c.label, row);
            let ratio = pre.summary.cost_usd / row.summary.cost_usd.max(1e-9);
            let d_pt = (pre.summary.slo_attainment - row.summary.slo_attainment) * 100.0;
            println!(
                "    → preheat {} {:.0}% of its cost ({:.2}×) at {:+.2} pt attainment",
                if ratio <= 1.0 { "saves" } else { "adds" },
                (1.0 - ratio).abs() * 100.0,
                ratio,
                d_pt
            );
        }
    }
    if let (Some(l), Some(c)) = (
        &r.verdict.cheapest_comparable,
        r.verdict.cheapest_comparable_cost_usd,
    ) {
        println!("  cheapest swept peer reaching preheat's attainment: {l} at ${c:.2}");
    } else {
        println!("  no swept peer reaches preheat's attainment");
    }
    println!("  frontier chart: {}\n", chart.display());
    println!("{md}");
    eprintln!(
        "wrote results.md, results.json and the chart to {} in {:.0} s",
        out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
