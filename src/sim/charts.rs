//! SVG charts of simulation results, drawn with plotters' SVG backend (no font libraries):
//! a timeline (queue, tasks and instances, cumulative cost) of preheat beside the strongest
//! baseline, the same for its busiest day, and each scenario's cost vs missed-SLO frontier
//! (log axes, so that the region where choices are made, 95–100% attainment, is not a sliver).
//!
//! It draws what it is given; choosing what to compare is `backtest.rs`'s.

use crate::sim::world::TimelineRow;
use plotters::prelude::*;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("cannot draw chart {path}: {message}")]
pub struct ChartError {
    pub path: String,
    pub message: String,
}

fn err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> ChartError + '_ {
    move |e| ChartError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
];

/// A tick label without a spurious ".0" (`12000`, `2.5`, `0.25`).
fn tick(v: f64) -> String {
    if v == v.round() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let t = format!("{v:.3}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A share as a percentage tick on a log axis (`0.001` → `0.1%`); the floor reads "none".
fn percent_tick(v: f64, floor: f64) -> String {
    if v <= floor * 1.001 {
        return "none".to_string();
    }
    format!("{}%", tick((v * 100.0 * 1000.0).round() / 1000.0))
}

/// The start (s) of the 24 h window, counted from the first row, with the most waiting and
/// running jobs (summed over ticks) in `rows`.
pub fn busiest_day_start(rows: &[TimelineRow]) -> Option<f64> {
    let t0 = rows.first()?.t_s;
    let mut load: Vec<u64> = Vec::new();
    for r in rows {
        let day = ((r.t_s - t0) / 86_400.0).floor().max(0.0) as usize;
        if load.len() <= day {
            load.resize(day + 1, 0);
        }
        load[day] += r.visible + r.in_flight;
    }
    let (day, _) = load
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
    Some(t0 + day as f64 * 86_400.0)
}

/// The rows of each series within [from_s, from_s + 24 h), cost counted from the window's start.
pub fn one_day(
    series: &[(String, Vec<TimelineRow>)],
    from_s: f64,
) -> Vec<(String, Vec<TimelineRow>)> {
    series
        .iter()
        .map(|(n, rows)| {
            let mut day: Vec<TimelineRow> = rows
                .iter()
                .filter(|r| r.t_s >= from_s && r.t_s < from_s + 86_400.0)
                .cloned()
                .collect();
            // The cost panel then shows the day's own spend.
            let spent_before = day.first().map_or(0.0, |r| r.cost_usd);
            for r in &mut day {
                r.cost_usd -= spent_before;
            }
            (n.clone(), day)
        })
        .collect()
}

/// How a legend sample draws a timeline line's style: solid, dashed or dotted, as four segments
/// (some empty, so that every style composes to the same element type).
fn legend_dashes(color: RGBColor, li: usize) -> ([(i32, i32); 4], ShapeStyle) {
    let seg = match li {
        0 => [(0, 6), (6, 12), (12, 18), (18, 18)],
        1 => [(0, 6), (10, 16), (16, 16), (16, 16)],
        _ => [(0, 2), (5, 7), (10, 12), (15, 17)],
    };
    let style = color
        .mix(if li == 0 { 0.9 } else { 0.7 })
        .stroke_width(if li == 0 { 2 } else { 1 });
    (seg, style)
}

/// At most `n` rows per series: the maximum of each bucket, so short spikes stay visible.
fn downsample(rows: &[TimelineRow], n: usize) -> Vec<TimelineRow> {
    if rows.len() <= n || n == 0 {
        return rows.to_vec();
    }
    let per = rows.len().div_ceil(n);
    rows.chunks(per)
        .map(|c| {
            let mut m = c[0].clone();
            for r in &c[1..] {
                m.visible = m.visible.max(r.visible);
                m.in_flight = m.in_flight.max(r.in_flight);
                m.running = m.running.max(r.running);
                m.provisioning = m.provisioning.max(r.provisioning);
                m.instances = m.instances.max(r.instances);
                m.busy = m.busy.max(r.busy);
                m.desired = m.desired.max(r.desired);
                m.cost_usd = m.cost_usd.max(r.cost_usd);
            }
            m
        })
        .collect()
}

type Getter = fn(&TimelineRow) -> f64;

/// Three stacked panels over time (hours): queue depth, capacity, cumulative cost.
/// `x_desc` names the time axis (e.g. "hours since the trace's start").
pub fn timeline_svg(
    path: &Path,
    title: &str,
    x_desc: &str,
    series: &[(String, Vec<TimelineRow>)],
) -> Result<(), ChartError> {
    let root = SVGBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(err(path))?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err(path))?;
    let panels = root.split_evenly((3, 1));
    let t0 = series
        .iter()
        .filter_map(|(_, r)| r.first())
        .map(|r| r.t_s)
        .fold(f64::INFINITY, f64::min);
    let t0 = if t0.is_finite() { t0 } else { 0.0 };
    let data: Vec<(String, Vec<TimelineRow>)> = series
        .iter()
        .map(|(n, r)| (n.clone(), downsample(r, 1500)))
        .collect();
    let t_max = data
        .iter()
        .filter_map(|(_, r)| r.last())
        .map(|r| (r.t_s - t0) / 3600.0)
        .fold(1.0, f64::max);
    let specs: [(&str, &[(&str, Getter)]); 3] = [
        (
            "jobs waiting (visible messages)",
            &[("queue", |r| r.visible as f64)],
        ),
        (
            "tasks and instances",
            &[
                ("running", |r| f64::from(r.running)),
                ("provisioning", |r| f64::from(r.provisioning)),
                ("instances", |r| f64::from(r.instances)),
            ],
        ),
        (
            "cost since the start of the chart, $",
            &[("cost", |r| r.cost_usd)],
        ),
    ];
    for (panel, (caption, lines)) in panels.iter().zip(specs.iter()) {
        let y_max = data
            .iter()
            .flat_map(|(_, rows)| {
                rows.iter()
                    .flat_map(|r| lines.iter().map(move |(_, g)| g(r)))
            })
            .fold(1.0, f64::max)
            * 1.08;
        let mut chart = ChartBuilder::on(panel)
            .caption(*caption, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(42)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(err(path))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err(path))?;
        for (si, (name, rows)) in data.iter().enumerate() {
            let color = PALETTE[si % PALETTE.len()];
            for (li, (line, get)) in lines.iter().enumerate() {
                let pts: Vec<(f64, f64)> = rows
                    .iter()
                    .map(|r| ((r.t_s - t0) / 3600.0, get(r)))
                    .collect();
                let style = ShapeStyle::from(color.mix(if li == 0 { 0.9 } else { 0.55 }))
                    .stroke_width(if li == 0 { 2 } else { 1 });
                let label = if lines.len() > 1 {
                    format!("{name}: {line}")
                } else {
                    name.clone()
                };
                let drawn = match li {
                    0 => chart.draw_series(LineSeries::new(pts, style)),
                    1 => chart.draw_series(DashedLineSeries::new(pts, 6, 4, style)),
                    _ => chart.draw_series(DashedLineSeries::new(pts, 2, 3, style)),
                }
                .map_err(err(path))?;
                drawn.label(label).legend(move |(x, y)| {
                    let (seg, style) = legend_dashes(color, li);
                    let dash = |(a, b): (i32, i32)| PathElement::new(vec![(a, 0), (b, 0)], style);
                    EmptyElement::at((x, y))
                        + dash(seg[0])
                        + dash(seg[1])
                        + dash(seg[2])
                        + dash(seg[3])
                });
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err(path))?;
    }
    root.present().map_err(err(path))?;
    Ok(())
}

/// One point of a cost-vs-attainment chart.
pub struct FrontierPoint {
    pub family: String,
    pub label: String,
    pub attainment: f64,
    pub cost_usd: f64,
}

/// Where the frontier chart draws "no job missed" on its log axis: a power of ten below the
/// smallest real share of misses (at most 0.01%), so that no real miss is drawn as none.
fn miss_floor(points: &[FrontierPoint]) -> f64 {
    let smallest = points
        .iter()
        .map(|p| 1.0 - p.attainment)
        .filter(|m| *m > 1e-12)
        .fold(1e-4, f64::min);
    let floor = 10f64.powf(smallest.log10().floor());
    if floor >= smallest * 0.999 {
        floor / 10.0
    } else {
        floor
    }
}

/// Every swept configuration as a dot, each family's Pareto frontier as a line, preheat and the
/// oracle as large hollow markers drawn last (so that a dot under them stays visible). The x
/// axis is the share of jobs that missed the SLO on a log scale (1% and 0.1% are as far apart
/// as 10% and 1%), the y axis the cost on a log scale.
pub fn frontier_svg(path: &Path, title: &str, points: &[FrontierPoint]) -> Result<(), ChartError> {
    let root = SVGBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(err(path))?;
    let floor = miss_floor(points);
    let miss = |p: &FrontierPoint| (1.0 - p.attainment).clamp(floor, 1.0);
    let x_max = points.iter().map(miss).fold(0.01, f64::max);
    // The next power of ten up, so the axis ends on a labelled tick.
    let x_max = 10f64.powf(x_max.log10().ceil()).min(1.0);
    let costs = points.iter().map(|p| p.cost_usd).filter(|c| *c > 0.0);
    let y_min = costs.clone().fold(f64::INFINITY, f64::min);
    let y_max = costs.fold(0.0, f64::max);
    let (y_min, y_max) = if y_min.is_finite() && y_max > 0.0 {
        (y_min / 1.3, y_max * 1.3)
    } else {
        (1.0, 10.0)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(
            (floor * 0.8..x_max * 1.1).log_scale(),
            (y_min..y_max).log_scale(),
        )
        .map_err(err(path))?;
    chart
        .configure_mesh()
        .x_desc("jobs that missed the SLO (1 − attainment), log scale")
        .y_desc("cost, $ (log scale)")
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&|v| percent_tick(*v, floor))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(err(path))?;
    let mut families: Vec<&str> = points.iter().map(|p| p.family.as_str()).collect();
    families.sort();
    families.dedup();
    // The two reference markers go on top of the swept dots.
    families.sort_by_key(|f| matches!(*f, "preheat" | "oracle"));
    for (fi, fam) in families.iter().enumerate() {
        let color = match *fam {
            "preheat" => PALETTE[0],
            "oracle" => BLACK,
            _ => PALETTE[1 + fi % (PALETTE.len() - 1)],
        };
        let mut pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.family == *fam)
            .map(|p| (miss(p), p.cost_usd.max(y_min)))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let drawn = match *fam {
            "oracle" => chart.draw_series(
                pts.iter()
                    .map(|&p| TriangleMarker::new(p, 9, color.stroke_width(2))),
            ),
            "preheat" => chart.draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, 9, color.stroke_width(3))),
            ),
            _ => chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled()))),
        }
        .map_err(err(path))?;
        let fam_name = (*fam).to_string();
        drawn
            .label(*fam)
            .legend(move |(x, y)| match fam_name.as_str() {
                "oracle" => TriangleMarker::new((x + 8, y), 6, color.stroke_width(2)).into_dyn(),
                "preheat" => Circle::new((x + 8, y), 6, color.stroke_width(2)).into_dyn(),
                _ => Circle::new((x + 8, y), 4, color.filled()).into_dyn(),
            });
        // Pareto frontier: the cheapest cost for at most each share of misses.
        let mut frontier: Vec<(f64, f64)> = Vec::new();
        let mut best = f64::INFINITY;
        for &(m, c) in &pts {
            if c < best {
                best = c;
                frontier.push((m, c));
            }
        }
        if frontier.len() > 1 {
            chart
                .draw_series(LineSeries::new(frontier, color.mix(0.6).stroke_width(1)))
                .map_err(err(path))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err(path))?;
    root.present().map_err(err(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: f64, v: u64) -> TimelineRow {
        TimelineRow {
            t_s: t,
            visible: v,
            in_flight: 0,
            desired: 1,
            running: 1,
            provisioning: 0,
            busy: 0,
            instances: 1,
            cost_usd: t / 100.0,
            reason: String::new(),
        }
    }

    /// Issue #13: tick labels read "12000.0" and "5.0".
    #[test]
    fn ticks_have_no_spurious_decimals() {
        assert_eq!(tick(12000.0), "12000");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(percent_tick(0.001, 1e-5), "0.1%");
        assert_eq!(percent_tick(0.1, 1e-5), "10%");
        assert_eq!(percent_tick(1e-5, 1e-5), "none");
    }

    #[test]
    fn miss_floor_sits_below_every_real_miss() {
        let p = |a: f64| FrontierPoint {
            family: "x".into(),
            label: "x".into(),
            attainment: a,
            cost_usd: 1.0,
        };
        assert_eq!(miss_floor(&[p(1.0), p(0.9)]), 1e-5);
        let f = miss_floor(&[p(1.0), p(1.0 - 4.5e-5)]);
        assert!(f < 4.5e-5 && f > 1e-6, "{f}");
    }

    #[test]
    fn busiest_day_and_its_cost_start_at_zero() {
        let rows: Vec<TimelineRow> = (0..(3 * 24 * 60))
            .map(|m| {
                row(
                    m as f64 * 60.0,
                    if (2880..3000).contains(&m) { 5 } else { 0 },
                )
            })
            .collect();
        let day = busiest_day_start(&rows).unwrap();
        assert_eq!(day, 2.0 * 86_400.0);
        let cut = one_day(&[("p".into(), rows)], day);
        assert_eq!(cut[0].1.len(), 24 * 60);
        assert_eq!(cut[0].1[0].cost_usd, 0.0);
    }

    #[test]
    fn downsample_keeps_spikes() {
        let rows: Vec<TimelineRow> = (0..10_000)
            .map(|i| row(i as f64, if i == 5_001 { 99 } else { 0 }))
            .collect();
        let d = downsample(&rows, 100);
        assert!(d.len() <= 100);
        assert_eq!(d.iter().map(|r| r.visible).max(), Some(99));
    }

    #[test]
    fn charts_are_valid_svg_with_text() {
        let dir = std::env::temp_dir().join(format!("preheat-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = dir.join("t.svg");
        let rows: Vec<TimelineRow> = (0..100).map(|i| row(i as f64 * 60.0, i % 7)).collect();
        timeline_svg(
            &t,
            "test",
            "hours",
            &[("preheat".into(), rows.clone()), ("keda".into(), rows)],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&t).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>") && svg.contains("preheat"));
        let f = dir.join("f.svg");
        let pts = vec![
            FrontierPoint {
                family: "preheat".into(),
                label: "p".into(),
                attainment: 0.99,
                cost_usd: 10.0,
            },
            FrontierPoint {
                family: "keda".into(),
                label: "k1".into(),
                attainment: 0.95,
                cost_usd: 12.0,
            },
            FrontierPoint {
                family: "keda".into(),
                label: "k2".into(),
                attainment: 0.99,
                cost_usd: 20.0,
            },
        ];
        frontier_svg(&f, "frontier", &pts).unwrap();
        let svg = std::fs::read_to_string(&f).unwrap();
        assert!(svg.contains("<circle") && svg.contains("keda"));
    }
}
