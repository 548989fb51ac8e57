//! What a replay says about its SLO besides the true waits: how much of the run the policy
//! said the SLO was out of reach under max_tasks or the budget (`Decision::unreachable`), and
//! the attainment the policy's own observable estimator (`core::attainment`) arrived at, to be
//! set beside the true attainment. It watches the reconcile loop's observations and decisions
//! like any observer and changes nothing; the scoring itself is `report.rs`'s.

use crate::core::attainment::AttainmentEstimator;
use crate::core::model::{Decision, Observation, Shortfall};
use crate::reconcile::LoopObserver;
use crate::sim::world::JobRecord;

/// The SLO figures of one replay at the SLO it was run with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloWatch {
    /// The wait of the SLO the policy was given (the only one these figures are for).
    pub max_wait_s: f64,
    pub tick_s: f64,
    pub ticks: u64,
    /// When the policy said the SLO was out of reach.
    pub unreachable_at_s: Vec<f64>,
    /// The largest shortfall said, in workers, with its figures.
    pub worst: Option<Shortfall>,
    /// The observable estimate of attainment at the end of the run (since start).
    pub estimate: Option<f64>,
}

impl SloWatch {
    /// Share of ticks when the SLO was said to be out of reach.
    pub fn tick_share(&self) -> f64 {
        if self.ticks == 0 {
            0.0
        } else {
            self.unreachable_at_s.len() as f64 / self.ticks as f64
        }
    }

    /// Share of jobs that arrived within a tick after one that said the SLO was out of reach.
    pub fn job_share(&self, jobs: &[JobRecord]) -> f64 {
        if jobs.is_empty() {
            return 0.0;
        }
        let mut arrivals: Vec<f64> = jobs.iter().map(|j| j.arrival_s).collect();
        arrivals.sort_by(f64::total_cmp);
        let mut k = 0;
        let mut n = 0usize;
        for &a in &arrivals {
            while k < self.unreachable_at_s.len() && self.unreachable_at_s[k] + self.tick_s <= a {
                k += 1;
            }
            if k < self.unreachable_at_s.len() && self.unreachable_at_s[k] <= a {
                n += 1;
            }
        }
        n as f64 / jobs.len() as f64
    }
}

/// The loop observer that fills a `SloWatch` and keeps each tick's reason for the timeline.
pub struct Watcher {
    keep_reasons: bool,
    pub reasons: Vec<String>,
    pub watch: SloWatch,
    estimator: AttainmentEstimator,
}

impl Watcher {
    pub fn new(max_wait_s: f64, tick_s: f64, service_prior_s: f64, keep_reasons: bool) -> Self {
        Watcher {
            keep_reasons,
            reasons: Vec::new(),
            watch: SloWatch {
                max_wait_s,
                tick_s,
                ..SloWatch::default()
            },
            estimator: AttainmentEstimator::new(max_wait_s, service_prior_s),
        }
    }

    pub fn finish(mut self) -> (Vec<String>, SloWatch) {
        self.watch.estimate = self.estimator.since_start();
        (self.reasons, self.watch)
    }
}

impl LoopObserver for Watcher {
    fn on_decision(&mut self, _service: usize, now_s: f64, obs: &Observation, d: &Decision) {
        if self.keep_reasons {
            self.reasons.push(d.why.to_string());
        }
        self.watch.ticks += 1;
        if let Some(u) = d.unreachable {
            self.watch.unreachable_at_s.push(now_s);
            if self.watch.worst.is_none_or(|w| u.workers() > w.workers()) {
                self.watch.worst = Some(u);
            }
        }
        self.estimator.observe(obs, now_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(arrival_s: f64) -> JobRecord {
        JobRecord {
            arrival_s,
            service_s: 1.0,
            start_s: None,
            end_s: None,
            interrupted: 0,
        }
    }

    /// Jobs count as arriving under an unreachable SLO when they come within a tick after a
    /// tick that said so; ticks count by share.
    #[test]
    fn shares_of_ticks_and_jobs() {
        let w = SloWatch {
            tick_s: 15.0,
            ticks: 8,
            unreachable_at_s: vec![30.0, 45.0],
            ..SloWatch::default()
        };
        assert_eq!(w.tick_share(), 0.25);
        let jobs: Vec<JobRecord> = [0.0, 29.0, 30.0, 50.0, 59.9, 60.0, 100.0, 44.0]
            .into_iter()
            .map(job)
            .collect();
        assert_eq!(w.job_share(&jobs), 4.0 / 8.0);
        assert_eq!(SloWatch::default().job_share(&[]), 0.0);
    }
}
