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
    /// Ticks when the policy said no pool learned from history meets its strict SLO
    /// (`Decision::idle_pool`): out of reach for a policy that learns, not under the caps.
    pub unlearnable_ticks: u64,
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

    /// Share of ticks when the SLO was said to be out of reach by learning.
    pub fn unlearnable_tick_share(&self) -> f64 {
        if self.ticks == 0 {
            0.0
        } else {
            self.unlearnable_ticks as f64 / self.ticks as f64
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
        if d.idle_pool.is_some_and(|p| !p.reachable_by_learning) {
            self.watch.unlearnable_ticks += 1;
        }
        self.estimator.observe(obs, now_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{Config, DEFAULT_CONFIG_YAML, Slo};
    use crate::core::decide::Preheat;
    use crate::sim::{SimSetup, run};

    /// The demo (two weeks of KTH SP2, config/whisper.yaml) with preheat at `slo`, with or
    /// without CloudWatch: (estimate, true attainment).
    fn demo_at(slo: Slo, cloudwatch: bool) -> (f64, f64) {
        let cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap();
        let mut service = cfg.services[0].clone();
        service.slo = slo;
        let mut sim = cfg.simulation.clone();
        sim.cloudwatch_metrics = cloudwatch;
        let trace = crate::sim::scenario::demo_trace(sim.seed).unwrap();
        let setup = SimSetup::from_trace(service, cfg.tick_s, sim, &trace);
        let policy = Preheat::new(setup.service.clone(), setup.tick_s);
        let s = run(&setup, Box::new(policy), false).summary;
        (
            s.attainment_estimate.expect("jobs judged"),
            s.slo_attainment,
        )
    }

    /// preheat's own estimate, from the reads production makes, agrees with the simulator's
    /// true attainment on the demo. Measured (docs/attainment.md): with CloudWatch −0.07 pt at
    /// the example's SLO (95% within 10m) and −1.97 pt at a strict one (99% within 1m), so the
    /// bound is 2.5 pt; SQS-only +1.47 pt at the example's SLO (bound 2 pt), while at the
    /// strict SLO it is +5.8 pt too optimistic, which the docs say rather than this test.
    #[test]
    fn the_estimate_tracks_the_true_attainment_on_the_demo() {
        let loose = Slo {
            max_wait_s: 600.0,
            attainment: 0.95,
        };
        let strict = Slo {
            max_wait_s: 60.0,
            attainment: 0.99,
        };
        for (slo, cloudwatch, tolerance_pt) in [
            (loose.clone(), true, 2.5),
            (strict, true, 2.5),
            (loose, false, 2.0),
        ] {
            let (est, truth) = demo_at(slo.clone(), cloudwatch);
            let err_pt = (est - truth) * 100.0;
            eprintln!(
                "{slo:?} cloudwatch {cloudwatch}: estimate {est:.4} true {truth:.4} ({err_pt:+.2} pt)"
            );
            assert!(
                err_pt.abs() <= tolerance_pt,
                "{slo:?} cw {cloudwatch}: {est} vs {truth}"
            );
        }
    }

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
        let learning = SloWatch {
            ticks: 8,
            unlearnable_ticks: 6,
            ..SloWatch::default()
        };
        assert_eq!(learning.unlearnable_tick_share(), 0.75);
        assert_eq!(SloWatch::default().unlearnable_tick_share(), 0.0);
        let jobs: Vec<JobRecord> = [0.0, 29.0, 30.0, 50.0, 59.9, 60.0, 100.0, 44.0]
            .into_iter()
            .map(job)
            .collect();
        assert_eq!(w.job_share(&jobs), 4.0 / 8.0);
        assert_eq!(SloWatch::default().job_share(&[]), 0.0);
    }
}
