//! The user's current scaling policy, named on the command line (`--current keda:queueLength=5`),
//! as a backtest `Variant` that runs beside preheat and the swept peers. Only parsing lives
//! here; running and scoring are `backtest`'s.

use super::sweep::{Knob, Variant};
use crate::core::config::fmt_s;

/// The forms `--current` accepts, for error messages and `--help`.
pub const CURRENT_FORMS: &str = "keda:queueLength=N[,min=M] (KEDA aws-sqs-queue, \
     minReplicaCount M, default 0), target-tracking:T=X (AWS backlog per task), static:N \
     (N tasks always on), keep-alive:K=DURATION (e.g. keep-alive:K=10m)";

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("--current {given:?}: {problem}; accepted forms: {CURRENT_FORMS}")]
pub struct CurrentError {
    pub given: String,
    pub problem: String,
}

/// Parses `FAMILY:KNOBS` into a variant labelled `current: …`, at the assumed `scaleInAfter`.
pub fn parse_current(spec: &str) -> Result<Variant, CurrentError> {
    let err = |problem: String| CurrentError {
        given: spec.to_string(),
        problem,
    };
    let (family, rest) = spec
        .split_once(':')
        .ok_or_else(|| err("no `:` between the policy and its setting".into()))?;
    let family = family.trim().to_ascii_lowercase();
    let mut knobs: Vec<(String, String)> = Vec::new();
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => knobs.push((k.trim().to_string(), v.trim().to_string())),
            None => knobs.push((String::new(), part.to_string())),
        }
    }
    let take = |names: &[&str], knobs: &mut Vec<(String, String)>| -> Option<String> {
        let i = knobs
            .iter()
            .position(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))?;
        Some(knobs.remove(i).1)
    };
    let whole = |name: &str, v: &str, min: u32| -> Result<u32, CurrentError> {
        match v.parse::<u32>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(err(format!("{name} {v:?} is not a whole number ≥ {min}"))),
        }
    };
    let (knob, label) = match family.as_str() {
        "keda" => {
            let q = take(&["queueLength", ""], &mut knobs)
                .ok_or_else(|| err("keda needs queueLength=N".into()))?;
            let q = whole("queueLength", &q, 1)?;
            let min = match take(&["min", "minReplicaCount"], &mut knobs) {
                Some(m) => whole("min", &m, 0)?,
                None => 0,
            };
            (
                Knob::Keda {
                    queue_length: q,
                    min,
                },
                format!("keda queueLength={q} min={min}"),
            )
        }
        "target-tracking" | "tt" => {
            let t = take(&["T", "target", ""], &mut knobs)
                .ok_or_else(|| err("target-tracking needs T=X (backlog per task)".into()))?;
            let target = match t.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => x,
                _ => return Err(err(format!("T {t:?} is not a positive number"))),
            };
            (
                Knob::TargetTracking { target },
                format!("target-tracking T={target}"),
            )
        }
        "static" => {
            let n = take(&["N", ""], &mut knobs)
                .ok_or_else(|| err("static needs a task count, e.g. static:3".into()))?;
            let n = whole("N", &n, 1)?;
            (Knob::Static { n }, format!("static N={n}"))
        }
        "keep-alive" => {
            let k = take(&["K", ""], &mut knobs)
                .ok_or_else(|| err("keep-alive needs K=DURATION, e.g. K=10m".into()))?;
            let keep_s = humantime::parse_duration(&k)
                .map(|d| d.as_secs_f64())
                .map_err(|_| err(format!("K {k:?} is not a duration (e.g. 10m)")))?;
            (
                Knob::KeepAlive { keep_s },
                format!("keep-alive K={}", fmt_s(keep_s)),
            )
        }
        other => return Err(err(format!("unknown policy {other:?}"))),
    };
    if let Some((k, v)) = knobs.first() {
        return Err(err(if k.is_empty() {
            format!("unexpected setting {v:?}")
        } else {
            format!("unknown setting {k:?} for {family}")
        }));
    }
    Ok(Variant {
        family: family_name(&knob).to_string(),
        label: format!("current: {label}"),
        is_default: false,
        scale_in_after_s: None,
        knob,
    })
}

fn family_name(k: &Knob) -> &'static str {
    match k {
        Knob::Keda { .. } => "keda",
        Knob::TargetTracking { .. } => "target-tracking",
        Knob::Static { .. } => "static",
        Knob::KeepAlive { .. } => "keep-alive",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_documented_forms_parse() {
        let k = parse_current("keda:queueLength=5").unwrap();
        assert_eq!(
            k.knob,
            Knob::Keda {
                queue_length: 5,
                min: 0
            }
        );
        assert_eq!(k.label, "current: keda queueLength=5 min=0");
        assert_eq!(k.family, "keda");
        let k = parse_current("keda:queueLength=2,min=1").unwrap();
        assert_eq!(
            k.knob,
            Knob::Keda {
                queue_length: 2,
                min: 1
            }
        );
        assert_eq!(
            parse_current("target-tracking:T=2").unwrap().knob,
            Knob::TargetTracking { target: 2.0 }
        );
        assert_eq!(
            parse_current("static:3").unwrap().knob,
            Knob::Static { n: 3 }
        );
        assert_eq!(
            parse_current("keep-alive:K=10m").unwrap().knob,
            Knob::KeepAlive { keep_s: 600.0 }
        );
    }

    #[test]
    fn bad_forms_list_the_accepted_ones() {
        for (spec, says) in [
            ("keda", "no `:`"),
            ("hpa:3", "unknown policy \"hpa\""),
            ("keda:min=1", "keda needs queueLength=N"),
            ("keda:queueLength=0", "not a whole number ≥ 1"),
            ("static:three", "not a whole number"),
            ("target-tracking:T=-1", "not a positive number"),
            (
                "keda:queueLength=5,cooldown=60",
                "unknown setting \"cooldown\"",
            ),
        ] {
            let e = parse_current(spec).unwrap_err().to_string();
            assert!(e.contains(says), "{spec}: {e}");
            assert!(
                e.contains("keda:queueLength=N") && e.contains("static:N"),
                "{e}"
            );
        }
    }
}
