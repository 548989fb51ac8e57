//! The guards `decide` applies to a sized target, as an explicit ordered list of small
//! functions, each with its reason: bounds and caps first, the two safety guards (no scale-in
//! on missing data, never below the busy workers) last, so that nothing can override them.
//! Sizing and holding are `decide.rs`'s; this file only bounds what they produced.

use crate::core::config::ServiceConfig;
use crate::core::decide::budget_cap_tasks;
use crate::core::model::{Observation, ReasonCode};

/// What every guard may look at: the config, this tick's observation, the count in effect and
/// the busy floor.
pub struct GuardInput<'a> {
    pub cfg: &'a ServiceConfig,
    pub obs: &'a Observation,
    pub now_s: f64,
    pub current: Option<u32>,
    pub busy: u32,
    /// Idle workers that may have taken a job since the queue was read (the counts lag, and a
    /// worker may protect itself late or never): a scale-in keeps them too.
    pub maybe_busy: u32,
    /// Whether this tick's reads support a scale-in (`Observation::complete_for_scale_in`): every read
    /// in, and the queue count not visibly behind.
    pub scale_in_ok: bool,
}

/// The target as the guards pass it along, with the reason code of the last guard that moved
/// it and a note from each that did.
pub struct Guarded {
    pub target: u32,
    pub code: ReasonCode,
    pub notes: Vec<String>,
}

impl Guarded {
    fn set(&mut self, target: u32, code: Option<ReasonCode>, note: String) {
        self.target = target;
        if let Some(c) = code {
            self.code = c;
        }
        self.notes.push(note);
    }
}

pub type Guard = fn(&GuardInput, &mut Guarded);

/// The guards, in the order they apply to the sized target. Bounds and caps first; the two
/// safety guards last, so that no cap, step or budget can undo them: a cap may lower a
/// scale-out, and may scale in on a complete observation, but never below the busy workers
/// and never on missing data (issue #10: the caps used to run after the missing-data hold).
pub const GUARDS: [(&str, Guard); 7] = [
    ("floor", floor_guard),
    ("max_tasks", max_tasks_guard),
    ("busy_workers_keep_their_slots", busy_scale_out_guard),
    ("max_step", max_step_guard),
    ("budget", budget_guard),
    ("no_scale_in_on_missing_data", missing_data_guard),
    ("never_below_busy", never_below_busy_guard),
];

/// min_tasks and the schedule floor in effect now.
fn floor_guard(i: &GuardInput, g: &mut Guarded) {
    let floor = i.cfg.floor_at(i.now_s);
    if g.target < floor {
        g.set(floor, Some(ReasonCode::Bounds), format!("floor {floor}"));
    }
}

/// The configured ceiling.
fn max_tasks_guard(i: &GuardInput, g: &mut Guarded) {
    if g.target > i.cfg.max_tasks {
        let note = format!("max_tasks {}", i.cfg.max_tasks);
        g.set(i.cfg.max_tasks, Some(ReasonCode::Bounds), note);
    }
}

/// A worker holding a job needs its slot: size up to the busy count (within max_tasks).
fn busy_scale_out_guard(i: &GuardInput, g: &mut Guarded) {
    if g.target < i.busy {
        let note = format!("{} workers hold a job", i.busy);
        g.set(
            i.busy.min(i.cfg.max_tasks),
            Some(ReasonCode::BusyFloor),
            note,
        );
    }
}

/// At most `max_step` tasks up or down per tick.
fn max_step_guard(i: &GuardInput, g: &mut Guarded) {
    if let Some(cur) = i.current {
        let lo = cur.saturating_sub(i.cfg.max_step);
        let hi = cur.saturating_add(i.cfg.max_step);
        if g.target < lo || g.target > hi {
            let note = format!("max_step {}", i.cfg.max_step);
            // The step limit slows a change, but never keeps a count above max_tasks (a hard
            // cap: GPU quota), even one someone else set.
            g.set(g.target.clamp(lo, hi).min(i.cfg.max_tasks), None, note);
        }
    }
}

/// The hourly budget: the hard cap on what preheat adds (the safety guards below still keep
/// busy workers and hold on missing data).
fn budget_guard(i: &GuardInput, g: &mut Guarded) {
    if let Some(budget) = i.cfg.budget_per_hour_usd {
        let cap = budget_cap_tasks(i.cfg, budget);
        if g.target > cap {
            let note = format!("budget {budget} $/h pays for {cap} tasks");
            g.set(cap, Some(ReasonCode::Budget), note);
        }
    }
}

/// Safety: no scale-in unless the queue, the service and the tasks were all read this tick and
/// the queue count is not visibly behind.
fn missing_data_guard(i: &GuardInput, g: &mut Guarded) {
    if let Some(cur) = i.current
        && g.target < cur
        && !i.scale_in_ok
    {
        let note = "a read failed or the queue count lags: no scale-in".to_string();
        g.set(cur, Some(ReasonCode::MissingData), note);
    }
}

/// Safety: a scale-in never goes below the workers holding a job (ECS would stop busy tasks
/// that are not protected). It never raises the count above the one in effect: that is a
/// scale-out, which the caps above may refuse.
fn never_below_busy_guard(i: &GuardInput, g: &mut Guarded) {
    let floor = i.busy.saturating_add(i.maybe_busy);
    if let Some(cur) = i.current
        && g.target < cur
        && g.target < floor
    {
        let note = if i.maybe_busy == 0 {
            format!("{} workers hold a job: no scale-in below them", i.busy)
        } else {
            format!(
                "{} workers hold a job and {} more may have taken one since the counts were read: no scale-in below them",
                i.busy, i.maybe_busy
            )
        };
        g.set(floor.min(cur), Some(ReasonCode::BusyFloor), note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order is the safety argument: the two safety guards come last.
    #[test]
    fn safety_guards_run_last() {
        let names: Vec<&str> = GUARDS.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            &names[names.len() - 2..],
            ["no_scale_in_on_missing_data", "never_below_busy"]
        );
    }

    fn run(input: &GuardInput, target: u32) -> Guarded {
        let mut g = Guarded {
            target,
            code: ReasonCode::Forecast,
            notes: Vec::new(),
        };
        for (_, guard) in GUARDS {
            guard(input, &mut g);
        }
        g
    }

    /// The caps lower the target; the safety guards after them take back any part of that
    /// which would be a scale-in on missing data or below the busy workers.
    #[test]
    fn caps_never_scale_in_on_missing_data_or_below_busy() {
        use crate::core::config::{Config, DEFAULT_CONFIG_YAML};
        use crate::core::model::{QueueDepth, ServiceCounts};
        let mut cfg = Config::parse(DEFAULT_CONFIG_YAML, "t").unwrap().services[0].clone();
        cfg.floors.clear();
        cfg.max_tasks = 5;
        let per_task_h = cfg.price.per_hour_usd() / f64::from(cfg.tasks_per_instance.max(1));
        cfg.budget_per_hour_usd = Some(3.5 * per_task_h); // 3 tasks
        let complete = Observation {
            queue: Some(QueueDepth::default()),
            service: Some(ServiceCounts::default()),
            tasks: Some(Vec::new()),
            ..Observation::default()
        };
        let incomplete = Observation {
            tasks: None,
            ..complete.clone()
        };
        let input = |obs, busy| GuardInput {
            cfg: &cfg,
            obs,
            now_s: 0.0,
            current: Some(10),
            busy,
            maybe_busy: 0,
            scale_in_ok: Observation::complete_for_scale_in(obs),
        };
        // Complete, nobody busy: the budget (3) wins.
        assert_eq!(run(&input(&complete, 0), 10).target, 3);
        // Complete, 4 busy: the budget stops at the busy workers.
        let g = run(&input(&complete, 4), 10);
        assert_eq!((g.target, g.code), (4, ReasonCode::BusyFloor));
        // Workers that may have taken a job since the read count as busy for a scale-in.
        let lagging = GuardInput {
            maybe_busy: 2,
            ..input(&complete, 4)
        };
        let g = run(&lagging, 10);
        assert_eq!((g.target, g.code), (6, ReasonCode::BusyFloor));
        // Incomplete: no scale-in at all, caps or not.
        let g = run(&input(&incomplete, 0), 10);
        assert_eq!((g.target, g.code), (10, ReasonCode::MissingData));
        // Busy workers raise a target below them, even above the count in effect (a scale-out
        // the safety guard alone, which only limits scale-ins, would not make).
        let few = GuardInput {
            current: Some(1),
            ..input(&complete, 3)
        };
        let g = run(&few, 0);
        assert_eq!((g.target, g.code), (3, ReasonCode::BusyFloor));
        // A scale-out is still capped.
        let up = GuardInput {
            current: Some(1),
            ..input(&complete, 0)
        };
        assert_eq!(run(&up, 9).target, 3);
    }
}
