//! What the backtest runs: every policy family with the knobs its users have, as `Variant`s,
//! and how each becomes a policy on a scenario's simulated world.
//!
//! Every baseline is swept over its own knobs and over the capacity provider's `scaleInAfter`
//! (the assumed default 5 min, 0 s, 30 s and 10 min: any user can set it by hand), keeping the
//! documented defaults with the assumed `scaleInAfter` as its family's "default" row. The
//! `scaleInAfter` sweep covers each family's default and a spread of its knob grid, not every
//! point, to keep the backtest within a few minutes on two cores. preheat
//! runs as configured and SQS-only (CloudWatch withheld). Two clairvoyant references read the
//! trace: zero wait, and SLO-aware (each job planned to start by arrival + max_wait). Leaves
//! running, scoring and rendering to `backtest`.

use crate::baselines::{
    BaselineCommon, Keda, KedaParams, KeepAlive, KeepAliveParams, Oracle, StaticN, StaticParams,
    Step, StepParams, TargetTracking, TargetTrackingParams,
};
use crate::core::config::{Slo, fmt_s};
use crate::core::decide::Preheat;
use crate::core::model::Policy;
use crate::sim::SimSetup;
use serde::Serialize;

/// `scaleInAfter` values swept for every baseline; `None` = left at the assumed default.
const SCALE_IN_AFTER_S: [Option<i32>; 4] = [None, Some(0), Some(30), Some(600)];

/// A policy family and one setting of its knobs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    pub family: String,
    pub label: String,
    /// The documented-default configuration of its family.
    pub is_default: bool,
    /// The capacity provider's `scaleInAfter` set by hand for this run (`None` = the assumed
    /// default, or what preheat writes itself).
    pub scale_in_after_s: Option<i32>,
    #[serde(skip)]
    pub(crate) knob: Knob,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Knob {
    Preheat { sqs_only: bool },
    Oracle,
    OracleSlo,
    Keda { queue_length: u32, min: u32 },
    TargetTracking { target: f64 },
    Step { msgs_per_step: u32, exact: bool },
    KeepAlive { keep_s: f64 },
    Static { n: u32 },
}

/// Whether a family is preheat or a clairvoyant reference (not a peer in the verdicts).
pub fn is_preheat_or_reference(family: &str) -> bool {
    family.starts_with("preheat") || family.starts_with("oracle")
}

/// preheat as configured (with CloudWatch), the row every verdict is about.
pub fn preheat() -> Variant {
    Variant {
        family: "preheat".into(),
        label: "preheat".into(),
        is_default: true,
        scale_in_after_s: None,
        knob: Knob::Preheat { sqs_only: false },
    }
}

/// One family's variants for every swept `scaleInAfter` (only the assumed default when
/// `sweep_sia` is false, to keep the backtest's run count down on knob settings far from a
/// family's best): the default knob setting at the assumed default is the family's default row.
fn with_scale_in_after(
    family: &str,
    label: String,
    default_knobs: bool,
    knob: Knob,
    sweep_sia: bool,
) -> impl Iterator<Item = Variant> {
    let family = family.to_string();
    let n = if sweep_sia { SCALE_IN_AFTER_S.len() } else { 1 };
    SCALE_IN_AFTER_S[..n]
        .iter()
        .copied()
        .map(move |sia| Variant {
            family: family.clone(),
            label: match sia {
                None => label.clone(),
                Some(s) => format!("{label}, scaleInAfter={}", fmt_s(f64::from(s))),
            },
            is_default: default_knobs && sia.is_none(),
            scale_in_after_s: sia,
            knob: knob.clone(),
        })
}

/// Variants whose configuration depends on the SLO: preheat SQS-only, the SLO-aware
/// clairvoyant reference and target tracking (its documented T = wait ÷ mean service time,
/// measured on the trace, is the default; a grid around it).
pub fn sweep_for_slo(setup: &SimSetup, slo: &Slo) -> Vec<Variant> {
    let mut v = vec![
        Variant {
            family: "preheat-sqs-only".into(),
            label: "preheat, SQS-only (no CloudWatch)".into(),
            is_default: true,
            scale_in_after_s: None,
            knob: Knob::Preheat { sqs_only: true },
        },
        Variant {
            family: "oracle-slo".into(),
            label: "clairvoyant, SLO-aware (ready by arrival + max wait)".into(),
            is_default: true,
            scale_in_after_s: None,
            knob: Knob::OracleSlo,
        },
    ];
    let documented = TargetTrackingParams::for_slo(slo.max_wait_s, setup.mean_service_s())
        .target_backlog_per_task;
    let mut targets = vec![documented];
    for t in [0.25, 0.5, 1.0, 2.0, 4.0] {
        if (t - documented).abs() > 1e-9 {
            targets.push(t);
        }
    }
    for (i, t) in targets.into_iter().enumerate() {
        let label = if i == 0 {
            format!("target-tracking T={t:.3} (wait/mean S)")
        } else {
            format!("target-tracking T={t}")
        };
        let sweep_sia = i == 0 || [0.5, 1.0, 2.0].contains(&t);
        v.extend(with_scale_in_after(
            "target-tracking",
            label,
            i == 0,
            Knob::TargetTracking { target: t },
            sweep_sia,
        ));
    }
    v
}

/// Every SLO-independent configuration to sweep for `setup` (each baseline's knobs).
pub fn sweep(setup: &SimSetup) -> Vec<Variant> {
    let max = setup.service.max_tasks;
    let mut v = vec![Variant {
        family: "oracle".into(),
        label: "clairvoyant, zero wait".into(),
        is_default: true,
        scale_in_after_s: None,
        knob: Knob::Oracle,
    }];
    for q in [1u32, 2, 5, 10] {
        for min in [0u32, 1, 2, 4] {
            if min <= max {
                v.extend(with_scale_in_after(
                    "keda",
                    format!("keda queueLength={q} min={min}"),
                    q == 5 && min == 0,
                    Knob::Keda {
                        queue_length: q,
                        min,
                    },
                    min <= 1,
                ));
            }
        }
    }
    for m in [1u32, 5, 10] {
        v.extend(with_scale_in_after(
            "step",
            format!("step {m} msgs/step (template: +change, 5-min max)"),
            m == 10,
            Knob::Step {
                msgs_per_step: m,
                exact: false,
            },
            true,
        ));
        v.extend(with_scale_in_after(
            "step",
            format!("step exact-count {m} msgs/step (1-min mean)"),
            false,
            Knob::Step {
                msgs_per_step: m,
                exact: true,
            },
            false,
        ));
    }
    for k in [120.0, 300.0, 600.0, 1200.0, 2400.0, 3600.0] {
        v.extend(with_scale_in_after(
            "keep-alive",
            format!("keep-alive K={}", fmt_s(k)),
            k == 600.0,
            Knob::KeepAlive { keep_s: k },
            [120.0, 600.0, 2400.0].contains(&k),
        ));
    }
    // Static: the documented sizing (the zero-wait peak) and a grid of smaller levels. Its
    // tasks never stop, so no instance goes idle and `scaleInAfter` changes nothing: swept at
    // the default sizing only, to show that.
    let peak_n = StaticParams::sized_for_peak(&setup.jobs, setup.service.jobs_per_task)
        .n
        .min(max);
    let mut ns: Vec<u32> = [1u32, 2, 3, 4, 6, 8, 12, 16, 24, 32]
        .into_iter()
        .filter(|&n| n < peak_n)
        .collect();
    ns.push(peak_n);
    for n in ns {
        let is_default = n == peak_n;
        let label = if is_default {
            format!("static N={n} (peak)")
        } else {
            format!("static N={n}")
        };
        if is_default {
            v.extend(with_scale_in_after(
                "static",
                label,
                true,
                Knob::Static { n },
                true,
            ));
        } else {
            v.push(Variant {
                family: "static".into(),
                label,
                is_default,
                scale_in_after_s: None,
                knob: Knob::Static { n },
            });
        }
    }
    v
}

/// The scenario's setup as this variant runs it (the world's `scaleInAfter`, CloudWatch or not).
pub fn setup_for(variant: &Variant, setup: &SimSetup) -> SimSetup {
    let mut s = setup.clone();
    if let Some(sia) = variant.scale_in_after_s {
        s.sim.scale_in_after_default_s = sia;
    }
    if variant.knob == (Knob::Preheat { sqs_only: true }) {
        s.sim.cloudwatch_metrics = false;
    }
    s
}

/// The policy for `variant` on `setup` (already adjusted by `setup_for`).
pub fn build(variant: &Variant, setup: &SimSetup) -> Box<dyn Policy + Send> {
    let common = BaselineCommon {
        min_tasks: 0,
        max_tasks: setup.service.max_tasks,
        jobs_per_task: setup.service.jobs_per_task,
    };
    match &variant.knob {
        Knob::Preheat { .. } => Box::new(Preheat::new(setup.service.clone(), setup.tick_s)),
        Knob::Oracle => Box::new(Oracle::new(
            &setup.jobs,
            crate::sim::scenario::oracle_params(setup),
            common,
        )),
        Knob::OracleSlo => Box::new(Oracle::slo_aware(
            &setup.jobs,
            setup.service.slo.max_wait_s,
            crate::sim::scenario::oracle_params(setup),
            common,
        )),
        Knob::Keda { queue_length, min } => Box::new(Keda::new(
            KedaParams {
                queue_length: *queue_length,
                min_replica_count: *min,
                ..KedaParams::default()
            },
            common,
        )),
        Knob::TargetTracking { target } => Box::new(TargetTracking::new(
            TargetTrackingParams::with_target(*target),
            common,
        )),
        Knob::Step {
            msgs_per_step,
            exact,
        } => {
            let base = if *exact {
                StepParams::exact_count()
            } else {
                StepParams::default()
            };
            Box::new(Step::new(
                StepParams {
                    msgs_per_step: *msgs_per_step,
                    max_step_tasks: setup.service.max_tasks,
                    ..base
                },
                common,
            ))
        }
        Knob::KeepAlive { keep_s } => Box::new(KeepAlive::new(
            KeepAliveParams {
                keep_alive_s: *keep_s,
                ..KeepAliveParams::default()
            },
            common,
        )),
        Knob::Static { n } => Box::new(StaticN::new(
            StaticParams {
                n: *n,
                ..StaticParams::default()
            },
            common,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::job::Job;

    fn setup() -> SimSetup {
        let cfg = crate::core::config::Config::parse(crate::core::config::DEFAULT_CONFIG_YAML, "t")
            .unwrap();
        let jobs = [(0.0, 60.0), (10.0, 180.0)].map(|(a, s)| Job {
            arrival_s: a,
            service_s: s,
        });
        SimSetup {
            service: cfg.services[0].clone(),
            tick_s: cfg.tick_s,
            sim: cfg.simulation.clone(),
            jobs: jobs.to_vec(),
            start_s: 0.0,
            history: Vec::new(),
        }
    }

    /// Issue #8: every baseline family is swept over scaleInAfter (assumed default, 0 s, 30 s,
    /// 10 min), its default row stays at the assumed default, and the template-faithful and
    /// exact-count step rows are labelled apart.
    #[test]
    fn every_baseline_gets_the_scale_in_after_sweep() {
        let s = setup();
        let slo = s.service.slo.clone();
        let mut all = sweep(&s);
        all.extend(sweep_for_slo(&s, &slo));
        for fam in ["keda", "target-tracking", "step", "keep-alive", "static"] {
            let sias: std::collections::BTreeSet<_> = all
                .iter()
                .filter(|v| v.family == fam)
                .map(|v| v.scale_in_after_s)
                .collect();
            assert_eq!(sias.len(), 4, "{fam}: {sias:?}");
            let defaults: Vec<_> = all
                .iter()
                .filter(|v| v.family == fam && v.is_default)
                .collect();
            assert_eq!(defaults.len(), 1, "{fam}");
            assert_eq!(defaults[0].scale_in_after_s, None, "{fam}");
        }
        assert!(
            all.iter()
                .any(|v| v.label.starts_with("step exact-count") && !v.is_default)
        );
        let labels: Vec<_> = all.iter().map(|v| v.label.as_str()).collect();
        let mut uniq = labels.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), labels.len(), "labels are unique");
        assert!(labels.contains(&"clairvoyant, zero wait"));
        // Target tracking's default T = max wait ÷ the trace's mean service time (120 s).
        let tt = all
            .iter()
            .find(|v| v.family == "target-tracking" && v.is_default)
            .unwrap();
        let want = TargetTrackingParams::for_slo(slo.max_wait_s, 120.0).target_backlog_per_task;
        assert_eq!(tt.knob, Knob::TargetTracking { target: want });
    }

    #[test]
    fn setup_for_sets_the_world_not_the_policy() {
        let s = setup();
        let slo = s.service.slo.clone();
        let v = sweep_for_slo(&s, &slo);
        let sqs = v.iter().find(|v| v.family == "preheat-sqs-only").unwrap();
        assert!(!setup_for(sqs, &s).sim.cloudwatch_metrics);
        assert!(setup_for(&preheat(), &s).sim.cloudwatch_metrics);
        let k = sweep(&s)
            .into_iter()
            .find(|v| v.scale_in_after_s == Some(30))
            .unwrap();
        assert_eq!(setup_for(&k, &s).sim.scale_in_after_default_s, 30);
    }
}
