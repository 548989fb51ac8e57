//! Priming the strict idle pool from the queue's history: a controller that starts on a queue
//! with CloudWatch history behind it replays that history's demand through the pool
//! (`pool.rs`), so the flurry sizes of the last days are known from the first tick instead of
//! learned one miss at a time. The history comes as jobs (sent at arrival, in service until
//! deleted: `history::synthesize` of the minute sums, or the trace's own days before the window
//! in the simulator); reading it is left to the edges (`cli/run.rs`, `sim`). Only the pool is
//! primed: the other learners (lag, service time, level returns, the attainment estimate) need
//! the tasks' own timestamps and waits, which the minute sums do not hold.

use crate::core::config::ServiceConfig;
use crate::core::decide::CoreState;
use crate::core::job::Job;

/// Demand (jobs in service, in workers of `jobs_per_task`, at most `max_tasks`) at each tick
/// of `tick_s` ending at `until_s`, from the first tick at or after the first arrival: each job
/// counted from its arrival to its end, as if it had started at once. Jobs are sorted by arrival.
pub fn demand_ticks(
    jobs: &[Job],
    until_s: f64,
    tick_s: f64,
    jobs_per_task: u32,
    max_tasks: u32,
) -> Vec<(f64, u32)> {
    let Some(first) = jobs.first() else {
        return Vec::new();
    };
    let mut ends_s: Vec<f64> = jobs.iter().map(|j| j.arrival_s + j.service_s).collect();
    ends_s.sort_by(f64::total_cmp);
    // Ticks on the controller's grid: `until_s` less whole ticks.
    let back = ((until_s - first.arrival_s) / tick_s).floor().max(0.0) as u64;
    let (mut started, mut ended) = (0usize, 0usize);
    let mut out = Vec::with_capacity(back as usize);
    for k in (1..=back).rev() {
        let t = until_s - k as f64 * tick_s;
        while started < jobs.len() && jobs[started].arrival_s <= t {
            started += 1;
        }
        while ended < ends_s.len() && ends_s[ended] <= t {
            ended += 1;
        }
        let in_service = started.saturating_sub(ended) as u32;
        out.push((t, in_service.div_ceil(jobs_per_task.max(1)).min(max_tasks)));
    }
    out
}

impl CoreState {
    /// Replay `history` (jobs before `now_s`, sorted by arrival) through the strict idle pool,
    /// as the ticks of a controller that ran then with no idle worker beyond the busy ones (the
    /// history does not say which were idle, so each rise counts as uncovered). Does nothing at
    /// a loose SLO, where no pool is kept.
    pub fn prime(&mut self, cfg: &ServiceConfig, tick_s: f64, history: &[Job], now_s: f64) {
        let cold_s = self.lag.cold_plan_s();
        let strict = cfg.slo.max_wait_s < cold_s + tick_s;
        if !strict || history.is_empty() {
            return;
        }
        let exposed_s = (cold_s - cfg.slo.max_wait_s).max(tick_s);
        for (t, demand) in demand_ticks(history, now_s, tick_s, cfg.jobs_per_task, cfg.max_tasks) {
            self.pool.observe(demand, 0, t, exposed_s);
        }
        self.pool
            .remember_jobs(history.iter().map(|j| j.arrival_s).filter(|&a| a < now_s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decide::tests::{cfg, desired_of, obs};
    use crate::core::decide::{Preheat, decide};
    use crate::core::model::Policy;

    fn job(arrival_s: f64, service_s: f64) -> Job {
        Job {
            arrival_s,
            service_s,
        }
    }

    #[test]
    fn demand_counts_the_jobs_in_service_at_each_tick_in_workers_up_to_the_cap() {
        let jobs = [
            job(100.0, 50.0),
            job(110.0, 200.0),
            job(130.0, 200.0),
            job(140.0, 200.0),
        ];
        // Ticks of 60 s ending at 360: 120, 180, 240, 300 (100 is before the first tick).
        assert_eq!(
            demand_ticks(&jobs, 360.0, 60.0, 1, 10),
            vec![(120.0, 2), (180.0, 3), (240.0, 3), (300.0, 3)]
        );
        // Two jobs per worker, and a cap of one worker.
        assert_eq!(
            demand_ticks(&jobs, 360.0, 60.0, 2, 1),
            vec![(120.0, 1), (180.0, 1), (240.0, 1), (300.0, 1)]
        );
        assert!(demand_ticks(&[], 360.0, 60.0, 1, 10).is_empty());
    }

    /// Flurries of 6 jobs every day for a week, then a controller starts in a silence: primed
    /// with that history it keeps idle workers for the next flurry at once; unprimed it keeps
    /// none until it has seen one.
    #[test]
    fn a_controller_started_on_a_queue_with_flurries_in_its_history_keeps_a_pool_at_once() {
        let mut c = cfg();
        c.slo.max_wait_s = 60.0;
        c.slo.attainment = 0.99;
        c.max_step = 100;
        let now_s = 8.0 * 86_400.0;
        let history: Vec<Job> = (1..8)
            .flat_map(|d| (0..6).map(move |i| job(d as f64 * 86_400.0 + i as f64, 1800.0)))
            .collect();
        let mut primed = Preheat::new(c.clone(), 60.0);
        primed.prime(&history, now_s);
        let mut fresh = Preheat::new(c.clone(), 60.0);
        let (mut p, mut f) = (None, None);
        for k in 0..5 {
            let t = now_s + k as f64 * 60.0;
            p = Some(primed.decide(&obs(0, 0, 0), t));
            f = Some(fresh.decide(&obs(0, 0, 0), t));
        }
        let (p, f) = (p.unwrap(), f.unwrap());
        assert!(
            desired_of(&p).is_some_and(|n| n >= 5),
            "primed: {:?} {}",
            desired_of(&p),
            p.why.text
        );
        assert!(p.why.text.contains("idle"), "{}", p.why.text);
        assert_eq!(desired_of(&f).unwrap_or(0), 0, "{}", f.why.text);
        // The same through `decide` on the state directly, as the edge's restart does.
        let mut st = CoreState::new(&c);
        st.prime(&c, 60.0, &history, now_s);
        let d = decide(&c, 60.0, &mut st, &obs(0, 0, 0), now_s);
        assert!(desired_of(&d).is_some_and(|n| n >= 5), "{}", d.why.text);
    }
}
