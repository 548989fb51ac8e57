//! preheat's own running estimate of its SLO attainment (the share of jobs that started within
//! the SLO wait), from nothing but what production reads each tick: SQS's approximate counts
//! and CloudWatch's per-minute `NumberOfMessagesSent` / `…Deleted` sums once published. SQS gives
//! no message ages, so the waits are reconstructed.
//!
//! Method (docs/attainment.md): under first-in-first-out service the jobs waiting at any time
//! are the latest arrivals. So the job numbered n on the cumulative arrivals curve A(t), which
//! arrived at a, is still waiting at a + max_wait exactly when more jobs wait then than arrived
//! after it: V(a + max_wait) > A(a + max_wait) − n (the horizontal distance between the
//! arrivals curve and the starts curve A − V exceeds the SLO). A comes from the published sent
//! sums (spread evenly over their minute); a stretch whose minutes are overdue, or a queue
//! without CloudWatch, falls back on the SQS counts' growth plus the jobs finished meanwhile
//! (in flight × elapsed ÷ the service time the minute sums showed, or the configured prior).
//! SQS counts are taken as `COUNT_LAG_S` old. Verdicts come a few minutes after the deadline
//! they judge (when the minute sums are in). Pure: the loop (telemetry), the simulator and the
//! strict hold's feedback (`feedback.rs`) feed it observations.

use crate::core::model::{METRICS_LOOKBACK_S, Observation};
use crate::core::observed::METRICS_OVERDUE_S;
use std::collections::{BTreeMap, VecDeque};

/// The rolling window the estimate is given over (besides since start).
pub const WINDOW_S: f64 = 3600.0;

/// How old SQS's approximate counts are taken to be when read. The API reference says they may
/// not settle until about a minute after producers stop; the simulator's `sqs_staleness`
/// takes the middle of that window, and so does this (docs/attainment.md measures the error
/// if it is wrong).
pub const COUNT_LAG_S: f64 = 30.0;

/// Deleted counts needed before the learned service time replaces the prior.
const MIN_DELETED_FOR_SERVICE: f64 = 20.0;

/// A share of the arrivals of a stretch, waiting for its verdict.
#[derive(Debug, Clone, Copy)]
struct Pending {
    arrival_s: f64,
    /// Its number on the arrivals curve.
    n: f64,
    weight: f64,
}

/// The estimator's state; feed it every tick with `observe`.
#[derive(Debug, Clone)]
pub struct AttainmentEstimator {
    max_wait_s: f64,
    count_lag_s: f64,
    service_prior_s: f64,
    /// Arrivals are known up to here (the curve's end).
    final_s: Option<f64>,
    /// The arrivals curve's final segments (from, to, cumulative at from, count), trimmed to
    /// what pending verdicts need.
    curve: VecDeque<(f64, f64, f64, f64)>,
    arrived: f64,
    /// SQS estimates below zero not yet set against later ones.
    fallback_debt: f64,
    /// Published minutes not yet used, by start: (sent, deleted).
    minutes: BTreeMap<i64, (u64, u64)>,
    last_metrics_s: Option<f64>,
    /// SQS arrival estimates not yet used: (from, to, count), on the counts' own time.
    held: VecDeque<(f64, f64, f64)>,
    /// The last SQS read: (its time, waiting, in flight, all), on the counts' own time.
    last_read: Option<(f64, f64, f64, f64)>,
    /// Waiting counts by the time they describe, trimmed to what pending verdicts need.
    waiting: VecDeque<(f64, f64)>,
    pending: VecDeque<Pending>,
    /// Verdicts by arrival time: (arrival, weight, weight that met the SLO).
    recent: VecDeque<(f64, f64, f64)>,
    total: (f64, f64),
    /// Busy time and deletions over published minutes, for the fallback's service time.
    busy_s: f64,
    deleted: f64,
    /// In-flight counts by time, for the busy time of published minutes.
    in_flight: VecDeque<(f64, f64)>,
}

impl AttainmentEstimator {
    /// `max_wait_s`: the SLO's wait; `service_prior_s`: the configured service time, used
    /// until published minute sums show the real one.
    pub fn new(max_wait_s: f64, service_prior_s: f64) -> Self {
        Self::with_count_lag(max_wait_s, service_prior_s, COUNT_LAG_S)
    }

    /// The same, with SQS counts taken as `count_lag_s` old.
    pub fn with_count_lag(max_wait_s: f64, service_prior_s: f64, count_lag_s: f64) -> Self {
        AttainmentEstimator {
            max_wait_s,
            count_lag_s: count_lag_s.max(0.0),
            service_prior_s: service_prior_s.max(1.0),
            final_s: None,
            curve: VecDeque::new(),
            arrived: 0.0,
            fallback_debt: 0.0,
            minutes: BTreeMap::new(),
            last_metrics_s: None,
            held: VecDeque::new(),
            last_read: None,
            waiting: VecDeque::new(),
            pending: VecDeque::new(),
            recent: VecDeque::new(),
            total: (0.0, 0.0),
            busy_s: 0.0,
            deleted: 0.0,
            in_flight: VecDeque::new(),
        }
    }

    /// Share of the jobs judged so far that started within the SLO, since start; `None`
    /// before the first verdict.
    pub fn since_start(&self) -> Option<f64> {
        (self.total.0 > 0.0).then(|| self.total.1 / self.total.0)
    }

    /// The same over jobs that arrived in the last `WINDOW_S` before the last observation.
    pub fn last_window(&self) -> Option<f64> {
        let (w, hit) = self
            .recent
            .iter()
            .fold((0.0, 0.0), |(w, h), &(_, a, b)| (w + a, h + b));
        (w > 0.0).then(|| hit / w)
    }

    /// Jobs judged so far and those of them that started within the SLO.
    pub fn totals(&self) -> (f64, f64) {
        self.total
    }

    /// Jobs judged so far (shares of a minute's arrivals may be fractions of a job).
    pub fn judged_jobs(&self) -> f64 {
        self.total.0
    }

    fn service_s(&self) -> f64 {
        if self.deleted >= MIN_DELETED_FOR_SERVICE {
            (self.busy_s / self.deleted).max(1.0)
        } else {
            self.service_prior_s
        }
    }

    /// Take one tick's reads.
    pub fn observe(&mut self, obs: &Observation, now_s: f64) {
        if let Some(q) = obs.queue {
            let t = now_s - self.count_lag_s;
            let waiting = (q.visible + q.delayed) as f64;
            let in_flight = q.in_flight as f64;
            let all = waiting + in_flight;
            if let Some((t0, _, f0, all0)) = self.last_read
                && t > t0
            {
                let finished = f0 * (t - t0) / self.service_s();
                self.held.push_back((t0, t, all - all0 + finished));
            }
            self.last_read = Some((t, waiting, in_flight, all));
            self.waiting.push_back((t, waiting));
            self.in_flight.push_back((t, in_flight));
        }
        // The curve starts at a whole minute, where the minute sums start too (jobs already
        // waiting then have unknown ages and are not judged).
        let final_s = *self
            .final_s
            .get_or_insert(((now_s - self.count_lag_s) / 60.0).ceil() * 60.0);
        if let Some(m) = &obs.metrics {
            self.last_metrics_s = Some(now_s);
            for minute in &m.minutes {
                if (minute.minute_start_s as f64) + 60.0 > final_s {
                    self.minutes
                        .insert(minute.minute_start_s, (minute.sent, minute.deleted));
                }
            }
        }
        // How far arrivals are known: with CloudWatch answering, up to the last minute that
        // is published or overdue (and the SQS counts read for it); without it (SQS-only, or
        // failing longer than a datapoint may be late) to the last whole minute the counts
        // cover.
        let read_s = self.last_read.map_or(final_s, |r| r.0);
        let live = self
            .last_metrics_s
            .is_some_and(|t| now_s - t <= METRICS_OVERDUE_S);
        let upto_s = if live {
            let mut m = (final_s / 60.0).floor() * 60.0;
            while m + 60.0 <= read_s
                && (self.minutes.contains_key(&(m as i64)) || m < now_s - METRICS_OVERDUE_S)
            {
                m += 60.0;
            }
            m.max(final_s)
        } else {
            // Whole minutes too: a job's finish, estimated from the service time, and its
            // leaving the counts fall in different ticks but mostly in the same minute, so
            // netting them per minute invents fewer arrivals.
            ((read_s / 60.0).floor() * 60.0).max(final_s)
        };
        self.extend(final_s, upto_s);
        self.final_s = Some(upto_s);
        self.judge(upto_s);
        let keep = ((upto_s - METRICS_LOOKBACK_S - 120.0) / 60.0).floor() as i64 * 60;
        self.minutes = self.minutes.split_off(&keep);
        while self.in_flight.len() > 1 && self.in_flight[1].0 < upto_s - 120.0 {
            self.in_flight.pop_front();
        }
        while self
            .recent
            .front()
            .is_some_and(|&(a, _, _)| a < now_s - WINDOW_S)
        {
            self.recent.pop_front();
        }
    }

    /// Extend the arrivals curve over `[from, to)`, minute by minute: published sent sums, or
    /// the held SQS estimates' share of the stretch.
    fn extend(&mut self, from: f64, to: f64) {
        let mut x = from;
        while x < to {
            let m = (x / 60.0).floor() * 60.0;
            let end = (m + 60.0).min(to);
            let part = end - x;
            let n = match self.minutes.get(&(m as i64)).copied() {
                Some((sent, deleted)) => {
                    if let Some(busy) = self.mean_in_flight(x, end) {
                        self.busy_s += busy * part;
                        self.deleted += deleted as f64 * part / 60.0;
                    }
                    self.fallback_debt = 0.0;
                    sent as f64 * part / 60.0
                }
                None => {
                    // The SQS estimate is signed: a job finishing later than the learned
                    // service time said shows up as fewer jobs than estimated, and that debt
                    // is paid from the next estimates instead of inventing arrivals.
                    let est = self.held_between(x, end) - self.fallback_debt;
                    self.fallback_debt = (-est).max(0.0);
                    est.max(0.0)
                }
            };
            if n > 0.0 {
                self.curve.push_back((x, end, self.arrived, n));
                let shares = n.ceil().max(1.0);
                for k in 0..shares as u32 {
                    let f = (f64::from(k) + 0.5) / shares;
                    self.pending.push_back(Pending {
                        arrival_s: x + part * f,
                        n: self.arrived + n * f,
                        weight: n / shares,
                    });
                }
                self.arrived += n;
            }
            x = end;
        }
        while self.held.front().is_some_and(|&(_, b, _)| b <= to) {
            self.held.pop_front();
        }
    }

    /// The held SQS estimates' share of `[from, to)`.
    fn held_between(&self, from: f64, to: f64) -> f64 {
        let mut n = 0.0;
        for &(a, b, c) in &self.held {
            let overlap = b.min(to) - a.max(from);
            if overlap > 0.0 && b > a {
                n += c * overlap / (b - a);
            }
        }
        n
    }

    fn mean_in_flight(&self, from: f64, to: f64) -> Option<f64> {
        crate::core::observed::mean_over(&self.in_flight, from, to)
    }

    /// Jobs arrived by `t` on the final curve.
    fn arrived_at(&self, t: f64) -> f64 {
        let mut a = self.curve.front().map_or(self.arrived, |s| s.2);
        for &(from, to, base, n) in &self.curve {
            if t >= to {
                a = base + n;
            } else {
                if t > from {
                    a = base + n * (t - from) / (to - from);
                }
                break;
            }
        }
        a
    }

    /// Verdicts for pending jobs whose deadline (arrival + max wait) is final by `upto_s` and
    /// has a count read at or after it.
    fn judge(&mut self, upto_s: f64) {
        while let Some(&j) = self.pending.front() {
            let deadline = j.arrival_s + self.max_wait_s;
            let Some(after) = self.waiting.iter().position(|&(t, _)| t >= deadline) else {
                break;
            };
            if self.waiting[after].0 > upto_s {
                break;
            }
            self.pending.pop_front();
            // The read nearest the deadline (one before it, if closer).
            let k = if after > 0
                && deadline - self.waiting[after - 1].0 < self.waiting[after].0 - deadline
            {
                after - 1
            } else {
                after
            };
            let (t, waiting) = self.waiting[k];
            let missed = waiting > self.arrived_at(t) - j.n + 1e-9;
            let hit = if missed { 0.0 } else { j.weight };
            self.recent.push_back((j.arrival_s, j.weight, hit));
            self.total.0 += j.weight;
            self.total.1 += hit;
            // Drop reads and curve segments no later deadline needs (deadlines come in order).
            while self.waiting.len() > 1 && self.waiting[1].0 <= deadline {
                self.waiting.pop_front();
            }
            while self.curve.len() > 1 && self.curve[0].1 < self.waiting[0].0.min(j.arrival_s) {
                self.curve.pop_front();
            }
        }
        if self.pending.is_empty() {
            // Jobs not yet on the curve arrive after its end: keep the reads from there on.
            while self.waiting.len() > 1 && self.waiting[1].0 <= upto_s {
                self.waiting.pop_front();
            }
            while self.curve.len() > 1 {
                self.curve.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{MinuteSums, QueueDepth, QueueMetrics};

    /// Replays jobs (arrival, start, end) as production would read them: counts every 15 s,
    /// `COUNT_LAG_S` old, and (with CloudWatch) each minute's deleted sum published 2 minutes after it closes.
    fn replay(
        jobs: &[(f64, f64, f64)],
        wait_s: f64,
        cloudwatch: bool,
        until_s: f64,
    ) -> AttainmentEstimator {
        let mut e = AttainmentEstimator::new(wait_s, 30.0);
        let mut t = 0.0;
        while t <= until_s {
            let count =
                |f: &dyn Fn(&(f64, f64, f64)) -> bool| jobs.iter().filter(|j| f(j)).count() as u64;
            let minutes = cloudwatch.then(|| QueueMetrics {
                minutes: (0..)
                    .map(|m: i64| m as f64 * 60.0)
                    .take_while(|&m| m + 60.0 + 120.0 <= t)
                    .map(|m| MinuteSums {
                        minute_start_s: m as i64,
                        sent: count(&|j| j.0 >= m && j.0 < m + 60.0),
                        deleted: count(&|j| j.2 >= m && j.2 < m + 60.0),
                    })
                    .collect(),
            });
            // The counts describe the queue `COUNT_LAG_S` ago, as the estimator assumes.
            let seen = t - COUNT_LAG_S;
            let o = Observation {
                queue: Some(QueueDepth {
                    visible: count(&|j| j.0 <= seen && seen < j.1),
                    in_flight: count(&|j| j.1 <= seen && seen < j.2),
                    delayed: 0,
                }),
                metrics: minutes,
                ..Observation::default()
            };
            e.observe(&o, t);
            t += 15.0;
        }
        e
    }

    /// One job waits 2 min before a worker takes it, another is taken at once: with a 1-min
    /// SLO one of two met it, with a 3-min SLO both did. With CloudWatch's sums the count is
    /// exact; from SQS counts alone the finishes are estimated from the service time, which
    /// may count part of a job twice across a minute boundary (within a quarter here).
    #[test]
    fn waits_are_the_distance_between_the_curves() {
        let jobs = [(10.0, 140.0, 170.0), (610.0, 612.0, 642.0)];
        for (cloudwatch, tolerance) in [(true, 1e-9), (false, 0.25)] {
            for (wait_s, want) in [(60.0, 0.5), (180.0, 1.0)] {
                let e = replay(&jobs, wait_s, cloudwatch, 1500.0);
                let got = e.since_start().expect("two jobs judged");
                assert!(
                    (got - want).abs() <= tolerance,
                    "wait {wait_s}, cw {cloudwatch}: {got}"
                );
                if cloudwatch {
                    assert!((e.judged_jobs() - 2.0).abs() < 1e-9, "{}", e.judged_jobs());
                }
            }
        }
    }

    /// With CloudWatch answering, verdicts wait for the minute sums: a job judged from the
    /// counts alone is not judged before the minutes after its deadline are published.
    #[test]
    fn verdicts_wait_for_published_minutes() {
        let jobs = [(10.0, 20.0, 400.0)];
        let early = replay(&jobs, 60.0, true, 100.0);
        assert_eq!(
            early.since_start(),
            None,
            "minute 1 is not published at 100 s"
        );
        let later = replay(&jobs, 60.0, true, 400.0);
        assert_eq!(later.since_start(), Some(1.0));
    }

    /// The window forgets jobs that arrived more than `WINDOW_S` ago; since start keeps them.
    #[test]
    fn the_window_forgets_old_jobs() {
        let miss = (10.0, 310.0, 340.0);
        let hit = (WINDOW_S + 500.0, WINDOW_S + 505.0, WINDOW_S + 535.0);
        let e = replay(&[miss], 60.0, true, 1000.0);
        assert_eq!(e.last_window(), Some(0.0));
        let e = replay(&[miss, hit], 60.0, true, WINDOW_S + 1000.0);
        assert_eq!(e.last_window(), Some(1.0));
        assert_eq!(e.since_start(), Some(0.5));
    }
}
