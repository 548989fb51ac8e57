//! AWS Application Auto Scaling target tracking on SQS backlog per task, the AWS-documented
//! queue-worker recipe, paired with the 0→1 step rule it needs, as a peer baseline.
//!
//! Sources (docs/peers.md, "target-tracking"): metric M = `ApproximateNumberOfMessagesVisible`
//! / `RunningTaskCount` as 1-minute metric math
//! (`autoscaling/application/userguide/application-auto-scaling-target-tracking-metric-math.html`);
//! target T = acceptable latency / average processing time (`as-using-sqs-queue.md`); AAS alarms
//! AlarmHigh 3 of 3 one-minute datapoints > T and AlarmLow 15 of 15 < ≈0.9·T (fixed, not
//! configurable: CDK #34472); scale-out "proportional to the metric value as fast as it can",
//! scale-in gradual with conservative rounding (`target-tracking-scaling-policy-overview.html`);
//! no action on insufficient data; `ScaleOutCooldown` / `ScaleInCooldown` 300 s for ECS, with
//! capacity added during a scale-out cooldown counted toward the next scale-out and a scale-out
//! interrupting a scale-in cooldown (`API_TargetTrackingScalingPolicyConfiguration`). The metric
//! is undefined at 0 running tasks, so a 0→1 step rule on the visible-messages alarm is paired
//! with it (the documented way out of zero, docs/peers.md).
//!
//! State kept here (alarm datapoints, cooldowns) lives in CloudWatch and AAS in reality, so a
//! controller restart does not reset it. Leaves to others: predictive scaling, `DisableScaleIn`
//! beyond the flag, and which task ECS stops on scale-in (visible excludes in-flight, so a
//! 15-minute quiet queue scales in busy workers: a documented weakness, kept).

use super::{
    BaselineCommon, MinuteSeries, ceil_tasks, due, fmt_points, hold, next_evaluation, set_to,
};
use crate::core::model::{Decision, Observation, Policy};

/// Target tracking settings. No `Default`: AWS has no default target, it must be chosen
/// (see [`TargetTrackingParams::for_slo`]); [`TargetTrackingParams::with_target`] fills in
/// every documented default around a given target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetTrackingParams {
    /// T: acceptable backlog per running task.
    pub target_backlog_per_task: f64,
    /// AlarmLow threshold as a share of T (≈0.9 seen for ECS, undocumented).
    pub scale_in_threshold_ratio: f64,
    /// AlarmHigh datapoints (3 of 3).
    pub scale_out_datapoints: u32,
    /// AlarmLow datapoints (15 of 15).
    pub scale_in_datapoints: u32,
    pub scale_out_cooldown_s: f64,
    pub scale_in_cooldown_s: f64,
    /// How late a minute's datapoint becomes visible after the minute closes.
    pub metric_delay_s: f64,
    /// `DisableScaleIn`.
    pub disable_scale_in: bool,
    /// The paired 0→1 step rule: at desired 0, a visible-messages datapoint ≥ this sets 1.
    /// `None` disables the rule.
    pub zero_to_one_threshold_msgs: Option<f64>,
}

impl TargetTrackingParams {
    /// Every documented default around target `target_backlog_per_task`.
    pub fn with_target(target_backlog_per_task: f64) -> Self {
        TargetTrackingParams {
            target_backlog_per_task,
            scale_in_threshold_ratio: 0.9,
            scale_out_datapoints: 3,
            scale_in_datapoints: 15,
            scale_out_cooldown_s: 300.0,
            scale_in_cooldown_s: 300.0,
            metric_delay_s: 60.0,
            disable_scale_in: false,
            zero_to_one_threshold_msgs: Some(1.0),
        }
    }

    /// AWS's rule for the target: "acceptable backlog per instance = acceptable latency /
    /// average processing time" (awsdocs amazon-ec2-auto-scaling-user-guide
    /// `as-using-sqs-queue.md`, example 10 s / 0.1 s = 100). The recipe sets no floor, so a
    /// wait SLO shorter than a job gives T < 1 (scale out while any message waits); only a
    /// non-positive or undefined result is replaced by the smallest positive target, so the
    /// metric ratio stays defined.
    pub fn for_slo(acceptable_wait_s: f64, service_s: f64) -> Self {
        let t = acceptable_wait_s / service_s;
        Self::with_target(if t.is_finite() && t > 0.0 {
            t
        } else {
            MIN_TARGET
        })
    }
}

/// Smallest target accepted (AWS's own range starts near 8.5e-109; anything tiny works).
const MIN_TARGET: f64 = 1e-6;

/// Target tracking with the state the alarms and AAS keep.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    params: TargetTrackingParams,
    common: BaselineCommon,
    series: MinuteSeries,
    next_eval_s: Option<f64>,
    /// Active scale-out cooldown: (ends at, capacity before the scale-out that started it).
    scale_out_cooldown: Option<(f64, u32)>,
    scale_in_cooldown_until_s: Option<f64>,
}

impl TargetTracking {
    pub fn new(params: TargetTrackingParams, common: BaselineCommon) -> Self {
        TargetTracking {
            params,
            common,
            series: MinuteSeries::default(),
            next_eval_s: None,
            scale_out_cooldown: None,
            scale_in_cooldown_until_s: None,
        }
    }

    pub fn params(&self) -> &TargetTrackingParams {
        &self.params
    }

    fn target(&self) -> f64 {
        let t = self.params.target_backlog_per_task;
        if t.is_finite() && t > 0.0 {
            t
        } else {
            MIN_TARGET
        }
    }

    /// One alarm evaluation. Returns the new desired count (== `desired` when nothing fires)
    /// and the reason.
    fn evaluate(&mut self, desired: u32, now_s: f64) -> (u32, String) {
        let c = self.common;
        let p = &self.params;
        let t = self.target();
        // The scalable target's own bounds: AAS moves capacity inside [min, max] at once.
        if desired < c.lo() || desired > c.max_tasks {
            let to = c.clamp(desired);
            return (
                to,
                format!(
                    "target-tracking: {desired} outside scalable target [{}, {}] → {to}",
                    c.min_tasks, c.max_tasks
                ),
            );
        }
        let latest = MinuteSeries::latest_visible_minute(now_s, p.metric_delay_s);

        if desired == 0 {
            // M = visible / running is undefined without tasks: only the paired step rule acts.
            let visible = self.series.visible_mean(latest);
            return match (p.zero_to_one_threshold_msgs, visible) {
                (Some(th), Some(v)) if v >= th => {
                    let to = c.clamp(1);
                    (to, format!("target-tracking 0→1 step rule: visible datapoint {v:.2} ≥ {th} at 0 desired → {to}"))
                }
                _ => (0, "target-tracking: 0 desired, backlog per task undefined (insufficient data), no 0→1 alarm".to_string()),
            };
        }

        let high = self.series.window(
            latest,
            p.scale_out_datapoints,
            MinuteSeries::backlog_per_task,
        );
        let low = self.series.window(
            latest,
            p.scale_in_datapoints,
            MinuteSeries::backlog_per_task,
        );
        let low_th = p.scale_in_threshold_ratio * t;

        if let Some(points) = high.filter(|pts| pts.iter().all(|&m| m > t)) {
            // "Adds capacity proportional to the metric value as fast as it can": the newest
            // datapoint (the largest in a rising backlog) scales the current capacity.
            let m = points.last().copied().unwrap_or(0.0);
            let in_cooldown = self.scale_out_cooldown.filter(|&(until, _)| now_s < until);
            // During a scale-out cooldown the capacity that cooldown's scale-out added counts
            // toward this one: size from the capacity before it, raise only beyond.
            let base = in_cooldown.map_or(desired, |(_, base)| base);
            let want = c.clamp(ceil_tasks(f64::from(base) * m / t));
            let text = format!(
                "target-tracking: last {} datapoints {} > T={t:.3} → ceil({base}·{m:.2}/{t:.3})={want}",
                p.scale_out_datapoints,
                fmt_points(&points)
            );
            if want > desired {
                if in_cooldown.is_none() {
                    self.scale_out_cooldown = Some((now_s + p.scale_out_cooldown_s, desired));
                }
                // "A scale-out during the scale-in cooldown … the scale-in cooldown stops."
                self.scale_in_cooldown_until_s = None;
                return (want, text);
            }
            let why = if in_cooldown.is_some() {
                "capacity added in the scale-out cooldown already covers it"
            } else {
                "no increase"
            };
            return (desired, format!("{text}: {why}"));
        }

        if let Some(points) = low.filter(|pts| pts.iter().all(|&m| m < low_th)) {
            let m = points.last().copied().unwrap_or(0.0);
            let head = format!(
                "target-tracking: last {} datapoints < {:.2}·T={low_th:.3}",
                p.scale_in_datapoints, p.scale_in_threshold_ratio
            );
            if p.disable_scale_in {
                return (desired, format!("{head}: scale-in disabled"));
            }
            if let Some(until) = self.scale_in_cooldown_until_s.filter(|&u| now_s < u) {
                return (
                    desired,
                    format!("{head}: scale-in cooldown until {until:.0} s"),
                );
            }
            // Proportional with conservative rounding: ceil keeps the larger count.
            let want = c.clamp(ceil_tasks(f64::from(desired) * m / t));
            if want < desired {
                self.scale_in_cooldown_until_s = Some(now_s + p.scale_in_cooldown_s);
                return (
                    want,
                    format!("{head} → ceil({desired}·{m:.2}/{t:.3})={want}"),
                );
            }
            return (
                desired,
                format!("{head}: proportional count {want} not below {desired}"),
            );
        }

        let newest = self
            .series
            .backlog_per_task(latest)
            .map_or_else(|| "none".to_string(), |m| format!("{m:.2}"));
        (
            desired,
            format!("target-tracking: no alarm (newest backlog per task {newest}, T={t:.3})"),
        )
    }
}

impl Policy for TargetTracking {
    fn name(&self) -> &str {
        "target-tracking"
    }

    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
        // CloudWatch stores the metrics whatever our reads do; record what was observed.
        self.series.record(
            now_s,
            obs.queue.map(|q| q.visible),
            obs.service.map(|s| s.running),
        );
        let wake_s = next_evaluation(now_s, self.params.metric_delay_s);
        if !due(self.next_eval_s, now_s) {
            return hold("target-tracking: between alarm evaluations", now_s, wake_s);
        }
        self.next_eval_s = Some(wake_s);
        let (Some(service), Some(_)) = (obs.service, obs.queue) else {
            return hold(
                "target-tracking: queue or service read missing → hold",
                now_s,
                wake_s,
            );
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
        crate::baselines::testutil::up_to(100)
    }

    fn tt(t: f64) -> TargetTracking {
        TargetTracking::new(TargetTrackingParams::with_target(t), common())
    }

    /// Drive minute by minute from t=0 with a fixed observation; return (time, set) pairs.
    fn drive(
        p: &mut TargetTracking,
        from_s: f64,
        minutes: u32,
        o: &Observation,
    ) -> Vec<(f64, Option<u32>)> {
        (0..minutes)
            .map(|i| {
                let now = from_s + 60.0 * f64::from(i);
                (now, set(&p.decide(o, now)))
            })
            .collect()
    }

    #[test]
    fn for_slo_is_wait_over_service() {
        assert_eq!(
            TargetTrackingParams::for_slo(10.0, 0.1).target_backlog_per_task,
            100.0
        );
        assert_eq!(
            TargetTrackingParams::for_slo(60.0, 300.0).target_backlog_per_task,
            0.2
        );
        assert_eq!(
            TargetTrackingParams::for_slo(60.0, 0.0).target_backlog_per_task,
            1e-6
        );
        let p = TargetTrackingParams::with_target(2.0);
        assert_eq!((p.scale_out_datapoints, p.scale_in_datapoints), (3, 15));
        assert_eq!(
            (
                p.scale_out_cooldown_s,
                p.scale_in_cooldown_s,
                p.metric_delay_s
            ),
            (300.0, 300.0, 60.0)
        );
        assert_eq!(p.scale_in_threshold_ratio, 0.9);
        assert_eq!(tt(1.0).name(), "target-tracking");
    }

    #[test]
    fn acts_on_the_third_late_datapoint_above_target() {
        let mut p = tt(2.0);
        // Backlog per task 10 from t=0. Minutes 0,1,2 are visible at 120, 180, 240.
        let r = drive(&mut p, 0.0, 5, &obs(10, 0, 1, 1, 0));
        assert_eq!(
            r[..4].iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![None; 4]
        );
        assert_eq!(r[4], (240.0, Some(5)), "ceil(1·10/2)=5 at 240 s");
    }

    #[test]
    fn a_dip_resets_the_three_of_three() {
        let mut p = tt(2.0);
        p.decide(&obs(10, 0, 1, 1, 0), 0.0);
        p.decide(&obs(1, 0, 1, 1, 0), 60.0); // minute 1 below target
        for t in [120.0, 180.0, 240.0, 300.0] {
            assert_eq!(set(&p.decide(&obs(10, 0, 1, 1, 0), t)), None, "t={t}");
        }
        // Minutes 2,3,4 above → visible at 360.
        assert_eq!(set(&p.decide(&obs(10, 0, 1, 1, 0), 360.0)), Some(5));
    }

    #[test]
    fn scale_out_cooldown_counts_added_capacity() {
        let mut p = tt(2.0);
        drive(&mut p, 0.0, 5, &obs(10, 0, 1, 1, 0)); // → 5 at 240 (base 1, cooldown to 540)
        // Tasks still booting: desired 5, running 1, same backlog → 1·10/2 = 5: no stacking.
        assert_eq!(set(&p.decide(&obs(10, 0, 5, 1, 0), 300.0)), None);
        // Backlog doubles from minute 6 (visible at 480), still in the cooldown: sized from
        // the pre-cooldown capacity 1 → 10, adding only the increment beyond 5.
        let mut last = None;
        for t in [360.0, 420.0, 480.0] {
            last = set(&p.decide(&obs(20, 0, 5, 1, 0), t));
        }
        assert_eq!(last, Some(10));
        // After the cooldown the current capacity is the base again; with the lagging metric
        // still at 20 per running task that stacks (10·20/2 = 100, capped by max): AAS's known
        // overshoot on slow-starting tasks, which is why its cooldown exists.
        assert_eq!(set(&p.decide(&obs(20, 0, 10, 10, 0), 540.0)), Some(100));
    }

    #[test]
    fn fifteen_of_fifteen_scale_in_then_cooldown() {
        let mut p = tt(2.0);
        // Backlog per task 0.5 < 0.9·2 with desired 4: minutes 0..14 visible at 960.
        let o = obs(2, 0, 4, 4, 0);
        let r = drive(&mut p, 0.0, 17, &o);
        assert!(r[..16].iter().all(|x| x.1.is_none()), "{r:?}");
        assert_eq!(r[16], (960.0, Some(1)), "ceil(4·0.5/2)=1");
        // The world keeps 4 (say an operator reset it): blocked by the 300 s scale-in cooldown.
        for t in [1020.0, 1080.0, 1140.0, 1200.0] {
            let d = p.decide(&o, t);
            assert_eq!(set(&d), None, "t={t}");
            assert!(d.why.text.contains("cooldown"), "{}", d.why.text);
        }
        assert_eq!(set(&p.decide(&o, 1260.0)), Some(1));
    }

    #[test]
    fn scale_out_interrupts_a_scale_in_cooldown() {
        let params = TargetTrackingParams {
            scale_in_cooldown_s: 900.0,
            ..TargetTrackingParams::with_target(2.0)
        };
        let mut p = TargetTracking::new(params, common());
        let r = drive(&mut p, 0.0, 17, &obs(2, 0, 4, 4, 0));
        assert_eq!(r[16], (960.0, Some(1)));
        // Hot from minute 17: three datapoints visible at 1260, inside the scale-in cooldown.
        let hot = obs(40, 0, 4, 4, 0);
        for t in [1020.0, 1080.0, 1140.0, 1200.0] {
            assert_eq!(set(&p.decide(&hot, t)), None, "t={t}");
        }
        assert_eq!(set(&p.decide(&hot, 1260.0)), Some(20), "ceil(4·10/2)=20");
        assert_eq!(p.scale_in_cooldown_until_s, None);
    }

    #[test]
    fn no_action_without_running_tasks_except_zero_to_one() {
        let mut p = tt(2.0);
        // Desired 2, none running yet: metric undefined however large the queue.
        let r = drive(&mut p, 0.0, 20, &obs(500, 0, 2, 0, 0));
        assert!(r.iter().all(|x| x.1.is_none()));
        // Desired 0: the paired step rule sets 1 once a visible datapoint ≥ 1 arrives.
        let mut p = tt(2.0);
        let r = drive(&mut p, 0.0, 3, &obs(3, 0, 0, 0, 0));
        assert_eq!(r, vec![(0.0, None), (60.0, None), (120.0, Some(1))]);
        let mut p = tt(2.0);
        assert!(
            drive(&mut p, 0.0, 5, &obs(0, 0, 0, 0, 0))
                .iter()
                .all(|x| x.1.is_none())
        );
    }

    #[test]
    fn missing_reads_hold_and_missing_minutes_block_alarms() {
        let mut p = tt(2.0);
        let mut o = obs(10, 0, 1, 1, 0);
        o.service = None;
        assert!(p.decide(&o, 0.0).actions.is_empty());
        // Minute 0 lacks a running sample, so 3-of-3 first holds for minutes 1..3 (at 300).
        let r = drive(&mut p, 60.0, 5, &obs(10, 0, 1, 1, 0));
        assert_eq!(r.iter().position(|x| x.1.is_some()), Some(4));
    }

    proptest! {
        #[test]
        fn prop_bounds(steps in run_strategy(), min in 0u32..4, extra in 0u32..30, t in 0.1f64..20.0) {
            let c = BaselineCommon { min_tasks: min, max_tasks: min + extra, jobs_per_task: 1 };
            let mut p = TargetTracking::new(TargetTrackingParams::with_target(t), c);
            check_bounds(&mut p, &steps, c.min_tasks, c.max_tasks)?;
        }

        #[test]
        fn prop_all_none_no_action(dts in prop::collection::vec(0.0f64..100.0, 1..50)) {
            check_all_none(&mut tt(1.0), &dts)?;
        }
    }
}
