//! Peer baseline policies that preheat is measured against, each implemented from its documented
//! rules with its documented defaults (docs/peers.md gives each rule with its public sources;
//! each file cites its own).
//!
//! This module holds what the baselines share: the bounds every policy honours
//! ([`BaselineCommon`]), the CLI names ([`PolicyName`]), how a decision is turned into at most one
//! `SetDesired`, the fixed-cadence timer grid, and the 1-minute CloudWatch datapoint builder used by
//! the two Application Auto Scaling policies. It leaves the simulator, the reconcile loop and
//! preheat's own policy to other modules.
//!
//! Conventions shared by every baseline:
//! - A baseline holds (no actions) when a field its rule reads is `None`, and always when
//!   `obs.service` is `None`: without the current desired count it cannot tell whether a write
//!   is needed, and a blind write could scale in. This also makes an all-`None` observation a
//!   no-op for every policy.
//! - `SetDesired` is emitted only when the target differs from `obs.service.desired`.
//! - Every target lies in `[min_tasks, max_tasks]` of [`BaselineCommon`] (the scalable target's /
//!   HPA's bounds); a policy's own bounds can only narrow them.
//! - `Decision.why` always carries `ReasonCode::Baseline` and names the rule that fired.

pub mod keda;
pub mod keep_alive;
pub mod oracle;
pub mod static_n;
pub mod step;
pub mod target_tracking;

pub use keda::{Keda, KedaParams};
pub use keep_alive::{KeepAlive, KeepAliveParams};
pub use oracle::{ConcurrencyProfile, Oracle, OracleParams};
pub use static_n::{StaticN, StaticParams};
pub use step::{Step, StepParams};
pub use target_tracking::{TargetTracking, TargetTrackingParams};

use crate::core::model::{Action, Decision, Observation, Reason, ReasonCode};
use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

/// Bounds and worker shape every baseline shares (the service's min/max and how many jobs one
/// task serves at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineCommon {
    pub min_tasks: u32,
    pub max_tasks: u32,
    pub jobs_per_task: u32,
}

impl BaselineCommon {
    /// `tasks` clamped to `[min_tasks, max_tasks]`. If the bounds are inverted (invalid config,
    /// rejected by validation elsewhere) the maximum wins: never launch beyond it.
    pub fn clamp(&self, tasks: u32) -> u32 {
        tasks.max(self.min_tasks).min(self.max_tasks)
    }

    /// Jobs per task, at least 1 (a zero would divide by zero).
    pub fn jobs_per_task(&self) -> u32 {
        self.jobs_per_task.max(1)
    }

    /// The lower bound, never above the upper one.
    pub fn lo(&self) -> u32 {
        self.min_tasks.min(self.max_tasks)
    }
}

/// The CLI names of every policy the simulator and `run` can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyName {
    Preheat,
    Keda,
    TargetTracking,
    Step,
    KeepAlive,
    Static,
    Oracle,
}

impl PolicyName {
    pub const ALL: [PolicyName; 7] = [
        PolicyName::Preheat,
        PolicyName::Keda,
        PolicyName::TargetTracking,
        PolicyName::Step,
        PolicyName::KeepAlive,
        PolicyName::Static,
        PolicyName::Oracle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Preheat => "preheat",
            PolicyName::Keda => "keda",
            PolicyName::TargetTracking => "target-tracking",
            PolicyName::Step => "step",
            PolicyName::KeepAlive => "keep-alive",
            PolicyName::Static => "static",
            PolicyName::Oracle => "oracle",
        }
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy name that is not one of [`PolicyName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy `{given}`; choose one of: {}", choices())]
pub struct UnknownPolicyName {
    pub given: String,
}

fn choices() -> String {
    PolicyName::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for PolicyName {
    type Err = UnknownPolicyName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPolicyName {
                given: s.to_string(),
            })
    }
}

/// A baseline's reason: always `ReasonCode::Baseline`.
pub(crate) fn reason(text: impl Into<String>) -> Reason {
    Reason::new(ReasonCode::Baseline, text)
}

/// `wake_at_s` if it lies after `now_s`, else one second later (the loop needs progress).
pub(crate) fn after(now_s: f64, wake_at_s: f64) -> f64 {
    if wake_at_s > now_s {
        wake_at_s
    } else {
        now_s + 1.0
    }
}

/// A decision that does nothing this tick.
pub(crate) fn hold(text: impl Into<String>, now_s: f64, wake_at_s: f64) -> Decision {
    Decision {
        actions: Vec::new(),
        why: reason(text),
        wake_at_s: after(now_s, wake_at_s),
        unreachable: None,
        idle_pool: None,
    }
}

/// A decision towards `target`: one `SetDesired` when it differs from the observed desired
/// count, none when it matches or the service read is missing.
pub(crate) fn set_to(
    obs: &Observation,
    target: u32,
    text: String,
    now_s: f64,
    wake_at_s: f64,
) -> Decision {
    let actions = match obs.service {
        Some(service) if service.desired != target => vec![Action::SetDesired {
            desired: target,
            reason: reason(text.clone()),
        }],
        _ => Vec::new(),
    };
    Decision {
        actions,
        why: reason(text),
        wake_at_s: after(now_s, wake_at_s),
        unreachable: None,
        idle_pool: None,
    }
}

/// Guard for a configured period: at least 1 ms, and finite, so timers always advance.
pub(crate) fn period(interval_s: f64) -> f64 {
    if interval_s.is_finite() && interval_s >= 1e-3 {
        interval_s
    } else {
        1e-3
    }
}

/// The next firing of a fixed-period loop that last fired (was due) at `prev_s`: the first grid
/// point `prev_s + k·interval_s` strictly after `now_s`. A loop that has never fired fires at
/// `now_s` and is next due one interval later. Keeping the grid (rather than `now + interval`)
/// keeps the cadence of the real controller even if the driver calls late.
pub(crate) fn next_on_grid(prev_s: Option<f64>, now_s: f64, interval_s: f64) -> f64 {
    let interval_s = period(interval_s);
    match prev_s {
        Some(prev) if prev.is_finite() && prev <= now_s => {
            let k = ((now_s - prev) / interval_s).floor() + 1.0;
            let next = prev + k * interval_s;
            if next > now_s {
                next
            } else {
                next + interval_s
            }
        }
        _ => now_s + interval_s,
    }
}

/// Whether a loop whose next firing is `next_s` is due at `now_s` (never fired → due).
pub(crate) fn due(next_s: Option<f64>, now_s: f64) -> bool {
    next_s.is_none_or(|t| now_s >= t)
}

/// `ceil(x)` as a task count: negative or NaN → 0, huge → `u32::MAX`. A relative 1e-9 is taken
/// off first so that float noise (5.000000001) does not add a whole task.
pub(crate) fn ceil_tasks(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    (x - x.abs() * 1e-9).ceil() as u32
}

/// CloudWatch's standard resolution: one datapoint per 60 s period.
pub(crate) const CW_PERIOD_S: f64 = 60.0;

/// How many minutes of datapoints to retain (the longest alarm looks back 15).
const CW_RETAIN_MINUTES: i64 = 120;

/// Builds CloudWatch 1-minute datapoints from the samples a policy observes: per minute the mean
/// of the SQS `ApproximateNumberOfMessagesVisible` samples and the mean of the ECS running-count
/// samples, kept separately because CloudWatch stores them as separate metrics and metric math
/// divides the per-period statistics (`application-auto-scaling-target-tracking-metric-math`).
/// A datapoint for minute `m` (covering `[60m, 60m+60)`) becomes visible to alarms at
/// `60(m+1) + delay_s`: the minute must close, then the metric arrives `delay_s` late.
#[derive(Debug, Clone, Default)]
pub(crate) struct MinuteSeries {
    points: VecDeque<MinuteAgg>,
}

#[derive(Debug, Clone, Copy)]
struct MinuteAgg {
    minute: i64,
    visible_sum: f64,
    visible_n: u32,
    visible_max: f64,
    running_sum: f64,
    running_n: u32,
}

impl MinuteSeries {
    pub(crate) fn minute_of(t_s: f64) -> i64 {
        (t_s / CW_PERIOD_S).floor() as i64
    }

    /// Add one sample taken at `now_s`. Samples older than the newest minute are dropped
    /// (time never runs backwards in the loop).
    pub(crate) fn record(&mut self, now_s: f64, visible: Option<u64>, running: Option<u32>) {
        if visible.is_none() && running.is_none() {
            return;
        }
        let minute = Self::minute_of(now_s);
        let needs_new = match self.points.back() {
            Some(last) if last.minute > minute => return,
            Some(last) => last.minute < minute,
            None => true,
        };
        if needs_new {
            self.points.push_back(MinuteAgg {
                minute,
                visible_sum: 0.0,
                visible_n: 0,
                visible_max: 0.0,
                running_sum: 0.0,
                running_n: 0,
            });
        }
        if let Some(last) = self.points.back_mut() {
            if let Some(v) = visible {
                last.visible_sum += v as f64;
                last.visible_n += 1;
                last.visible_max = last.visible_max.max(v as f64);
            }
            if let Some(r) = running {
                last.running_sum += f64::from(r);
                last.running_n += 1;
            }
        }
        while self
            .points
            .front()
            .is_some_and(|p| p.minute < minute - CW_RETAIN_MINUTES)
        {
            self.points.pop_front();
        }
    }

    /// The newest minute whose datapoint is visible at `now_s` with a `delay_s` lag.
    pub(crate) fn latest_visible_minute(now_s: f64, delay_s: f64) -> i64 {
        Self::minute_of(now_s - delay_s.max(0.0)) - 1
    }

    fn get(&self, minute: i64) -> Option<&MinuteAgg> {
        // Few points and mostly queried at the back: a reverse scan is fine.
        self.points.iter().rev().find(|p| p.minute == minute)
    }

    /// Mean visible messages over minute `minute`, `None` if no sample fell in it.
    pub(crate) fn visible_mean(&self, minute: i64) -> Option<f64> {
        self.get(minute)
            .filter(|p| p.visible_n > 0)
            .map(|p| p.visible_sum / f64::from(p.visible_n))
    }

    /// `Maximum` of visible messages over the `minutes` ending at `latest` (the statistic and
    /// period CDK's `metricApproximateNumberOfMessagesVisible()` uses by default: Maximum over
    /// 5 minutes), from the minutes that have samples; `None` if none has.
    pub(crate) fn visible_max(&self, latest: i64, minutes: u32) -> Option<f64> {
        let from = latest - i64::from(minutes.max(1)) + 1;
        self.points
            .iter()
            .filter(|p| p.minute >= from && p.minute <= latest && p.visible_n > 0)
            .map(|p| p.visible_max)
            .reduce(f64::max)
    }

    /// Backlog per running task over minute `minute`: mean visible / mean running. `None` when
    /// either is missing or no task ran (metric math yields no value on a division by zero).
    pub(crate) fn backlog_per_task(&self, minute: i64) -> Option<f64> {
        let p = self.get(minute)?;
        if p.visible_n == 0 || p.running_n == 0 {
            return None;
        }
        let running = p.running_sum / f64::from(p.running_n);
        if running <= 0.0 {
            return None;
        }
        Some((p.visible_sum / f64::from(p.visible_n)) / running)
    }

    /// The `n` datapoints ending at `latest` (oldest first), or `None` if any is missing:
    /// an "n out of n" alarm needs all of them.
    pub(crate) fn window(
        &self,
        latest: i64,
        n: u32,
        f: impl Fn(&Self, i64) -> Option<f64>,
    ) -> Option<Vec<f64>> {
        if n == 0 {
            return None;
        }
        (0..i64::from(n))
            .rev()
            .map(|back| f(self, latest - back))
            .collect()
    }
}

/// The next alarm evaluation: CloudWatch evaluates once per period; the grid is offset by the
/// metric delay so an evaluation happens exactly when a new datapoint becomes visible.
pub(crate) fn next_evaluation(now_s: f64, delay_s: f64) -> f64 {
    let offset = delay_s.max(0.0).rem_euclid(CW_PERIOD_S);
    let k = ((now_s - offset) / CW_PERIOD_S).floor() + 1.0;
    let next = k * CW_PERIOD_S + offset;
    if next > now_s {
        next
    } else {
        next + CW_PERIOD_S
    }
}

/// Formats a list of datapoints compactly for reasons.
pub(crate) fn fmt_points(points: &[f64]) -> String {
    let parts: Vec<String> = points.iter().map(|p| format!("{p:.2}")).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Observation builders and the bounds property shared by the policy tests.
    use crate::core::model::{
        Action, Observation, Policy, QueueDepth, ServiceCounts, TaskInfo, TaskPhase,
    };
    use proptest::prelude::*;

    pub fn obs(
        visible: u64,
        in_flight: u64,
        desired: u32,
        running: u32,
        pending: u32,
    ) -> Observation {
        Observation {
            queue: Some(QueueDepth {
                visible,
                in_flight,
                delayed: 0,
            }),
            service: Some(ServiceCounts {
                desired,
                running,
                pending,
            }),
            ..Observation::default()
        }
    }

    /// Bounds `[0, max_tasks]`, one job per task.
    pub fn up_to(max_tasks: u32) -> super::BaselineCommon {
        super::BaselineCommon {
            min_tasks: 0,
            max_tasks,
            jobs_per_task: 1,
        }
    }

    /// The desired count a decision sets, if any.
    pub fn set(d: &crate::core::model::Decision) -> Option<u32> {
        d.actions.iter().find_map(|a| match a {
            Action::SetDesired { desired, .. } => Some(*desired),
            Action::SetScaleInAfter { .. } => None,
        })
    }

    fn task_strategy() -> impl Strategy<Value = TaskInfo> {
        (
            0u64..1000,
            0u8..4,
            prop::option::of(any::<bool>()),
            prop::option::of(-1000.0f64..5000.0),
        )
            .prop_map(|(id, phase, busy, idle_since_s)| TaskInfo {
                id,
                phase: match phase {
                    0 => TaskPhase::Provisioning,
                    1 => TaskPhase::Pending,
                    2 => TaskPhase::Running,
                    _ => TaskPhase::Stopping,
                },
                created_at_s: 0.0,
                started_at_s: None,
                cold: None,
                busy,
                idle_since_s,
            })
    }

    pub fn obs_strategy() -> impl Strategy<Value = Observation> {
        (
            prop::option::of((0u64..300, 0u64..60, 0u64..20)),
            prop::option::of((0u32..150, 0u32..150, 0u32..20)),
            prop::option::of(prop::collection::vec(task_strategy(), 0..12)),
        )
            .prop_map(|(q, s, tasks)| Observation {
                queue: q.map(|(visible, in_flight, delayed)| QueueDepth {
                    visible,
                    in_flight,
                    delayed,
                }),
                service: s.map(|(desired, running, pending)| ServiceCounts {
                    desired,
                    running,
                    pending,
                }),
                tasks,
                ..Observation::default()
            })
    }

    /// Steps of (time advance, observation).
    pub fn run_strategy() -> impl Strategy<Value = Vec<(f64, Observation)>> {
        prop::collection::vec((0.0f64..200.0, obs_strategy()), 1..80)
    }

    /// Drive `policy` through `steps`; every target must lie in `[lo, hi]` and every wake-up
    /// must lie after `now`.
    pub fn check_bounds(
        policy: &mut dyn Policy,
        steps: &[(f64, Observation)],
        lo: u32,
        hi: u32,
    ) -> Result<(), TestCaseError> {
        let mut now = 1_000.0;
        for (dt, o) in steps {
            now += dt;
            let d = policy.decide(o, now);
            prop_assert!(
                d.wake_at_s > now,
                "wake {} not after now {}",
                d.wake_at_s,
                now
            );
            prop_assert!(!d.why.text.is_empty());
            for a in &d.actions {
                if let Action::SetDesired { desired, .. } = a {
                    prop_assert!(
                        (lo..=hi).contains(desired),
                        "desired {} outside [{}, {}]",
                        desired,
                        lo,
                        hi
                    );
                    prop_assert!(o.service.is_some_and(|s| s.desired != *desired));
                }
            }
        }
        Ok(())
    }

    /// All-`None` observations at any cadence produce no action.
    pub fn check_all_none(policy: &mut dyn Policy, dts: &[f64]) -> Result<(), TestCaseError> {
        let mut now = 0.0;
        for dt in dts {
            now += dt;
            let d = policy.decide(&Observation::default(), now);
            prop_assert!(d.actions.is_empty());
            prop_assert!(d.wake_at_s > now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip_and_errors_list_choices() {
        for p in PolicyName::ALL {
            assert_eq!(p.to_string().parse::<PolicyName>(), Ok(p));
        }
        assert_eq!(
            "target-tracking".parse::<PolicyName>(),
            Ok(PolicyName::TargetTracking)
        );
        let err = "hpa".parse::<PolicyName>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown policy `hpa`; choose one of: preheat, keda, target-tracking, step, keep-alive, static, oracle"
        );
    }

    #[test]
    fn clamp_and_grid() {
        let c = BaselineCommon {
            min_tasks: 1,
            max_tasks: 4,
            jobs_per_task: 0,
        };
        assert_eq!((c.clamp(0), c.clamp(9), c.jobs_per_task()), (1, 4, 1));
        assert_eq!(next_on_grid(None, 10.0, 30.0), 40.0);
        assert_eq!(next_on_grid(Some(40.0), 40.0, 30.0), 70.0);
        assert_eq!(next_on_grid(Some(40.0), 101.0, 30.0), 130.0);
        assert_eq!(next_evaluation(0.0, 60.0), 60.0);
        assert_eq!(next_evaluation(59.0, 90.0), 90.0);
        assert_eq!(ceil_tasks(5.000_000_000_1), 5);
        assert_eq!(ceil_tasks(5.01), 6);
        assert_eq!(ceil_tasks(-3.0), 0);
    }

    #[test]
    fn minute_series_means_and_delay() {
        let mut s = MinuteSeries::default();
        s.record(0.0, Some(10), Some(2));
        s.record(30.0, Some(20), Some(2));
        s.record(60.0, Some(4), Some(0));
        assert_eq!(s.visible_mean(0), Some(15.0));
        assert_eq!(s.backlog_per_task(0), Some(7.5));
        assert_eq!(s.backlog_per_task(1), None, "no running task: undefined");
        assert_eq!(s.visible_mean(1), Some(4.0));
        // Minute 0 closes at 60 and arrives 60 s later.
        assert_eq!(MinuteSeries::latest_visible_minute(119.0, 60.0), -1);
        assert_eq!(MinuteSeries::latest_visible_minute(120.0, 60.0), 0);
        assert_eq!(
            s.window(1, 2, MinuteSeries::visible_mean),
            Some(vec![15.0, 4.0])
        );
        assert_eq!(s.window(1, 3, MinuteSeries::visible_mean), None);
    }
}
