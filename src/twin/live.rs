//! Live mode (`preheat twin --serve`): the twin's endpoints in real time, or `speed` times
//! faster, for a `preheat run --endpoint-url` started elsewhere (one or several services, all
//! advanced together).
//!
//! A refresher advances the world to the time the wall clock says (through `TimeMap`) about
//! once a second and freezes a new view, with every time in it moved onto the wall clock, so
//! the controller's own clock, its lag measurements and its CloudWatch windows agree with what
//! it reads. At a speed above 1 every served duration shrinks by that factor while the
//! controller's own settings (tick, SLO, estimates) do not: such a run is a demonstration, not
//! a measurement (lockstep is the measurement). Printing the outcome is the caller's job.

use super::{Shared, lock};
use crate::clock::{Shutdown, unix_now_s};
use crate::core::model::{MinuteSums, QueueMetrics};
use crate::sim::world::wire::WireView;
use crate::world::World;
use std::collections::BTreeMap;
use std::time::Duration;

/// Maps wall-clock seconds to the world's seconds and back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeMap {
    pub wall0_s: f64,
    pub sim0_s: f64,
    /// Simulated seconds per wall-clock second (> 0).
    pub speed: f64,
}

impl TimeMap {
    pub fn sim_at(&self, wall_s: f64) -> f64 {
        self.sim0_s + (wall_s - self.wall0_s) * self.speed
    }

    pub fn wall_at(&self, sim_s: f64) -> f64 {
        self.wall0_s + (sim_s - self.sim0_s) / self.speed
    }
}

/// The view with its times on the wall clock. CloudWatch minutes are summed per wall-clock
/// minute (at speed N, N simulated minutes fall into one).
pub fn to_wall(mut v: WireView, m: &TimeMap) -> WireView {
    v.now_s = m.wall_at(v.now_s);
    for t in &mut v.tasks {
        t.created_s = m.wall_at(t.created_s);
        t.started_s = t.started_s.map(|s| m.wall_at(s));
    }
    for t in v.obs.tasks.iter_mut().flatten() {
        t.created_at_s = m.wall_at(t.created_at_s);
        t.started_at_s = t.started_at_s.map(|s| m.wall_at(s));
    }
    for i in &mut v.instances {
        i.registered_s = m.wall_at(i.registered_s);
    }
    if let Some(q) = &mut v.obs.metrics {
        let mut per_minute: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for s in &q.minutes {
            let wall_min = (m.wall_at(s.minute_start_s as f64) / 60.0).floor() as i64;
            let e = per_minute.entry(wall_min).or_default();
            e.0 += s.sent;
            e.1 += s.deleted;
        }
        *q = QueueMetrics {
            minutes: per_minute
                .into_iter()
                .map(|(min, (sent, deleted))| MinuteSums {
                    minute_start_s: min * 60,
                    sent,
                    deleted,
                })
                .collect(),
        };
    }
    v
}

/// Advance every service's world to wall-clock now and serve the new views.
pub fn refresh(state: &Shared, m: &TimeMap) -> f64 {
    let sim_now = m.sim_at(unix_now_s());
    let mut st = lock(state);
    for w in &mut st.worlds {
        let v = w.sim.wire_view(sim_now);
        w.view = Some(to_wall(v, m));
        w.apply_at_s = sim_now;
    }
    sim_now
}

/// Refresh every `every` until every world has finished or shutdown is requested; returns the
/// world's time at the end.
pub async fn run(state: &Shared, m: &TimeMap, every: Duration, mut shutdown: Shutdown) -> f64 {
    loop {
        let now = refresh(state, m);
        if lock(state).worlds.iter().all(|w| w.sim.finished(now)) {
            return now;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.requested() => return now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_map_both_ways_and_minutes_merge() {
        let m = TimeMap {
            wall0_s: 1_000_000.0,
            sim0_s: 0.0,
            speed: 10.0,
        };
        assert_eq!(m.sim_at(1_000_060.0), 600.0);
        assert_eq!(m.wall_at(600.0), 1_000_060.0);
        let v = WireView {
            now_s: 600.0,
            obs: crate::core::model::Observation {
                metrics: Some(QueueMetrics {
                    minutes: (0..10)
                        .map(|i| MinuteSums {
                            minute_start_s: i * 60,
                            sent: 1,
                            deleted: 2,
                        })
                        .collect(),
                }),
                ..Default::default()
            },
            tasks: Vec::new(),
            instances: Vec::new(),
            cloudwatch: true,
            worker_protection: true,
        };
        let w = to_wall(v, &m);
        assert_eq!(w.now_s, 1_000_060.0);
        // Ten simulated minutes are one minute of wall time (plus a split at the boundary).
        let mins = &w.obs.metrics.unwrap().minutes;
        let sent: u64 = mins.iter().map(|s| s.sent).sum();
        assert_eq!(sent, 10);
        assert!(mins.len() <= 2, "{mins:?}");
        assert!(mins.iter().all(|s| s.minute_start_s % 60 == 0));
    }
}
