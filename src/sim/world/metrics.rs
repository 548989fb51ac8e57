//! What CloudWatch would hold for the simulated queue: per-minute sums of messages sent and
//! deleted, and when each minute's datapoint becomes readable. A datapoint is published
//! `cloudwatch_delay` after its minute closes; a queue with no message activity for
//! `cloudwatch_inactive_after` is inactive and gets no datapoints at all; when it wakes, the
//! minutes from the wake on appear only `cloudwatch_wake_delay` after the wake (the SQS
//! developer guide's "delayed up to 15 minutes"). Leaves to `observe.rs` whether a read fails
//! and whether CloudWatch is read at all (SQS-only).

use crate::core::config::SimConfig;
use crate::core::model::{METRICS_LOOKBACK_S, MinuteSums, QueueMetrics};
use std::collections::{BTreeMap, VecDeque};

/// One stretch of queue activity: `[start_s, last activity + inactive_after)`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start_s: f64,
    end_s: f64,
    /// The span began by waking an inactive queue (not at the start of the run).
    woke: bool,
}

#[derive(Debug, Clone)]
pub(super) struct MetricsModel {
    delay_s: f64,
    inactive_after_s: f64,
    wake_delay_s: f64,
    /// Minute index → (sent, deleted), for minutes with any message event.
    minutes: BTreeMap<i64, (u64, u64)>,
    spans: VecDeque<Span>,
    /// The last read and until when it stays what a read returns (reads come every tick,
    /// datapoints change at most once a minute or at a publication time).
    cached: Option<(f64, QueueMetrics)>,
}

impl MetricsModel {
    /// The queue counts as active from `start_s` (a run starts on a queue in use).
    pub(super) fn new(sim: &SimConfig, start_s: f64) -> Self {
        let mut spans = VecDeque::new();
        spans.push_back(Span {
            start_s,
            end_s: start_s + sim.cloudwatch_inactive_after_s,
            woke: false,
        });
        MetricsModel {
            delay_s: sim.cloudwatch_delay_s,
            inactive_after_s: sim.cloudwatch_inactive_after_s,
            wake_delay_s: sim.cloudwatch_wake_delay_s,
            minutes: BTreeMap::new(),
            spans,
            cached: None,
        }
    }

    fn activity(&mut self, t_s: f64) {
        let end = t_s + self.inactive_after_s;
        match self.spans.back_mut() {
            Some(s) if t_s < s.end_s => s.end_s = s.end_s.max(end),
            _ => {
                self.spans.push_back(Span {
                    start_s: t_s,
                    end_s: end,
                    woke: true,
                });
                self.cached = None;
            }
        }
    }

    fn minute(t_s: f64) -> i64 {
        (t_s / 60.0).floor() as i64
    }

    /// A message was sent (a job arrived) at `t_s`.
    pub(super) fn sent(&mut self, t_s: f64) {
        self.activity(t_s);
        self.minutes.entry(Self::minute(t_s)).or_default().0 += 1;
    }

    /// A message was deleted (a job finished) at `t_s`.
    pub(super) fn deleted(&mut self, t_s: f64) {
        self.activity(t_s);
        self.minutes.entry(Self::minute(t_s)).or_default().1 += 1;
    }

    /// When minute `m`'s datapoint becomes readable, or `None` if the queue was inactive for
    /// the whole minute (no datapoint is ever published).
    fn published_at_s(&self, m: i64) -> Option<f64> {
        let (start, end) = (m as f64 * 60.0, (m + 1) as f64 * 60.0);
        let span = self
            .spans
            .iter()
            .find(|s| s.start_s < end && start < s.end_s)?;
        let mut at = end + self.delay_s;
        if span.woke && start < span.start_s + self.wake_delay_s {
            at = at.max(span.start_s + self.wake_delay_s);
        }
        Some(at)
    }

    /// What a `GetMetricData` read at `now_s` returns: every published minute in the look-back
    /// window, oldest first (zero sums for active minutes without events).
    pub(super) fn read(&mut self, now_s: f64) -> QueueMetrics {
        if let Some((until, m)) = &self.cached
            && now_s < *until
        {
            return m.clone();
        }
        let from = Self::minute(now_s - METRICS_LOOKBACK_S);
        // Forget what no read can return any more.
        while self
            .minutes
            .first_key_value()
            .is_some_and(|(&m, _)| m < from)
        {
            self.minutes.pop_first();
        }
        while self.spans.len() > 1 && self.spans[0].end_s < from as f64 * 60.0 {
            self.spans.pop_front();
        }
        let to = Self::minute(now_s);
        // Valid until the window moves (next minute) or the next pending minute is published.
        let mut until = (to + 1) as f64 * 60.0;
        let minutes: Vec<MinuteSums> = (from..to)
            .filter(|&m| match self.published_at_s(m) {
                Some(at) if at <= now_s => true,
                Some(at) => {
                    until = until.min(at);
                    false
                }
                None => false,
            })
            .map(|m| {
                let (sent, deleted) = self.minutes.get(&m).copied().unwrap_or_default();
                MinuteSums {
                    minute_start_s: m * 60,
                    sent,
                    deleted,
                }
            })
            .collect();
        let read = QueueMetrics { minutes };
        self.cached = Some((until, read.clone()));
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> MetricsModel {
        MetricsModel::new(&SimConfig::default(), 0.0)
    }

    #[test]
    fn a_minute_appears_only_after_the_publication_delay() {
        let mut m = model();
        m.sent(30.0);
        m.sent(45.0);
        m.deleted(50.0);
        // The minute [0, 60) closes at 60 and is readable at 60 + 120 s.
        assert!(m.read(179.0).minutes.is_empty());
        let got = m.read(180.0).minutes;
        assert_eq!(
            got,
            vec![MinuteSums {
                minute_start_s: 0,
                sent: 2,
                deleted: 1
            }]
        );
    }

    #[test]
    fn an_inactive_queue_publishes_nothing_and_wakes_late() {
        let mut m = model();
        let idle = SimConfig::default().cloudwatch_inactive_after_s;
        // No activity at all: the queue goes inactive after six hours.
        let night = idle + 3600.0;
        assert!(
            m.read(night).minutes.is_empty(),
            "no datapoints while inactive"
        );
        let wake = night + 30.0;
        m.sent(wake);
        // Normally readable at 3m30s after the wake; after a wake only at 15 min.
        assert!(m.read(wake + 210.0).minutes.is_empty());
        assert!(m.read(wake + 899.0).minutes.is_empty());
        let got = m.read(wake + 900.0).minutes;
        assert_eq!(got.iter().map(|x| x.sent).sum::<u64>(), 1);
        // Later minutes follow with the normal delay again.
        m.sent(wake + 1000.0);
        let later = m.read(wake + 1000.0 + 60.0 + 121.0).minutes;
        assert_eq!(later.iter().map(|x| x.sent).sum::<u64>(), 2);
    }
}
