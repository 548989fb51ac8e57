//! CloudWatch reads: one batched `GetMetricData` call per tick for every configured queue,
//! returning each queue's `AWS/SQS` `NumberOfMessagesSent` and `NumberOfMessagesDeleted` minute
//! sums (`QueueMetrics`), as the simulator models them (docs/simulator.md).
//!
//! The request covers the complete minutes of the last `METRICS_LOOKBACK_S` (20 min: longer
//! than the 15 min a woken idle queue's datapoints may be late), so a late minute is read on a
//! later tick; a minute is returned only once both of its sums are published. The reader degrades
//! to SQS-only, saying so once: a denied call (`AccessDenied`: no `cloudwatch:GetMetricData`
//! permission) stops the calls for good; any other failure leaves this tick's metrics `None`
//! (the core then waits, then learns from SQS counts) and is logged again only after a success.
//! Leaves what the sums mean to the core (`core::observed`).

use super::{AwsError, classify};
use crate::core::model::{METRICS_LOOKBACK_S, MinuteSums, QueueMetrics};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use std::collections::BTreeMap;

const API: &str = "cloudwatch:GetMetricData";

/// At most 500 queries per `GetMetricData` call, two per queue.
pub const MAX_QUEUES_PER_CALL: usize = 250;

/// The queue name (the `QueueName` dimension) from an SQS queue URL.
pub fn queue_name(queue_url: &str) -> &str {
    queue_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue_url)
}

/// Per minute index: the sent and deleted sums published so far.
type MinuteSlots = BTreeMap<i64, (Option<f64>, Option<f64>)>;

/// One `AWS/SQS` metric of one queue as a `GetMetricData` query (shared with `history.rs`).
pub(crate) fn sqs_query(
    id: String,
    metric: &str,
    stat: &str,
    queue: &str,
    period_s: i32,
) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/SQS")
                        .metric_name(metric)
                        .dimensions(Dimension::builder().name("QueueName").value(queue).build())
                        .build(),
                )
                .period(period_s)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// One `GetMetricData` call (plus its pages) for `queues` (names, at most
/// `MAX_QUEUES_PER_CALL`) at `now_s` (Unix seconds): each queue's published minutes.
pub async fn queue_minutes(
    client: &aws_sdk_cloudwatch::Client,
    endpoint: &str,
    queues: &[&str],
    now_s: f64,
) -> Result<Vec<QueueMetrics>, AwsError> {
    let end_min = (now_s / 60.0).floor() as i64;
    let start_min = ((now_s - METRICS_LOOKBACK_S) / 60.0).floor() as i64;
    let mut sums: Vec<MinuteSlots> = vec![BTreeMap::new(); queues.len()];
    let mut next: Option<String> = None;
    loop {
        let mut req = client
            .get_metric_data()
            .start_time(DateTime::from_secs(start_min * 60))
            // Only complete minutes: the current one is still being counted.
            .end_time(DateTime::from_secs(end_min * 60))
            .scan_by(ScanBy::TimestampAscending);
        for (i, q) in queues.iter().enumerate() {
            req = req
                .metric_data_queries(sqs_query(
                    format!("sent{i}"),
                    "NumberOfMessagesSent",
                    "Sum",
                    q,
                    60,
                ))
                .metric_data_queries(sqs_query(
                    format!("deleted{i}"),
                    "NumberOfMessagesDeleted",
                    "Sum",
                    q,
                    60,
                ));
        }
        if let Some(t) = &next {
            req = req.next_token(t);
        }
        let out = req.send().await.map_err(|e| classify(API, endpoint, e))?;
        for r in out.metric_data_results() {
            let id = r.id().unwrap_or("");
            let (sent, i) = match (id.strip_prefix("sent"), id.strip_prefix("deleted")) {
                (Some(i), _) => (true, i),
                (_, Some(i)) => (false, i),
                _ => continue,
            };
            let Some(slot) = i.parse::<usize>().ok().and_then(|i| sums.get_mut(i)) else {
                continue;
            };
            for (t, v) in r.timestamps().iter().zip(r.values()) {
                let m = t.secs().div_euclid(60);
                if m < start_min || m >= end_min || !v.is_finite() || *v < 0.0 {
                    continue;
                }
                let e = slot.entry(m).or_default();
                if sent {
                    e.0 = Some(*v);
                } else {
                    e.1 = Some(*v);
                }
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() && next.as_deref() != Some(t) => next = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(sums
        .into_iter()
        .map(|per_min| QueueMetrics {
            minutes: per_min
                .into_iter()
                .filter_map(|(m, (s, d))| {
                    // A minute counts once both sums are published.
                    Some(MinuteSums {
                        minute_start_s: m * 60,
                        sent: s?.round() as u64,
                        deleted: d?.round() as u64,
                    })
                })
                .collect(),
        })
        .collect())
}

/// Whether CloudWatch is still read, and what has been said about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReaderState {
    /// Reading; the last call succeeded (or none was made yet).
    #[default]
    Reading,
    /// Reading, but the last call failed (and that was logged once).
    Failing,
    /// Denied: SQS-only from now on.
    Denied,
}

/// The per-world CloudWatch reader: batches the queues, degrades to SQS-only, logs once.
#[derive(Debug, Default)]
pub struct MetricsReader {
    pub state: ReaderState,
}

impl MetricsReader {
    /// One tick's metrics for `queues` (names), in order; `None` for a queue whose metrics are
    /// unavailable this tick (or for good, once denied).
    pub async fn read(
        &mut self,
        client: &aws_sdk_cloudwatch::Client,
        endpoint: &str,
        queues: &[&str],
        now_s: f64,
    ) -> Vec<Option<QueueMetrics>> {
        if self.state == ReaderState::Denied || queues.is_empty() {
            return vec![None; queues.len()];
        }
        let mut out = Vec::with_capacity(queues.len());
        let mut failed: Option<AwsError> = None;
        for chunk in queues.chunks(MAX_QUEUES_PER_CALL) {
            match queue_minutes(client, endpoint, chunk, now_s).await {
                Ok(v) => out.extend(v.into_iter().map(Some)),
                Err(e) => {
                    out.extend(chunk.iter().map(|_| None));
                    failed = Some(e);
                }
            }
        }
        match failed {
            Some(e) if is_denied(&e) => {
                tracing::warn!(error = %e,
                    "CloudWatch GetMetricData was denied: running SQS-only from now on (arrivals \
                     from SQS counts, service time from the configured estimate); grant \
                     cloudwatch:GetMetricData to the controller's role to use CloudWatch");
                self.state = ReaderState::Denied;
                return vec![None; queues.len()];
            }
            Some(e) => {
                if self.state == ReaderState::Reading {
                    tracing::warn!(error = %e,
                        "CloudWatch GetMetricData failed: running SQS-only until it answers \
                         again (not repeated every tick)");
                }
                self.state = ReaderState::Failing;
            }
            None => {
                if self.state == ReaderState::Failing {
                    tracing::info!("CloudWatch GetMetricData answers again");
                }
                self.state = ReaderState::Reading;
            }
        }
        out
    }
}

/// A refusal that will not go away by itself: missing IAM permission. `classify` reports
/// `AccessDenied*` codes as `AccessDenied` (checking only `Refused` here kept a denied reader
/// calling every tick: found through the twin).
fn is_denied(e: &AwsError) -> bool {
    match e {
        AwsError::AccessDenied { .. } => true,
        AwsError::Refused { code, .. } => {
            code.contains("AccessDenied") || code.contains("NotAuthorized")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_name_is_the_last_url_segment() {
        assert_eq!(
            queue_name("https://sqs.us-east-1.amazonaws.com/123456789012/jobs"),
            "jobs"
        );
        assert_eq!(queue_name("http://127.0.0.1:5000/1/q/"), "q");
    }

    #[test]
    fn only_access_denied_stops_the_reads() {
        let refused = |code: &str| AwsError::Refused {
            api: API,
            code: code.into(),
            message: String::new(),
        };
        assert!(is_denied(&refused("AccessDeniedException")));
        assert!(is_denied(&AwsError::AccessDenied {
            api: API,
            code: "AccessDeniedException".into(),
            message: String::new(),
        }));
        assert!(is_denied(&refused("AccessDenied")));
        assert!(!is_denied(&refused("InvalidParameterValue")));
        assert!(!is_denied(&AwsError::Throttled {
            api: API,
            code: "ThrottlingException".into(),
            status: 400,
            message: String::new(),
        }));
    }
}
