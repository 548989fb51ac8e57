//! Turns a finished simulation's records into the summary every policy is judged by
//! (docs/simulator.md, "Metrics"): cost, the busy-time floor, the clairvoyant zero-wait cost, wait
//! percentiles, SLO attainment, cold starts, interruptions and idle instance-hours.
//!
//! Pure arithmetic over records; the simulation itself is `sim::world`.

use crate::sim::world::{InstanceRecord, JobRecord};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub policy: String,
    pub jobs: u64,
    pub completed: u64,
    /// Jobs never started by the end of the run (their wait counts up to the end).
    pub unstarted: u64,
    pub cost_usd: f64,
    /// Σ service time × price: no policy can pay less.
    pub floor_cost_usd: f64,
    pub cost_to_floor: f64,
    /// Clairvoyant zero-wait reference (a policy that lets jobs wait may cost less).
    pub oracle_cost_usd: f64,
    pub cost_to_oracle: f64,
    pub wait_p50_s: f64,
    pub wait_p95_s: f64,
    pub wait_p99_s: f64,
    pub wait_max_s: f64,
    pub wait_mean_s: f64,
    pub slo_max_wait_s: f64,
    pub slo_attainment: f64,
    pub cold_starts: u64,
    pub warm_starts: u64,
    pub interrupted_jobs: u64,
    pub busy_tasks_stopped: u64,
    pub instances_launched: u64,
    pub instance_hours: f64,
    pub idle_instance_hours: f64,
    pub simulated_hours: f64,
    /// Share of ticks when the policy said its SLO was out of reach under max_tasks or the
    /// budget (`None` when scored at an SLO other than the one it ran with).
    pub slo_unreachable_tick_share: Option<f64>,
    /// Share of jobs that arrived while it said so.
    pub slo_unreachable_job_share: Option<f64>,
    /// The largest shortfall it said, in workers (need − limit).
    pub slo_shortfall_max_workers: Option<u32>,
    /// Share of ticks when the policy said no pool learned from history meets its strict SLO
    /// (`None` as for `slo_unreachable_tick_share`).
    pub slo_unlearnable_tick_share: Option<f64>,
    /// The attainment estimated from what production observes (`core::attainment`), to set
    /// beside `slo_attainment`.
    pub attainment_estimate: Option<f64>,
    /// SLO attainment of the jobs that arrived a week or more after the first job (`None`
    /// when none did): what a policy that learns from history delivers once it has a week of
    /// it, beside `slo_attainment`, which also counts the week when every flurry was new.
    pub slo_attainment_after_first_week: Option<f64>,
}

/// How long a learner has had history before `slo_attainment_after_first_week` counts its
/// jobs: the week its pool and feedback learn over (`core::pool`, `core::feedback`).
pub const FIRST_WEEK_S: f64 = 7.0 * 86400.0;

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub struct ReportInput<'a> {
    pub policy: &'a str,
    pub jobs: &'a [JobRecord],
    pub instances: &'a [InstanceRecord],
    pub end_s: f64,
    pub start_s: f64,
    pub price_per_hour_usd: f64,
    /// Jobs one instance can run at once (tasks per instance × jobs per task).
    pub jobs_per_instance: u32,
    pub slo_max_wait_s: f64,
    pub oracle_cost_usd: f64,
    pub cold_starts: u64,
    pub warm_starts: u64,
    pub busy_tasks_stopped: u64,
    pub slo_watch: Option<&'a crate::sim::slo_watch::SloWatch>,
}

pub fn summarize(r: &ReportInput) -> Summary {
    let per_s = r.price_per_hour_usd / 3600.0;
    // A job never started waits until the end of the run.
    let wait_s = |j: &JobRecord| match j.start_s {
        Some(s) => s - j.arrival_s,
        None => (r.end_s - j.arrival_s).max(0.0),
    };
    let mut waits: Vec<f64> = r.jobs.iter().map(wait_s).collect();
    waits.sort_by(f64::total_cmp);
    let n = waits.len();
    let met = |w: f64| w <= r.slo_max_wait_s + 1e-9;
    let within = waits.iter().filter(|&&w| met(w)).count();
    // The jobs that came a week or more after the first job, and how many of them met the SLO.
    // From the first job, not the run's start: history begins with it.
    let first_s = r
        .jobs
        .iter()
        .map(|j| j.arrival_s)
        .fold(f64::INFINITY, f64::min);
    let (later, later_met) = r
        .jobs
        .iter()
        .filter(|j| j.arrival_s >= first_s + FIRST_WEEK_S)
        .fold((0usize, 0usize), |(n, m), j| {
            (n + 1, m + usize::from(met(wait_s(j))))
        });
    let cost_usd: f64 = r
        .instances
        .iter()
        .map(|i| (i.end_s.unwrap_or(r.end_s) - i.launch_s).max(60.0) * per_s)
        .sum();
    let instance_s: f64 = r
        .instances
        .iter()
        .map(|i| i.end_s.unwrap_or(r.end_s) - i.launch_s)
        .sum();
    let busy_s: f64 = r.instances.iter().map(|i| i.busy_s).sum();
    let floor_cost_usd = r.jobs.iter().map(|j| j.service_s).sum::<f64>() * per_s
        / f64::from(r.jobs_per_instance.max(1));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Summary {
        policy: r.policy.to_string(),
        jobs: n as u64,
        completed: r.jobs.iter().filter(|j| j.end_s.is_some()).count() as u64,
        unstarted: r.jobs.iter().filter(|j| j.start_s.is_none()).count() as u64,
        cost_usd,
        floor_cost_usd,
        cost_to_floor: ratio(cost_usd, floor_cost_usd),
        oracle_cost_usd: r.oracle_cost_usd,
        cost_to_oracle: ratio(cost_usd, r.oracle_cost_usd),
        wait_p50_s: percentile(&waits, 50.0),
        wait_p95_s: percentile(&waits, 95.0),
        wait_p99_s: percentile(&waits, 99.0),
        wait_max_s: waits.last().copied().unwrap_or(0.0),
        wait_mean_s: if n > 0 {
            waits.iter().sum::<f64>() / n as f64
        } else {
            0.0
        },
        slo_max_wait_s: r.slo_max_wait_s,
        slo_attainment: if n > 0 { within as f64 / n as f64 } else { 1.0 },
        cold_starts: r.cold_starts,
        warm_starts: r.warm_starts,
        interrupted_jobs: r.jobs.iter().filter(|j| j.interrupted > 0).count() as u64,
        busy_tasks_stopped: r.busy_tasks_stopped,
        instances_launched: r.instances.len() as u64,
        instance_hours: instance_s / 3600.0,
        idle_instance_hours: (instance_s - busy_s).max(0.0) / 3600.0,
        simulated_hours: (r.end_s - r.start_s) / 3600.0,
        slo_unreachable_tick_share: r.slo_watch.map(|w| w.tick_share()),
        slo_unreachable_job_share: r.slo_watch.map(|w| w.job_share(r.jobs)),
        slo_shortfall_max_workers: r.slo_watch.map(|w| w.worst.map_or(0, |s| s.workers())),
        slo_unlearnable_tick_share: r.slo_watch.map(|w| w.unlearnable_tick_share()),
        attainment_estimate: r.slo_watch.and_then(|w| w.estimate),
        slo_attainment_after_first_week: (later > 0).then(|| later_met as f64 / later as f64),
    }
}

/// The summary as aligned text for a terminal.
pub fn render_text(s: &Summary) -> String {
    use crate::core::config::fmt_s;
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<22} {v}\n"));
    line("policy", s.policy.clone());
    line(
        "jobs",
        format!(
            "{} ({} completed, {} never started)",
            s.jobs, s.completed, s.unstarted
        ),
    );
    line("simulated", format!("{:.1} h", s.simulated_hours));
    line("cost", format!("${:.2}", s.cost_usd));
    line(
        "busy-time floor",
        format!(
            "${:.2}  (cost / floor = {:.2}×)",
            s.floor_cost_usd, s.cost_to_floor
        ),
    );
    line(
        "zero-wait oracle",
        format!(
            "${:.2}  (cost / oracle = {:.2}×)",
            s.oracle_cost_usd, s.cost_to_oracle
        ),
    );
    line(
        "wait p50/p95/p99/max",
        format!(
            "{} / {} / {} / {}",
            fmt_s(s.wait_p50_s),
            fmt_s(s.wait_p95_s),
            fmt_s(s.wait_p99_s),
            fmt_s(s.wait_max_s)
        ),
    );
    line(
        "SLO attainment",
        format!(
            "{:.2}% of jobs started within {}",
            s.slo_attainment * 100.0,
            fmt_s(s.slo_max_wait_s)
        ),
    );
    if let Some(a) = s.slo_attainment_after_first_week {
        line(
            "after the first week",
            format!(
                "{:.2}% of the jobs that came a week or more after the first (a policy that learns has a week of history by then)",
                a * 100.0
            ),
        );
    }
    if let Some(e) = s.attainment_estimate {
        line(
            "attainment estimate",
            format!(
                "{:.2}% from the SQS counts and CloudWatch sums alone ({:+.2} pt vs true)",
                e * 100.0,
                (e - s.slo_attainment) * 100.0
            ),
        );
    }
    if let (Some(ticks), Some(jobs)) = (s.slo_unreachable_tick_share, s.slo_unreachable_job_share)
        && ticks > 0.0
    {
        line(
            "SLO out of reach",
            format!(
                "{:.1}% of ticks, {:.1}% of jobs: max_tasks or the budget allow fewer workers than the SLO needs (up to {} short)",
                ticks * 100.0,
                jobs * 100.0,
                s.slo_shortfall_max_workers.unwrap_or(0)
            ),
        );
    }
    if let Some(share) = s.slo_unlearnable_tick_share
        && share > 0.0
    {
        line(
            "SLO out of reach by learning",
            format!(
                "{:.1}% of ticks: flurries kept setting new heights, so no idle pool learned from them meets the SLO",
                share * 100.0
            ),
        );
    }
    line(
        "cold / warm starts",
        format!("{} / {}", s.cold_starts, s.warm_starts),
    );
    line(
        "interrupted jobs",
        format!(
            "{} ({} busy tasks stopped)",
            s.interrupted_jobs, s.busy_tasks_stopped
        ),
    );
    line("instances launched", s.instances_launched.to_string());
    line(
        "instance-hours",
        format!(
            "{:.2} ({:.2} idle)",
            s.instance_hours, s.idle_instance_hours
        ),
    );
    out
}

/// One line per peer policy beside preheat's figures on the same trace: cost, cost as a multiple
/// of preheat's, SLO attainment and p95 wait. `peers` holds (label, summary) pairs.
pub fn render_peers(preheat: &Summary, peers: &[(String, Summary)]) -> String {
    use crate::core::config::fmt_s;
    let mut out = format!(
        "\n  the same trace under each peer at its documented defaults:\n  {:<30} {:>10} {:>10} {:>15} {:>12}\n",
        "policy", "cost", "× preheat", "SLO attainment", "wait p95"
    );
    let row = |label: &str, s: &Summary| {
        let ratio = if preheat.cost_usd > 0.0 {
            format!("{:.2}×", s.cost_usd / preheat.cost_usd)
        } else {
            "n/a".to_string()
        };
        format!(
            "  {label:<30} {:>10} {ratio:>10} {:>15} {:>12}\n",
            format!("${:.2}", s.cost_usd),
            format!("{:.2}%", s.slo_attainment * 100.0),
            fmt_s(s.wait_p95_s),
        )
    };
    out.push_str(&row("preheat", preheat));
    for (label, s) in peers {
        out.push_str(&row(label, s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_lines_show_cost_ratio_attainment_and_p95() {
        let base = Summary {
            policy: "preheat".into(),
            cost_usd: 100.0,
            slo_attainment: 0.9742,
            wait_p95_s: 355.0,
            ..Summary::default()
        };
        let keda = Summary {
            policy: "keda".into(),
            cost_usd: 80.0,
            slo_attainment: 0.5,
            wait_p95_s: 3960.0,
            ..Summary::default()
        };
        let text = render_peers(&base, &[("keda (defaults)".into(), keda)]);
        let line = text.lines().find(|l| l.contains("keda")).unwrap();
        for want in ["$80.00", "0.80×", "50.00%", "1h 6m"] {
            assert!(line.contains(want), "{want}: {line}");
        }
        assert!(
            text.lines()
                .any(|l| l.contains("preheat") && l.contains("1.00×"))
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn cost_floor_and_attainment() {
        let jobs = [
            JobRecord {
                arrival_s: 0.0,
                service_s: 1800.0,
                start_s: Some(0.0),
                end_s: Some(1800.0),
                interrupted: 0,
            },
            JobRecord {
                arrival_s: 0.0,
                service_s: 1800.0,
                start_s: Some(600.0),
                end_s: Some(2400.0),
                interrupted: 1,
            },
            JobRecord {
                arrival_s: 100.0,
                service_s: 60.0,
                start_s: None,
                end_s: None,
                interrupted: 0,
            },
        ];
        let inst = [InstanceRecord {
            launch_s: 0.0,
            ready_s: 0.0,
            end_s: Some(3600.0),
            busy_s: 2400.0,
        }];
        let s = summarize(&ReportInput {
            policy: "t",
            jobs: &jobs,
            instances: &inst,
            end_s: 3600.0,
            start_s: 0.0,
            price_per_hour_usd: 1.0,
            jobs_per_instance: 1,
            slo_max_wait_s: 300.0,
            oracle_cost_usd: 0.5,
            cold_starts: 1,
            warm_starts: 0,
            busy_tasks_stopped: 1,
            slo_watch: None,
        });
        assert!((s.cost_usd - 1.0).abs() < 1e-9);
        assert!((s.floor_cost_usd - 3660.0 / 3600.0).abs() < 1e-9);
        assert!((s.slo_attainment - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.wait_max_s, 3500.0);
        assert_eq!((s.unstarted, s.interrupted_jobs, s.completed), (1, 1, 2));
        assert!((s.idle_instance_hours - 1200.0 / 3600.0).abs() < 1e-9);
        assert!((s.cost_to_oracle - 2.0).abs() < 1e-9);
        assert_eq!(
            s.slo_attainment_after_first_week, None,
            "no job after day 7"
        );
    }

    #[test]
    fn attainment_after_the_first_week_counts_the_jobs_a_week_or_more_after_the_first() {
        let job = |arrival_s: f64, wait_s: Option<f64>| JobRecord {
            arrival_s,
            service_s: 60.0,
            start_s: wait_s.map(|w| arrival_s + w),
            end_s: wait_s.map(|w| arrival_s + w + 60.0),
            interrupted: 0,
        };
        let day_s = 86400.0;
        // The run starts a day before its first job. Two misses in the week after that job,
        // then one miss (never started) in four later jobs.
        let jobs = [
            job(day_s, Some(600.0)),
            job(4.0 * day_s, Some(600.0)),
            job(7.9 * day_s, Some(0.0)),
            job(8.0 * day_s, Some(10.0)),
            job(9.0 * day_s, Some(59.0)),
            job(10.0 * day_s, Some(0.0)),
            job(11.0 * day_s, None),
        ];
        let s = summarize(&ReportInput {
            policy: "t",
            jobs: &jobs,
            instances: &[],
            end_s: 11.5 * day_s,
            start_s: 0.0,
            price_per_hour_usd: 1.0,
            jobs_per_instance: 1,
            slo_max_wait_s: 60.0,
            oracle_cost_usd: 0.0,
            cold_starts: 0,
            warm_starts: 0,
            busy_tasks_stopped: 0,
            slo_watch: None,
        });
        assert!(
            (s.slo_attainment - 4.0 / 7.0).abs() < 1e-9,
            "{}",
            s.slo_attainment
        );
        assert_eq!(s.slo_attainment_after_first_week, Some(0.75));
        assert!(
            render_text(&s).contains(
                "after the first week   75.00% of the jobs that came a week or more after the first"
            ),
            "{}",
            render_text(&s)
        );
    }
}
