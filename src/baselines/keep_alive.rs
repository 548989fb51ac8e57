//! Fixed keep-alive, the FaaS default, as a peer baseline: every idle worker is stopped once it
//! has been idle for K (10 min, as AWS Lambda); a job that finds no idle worker gets a new one.
//!
//! Sources (docs/peers.md, "keep-alive"): K = 10 min (AWS Lambda), 20 min
//! (Azure); the instance-level analogue is MI's `scaleInAfter`. Here the rule is applied per
//! task through `desiredCount`: target = busy + starting + idle-not-yet-expired + new workers for
//! the jobs still waiting after every free slot is counted. ECS chooses which task to stop (not
//! yet running first, then idle), so lowering desired by the number of expired idle tasks stops
//! idle ones; the count is what matters.
//!
//! Needs the per-task view (`obs.tasks` with `busy`) and the queue; holds when either, or the
//! service, is missing. A task whose `busy` is unknown counts as busy. No ECS read says when a
//! task went idle, so the baseline tracks it, as a worker's own idle timer would: idle since its
//! start if never seen busy, else since the first tick it was seen idle after busy (at most a
//! tick late, so K is kept, never cut). After a restart a task is idle at most since the
//! restart. Leaves to others: pre-warming (it has none) and instance lifetimes (`scaleInAfter`).

use super::{BaselineCommon, hold, period, set_to};
use crate::core::model::{Decision, Observation, Policy, TaskInfo, TaskPhase};
use std::collections::HashMap;

/// Keep-alive settings; `Default` is the documented K = 600 s.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepAliveParams {
    /// K: how long a worker may stay idle.
    pub keep_alive_s: f64,
    /// How often to look for waiting jobs (expiries are met exactly, whatever the tick).
    pub tick_s: f64,
}

impl Default for KeepAliveParams {
    fn default() -> Self {
        KeepAliveParams {
            keep_alive_s: 600.0,
            tick_s: 15.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct KeepAlive {
    params: KeepAliveParams,
    common: BaselineCommon,
    /// Task id → since when it has been idle (`None` = seen busy last).
    idle_since: HashMap<u64, Option<f64>>,
    /// No task was idle before this (the last restart; `-inf` at first start).
    known_from_s: f64,
    restarted: bool,
}

impl KeepAlive {
    pub fn new(params: KeepAliveParams, common: BaselineCommon) -> Self {
        KeepAlive {
            params,
            common,
            idle_since: HashMap::new(),
            known_from_s: f64::NEG_INFINITY,
            restarted: false,
        }
    }

    /// Since when task `t` (running, not busy) has been idle, tracked over ticks.
    fn idle_since_s(&mut self, t: &TaskInfo, now_s: f64) -> f64 {
        if let Some(s) = t.idle_since_s {
            return s;
        }
        let floor = self.known_from_s;
        let e = self
            .idle_since
            .entry(t.id)
            .or_insert_with(|| Some(t.started_at_s.unwrap_or(now_s).max(floor)));
        *e.get_or_insert(now_s)
    }

    pub fn params(&self) -> &KeepAliveParams {
        &self.params
    }
}

impl Policy for KeepAlive {
    fn name(&self) -> &str {
        "keep-alive"
    }

    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
        let tick_wake = now_s + period(self.params.tick_s);
        let (Some(service), Some(q), Some(tasks)) = (obs.service, obs.queue, obs.tasks.as_ref())
        else {
            return hold(
                "keep-alive: service, queue or task read missing → hold",
                now_s,
                tick_wake,
            );
        };
        if self.restarted {
            self.restarted = false;
            self.known_from_s = now_s;
        }
        let k_s = self.params.keep_alive_s.max(0.0);
        let c = self.common.jobs_per_task();
        let live: Vec<_> = tasks
            .iter()
            .filter(|t| t.phase != TaskPhase::Stopping)
            .collect();
        self.idle_since
            .retain(|id, _| live.iter().any(|t| t.id == *id));
        // Tasks ECS has not created yet (desired above what exists) are starting too.
        let unmaterialized = service
            .desired
            .saturating_sub(u32::try_from(live.len()).unwrap_or(u32::MAX));
        let mut starting = unmaterialized;
        let mut busy = 0u32;
        let mut idle_kept = 0u32;
        let mut expired = 0u32;
        let mut next_expiry_s = f64::INFINITY;
        for t in &live {
            match t.phase {
                TaskPhase::Provisioning | TaskPhase::Pending => starting += 1,
                TaskPhase::Running if t.busy == Some(false) => {
                    let since = self.idle_since_s(t, now_s);
                    if now_s >= since + k_s {
                        expired += 1;
                    } else {
                        idle_kept += 1;
                        next_expiry_s = next_expiry_s.min(since + k_s);
                    }
                }
                TaskPhase::Running => {
                    self.idle_since.insert(t.id, None);
                    busy += 1;
                }
                TaskPhase::Stopping => {}
            }
        }
        // Free job slots: idle and starting workers in full, busy ones what in-flight leaves.
        let free_slots = u64::from(idle_kept + starting) * u64::from(c)
            + (u64::from(busy) * u64::from(c)).saturating_sub(q.in_flight);
        let waiting = q.visible;
        let uncovered = waiting.saturating_sub(free_slots);
        // An expired idle worker that a waiting job would take is not stopped.
        let needed_workers = u32::try_from(uncovered.div_ceil(u64::from(c))).unwrap_or(u32::MAX);
        let reused = needed_workers.min(expired);
        let new_workers = needed_workers - reused;
        let stopped = expired - reused;
        let want = busy
            .saturating_add(idle_kept)
            .saturating_add(starting)
            .saturating_add(reused)
            .saturating_add(new_workers);
        let to = self.common.clamp(want);
        let text = format!(
            "keep-alive K={k_s:.0} s: busy {busy} + idle {idle_kept} + starting {starting} + {} new for {waiting} waiting; {stopped} idle ≥ K stopped → {to}",
            reused + new_workers
        );
        let wake_s = if next_expiry_s > now_s {
            tick_wake.min(next_expiry_s)
        } else {
            tick_wake
        };
        set_to(obs, to, text, now_s, wake_s)
    }

    fn restart(&mut self) {
        self.idle_since.clear();
        self.restarted = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testutil::{check_all_none, check_bounds, obs, run_strategy, set};
    use crate::core::model::TaskInfo;
    use proptest::prelude::*;

    fn common() -> BaselineCommon {
        crate::baselines::testutil::up_to(10)
    }

    fn ka() -> KeepAlive {
        KeepAlive::new(KeepAliveParams::default(), common())
    }

    fn task(id: u64, phase: TaskPhase, busy: Option<bool>, idle_since_s: Option<f64>) -> TaskInfo {
        TaskInfo {
            id,
            phase,
            created_at_s: 0.0,
            started_at_s: Some(0.0),
            cold: Some(true),
            busy,
            idle_since_s,
        }
    }

    fn with_tasks(visible: u64, in_flight: u64, tasks: Vec<TaskInfo>) -> Observation {
        let n = tasks.len() as u32;
        let mut o = obs(visible, in_flight, n, n, 0);
        o.tasks = Some(tasks);
        o
    }

    #[test]
    fn idle_worker_stops_after_exactly_k() {
        let mut p = ka();
        let o = with_tasks(
            0,
            1,
            vec![
                task(1, TaskPhase::Running, Some(true), None),
                task(2, TaskPhase::Running, Some(false), Some(100.0)),
            ],
        );
        let d = p.decide(&o, 650.0);
        assert_eq!(set(&d), None);
        assert_eq!(d.wake_at_s, 665.0, "tick first");
        let d = p.decide(&o, 690.0);
        assert_eq!(d.wake_at_s, 700.0, "then the expiry exactly");
        assert_eq!(set(&p.decide(&o, 699.999)), None);
        let d = p.decide(&o, 700.0);
        assert_eq!(set(&d), Some(1));
        assert!(d.why.text.contains("1 idle ≥ K stopped"), "{}", d.why.text);
        assert_eq!(p.name(), "keep-alive");
    }

    #[test]
    fn one_new_worker_per_waiting_job_beyond_free_workers() {
        let mut p = ka();
        let o = with_tasks(
            3,
            1,
            vec![
                task(1, TaskPhase::Running, Some(true), None),
                task(2, TaskPhase::Running, Some(false), Some(0.0)),
            ],
        );
        // 3 waiting, 1 idle worker takes one → 2 new: 2 + 2 = 4.
        assert_eq!(set(&p.decide(&o, 10.0)), Some(4));
        // An expired idle worker that a waiting job will take is kept, not replaced.
        assert_eq!(set(&p.decide(&o, 5000.0)), Some(4));
        // Starting tasks count as free workers.
        let o = with_tasks(
            2,
            0,
            vec![
                task(1, TaskPhase::Provisioning, None, None),
                task(2, TaskPhase::Pending, None, None),
            ],
        );
        assert_eq!(set(&p.decide(&o, 10.0)), None);
    }

    #[test]
    fn respects_jobs_per_task_and_max() {
        let c = BaselineCommon {
            min_tasks: 0,
            max_tasks: 3,
            jobs_per_task: 4,
        };
        let mut p = KeepAlive::new(KeepAliveParams::default(), c);
        // One busy worker with 2 of 4 slots used, 7 waiting: 2 fit, 5 → ceil(5/4) = 2 new.
        let o = with_tasks(7, 2, vec![task(1, TaskPhase::Running, Some(true), None)]);
        assert_eq!(set(&p.decide(&o, 0.0)), Some(3));
        // 40 waiting would need 11: capped at 3 (already 1 → 3).
        let o = with_tasks(40, 4, vec![task(1, TaskPhase::Running, Some(true), None)]);
        assert_eq!(set(&p.decide(&o, 0.0)), Some(3));
    }

    #[test]
    fn unknowns_never_scale_in() {
        let mut p = ka();
        let o = with_tasks(0, 0, vec![task(1, TaskPhase::Running, None, Some(0.0))]);
        assert_eq!(set(&p.decide(&o, 1e6)), None);
        let mut o = o;
        o.tasks = None;
        assert!(p.decide(&o, 1e6).actions.is_empty());
    }

    /// No ECS read gives `idle_since_s` (issue #8): the baseline tracks it from `busy`. A worker
    /// seen busy at 100 s and idle from the 115 s tick expires K after 115 s, not after its
    /// start; after a restart, idle time counts from the restart only.
    #[test]
    fn idle_time_is_tracked_from_busy_reads() {
        let mut p = ka();
        let busy = with_tasks(0, 1, vec![task(1, TaskPhase::Running, Some(true), None)]);
        let idle = || with_tasks(0, 0, vec![task(1, TaskPhase::Running, Some(false), None)]);
        assert_eq!(set(&p.decide(&busy, 100.0)), None);
        assert_eq!(set(&p.decide(&idle(), 115.0)), None);
        assert_eq!(set(&p.decide(&idle(), 714.0)), None, "idle 599 s < K");
        assert_eq!(set(&p.decide(&idle(), 715.0)), Some(0), "idle K = 600 s");
        let mut p = ka();
        p.restart();
        assert_eq!(set(&p.decide(&idle(), 5000.0)), None, "idle since restart");
        assert_eq!(set(&p.decide(&idle(), 5600.0)), Some(0));
    }

    proptest! {
        #[test]
        fn prop_bounds(steps in run_strategy(), min in 0u32..4, extra in 0u32..30, c in 1u32..4) {
            let c = BaselineCommon { min_tasks: min, max_tasks: min + extra, jobs_per_task: c };
            let mut p = KeepAlive::new(KeepAliveParams::default(), c);
            check_bounds(&mut p, &steps, c.min_tasks, c.max_tasks)?;
        }

        #[test]
        fn prop_all_none_no_action(dts in prop::collection::vec(0.0f64..100.0, 1..50)) {
            check_all_none(&mut ka(), &dts)?;
        }
    }
}
