//! From a queue's CloudWatch history to a native trace (`preheat history`), without I/O: which
//! period CloudWatch can still serve for a window (its retention rules), how to split the reads
//! into `GetMetricData` calls within its limits, and how per-period `AWS/SQS` figures become
//! jobs: arrivals spread within each period with a seeded RNG, service times estimated by
//! Little's law per busy stretch (cut into hours when the queue never idles) or drawn from the
//! user's own durations.
//!
//! Little's law: over a stretch, the mean number of messages in flight
//! (`ApproximateNumberOfMessagesNotVisible`, received and not yet deleted) equals the deletion
//! rate times the mean time a message stays in flight, which for a queue worker is its service
//! time. So mean service = mean in flight ÷ deletions per second. What it cannot see, and the
//! error that follows, is stated in docs/history.md. The AWS calls live in `aws::history`, the
//! flags and files in the binary's `cli/history.rs`.

use crate::core::job::Job;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

pub const DAY_S: f64 = 86_400.0;
/// CloudWatch keeps 1-minute datapoints for 15 days, 5-minute for 63, 1-hour for 455.
pub const RETENTION: [(i64, f64); 3] = [
    (60, 15.0 * DAY_S),
    (300, 63.0 * DAY_S),
    (3600, 455.0 * DAY_S),
];
/// `GetMetricData` returns at most 100,800 datapoints per call, over at most 500 queries.
pub const MAX_DATAPOINTS_PER_CALL: usize = 100_800;
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// Sent, deleted and in flight.
pub const METRICS_PER_QUEUE: usize = 3;
/// The piece a busy stretch longer than `MAX_BUCKET_S` is cut into.
pub const ESTIMATE_BUCKET_S: i64 = 3600;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HistoryError {
    #[error(
        "the window starts {age_days:.1} days ago, beyond what CloudWatch keeps (1-minute data 15 \
         days, 5-minute data 63 days, 1-hour data 455 days); ask for fewer --days or a later --end"
    )]
    BeyondRetention { age_days: f64 },
    #[error("--end {end} is in the future; give a time in the past (RFC 3339) or leave it out")]
    EndInFuture { end: String },
    #[error("--days {days} is not a positive number of days; write e.g. --days 14 or --days 0.5")]
    BadDays { days: f64 },
    #[error(
        "the window is shorter than one {period_s} s period; ask for more --days (CloudWatch \
         serves {period_s} s datapoints for a window this old)"
    )]
    WindowTooShort { period_s: i64 },
    #[error(
        "no message was ever deleted in the window, so the service time cannot be estimated \
         from CloudWatch; pass --service-times FILE with your workers' job durations"
    )]
    NoDeletions,
    #[error("{path}: line {line}: {message}")]
    ServiceTimes {
        path: String,
        line: usize,
        message: String,
    },
}

/// The period CloudWatch still serves for data `age_s` seconds old.
pub fn period_for_age(age_s: f64) -> Result<i64, HistoryError> {
    RETENTION
        .iter()
        .find(|(_, keep_s)| age_s <= *keep_s)
        .map(|(p, _)| *p)
        .ok_or(HistoryError::BeyondRetention {
            age_days: age_s / DAY_S,
        })
}

/// The window to read: `days` before `end_s`, both ends on period boundaries (only complete
/// periods), with the period its age allows. `now_s` is the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start_s: i64,
    pub end_s: i64,
    pub period_s: i64,
}

impl Window {
    pub fn new(now_s: f64, end_s: Option<f64>, days: f64) -> Result<Window, HistoryError> {
        if !(days.is_finite() && days > 0.0) {
            return Err(HistoryError::BadDays { days });
        }
        let end = end_s.unwrap_or(now_s);
        if end > now_s + 60.0 {
            return Err(HistoryError::EndInFuture {
                end: humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(end.max(0.0)),
                )
                .to_string(),
            });
        }
        let start = end - days * DAY_S;
        // The oldest datapoint decides: CloudWatch answers the whole call at one period.
        let period_s = period_for_age(now_s - start)?;
        let p = period_s as f64;
        let end_s = ((end / p).floor() * p) as i64;
        // `days` back from the last complete period, so whole days give whole days.
        let start_s = (((end_s as f64 - days * DAY_S) / p).ceil() * p) as i64;
        if end_s - start_s < period_s {
            return Err(HistoryError::WindowTooShort { period_s });
        }
        Ok(Window {
            start_s,
            end_s,
            period_s,
        })
    }

    pub fn periods(&self) -> usize {
        ((self.end_s - self.start_s) / self.period_s) as usize
    }
}

/// One `GetMetricData` call: queues `first..first + count` over `[start_s, end_s)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub first: usize,
    pub count: usize,
    pub start_s: i64,
    pub end_s: i64,
}

/// Splits the reads into calls within the limits: as many queues per call as the datapoint
/// and query caps allow, and a long window cut into time slices when one queue alone exceeds
/// the datapoint cap. Every datapoint is asked for exactly once.
pub fn plan_calls(queues: usize, w: &Window) -> Vec<Call> {
    let per_metric = w.periods().max(1);
    let max_slice_periods = MAX_DATAPOINTS_PER_CALL / METRICS_PER_QUEUE;
    let mut out = Vec::new();
    if per_metric <= max_slice_periods {
        let by_points = MAX_DATAPOINTS_PER_CALL / (METRICS_PER_QUEUE * per_metric);
        let per_call = by_points.clamp(1, MAX_QUERIES_PER_CALL / METRICS_PER_QUEUE);
        let mut first = 0;
        while first < queues {
            let count = per_call.min(queues - first);
            out.push(Call {
                first,
                count,
                start_s: w.start_s,
                end_s: w.end_s,
            });
            first += count;
        }
    } else {
        let slice_s = max_slice_periods as i64 * w.period_s;
        for q in 0..queues {
            let mut t = w.start_s;
            while t < w.end_s {
                let e = (t + slice_s).min(w.end_s);
                out.push(Call {
                    first: q,
                    count: 1,
                    start_s: t,
                    end_s: e,
                });
                t = e;
            }
        }
    }
    out
}

/// One queue's history, one slot per period from `start_s`. A period CloudWatch did not
/// return is 0 sent / 0 deleted (SQS stops publishing an idle queue) and unknown in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueHistory {
    pub start_s: i64,
    pub period_s: i64,
    pub sent: Vec<f64>,
    pub deleted: Vec<f64>,
    pub in_flight: Vec<Option<f64>>,
}

impl QueueHistory {
    pub fn empty(w: &Window) -> QueueHistory {
        let n = w.periods();
        QueueHistory {
            start_s: w.start_s,
            period_s: w.period_s,
            sent: vec![0.0; n],
            deleted: vec![0.0; n],
            in_flight: vec![None; n],
        }
    }

    /// The slot of a datapoint stamped `t_s`, if inside the window.
    pub fn slot(&self, t_s: i64) -> Option<usize> {
        let k = (t_s - self.start_s).div_euclid(self.period_s);
        (k >= 0 && (k as usize) < self.sent.len()).then_some(k as usize)
    }

    pub fn total_sent(&self) -> f64 {
        self.sent.iter().sum()
    }

    /// What CloudWatch would hold over `w` for `jobs` (absolute times) had each started the
    /// moment it was sent: sent at its arrival, deleted at its end, in flight between (the
    /// period's average). A period where nothing was sent, deleted or in flight has no
    /// in-flight figure, as SQS publishes nothing for an idle queue. The simulator's stand-in
    /// for the history a controller reads when it starts (the waits of those days are not
    /// known, and with them the history would only shift deletions later).
    pub fn of_jobs(jobs: &[Job], w: &Window) -> QueueHistory {
        let mut h = QueueHistory::empty(w);
        let p = w.period_s as f64;
        let mut in_flight_s = vec![0.0; h.sent.len()];
        let slot_of = |t: f64| ((t - w.start_s as f64) / p).floor();
        for j in jobs {
            let (a, e) = (j.arrival_s, j.arrival_s + j.service_s);
            if e <= w.start_s as f64 || a >= w.end_s as f64 {
                continue;
            }
            if let Some(k) = h.slot(slot_of(a) as i64 * w.period_s + w.start_s) {
                h.sent[k] += 1.0;
            }
            if let Some(k) = h.slot(slot_of(e) as i64 * w.period_s + w.start_s) {
                h.deleted[k] += 1.0;
            }
            let first = slot_of(a).max(0.0) as usize;
            let last = (slot_of(e).max(0.0) as usize).min(in_flight_s.len() - 1);
            for (k, secs) in in_flight_s
                .iter_mut()
                .enumerate()
                .take(last + 1)
                .skip(first)
            {
                let (lo, hi) = (
                    w.start_s as f64 + k as f64 * p,
                    w.start_s as f64 + (k + 1) as f64 * p,
                );
                *secs += (e.min(hi) - a.max(lo)).max(0.0);
            }
        }
        for (k, secs) in in_flight_s.into_iter().enumerate() {
            if secs > 0.0 || h.sent[k] > 0.0 || h.deleted[k] > 0.0 {
                h.in_flight[k] = Some(secs / p);
            }
        }
        h
    }
}

/// The jobs of `h` (read over `w`) on the absolute clock, service times by Little's law:
/// the history a controller reads at start, at the edge (`aws::history::recent_jobs`) and in
/// the simulator (`sim::cloudwatch_history`) alike.
pub fn recent_jobs_of(h: &QueueHistory, w: &Window, seed: u64) -> Result<Vec<Job>, HistoryError> {
    let mut jobs = synthesize(h, &ServiceSource::LittlesLaw, seed)?.jobs;
    for j in &mut jobs {
        j.arrival_s += w.start_s as f64;
    }
    Ok(jobs)
}

/// Where the jobs' service times come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceSource {
    /// Little's law per busy stretch (at most `MAX_BUCKET_S`), each job taking its stretch's
    /// mean.
    LittlesLaw,
    /// Drawn uniformly (seeded) from the user's own durations, seconds.
    Samples(Vec<f64>),
}

/// The trace and how its service times were found.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthesis {
    pub jobs: Vec<Job>,
    /// Stretches whose own in-flight and deletion figures gave a mean service time.
    pub buckets_estimated: usize,
    /// Jobs that took the window's overall mean instead (their deletion falls in a stretch
    /// without an in-flight figure, or after the window).
    pub jobs_fallback: usize,
    /// Mean in flight ÷ deletion rate over the whole window, seconds (Little's law).
    pub overall_service_s: Option<f64>,
}

/// Little's law buckets: each maximal stretch of periods with a message in flight or deleted
/// (a busy stretch) ends when the queue's workers hold nothing, so every message-second in
/// flight inside it belongs to a message deleted inside it: the law holds there without the
/// edge error a fixed hour has (a job running across the hour's end). Stretches longer than
/// `MAX_BUCKET_S` (a queue that never idles) are cut into hours, each with that edge error.
pub const MAX_BUCKET_S: i64 = 6 * 3600;

/// One bucket: periods `first..end` and its mean service time, if it has both a deletion and
/// some time in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub first: usize,
    pub end: usize,
    pub mean_service_s: Option<f64>,
}

/// Mean service time per bucket (see `MAX_BUCKET_S`), and over the whole window: in-flight
/// message-seconds ÷ deletions, counting only periods whose in-flight figure is known.
pub fn littles_law(h: &QueueHistory) -> (Vec<Bucket>, Option<f64>) {
    let n = h.sent.len();
    let busy = |i: usize| h.in_flight[i].is_some_and(|f| f > 0.0) || h.deleted[i] >= 0.5;
    let law = |first: usize, end: usize| {
        let (mut l, mut d) = (0.0, 0.0);
        for i in first..end {
            if let Some(f) = h.in_flight[i] {
                l += f * h.period_s as f64;
                d += h.deleted[i];
            }
        }
        (l, d)
    };
    let max_periods = (MAX_BUCKET_S / h.period_s).max(1) as usize;
    let hour_periods = (ESTIMATE_BUCKET_S / h.period_s).max(1) as usize;
    let mut buckets = Vec::new();
    let mut i = 0;
    while i < n {
        if !busy(i) {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < n && busy(end) {
            end += 1;
        }
        let step = if end - i > max_periods {
            hour_periods
        } else {
            end - i
        };
        let mut first = i;
        while first < end {
            let e = (first + step).min(end);
            let (l, d) = law(first, e);
            buckets.push(Bucket {
                first,
                end: e,
                mean_service_s: (d >= 0.5 && l > 0.0).then(|| l / d),
            });
            first = e;
        }
        i = end;
    }
    let (l, d) = law(0, n);
    let overall = (d >= 0.5 && l > 0.0).then(|| l / d);
    (buckets, overall)
}

/// Fewest lone jobs (a busy stretch with one deletion: its mean is that job's own time) that
/// give the spread of service times; with fewer, every job of a stretch takes its mean.
pub const MIN_LONE_JOBS: usize = 20;

/// The jobs of `h`: `round(sent)` arrivals per period at seeded uniform times within it, in
/// order, from second 0 of the window; service times from `source`.
///
/// With Little's law the n-th job (by arrival) belongs to the bucket in which the n-th
/// deletion falls: first in, first out, which a queue with one worker keeps exactly and
/// several workers keep within a busy stretch. A job alone in its bucket takes the bucket's
/// mean, which is its own time. Jobs sharing a bucket draw their times from the lone jobs'
/// times (the spread), rescaled so that the bucket's mean is kept: a constant mean would turn
/// a burst of mixed short and long jobs into a burst of equal ones, which queue longer.
pub fn synthesize(
    h: &QueueHistory,
    source: &ServiceSource,
    seed: u64,
) -> Result<Synthesis, HistoryError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let unit = Uniform::new(0.0, 1.0).expect("a valid range");
    let (buckets, overall) = littles_law(h);
    if matches!(source, ServiceSource::LittlesLaw) && overall.is_none() && h.total_sent() >= 0.5 {
        return Err(HistoryError::NoDeletions);
    }
    // The bucket of each deletion, in order, and each bucket's deletion count.
    let mut by_deletion: Vec<usize> = Vec::new();
    let mut per_bucket = vec![0usize; buckets.len()];
    let mut carry = 0.0;
    for (bi, b) in buckets.iter().enumerate() {
        for i in b.first..b.end {
            carry += h.deleted[i];
            while carry >= 0.5 {
                by_deletion.push(bi);
                per_bucket[bi] += 1;
                carry -= 1.0;
            }
        }
    }
    // The spread: lone jobs' times over their mean.
    let lone: Vec<f64> = buckets
        .iter()
        .zip(&per_bucket)
        .filter(|(_, n)| **n == 1)
        .filter_map(|(b, _)| b.mean_service_s)
        .collect();
    let shape: Vec<f64> = if lone.len() >= MIN_LONE_JOBS {
        let m = lone.iter().sum::<f64>() / lone.len() as f64;
        lone.iter().map(|x| x / m).collect()
    } else {
        Vec::new()
    };
    let draw = |rng: &mut StdRng, from: &[f64]| -> f64 {
        from[(unit.sample(rng) * from.len() as f64) as usize % from.len()]
    };
    let period = h.period_s as f64;
    let mut jobs = Vec::with_capacity(h.total_sent() as usize);
    let mut at = Vec::new();
    for (k, sent) in h.sent.iter().enumerate() {
        let n = sent.max(0.0).round() as usize;
        at.clear();
        at.extend((0..n).map(|_| (k as f64 + unit.sample(&mut rng)) * period));
        at.sort_by(f64::total_cmp);
        for &arrival_s in &at {
            let service_s = match source {
                // Filled in below, once every job's bucket is known.
                ServiceSource::LittlesLaw => 0.0,
                ServiceSource::Samples(s) => draw(&mut rng, s),
            };
            jobs.push(Job {
                arrival_s,
                service_s,
            });
        }
    }
    let mut jobs_fallback = 0;
    if matches!(source, ServiceSource::LittlesLaw) {
        let overall = overall.expect("checked above");
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); buckets.len()];
        for (j, job) in jobs.iter_mut().enumerate() {
            match by_deletion
                .get(j)
                .filter(|&&b| buckets[b].mean_service_s.is_some())
            {
                Some(&b) => members[b].push(j),
                None => {
                    jobs_fallback += 1;
                    let u = if shape.is_empty() {
                        1.0
                    } else {
                        draw(&mut rng, &shape)
                    };
                    job.service_s = overall * u;
                }
            }
        }
        for (b, js) in buckets.iter().zip(&members) {
            let Some(mean) = b.mean_service_s else {
                continue;
            };
            let us: Vec<f64> = if js.len() > 1 && !shape.is_empty() {
                js.iter().map(|_| draw(&mut rng, &shape)).collect()
            } else {
                vec![1.0; js.len()]
            };
            let u_mean = us.iter().sum::<f64>() / us.len().max(1) as f64;
            for (&j, u) in js.iter().zip(&us) {
                jobs[j].service_s = mean * u / u_mean;
            }
        }
    }
    for job in &mut jobs {
        // A worker needs at least a second: a rounding of tiny in-flight figures must not
        // give a zero-length job the trace reader refuses.
        job.service_s = job.service_s.max(1.0);
    }
    Ok(Synthesis {
        jobs,
        buckets_estimated: buckets
            .iter()
            .filter(|b| b.mean_service_s.is_some())
            .count(),
        jobs_fallback,
        overall_service_s: overall,
    })
}

/// Parses a file of job durations in seconds: one per line, first column (or the column
/// headed `service_s` or `duration_s`), optional header, `#` comments and blank lines.
pub fn parse_service_times(text: &str, path: &str) -> Result<Vec<f64>, HistoryError> {
    let bad = |line: usize, message: String| HistoryError::ServiceTimes {
        path: path.to_string(),
        line,
        message,
    };
    let mut col = 0usize;
    let mut out = Vec::new();
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim().trim_start_matches('\u{feff}');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split(',').map(str::trim).collect();
        if first {
            first = false;
            if fields[0].parse::<f64>().is_err() {
                if let Some(c) = fields.iter().position(|f| {
                    ["service_s", "duration_s"]
                        .iter()
                        .any(|n| f.eq_ignore_ascii_case(n))
                }) {
                    col = c;
                } else if fields.len() > 1 {
                    return Err(bad(
                        line,
                        format!(
                            "header {content:?} has no service_s or duration_s column; name the \
                             durations column service_s (seconds) or give one number per line"
                        ),
                    ));
                }
                continue;
            }
        }
        let v = fields.get(col).copied().unwrap_or("");
        match v.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => out.push(s),
            _ => {
                return Err(bad(
                    line,
                    format!("{v:?} is not a positive number of seconds (e.g. 184.5)"),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(bad(
            0,
            "holds no durations; give one job duration in seconds per line".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    #[test]
    fn jobs_become_the_minute_sums_cloudwatch_would_hold_had_each_started_on_arrival() {
        let w = Window {
            start_s: 600,
            end_s: 900,
            period_s: 60,
        };
        let job = |arrival_s: f64, service_s: f64| Job {
            arrival_s,
            service_s,
        };
        // Sent before the window and still in flight; sent and deleted in one minute; running
        // past the window's end; wholly after it.
        let h = QueueHistory::of_jobs(
            &[
                job(550.0, 80.0),
                job(700.0, 10.0),
                job(750.0, 200.0),
                job(950.0, 5.0),
            ],
            &w,
        );
        assert_eq!(h.sent, vec![0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(h.deleted, vec![1.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(
            h.in_flight,
            vec![
                Some(30.0 / 60.0),
                Some(10.0 / 60.0),
                Some(30.0 / 60.0),
                Some(1.0),
                Some(1.0),
            ]
        );
        let idle = QueueHistory::of_jobs(&[job(600.0, 30.0)], &w);
        assert_eq!(idle.in_flight[1..], [None, None, None, None]);
    }

    #[test]
    fn the_period_follows_the_age_of_the_window_start() {
        assert_eq!(period_for_age(3600.0), Ok(60));
        assert_eq!(period_for_age(15.0 * DAY_S), Ok(60));
        assert_eq!(period_for_age(20.0 * DAY_S), Ok(300));
        assert_eq!(period_for_age(100.0 * DAY_S), Ok(3600));
        assert!(matches!(
            period_for_age(456.0 * DAY_S),
            Err(HistoryError::BeyondRetention { .. })
        ));
    }

    #[test]
    fn a_window_beyond_retention_says_what_cloudwatch_keeps() {
        let e = Window::new(NOW, Some(NOW - 450.0 * DAY_S), 14.0).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("464.0 days ago"), "{msg}");
        assert!(msg.contains("455 days") && msg.contains("--days"), "{msg}");
    }

    #[test]
    fn a_window_keeps_only_complete_periods() {
        let w = Window::new(NOW + 30.0, None, 1.0).unwrap();
        assert_eq!(w.period_s, 60);
        assert_eq!(w.end_s % 60, 0);
        assert!(w.end_s as f64 <= NOW + 30.0);
        assert_eq!(w.periods(), 1440);
        let old = Window::new(NOW, Some(NOW - 40.0 * DAY_S), 14.0).unwrap();
        assert_eq!(old.period_s, 300);
        assert_eq!(old.periods(), 14 * 288);
    }

    #[test]
    fn bad_days_and_a_future_end_are_refused() {
        assert!(matches!(
            Window::new(NOW, None, 0.0),
            Err(HistoryError::BadDays { .. })
        ));
        assert!(matches!(
            Window::new(NOW, Some(NOW + 3600.0), 1.0),
            Err(HistoryError::EndInFuture { .. })
        ));
    }

    #[test]
    fn calls_stay_within_the_limits_and_cover_every_datapoint_once() {
        for (queues, days, end_ago_days) in [(1, 14.0, 0.0), (400, 1.0, 0.0), (3, 60.0, 0.0)] {
            let w = Window::new(NOW, Some(NOW - end_ago_days * DAY_S), days).unwrap();
            let calls = plan_calls(queues, &w);
            let mut covered = vec![0i64; queues];
            for c in &calls {
                let points =
                    c.count * METRICS_PER_QUEUE * ((c.end_s - c.start_s) / w.period_s) as usize;
                assert!(points <= MAX_DATAPOINTS_PER_CALL, "{c:?}");
                assert!(c.count * METRICS_PER_QUEUE <= MAX_QUERIES_PER_CALL);
                for cov in &mut covered[c.first..c.first + c.count] {
                    *cov += c.end_s - c.start_s;
                }
            }
            assert!(covered.iter().all(|&s| s == w.end_s - w.start_s));
        }
        // 60 days is 5-minute data: 17,280 points a metric, one queue alone fits; 400 queues
        // over one day at 1 minute need 4,320 points each: 23 per call.
        let w = Window::new(NOW, None, 1.0).unwrap();
        assert_eq!(plan_calls(400, &w)[0].count, 23);
    }

    fn history(sent: &[f64], deleted: &[f64], in_flight: &[Option<f64>]) -> QueueHistory {
        QueueHistory {
            start_s: 0,
            period_s: 60,
            sent: sent.to_vec(),
            deleted: deleted.to_vec(),
            in_flight: in_flight.to_vec(),
        }
    }

    #[test]
    fn littles_law_divides_in_flight_time_by_deletions_per_busy_stretch() {
        // A 2.5-minute job from minute 1 (deleted in minute 3), an idle minute, then two jobs
        // of 1 minute each overlapping in minutes 5-6.
        let mut h = history(&[0.0; 8], &[0.0; 8], &[Some(0.0); 8]);
        h.in_flight[1] = Some(1.0);
        h.in_flight[2] = Some(1.0);
        h.in_flight[3] = Some(0.5);
        h.deleted[3] = 1.0;
        h.in_flight[5] = Some(1.0);
        h.in_flight[6] = Some(1.0);
        h.deleted[6] = 2.0;
        let (buckets, overall) = littles_law(&h);
        assert_eq!(
            buckets,
            vec![
                Bucket {
                    first: 1,
                    end: 4,
                    mean_service_s: Some(150.0)
                },
                Bucket {
                    first: 5,
                    end: 7,
                    mean_service_s: Some(60.0)
                },
            ]
        );
        assert_eq!(overall, Some(270.0 / 3.0));
    }

    #[test]
    fn a_queue_that_never_idles_is_cut_into_hours() {
        let n = 8 * 60;
        let h = history(&vec![1.0; n], &vec![1.0; n], &vec![Some(2.0); n]);
        let (buckets, overall) = littles_law(&h);
        assert_eq!(buckets.len(), 8);
        assert!(buckets.iter().all(|b| b.mean_service_s == Some(120.0)));
        assert_eq!(overall, Some(120.0));
    }

    #[test]
    fn arrivals_fall_in_their_minute_and_repeat_with_the_seed() {
        let h = history(&[2.0, 0.0, 3.0], &[0.0, 2.0, 1.0], &[Some(1.0); 3]);
        let a = synthesize(&h, &ServiceSource::LittlesLaw, 7).unwrap();
        assert_eq!(a.jobs.len(), 5);
        assert!(
            a.jobs[..2]
                .iter()
                .all(|j| (0.0..60.0).contains(&j.arrival_s))
        );
        assert!(
            a.jobs[2..]
                .iter()
                .all(|j| (120.0..180.0).contains(&j.arrival_s))
        );
        assert!(a.jobs.windows(2).all(|w| w[0].arrival_s <= w[1].arrival_s));
        // 3 minutes × 1 in flight = 180 message-seconds over 3 deletions; the last two jobs
        // have no deletion in the window and take the overall mean, the same here.
        assert!(a.jobs.iter().all(|j| j.service_s == 60.0));
        assert_eq!(a.jobs_fallback, 2);
        assert_eq!(a, synthesize(&h, &ServiceSource::LittlesLaw, 7).unwrap());
        assert_ne!(
            a.jobs,
            synthesize(&h, &ServiceSource::LittlesLaw, 8).unwrap().jobs
        );
    }

    #[test]
    fn the_nth_job_takes_the_estimate_of_the_nth_deletion() {
        // Job 1 sent in minute 0 runs 2 minutes; job 2 sent in minute 4 runs 30 s.
        let mut h = history(&[0.0; 7], &[0.0; 7], &[Some(0.0); 7]);
        h.sent[0] = 1.0;
        h.sent[4] = 1.0;
        h.in_flight[0] = Some(0.5);
        h.in_flight[1] = Some(1.0);
        h.in_flight[2] = Some(0.5);
        h.deleted[2] = 1.0;
        h.in_flight[5] = Some(0.5);
        h.deleted[5] = 1.0;
        let s = synthesize(&h, &ServiceSource::LittlesLaw, 1).unwrap();
        let got: Vec<f64> = s.jobs.iter().map(|j| j.service_s).collect();
        assert_eq!(got, vec![120.0, 30.0]);
        assert_eq!((s.buckets_estimated, s.jobs_fallback), (2, 0));
    }

    #[test]
    fn no_deletion_at_all_asks_for_service_times() {
        let h = history(&[1.0], &[0.0], &[Some(1.0)]);
        assert_eq!(
            synthesize(&h, &ServiceSource::LittlesLaw, 1),
            Err(HistoryError::NoDeletions)
        );
        let s = synthesize(&h, &ServiceSource::Samples(vec![42.0]), 1).unwrap();
        assert_eq!(s.jobs[0].service_s, 42.0);
    }

    #[test]
    fn service_time_files_take_a_header_column_or_plain_numbers() {
        assert_eq!(
            parse_service_times("# worker log\nid,service_s\na,10\nb,20.5\n", "f.csv").unwrap(),
            vec![10.0, 20.5]
        );
        assert_eq!(
            parse_service_times("3\n\n4\n", "f").unwrap(),
            vec![3.0, 4.0]
        );
        let e = parse_service_times("5\n-1\n", "f.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f.csv: line 2:") && e.contains("positive"),
            "{e}"
        );
        let e = parse_service_times("id,when\n1,2\n", "f.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("service_s"), "{e}");
        assert!(parse_service_times("# nothing\n", "f").is_err());
    }

    #[test]
    fn samples_are_drawn_from_the_file_deterministically() {
        let h = history(&[50.0], &[0.0], &[None]);
        let src = ServiceSource::Samples(vec![1.0, 2.0, 3.0]);
        let a = synthesize(&h, &src, 3).unwrap();
        assert_eq!(a, synthesize(&h, &src, 3).unwrap());
        for v in [1.0, 2.0, 3.0] {
            assert!(a.jobs.iter().any(|j| j.service_s == v));
        }
    }
}
