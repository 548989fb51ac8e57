//! KEDA's `aws-sqs-queue` scaler driving a Kubernetes HPA, as a peer baseline: KEDA's operator
//! loop owns 0↔1 every `pollingInterval`, the HPA owns 1↔N every 15 s with its tolerance,
//! scale-up rate policies and 300 s scale-down stabilization.
//!
//! Sources (docs/peers.md, "keda"): kedacore/keda `pkg/scalers/aws_sqs_queue_scaler.go` (metric
//! L = visible [+ in flight] [+ delayed]; active iff L > activationQueueLength),
//! `pkg/scaling/executor/scale_scaledobjects.go` (`RequestScale`: 0→max(min,1) when active at 0;
//! →0 when inactive, min = 0 and `lastActiveTime + cooldownPeriod` has passed or was never set;
//! →min when inactive and below min; `lastActiveTime` = now while active),
//! keda.sh/docs/latest/reference/scaledobject-spec (defaults), kubernetes/kubernetes
//! `pkg/controller/podautoscaler/replica_calculator.go` (`GetExternalPerPodMetricReplicas`) and
//! `horizontal.go` (`stabilizeRecommendationWithBehaviors`,
//! `calculateScaleUpLimitWithScalingRules`, `calculateScaleDownLimitWithBehaviors`), and the
//! HPAScalingRules API defaults.
//!
//! Mapping to ECS: the HPA's `spec.replicas` is `obs.service.desired`; its `status.replicas` (pods
//! that exist) is `running + pending`. Leaves to others: fallback replicas, `idleReplicaCount`,
//! `scalingModifiers`, ScaledJob, and any choice of which task ECS stops (KEDA has none).

use super::{BaselineCommon, due, hold, next_on_grid, period, set_to};
use crate::core::model::{Decision, Observation, Policy, QueueDepth};
use std::collections::VecDeque;

/// ScaledObject + HPA settings; `Default` is KEDA's and the HPA's documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct KedaParams {
    /// `queueLength`: target messages per replica (HPA AverageValue target `T`).
    pub queue_length: u32,
    /// `activationQueueLength`: the scaler is active when L is strictly greater.
    pub activation_queue_length: u64,
    /// `scaleOnInFlight`: count `ApproximateNumberOfMessagesNotVisible` in L.
    pub scale_on_in_flight: bool,
    /// `scaleOnDelayed`: count `ApproximateNumberOfMessagesDelayed` in L.
    pub scale_on_delayed: bool,
    /// `pollingInterval`: KEDA's own loop (activation and scale-to-zero).
    pub polling_interval_s: f64,
    /// `cooldownPeriod`: time after the last active poll before scaling to zero.
    pub cooldown_period_s: f64,
    /// `minReplicaCount`.
    pub min_replica_count: u32,
    /// `maxReplicaCount` (also clamped by `BaselineCommon::max_tasks`).
    pub max_replica_count: u32,
    /// HPA `--horizontal-pod-autoscaler-sync-period`.
    pub hpa_sync_s: f64,
    /// HPA `--horizontal-pod-autoscaler-tolerance`.
    pub tolerance: f64,
    /// `behavior.scaleUp.stabilizationWindowSeconds`.
    pub scale_up_stabilization_s: f64,
    /// `behavior.scaleDown.stabilizationWindowSeconds`.
    pub scale_down_stabilization_s: f64,
    /// Scale-up policy `Percent` value (per `scale_up_period_s`).
    pub scale_up_percent: u32,
    /// Scale-up policy `Pods` value (per `scale_up_period_s`).
    pub scale_up_pods: u32,
    /// `periodSeconds` of both scale-up policies (selectPolicy Max).
    pub scale_up_period_s: f64,
    /// Scale-down policy `Percent` value (per `scale_down_period_s`).
    pub scale_down_percent: u32,
    pub scale_down_period_s: f64,
}

impl Default for KedaParams {
    fn default() -> Self {
        KedaParams {
            queue_length: 5,
            activation_queue_length: 0,
            scale_on_in_flight: true,
            scale_on_delayed: false,
            polling_interval_s: 30.0,
            cooldown_period_s: 300.0,
            min_replica_count: 0,
            max_replica_count: 100,
            hpa_sync_s: 15.0,
            tolerance: 0.1,
            scale_up_stabilization_s: 0.0,
            scale_down_stabilization_s: 300.0,
            scale_up_percent: 100,
            scale_up_pods: 4,
            scale_up_period_s: 15.0,
            scale_down_percent: 100,
            scale_down_period_s: 15.0,
        }
    }
}

/// One replica change the HPA made (k8s keeps these to rate-limit by period).
#[derive(Debug, Clone, Copy)]
struct ScaleEvent {
    at_s: f64,
    added: u32,
    removed: u32,
}

/// KEDA + HPA with the state the two controllers keep.
#[derive(Debug, Clone)]
pub struct Keda {
    params: KedaParams,
    common: BaselineCommon,
    next_poll_s: Option<f64>,
    next_sync_s: Option<f64>,
    /// `ScaledObject.status.lastActiveTime`.
    last_active_s: Option<f64>,
    /// The HPA's unstabilized recommendations `(time, replicas)`.
    recommendations: VecDeque<(f64, u32)>,
    events: VecDeque<ScaleEvent>,
}

impl Keda {
    pub fn new(params: KedaParams, common: BaselineCommon) -> Self {
        Keda {
            params,
            common,
            next_poll_s: None,
            next_sync_s: None,
            last_active_s: None,
            recommendations: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn params(&self) -> &KedaParams {
        &self.params
    }

    /// Effective `[min, max]`: KEDA's own bounds narrowed by the common ones; the common bounds
    /// win where they conflict, so every target stays inside `[min_tasks, max_tasks]`.
    fn bounds(&self) -> (u32, u32) {
        let c = &self.common;
        let hi = self.params.max_replica_count.min(c.max_tasks).max(c.lo());
        let lo = self.params.min_replica_count.max(c.min_tasks).min(hi);
        (lo, hi)
    }

    /// The scaler's metric L and how it was summed.
    fn metric(&self, q: &QueueDepth) -> (u64, String) {
        let mut l = q.visible;
        let mut parts = vec![format!("visible {}", q.visible)];
        if self.params.scale_on_in_flight {
            l += q.in_flight;
            parts.push(format!("in-flight {}", q.in_flight));
        }
        if self.params.scale_on_delayed {
            l += q.delayed;
            parts.push(format!("delayed {}", q.delayed));
        }
        (l, parts.join(" + "))
    }

    /// KEDA's operator loop (`RequestScale`), one poll. Returns the new `spec.replicas`.
    fn poll(&mut self, l: u64, current: u32, now_s: f64, notes: &mut Vec<String>) -> u32 {
        let (lo, hi) = self.bounds();
        let act = self.params.activation_queue_length;
        let active = l > act;
        if active && current == 0 {
            // scaleFromZero: minReplicaCount if > 0, else 1; also records lastActiveTime.
            self.last_active_s = Some(now_s);
            let to = lo.max(1).min(hi);
            notes.push(format!(
                "keda poll: L={l} > activation {act} at 0 replicas → {to}"
            ));
            return to;
        }
        if !active && current > 0 && lo == 0 {
            let cooldown_s = self.params.cooldown_period_s;
            return match self.last_active_s {
                // "LastActiveTime can be nil if the ScaleTarget was scaled outside of KEDA. In
                // this case we will ignore the cooldown period" (scale_scaledobjects.go).
                None => {
                    notes.push(format!(
                        "keda poll: L={l} ≤ activation {act}, never active → 0"
                    ));
                    0
                }
                // `lastActiveTime.Add(cooldown).Before(now)`: strictly after the cooldown.
                Some(t) if t + cooldown_s < now_s => {
                    notes.push(format!(
                        "keda poll: L={l} ≤ activation {act} for {:.0} s > cooldown {cooldown_s:.0} s → 0",
                        now_s - t
                    ));
                    0
                }
                Some(t) => {
                    notes.push(format!(
                        "keda poll: inactive, cooling down until {:.0} s",
                        t + cooldown_s
                    ));
                    current
                }
            };
        }
        if !active && current < lo {
            notes.push(format!("keda poll: inactive below minReplicaCount → {lo}"));
            return lo;
        }
        if active {
            self.last_active_s = Some(now_s);
            notes.push(format!("keda poll: active (L={l} > {act})"));
        } else {
            notes.push(format!("keda poll: inactive (L={l} ≤ {act})"));
        }
        current
    }

    /// Replicas the HPA added and removed in the period ending now (k8s counts events with
    /// `timestamp.After(now - period)`).
    fn changes_in_period(&self, now_s: f64, period_s: f64) -> (i64, i64) {
        let cutoff = now_s - period_s;
        self.events
            .iter()
            .filter(|e| e.at_s > cutoff)
            .fold((0, 0), |(a, r), e| {
                (a + i64::from(e.added), r + i64::from(e.removed))
            })
    }

    /// One HPA sync (`reconcileAutoscaler` with default behaviors). Returns the new replicas.
    fn hpa_sync(
        &mut self,
        l: u64,
        how: &str,
        current: u32,
        status: u32,
        now_s: f64,
        notes: &mut Vec<String>,
    ) -> u32 {
        let (lo, hi) = self.bounds();
        // KEDA creates the HPA with minReplicas = max(minReplicaCount, 1).
        let min_h = lo.max(1).min(hi.max(1));
        let max_h = hi;
        if current == 0 {
            notes.push("hpa: scaling disabled at 0 replicas (KEDA owns 0→1)".into());
            return 0;
        }
        if current > max_h {
            notes.push(format!("hpa: {current} above maxReplicas → {max_h}"));
            return self.record(current, max_h, now_s);
        }
        if current < min_h {
            notes.push(format!("hpa: {current} below minReplicas → {min_h}"));
            return self.record(current, min_h, now_s);
        }
        let t = self.params.queue_length.max(1);
        let t_f = f64::from(t);
        // GetExternalPerPodMetricReplicas: ratio against the pods that exist. With no pods the
        // ratio is +Inf (L > 0: rescale) or NaN (L = 0: |1 - NaN| > tol is false: keep), as in Go.
        let ratio = l as f64 / (t_f * f64::from(status));
        let raw = u32::try_from(l.div_ceil(u64::from(t))).unwrap_or(u32::MAX);
        let (rec, rec_text) = if (1.0 - ratio).abs() > self.params.tolerance {
            (raw, format!("ceil({l}/{t})={raw}"))
        } else {
            // k8s returns status.replicas here. Pods are created at once in k8s so status
            // equals spec; ECS may lag creating tasks, so "keep" is read as the current spec
            // (favours the baseline: no spurious down-recommendation from that lag).
            (
                current,
                format!(
                    "|{ratio:.2}−1| ≤ tolerance {} → keep {current}",
                    self.params.tolerance
                ),
            )
        };

        // stabilizeRecommendationWithBehaviors: up = min over the up window, down = max over
        // the down window (both including this recommendation).
        let up_cut = now_s - self.params.scale_up_stabilization_s.max(0.0);
        let down_cut = now_s - self.params.scale_down_stabilization_s.max(0.0);
        let keep_from = up_cut.min(down_cut);
        while self
            .recommendations
            .front()
            .is_some_and(|&(at, _)| at <= keep_from)
        {
            self.recommendations.pop_front();
        }
        let mut up_rec = rec;
        let mut down_rec = rec;
        for &(at, r) in &self.recommendations {
            if at > up_cut {
                up_rec = up_rec.min(r);
            }
            if at > down_cut {
                down_rec = down_rec.max(r);
            }
        }
        self.recommendations.push_back((now_s, rec));
        let mut stabilized = current;
        if stabilized < up_rec {
            stabilized = up_rec;
        }
        if stabilized > down_rec {
            stabilized = down_rec;
        }
        let stab_text = if stabilized > rec {
            format!(
                ", scale-down stabilization holds max of last {:.0} s = {stabilized}",
                self.params.scale_down_stabilization_s
            )
        } else {
            String::new()
        };

        // convertDesiredReplicasWithBehaviorRate.
        let (desired, rate_text) = if stabilized > current {
            let (added, removed) = self.changes_in_period(now_s, self.params.scale_up_period_s);
            let start = (i64::from(current) - added + removed).max(0);
            let pct = (start as f64 * (1.0 + f64::from(self.params.scale_up_percent) / 100.0))
                .ceil() as i64;
            let pods = start + i64::from(self.params.scale_up_pods);
            let limit = pct.max(pods).max(i64::from(current));
            let limit = u32::try_from(limit).unwrap_or(u32::MAX);
            let allowed = max_h.min(limit);
            let d = stabilized.min(allowed).max(min_h);
            let text = if stabilized > allowed {
                format!(
                    ", growth cap max({}·{start},{start}+{})={limit}",
                    1 + self.params.scale_up_percent / 100,
                    self.params.scale_up_pods
                )
            } else {
                String::new()
            };
            (d, text)
        } else if stabilized < current {
            let (added, removed) = self.changes_in_period(now_s, self.params.scale_down_period_s);
            let start = (i64::from(current) - removed + added).max(0);
            // int32(float64(start) * (1 - pct/100)): truncation, as in Go.
            let limit = (start as f64 * (1.0 - f64::from(self.params.scale_down_percent) / 100.0))
                .trunc()
                .max(0.0) as i64;
            let limit = u32::try_from(limit.min(i64::from(current))).unwrap_or(current);
            let allowed = min_h.max(limit);
            let d = stabilized.max(allowed).min(max_h);
            let text = if stabilized < allowed {
                format!(", scale-down rate limit {allowed}")
            } else {
                String::new()
            };
            (d, text)
        } else {
            (stabilized.clamp(min_h, max_h.max(min_h)), String::new())
        };
        notes.push(format!(
            "hpa: L={l} ({how}), T={t}, pods {status} → {rec_text}{stab_text}{rate_text} → {desired}"
        ));
        self.record(current, desired, now_s)
    }

    /// Store an HPA scale event (k8s `storeScaleEvent`) and return the new replicas.
    fn record(&mut self, current: u32, desired: u32, now_s: f64) -> u32 {
        let longest = self
            .params
            .scale_up_period_s
            .max(self.params.scale_down_period_s);
        while self
            .events
            .front()
            .is_some_and(|e| e.at_s <= now_s - longest)
        {
            self.events.pop_front();
        }
        if desired != current {
            self.events.push_back(ScaleEvent {
                at_s: now_s,
                added: desired.saturating_sub(current),
                removed: current.saturating_sub(desired),
            });
        }
        desired
    }
}

impl Policy for Keda {
    fn name(&self) -> &str {
        "keda"
    }

    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
        let poll_due = due(self.next_poll_s, now_s);
        let sync_due = due(self.next_sync_s, now_s);
        if poll_due {
            self.next_poll_s = Some(next_on_grid(
                self.next_poll_s,
                now_s,
                self.params.polling_interval_s,
            ));
        }
        if sync_due {
            self.next_sync_s = Some(next_on_grid(
                self.next_sync_s,
                now_s,
                self.params.hpa_sync_s,
            ));
        }
        let wake_s = match (self.next_poll_s, self.next_sync_s) {
            (Some(p), Some(s)) => p.min(s),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => now_s + period(self.params.hpa_sync_s),
        };
        if !poll_due && !sync_due {
            return hold("keda: no poll or HPA sync due", now_s, wake_s);
        }
        // A failed queue read is a scaler error: without `fallback` KEDA neither activates nor
        // scales to zero, and the HPA skips a sync whose metric failed. A failed service read
        // means the scale subresource could not be read: nothing to act on either.
        let (Some(q), Some(service)) = (obs.queue, obs.service) else {
            return hold(
                "keda: queue or service read missing → scaler error, no scaling (no fallback)",
                now_s,
                wake_s,
            );
        };
        let (l, how) = self.metric(&q);
        let mut notes = Vec::new();
        let mut desired = service.desired;
        // The two loops are unsynchronised; when both are due the HPA is run after KEDA's write
        // (the favourable order: a fresh 0→1 is grown in the same instant).
        if poll_due {
            desired = self.poll(l, desired, now_s, &mut notes);
        }
        if sync_due {
            let status = service.running.saturating_add(service.pending);
            desired = self.hpa_sync(l, &how, desired, status, now_s, &mut notes);
        }
        set_to(
            obs,
            desired,
            format!("keda: {}", notes.join("; ")),
            now_s,
            wake_s,
        )
    }

    /// A KEDA operator restart re-polls at once. `lastActiveTime` lives in the ScaledObject
    /// status and the HPA's history in kube-controller-manager, so both survive it.
    fn restart(&mut self) {
        self.next_poll_s = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testutil::{check_all_none, check_bounds, obs, run_strategy, set};
    use proptest::prelude::*;

    fn common() -> BaselineCommon {
        crate::baselines::testutil::up_to(1000)
    }

    fn keda() -> Keda {
        Keda::new(KedaParams::default(), common())
    }

    #[test]
    fn defaults_match_docs() {
        let p = KedaParams::default();
        assert_eq!((p.queue_length, p.activation_queue_length), (5, 0));
        assert!(p.scale_on_in_flight && !p.scale_on_delayed);
        assert_eq!(
            (p.polling_interval_s, p.cooldown_period_s, p.hpa_sync_s),
            (30.0, 300.0, 15.0)
        );
        assert_eq!((p.min_replica_count, p.max_replica_count), (0, 100));
        assert_eq!((p.tolerance, p.scale_down_stabilization_s), (0.1, 300.0));
        assert_eq!(
            (p.scale_up_percent, p.scale_up_pods, p.scale_up_period_s),
            (100, 4, 15.0)
        );
        assert_eq!(keda().name(), "keda");
    }

    #[test]
    fn activation_only_on_a_poll_and_only_when_l_above_activation() {
        let mut k = keda();
        // t=0: poll + sync, empty queue at 0 replicas: nothing.
        let d = k.decide(&obs(0, 0, 0, 0, 0), 0.0);
        assert_eq!((set(&d), d.wake_at_s), (None, 15.0));
        // t=15: HPA only; it cannot act at 0 replicas even with messages.
        let d = k.decide(&obs(3, 0, 0, 0, 0), 15.0);
        assert_eq!(set(&d), None);
        assert_eq!(d.wake_at_s, 30.0);
        // t=30: KEDA poll sees L=3 > 0 → 1; the HPA, run after it, keeps 1 (ceil(3/5)=1).
        let d = k.decide(&obs(3, 0, 0, 0, 0), 30.0);
        assert_eq!(set(&d), Some(1));
        assert!(d.why.text.contains("0 replicas → 1"), "{}", d.why.text);
    }

    #[test]
    fn activation_threshold_is_strict() {
        let p = KedaParams {
            activation_queue_length: 3,
            ..KedaParams::default()
        };
        let mut k = Keda::new(p, common());
        assert_eq!(set(&k.decide(&obs(3, 0, 0, 0, 0), 0.0)), None);
        assert_eq!(set(&k.decide(&obs(4, 0, 0, 0, 0), 30.0)), Some(1));
    }

    #[test]
    fn growth_cap_1_5_10_20_40() {
        let p = KedaParams {
            queue_length: 1,
            ..KedaParams::default()
        };
        let mut k = Keda::new(p, common());
        let mut r = 1;
        let mut seen = vec![];
        for i in 0..5 {
            let d = k.decide(&obs(40, 0, r, r, 0), 15.0 * f64::from(i));
            if let Some(n) = set(&d) {
                r = n;
                seen.push(n);
            }
        }
        assert_eq!(seen, vec![5, 10, 20, 40]);
    }

    #[test]
    fn why_names_the_rule() {
        let mut k = keda();
        let d = k.decide(&obs(12, 5, 1, 1, 0), 0.0);
        assert_eq!(set(&d), Some(4));
        assert!(
            d.why
                .text
                .contains("L=17 (visible 12 + in-flight 5), T=5, pods 1 → ceil(17/5)=4"),
            "{}",
            d.why.text
        );
        let mut k = keda();
        let d = k.decide(&obs(200, 0, 1, 1, 0), 0.0);
        assert_eq!(set(&d), Some(5));
        assert!(
            d.why.text.contains("growth cap max(2·1,1+4)=5"),
            "{}",
            d.why.text
        );
    }

    #[test]
    fn tolerance_band() {
        let mut k = keda();
        // ratio 21/(5·4) = 1.05 → within 0.1 → keep 4.
        assert_eq!(set(&k.decide(&obs(21, 0, 4, 4, 0), 0.0)), None);
        // ratio 23/20 = 1.15 → ceil(23/5) = 5.
        assert_eq!(set(&k.decide(&obs(23, 0, 4, 4, 0), 15.0)), Some(5));
        // The ratio uses the pods that exist: 5 desired but only 2 exist, L=12 → 1.2 → 3, held
        // at 5 by the down window (5 was recommended 15 s ago).
        let d = k.decide(&obs(12, 0, 5, 2, 0), 30.0);
        assert_eq!(set(&d), None);
    }

    #[test]
    fn scale_down_holds_the_max_of_the_last_300_s() {
        let mut k = keda();
        assert_eq!(set(&k.decide(&obs(50, 0, 10, 10, 0), 0.0)), None); // rec 10 at t=0
        // L drops to 5 (rec 1): held at 10 until the t=0 record leaves the window.
        let mut t = 15.0;
        while t < 300.0 {
            let d = k.decide(&obs(5, 0, 10, 10, 0), t);
            assert_eq!(set(&d), None, "t={t}");
            if t == 15.0 {
                assert!(d.why.text.contains("stabilization"), "{}", d.why.text);
            }
            t += 15.0;
        }
        assert_eq!(set(&k.decide(&obs(5, 0, 10, 10, 0), 300.0)), Some(1));
    }

    #[test]
    fn scale_to_zero_only_after_cooldown_with_l_zero_and_in_flight_counts() {
        let mut k = keda();
        // Active at t=0 with one in-flight message only (visible 0): L=1 keeps it active.
        assert_eq!(set(&k.decide(&obs(0, 1, 1, 1, 0), 0.0)), None);
        let mut t = 15.0;
        let mut zero_at = None;
        while t <= 400.0 {
            let d = k.decide(&obs(0, 0, 1, 1, 0), t);
            if set(&d) == Some(0) {
                zero_at = Some(t);
                break;
            }
            t += 15.0;
        }
        // Last active poll at 0; polls at 30, 60, …; 0 + 300 < now first holds at 330.
        assert_eq!(zero_at, Some(330.0));
    }

    #[test]
    fn without_in_flight_counting_a_busy_worker_is_scaled_to_zero() {
        let p = KedaParams {
            scale_on_in_flight: false,
            ..KedaParams::default()
        };
        let mut k = Keda::new(p, common());
        // Never active (in-flight not counted) and no lastActiveTime → 0 at once.
        let d = k.decide(&obs(0, 1, 1, 1, 0), 0.0);
        assert_eq!(set(&d), Some(0));
    }

    #[test]
    fn min_replica_count_floor_and_max_clamp() {
        let p = KedaParams {
            min_replica_count: 2,
            max_replica_count: 3,
            ..KedaParams::default()
        };
        let mut k = Keda::new(p.clone(), common());
        assert_eq!(set(&k.decide(&obs(0, 0, 0, 0, 0), 0.0)), Some(2));
        let mut k = Keda::new(p, common());
        assert_eq!(set(&k.decide(&obs(500, 0, 2, 2, 0), 0.0)), Some(3));
        // The common max narrows KEDA's.
        let c = BaselineCommon {
            max_tasks: 2,
            ..common()
        };
        let mut k = Keda::new(KedaParams::default(), c);
        assert_eq!(set(&k.decide(&obs(500, 0, 1, 1, 0), 0.0)), Some(2));
    }

    #[test]
    fn missing_reads_hold() {
        let mut k = keda();
        let mut o = obs(100, 0, 0, 0, 0);
        o.queue = None;
        assert!(k.decide(&o, 0.0).actions.is_empty());
        let mut o = obs(100, 0, 5, 5, 0);
        o.service = None;
        assert!(k.decide(&o, 30.0).actions.is_empty());
    }

    proptest! {
        #[test]
        fn prop_bounds(steps in run_strategy(), min in 0u32..4, extra in 0u32..30) {
            let c = BaselineCommon { min_tasks: min, max_tasks: min + extra, jobs_per_task: 1 };
            let mut k = Keda::new(KedaParams::default(), c);
            check_bounds(&mut k, &steps, c.min_tasks, c.max_tasks)?;
        }

        #[test]
        fn prop_all_none_no_action(dts in prop::collection::vec(0.0f64..100.0, 1..50)) {
            check_all_none(&mut keda(), &dts)?;
        }
    }
}
