//! Learns the real start lag from task timestamps (`createdAt` → `startedAt`), split into cold
//! starts (a new instance was needed) and warm starts (an instance was already there).
//!
//! Robust to outliers: the estimate is a quantile of the most recent samples, seeded with the
//! configured guess so one early sample cannot swing it. Which lag to plan for is the core's
//! business; how a world tells cold from warm is the world's.

use crate::core::model::{TaskInfo, TaskPhase};
use std::collections::VecDeque;

const WINDOW: usize = 64;
/// The configured estimate counts as this many samples until real ones replace it.
const PRIOR_WEIGHT: usize = 3;

/// A sliding window of recent lags with a configured prior.
#[derive(Debug, Clone)]
pub struct LagWindow {
    prior_s: f64,
    samples_s: VecDeque<f64>,
    /// The same samples, kept sorted: the plan is read several times per tick and a sort per
    /// read was most of preheat's decision time.
    sorted_s: Vec<f64>,
}

impl LagWindow {
    pub fn new(prior_s: f64) -> Self {
        LagWindow {
            prior_s,
            samples_s: VecDeque::with_capacity(WINDOW),
            sorted_s: Vec::with_capacity(WINDOW),
        }
    }

    pub fn push(&mut self, lag_s: f64) {
        if !lag_s.is_finite() || lag_s < 0.0 {
            return;
        }
        if self.samples_s.len() == WINDOW
            && let Some(old) = self.samples_s.pop_front()
            && let Ok(i) = self.sorted_s.binary_search_by(|x| x.total_cmp(&old))
        {
            self.sorted_s.remove(i);
        }
        self.samples_s.push_back(lag_s);
        let at = self
            .sorted_s
            .partition_point(|x| x.total_cmp(&lag_s).is_lt());
        self.sorted_s.insert(at, lag_s);
    }

    pub fn len(&self) -> usize {
        self.samples_s.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples_s.is_empty()
    }

    /// The `q` quantile (0..1) of the samples, with the prior mixed in while samples are few.
    pub fn quantile(&self, q: f64) -> f64 {
        let priors = PRIOR_WEIGHT.saturating_sub(self.sorted_s.len());
        let idx_of = |len: usize| ((len - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        if priors == 0 {
            return self.sorted_s[idx_of(self.sorted_s.len())];
        }
        let mut v = self.sorted_s.clone();
        v.extend(std::iter::repeat_n(self.prior_s, priors));
        v.sort_by(f64::total_cmp);
        v[idx_of(v.len())]
    }
}

/// Cold and warm lag learners with a watermark so each task is learned once.
#[derive(Debug, Clone)]
pub struct LagLearner {
    pub cold: LagWindow,
    pub warm: LagWindow,
    /// Latest `started_at` already learned, and the ids learned at exactly that instant.
    watermark_s: f64,
    at_watermark: Vec<u64>,
}

impl LagLearner {
    pub fn new(cold_prior_s: f64, warm_prior_s: f64) -> Self {
        LagLearner {
            cold: LagWindow::new(cold_prior_s),
            warm: LagWindow::new(warm_prior_s),
            watermark_s: f64::NEG_INFINITY,
            at_watermark: Vec::new(),
        }
    }

    /// Learn from every task that started since the last call.
    pub fn observe(&mut self, tasks: &[TaskInfo]) {
        let mut fresh: Vec<(f64, u64, f64, Option<bool>)> = tasks
            .iter()
            .filter(|t| matches!(t.phase, TaskPhase::Running | TaskPhase::Stopping))
            .filter_map(|t| {
                let started = t.started_at_s?;
                let new = started > self.watermark_s
                    || (started == self.watermark_s && !self.at_watermark.contains(&t.id));
                new.then_some((started, t.id, started - t.created_at_s, t.cold))
            })
            .collect();
        fresh.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (started, id, lag_s, cold) in fresh {
            match cold {
                Some(true) => self.cold.push(lag_s),
                Some(false) => self.warm.push(lag_s),
                // Unknown placement: a lag well above the warm estimate was surely cold.
                None if lag_s > 2.0 * self.warm.quantile(0.5) => self.cold.push(lag_s),
                None => self.warm.push(lag_s),
            }
            if started > self.watermark_s {
                self.watermark_s = started;
                self.at_watermark.clear();
            }
            self.at_watermark.push(id);
        }
    }

    /// The cold lag to plan for: a high quantile, so most launches are ready in time.
    pub fn cold_plan_s(&self) -> f64 {
        self.cold.quantile(0.8)
    }

    pub fn warm_plan_s(&self) -> f64 {
        self.warm.quantile(0.8).min(self.cold_plan_s())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The kept-sorted window answers exactly as sorting the samples (and priors) would.
        #[test]
        fn quantile_matches_a_full_sort(
            lags in proptest::collection::vec(0.0f64..1000.0, 0..200),
            q in 0.0f64..1.0,
        ) {
            let mut w = LagWindow::new(210.0);
            for &l in &lags {
                w.push(l);
            }
            let mut v: Vec<f64> = lags.iter().rev().take(WINDOW).copied().collect();
            v.extend(std::iter::repeat_n(210.0, PRIOR_WEIGHT.saturating_sub(v.len())));
            v.sort_by(f64::total_cmp);
            let idx = ((v.len() - 1) as f64 * q).round() as usize;
            proptest::prop_assert_eq!(w.quantile(q), v[idx]);
        }
    }

    fn task(id: u64, created: f64, started: f64, cold: Option<bool>) -> TaskInfo {
        TaskInfo {
            id,
            phase: TaskPhase::Running,
            created_at_s: created,
            started_at_s: Some(started),
            cold,
            busy: Some(false),
            idle_since_s: Some(started),
        }
    }

    #[test]
    fn prior_until_samples_arrive_then_samples_win() {
        let mut l = LagLearner::new(210.0, 30.0);
        assert_eq!(l.cold_plan_s(), 210.0);
        for i in 0..10 {
            l.observe(&[task(i, 0.0, 300.0 + i as f64, Some(true))]);
        }
        assert!(l.cold_plan_s() >= 300.0 && l.cold_plan_s() < 310.0);
    }

    #[test]
    fn each_task_is_learned_once() {
        let mut l = LagLearner::new(210.0, 30.0);
        let ts = vec![
            task(1, 0.0, 100.0, Some(true)),
            task(2, 0.0, 100.0, Some(true)),
        ];
        l.observe(&ts);
        l.observe(&ts);
        l.observe(&ts);
        assert_eq!(l.cold.len(), 2);
        // A third task starting at the same instant as the watermark is still learned.
        l.observe(&[task(3, 50.0, 100.0, Some(true))]);
        assert_eq!(l.cold.len(), 3);
    }

    #[test]
    fn one_outlier_does_not_move_the_plan() {
        let mut l = LagLearner::new(210.0, 30.0);
        for i in 0..20 {
            l.observe(&[task(i, 0.0, 200.0 + i as f64 * 0.1, Some(true))]);
        }
        l.observe(&[task(99, 0.0, 5000.0, Some(true))]);
        assert!(l.cold_plan_s() < 210.0);
    }

    #[test]
    fn unknown_placement_is_split_by_size() {
        let mut l = LagLearner::new(210.0, 30.0);
        l.observe(&[task(1, 0.0, 20.0, None), task(2, 0.0, 240.0, None)]);
        assert_eq!((l.warm.len(), l.cold.len()), (1, 1));
    }
}
