//! Turns what production reads return into learner inputs: how many jobs arrived over which
//! interval (for `ArrivalForecaster`) and how long jobs take (for `ServiceTimeLearner`).
//!
//! Two sources, as the AWS world gives them:
//! - CloudWatch minute sums (`Observation::metrics`): exact counts of messages sent and
//!   deleted per minute, but readable only minutes after the minute closes (longer after an
//!   idle queue wakes, none while it is inactive).
//! - SQS approximate counts (`Observation::queue`), read every tick: arrivals are at least the
//!   growth of the queue plus the jobs finished meanwhile (estimated from work in flight and the
//!   learned service time). Immediate but approximate; it cannot see service time.
//!
//! With CloudWatch, each tick's SQS estimate is held back and a minute is learned from its
//! datapoint when one arrives. A stretch whose datapoints are overdue by more than
//! `METRICS_OVERDUE_S` (or never come: an inactive queue) is learned from the held SQS estimates
//! instead, and a datapoint arriving later for it is ignored, so nothing is counted twice.
//! Without CloudWatch (SQS-only: no permission, a denied or failing read) the SQS estimates are
//! learned at once. Leaves sizing to `decide`.

use crate::core::forecast::{ArrivalForecaster, ServiceTimeLearner};
use crate::core::model::{METRICS_LOOKBACK_S, Observation, QueueDepth};
use std::collections::VecDeque;

/// A CloudWatch minute not readable this long after it started is treated as missing: this
/// covers a normal publication delay of one to three minutes, and not the wake delay of an
/// idle queue (up to 15 min), during which the SQS estimate is the better one.
pub const METRICS_OVERDUE_S: f64 = 300.0;

/// What the learner remembers between ticks.
#[derive(Debug, Clone, Default)]
pub struct ObservedCounts {
    /// Arrivals are learned up to here (exclusive).
    cursor_s: Option<f64>,
    /// SQS arrival estimates not yet learned: (from, to, count).
    held: VecDeque<(f64, f64, f64)>,
    /// In-flight messages seen by SQS at each tick, for CloudWatch minutes' busy time.
    in_flight: VecDeque<(f64, f64)>,
    last_depth: Option<(f64, QueueDepth)>,
    /// Last tick a CloudWatch read succeeded.
    last_metrics_s: Option<f64>,
}

fn total(d: QueueDepth) -> f64 {
    (d.visible + d.in_flight + d.delayed) as f64
}

impl ObservedCounts {
    /// Learn from one tick's observation.
    pub fn learn(
        &mut self,
        obs: &Observation,
        now_s: f64,
        arrivals: &mut ArrivalForecaster,
        service: &mut ServiceTimeLearner,
    ) {
        if let Some(q) = obs.queue {
            if let Some((t, p)) = self.last_depth
                && now_s > t
            {
                let finished = p.in_flight as f64 * (now_s - t) / service.estimate_s.max(1.0);
                let arrived = (total(q) - total(p) + finished).max(0.0);
                self.held.push_back((t, now_s, arrived));
            }
            self.last_depth = Some((now_s, q));
            self.in_flight.push_back((now_s, q.in_flight as f64));
            while self
                .in_flight
                .front()
                .is_some_and(|&(t, _)| t < now_s - METRICS_LOOKBACK_S - 60.0)
            {
                self.in_flight.pop_front();
            }
        }
        let cursor = *self.cursor_s.get_or_insert(now_s);
        match &obs.metrics {
            Some(m) => {
                self.last_metrics_s = Some(now_s);
                let mut cursor = cursor;
                for minute in &m.minutes {
                    let start = minute.minute_start_s as f64;
                    if start < cursor {
                        continue; // learned already, from this datapoint or from SQS
                    }
                    if start > cursor {
                        self.learn_held(cursor, start, arrivals);
                    }
                    arrivals.record(minute.sent as f64, start, start + 60.0);
                    if let Some(busy) = self.mean_in_flight(start, start + 60.0) {
                        service.record(busy, minute.deleted as f64, 60.0);
                    }
                    cursor = start + 60.0;
                }
                let overdue = now_s - METRICS_OVERDUE_S;
                if cursor < overdue {
                    self.learn_held(cursor, overdue, arrivals);
                    cursor = overdue;
                }
                self.cursor_s = Some(cursor);
            }
            None => {
                // SQS-only, or CloudWatch failing for longer than a datapoint may be late:
                // learn the SQS estimates now. A short CloudWatch outage just waits.
                let waiting = self
                    .last_metrics_s
                    .is_some_and(|t| now_s - t <= METRICS_OVERDUE_S);
                if !waiting {
                    while let Some((from, to, n)) = self.held.pop_front() {
                        if to > cursor {
                            arrivals.record(n, from.max(cursor), to);
                        }
                    }
                    self.cursor_s = Some(cursor.max(now_s));
                }
            }
        }
    }

    /// Learn the held SQS estimates' share of `[from, to)` as one interval and drop what ends
    /// before `to`.
    fn learn_held(&mut self, from: f64, to: f64, arrivals: &mut ArrivalForecaster) {
        if to <= from {
            return;
        }
        let mut n = 0.0;
        for &(a, b, c) in &self.held {
            let overlap = b.min(to) - a.max(from);
            if overlap > 0.0 && b > a {
                n += c * overlap / (b - a);
            }
        }
        arrivals.record(n, from, to);
        while self.held.front().is_some_and(|&(_, b, _)| b <= to) {
            self.held.pop_front();
        }
    }

    /// Mean in-flight count SQS showed over `[from, to]`, or the last count before it.
    fn mean_in_flight(&self, from: f64, to: f64) -> Option<f64> {
        mean_over(&self.in_flight, from, to)
    }
}

/// Mean of the `(time, value)` samples taken in `[from, to]`, or the last sample before it when
/// none was (a count read every tick, asked about a minute that a failed read left empty).
pub(crate) fn mean_over(samples: &VecDeque<(f64, f64)>, from: f64, to: f64) -> Option<f64> {
    let inside: Vec<f64> = samples
        .iter()
        .filter(|&&(t, _)| t >= from && t <= to)
        .map(|&(_, v)| v)
        .collect();
    if inside.is_empty() {
        return samples
            .iter()
            .rev()
            .find(|&&(t, _)| t < from)
            .map(|&(_, v)| v);
    }
    Some(inside.iter().sum::<f64>() / inside.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{MinuteSums, QueueMetrics};

    fn obs(visible: u64, in_flight: u64, minutes: Option<Vec<(i64, u64, u64)>>) -> Observation {
        Observation {
            queue: Some(QueueDepth {
                visible,
                in_flight,
                delayed: 0,
            }),
            metrics: minutes.map(|v| QueueMetrics {
                minutes: v
                    .into_iter()
                    .map(|(m, sent, deleted)| MinuteSums {
                        minute_start_s: m * 60,
                        sent,
                        deleted,
                    })
                    .collect(),
            }),
            ..Observation::default()
        }
    }

    fn learners() -> (ObservedCounts, ArrivalForecaster, ServiceTimeLearner) {
        (
            ObservedCounts::default(),
            ArrivalForecaster::new(),
            ServiceTimeLearner::new(300.0),
        )
    }

    /// Arrivals reach the forecaster from CloudWatch minute sums only once they are published,
    /// and each minute is counted once however often it is read again.
    #[test]
    fn learns_each_published_minute_once() {
        let (mut o, mut a, mut s) = learners();
        o.learn(&obs(0, 0, Some(vec![])), 0.0, &mut a, &mut s);
        // Five jobs sent in minute 0 sit in the queue; CloudWatch has not published it yet.
        o.learn(&obs(5, 0, Some(vec![])), 60.0, &mut a, &mut s);
        assert_eq!(a.history_s(), 0.0, "nothing learned before the datapoint");
        for t in [180.0, 195.0, 210.0] {
            o.learn(&obs(5, 0, Some(vec![(0, 5, 0)])), t, &mut a, &mut s);
        }
        assert_eq!(a.history_s(), 60.0);
        assert!((a.mean_rate() - 5.0 / 60.0).abs() < 1e-9);
    }

    /// SQS-only: the queue's growth is learned at once as arrivals.
    #[test]
    fn sqs_only_learns_from_queue_growth() {
        let (mut o, mut a, mut s) = learners();
        o.learn(&obs(0, 0, None), 0.0, &mut a, &mut s);
        o.learn(&obs(3, 0, None), 15.0, &mut a, &mut s);
        assert_eq!(a.history_s(), 15.0);
        assert!((a.mean_rate() - 3.0 / 15.0).abs() < 1e-9);
    }

    /// Datapoints that are overdue (an idle queue waking) are replaced by the held SQS
    /// estimates, and the late datapoint is then not counted again.
    #[test]
    fn overdue_minutes_fall_back_to_sqs_without_double_counting() {
        let (mut o, mut a, mut s) = learners();
        o.learn(&obs(0, 0, Some(vec![])), 0.0, &mut a, &mut s);
        o.learn(&obs(4, 0, Some(vec![])), 30.0, &mut a, &mut s);
        let mut t = 45.0;
        while t <= METRICS_OVERDUE_S + 60.0 {
            o.learn(&obs(4, 0, Some(vec![])), t, &mut a, &mut s);
            t += 15.0;
        }
        let learned = a.mean_rate() * a.history_s();
        assert!((learned - 4.0).abs() < 1e-9, "{learned}");
        // The datapoint for minute 0 finally appears (15 min late): ignored.
        o.learn(&obs(4, 0, Some(vec![(0, 4, 0)])), 900.0, &mut a, &mut s);
        let learned = a.mean_rate() * a.history_s();
        assert!((learned - 4.0).abs() < 1e-9, "{learned}");
    }

    /// Service time comes from deleted sums against the in-flight count SQS showed.
    #[test]
    fn service_time_from_deleted_sums_and_in_flight() {
        let (mut o, mut a, mut s) = learners();
        let mut minutes = Vec::new();
        for m in 0..300i64 {
            for k in 0..4 {
                // 10 jobs always in flight, 1 deleted per minute: S = 600 s.
                o.learn(
                    &obs(0, 10, Some(minutes.clone())),
                    (m * 60 + k * 15) as f64,
                    &mut a,
                    &mut s,
                );
            }
            minutes.push((m, 1, 1));
        }
        o.learn(&obs(0, 10, Some(minutes)), 18_060.0, &mut a, &mut s);
        assert!((s.estimate_s - 600.0).abs() < 2.0, "{}", s.estimate_s);
    }
}
