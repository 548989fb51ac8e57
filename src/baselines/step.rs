//! AWS Application Auto Scaling step scaling on SQS queue depth, as the fourTheorem
//! `cdk-ecs-mi-template` deploys it, as a peer baseline: one step policy per direction on an
//! alarm over `ApproximateNumberOfMessagesVisible`; the upper alarm (≥ 1 message) adds 1 task
//! for 1–10 messages, 2 for 11–20, 3 for 21–30, 4 for 31+; the lower alarm (0 messages) removes
//! up to 4 (to zero); cooldown 60 s.
//!
//! As deployed (the default):
//! - `ChangeInCapacity`: CDK's `scaleOnMetric` default adjustment type, so each step *adds*
//!   its count to the current desired count rather than setting it.
//! - The alarm metric is CDK's default for `metricApproximateNumberOfMessagesVisible()`:
//!   statistic `Maximum`, period 5 minutes (here: the maximum of the SQS samples over the last
//!   five published minutes).
//! - While an alarm stays in ALARM, CloudWatch repeats its action every minute (CloudWatch
//!   alarm-actions documentation), and Application Auto Scaling applies it once the cooldown
//!   allows: a scale-out inside the cooldown adds only beyond what the earlier one added, a
//!   scale-in is blocked during its cooldown, a scale-out ends a scale-in cooldown
//!   (`API_StepScalingPolicyConfiguration`). CDK builds one policy per direction, each with its
//!   own cooldown.
//!
//! The older reading, each band as an *exact* task count on a 1-minute mean, is kept as a
//! separately labelled configuration (`StepParams::exact_count`).
//!
//! Sources: the template's README and AWS Bites ep. 150 (steps, cooldown 60 s, max 4 tasks);
//! podwhisperer v2 `cdk/lib/podwhisperer-stack.ts` (same style); CDK `StepScalingPolicy` /
//! `scaleOnMetric` docs (adjustment type default) and `Queue.metric*` docs (statistic and
//! period defaults); AAS step scaling cooldown semantics; CloudWatch "alarm actions" (repeat
//! each minute in ALARM for Auto Scaling actions).
//!
//! Generalised: the band index is ceil(visible / `msgs_per_step`) capped at `max_step_tasks`.
//! Between the two alarms (strictly between 0 and 1 message) neither fires. Alarm state and
//! cooldowns live in CloudWatch/AAS, so a controller restart keeps them. Leaves to others: which
//! task ECS stops (keyed on visible only, so the last in-flight job's worker is scaled in: a
//! documented template risk, kept).

use super::{BaselineCommon, MinuteSeries, due, hold, next_evaluation, set_to};
use crate::core::model::{Decision, Observation, Policy};

/// How a step adjustment is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAdjustment {
    /// Add (or remove) the band's count: what the template deploys.
    ChangeInCapacity,
    /// Set the band's count as the desired count.
    ExactCapacity,
}

/// Step settings; `Default` is the template as deployed.
#[derive(Debug, Clone, PartialEq)]
pub struct StepParams {
    pub adjustment: StepAdjustment,
    /// The alarm's metric: `Maximum` over this many minutes (5, CDK's default), or, when 0,
    /// the 1-minute mean (the exact-count variant).
    pub max_over_minutes: u32,
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
            adjustment: StepAdjustment::ChangeInCapacity,
            max_over_minutes: 5,
            msgs_per_step: 10,
            max_step_tasks: 4,
            cooldown_s: 60.0,
            metric_delay_s: 60.0,
        }
    }
}

impl StepParams {
    /// The bands read as exact task counts on the 1-minute mean (the earlier model; labelled
    /// separately in the backtest).
    pub fn exact_count() -> Self {
        StepParams {
            adjustment: StepAdjustment::ExactCapacity,
            max_over_minutes: 0,
            ..StepParams::default()
        }
    }

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
    /// What the scale-out that started the current cooldown added (ChangeInCapacity).
    added_in_cooldown: u32,
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
            added_in_cooldown: 0,
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
        let v = match self.params.max_over_minutes {
            0 => self.series.visible_mean(latest),
            n => self.series.visible_max(latest, n),
        };
        let Some(v) = v else {
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
        if self.params.adjustment == StepAdjustment::ChangeInCapacity {
            return self.change_in_capacity(v, band, desired, now_s);
        }
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

    /// One repeat of the alarm action with `ChangeInCapacity`: band 0 is the lower alarm
    /// (remove `max_step_tasks`), band k ≥ 1 the upper alarm (add k).
    fn change_in_capacity(&mut self, v: f64, band: u32, desired: u32, now_s: f64) -> (u32, String) {
        let c = self.common;
        let stat = match self.params.max_over_minutes {
            0 => "1-min mean".to_string(),
            n => format!("{n}-min max"),
        };
        if band == 0 {
            let to = c.clamp(desired.saturating_sub(self.params.max_step_tasks));
            if to >= desired {
                return (
                    desired,
                    format!("step: {stat} visible {v:.2} ≤ 0: already {desired}"),
                );
            }
            if let Some(until) = self.scale_in_cooldown_until_s.filter(|&u| now_s < u) {
                return (
                    desired,
                    format!(
                        "step: {stat} visible {v:.2} ≤ 0: scale-in cooldown until {until:.0} s"
                    ),
                );
            }
            self.scale_in_cooldown_until_s = Some(now_s + self.params.cooldown_s);
            return (
                to,
                format!(
                    "step: {stat} visible {v:.2} ≤ 0 → −{} → {to}",
                    self.params.max_step_tasks
                ),
            );
        }
        let in_cooldown = self.scale_out_cooldown_until_s.is_some_and(|u| now_s < u);
        // Inside the cooldown only what exceeds the earlier add is added.
        let add = if in_cooldown {
            band.saturating_sub(self.added_in_cooldown)
        } else {
            band
        };
        let to = c.clamp(desired.saturating_add(add));
        if to <= desired {
            return (
                desired,
                format!("step: {stat} visible {v:.2} → +{band}: nothing to add ({desired})"),
            );
        }
        if in_cooldown {
            self.added_in_cooldown = self.added_in_cooldown.max(band);
        } else {
            self.added_in_cooldown = band;
            self.scale_out_cooldown_until_s = Some(now_s + self.params.cooldown_s);
        }
        self.scale_in_cooldown_until_s = None;
        (to, format!("step: {stat} visible {v:.2} → +{band} → {to}"))
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
        Step::new(StepParams::exact_count(), common())
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
            ..StepParams::exact_count()
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

    /// The template as deployed: ChangeInCapacity on the 5-minute maximum, repeated every
    /// minute while the alarm stays in ALARM. 15 messages → +2 per minute (cooldown 60 s never
    /// blocks the next minute) until the maximum; the 5-minute maximum keeps the lower alarm
    /// off for five minutes after the queue empties, then −4.
    #[test]
    fn template_adds_each_minute_in_alarm_and_scales_in_late() {
        let mut s = Step::new(StepParams::default(), common());
        let trace = run(
            &mut s,
            &[15, 15, 15, 15, 15, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            0,
        );
        assert_eq!(
            trace,
            vec![
                (120.0, 2),
                (180.0, 4),
                (240.0, 6),
                (300.0, 8),
                (360.0, 10),
                (720.0, 6),
                (780.0, 2),
                (840.0, 0)
            ]
        );
    }

    /// A scale-out inside the cooldown adds only beyond the earlier add.
    #[test]
    fn change_in_capacity_cooldown_adds_only_the_difference() {
        let p = StepParams {
            cooldown_s: 150.0,
            ..StepParams::default()
        };
        let mut s = Step::new(p, common());
        // 120: 5 → +1; 180 (in cooldown): 25 → +3, adds 2; 240 (in cooldown): 25 → adds 0;
        // 300: cooldown over (ends 270): +3.
        let trace = run(&mut s, &[5, 25, 25, 25, 25, 25], 0);
        assert_eq!(trace, vec![(120.0, 1), (180.0, 3), (300.0, 6)]);
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
