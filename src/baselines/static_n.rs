//! Static provisioning as a peer baseline: a constant number of tasks, sized offline (for the
//! peak, a quantile of busy workers, or an Erlang-C count).
//!
//! Source: docs/peers.md, "static" ("R constant, sized for the
//! peak"). The rule has no documented default size, so `StaticParams::default()` is 1 task and
//! [`StaticParams::sized_for_peak`] gives the documented sizing from a trace's zero-wait peak
//! concurrency. It re-asserts N each tick (an operator's fixed desired count) and holds when
//! the service read is missing. Stateless. Leaves the sizing quantile to the backtest.

use super::{BaselineCommon, ConcurrencyProfile, hold, period, set_to};
use crate::core::job::Job;
use crate::core::model::{Decision, Observation, Policy};

/// Static settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticParams {
    /// N: the constant task count (clamped to the common bounds).
    pub n: u32,
    /// How often the count is re-asserted.
    pub tick_s: f64,
}

impl Default for StaticParams {
    fn default() -> Self {
        StaticParams { n: 1, tick_s: 60.0 }
    }
}

impl StaticParams {
    /// N = the peak number of jobs in service at zero wait over `jobs`, in tasks of
    /// `jobs_per_task`: "sized for the peak".
    pub fn sized_for_peak(jobs: &[Job], jobs_per_task: u32) -> Self {
        let peak = ConcurrencyProfile::new(jobs).max();
        StaticParams {
            n: peak.div_ceil(jobs_per_task.max(1)),
            ..StaticParams::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct StaticN {
    params: StaticParams,
    common: BaselineCommon,
}

impl StaticN {
    pub fn new(params: StaticParams, common: BaselineCommon) -> Self {
        StaticN { params, common }
    }

    pub fn params(&self) -> &StaticParams {
        &self.params
    }
}

impl Policy for StaticN {
    fn name(&self) -> &str {
        "static"
    }

    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
        let wake_s = now_s + period(self.params.tick_s);
        if obs.service.is_none() {
            return hold("static: service read missing → hold", now_s, wake_s);
        }
        let to = self.common.clamp(self.params.n);
        set_to(
            obs,
            to,
            format!("static: N={} → {to}", self.params.n),
            now_s,
            wake_s,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testutil::{check_all_none, check_bounds, obs, run_strategy, set};
    use proptest::prelude::*;

    fn common() -> BaselineCommon {
        crate::baselines::testutil::up_to(10)
    }

    #[test]
    fn holds_n_whatever_the_queue() {
        let mut s = StaticN::new(StaticParams { n: 3, tick_s: 60.0 }, common());
        assert_eq!(s.name(), "static");
        let d = s.decide(&obs(0, 0, 0, 0, 0), 0.0);
        assert_eq!((set(&d), d.wake_at_s), (Some(3), 60.0));
        assert_eq!(set(&s.decide(&obs(500, 0, 3, 3, 0), 60.0)), None);
        assert_eq!(set(&s.decide(&obs(0, 0, 7, 7, 0), 120.0)), Some(3));
        let mut s = StaticN::new(
            StaticParams {
                n: 30,
                tick_s: 60.0,
            },
            common(),
        );
        assert_eq!(
            set(&s.decide(&obs(0, 0, 0, 0, 0), 0.0)),
            Some(10),
            "clamped to max"
        );
    }

    #[test]
    fn sized_for_peak() {
        let jobs = [
            Job {
                arrival_s: 0.0,
                service_s: 10.0,
            },
            Job {
                arrival_s: 5.0,
                service_s: 10.0,
            },
            Job {
                arrival_s: 6.0,
                service_s: 10.0,
            },
            Job {
                arrival_s: 30.0,
                service_s: 10.0,
            },
        ];
        assert_eq!(StaticParams::sized_for_peak(&jobs, 1).n, 3);
        assert_eq!(StaticParams::sized_for_peak(&jobs, 2).n, 2);
        assert_eq!(StaticParams::sized_for_peak(&[], 1).n, 0);
    }

    proptest! {
        #[test]
        fn prop_bounds(steps in run_strategy(), min in 0u32..4, extra in 0u32..30, n in 0u32..50) {
            let c = BaselineCommon { min_tasks: min, max_tasks: min + extra, jobs_per_task: 1 };
            let mut s = StaticN::new(StaticParams { n, tick_s: 60.0 }, c);
            check_bounds(&mut s, &steps, c.min_tasks, c.max_tasks)?;
        }

        #[test]
        fn prop_all_none_no_action(dts in prop::collection::vec(0.0f64..100.0, 1..50)) {
            check_all_none(&mut StaticN::new(StaticParams::default(), common()), &dts)?;
        }
    }
}
