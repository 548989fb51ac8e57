//! The simulated world as the AWS APIs would show it, for the twin (`crate::twin`): each task
//! with its container instance, each registered instance with its task counts, beside the
//! tick's `Observation` (which already carries the staleness, delays and injected read faults
//! of `observe.rs`). Also applies one action at a time for the twin's write endpoints.
//!
//! It adds no behaviour to the world and decides nothing about the wire format (the twin's
//! job). One modelling choice lives here: an instance is registered with ECS (listed, with its
//! `registeredAt`) once it has booted, not while MI is still launching it, as ECS does.

use super::*;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// One task as `DescribeTasks` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WireTask {
    /// The world's task number (the twin makes the ARN from it).
    pub id: usize,
    /// `PROVISIONING`, `PENDING` or `RUNNING`.
    pub last_status: &'static str,
    pub created_s: f64,
    pub started_s: Option<f64>,
    /// The registered instance it sits on (`None` while its instance is still launching).
    pub instance: Option<usize>,
    /// What `GetTaskProtection` answers (the worker protects itself while it holds a job,
    /// late or never as the simulation says).
    pub protected: bool,
}

/// One registered container instance as `DescribeContainerInstances` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WireInstance {
    pub id: usize,
    pub registered_s: f64,
    pub running_tasks: u32,
    pub pending_tasks: u32,
}

/// Everything the twin serves for one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct WireView {
    pub now_s: f64,
    /// The tick's observation: a `None` field is a read the world made fail this tick.
    pub obs: Observation,
    pub tasks: Vec<WireTask>,
    pub instances: Vec<WireInstance>,
    /// Whether the simulation publishes CloudWatch metrics at all (`false` = SQS-only).
    pub cloudwatch: bool,
    pub worker_protection: bool,
}

/// Poll a future that never waits (the simulated world's `World` methods) to its end.
fn now_or_never<T>(f: impl Future<Output = T>) -> T {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the simulated world never waits"),
    }
}

impl SimWorld {
    /// Advance to `now_s`, take the tick's observation (exactly as `World::observe` does, so a
    /// run through the twin draws the same random numbers as `simulate`) and the per-task and
    /// per-instance detail the ECS APIs return.
    pub fn wire_view(&mut self, now_s: f64) -> WireView {
        let obs = now_or_never(World::observe(self, 0, now_s));
        let registered =
            |i: usize| self.instances[i].ready && self.instances[i].rec.end_s.is_none();
        let tasks: Vec<WireTask> = self
            .active
            .iter()
            .map(|&id| {
                let t = &self.tasks[id];
                WireTask {
                    id,
                    last_status: match t.state {
                        TaskState::Provisioning => "PROVISIONING",
                        TaskState::Pending => "PENDING",
                        TaskState::Running => "RUNNING",
                        TaskState::Stopped => "STOPPED",
                    },
                    created_s: t.created_s,
                    started_s: t.started_s,
                    instance: t.instance.filter(|&i| registered(i)),
                    protected: self.protected(id),
                }
            })
            .collect();
        let instances = self
            .live
            .iter()
            .copied()
            .filter(|&i| registered(i))
            .map(|i| {
                let on = tasks.iter().filter(|t| t.instance == Some(i));
                let running = on.clone().filter(|t| t.last_status == "RUNNING").count();
                WireInstance {
                    id: i,
                    registered_s: self.instances[i].rec.ready_s,
                    running_tasks: running as u32,
                    pending_tasks: (on.count() - running) as u32,
                }
            })
            .collect();
        WireView {
            now_s,
            obs,
            tasks,
            instances,
            cloudwatch: self.sim.cloudwatch_metrics,
            worker_protection: self.p.worker_protection,
        }
    }

    /// Apply one action at `now_s`, exactly as `World::apply` does (invariant checks and
    /// injected write faults included).
    pub fn apply_now(&mut self, action: &Action, now_s: f64) -> Result<(), ApplyError> {
        now_or_never(World::apply(self, 0, std::slice::from_ref(action), now_s))
    }

    /// The desired count the world holds now.
    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// The capacity provider's `scaleInAfter` the world holds now.
    pub fn scale_in_after_s(&self) -> i32 {
        self.scale_in_after_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::SimConfig;

    #[test]
    fn tasks_sit_on_registered_instances_only() {
        let p = SimService::for_tests(10);
        let jobs = [Job {
            arrival_s: 5.0,
            service_s: 3000.0,
        }];
        let mut w = SimWorld::new(p, SimConfig::default(), &jobs, 0.0, false);
        w.set_desired(2);
        let v = w.wire_view(1.0);
        assert_eq!(v.tasks.len(), 2);
        assert!(v.tasks.iter().all(|t| t.last_status == "PROVISIONING"));
        assert!(v.tasks.iter().all(|t| t.instance.is_none()));
        assert!(
            v.instances.is_empty(),
            "launching instances are not registered yet"
        );
        // Well after boot and start: both run, one holds the job and protects itself.
        let v = w.wire_view(1200.0);
        assert!(v.tasks.iter().all(|t| t.last_status == "RUNNING"));
        assert_eq!(v.instances.len(), 2);
        for t in &v.tasks {
            let i = v
                .instances
                .iter()
                .find(|i| Some(i.id) == t.instance)
                .unwrap();
            assert!(
                i.registered_s > t.created_s,
                "cold: registered after the task"
            );
            assert_eq!((i.running_tasks, i.pending_tasks), (1, 0));
        }
        assert_eq!(v.tasks.iter().filter(|t| t.protected).count(), 1);
        assert_eq!(v.obs.service.map(|s| s.running), Some(2));
    }
}
