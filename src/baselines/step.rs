//! AWS Application Auto Scaling step scaling on SQS queue depth, configured as the fourTheorem
//! `cdk-ecs-mi-template` configures it, as a peer baseline: 0 messages → 0 tasks, 1–10 → 1,
//! 11–20 → 2, 21–30 → 3, 31+ → 4, cooldown 60 s, on the 1-minute
//! `ApproximateNumberOfMessagesVisible` alarm.
//!
//! Sources (docs/peers.md, "step"): the template README and AWS Bites ep. 150
//! (steps, cooldown 60 s, max 4 tasks; the template's code was not available, so the steps are
//! modelled as exact task counts per band, as the README states them); podwhisperer v2
//! `cdk/lib/podwhisperer-stack.ts` (same style: lower alarm at 0 messages scales in, upper alarm
//! at ≥ 1 scales out); AAS `API_StepScalingPolicyConfiguration` (cooldown semantics: scale-in
//! blocked during its cooldown; a scale-out during a cooldown adds only beyond the earlier add;
//! a scale-out interrupts a scale-in cooldown). CDK `scaleOnMetric` builds one policy per
//! direction, each with its own cooldown, so a scale-out's cooldown does not block a scale-in.
//!
//! Generalised: tasks = ceil(visible / `msgs_per_step`) capped at `max_step_tasks`. Between the
//! two alarms (a mean strictly between 0 and 1 message) neither fires. Alarm state and
//! cooldowns live in CloudWatch/AAS, so a controller restart keeps them. Leaves to others: which
//! task ECS stops (keyed on visible only, so the last in-flight job's worker is scaled in: a
//! documented template risk, kept).

use super::{BaselineCommon, MinuteSeries, due, hold, next_evaluation, set_to};
use crate::core::model::{Decision, Observation, Policy};

/// Step settings; `Default` is the template's.
#[derive(Debug, Clone, PartialEq)]
pub struct StepParams {
    /// Messages per step band (1–10 → 1 task with 10).
    pub msgs_per_step: u32,
    /// Task count of the last band (31+ → 4 with the template).
    pub max_step_tasks: u32,
    /// Policy cooldown.
    pub cooldown_s: f64,
    /// How late a minute's datapoint becomes visible after the minute closes.
    pub metric_delay_s: f64,
}

impl Default for StepParams {
    fn default() -> Self {
        StepParams {
            msgs_per_step: 10,
            max_step_tasks: 4,
            cooldown_s: 60.0,
            metric_delay_s: 60.0,
        }
    }
}

impl StepParams {
    /// The task count the step bands give for a visible-messages datapoint, or `None` when the
    /// datapoint lies between the lower alarm (≤ 0) and the upper alarm (≥ 1).
    pub fn tasks_for(&self, visible: f64) -> Option<u32> {
        if visible <= 0.0 {
            return Some(0);
        }
        if visible < 1.0 || visible.is_nan() {
            return None;
        }
        // Bands [1, s+1) → 1, [s+1, 2s+1) → 2, …: ceil(v / s) for whole message counts.
        let per = f64::from(self.msgs_per_step.max(1));
        let band = ((visible - 1.0) / per).floor() + 1.0;
        Some((band.min(f64::from(u32::MAX)) as u32).min(self.max_step_tasks))
    }
}

/// Step scaling with the alarm's datapoints and the two policies' cooldowns.
#[derive(Debug, Clone)]
pub struct Step {
    params: StepParams,
    common: BaselineCommon,
    series: MinuteSeries,
    next_eval_s: Option<f64>,
    scale_out_cooldown_until_s: Option<f64>,
    scale_in_cooldown_until_s: Option<f64>,
}

impl Step {
    pub fn new(params: StepParams, common: BaselineCommon) -> Self {
        Step {
            params,
            common,
            series: MinuteSeries::default(),
            next_eval_s: None,
            scale_out_cooldown_until_s: None,
            scale_in_cooldown_until_s: None,
        }
    }

    pub fn params(&self) -> &StepParams {
        &self.params
    }

    fn evaluate(&mut self, desired: u32, now_s: f64) -> (u32, String) {
        let c = self.common;
        if desired < c.lo() || desired > c.max_tasks {
            let to = c.clamp(desired);
            return (
                to,
                format!(
                    "step: {desired} outside scalable target [{}, {}] → {to}",
                    c.min_tasks, c.max_tasks
                ),
            );
        }
        let latest = MinuteSeries::latest_visible_minute(now_s, self.params.metric_delay_s);
        let Some(v) = self.series.visible_mean(latest) else {
            return (
                desired,
                "step: no visible-messages datapoint (insufficient data)".into(),
            );
        };
        let Some(band) = self.params.tasks_for(v) else {
            return (
                desired,
                format!("step: visible {v:.2} between the alarms (≤0, ≥1): no alarm"),
            );
        };
        let to = c.clamp(band);
        let head = format!(
            "step: visible {v:.2} → band ceil({v:.0}/{}) capped {} = {band}",
            self.params.msgs_per_step, self.params.max_step_tasks
        );
        if to > desired {
            // Exact capacity: a scale-out inside the cooldown adds only beyond what was added.
            self.scale_out_cooldown_until_s = Some(now_s + self.params.cooldown_s);
            self.scale_in_cooldown_until_s = None;
            return (to, format!("{head} → {to}"));
        }
        if to < desired {
            if let Some(until) = self.scale_in_cooldown_until_s.filter(|&u| now_s < u) {
                return (
                    desired,
                    format!("{head}: scale-in cooldown until {until:.0} s"),
                );
            }
            self.scale_in_cooldown_until_s = Some(now_s + self.params.cooldown_s);
            return (to, format!("{head} → {to}"));
        }
        (desired, format!("{head}: already {desired}"))
    }
}

impl Policy for Step {
    fn name(&self) -> &str {
        "step"
    }

    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
        self.series
            .record(now_s, obs.queue.map(|q| q.visible), None);
        let wake_s = next_evaluation(now_s, self.params.metric_delay_s);
        if !due(self.next_eval_s, now_s) {
            return hold("step: between alarm evaluations", now_s, wake_s);
        }
        self.next_eval_s = Some(wake_s);
        let (Some(service), Some(_)) = (obs.service, obs.queue) else {
            return hold("step: queue or service read missing → hold", now_s, wake_s);
        };
        let (to, text) = self.evaluate(service.desired, now_s);
        set_to(obs, to, text, now_s, wake_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testutil::{check_all_none, check_bounds, obs, run_strategy, set};
    use proptest::prelude::*;

    fn common() -> BaselineCommon {
        crate::baselines::testutil::up_to(10)
    }

    fn step() -> Step {
        Step::new(StepParams::default(), common())
    }

    #[test]
    fn template_bands() {
        let p = StepParams::default();
        let got: Vec<_> = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0, 1000.0]
            .iter()
            .map(|&v| p.tasks_for(v))
            .collect();
        let want = [0, 1, 1, 2, 2, 3, 3, 4, 4].map(Some);
        assert_eq!(got, want);
        assert_eq!(p.tasks_for(0.5), None, "between the lower and upper alarm");
        assert_eq!((p.cooldown_s, p.metric_delay_s), (60.0, 60.0));
        assert_eq!(step().name(), "step");
    }

    #[test]
    fn acts_on_the_late_datapoint() {
        let mut s = step();
        // Minute 0 (15 visible) is visible at 120.
        assert_eq!(set(&s.decide(&obs(15, 0, 0, 0, 0), 0.0)), None);
        assert_eq!(set(&s.decide(&obs(15, 0, 0, 0, 0), 60.0)), None);
        let d = s.decide(&obs(15, 0, 0, 0, 0), 120.0);
        assert_eq!(set(&d), Some(2));
        assert!(
            d.why.text.starts_with("step: visible 15.00"),
            "{}",
            d.why.text
        );
        // The queue empties from minute 3 (sampled at 180); that datapoint is visible at 300.
        // Then → 0, even though a job is in flight: the template keys on visible only.
        assert_eq!(set(&s.decide(&obs(0, 1, 2, 2, 0), 180.0)), None);
        assert_eq!(set(&s.decide(&obs(0, 1, 2, 2, 0), 240.0)), None);
        assert_eq!(set(&s.decide(&obs(0, 1, 2, 2, 0), 300.0)), Some(0));
    }

    /// Feed one visible sample per minute, tracking the world's desired; return the changes.
    fn run(s: &mut Step, visible: &[u64], desired0: u32) -> Vec<(f64, u32)> {
        let mut desired = desired0;
        let mut trace = vec![];
        for (i, &v) in visible.iter().enumerate() {
            let now = 60.0 * i as f64;
            if let Some(n) = set(&s.decide(&obs(v, 0, desired, desired, 0), now)) {
                desired = n;
                trace.push((now, n));
            }
        }
        trace
    }

    #[test]
    fn scale_in_cooldown_blocks_and_scale_out_inside_it_is_not_blocked() {
        let p = StepParams {
            cooldown_s: 150.0,
            ..StepParams::default()
        };
        let mut s = Step::new(p, common());
        // Minute m is evaluated at 60·m + 120. 120: 31 → 4 (already); 180: 15 → 2, scale-in
        // cooldown to 330; 240: 5 → 1 blocked; 300: 0 blocked; 360: 0 → 0 (cooldown to 510);
        // 420: 25 → 3 inside that cooldown: a scale-out is never blocked by it.
        let trace = run(&mut s, &[31, 15, 5, 0, 0, 25, 25, 25, 25], 4);
        assert_eq!(trace, vec![(180.0, 2), (360.0, 0), (420.0, 3)]);
    }

    #[test]
    fn default_cooldown_never_blocks_the_next_minute() {
        let mut s = step();
        let trace = run(&mut s, &[35, 25, 15, 5, 0, 0, 0], 4);
        assert_eq!(trace, vec![(180.0, 3), (240.0, 2), (300.0, 1), (360.0, 0)]);
    }

    #[test]
    fn missing_reads_hold() {
        let mut s = step();
        let mut o = obs(50, 0, 0, 0, 0);
        o.service = None;
        for t in [0.0, 60.0, 120.0] {
            assert!(s.decide(&o, t).actions.is_empty());
        }
    }

    proptest! {
        #[test]
        fn prop_bounds(steps in run_strategy(), min in 0u32..4, extra in 0u32..30) {
            let c = BaselineCommon { min_tasks: min, max_tasks: min + extra, jobs_per_task: 1 };
            let mut s = Step::new(StepParams::default(), c);
            check_bounds(&mut s, &steps, c.min_tasks, c.max_tasks)?;
        }

        #[test]
        fn prop_all_none_no_action(dts in prop::collection::vec(0.0f64..100.0, 1..50)) {
            check_all_none(&mut step(), &dts)?;
        }
    }
}
