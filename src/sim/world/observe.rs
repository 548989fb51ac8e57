//! What the simulated world shows a policy and how it checks what the policy does: builds each
//! tick's `Observation` (SQS counts with their staleness, CloudWatch minute sums as published
//! (`metrics.rs`), the service, tasks, instances and protection, with injected read faults), records restarts, checks each decision against the
//! safety invariants, and implements the `World` trait the reconcile loop drives. The queue,
//! tasks, instances and billing themselves are advanced in `mod.rs`.

use super::*;

impl SimWorld {
    fn observation(&mut self) -> Observation {
        let now = self.now_s;
        self.check_floor_held();
        let depth = self.depth();
        let snap = Snapshot {
            at_s: now,
            depth,
            demand: self.demand_seen(),
            served: self.served_seen(),
        };
        self.snapshots.push_back(snap);
        let stale_at = now - self.sim.sqs_staleness_s;
        while self.snapshots.len() > 1 && self.snapshots[1].at_s <= stale_at {
            self.snapshots.pop_front();
        }
        let read = self.snapshots.front().copied().unwrap_or(snap);
        let (seen_at_s, seen) = (read.at_s, read.depth);
        let mut running = 0;
        let mut pending = 0;
        let mut busy = 0;
        let tasks: Vec<TaskInfo> = self
            .active
            .iter()
            .map(|&id| {
                let t = &self.tasks[id];
                let phase = match t.state {
                    TaskState::Provisioning => TaskPhase::Provisioning,
                    TaskState::Pending => TaskPhase::Pending,
                    TaskState::Running => TaskPhase::Running,
                    TaskState::Stopped => TaskPhase::Stopping,
                };
                if phase == TaskPhase::Running {
                    running += 1;
                } else {
                    pending += 1;
                }
                let is_busy = !t.jobs.is_empty();
                busy += u32::from(is_busy);
                // With protection the per-task view is what GetTaskProtection shows, which lags
                // the truth for workers that protect late or never.
                let seen_busy = if self.p.worker_protection {
                    self.protected(id)
                } else {
                    is_busy
                };
                TaskInfo {
                    id: id as u64,
                    phase,
                    created_at_s: t.created_s,
                    started_at_s: t.started_s,
                    cold: Some(t.cold),
                    // GetTaskProtection: the worker protects itself while it holds a job
                    // (late, or never, as `simulation.worker_protect_delay` says).
                    busy: Some(seen_busy),
                    // No ECS read says when a task went idle (the AWS world leaves it None).
                    idle_since_s: None,
                }
            })
            .collect();
        let idle_instances = self
            .live
            .iter()
            .filter(|&&i| self.instances[i].ready && self.instances[i].tasks == 0)
            .count() as u32;
        if self.record_timeline {
            self.timeline.push(TimelineRow {
                t_s: now,
                visible: depth.visible,
                in_flight: depth.in_flight,
                desired: self.desired,
                running,
                provisioning: pending,
                busy,
                instances: self.live_instances,
                cost_usd: self.cost_so_far(),
                reason: String::new(),
            });
        }
        let mut obs = Observation {
            queue: Some(seen),
            metrics: self
                .sim
                .cloudwatch_metrics
                .then(|| self.cloudwatch.read(now)),
            service: Some(ServiceCounts {
                desired: self.desired,
                running,
                pending,
            }),
            tasks: Some(tasks),
            instances: Some(InstanceCounts {
                total: self.live_instances,
                idle: idle_instances,
            }),
            scale_in_after_s: Some(self.scale_in_after_s),
        };
        let stale = self.inject_read_faults(&mut obs, depth, (seen_at_s, seen));
        self.note_restarts();
        self.last_obs_missing = [
            ("queue", obs.queue.is_none()),
            // An old count looks complete to the controller but is not the queue of now.
            ("queue (stale)", stale),
            ("service", obs.service.is_none()),
            ("tasks", obs.tasks.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join("+");
        self.floor_watch = self
            .last_obs_missing
            .is_empty()
            .then(|| (now, self.p.floor_at(now), false));
        obs
    }

    /// A tick with complete reads that decided nothing kept the count it found: that count
    /// must not be below the floor that was in force (a policy that ignores a floor usually
    /// just never writes). Checked when the next tick starts.
    fn check_floor_held(&mut self) {
        let Some((at_s, floor, decided)) = self.floor_watch.take() else {
            return;
        };
        self.invariants.checks += 1;
        let cur = self.desired;
        if !decided && cur < floor && self.p.affordable(floor) {
            self.invariants
                .violate(Invariant::DesiredOutOfBounds, at_s, || {
                    format!("desired held at {cur} below the floor {floor}")
                });
        }
    }

    /// Turn a true observation into what a faulty AWS would have returned: each call (SQS,
    /// CloudWatch, DescribeServices, DescribeTasks, container instances + capacity provider) may
    /// fail or be throttled; SQS counts may also be stale or missing.
    /// Returns whether the queue counts handed out are stale: older than the count production's
    /// usual read (`seen`, `sqs_staleness` old) would give, and hiding work that read shows.
    /// The usual lag itself is no fault: every read has it and no controller can see past it.
    fn inject_read_faults(
        &mut self,
        obs: &mut Observation,
        depth: QueueDepth,
        (seen_at_s, seen): (f64, QueueDepth),
    ) -> bool {
        let now = self.now_s;
        let Some(f) = self.faults.as_mut() else {
            return false;
        };
        let mut stale = false;
        self.last_obs_stale = false;
        self.stale_waiting = None;
        let (throttle, error) = (f.cfg.throttle_rate, f.cfg.api_error_rate);
        let fails = |f: &mut FaultStream| {
            if f.chance(throttle) {
                f.counts.read_throttles += 1;
                true
            } else if f.chance(error) {
                f.counts.read_errors += 1;
                true
            } else {
                false
            }
        };
        if f.cfg.sqs_stale_rate > 0.0 {
            self.stale_history.push_back((now, depth));
            while self
                .stale_history
                .front()
                .is_some_and(|&(t, _)| t < now - f.cfg.sqs_stale_max_s)
            {
                self.stale_history.pop_front();
            }
        }
        if fails(f) {
            obs.queue = None;
        } else if f.chance(f.cfg.sqs_missing_rate) {
            f.counts.missing_sqs_reads += 1;
            obs.queue = None;
        } else if f.chance(f.cfg.sqs_stale_rate) && self.stale_history.len() > 1 {
            // An older count, as a lagging ApproximateNumberOfMessages would give.
            let k = f.pick(self.stale_history.len() - 1);
            let (old_at_s, old) = self.stale_history[k];
            obs.queue = Some(old);
            f.counts.stale_sqs_reads += 1;
            self.last_obs_stale = old != seen;
            // Stale in effect when the old count hides work the usual read shows (an old count
            // equal to or above it cannot argue for a scale-in, and one fresher than it is no
            // worse than the usual read).
            let total = |d: QueueDepth| d.visible + d.in_flight + d.delayed;
            stale = old_at_s < seen_at_s
                && (old.backlog() < seen.backlog() || total(old) < total(seen));
            self.stale_waiting = stale.then_some(seen.backlog());
        }
        if obs.metrics.is_some() && fails(f) {
            obs.metrics = None;
        }
        if fails(f) {
            obs.service = None;
        }
        if fails(f) {
            obs.tasks = None;
        }
        if fails(f) {
            obs.instances = None;
            obs.scale_in_after_s = None;
        }
        stale
    }

    /// Count controller restarts up to now and start watching for a flap after the last one.
    fn note_restarts(&mut self) {
        let mut restarted = None;
        while let Some(&t) = self.restarts_at_s.get(self.next_restart) {
            if t > self.now_s {
                break;
            }
            self.next_restart += 1;
            restarted = Some(t);
            if let Some(f) = self.faults.as_mut() {
                f.counts.restarts += 1;
            }
        }
        if let Some(at_s) = restarted {
            self.restart_watch = Some(RestartWatch {
                at_s,
                desired_at_restart: self.desired,
                scaled_in: false,
            });
        }
    }

    /// Check one decided desired count against the invariants, before it is applied (a decision
    /// that a fault keeps from being applied was still decided).
    fn check_decision(&mut self, n: u32) {
        let now = self.now_s;
        let cur = self.desired;
        if let Some(w) = self.floor_watch.as_mut() {
            w.2 = true;
        }
        let floor = self.p.floor_at(now);
        let (demand, served) = (self.demand_seen(), self.served_seen());
        let shown_busy = self.shown_busy();
        let p = &self.p;
        let inv = &mut self.invariants;
        inv.checks += 1;
        // Below the floor in force only on the way up to it (a step limit may ramp), or when
        // the budget cannot pay for the floor (the budget is the hard cap).
        if n > p.max_tasks || (n < floor && n <= cur && p.affordable(floor)) {
            let hi = p.max_tasks;
            inv.violate(Invariant::DesiredOutOfBounds, now, || {
                format!("desired {n} (from {cur}) outside [{floor}, {hi}]")
            });
        }
        let busy = self
            .active
            .iter()
            .filter(|&&t| !self.tasks[t].jobs.is_empty())
            .count() as u32;
        // Over the budget is excused only for a scale-in that stops at the workers holding a
        // job: the budget never has a busy worker stopped (never-below-busy wins).
        if let Some(budget) = p.budget_per_hour_usd
            && !p.affordable(n)
            && !(n < cur && n <= busy)
        {
            let rate = p.instances_price_per_hour_usd(n);
            inv.violate(Invariant::OverBudget, now, || {
                format!("desired {n} needs instances at {rate:.3} $/h > budget {budget} $/h")
            });
        }
        // A stale count is missing data when the scale-in needed what it hid: the busy workers
        // and one for each job the usual read shows waiting. A scale-in that keeps those lost
        // nothing to the old count (and any policy scales in on counts of some age: SQS's are
        // eventually consistent).
        let stale_harm = self.stale_waiting.is_some_and(|waiting| {
            let for_waiting = waiting.div_ceil(u64::from(p.jobs_per_task.max(1)));
            u64::from(n) < u64::from(busy) + for_waiting
        });
        let missing = self
            .last_obs_missing
            .split('+')
            .filter(|m| !m.is_empty() && (*m != "queue (stale)" || stale_harm))
            .collect::<Vec<_>>()
            .join("+");
        if n < cur && !missing.is_empty() {
            inv.violate(Invariant::ScaleInOnMissingData, now, || {
                format!("scale-in {cur} → {n} with {missing} unreadable")
            });
        }
        // Judged on the workers some read could show busy: protected, or holding a job taken
        // before the SQS count read this tick (its in-flight count shows it). A job taken
        // since, by a worker that protects late or never, no read shows; stopping that worker
        // is counted apart (`hidden_busy_stops`), as the world's lag, not the policy's choice.
        if n < shown_busy {
            inv.violate(Invariant::BelowBusyWorkers, now, || {
                format!("desired {n} below {shown_busy} busy workers")
            });
        }
        // Churn is a worker let go and wanted back within a boot time (the break-even rule of docs/peers.md): an applied
        // change undone within one cold start although nothing happened that asks for it is a
        // flap. A scale-in undone needs a job that arrived or came back; a scale-out undone
        // needs a job that started or finished (the work it was for went elsewhere).
        let settle_s = self.sim.cold_start_s();
        // A change made on a tick whose reads were stale or missing, or undoing one on such a
        // tick, is excused: the controller acted on what it could see, and a scale-in on such
        // data is `ScaleInOnMissingData`'s business.
        if n != cur
            && let Some(c) = self.last_change
            && !c.on_faulty_read
            && !self.last_obs_stale
            && self.last_obs_missing.is_empty()
            && now - c.at_s <= settle_s
            && (c.to > c.from) != (n > cur)
        {
            let unexplained = if n > cur {
                demand == c.demand
            } else {
                served == c.served
            };
            if unexplained {
                inv.violate(Invariant::RestartFlap, now, || {
                    format!(
                        "{} → {} at {:.0}s undone by {cur} → {n} within a cold start ({settle_s:.0}s) with no job since",
                        c.from, c.to, c.at_s
                    )
                });
            }
        }
        // After a restart, a scale-in below the count found, undone within a cold start, is the
        // controller forgetting why it held the workers (even if demand came meanwhile).
        if let Some(w) = self.restart_watch.as_mut() {
            if now - w.at_s > settle_s {
                self.restart_watch = None;
            } else if n < cur && n < w.desired_at_restart {
                w.scaled_in = true;
            } else if n > cur && w.scaled_in {
                let (at, was) = (w.at_s, w.desired_at_restart);
                self.restart_watch = None;
                inv.violate(Invariant::RestartFlap, now, || {
                    format!(
                        "restart at {at:.0}s (desired {was}): scaled in, then out to {n} within a cold start ({settle_s:.0}s)"
                    )
                });
            }
        }
    }

    /// When the SQS count handed out this tick was true (`sqs_staleness` ago).
    pub(super) fn read_at_s(&self) -> f64 {
        self.snapshots.front().map_or(self.now_s, |r| r.at_s)
    }

    /// Whether some read shows task `t` busy: protected, or holding a job taken by the time of
    /// the SQS count read this tick.
    pub(super) fn shown_busy_task(&self, t: usize) -> bool {
        let read_at_s = self.read_at_s();
        !self.tasks[t].jobs.is_empty()
            && (self.protected(t) || self.tasks[t].jobs.iter().any(|&(_, r)| r <= read_at_s))
    }

    pub(super) fn shown_busy(&self) -> u32 {
        self.active
            .iter()
            .filter(|&&t| self.shown_busy_task(t))
            .count() as u32
    }

    /// Jobs that arrived or came back so far (what asks for a scale-out).
    fn demand_seen(&self) -> u64 {
        self.next_arrival as u64 + self.returned_total
    }

    /// Jobs handed to a worker or finished so far (what lets a scale-out go unused).
    fn served_seen(&self) -> u64 {
        self.dispatched_total + self.deleted_total
    }

    /// Remember an applied change of the desired count, for the flap check.
    fn note_change(&mut self, from: u32, to: u32) {
        if from != to {
            // The counts as of the SQS read this tick's decision acted on.
            let (demand, served) = self
                .snapshots
                .front()
                .map_or((self.demand_seen(), self.served_seen()), |r| {
                    (r.demand, r.served)
                });
            self.last_change = Some(ChangeWatch {
                at_s: self.now_s,
                from,
                to,
                demand,
                served,
                on_faulty_read: self.last_obs_stale || !self.last_obs_missing.is_empty(),
            });
        }
    }

    /// After a scale-out is applied: the instances now holding the service's tasks are what it
    /// bills, and a launch must not take them over the budget (tasks spread thinly over
    /// instances bill more than the per-task share suggests).
    fn check_billed(&mut self) {
        let Some(budget) = self.p.budget_per_hour_usd else {
            return;
        };
        let holding = self
            .live
            .iter()
            .filter(|&&i| self.instances[i].tasks > 0)
            .count() as f64;
        let rate = holding * self.p.price_per_hour_usd;
        self.invariants.checks += 1;
        if rate > budget + 1e-9 {
            let now = self.now_s;
            self.invariants.violate(Invariant::OverBudget, now, || {
                format!("{holding} instances billed at {rate:.3} $/h > budget {budget} $/h")
            });
        }
    }
}

impl World for SimWorld {
    fn services(&self) -> usize {
        1
    }

    async fn observe(&mut self, _service: usize, now_s: f64) -> Observation {
        self.advance_to(now_s);
        self.observation()
    }

    async fn apply(
        &mut self,
        _service: usize,
        actions: &[Action],
        now_s: f64,
    ) -> Result<(), ApplyError> {
        self.advance_to(now_s);
        for a in actions {
            if let Action::SetDesired { desired, reason } = a {
                self.check_decision(*desired);
                if reason.code == crate::core::model::ReasonCode::Budget {
                    self.invariants.budget_capped += 1;
                }
            }
            if let Some(f) = self.faults.as_mut() {
                let api = match a {
                    Action::SetDesired { .. } => "ecs:UpdateService",
                    Action::SetScaleInAfter { .. } => "ecs:UpdateCapacityProvider",
                };
                let (throttle, error) = (f.cfg.throttle_rate, f.cfg.api_error_rate);
                if f.chance(throttle) {
                    f.counts.apply_throttles += 1;
                    return Err(ApplyError::Throttled {
                        api: api.to_string(),
                        message: "Rate exceeded (injected)".to_string(),
                    });
                }
                if f.chance(error) {
                    f.counts.apply_errors += 1;
                    return Err(ApplyError::Failed {
                        api: api.to_string(),
                        message: "InternalError (injected)".to_string(),
                    });
                }
            }
            match a {
                Action::SetDesired { desired, .. } => {
                    let from = self.desired;
                    self.set_desired(*desired);
                    self.note_change(from, *desired);
                    if *desired > from {
                        self.check_billed();
                    }
                }
                // Applies to instances that go idle from now on (whether ECS resets running
                // timers is undocumented; docs/simulator.md).
                Action::SetScaleInAfter { seconds, .. } => self.scale_in_after_s = *seconds,
            }
        }
        Ok(())
    }

    fn finished(&self, now_s: f64) -> bool {
        let drained = self.next_arrival == self.jobs.len()
            && self.queue.is_empty()
            && self.returning == 0
            && self.active.iter().all(|&t| self.tasks[t].jobs.is_empty());
        drained || now_s > self.end_limit_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::job::Job;
    use crate::core::model::{MinuteSums, QueueMetrics};

    fn world(sim: SimConfig, jobs: &[Job]) -> SimWorld {
        let p = SimService::for_tests(10);
        SimWorld::new(p, sim, jobs, 0.0, false)
    }

    fn jobs() -> Vec<Job> {
        (0..40)
            .map(|i| Job {
                arrival_s: 20.0 + f64::from(i) * 37.0,
                service_s: 200.0,
            })
            .collect()
    }

    /// Issue #8: no policy gets information the AWS world cannot provide. Every `Observation`
    /// (and `TaskInfo`) field is taken apart here, so a new field does not compile until it is
    /// pinned to the production read that returns it.
    #[test]
    fn every_observed_field_is_what_a_production_read_returns() {
        let sim = SimConfig::default();
        let js = jobs();
        let mut w = world(sim.clone(), &js);
        w.set_desired(3);
        let mut t = 0.0;
        let mut saw_minutes = false;
        while t < 3600.0 {
            w.advance_to(t);
            let truth = w.depth();
            let Observation {
                queue,
                metrics,
                service,
                tasks,
                instances,
                scale_in_after_s,
            } = w.observation();
            // queue: GetQueueAttributes, `sqs_staleness` old (never fresher than the truth
            // allows: at t ≥ staleness it is the count of an earlier tick, not this one's).
            let q = queue.expect("SQS read");
            if t >= sim.sqs_staleness_s + 15.0 && truth != q {
                assert!(w.snapshots.iter().any(|snap| snap.depth == q));
            }
            // metrics: GetMetricData minute sums, each readable only `cloudwatch_delay` after
            // its minute closes, equal to the messages sent and deleted in that minute.
            let QueueMetrics { minutes } = metrics.expect("CloudWatch read");
            for MinuteSums {
                minute_start_s,
                sent,
                deleted,
            } in minutes
            {
                let (a, b) = (minute_start_s as f64, minute_start_s as f64 + 60.0);
                assert!(b + sim.cloudwatch_delay_s <= t, "minute {a} read at {t}");
                let true_sent = js.iter().filter(|j| j.arrival_s >= a && j.arrival_s < b);
                assert_eq!(sent, true_sent.count() as u64);
                let true_deleted = w
                    .jobs
                    .iter()
                    .filter(|j| j.end_s.is_some_and(|e| e >= a && e < b))
                    .count();
                assert_eq!(deleted, true_deleted as u64);
                saw_minutes |= sent > 0;
            }
            // service: DescribeServices; instances: ListContainerInstances +
            // DescribeContainerInstances; scale_in_after_s: DescribeCapacityProviders.
            assert!(service.is_some() && instances.is_some() && scale_in_after_s.is_some());
            // tasks: ListTasks + DescribeTasks, `busy` from GetTaskProtection. No read says
            // when a task went idle: that stays unknown.
            for TaskInfo {
                id: _,
                phase: _,
                created_at_s: _,
                started_at_s: _,
                cold: _,
                busy,
                idle_since_s,
            } in tasks.expect("ECS task read")
            {
                assert!(busy.is_some(), "worker protection is on");
                assert_eq!(idle_since_s, None);
            }
            t += 15.0;
        }
        assert!(saw_minutes);
        // SQS-only: CloudWatch is withheld entirely.
        let mut w = world(
            SimConfig {
                cloudwatch_metrics: false,
                ..sim
            },
            &js,
        );
        w.advance_to(600.0);
        assert_eq!(w.observation().metrics, None);
    }
}
