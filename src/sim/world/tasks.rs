//! The simulated ECS service's task life cycle: starting a task warm or cold (placing it on
//! an instance with a free slot, a launching one, or a new one), stopping one (choosing the
//! victim as ECS does: not-yet-running first, then idle, never a protected busy one), and
//! setting the desired count. The event loop, billing and reads stay in `world/mod.rs`.

use super::*;

impl SimWorld {
    /// Start one task: on a ready instance with a free slot (warm), on a launching one, or on a
    /// new instance (cold).
    pub(super) fn start_task(&mut self) {
        let now = self.now_s;
        let id = self.tasks.len();
        self.tasks.push(Task {
            state: TaskState::Provisioning,
            created_s: now,
            started_s: None,
            instance: None,
            cold: true,
            jobs: Vec::new(),
            idle_since_s: now,
        });
        self.active.insert(id);
        self.place(id);
    }

    /// Find task `id` an instance. False when a capacity error refuses the launch it needs (the
    /// task stays PROVISIONING, unplaced, until the episode ends or a slot frees up).
    pub(super) fn place(&mut self, id: usize) -> bool {
        let now = self.now_s;
        let tpi = self.p.tasks_per_instance;
        let free = |i: &Instance| i.rec.end_s.is_none() && i.tasks < tpi;
        let instances = &self.instances;
        let warm = self
            .live
            .iter()
            .copied()
            .find(|&i| instances[i].ready && free(&instances[i]));
        let launching = || {
            self.live
                .iter()
                .copied()
                .find(|&i| !instances[i].ready && free(&instances[i]))
        };
        let (inst, state, cold) = if let Some(i) = warm {
            (i, TaskState::Pending, false)
        } else if let Some(i) = launching() {
            (i, TaskState::Provisioning, true)
        } else if self.capacity_error {
            if let Some(f) = self.faults.as_mut() {
                f.counts.blocked_launches += 1;
            }
            self.unplaced.insert(id);
            return false;
        } else {
            let ready_in = self.draw(self.sim.instance_launch_s);
            self.instances.push(Instance {
                rec: InstanceRecord {
                    launch_s: now,
                    ready_s: now + ready_in,
                    end_s: None,
                    busy_s: 0.0,
                },
                ready: false,
                tasks: 0,
                jobs_held: 0,
                busy_since_s: now,
                idle_gen: 0,
            });
            self.live_instances += 1;
            self.live.push(self.instances.len() - 1);
            let i = self.instances.len() - 1;
            self.push(now + ready_in, Ev::InstanceReady(i));
            (i, TaskState::Provisioning, true)
        };
        self.unplaced.remove(&id);
        // A task landing on the instance cancels its idle timer.
        self.instances[inst].idle_gen += 1;
        self.instances[inst].tasks += 1;
        let task = &mut self.tasks[id];
        task.state = state;
        task.instance = Some(inst);
        task.cold = cold;
        if state == TaskState::Pending {
            let d = self.draw(self.sim.warm_start_s);
            self.push(now + d, Ev::TaskReady(id));
        }
        true
    }

    pub(super) fn stop_task(&mut self, t: usize, cause: StopCause) {
        let now = self.now_s;
        self.active.remove(&t);
        self.idle.remove(&t);
        self.unplaced.remove(&t);
        let shown = self.shown_busy_task(t)
            && !(cause == StopCause::ScaleIn && self.scale_in_keeps_shown_busy);
        let held = std::mem::take(&mut self.tasks[t].jobs);
        self.invariants.checks += 1;
        if !held.is_empty() && cause == StopCause::ScaleIn {
            // Protected or not: a worker that holds a job is busy whether or not it told ECS,
            // and stopping it costs the job's progress.
            self.busy_kills += 1;
        }
        // Every stop of a task holding a job counts, whatever the caller calls it and whether
        // or not the worker protected itself in time; only losing its instance (a Spot
        // reclaim, which `spot_reclaim` applies first) excuses it.
        let instance_alive = self.tasks[t]
            .instance
            .is_some_and(|i| self.instances[i].rec.end_s.is_none());
        // A job taken since the SQS count was read, by a worker not yet protected, no read
        // shows: that stop is the reads' lag, counted apart from the policy's violations.
        if !held.is_empty() && instance_alive && !shown {
            self.invariants.hidden_busy_stops += 1;
        } else if !held.is_empty() && instance_alive {
            self.invariants
                .violate(Invariant::BusyTaskStopped, now, || {
                    format!("task {t} stopped ({cause:?}) holding {} job(s)", held.len())
                });
        }
        self.tasks[t].state = TaskState::Stopped;
        let Some(inst) = self.tasks[t].instance else {
            return; // never placed: nothing held, no instance to release
        };
        for (j, received) in held {
            self.jobs[j].interrupted += 1;
            self.returning += 1;
            self.release_job_slot(inst);
            let back = (received + self.sim.visibility_timeout_s).max(now);
            self.push(back, Ev::JobReturns(j));
        }
        let i = &mut self.instances[inst];
        i.tasks -= 1;
        if cause == StopCause::Reclaimed {
            return; // the instance goes with it
        }
        if !self.unplaced.is_empty() {
            // A task waiting out a capacity error takes the freed slot.
            self.place_unplaced();
        }
        let i = &self.instances[inst];
        if i.tasks == 0 && i.ready && i.rec.end_s.is_none() {
            self.instance_idle(inst);
        }
    }

    /// Whether task `t` has task scale-in protection on now: its worker holds a job and has
    /// had `worker_protect_delay_s` since ReceiveMessage to call UpdateTaskProtection.
    pub(super) fn protected(&self, t: usize) -> bool {
        if !self.p.worker_protection {
            return false;
        }
        let Some(delay_s) = self.sim.worker_protect_delay_s else {
            return false; // workers that never protect
        };
        let now = self.now_s;
        self.tasks[t].jobs.iter().any(|&(_, r)| now - r >= delay_s)
    }

    /// ECS scale-in order: not yet running (newest first), then idle running tasks (longest
    /// idle first), then busy ones that are not protected (a worker that protects late or
    /// never); protected tasks are never chosen. Picking idle tasks before unprotected busy
    /// ones is kinder than ECS, which cannot tell them apart: a busy task stopped here means
    /// the controller asked for fewer tasks than the busy workers.
    pub(super) fn choose_victim(&self) -> Option<usize> {
        let not_running = self
            .active
            .iter()
            .rev()
            .find(|&&t| self.tasks[t].state != TaskState::Running);
        if let Some(&t) = not_running {
            return Some(t);
        }
        let idle = self
            .active
            .iter()
            .filter(|&&t| self.tasks[t].jobs.is_empty())
            .min_by(|&&a, &&b| {
                self.tasks[a]
                    .idle_since_s
                    .total_cmp(&self.tasks[b].idle_since_s)
            });
        if let Some(&t) = idle {
            return Some(t);
        }
        self.active
            .iter()
            .rev()
            .find(|&&t| !self.protected(t))
            .copied()
    }

    pub(super) fn set_desired(&mut self, n: u32) {
        self.desired = n;
        // A scale-in that keeps every worker a read shows busy stops a busy one only because
        // of the jobs no read shows; which busy task ECS then picks is not the policy's doing.
        self.scale_in_keeps_shown_busy = n >= self.shown_busy();
        while (self.active.len() as u32) < n {
            self.start_task();
        }
        while (self.active.len() as u32) > n {
            match self.choose_victim() {
                Some(t) => self.stop_task(t, StopCause::ScaleIn),
                None => break, // protected busy tasks go when their job is done
            }
        }
        self.dispatch();
    }
}
