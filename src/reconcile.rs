//! The reconcile loop shared by `run`, `run --dry-run` and `simulate`: observe each service,
//! ask its policy, apply the actions, sleep until the earliest wake-up.
//!
//! It owns no policy logic and no I/O of its own; the world and clock do that. A failed apply
//! is reported through the observer and followed by a back-off, never by a blind retry; so are
//! repeated observations that miss a read (throttling, 5xx, network), on top of the SDK's own
//! retries.

use crate::core::model::{Action, Decision, Observation, Policy};
use crate::world::{ApplyError, Clock, World};

/// What the loop tells its caller after each decision (for logs, metrics, timelines).
pub trait LoopObserver {
    fn on_decision(&mut self, _service: usize, _now_s: f64, _obs: &Observation, _d: &Decision) {}
    fn on_apply_error(&mut self, _service: usize, _now_s: f64, _e: &ApplyError) {}
}

impl LoopObserver for () {}

/// Longest back-off after failed applies or failed reads.
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
    // Consecutive observations missing a read a scale-in needs (throttling, 5xx, network):
    // look again later and later rather than hammer a struggling API.
    let mut read_failures = vec![0u32; policies.len()];
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
            if obs.complete_for_scale_in() {
                read_failures[i] = 0;
            } else {
                read_failures[i] = read_failures[i].saturating_add(1);
                if read_failures[i] > 1 {
                    let base = (d.wake_at_s - now).max(1.0);
                    let backoff =
                        (base * 2f64.powi(read_failures[i].min(8) as i32 - 1)).min(MAX_BACKOFF_S);
                    next = next.max(now + backoff);
                }
            }
            // Each action on its own: a failed capacity-provider write neither blocks nor
            // undoes the UpdateService before it, and never delays the next observation (the
            // core itself waits ten minutes before asking for that write again).
            for a in &d.actions {
                let desired = matches!(a, Action::SetDesired { .. });
                match world.apply(i, std::slice::from_ref(a), now).await {
                    Ok(()) if desired => failures[i] = 0,
                    Ok(()) => {}
                    Err(e) => {
                        stats.apply_errors += 1;
                        observer.on_apply_error(i, now, &e);
                        if desired {
                            failures[i] = failures[i].saturating_add(1);
                            // Exponential back-off from the policy's own cadence.
                            let base = (d.wake_at_s - now).max(1.0);
                            let backoff =
                                (base * 2f64.powi(failures[i].min(8) as i32)).min(MAX_BACKOFF_S);
                            next = now + backoff;
                        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Reason, ReasonCode, ServiceCounts};
    use crate::world::SimClock;

    /// A world whose reads always fail.
    struct Broken;
    impl World for Broken {
        fn services(&self) -> usize {
            1
        }
        async fn observe(&mut self, _: usize, _: f64) -> Observation {
            Observation::default()
        }
        async fn apply(&mut self, _: usize, _: &[Action], _: f64) -> Result<(), ApplyError> {
            Ok(())
        }
    }

    struct Every10s;
    impl Policy for Every10s {
        fn name(&self) -> &str {
            "every-10s"
        }
        fn decide(&mut self, _: &Observation, now_s: f64) -> Decision {
            Decision {
                actions: vec![],
                why: Reason::new(ReasonCode::MissingData, "no data"),
                wake_at_s: now_s + 10.0,
                unreachable: None,
                idle_pool: None,
            }
        }
    }

    #[test]
    fn repeated_failed_reads_back_off() {
        struct Probe(std::rc::Rc<std::cell::RefCell<Vec<f64>>>);
        impl LoopObserver for Probe {
            fn on_decision(&mut self, _: usize, now_s: f64, _: &Observation, _: &Decision) {
                self.0.borrow_mut().push(now_s);
            }
        }
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut policies: Vec<Box<dyn Policy + Send>> = vec![Box::new(Every10s)];
        let mut clock = SimClock::new(0.0);
        let mut probe = Probe(seen.clone());
        let stats = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(
                &mut Broken,
                &mut clock,
                &mut policies,
                &mut probe,
                Some(4),
            ));
        assert_eq!(stats.ticks, 4);
        assert_eq!(*seen.borrow(), vec![0.0, 10.0, 30.0, 70.0]);
    }

    /// Reads fine; UpdateService works, UpdateCapacityProvider always fails.
    #[derive(Default)]
    struct CpBroken {
        desired: Vec<u32>,
    }
    impl World for CpBroken {
        fn services(&self) -> usize {
            1
        }
        async fn observe(&mut self, _: usize, _: f64) -> Observation {
            Observation {
                queue: Some(Default::default()),
                service: Some(ServiceCounts::default()),
                tasks: Some(Vec::new()),
                ..Observation::default()
            }
        }
        async fn apply(&mut self, _: usize, a: &[Action], _: f64) -> Result<(), ApplyError> {
            match a {
                [Action::SetDesired { desired, .. }] => {
                    self.desired.push(*desired);
                    Ok(())
                }
                _ => Err(ApplyError::Failed {
                    api: "ecs:UpdateCapacityProvider".into(),
                    message: "broken".into(),
                }),
            }
        }
    }

    /// Asks for both writes every 10 s.
    struct BothWrites;
    impl Policy for BothWrites {
        fn name(&self) -> &str {
            "both"
        }
        fn decide(&mut self, _: &Observation, now_s: f64) -> Decision {
            let why = Reason::new(ReasonCode::Forecast, "test");
            Decision {
                actions: vec![
                    Action::SetScaleInAfter {
                        seconds: 30,
                        reason: why.clone(),
                    },
                    Action::SetDesired {
                        desired: 2,
                        reason: why.clone(),
                    },
                ],
                why,
                wake_at_s: now_s + 10.0,
                unreachable: None,
                idle_pool: None,
            }
        }
    }

    /// Regression (issue #10): apply stopped at the first failed action and the failure moved
    /// the next observation out (up to 300 s), even after UpdateService had succeeded.
    #[test]
    fn failed_capacity_provider_write_neither_blocks_nor_delays() {
        struct Probe(std::rc::Rc<std::cell::RefCell<Vec<f64>>>);
        impl LoopObserver for Probe {
            fn on_decision(&mut self, _: usize, now_s: f64, _: &Observation, _: &Decision) {
                self.0.borrow_mut().push(now_s);
            }
        }
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut policies: Vec<Box<dyn Policy + Send>> = vec![Box::new(BothWrites)];
        let mut world = CpBroken::default();
        let stats = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(
                &mut world,
                &mut SimClock::new(0.0),
                &mut policies,
                &mut Probe(seen.clone()),
                Some(4),
            ));
        assert_eq!(*seen.borrow(), vec![0.0, 10.0, 20.0, 30.0]);
        assert_eq!(
            world.desired,
            vec![2, 2, 2, 2],
            "UpdateService applied every tick"
        );
        assert_eq!(stats.apply_errors, 4);
    }
}
