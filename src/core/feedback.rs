//! The strict hold's feedback on the SLO actually met: preheat estimates its own attainment over
//! a trailing week from what production reads (`attainment.rs`), and while that falls short of
//! the SLO's target it lets the level-return hold (`returns.rs`) keep workers through longer
//! lulls, up to a day; once the target is met again it shortens them step by step. The SLO is
//! a budget of misses over a window, not a promise per job: a service whose misses come at the
//! ends of long lulls buys them back with warm workers only when the budget is overspent.
//! Pure: `decide` feeds it each observation and reads the hold's cap; what to hold is its call.

use crate::core::attainment::AttainmentEstimator;
use crate::core::model::Observation;
use std::collections::VecDeque;

/// How often the cap is reviewed: daily, so that a short spell of misses (a burst, the hours
/// preheat spends learning a new service) does not buy a week of long holds. (Issue #9:
/// reviewed hourly, the first hours of azure-llm-conv lengthened its holds and cost $1437
/// where a 40-min keep-alive reaches 99% for $1364; reviewed daily, $1320 as without it.)
const REVIEW_S: f64 = 86400.0;

/// The trailing window the attainment is judged over.
const WINDOW_S: f64 = 7.0 * 86400.0;

/// The longest cap feedback can reach: a day (a level that comes back once a day, the daily
/// cycle's return, is worth holding; one that comes back only after a weekend is not).
pub const MAX_CAP_S: f64 = 86400.0;

/// Each review moves the cap by this factor.
const STEP: f64 = 2.0;

/// Misses the SLO allows in the window before a shortfall is trusted: fewer judged jobs than
/// this many misses' worth say too little (one unlucky job at 99% is a 1% shortfall in 100).
const MIN_BUDGET_JOBS: f64 = 2.0;

#[derive(Debug, Clone)]
pub struct HoldFeedback {
    est: AttainmentEstimator,
    target: f64,
    /// Totals (judged, met) at each review, for the trailing window.
    snapshots: VecDeque<(f64, f64, f64)>,
    next_review_s: Option<f64>,
    /// The cap's multiple of its base: 1 until the window falls short.
    scale: f64,
    window_attainment: Option<f64>,
}

impl HoldFeedback {
    pub fn new(max_wait_s: f64, attainment: f64, service_prior_s: f64) -> Self {
        HoldFeedback {
            est: AttainmentEstimator::new(max_wait_s, service_prior_s),
            target: attainment,
            snapshots: VecDeque::new(),
            next_review_s: None,
            scale: 1.0,
            window_attainment: None,
        }
    }

    /// Take one tick's reads; on a review, move the scale.
    pub fn observe(&mut self, obs: &Observation, now_s: f64, base_cap_s: f64) {
        self.est.observe(obs, now_s);
        let (judged, met) = self.est.totals();
        self.review(now_s, judged, met, base_cap_s);
    }

    /// With the estimator's totals (jobs judged, and met) at `now_s`: once a review is due,
    /// double the scale if the trailing window fell short of the target, halve it if it met
    /// it; never below 1 nor past `MAX_CAP_S` over `base_cap_s`.
    fn review(&mut self, now_s: f64, judged: f64, met: f64, base_cap_s: f64) {
        if self.next_review_s.is_none() {
            self.snapshots.push_back((now_s, judged, met));
        }
        let due = *self.next_review_s.get_or_insert(now_s + REVIEW_S);
        if now_s < due {
            return;
        }
        self.next_review_s = Some(now_s + REVIEW_S);
        while self
            .snapshots
            .front()
            .is_some_and(|&(t, _, _)| t < now_s - WINDOW_S)
        {
            self.snapshots.pop_front();
        }
        // Since the oldest review in the window (since start while the window is young).
        let (from_judged, from_met) = self
            .snapshots
            .front()
            .map_or((0.0, 0.0), |&(_, j, m)| (j, m));
        self.snapshots.push_back((now_s, judged, met));
        let (judged, met) = (judged - from_judged, met - from_met);
        let miss_share = (1.0 - self.target).max(1e-4);
        if judged * miss_share < MIN_BUDGET_JOBS {
            return;
        }
        let share = met / judged;
        self.window_attainment = Some(share);
        let most = (MAX_CAP_S / base_cap_s.max(1.0)).max(1.0);
        self.scale = if share < self.target {
            (self.scale * STEP).min(most)
        } else {
            (self.scale / STEP).max(1.0)
        };
    }

    /// The estimated attainment since start, once enough jobs are judged for two misses.
    pub fn attainment_since_start(&self) -> Option<f64> {
        let (judged, met) = self.est.totals();
        let miss_share = (1.0 - self.target).max(1e-4);
        (judged * miss_share >= MIN_BUDGET_JOBS).then(|| met / judged)
    }

    /// Jobs judged over the trailing window (since the oldest review in it).
    pub fn window_judged_jobs(&self) -> f64 {
        let from = self.snapshots.front().map_or(0.0, |&(_, j, _)| j);
        self.est.totals().0 - from
    }

    /// The estimated attainment over the window at the last review that judged enough jobs.
    pub fn window_attainment(&self) -> Option<f64> {
        self.window_attainment
    }

    /// As if the last reviews had found the window at `attainment` and moved the scale to
    /// `scale` (for `decide`'s tests).
    #[cfg(test)]
    pub(crate) fn assume(&mut self, scale: f64, attainment: f64) {
        self.scale = scale;
        self.window_attainment = Some(attainment);
    }

    /// The hold's cap: `base_cap_s` scaled, never past `MAX_CAP_S` (nor below the base).
    pub fn cap_s(&self, base_cap_s: f64) -> f64 {
        (base_cap_s * self.scale).min(MAX_CAP_S.max(base_cap_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_S: f64 = 86400.0;
    const BASE_S: f64 = 3150.0;

    /// A day's reviews: `n` days from `from_day` on, each judging `jobs` at the share `met`,
    /// added to the running totals.
    fn days(
        f: &mut HoldFeedback,
        totals: &mut (f64, f64),
        from_day: usize,
        n: usize,
        jobs: f64,
        met: f64,
    ) {
        for d in from_day..from_day + n {
            if d > 0 {
                totals.0 += jobs;
                totals.1 += jobs * met;
            }
            f.review(d as f64 * DAY_S, totals.0, totals.1, BASE_S);
        }
    }

    #[test]
    fn a_week_below_target_lengthens_the_hold_up_to_a_day_and_meeting_it_shortens_it() {
        let mut f = HoldFeedback::new(60.0, 0.99, 300.0);
        let mut t = (0.0, 0.0);
        days(&mut f, &mut t, 0, 1, 0.0, 0.0);
        assert_eq!(f.scale, 1.0, "nothing judged yet");
        days(&mut f, &mut t, 1, 2, 500.0, 0.95);
        assert_eq!(f.scale, 4.0, "two days short: doubled twice");
        assert!((f.window_attainment().unwrap() - 0.95).abs() < 1e-9);
        days(&mut f, &mut t, 3, 10, 500.0, 0.95);
        assert_eq!(f.cap_s(BASE_S), MAX_CAP_S, "never past a day");
        // A week at 100% brings the window above 99% and halves the scale each day.
        let before = f.scale;
        days(&mut f, &mut t, 13, 8, 500.0, 1.0);
        assert!(f.scale < before / 4.0, "{} from {before}", f.scale);
        assert!(f.window_attainment().unwrap() >= 0.99);
    }

    #[test]
    fn too_few_jobs_to_judge_leave_the_hold_alone() {
        let mut f = HoldFeedback::new(60.0, 0.99, 300.0);
        let mut t = (0.0, 0.0);
        // 150 jobs a day at 99%: a budget of 1.5 misses, fewer than two.
        days(&mut f, &mut t, 0, 2, 150.0, 0.5);
        assert_eq!(f.scale, 1.0);
        assert_eq!(f.window_attainment(), None);
    }
}
