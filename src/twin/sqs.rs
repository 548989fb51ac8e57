//! The twin's SQS endpoint (AWS JSON 1.0, query-compatible): `GetQueueAttributes` for the
//! configured queue (each service's, by its name), answered with the tick's approximate counts (as stale as the simulation
//! says). Errors carry the classic query code in `x-amzn-query-error`, which the SDK reads.
//!
//! Queues are matched by name (the last segment of the URL), so the real queue URL of a policy
//! file works against the twin. Sending or receiving messages is the simulated workers' job,
//! not an API the twin serves.

use super::{Answer, TwinState, WireError};
use serde_json::{Value, json};

const JSON_1_0: &str = "application/x-amz-json-1.0";

/// An SQS error: JSON 1.0 body plus the query-compatible code header.
pub fn error(e: &WireError) -> Answer {
    let query_code = match e.code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        other => other,
    };
    let fault = if e.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    Answer {
        status: e.status,
        content_type: JSON_1_0,
        headers: vec![
            ("x-amzn-query-error", format!("{query_code};{fault}")),
            ("x-amzn-errortype", e.code.to_string()),
        ],
        body: serde_json::to_vec(&json!({
            "__type": format!("com.amazonaws.sqs#{}", e.code),
            "message": e.message
        }))
        .unwrap_or_default(),
    }
}

pub fn answer(st: &TwinState, op: &str, body: &[u8]) -> Answer {
    super::json_answer(
        body,
        JSON_1_0,
        "InvalidParameterValue",
        |req| dispatch(st, op, req),
        error,
    )
}

fn dispatch(st: &TwinState, op: &str, req: &Value) -> Result<Value, WireError> {
    match op {
        "GetQueueAttributes" => {
            let url = req.get("QueueUrl").and_then(Value::as_str).unwrap_or("");
            let Some(k) = st.by_queue(crate::aws::cloudwatch::queue_name(url)) else {
                return Err(WireError::client(
                    "QueueDoesNotExist",
                    format!("The specified queue does not exist: {url}"),
                ));
            };
            let v = st.worlds[k].view("sqs:GetQueueAttributes")?;
            let q = v
                .obs
                .queue
                .ok_or_else(|| WireError::unavailable("sqs:GetQueueAttributes"))?;
            let names: Vec<&str> = req
                .get("AttributeNames")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let all = names.contains(&"All");
            let mut attrs = serde_json::Map::new();
            for (name, n) in [
                ("ApproximateNumberOfMessages", q.visible),
                ("ApproximateNumberOfMessagesNotVisible", q.in_flight),
                ("ApproximateNumberOfMessagesDelayed", q.delayed),
            ] {
                if all || names.contains(&name) {
                    // SQS returns every attribute as a string.
                    attrs.insert(name.to_string(), json!(n.to_string()));
                }
            }
            Ok(json!({"Attributes": attrs}))
        }
        other => Err(WireError::client(
            "UnsupportedOperation",
            format!("the twin does not serve SQS {other} (preheat never calls it)"),
        )),
    }
}
