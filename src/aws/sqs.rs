//! SQS reads: one `GetQueueAttributes` call per service per tick, turned into `QueueDepth`.
//!
//! It reads the three approximate counts straight from the queue (not CloudWatch, whose SQS
//! metrics lag up to 15 min after an idle night). It leaves interpreting the counts (and their
//! eventual consistency) to the core, and retries to the SDK and the loop.

use super::{AwsError, call};
use crate::core::model::QueueDepth;
use aws_sdk_sqs::types::QueueAttributeName;

const API: &str = "sqs:GetQueueAttributes";

/// Visible, in-flight and delayed message counts of `queue_url`.
pub async fn queue_depth(
    client: &aws_sdk_sqs::Client,
    endpoint: &str,
    queue_url: &str,
) -> Result<QueueDepth, AwsError> {
    let req = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed);
    // Through `call`, like every other read, so the per-API counters (footprint, /metrics)
    // and the AccessDenied tracking see SQS too.
    let out = call(API, endpoint, req.send()).await.map_err(|e| {
        e.not_found_if(
            &["NonExistentQueue", "QueueDoesNotExist"],
            "SQS queue",
            queue_url,
            "check services[].queue_url (and the region: queue URLs are regional)",
        )
    })?;
    let attrs = out.attributes();
    let count = |name: QueueAttributeName| -> Result<u64, AwsError> {
        let raw = attrs
            .and_then(|a| a.get(&name))
            .ok_or_else(|| AwsError::BadAnswer {
                api: API,
                message: format!("{queue_url}: no {} in the answer", name.as_str()),
            })?;
        raw.parse::<u64>().map_err(|_| AwsError::BadAnswer {
            api: API,
            message: format!("{queue_url}: {} = {raw:?} is not a count", name.as_str()),
        })
    };
    Ok(QueueDepth {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages)?,
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)?,
    })
}
