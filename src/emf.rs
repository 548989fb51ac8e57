//! CloudWatch Embedded Metric Format (EMF) lines: one JSON line per service per tick, on
//! stdout, from which CloudWatch Logs (Fargate's awslogs driver) makes metrics with no scraper
//! and no PutMetricData permission. Opt-in (`preheat run --emf`).
//!
//! This file only formats a line from the gauges the telemetry observer keeps; the observer
//! decides when to print it, and the CloudFormation template's alarms use these names.

use crate::telemetry::ServiceGauges;

/// The CloudWatch namespace of every metric (the template's alarms use it).
pub const NAMESPACE: &str = "Preheat";

/// One EMF line for service `g` at `now_s` (Unix seconds). `apply_errors` is the count since
/// the previous line, `denied_apis` the number of APIs denied right now.
pub fn line(g: &ServiceGauges, now_s: f64, apply_errors: u64, denied_apis: usize) -> String {
    let mut values: Vec<(&str, &str, f64)> = vec![
        (
            "ObservationOk",
            "Count",
            if g.observation_ok { 1.0 } else { 0.0 },
        ),
        ("ApplyErrors", "Count", apply_errors as f64),
        ("AccessDeniedApis", "Count", denied_apis as f64),
    ];
    let optional: [(&str, &str, Option<f64>); 8] = [
        ("QueueVisible", "Count", g.visible.map(|v| v as f64)),
        ("QueueInFlight", "Count", g.in_flight.map(|v| v as f64)),
        ("DesiredTasks", "Count", g.desired_observed.map(f64::from)),
        ("RunningTasks", "Count", g.running.map(f64::from)),
        ("DecidedTasks", "Count", g.decided.map(f64::from)),
        (
            "LastGoodObservationAgeSeconds",
            "Seconds",
            g.last_good_observation_s.map(|t| (now_s - t).max(0.0)),
        ),
        (
            "UnprotectedBusyWorkers",
            "Count",
            g.unprotected_busy.map(f64::from),
        ),
        (
            "LeaseHeld",
            "Count",
            g.lease_held.map(|h| if h { 1.0 } else { 0.0 }),
        ),
    ];
    values.extend(
        optional
            .into_iter()
            .filter_map(|(n, u, v)| v.map(|v| (n, u, v))),
    );
    let metrics: Vec<serde_json::Value> = values
        .iter()
        .map(|(n, u, _)| serde_json::json!({"Name": n, "Unit": u}))
        .collect();
    let mut root = serde_json::Map::new();
    root.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": (now_s * 1000.0) as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": metrics,
            }],
        }),
    );
    root.insert("Service".into(), serde_json::Value::from(g.name.clone()));
    for (n, _, v) in values {
        root.insert(n.into(), serde_json::Value::from(v));
    }
    serde_json::Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_every_value_it_carries() {
        let g = ServiceGauges {
            name: "whisper".into(),
            visible: Some(4),
            desired_observed: Some(2),
            observation_ok: true,
            last_good_observation_s: Some(100.0),
            ..ServiceGauges::default()
        };
        let v: serde_json::Value = serde_json::from_str(&line(&g, 130.0, 1, 0)).unwrap();
        assert_eq!(v["Service"], "whisper");
        assert_eq!(v["QueueVisible"], 4.0);
        assert_eq!(v["LastGoodObservationAgeSeconds"], 30.0);
        assert_eq!(v["ApplyErrors"], 1.0);
        assert_eq!(v["_aws"]["Timestamp"], 130_000);
        let declared = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name} declared but not carried");
        }
        assert!(
            v.get("QueueInFlight").is_none(),
            "unknown values are left out"
        );
    }
}
