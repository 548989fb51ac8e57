//! SVG charts of simulation results, drawn with plotters' SVG backend (no font libraries):
//! a timeline (queue, tasks and instances, cumulative cost) of preheat beside the strongest
//! baseline, and each scenario's cost vs SLO-attainment frontier.
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
pub fn timeline_svg(
    path: &Path,
    title: &str,
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
            "tasks (solid: running, dashed: provisioning or starting, dotted: instances)",
            &[
                ("running", |r| f64::from(r.running)),
                ("provisioning", |r| f64::from(r.provisioning)),
                ("instances", |r| f64::from(r.instances)),
            ],
        ),
        ("cumulative cost, $", &[("cost", |r| r.cost_usd)]),
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
            .x_label_area_size(28)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(err(path))?;
        chart
            .configure_mesh()
            .x_desc("hours since start")
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
                if li == 0 {
                    drawn.label(label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
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

/// Every swept configuration as a dot, each family's Pareto frontier as a line, preheat and
/// the oracle as large markers.
pub fn frontier_svg(path: &Path, title: &str, points: &[FrontierPoint]) -> Result<(), ChartError> {
    let root = SVGBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(err(path))?;
    let x_min = points
        .iter()
        .map(|p| p.attainment * 100.0)
        .fold(100.0, f64::min)
        .clamp(0.0, 99.0);
    let x_min = (x_min - 2.0).max(0.0).floor();
    let y_max = points.iter().map(|p| p.cost_usd).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..100.5, 0.0..y_max)
        .map_err(err(path))?;
    chart
        .configure_mesh()
        .x_desc("SLO attainment, % of jobs started within the SLO")
        .y_desc("cost, $")
        .draw()
        .map_err(err(path))?;
    let mut families: Vec<&str> = points.iter().map(|p| p.family.as_str()).collect();
    families.sort();
    families.dedup();
    for (fi, fam) in families.iter().enumerate() {
        let color = match *fam {
            "preheat" => PALETTE[0],
            "oracle" => BLACK,
            _ => PALETTE[1 + fi % (PALETTE.len() - 1)],
        };
        let mut pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.family == *fam)
            .map(|p| (p.attainment * 100.0, p.cost_usd))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let size = if *fam == "preheat" || *fam == "oracle" {
            8
        } else {
            4
        };
        let drawn = if *fam == "oracle" {
            chart.draw_series(
                pts.iter()
                    .map(|&p| TriangleMarker::new(p, size, color.filled())),
            )
        } else {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, size, color.filled())))
        }
        .map_err(err(path))?;
        drawn
            .label(*fam)
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
        // Pareto frontier: cheapest cost for at least each attainment, from the top down.
        let mut frontier: Vec<(f64, f64)> = Vec::new();
        let mut best = f64::INFINITY;
        for &(a, c) in pts.iter().rev() {
            if c < best {
                best = c;
                frontier.push((a, c));
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
        .position(SeriesLabelPosition::UpperLeft)
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
