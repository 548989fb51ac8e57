//! The reconcile loop shared by `run`, `run --dry-run` and `simulate`: observe each service,
//! ask its policy, apply the actions, sleep until the earliest wake-up.
//!
//! It owns no policy logic and no I/O of its own; the world and clock do that. A failed apply
//! is reported through the observer and followed by a back-off, never by a blind retry.

use crate::model::{Decision, Observation, Policy};
use crate::world::{ApplyError, Clock, World};

/// What the loop tells its caller after each decision (for logs, metrics, timelines).
pub trait LoopObserver {
    fn on_decision(&mut self, _service: usize, _now_s: f64, _obs: &Observation, _d: &Decision) {}
    fn on_apply_error(&mut self, _service: usize, _now_s: f64, _e: &ApplyError) {}
}

impl LoopObserver for () {}

/// Longest back-off after failed applies.
const MAX_BACKOFF_S: f64 = 300.0;

pub struct LoopStats {
    pub ticks: u64,
    pub apply_errors: u64,
}

/// Run until the world is finished or the clock says stop (or `max_ticks`, for `--once`).
pub async fn run<W: World, C: Clock>(
    world: &mut W,
    clock: &mut C,
    policies: &mut [Box<dyn Policy + Send>],
    observer: &mut dyn LoopObserver,
    max_ticks: Option<u64>,
) -> LoopStats {
    let mut stats = LoopStats {
        ticks: 0,
        apply_errors: 0,
    };
    let mut failures = vec![0u32; policies.len()];
    loop {
        let now = clock.now_s();
        if world.finished(now) {
            break;
        }
        let mut wake = f64::INFINITY;
        for (i, policy) in policies.iter_mut().enumerate() {
            let obs = world.observe(i, now).await;
            let d = policy.decide(&obs, now);
            observer.on_decision(i, now, &obs, &d);
            let mut next = d.wake_at_s;
            if !d.actions.is_empty() {
                match world.apply(i, &d.actions, now).await {
                    Ok(()) => failures[i] = 0,
                    Err(e) => {
                        stats.apply_errors += 1;
                        failures[i] = failures[i].saturating_add(1);
                        observer.on_apply_error(i, now, &e);
                        // Exponential back-off from the policy's own cadence.
                        let base = (d.wake_at_s - now).max(1.0);
                        let backoff =
                            (base * 2f64.powi(failures[i].min(8) as i32)).min(MAX_BACKOFF_S);
                        next = now + backoff;
                    }
                }
            }
            wake = wake.min(next);
        }
        stats.ticks += 1;
        if max_ticks.is_some_and(|m| stats.ticks >= m) {
            break;
        }
        if !wake.is_finite() || wake <= now {
            wake = now + 1.0;
        }
        if !clock.sleep_until(wake).await {
            break;
        }
    }
    stats
}
