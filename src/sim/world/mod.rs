//! The simulated world: an SQS queue, one ECS service and its ECS Managed Instances, advanced
//! event by event between the controller's ticks.
//!
//! It behaves like ECS MI, not like a toy (see docs/simulator.md): a new task lands on an
//! instance with a free slot (a *warm* start: the image is cached) or waits in PROVISIONING
//! while MI launches an instance (a *cold* start: launch + full pull + app start, each a seeded
//! log-normal draw). Scale-in stops tasks that are not running yet first, then idle ones;
//! protected busy tasks are never chosen, unprotected ones lose their job, which reappears
//! after the visibility timeout. An instance whose last task stopped is terminated after
//! `scaleInAfter`, cancelled if a task lands on it. Billing is per instance-second, 60 s
//! minimum. Metrics are computed from its records by `sim::report`.
//!
//! When the config switches faults on (`simulation.faults`), it also injects them from their own
//! seeded stream (`sim::faults`): failed, throttled, stale or missing reads, failed or throttled
//! writes, capacity-error episodes, Spot reclaims and tasks that fail to start. Throughout, it
//! checks the safety invariants (`sim::invariants`) against the truth it holds.

use crate::core::config::{Floor, SimConfig};
use crate::core::job::Job;
use crate::core::model::{
    Action, InstanceCounts, Observation, QueueDepth, ServiceCounts, TaskInfo, TaskPhase,
};
use crate::sim::faults::{FaultCounts, FaultStream, mean_gap_s};
use crate::sim::invariants::{Invariant, InvariantReport};
use crate::world::{ApplyError, World};
mod metrics;
mod observe;
mod tasks;
pub mod wire;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

/// What the simulated service looks like (from the service config and the scenario).
#[derive(Debug, Clone)]
pub struct SimService {
    pub tasks_per_instance: u32,
    pub jobs_per_task: u32,
    pub worker_protection: bool,
    pub price_per_hour_usd: f64,
    pub initial_scale_in_after_s: i32,
    /// Bounds and budget the decisions are checked against (`sim::invariants`).
    pub min_tasks: u32,
    pub max_tasks: u32,
    /// Schedule floors (a decision below the floor in force breaks `DesiredOutOfBounds`).
    pub floors: Vec<Floor>,
    pub budget_per_hour_usd: Option<f64>,
}

impl SimService {
    /// One task per instance, workers that protect themselves, $1/h, `scaleInAfter` 300 s, no
    /// floor or budget: the plain service the world's and the twin's tests start from.
    #[cfg(test)]
    pub(crate) fn for_tests(max_tasks: u32) -> SimService {
        SimService {
            tasks_per_instance: 1,
            jobs_per_task: 1,
            worker_protection: true,
            price_per_hour_usd: 1.0,
            initial_scale_in_after_s: 300,
            min_tasks: 0,
            max_tasks,
            floors: Vec::new(),
            budget_per_hour_usd: None,
        }
    }

    /// The lowest count allowed at `now_s`: `min_tasks` or the schedule floor in force.
    pub fn floor_at(&self, now_s: f64) -> u32 {
        self.floors
            .iter()
            .filter(|f| f.active_at(now_s))
            .map(|f| f.min_tasks)
            .fold(self.min_tasks, u32::max)
    }

    /// Hourly price of the instances `tasks` tasks need at the least (billing is per instance,
    /// not per task: 3 tasks at 2 per instance bill 2 instances).
    pub fn instances_price_per_hour_usd(&self, tasks: u32) -> f64 {
        f64::from(tasks.div_ceil(self.tasks_per_instance.max(1))) * self.price_per_hour_usd
    }

    /// Whether the budget (if any) pays for `tasks` tasks' instances.
    pub fn affordable(&self, tasks: u32) -> bool {
        self.budget_per_hour_usd
            .is_none_or(|b| self.instances_price_per_hour_usd(tasks) <= b + 1e-9)
    }
}

/// Why a task stops (counts busy tasks stopped by a scale-in for the report; the
/// `BusyTaskStopped` check does not trust it and looks at the instance instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopCause {
    ScaleIn,
    /// Its job finished while the service was above its desired count.
    Surplus,
    Reclaimed,
    FailedStart,
}

/// The true queue of one tick with the demand and served totals at that time.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at_s: f64,
    depth: QueueDepth,
    demand: u64,
    served: u64,
}

/// The last change of the desired count, watched for a reversal (`RestartFlap`).
#[derive(Debug, Clone, Copy)]
struct ChangeWatch {
    at_s: f64,
    from: u32,
    to: u32,
    /// Jobs that had arrived or come back (visibility timeout) by the time of the SQS count the
    /// change acted on (`sqs_staleness` before it): new demand is more. A job that arrived
    /// within the read's lag is new to the controller too.
    demand: u64,
    /// Jobs handed to workers or finished by the time of that count.
    served: u64,
    /// Decided on a tick whose reads were stale or missing.
    on_faulty_read: bool,
}

/// What the world watches after a controller restart.
#[derive(Debug, Clone, Copy)]
struct RestartWatch {
    at_s: f64,
    desired_at_restart: u32,
    scaled_in: bool,
}

/// One job's fate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct JobRecord {
    pub arrival_s: f64,
    pub service_s: f64,
    /// First time a worker took it.
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub interrupted: u32,
}

/// One instance's life.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct InstanceRecord {
    pub launch_s: f64,
    pub ready_s: f64,
    pub end_s: Option<f64>,
    /// Seconds it held at least one job.
    pub busy_s: f64,
}

/// One row of the per-tick timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineRow {
    pub t_s: f64,
    pub visible: u64,
    pub in_flight: u64,
    pub desired: u32,
    pub running: u32,
    pub provisioning: u32,
    pub busy: u32,
    pub instances: u32,
    pub cost_usd: f64,
    /// The policy's reason for this tick's desired count (filled in by `sim::run_raw`).
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Provisioning,
    Pending,
    Running,
    Stopped,
}

#[derive(Debug, Clone)]
struct Task {
    state: TaskState,
    created_s: f64,
    started_s: Option<f64>,
    /// `None` while a capacity error keeps MI from launching one for it.
    instance: Option<usize>,
    cold: bool,
    /// Jobs held: (job index, received at).
    jobs: Vec<(usize, f64)>,
    idle_since_s: f64,
}

#[derive(Debug, Clone)]
struct Instance {
    rec: InstanceRecord,
    ready: bool,
    tasks: u32,
    jobs_held: u32,
    busy_since_s: f64,
    idle_gen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ev {
    InstanceReady(usize),
    TaskReady(usize),
    JobDone(usize, usize),
    JobReturns(usize),
    IdleExpire(usize, u64),
    SpotReclaim,
    CapacityErrorStart,
    CapacityErrorEnd,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    t_s: f64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (then first-scheduled) event.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t_s.total_cmp(&self.t_s).then(o.seq.cmp(&self.seq))
    }
}

pub struct SimWorld {
    p: SimService,
    sim: SimConfig,
    rng: StdRng,
    now_s: f64,
    jobs: Vec<JobRecord>,
    next_arrival: usize,
    queue: VecDeque<usize>,
    returning: u64,
    events: BinaryHeap<Event>,
    seq: u64,
    tasks: Vec<Task>,
    /// Active (not stopped) task ids, in creation order.
    active: BTreeSet<usize>,
    /// Running tasks with a free job slot.
    idle: BTreeSet<usize>,
    instances: Vec<Instance>,
    live_instances: u32,
    /// Indices of live instances, ascending: placement and billing look only at these (a scan
    /// of every instance ever launched made long runs quadratic).
    live: Vec<usize>,
    desired: u32,
    scale_in_after_s: i32,
    deleted_total: u64,
    /// What CloudWatch holds for the queue (minute sums and their publication times).
    cloudwatch: metrics::MetricsModel,
    cold_starts: u64,
    warm_starts: u64,
    busy_kills: u64,
    /// Queue counts as seen over time, for stale reads.
    /// Each tick's true queue and its demand and served totals, kept for `sqs_staleness`: the
    /// oldest is what a read returns now.
    snapshots: VecDeque<Snapshot>,
    pub timeline: Vec<TimelineRow>,
    record_timeline: bool,
    terminated_cost_usd: f64,
    end_limit_s: f64,
    faults: Option<FaultStream>,
    /// True while a capacity-error episode refuses instance launches.
    capacity_error: bool,
    /// Tasks waiting for an instance that MI could not launch.
    unplaced: BTreeSet<usize>,
    /// SQS counts over the last `sqs_stale_max`, for stale reads.
    stale_history: VecDeque<(f64, QueueDepth)>,
    restarts_at_s: Vec<f64>,
    next_restart: usize,
    restart_watch: Option<RestartWatch>,
    /// The reads the observation handed out this tick lacked ("" = none).
    last_obs_missing: String,
    /// Times each job was handed to a worker.
    starts: Vec<u32>,
    /// Jobs that came back to the queue after an interruption (demand beside arrivals).
    returned_total: u64,
    /// Jobs handed to a worker (a job interrupted and restarted counts again).
    dispatched_total: u64,
    last_change: Option<ChangeWatch>,
    /// This tick's queue count is an injected old one that differs from the usual read.
    last_obs_stale: bool,
    /// When this tick's old count hides work the usual read shows: the jobs that read shows
    /// waiting (a scale-in that leaves them no worker was made on the stale count).
    stale_waiting: Option<u64>,
    /// The last scale-in kept every worker some read showed busy.
    scale_in_keeps_shown_busy: bool,
    /// The floor in force at the last tick whose reads were complete, and whether that tick
    /// decided a count (a tick that decides nothing keeps the count it found).
    floor_watch: Option<(f64, u32, bool)>,
    pub invariants: InvariantReport,
}

impl SimWorld {
    /// `jobs` must be sorted by arrival; times are on the same clock as `start_s`.
    pub fn new(
        p: SimService,
        sim: SimConfig,
        jobs: &[Job],
        start_s: f64,
        record_timeline: bool,
    ) -> Self {
        let last_arrival = jobs.last().map_or(start_s, |j| j.arrival_s);
        let sia = p.initial_scale_in_after_s;
        let faults = FaultStream::new(&sim.faults, sim.seed);
        let cloudwatch = metrics::MetricsModel::new(&sim, start_s);
        let mut w = SimWorld {
            rng: StdRng::seed_from_u64(sim.seed),
            faults,
            capacity_error: false,
            unplaced: BTreeSet::new(),
            stale_history: VecDeque::new(),
            restarts_at_s: Vec::new(),
            next_restart: 0,
            restart_watch: None,
            last_obs_missing: String::new(),
            starts: vec![0; jobs.len()],
            returned_total: 0,
            dispatched_total: 0,
            last_change: None,
            last_obs_stale: false,
            stale_waiting: None,
            scale_in_keeps_shown_busy: false,
            floor_watch: None,
            invariants: InvariantReport::default(),
            end_limit_s: last_arrival + sim.drain_limit_s,
            p,
            sim,
            now_s: start_s,
            jobs: jobs
                .iter()
                .map(|j| JobRecord {
                    arrival_s: j.arrival_s,
                    service_s: j.service_s,
                    start_s: None,
                    end_s: None,
                    interrupted: 0,
                })
                .collect(),
            next_arrival: 0,
            queue: VecDeque::new(),
            returning: 0,
            events: BinaryHeap::new(),
            seq: 0,
            tasks: Vec::new(),
            active: BTreeSet::new(),
            idle: BTreeSet::new(),
            instances: Vec::new(),
            live_instances: 0,
            live: Vec::new(),
            desired: 0,
            scale_in_after_s: sia,
            deleted_total: 0,
            cloudwatch,
            cold_starts: 0,
            warm_starts: 0,
            busy_kills: 0,
            snapshots: VecDeque::new(),
            timeline: Vec::new(),
            record_timeline,
            terminated_cost_usd: 0.0,
        };
        w.schedule_fault(Ev::SpotReclaim);
        w.schedule_fault(Ev::CapacityErrorStart);
        w
    }

    /// Tell the world when the controller restarts (the same times the policy wrapper uses), so
    /// it can count restarts and watch for flapping after each.
    pub fn set_restarts(&mut self, at_s: Vec<f64>) {
        self.restarts_at_s = at_s;
        self.next_restart = 0;
    }

    /// What the fault stream injected (all zero without faults).
    pub fn fault_counts(&self) -> FaultCounts {
        self.faults.as_ref().map(|f| f.counts).unwrap_or_default()
    }

    /// Schedule the next Spot reclaim or capacity-error episode, if that fault is on.
    fn schedule_fault(&mut self, ev: Ev) {
        let Some(f) = self.faults.as_mut() else {
            return;
        };
        let per_day = match ev {
            Ev::SpotReclaim => f.cfg.spot_interruptions_per_day,
            _ => f.cfg.capacity_errors_per_day,
        };
        if let Some(gap_s) = mean_gap_s(per_day) {
            let t = self.now_s + f.exp(gap_s);
            self.push(t, ev);
        }
    }

    pub fn jobs(&self) -> &[JobRecord] {
        &self.jobs
    }
    pub fn instance_records(&self) -> Vec<InstanceRecord> {
        self.instances.iter().map(|i| i.rec).collect()
    }
    pub fn cold_starts(&self) -> u64 {
        self.cold_starts
    }
    pub fn warm_starts(&self) -> u64 {
        self.warm_starts
    }
    /// Busy tasks stopped by a scale-in (only possible without task protection).
    pub fn busy_kills(&self) -> u64 {
        self.busy_kills
    }
    pub fn now_s(&self) -> f64 {
        self.now_s
    }
    pub fn price_per_hour_usd(&self) -> f64 {
        self.p.price_per_hour_usd
    }

    /// Seeded log-normal draw around `median_s`.
    fn draw(&mut self, median_s: f64) -> f64 {
        if median_s <= 0.0 {
            return 0.0;
        }
        let z: f64 = StandardNormal.sample(&mut self.rng);
        median_s * (self.sim.start_jitter * z).exp()
    }

    fn push(&mut self, t_s: f64, ev: Ev) {
        self.seq += 1;
        self.events.push(Event {
            t_s,
            seq: self.seq,
            ev,
        });
    }

    fn in_flight(&self) -> u64 {
        self.active
            .iter()
            .map(|&t| self.tasks[t].jobs.len() as u64)
            .sum::<u64>()
            + self.returning
    }

    fn depth(&self) -> QueueDepth {
        QueueDepth {
            visible: self.queue.len() as u64,
            in_flight: self.in_flight(),
            delayed: 0,
        }
    }

    /// Process every event and arrival up to and including `t_s`.
    pub fn advance_to(&mut self, t_s: f64) {
        loop {
            let next_ev = self.events.peek().map(|e| e.t_s);
            let next_arr = self.jobs.get(self.next_arrival).map(|j| j.arrival_s);
            let (t, is_arrival) = match (next_ev, next_arr) {
                (Some(e), Some(a)) if a <= e => (a, true),
                (Some(e), _) => (e, false),
                (None, Some(a)) => (a, true),
                (None, None) => break,
            };
            if t > t_s {
                break;
            }
            self.now_s = self.now_s.max(t);
            if is_arrival {
                let j = self.next_arrival;
                self.next_arrival += 1;
                self.cloudwatch.sent(t);
                self.queue.push_back(j);
                self.dispatch();
            } else if let Some(e) = self.events.pop() {
                self.handle(e.ev);
            }
        }
        self.now_s = self.now_s.max(t_s);
    }

    fn handle(&mut self, ev: Ev) {
        let now = self.now_s;
        match ev {
            Ev::InstanceReady(i) => {
                if self.instances[i].rec.end_s.is_some() {
                    return; // reclaimed by Spot while it launched
                }
                self.instances[i].ready = true;
                self.instances[i].rec.ready_s = now;
                // Tasks waiting for this instance now pull the image and start the app.
                let waiting: Vec<usize> = self
                    .active
                    .iter()
                    .copied()
                    .filter(|&t| {
                        self.tasks[t].instance == Some(i)
                            && self.tasks[t].state == TaskState::Provisioning
                    })
                    .collect();
                for t in waiting {
                    self.tasks[t].state = TaskState::Pending;
                    let d = self.draw(self.sim.image_pull_s) + self.draw(self.sim.app_start_s);
                    self.push(now + d, Ev::TaskReady(t));
                }
                if self.instances[i].tasks == 0 {
                    self.instance_idle(i);
                }
            }
            Ev::TaskReady(t) => {
                if self.tasks[t].state != TaskState::Pending {
                    return;
                }
                if let Some(f) = self.faults.as_mut()
                    && f.chance(f.cfg.task_start_failure_rate)
                {
                    // E.g. CannotPullContainerError: the task stops and the service scheduler
                    // starts a replacement.
                    f.counts.failed_task_starts += 1;
                    self.stop_task(t, StopCause::FailedStart);
                    self.refill();
                    return;
                }
                let task = &mut self.tasks[t];
                task.state = TaskState::Running;
                task.started_s = Some(now);
                task.idle_since_s = now;
                if task.cold {
                    self.cold_starts += 1;
                } else {
                    self.warm_starts += 1;
                }
                self.idle.insert(t);
                self.dispatch();
            }
            Ev::JobDone(t, j) => {
                let Some(pos) = self.tasks[t].jobs.iter().position(|&(jj, _)| jj == j) else {
                    return; // the task was stopped and the job interrupted
                };
                self.tasks[t].jobs.remove(pos);
                self.invariants.checks += 1;
                if let Some(first) = self.jobs[j].end_s {
                    self.invariants.violate(Invariant::JobRunTwice, now, || {
                        format!("job {j} completed again (first at {first:.0}s)")
                    });
                }
                self.jobs[j].end_s = Some(now);
                self.deleted_total += 1;
                self.cloudwatch.deleted(now);
                let inst = self.tasks[t]
                    .instance
                    .expect("a task holding a job is placed");
                self.release_job_slot(inst);
                if self.tasks[t].jobs.is_empty() {
                    self.tasks[t].idle_since_s = now;
                }
                // ECS keeps reconciling: a task over the desired count goes once it is free.
                if self.tasks[t].jobs.is_empty() && self.active.len() as u32 > self.desired {
                    self.stop_task(t, StopCause::Surplus);
                } else {
                    self.idle.insert(t);
                    self.dispatch();
                }
            }
            Ev::JobReturns(j) => {
                self.returning = self.returning.saturating_sub(1);
                self.returned_total += 1;
                self.queue.push_back(j);
                self.dispatch();
            }
            Ev::IdleExpire(i, generation) => {
                let inst = &self.instances[i];
                if inst.idle_gen == generation && inst.tasks == 0 && inst.rec.end_s.is_none() {
                    self.terminate(i);
                }
            }
            Ev::SpotReclaim => {
                self.spot_reclaim();
                self.schedule_fault(Ev::SpotReclaim);
            }
            Ev::CapacityErrorStart => {
                let Some(f) = self.faults.as_mut() else {
                    return;
                };
                f.counts.capacity_episodes += 1;
                let len_s = f.exp(f.cfg.capacity_error_duration_s);
                self.capacity_error = true;
                self.push(now + len_s, Ev::CapacityErrorEnd);
            }
            Ev::CapacityErrorEnd => {
                self.capacity_error = false;
                // MI retries the launches it could not make; the next episode comes later.
                self.place_unplaced();
                self.schedule_fault(Ev::CapacityErrorStart);
            }
        }
    }

    /// Spot takes back an instance that runs a task: its tasks stop at once (their jobs come
    /// back after the visibility timeout), the instance is gone, and the service scheduler
    /// starts replacements for the desired count.
    fn spot_reclaim(&mut self) {
        let candidates: Vec<usize> = (0..self.instances.len())
            .filter(|&i| self.instances[i].rec.end_s.is_none() && self.instances[i].tasks > 0)
            .collect();
        let Some(f) = self.faults.as_mut() else {
            return;
        };
        if candidates.is_empty() {
            return;
        }
        let i = candidates[f.pick(candidates.len())];
        f.counts.spot_interruptions += 1;
        let on_it: Vec<usize> = self
            .active
            .iter()
            .copied()
            .filter(|&t| self.tasks[t].instance == Some(i))
            .collect();
        // The instance is gone before its tasks stop: `stop_task` judges a busy stop by whether
        // its instance still exists, not by the cause it is given.
        self.terminate(i);
        for t in on_it {
            self.stop_task(t, StopCause::Reclaimed);
        }
        self.refill();
    }

    /// The ECS service scheduler: start tasks until the desired count is met again.
    fn refill(&mut self) {
        while (self.active.len() as u32) < self.desired {
            self.start_task();
        }
        self.dispatch();
    }

    /// Give tasks that waited out a capacity error an instance (or a freed slot).
    fn place_unplaced(&mut self) {
        let waiting: Vec<usize> = self.unplaced.iter().copied().collect();
        for t in waiting {
            if !self.place(t) {
                break; // still no capacity
            }
        }
    }

    fn release_job_slot(&mut self, inst: usize) {
        let now = self.now_s;
        let i = &mut self.instances[inst];
        i.jobs_held = i.jobs_held.saturating_sub(1);
        if i.jobs_held == 0 {
            i.rec.busy_s += now - i.busy_since_s;
        }
    }

    /// Hand visible jobs to running tasks with free slots (lowest task id first).
    fn dispatch(&mut self) {
        while !self.queue.is_empty() {
            let Some(&t) = self.idle.iter().next() else {
                break;
            };
            let Some(j) = self.queue.pop_front() else {
                break;
            };
            let now = self.now_s;
            if self.jobs[j].start_s.is_none() {
                self.jobs[j].start_s = Some(now);
            }
            self.tasks[t].jobs.push((j, now));
            let inst = self.tasks[t].instance.expect("a running task is placed");
            let i = &mut self.instances[inst];
            if i.jobs_held == 0 {
                i.busy_since_s = now;
            }
            i.jobs_held += 1;
            self.starts[j] += 1;
            self.dispatched_total += 1;
            self.invariants.checks += 1;
            if self.starts[j] > 1 + self.jobs[j].interrupted {
                let (n, k) = (self.starts[j], self.jobs[j].interrupted);
                self.invariants.violate(Invariant::JobRunTwice, now, || {
                    format!("job {j} started {n} times after {k} interruption(s)")
                });
            }
            let service = self.jobs[j].service_s;
            self.push(now + service, Ev::JobDone(t, j));
            if self.tasks[t].jobs.len() as u32 >= self.p.jobs_per_task {
                self.idle.remove(&t);
            }
        }
    }

    fn instance_idle(&mut self, i: usize) {
        let now = self.now_s;
        self.instances[i].idle_gen += 1;
        let generation = self.instances[i].idle_gen;
        match self.scale_in_after_s {
            s if s < 0 => {}
            0 => self.terminate(i),
            s => self.push(now + f64::from(s), Ev::IdleExpire(i, generation)),
        }
    }

    fn terminate(&mut self, i: usize) {
        let now = self.now_s;
        let inst = &mut self.instances[i];
        inst.rec.end_s = Some(now);
        if !inst.ready {
            inst.rec.ready_s = now;
        }
        self.live_instances -= 1;
        if let Ok(k) = self.live.binary_search(&i) {
            self.live.remove(k);
        }
        self.terminated_cost_usd +=
            (now - inst.rec.launch_s).max(60.0) * self.p.price_per_hour_usd / 3600.0;
    }

    fn cost_so_far(&self) -> f64 {
        let live: f64 = self
            .live
            .iter()
            .map(|&i| (self.now_s - self.instances[i].rec.launch_s).max(60.0))
            .sum();
        self.terminated_cost_usd + live * self.p.price_per_hour_usd / 3600.0
    }

    /// Close the books at the end of the run: live instances are billed up to `now`, and every
    /// job that arrived must be done, queued, on its way back, or held by a live worker whose
    /// finish is still to come (a held job that will never finish is lost too).
    pub fn close(&mut self) {
        let now = self.now_s;
        let mut accounted = vec![false; self.jobs.len()];
        for &j in &self.queue {
            accounted[j] = true;
        }
        let finishing: BTreeSet<(usize, usize)> = self
            .events
            .iter()
            .filter_map(|e| match e.ev {
                Ev::JobDone(t, j) => Some((t, j)),
                _ => None,
            })
            .collect();
        for &t in &self.active {
            for &(j, _) in &self.tasks[t].jobs {
                if finishing.contains(&(t, j)) {
                    accounted[j] = true;
                }
            }
        }
        for e in &self.events {
            if let Ev::JobReturns(j) = e.ev {
                accounted[j] = true;
            }
        }
        for (j, rec) in self.jobs.iter().enumerate().take(self.next_arrival) {
            self.invariants.checks += 1;
            if rec.end_s.is_none() && !accounted[j] {
                self.invariants.violate(Invariant::JobLost, now, || {
                    format!("job {j} (arrived {:.0}s) is nowhere", rec.arrival_s)
                });
            }
        }
        for i in &mut self.instances {
            if i.rec.end_s.is_none() {
                i.rec.end_s = Some(now);
                if i.jobs_held > 0 {
                    i.rec.busy_s += now - i.busy_since_s;
                }
            }
        }
        self.live.clear();
    }

    /// Break the world on purpose (negative tests of the invariants): every worker hangs, its
    /// jobs will never finish.
    #[cfg(test)]
    pub(crate) fn hang_workers(&mut self) {
        let kept: Vec<Event> = self
            .events
            .drain()
            .filter(|e| !matches!(e.ev, Ev::JobDone(..)))
            .collect();
        self.events.extend(kept);
    }

    /// Break the world on purpose: the queue delivers job `j` once more although no worker
    /// was interrupted (a duplicate delivery).
    #[cfg(test)]
    pub(crate) fn deliver_again(&mut self, j: usize) {
        self.queue.push_back(j);
        self.dispatch();
    }

    /// Break the world on purpose: stop the first task holding a job, calling it a surplus
    /// stop (the label must not excuse it).
    #[cfg(test)]
    pub(crate) fn stop_a_busy_task_as_surplus(&mut self) -> bool {
        let busy = self
            .active
            .iter()
            .copied()
            .find(|&t| !self.tasks[t].jobs.is_empty());
        if let Some(t) = busy {
            self.stop_task(t, StopCause::Surplus);
        }
        busy.is_some()
    }

    /// The live-instance index agrees with the instances themselves (for tests).
    #[cfg(test)]
    pub(crate) fn live_index_consistent(&self) -> bool {
        let scanned: Vec<usize> = (0..self.instances.len())
            .filter(|&i| self.instances[i].rec.end_s.is_none())
            .collect();
        scanned == self.live && self.live.len() as u32 == self.live_instances
    }
}
