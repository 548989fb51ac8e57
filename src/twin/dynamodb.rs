//! The twin's DynamoDB endpoint (AWS JSON 1.0), just enough for preheat's writer lease
//! (`aws::lease`): `PutItem`, `GetItem` and `DeleteItem` on any table, items kept in memory,
//! with the two condition expressions the lease sends evaluated as DynamoDB would ("missing,
//! mine or expired" for a take, "mine" for a release). Any other condition is refused with a
//! `ValidationException` naming it, rather than guessed at. It lets two controllers pointed at
//! one twin contend for a service; who should win is the lease's business.

use super::{Answer, TwinState, WireError};
use serde_json::{Map, Value, json};

const JSON_1_0: &str = "application/x-amz-json-1.0";

/// The take-or-renew condition `aws::lease` sends.
const TAKE: &str = "attribute_not_exists(lease_key) OR holder = :me OR expires_at_ms < :now";
/// The release condition.
const RELEASE: &str = "holder = :me";

pub fn error(e: &WireError) -> Answer {
    Answer {
        status: e.status,
        content_type: JSON_1_0,
        headers: vec![("x-amzn-errortype", e.code.to_string())],
        body: serde_json::to_vec(&json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{}", e.code),
            "message": e.message
        }))
        .unwrap_or_default(),
    }
}

pub fn answer(st: &mut TwinState, op: &str, body: &[u8]) -> Answer {
    super::json_answer(
        body,
        JSON_1_0,
        "SerializationException",
        |req| dispatch(st, op, req),
        error,
    )
}

fn invalid(message: impl Into<String>) -> WireError {
    WireError::client("ValidationException", message)
}

fn failed() -> WireError {
    WireError::client(
        "ConditionalCheckFailedException",
        "The conditional request failed",
    )
}

/// `{"S": "x"}` → "x"; `{"N": "12"}` → 12 (as f64) for comparisons.
fn s_of(v: Option<&Value>) -> Option<&str> {
    v?.get("S")?.as_str()
}

fn n_of(v: Option<&Value>) -> Option<f64> {
    v?.get("N")?.as_str()?.parse().ok()
}

/// Whether `cond` holds for `item` (`None` = no such item), for the lease's two conditions.
fn holds(cond: &str, item: Option<&Map<String, Value>>, values: &Value) -> Result<bool, WireError> {
    let me = s_of(values.get(":me"));
    let holder = item.and_then(|i| s_of(i.get("holder")));
    match cond {
        TAKE => {
            let now = n_of(values.get(":now")).ok_or_else(|| invalid(":now must be a number"))?;
            let expires = item.and_then(|i| n_of(i.get("expires_at_ms")));
            Ok(
                item.is_none()
                    || (me.is_some() && holder == me)
                    || expires.is_some_and(|e| e < now),
            )
        }
        RELEASE => Ok(item.is_some() && me.is_some() && holder == me),
        other => Err(invalid(format!(
            "the twin evaluates only preheat's lease conditions, not {other:?}"
        ))),
    }
}

fn key_of(req: &Value, field: &str) -> Result<(String, String), WireError> {
    let table = req
        .get("TableName")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("TableName is required"))?;
    let key = s_of(req.get(field).and_then(|k| k.get("lease_key")))
        .ok_or_else(|| invalid(format!("{field}.lease_key (a string) is required")))?;
    Ok((table.to_string(), key.to_string()))
}

fn dispatch(st: &mut TwinState, op: &str, req: &Value) -> Result<Value, WireError> {
    let values = req
        .get("ExpressionAttributeValues")
        .cloned()
        .unwrap_or(json!({}));
    let cond = req.get("ConditionExpression").and_then(Value::as_str);
    match op {
        "PutItem" => {
            let k = key_of(req, "Item")?;
            let item = req
                .get("Item")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(c) = cond
                && !holds(c, st.items.get(&k), &values)?
            {
                return Err(failed());
            }
            st.items.insert(k, item);
            Ok(json!({}))
        }
        "GetItem" => {
            let k = key_of(req, "Key")?;
            Ok(match st.items.get(&k) {
                Some(i) => json!({"Item": i}),
                None => json!({}),
            })
        }
        "DeleteItem" => {
            let k = key_of(req, "Key")?;
            if let Some(c) = cond
                && !holds(c, st.items.get(&k), &values)?
            {
                return Err(failed());
            }
            st.items.remove(&k);
            Ok(json!({}))
        }
        other => Err(WireError::client(
            "UnknownOperationException",
            format!("the twin does not serve DynamoDB {other} (preheat's lease never calls it)"),
        )),
    }
}
