//! The vocabulary shared by the core, the baselines and every world: what one tick observes
//! (`Observation`), what a policy decides (`Decision`, `Action`) and why (`Reason`).
//!
//! Everything here is plain data. Times are seconds on one timeline (`*_s`): Unix seconds in the
//! AWS world, trace seconds (offset by the trace's epoch) in the simulator. A field that could not
//! be read is `None`, never a guessed zero: the guards in the core refuse to scale in on `None`.

use crate::core::job::Job;
use serde::Serialize;
use std::fmt;

/// SQS `GetQueueAttributes` counts (approximate, possibly stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct QueueDepth {
    /// `ApproximateNumberOfMessages`: waiting to be received.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received by a worker and not yet deleted.
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`.
    pub delayed: u64,
}

impl QueueDepth {
    /// Messages that still need a worker: waiting plus delayed.
    pub fn backlog(&self) -> u64 {
        self.visible + self.delayed
    }

    /// Every message in the queue: waiting, delayed and in flight.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// One CloudWatch `AWS/SQS` minute: the `Sum` of `NumberOfMessagesSent` and
/// `NumberOfMessagesDeleted` over the minute that starts at `minute_start_s`. Production returns
/// a minute only after a publication delay (much longer after the queue idled for hours) and
/// none at all while the queue is inactive; the simulator returns exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MinuteSums {
    /// Start of the minute (a multiple of 60 on the world's timeline).
    pub minute_start_s: i64,
    pub sent: u64,
    pub deleted: u64,
}

/// What one `GetMetricData` read returned for a queue: the minutes published so far inside the
/// look-back window (`METRICS_LOOKBACK_S`), oldest first. A late minute is simply absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct QueueMetrics {
    pub minutes: Vec<MinuteSums>,
}

/// How far back each CloudWatch read asks for minutes: long enough that a minute published after
/// the longest documented delay (15 min after an idle queue wakes) is still inside the window.
pub const METRICS_LOOKBACK_S: f64 = 1200.0;

/// ECS `DescribeServices` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ServiceCounts {
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
}

/// Where a task is in its life, collapsed from ECS `lastStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaskPhase {
    /// Waiting for capacity (MI is launching an instance).
    Provisioning,
    /// Placed; pulling the image or starting the app.
    Pending,
    Running,
    Stopping,
}

/// One task as the controller sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskInfo {
    pub id: u64,
    pub phase: TaskPhase,
    pub created_at_s: f64,
    pub started_at_s: Option<f64>,
    /// `Some(true)` when the task needed a new instance (cold), `Some(false)` when it was placed
    /// on an instance that was already there (warm), `None` when the world cannot tell.
    pub cold: Option<bool>,
    /// Whether the worker holds a job right now (task scale-in protection in AWS).
    pub busy: Option<bool>,
    /// When a running, idle task last finished (or started) work. No ECS read returns this, so
    /// every world leaves it `None`; a policy that needs it tracks it from `busy` over ticks.
    pub idle_since_s: Option<f64>,
}

/// MI container instances of the service's capacity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct InstanceCounts {
    pub total: u32,
    /// ACTIVE instances running no task: warm spare capacity.
    pub idle: u32,
}

/// Everything one tick observed for one service. `None` = the read failed or is missing.
///
/// Each field is what one production read returns, and nothing more (docs/simulator.md,
/// "What a policy sees"; pinned per field by `sim::world::observe` tests):
/// - `queue`: SQS `GetQueueAttributes` approximate counts, possibly stale;
/// - `metrics`: CloudWatch `GetMetricData` minute sums, delayed; `None` when the read failed or
///   CloudWatch is not used (SQS-only);
/// - `service`: ECS `DescribeServices`; `tasks`: `ListTasks` + `DescribeTasks` (+
///   `GetTaskProtection` for `busy`); `instances`: `ListContainerInstances` +
///   `DescribeContainerInstances`; `scale_in_after_s`: `DescribeCapacityProviders`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Observation {
    pub queue: Option<QueueDepth>,
    pub metrics: Option<QueueMetrics>,
    pub service: Option<ServiceCounts>,
    pub tasks: Option<Vec<TaskInfo>>,
    pub instances: Option<InstanceCounts>,
    /// The capacity provider's current `scaleInAfter` (seconds; -1 = never; `None` = unknown or
    /// no capacity provider configured).
    pub scale_in_after_s: Option<i32>,
}

impl Observation {
    /// Tasks protected from scale-in (the worker said it holds a job), when every task's
    /// protection state is known. An empty task list is zero protected tasks, not "unknown".
    pub fn protected_tasks(&self) -> Option<u32> {
        let tasks = self.tasks.as_ref()?;
        if tasks.iter().any(|t| t.busy.is_none()) {
            return None;
        }
        Some(tasks.iter().filter(|t| t.busy == Some(true)).count() as u32)
    }

    /// Workers the in-flight messages keep busy: ceil(in-flight ÷ jobs per task).
    pub fn in_flight_tasks(&self, jobs_per_task: u32) -> Option<u32> {
        self.queue.map(|q| {
            let n = q.in_flight.div_ceil(u64::from(jobs_per_task.max(1)));
            u32::try_from(n).unwrap_or(u32::MAX)
        })
    }

    /// The busy floor: max(protected tasks, ceil(in-flight messages ÷ jobs per task)).
    ///
    /// Protection alone undercounts: a worker that never protects, or one between
    /// ReceiveMessage and its protection call, holds a message but looks idle, and ECS stops
    /// unprotected tasks on a scale-in. In-flight alone undercounts too (SQS counts are
    /// approximate and lag). So the floor takes whichever is higher. `None` only when neither
    /// could be read.
    pub fn busy_tasks(&self, jobs_per_task: u32) -> Option<u32> {
        match (self.protected_tasks(), self.in_flight_tasks(jobs_per_task)) {
            (Some(p), Some(f)) => Some(p.max(f)),
            (p, f) => p.or(f),
        }
    }

    /// True when every read a scale-in depends on succeeded: the queue (demand), the service
    /// (the count to lower) and the tasks (which workers are busy; without them the busy floor
    /// is only a guess from in-flight messages).
    pub fn complete_for_scale_in(&self) -> bool {
        self.queue.is_some() && self.service.is_some() && self.tasks.is_some()
    }
}

/// Why an action was taken: a stable code for metrics and a sentence for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Sized for forecast demand one lag ahead.
    Forecast,
    /// Backlog must drain within the SLO.
    Backlog,
    /// Held idle workers through a predicted gap (cheaper than a cold start).
    KeepWarm,
    /// Scale-in deferred by the stabilization window.
    Stabilizing,
    /// Clamped by min/max, a schedule floor, or the step limit.
    Bounds,
    /// Capped by the hourly budget.
    Budget,
    /// Never below the workers that hold a job.
    BusyFloor,
    /// A read failed or is missing: hold, never scale in.
    MissingData,
    /// A baseline policy's own rule.
    Baseline,
    /// The capacity provider's idle-instance delay.
    ScaleInAfter,
    /// No change.
    Steady,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Forecast => "forecast",
            ReasonCode::Backlog => "backlog",
            ReasonCode::KeepWarm => "keep_warm",
            ReasonCode::Stabilizing => "stabilizing",
            ReasonCode::Bounds => "bounds",
            ReasonCode::Budget => "budget",
            ReasonCode::BusyFloor => "busy_floor",
            ReasonCode::MissingData => "missing_data",
            ReasonCode::Baseline => "baseline",
            ReasonCode::ScaleInAfter => "scale_in_after",
            ReasonCode::Steady => "steady",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub text: String,
}

impl Reason {
    pub fn new(code: ReasonCode, text: impl Into<String>) -> Self {
        Reason {
            code,
            text: text.into(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code.as_str(), self.text)
    }
}

/// What a policy asks the world to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    /// `UpdateService(desiredCount)`.
    SetDesired { desired: u32, reason: Reason },
    /// `UpdateCapacityProvider(infrastructureOptimization.scaleInAfter)`; -1 = never.
    SetScaleInAfter { seconds: i32, reason: Reason },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetDesired { desired, reason } => write!(f, "desired={desired} {reason}"),
            Action::SetScaleInAfter { seconds, reason } => {
                write!(f, "scaleInAfter={seconds}s {reason}")
            }
        }
    }
}

/// The result of one `decide` call: what to do, why, and when to look again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// The reason behind the desired count this tick (also when it did not change).
    pub why: Reason,
    pub wake_at_s: f64,
    /// Set when the policy's own sizing for its SLO needs more workers than max_tasks or the
    /// hourly budget allow: the SLO is out of reach this tick, whatever the policy does.
    /// `None` for policies that do not size for an SLO (the baselines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<Shortfall>,
    /// At a strict SLO, the idle pool kept beside the busy workers and whether a pool learned
    /// from history can meet the SLO's budget of misses (`core::pool`); `None` elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_pool: Option<IdlePool>,
}

/// The strict SLO's idle pool at one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdlePool {
    /// Idle workers the pool asks for beside the busy ones (when out of reach by learning, only
    /// the levels that each came back more often than the budget of misses allows).
    pub idle_tasks: u32,
    /// False when the week's rises past the highest seen before them alone overspend the
    /// budget of misses: no pool learned from history meets the SLO.
    pub reachable_by_learning: bool,
}

/// The workers an SLO needs against the most the caps allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    /// Workers the sizing asks for before max_tasks and the budget (a lower bound when
    /// `need_at_least`: the sizing itself stopped at its search limit).
    pub need_tasks: u32,
    pub need_at_least: bool,
    /// The most the caps allow: min(max_tasks, what the budget buys).
    pub limit_tasks: u32,
    /// Which cap binds.
    pub cap: CapKind,
}

impl Shortfall {
    /// Workers missing: need − limit.
    pub fn workers(&self) -> u32 {
        self.need_tasks.saturating_sub(self.limit_tasks)
    }
}

/// The cap that makes an SLO unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapKind {
    MaxTasks,
    Budget,
}

/// A scaling policy: preheat's core or a baseline. Pure apart from its own state: no I/O, no
/// clock reads, no global RNG (`now_s` is an argument).
pub trait Policy {
    fn name(&self) -> &str;
    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision;
    /// Forget learned in-memory state, as a restarted controller would.
    fn restart(&mut self) {}
    /// Learn from the queue's history before the first tick: jobs sent before `now_s`
    /// (sorted by arrival), as read back from CloudWatch. Baselines learn nothing from it.
    fn prime(&mut self, _history: &[Job], _now_s: f64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Observation {
        Observation {
            queue: Some(QueueDepth::default()),
            metrics: Some(QueueMetrics::default()),
            service: Some(ServiceCounts::default()),
            tasks: Some(Vec::new()),
            instances: Some(InstanceCounts::default()),
            scale_in_after_s: Some(60),
        }
    }

    fn task(busy: Option<bool>) -> TaskInfo {
        TaskInfo {
            id: 0,
            phase: TaskPhase::Running,
            created_at_s: 0.0,
            started_at_s: Some(1.0),
            cold: None,
            busy,
            idle_since_s: None,
        }
    }

    /// Regression (issue #10): once every task had a protection state, the floor counted only
    /// protected tasks, so workers that never protect (or have not yet) looked idle and a
    /// scale-in stopped them. An empty task list made the floor 0 whatever was in flight.
    #[test]
    fn busy_floor_is_the_higher_of_protected_and_in_flight() {
        let mut o = full();
        o.queue = Some(QueueDepth {
            visible: 0,
            in_flight: 5,
            delayed: 0,
        });
        // Empty task list: in-flight still counts.
        assert_eq!(o.busy_tasks(1), Some(5));
        assert_eq!(o.busy_tasks(2), Some(3), "ceil(5 / 2)");
        // Every task has a state but only one is protected: the four others hold messages.
        o.tasks = Some(vec![
            task(Some(true)),
            task(Some(false)),
            task(Some(false)),
            task(Some(false)),
            task(Some(false)),
        ]);
        assert_eq!(o.protected_tasks(), Some(1));
        assert_eq!(o.busy_tasks(1), Some(5));
        // More protected than in flight (SQS counts lag): protection wins.
        o.queue = Some(QueueDepth::default());
        o.tasks = Some(vec![task(Some(true)), task(Some(true))]);
        assert_eq!(o.busy_tasks(1), Some(2));
        // Protection unknown for one task: in-flight alone.
        o.tasks = Some(vec![task(Some(true)), task(None)]);
        assert_eq!(o.protected_tasks(), None);
        assert_eq!(o.busy_tasks(1), Some(0));
        // Nothing readable: unknown.
        o.queue = None;
        assert_eq!(o.busy_tasks(1), None);
    }

    /// Regression (chaos, issue #5): with DescribeTasks failing, preheat scaled in from the
    /// in-flight estimate of busy workers. A failed task read must block scale-in too.
    #[test]
    fn scale_in_needs_queue_service_and_tasks() {
        assert!(full().complete_for_scale_in());
        for strip in 0..3 {
            let mut o = full();
            match strip {
                0 => o.queue = None,
                1 => o.service = None,
                _ => o.tasks = None,
            }
            assert!(!o.complete_for_scale_in(), "{strip}");
        }
        // Metrics and instances only inform forecasts and the scaleInAfter write.
        let mut o = full();
        o.metrics = None;
        o.instances = None;
        assert!(o.complete_for_scale_in());
    }
}
