//! The twin's CloudWatch endpoint (Smithy RPC v2 CBOR): `GetMetricData` for each served
//! queue's `AWS/SQS` `NumberOfMessagesSent` / `NumberOfMessagesDeleted` one-minute sums, as far
//! as the simulated CloudWatch has published them at this tick (late, as `simulate` models).
//!
//! Any other metric or queue answers with no datapoints, as CloudWatch does for a metric that
//! does not exist. With `simulation.cloudwatch_metrics: false` every call is AccessDenied
//! (SQS-only, as when the role lacks `cloudwatch:GetMetricData`). CBOR is read and written with
//! `aws-smithy-cbor`, the SDK's own codec; what the sums mean is the edge's concern.

use super::{Answer, TwinState, WireError};
use crate::core::model::MinuteSums;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_smithy_cbor::data::Type;
use aws_smithy_cbor::{Decoder, Encoder};
use std::collections::BTreeMap;

const CBOR: &str = "application/cbor";

/// A decoded CBOR item (only what CloudWatch requests contain).
#[derive(Debug, Clone, PartialEq)]
pub enum Cbor {
    Text(String),
    Number(f64),
    Time(f64),
    Bool(bool),
    Null,
    List(Vec<Cbor>),
    Map(BTreeMap<String, Cbor>),
}

impl Cbor {
    fn get(&self, k: &str) -> Option<&Cbor> {
        match self {
            Cbor::Map(m) => m.get(k),
            _ => None,
        }
    }
    fn text(&self) -> Option<&str> {
        match self {
            Cbor::Text(s) => Some(s),
            _ => None,
        }
    }
    fn seconds(&self) -> Option<f64> {
        match self {
            Cbor::Time(t) | Cbor::Number(t) => Some(*t),
            _ => None,
        }
    }
    fn list(&self) -> &[Cbor] {
        match self {
            Cbor::List(l) => l,
            _ => &[],
        }
    }
}

fn bad(at: usize, what: &str) -> WireError {
    WireError::client(
        "SerializationException",
        format!("CBOR at byte {at}: {what}"),
    )
}

/// Decode one item (depth-limited: requests are a few levels deep).
pub fn decode(d: &mut Decoder<'_>, depth: u32) -> Result<Cbor, WireError> {
    let at = d.position();
    if depth > 16 {
        return Err(bad(at, "nested too deeply"));
    }
    let e = |_| bad(at, "unreadable item");
    let ty = d.datatype().map_err(e)?;
    Ok(match ty {
        Type::String | Type::StringIndef => Cbor::Text(d.string().map_err(e)?),
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::I8
        | Type::I16
        | Type::I32
        | Type::I64
        | Type::Int => Cbor::Number(d.long().map_err(e)? as f64),
        Type::F16 | Type::F32 | Type::F64 => Cbor::Number(d.double().map_err(e)?),
        Type::Bool => Cbor::Bool(d.boolean().map_err(e)?),
        Type::Null | Type::Undefined => {
            d.skip().map_err(e)?;
            Cbor::Null
        }
        Type::Tag => Cbor::Time(d.timestamp().map_err(e)?.as_secs_f64()),
        Type::Array | Type::ArrayIndef => {
            let len = d.list().map_err(e)?;
            let mut items = Vec::new();
            loop {
                match len {
                    Some(n) if items.len() as u64 >= n => break,
                    None if d.datatype().map_err(e)? == Type::Break => {
                        d.skip().map_err(e)?;
                        break;
                    }
                    _ => items.push(decode(d, depth + 1)?),
                }
            }
            Cbor::List(items)
        }
        Type::Map | Type::MapIndef => {
            let len = d.map().map_err(e)?;
            let mut m = BTreeMap::new();
            let mut n = 0u64;
            loop {
                match len {
                    Some(total) if n >= total => break,
                    None if d.datatype().map_err(e)? == Type::Break => {
                        d.skip().map_err(e)?;
                        break;
                    }
                    _ => {
                        let k = d
                            .string()
                            .map_err(|_| bad(d.position(), "map key is not text"))?;
                        m.insert(k, decode(d, depth + 1)?);
                        n += 1;
                    }
                }
            }
            Cbor::Map(m)
        }
        other => return Err(bad(at, &format!("unexpected {other:?}"))),
    })
}

/// A CBOR error answer: `__type` and `message` in a map.
pub fn error(e: &WireError) -> Answer {
    let mut enc = Encoder::new(Vec::new());
    enc.map(2)
        .str("__type")
        .str(e.code)
        .str("message")
        .str(&e.message);
    Answer {
        status: e.status,
        content_type: CBOR,
        headers: vec![("smithy-protocol", "rpc-v2-cbor".to_string())],
        body: enc.into_writer(),
    }
}

pub fn answer(st: &TwinState, op: &str, body: &[u8]) -> Answer {
    let result = if op != "GetMetricData" {
        Err(WireError::client(
            "UnknownOperationException",
            format!("the twin does not serve CloudWatch {op} (preheat never calls it)"),
        ))
    } else {
        decode(&mut Decoder::new(body), 0).and_then(|req| get_metric_data(st, &req))
    };
    match result {
        Ok(b) => Answer {
            status: 200,
            content_type: CBOR,
            headers: vec![("smithy-protocol", "rpc-v2-cbor".to_string())],
            body: b,
        },
        Err(e) => error(&e),
    }
}

fn get_metric_data(st: &TwinState, req: &Cbor) -> Result<Vec<u8>, WireError> {
    const API: &str = "cloudwatch:GetMetricData";
    // Whether CloudWatch is allowed is the simulation's setting, the same for every service.
    let v = st.worlds[0].view(API)?;
    if !v.cloudwatch {
        return Err(WireError::client(
            "AccessDeniedException",
            "not authorized to perform cloudwatch:GetMetricData (the simulation runs SQS-only)",
        ));
    }
    let (Some(start), Some(end)) = (
        req.get("StartTime").and_then(Cbor::seconds),
        req.get("EndTime").and_then(Cbor::seconds),
    ) else {
        return Err(WireError::client(
            "MissingParameter",
            "StartTime and EndTime are required",
        ));
    };
    let queries = req.get("MetricDataQueries").map(Cbor::list).unwrap_or(&[]);
    if queries.len() > 500 {
        return Err(WireError::client(
            "InvalidParameterValue",
            "at most 500 MetricDataQueries per call",
        ));
    }
    let mut enc = Encoder::new(Vec::new());
    enc.map(2).str("MetricDataResults").array(queries.len());
    for q in queries {
        let id = q.get("Id").and_then(Cbor::text).unwrap_or("");
        let stat = q.get("MetricStat");
        let metric = stat.and_then(|s| s.get("Metric"));
        let namespace = metric.and_then(|m| m.get("Namespace")).and_then(Cbor::text);
        let name = metric
            .and_then(|m| m.get("MetricName"))
            .and_then(Cbor::text);
        let queue = metric
            .and_then(|m| m.get("Dimensions"))
            .map(Cbor::list)
            .unwrap_or(&[])
            .iter()
            .find(|d| d.get("Name").and_then(Cbor::text) == Some("QueueName"))
            .and_then(|d| d.get("Value"))
            .and_then(Cbor::text);
        let sum_per_minute = stat.and_then(|s| s.get("Stat")).and_then(Cbor::text) == Some("Sum")
            && stat.and_then(|s| s.get("Period")).and_then(Cbor::seconds) == Some(60.0);
        // The service whose queue the query names, if it asks for what CloudWatch has.
        let served = match queue.and_then(|q| st.by_queue(q)) {
            Some(k) if namespace == Some("AWS/SQS") && sum_per_minute => Some(k),
            _ => None,
        };
        let minutes: &[MinuteSums] = match served {
            Some(k) => {
                let metrics = st.worlds[k].view(API)?.obs.metrics.as_ref();
                &metrics.ok_or_else(|| WireError::unavailable(API))?.minutes
            }
            None => &[],
        };
        let points: Vec<(i64, f64)> = minutes
            .iter()
            .filter(|m| (m.minute_start_s as f64) >= start && (m.minute_start_s as f64) < end)
            .filter_map(|m| match name {
                Some("NumberOfMessagesSent") => Some((m.minute_start_s, m.sent as f64)),
                Some("NumberOfMessagesDeleted") => Some((m.minute_start_s, m.deleted as f64)),
                _ => None,
            })
            .collect();
        enc.map(5)
            .str("Id")
            .str(id)
            .str("Label")
            .str(name.unwrap_or(""))
            .str("Timestamps")
            .array(points.len());
        for (t, _) in &points {
            enc.timestamp(&DateTime::from_secs(*t));
        }
        enc.str("Values").array(points.len());
        for (_, x) in &points {
            enc.double(*x);
        }
        enc.str("StatusCode").str("Complete");
    }
    enc.str("Messages").array(0);
    Ok(enc.into_writer())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_it_encodes() {
        let mut enc = Encoder::new(Vec::new());
        enc.begin_map()
            .str("StartTime")
            .timestamp(&DateTime::from_secs(120))
            .str("Q")
            .array(2)
            .str("a")
            .double(1.5)
            .str("N")
            .integer(7)
            .end();
        let v = decode(&mut Decoder::new(&enc.into_writer()), 0).unwrap();
        assert_eq!(v.get("StartTime").and_then(Cbor::seconds), Some(120.0));
        assert_eq!(v.get("Q").map(Cbor::list).map(<[Cbor]>::len), Some(2));
        assert_eq!(v.get("N"), Some(&Cbor::Number(7.0)));
        assert!(decode(&mut Decoder::new(&[0xff, 0x00]), 0).is_err());
    }
}
