//! The CloudWatch reads behind `preheat history`: every queue's `AWS/SQS`
//! `NumberOfMessagesSent` and `NumberOfMessagesDeleted` (Sum) and
//! `ApproximateNumberOfMessagesNotVisible` (Average) over a window, in the calls
//! `history::plan_calls` lays out, following `NextToken` to the last page. A queue with no
//! `NumberOfMessagesSent` datapoint at all is an error that names the likely causes; a denied
//! call names `cloudwatch:GetMetricData`. Turning the figures into jobs is `crate::history`'s.

use super::{AwsError, classify};
use crate::core::job::Job;
use crate::history::{HistoryError, QueueHistory, Window, plan_calls};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{MetricDataQuery, ScanBy};

const API: &str = "cloudwatch:GetMetricData";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(
        "queue {queue:?}: CloudWatch ({endpoint}) has no NumberOfMessagesSent datapoint between \
         {start} and {end}: the queue was idle all along, or the region or the queue name is \
         wrong (AWS/SQS metrics live in the queue's own region: check queue_url in the config, \
         --region / aws.region, and that the queue existed then)"
    )]
    NoDatapoints {
        queue: String,
        endpoint: String,
        start: String,
        end: String,
    },
}

/// Why a queue's recent history could not prime its controller (`recent_jobs`).
#[derive(Debug, thiserror::Error)]
pub enum RecentError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// The jobs of `queue`'s last `days` before `now_s` (absolute times, sorted), from its minute
/// sums as `preheat history` builds them (Little's law, seed 0), for priming a controller at
/// start (`Policy::prime`). Also the calls made.
pub async fn recent_jobs(
    client: &aws_sdk_cloudwatch::Client,
    endpoint: &str,
    queue: &str,
    now_s: f64,
    days: f64,
) -> Result<(Vec<Job>, usize), RecentError> {
    let w = Window::new(now_s, None, days)?;
    let mut calls = 0;
    let h = fetch_histories(client, endpoint, &[queue], &w, &mut calls).await?;
    Ok((crate::history::recent_jobs_of(&h[0], &w, 0)?, calls))
}

/// The three metrics, as (query id prefix, metric name, statistic).
const METRICS: [(&str, &str, &str); 3] = [
    ("sent", "NumberOfMessagesSent", "Sum"),
    ("deleted", "NumberOfMessagesDeleted", "Sum"),
    (
        "inflight",
        "ApproximateNumberOfMessagesNotVisible",
        "Average",
    ),
];

fn query(id: String, metric: &str, stat: &str, queue: &str, period_s: i64) -> MetricDataQuery {
    super::cloudwatch::sqs_query(id, metric, stat, queue, period_s as i32)
}

fn rfc3339(t_s: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t_s.max(0) as u64),
    )
    .to_string()
}

/// Every queue's history over `w` (queue names, in order). `calls` counts the HTTP calls
/// made (pages included), for the summary line.
pub async fn fetch_histories(
    client: &aws_sdk_cloudwatch::Client,
    endpoint: &str,
    queues: &[&str],
    w: &Window,
    calls: &mut usize,
) -> Result<Vec<QueueHistory>, FetchError> {
    let mut out: Vec<QueueHistory> = queues.iter().map(|_| QueueHistory::empty(w)).collect();
    let mut seen_sent = vec![false; queues.len()];
    for call in plan_calls(queues.len(), w) {
        let mut next: Option<String> = None;
        loop {
            let mut req = client
                .get_metric_data()
                .start_time(DateTime::from_secs(call.start_s))
                .end_time(DateTime::from_secs(call.end_s))
                .scan_by(ScanBy::TimestampAscending);
            for (q, name) in queues.iter().enumerate().skip(call.first).take(call.count) {
                for (prefix, metric, stat) in METRICS {
                    req = req.metric_data_queries(query(
                        format!("{prefix}{q}"),
                        metric,
                        stat,
                        name,
                        w.period_s,
                    ));
                }
            }
            if let Some(t) = &next {
                req = req.next_token(t);
            }
            *calls += 1;
            let page = req.send().await.map_err(|e| classify(API, endpoint, e))?;
            for r in page.metric_data_results() {
                let id = r.id().unwrap_or("");
                let Some((m, q)) = METRICS.iter().enumerate().find_map(|(m, (p, _, _))| {
                    id.strip_prefix(p)
                        .and_then(|i| i.parse::<usize>().ok())
                        .map(|q| (m, q))
                }) else {
                    continue;
                };
                let Some(h) = out.get_mut(q) else { continue };
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    let Some(k) = h.slot(t.secs()) else { continue };
                    if !v.is_finite() || *v < 0.0 {
                        continue;
                    }
                    match m {
                        0 => {
                            h.sent[k] = *v;
                            seen_sent[q] = true;
                        }
                        1 => h.deleted[k] = *v,
                        _ => h.in_flight[k] = Some(*v),
                    }
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() && next.as_deref() != Some(t) => {
                    next = Some(t.to_string());
                }
                _ => break,
            }
        }
    }
    if let Some(q) = seen_sent.iter().position(|s| !s) {
        return Err(FetchError::NoDatapoints {
            queue: queues[q].to_string(),
            endpoint: endpoint.to_string(),
            start: rfc3339(w.start_s),
            end: rfc3339(w.end_s),
        });
    }
    Ok(out)
}
