//! Tests of the guards of `core::decide`: schedule floors and the budget that bind, reads
//! that block a scale-in, and the `guards_hold` property test over generated observations
//! (task lists with busy flags, floors, budgets below `max_tasks`, step limits). The sizing
//! itself is tested beside it in `decide.rs`.

use crate::core::config::Floor;
use crate::core::decide::tests::{cfg, desired_of, obs};
use crate::core::decide::{CoreState, budget_cap_tasks, decide};
use crate::core::model::{
    MinuteSums, Observation, QueueDepth, QueueMetrics, ReasonCode, ServiceCounts, TaskInfo,
    TaskPhase,
};
use proptest::prelude::*;

fn always(min_tasks: u32) -> Floor {
    Floor {
        days: (0..7).collect(),
        from_s_of_day: 0,
        to_s_of_day: 86_400,
        min_tasks,
    }
}

/// Scale in from 4 idle workers for an hour of ticks, with `tweak` applied to each
/// observation; the count reached at the end.
fn idle_hour(tweak: impl Fn(u32, &mut Observation)) -> u32 {
    let c = cfg();
    let mut st = CoreState::new(&c);
    decide(&c, 15.0, &mut st, &obs(4, 0, 0), 0.0);
    let mut last = 4;
    for i in 0..240 {
        let mut o = obs(0, 0, last);
        o.tasks = Some(Vec::new());
        tweak(i, &mut o);
        let d = decide(&c, 15.0, &mut st, &o, 60.0 + f64::from(i) * 15.0);
        if let Some(n) = desired_of(&d) {
            last = n;
        }
    }
    last
}

/// Partial reads block a scale-in: a failed task or queue read holds the count. A message in
/// flight with no protected task is a busy worker (the busy floor counts in-flight messages):
/// the scale-in keeps that one worker.
#[test]
fn partial_reads_block_scale_in() {
    assert_eq!(
        idle_hour(|_, _| {}),
        0,
        "control: idle workers are released"
    );
    assert_eq!(idle_hour(|_, o| o.tasks = None), 4);
    assert_eq!(idle_hour(|_, o| o.queue = None), 4);
    let hidden = |_, o: &mut Observation| {
        o.queue = Some(QueueDepth {
            visible: 0,
            in_flight: 1,
            delayed: 0,
        });
    };
    // A message in flight that no protected task holds: workers protect late or never, so
    // one idle worker is kept beside it too (it may have taken a job since the read).
    assert_eq!(idle_hour(hidden), 2);
}

/// Schedule floors bind: an idle queue under a floor of 3 gets 3 workers, and keeps them.
#[test]
fn floors_bind_on_an_idle_queue() {
    let mut c = cfg();
    c.floors = vec![always(3)];
    let mut st = CoreState::new(&c);
    let d = decide(&c, 15.0, &mut st, &obs(0, 0, 0), 0.0);
    assert_eq!(desired_of(&d), Some(3), "{}", d.why);
    assert_eq!(d.why.code, ReasonCode::Bounds);
    for i in 1..200 {
        let mut o = obs(0, 0, 3);
        o.tasks = Some(Vec::new());
        let d = decide(&c, 15.0, &mut st, &o, f64::from(i) * 15.0);
        assert_eq!(desired_of(&d), None, "{}", d.why);
    }
}

/// The budget binds below `max_tasks`: a big backlog gets what 3.5 instances' worth buys.
#[test]
fn budget_binds_below_max_tasks() {
    let mut c = cfg();
    c.budget_per_hour_usd = Some(c.price.per_hour_usd() * 3.5);
    let mut st = CoreState::new(&c);
    let d = decide(&c, 15.0, &mut st, &obs(50, 0, 0), 0.0);
    assert_eq!(desired_of(&d), Some(3), "{}", d.why);
    assert_eq!(d.why.code, ReasonCode::Budget);
}

/// `max_tasks` binds on its own (with the default budget, 8 $/h buys exactly `max_tasks`, so
/// the budget cap hid a missing `max_tasks` cap).
#[test]
fn max_tasks_binds_without_a_budget() {
    let mut c = cfg();
    c.budget_per_hour_usd = None;
    c.max_tasks = 5;
    let mut st = CoreState::new(&c);
    let d = decide(&c, 15.0, &mut st, &obs(50, 0, 0), 0.0);
    assert_eq!(desired_of(&d), Some(5), "{}", d.why);
    // A count found above max_tasks (someone else set it) is brought under it at once.
    let mut o = obs(50, 0, 9);
    o.tasks = Some(Vec::new());
    let d = decide(&c, 15.0, &mut st, &o, 15.0);
    assert_eq!(desired_of(&d), Some(5), "{}", d.why);
    assert_eq!(d.why.code, ReasonCode::Bounds);
}

/// Regression (issue #14, found by `guards_hold` once it ran without a budget): a count above
/// `max_tasks` (set by someone else) came down one step at a time, staying above the cap.
#[test]
fn max_tasks_wins_over_the_step_limit() {
    let mut c = cfg();
    c.budget_per_hour_usd = None;
    c.max_step = 1;
    let mut st = CoreState::new(&c);
    let mut o = obs(50, 0, 12);
    o.tasks = Some(Vec::new());
    let d = decide(&c, 15.0, &mut st, &o, 0.0);
    assert_eq!(desired_of(&d), Some(c.max_tasks), "{}", d.why);
}

/// Regression (issue #14, OverBudget priced from instances): with two tasks per instance a
/// 1.5-instance budget pays for one instance, so two tasks, not three.
#[test]
fn budget_buys_whole_instances() {
    let mut c = cfg();
    c.tasks_per_instance = 2;
    c.budget_per_hour_usd = Some(c.price.per_hour_usd() * 1.5);
    assert_eq!(budget_cap_tasks(&c, c.budget_per_hour_usd.unwrap()), 2);
    let mut st = CoreState::new(&c);
    let d = decide(&c, 15.0, &mut st, &obs(50, 0, 0), 0.0);
    assert_eq!(desired_of(&d), Some(2), "{}", d.why);
}

/// One generated tick: queue (visible, in flight, delayed), service desired, per-task busy
/// flags, counters read or not, arrivals and completions since the last tick.
type Tick = (
    Option<(u64, u64, u64)>,
    Option<u32>,
    Option<Vec<bool>>,
    bool,
    u64,
    u64,
);

fn tick_strategy() -> impl Strategy<Value = Tick> {
    (
        proptest::option::weighted(0.8, (0u64..40, 0u64..12, 0u64..3)),
        proptest::option::weighted(0.8, 0u32..12),
        proptest::option::weighted(0.8, proptest::collection::vec(any::<bool>(), 0..12)),
        proptest::bool::weighted(0.8),
        0u64..10,
        0u64..10,
    )
}

proptest! {
    /// Guards hold for arbitrary observations, floors, budgets below `max_tasks` and step
    /// limits: within [0, max] and the budget, never a step beyond `max_step` (but for the
    /// budget cap), never a write without the service read, never a scale-in on
    /// incomplete scale-in data (but down to the budget cap), and the floor and the busy
    /// workers kept as far as the budget and the step limit allow. The budget stops short of
    /// the busy workers: a scale-in it asks for ends at them.
    #[test]
    fn guards_hold(
        steps in proptest::collection::vec(tick_strategy(), 1..60),
        floor in 0u32..6,
        budget_instances in proptest::option::weighted(0.8, 1u32..8),
        max_step in 1u32..8,
    ) {
        let mut c = cfg();
        c.floors = vec![always(floor)];
        c.max_step = max_step;
        // Mostly a budget below max_tasks (so it binds), sometimes none (so max_tasks does).
        c.budget_per_hour_usd =
            budget_instances.map(|b| c.price.per_hour_usd() * (f64::from(b) + 0.5));
        let cap = c
            .budget_per_hour_usd
            .map_or(c.max_tasks, |b| budget_cap_tasks(&c, b));
        prop_assert!(cap <= c.max_tasks);
        let mut st = CoreState::new(&c);
        let (mut sent, mut deleted) = (0u64, 0u64);
        for (i, (q, desired, busy_flags, counters, ds, dd)) in steps.into_iter().enumerate() {
            sent += ds;
            deleted = (deleted + dd).min(sent);
            let tasks = busy_flags.as_ref().map(|flags| {
                flags
                    .iter()
                    .enumerate()
                    .map(|(k, &b)| TaskInfo {
                        id: k as u64,
                        phase: TaskPhase::Running,
                        created_at_s: 0.0,
                        started_at_s: Some(1.0),
                        cold: Some(false),
                        busy: Some(b),
                        idle_since_s: (!b).then_some(1.0),
                    })
                    .collect::<Vec<_>>()
            });
            let o = Observation {
                queue: q.map(|(v, f, d)| QueueDepth { visible: v, in_flight: f, delayed: d }),
                metrics: counters.then_some(QueueMetrics { minutes: vec![MinuteSums { minute_start_s: i as i64 * 60, sent: ds, deleted: dd }] }),
                service: desired.map(|d| ServiceCounts { desired: d, running: d, pending: 0 }),
                tasks,
                instances: None,
                scale_in_after_s: None,
            };
            let now = i as f64 * 15.0;
            let d = decide(&c, 15.0, &mut st, &o, now);
            prop_assert!(d.wake_at_s > now);
            let Some(n) = desired_of(&d) else { continue };
            let Some(cur) = desired else {
                prop_assert!(false, "wrote {n} without the service read: {}", d.why);
                continue;
            };
            // Above the budget only as a scale-in that stops at the workers holding a job: the
            // budget never makes ECS stop a busy worker (never-below-busy runs last).
            let busy_floor = o.busy_tasks(c.jobs_per_task).unwrap_or(0);
            let held_for_busy = n < cur && n <= busy_floor;
            prop_assert!(n <= c.max_tasks || held_for_busy, "{n} > max_tasks: {}", d.why);
            prop_assert!(n <= cap || held_for_busy, "{n} > cap {cap} (busy {busy_floor}): {}", d.why);
            prop_assert!(
                n.abs_diff(cur) <= max_step || n == cap || held_for_busy,
                "{cur} → {n}: {}",
                d.why
            );
            if !o.complete_for_scale_in() {
                prop_assert!(n >= cur.min(cap), "scale-in {cur} → {n} on incomplete data: {}", d.why);
            }
            let reachable = |want: u32| want.min(cap).min(cur.saturating_add(max_step));
            prop_assert!(n >= reachable(floor), "{n} below floor {floor} (from {cur}): {}", d.why);
            if let Some(flags) = &busy_flags {
                let busy = flags.iter().filter(|&&b| b).count() as u32;
                prop_assert!(n >= reachable(busy), "{n} below {busy} busy (from {cur}): {}", d.why);
            }
        }
    }
}
