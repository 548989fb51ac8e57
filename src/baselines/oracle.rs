//! The clairvoyant oracle: a policy that reads the whole trace in advance.
//!
//! [`Oracle`] knows every job's arrival and service time. At each tick it sets desired to the
//! peak zero-wait concurrency (every job starting the moment it arrives) over the next
//! `max(lead, hold) + tick` seconds: `lead` covers a cold start, so capacity is up before the
//! jobs it is for arrive; `hold` keeps a worker through any gap shorter than a cold start, which
//! is when idling is cheaper than booting again. It also never asks for fewer workers than the
//! messages in the queue need, so a slow boot in the world does not strand work. It is not a
//! baseline anyone can run; it shows how much of the gap to the floor a perfect forecast closes.
//!
//! [`Oracle::slo_aware`] is the same clairvoyant policy using the wait allowance: it plans for
//! every job starting `max_wait` (less one tick, for safety) after it arrives, so each needed
//! worker is launched to be ready by arrival + max_wait rather than by arrival, and it does not
//! launch for the queue beyond that plan. It shows what clairvoyance buys at a given SLO.
//!
//! The offline zero-wait reference cost that reports print lives with the metrics, in
//! `crate::sim::reference`.

use super::{BaselineCommon, ceil_tasks, hold, set_to};
use crate::core::job::Job;
use crate::core::model::{Decision, Observation, Policy};

/// Oracle settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OracleParams {
    /// How far ahead capacity is requested: at least one (high-quantile) cold start.
    pub lead_s: f64,
    /// Gaps shorter than this are bridged by keeping the worker.
    pub hold_s: f64,
    /// Re-decide cadence.
    pub tick_s: f64,
}

impl Default for OracleParams {
    fn default() -> Self {
        OracleParams {
            lead_s: 300.0,
            hold_s: 240.0,
            tick_s: 15.0,
        }
    }
}

/// Zero-wait concurrency as a step function: `levels[i]` holds on `[times[i], times[i+1])`, with
/// a sparse table for the maximum over any index range in O(1).
#[derive(Debug, Clone)]
pub struct ConcurrencyProfile {
    times: Vec<f64>,
    levels: Vec<u32>,
    /// `table[j][i]` = max of `levels[i .. i + 2^j]`.
    table: Vec<Vec<u32>>,
}

impl ConcurrencyProfile {
    pub fn new(jobs: &[Job]) -> Self {
        let mut events: Vec<(f64, i64)> = Vec::with_capacity(jobs.len() * 2);
        for j in jobs {
            events.push((j.arrival_s, 1));
            events.push((j.arrival_s + j.service_s, -1));
        }
        // Ends before starts at the same instant: a worker freed at t can take a job at t.
        events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut times = Vec::new();
        let mut levels = Vec::new();
        let mut level: i64 = 0;
        let mut i = 0;
        while i < events.len() {
            let t = events[i].0;
            while i < events.len() && events[i].0 == t {
                level += events[i].1;
                i += 1;
            }
            times.push(t);
            levels.push(level.max(0) as u32);
        }
        let mut table = vec![levels.clone()];
        let mut width = 1;
        while width * 2 <= levels.len() {
            let prev = table.last().expect("table starts non-empty");
            let next: Vec<u32> = (0..=levels.len() - width * 2)
                .map(|i| prev[i].max(prev[i + width]))
                .collect();
            table.push(next);
            width *= 2;
        }
        ConcurrencyProfile {
            times,
            levels,
            table,
        }
    }

    /// The highest level over the whole trace.
    pub fn max(&self) -> u32 {
        self.levels.iter().copied().max().unwrap_or(0)
    }

    /// The level at time `t` (0 before the first job).
    pub fn at(&self, t: f64) -> u32 {
        match self.times.partition_point(|&x| x <= t) {
            0 => 0,
            i => self.levels[i - 1],
        }
    }

    /// The peak level anywhere in `[from, to]`.
    pub fn peak(&self, from: f64, to: f64) -> u32 {
        if self.levels.is_empty() || to < from {
            return 0;
        }
        // The step in force at `from`, through the last step starting at or before `to`.
        let lo = self.times.partition_point(|&x| x <= from).saturating_sub(1);
        let hi = self.times.partition_point(|&x| x <= to);
        if hi == 0 {
            return 0;
        }
        let hi = hi - 1;
        if hi < lo {
            return self.levels[lo];
        }
        let len = hi - lo + 1;
        let j = usize::BITS as usize - 1 - len.leading_zeros() as usize;
        self.table[j][lo].max(self.table[j][hi + 1 - (1 << j)])
    }
}

/// The clairvoyant policy.
#[derive(Debug, Clone)]
pub struct Oracle {
    profile: ConcurrencyProfile,
    params: OracleParams,
    common: BaselineCommon,
    /// How long each job may wait in the plan (0 = the zero-wait oracle).
    defer_s: f64,
}

impl Oracle {
    pub fn new(jobs: &[Job], params: OracleParams, common: BaselineCommon) -> Self {
        Oracle {
            profile: ConcurrencyProfile::new(jobs),
            params,
            common,
            defer_s: 0.0,
        }
    }

    /// The SLO-aware clairvoyant reference: plans each job to start by arrival + `max_wait_s`.
    pub fn slo_aware(
        jobs: &[Job],
        max_wait_s: f64,
        params: OracleParams,
        common: BaselineCommon,
    ) -> Self {
        let defer_s = (max_wait_s - params.tick_s.max(1.0)).max(0.0);
        let deferred: Vec<Job> = jobs
            .iter()
            .map(|j| Job {
                arrival_s: j.arrival_s + defer_s,
                service_s: j.service_s,
            })
            .collect();
        Oracle {
            profile: ConcurrencyProfile::new(&deferred),
            params,
            common,
            defer_s,
        }
    }
}

impl Policy for Oracle {
    fn name(&self) -> &str {
        "oracle"
    }

    fn decide(&mut self, obs: &Observation, now_s: f64) -> Decision {
        let tick_s = self.params.tick_s.max(1.0);
        let wake = now_s + tick_s;
        if obs.service.is_none() {
            return hold("oracle: service not observed; holding", now_s, wake);
        }
        let horizon_s = self.params.lead_s.max(self.params.hold_s).max(0.0) + tick_s;
        let k = f64::from(self.common.jobs_per_task());
        let peak = ceil_tasks(f64::from(self.profile.peak(now_s, now_s + horizon_s)) / k);
        if self.defer_s > 0.0 {
            // The plan already covers the queue: its jobs are due by arrival + max_wait.
            let target = self.common.clamp(peak);
            return set_to(
                obs,
                target,
                format!(
                    "oracle (SLO-aware): peak demand {peak} task(s) in the next {horizon_s:.0} s with every job starting {:.0} s after it arrives",
                    self.defer_s
                ),
                now_s,
                wake,
            );
        }
        let queued = obs
            .queue
            .map(|q| ceil_tasks((q.visible + q.in_flight + q.delayed) as f64 / k))
            .unwrap_or(0);
        let target = self.common.clamp(peak.max(queued));
        set_to(
            obs,
            target,
            format!(
                "oracle: peak zero-wait demand {peak} task(s) in the next {:.0} s, {queued} for the queue now",
                horizon_s
            ),
            now_s,
            wake,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::testutil::{check_all_none, check_bounds, obs, run_strategy, set};
    use proptest::prelude::*;

    fn job(a: f64, s: f64) -> Job {
        Job {
            arrival_s: a,
            service_s: s,
        }
    }

    #[test]
    fn profile_counts_overlaps_and_finds_peaks() {
        let p = ConcurrencyProfile::new(&[job(0.0, 10.0), job(5.0, 10.0), job(20.0, 5.0)]);
        assert_eq!(p.at(-1.0), 0);
        assert_eq!(p.at(0.0), 1);
        assert_eq!(p.at(7.0), 2);
        assert_eq!(p.at(12.0), 1);
        assert_eq!(p.at(17.0), 0);
        assert_eq!(p.peak(11.0, 19.0), 1);
        assert_eq!(p.peak(16.0, 19.0), 0);
        assert_eq!(p.peak(16.0, 20.0), 1);
        assert_eq!(p.peak(-5.0, 100.0), 2);
    }

    /// The SLO-aware reference launches for a job so it is ready by arrival + max_wait, not by
    /// arrival, and does not launch for a waiting job before its plan says so.
    #[test]
    fn slo_aware_launches_for_arrival_plus_max_wait() {
        let jobs = [job(1000.0, 100.0)];
        let common = crate::baselines::testutil::up_to(5);
        let p = OracleParams::default();
        let mut zero = Oracle::new(&jobs, p, common);
        let mut slo = Oracle::slo_aware(&jobs, 600.0, p, common);
        // Lead 300 s + a tick: the zero-wait oracle launches at 700 s.
        assert_eq!(set(&zero.decide(&obs(0, 0, 0, 0, 0), 700.0)), Some(1));
        assert_eq!(set(&slo.decide(&obs(0, 0, 0, 0, 0), 700.0)), None);
        // The job waits in the queue; planned start 1000 + 585: launch from 1270.
        assert_eq!(set(&slo.decide(&obs(1, 0, 0, 0, 0), 1200.0)), None);
        assert_eq!(set(&slo.decide(&obs(1, 0, 0, 0, 0), 1280.0)), Some(1));
    }

    #[test]
    fn back_to_back_jobs_share_one_worker() {
        let p = ConcurrencyProfile::new(&[job(0.0, 10.0), job(10.0, 10.0)]);
        assert_eq!(p.peak(0.0, 30.0), 1);
    }

    #[test]
    fn policy_looks_one_lead_ahead() {
        let jobs = [job(1000.0, 60.0), job(1000.0, 60.0), job(1010.0, 60.0)];
        let common = BaselineCommon {
            min_tasks: 0,
            max_tasks: 10,
            jobs_per_task: 1,
        };
        let params = OracleParams {
            lead_s: 300.0,
            hold_s: 200.0,
            tick_s: 15.0,
        };
        let mut o = Oracle::new(&jobs, params, common);
        assert_eq!(
            set(&o.decide(&obs(0, 0, 0, 0, 0), 600.0)),
            None,
            "too early"
        );
        assert_eq!(set(&o.decide(&obs(0, 0, 0, 0, 0), 700.0)), Some(3));
        // After the burst the queue still holds two messages: never below them.
        assert_eq!(set(&o.decide(&obs(1, 1, 3, 3, 0), 2000.0)), Some(2));
    }

    proptest! {
        #[test]
        fn bounds_hold(steps in run_strategy(), lo in 0u32..4, extra in 0u32..6) {
            let jobs: Vec<Job> = (0..50).map(|i| job(900.0 + f64::from(i) * 37.0, 120.0)).collect();
            let common = BaselineCommon { min_tasks: lo, max_tasks: lo + extra, jobs_per_task: 1 };
            let mut o = Oracle::new(&jobs, OracleParams::default(), common);
            check_bounds(&mut o, &steps, lo, lo + extra)?;
            let mut o = Oracle::new(&jobs, OracleParams::default(), common);
            check_all_none(&mut o, &[1.0, 30.0, 600.0])?;
        }

        #[test]
        fn peak_matches_brute_force(
            raw in prop::collection::vec((0.0f64..500.0, 1.0f64..100.0), 1..40),
            from in 0.0f64..600.0,
            len in 0.0f64..200.0,
        ) {
            let jobs: Vec<Job> = raw.iter().map(|&(a, s)| job(a, s)).collect();
            let p = ConcurrencyProfile::new(&jobs);
            let to = from + len;
            // The level is piecewise constant, changing only at event times: check those in range.
            let mut probes = vec![from, to];
            for j in &jobs {
                for t in [j.arrival_s, j.arrival_s + j.service_s] {
                    if t >= from && t <= to { probes.push(t); }
                }
            }
            let brute = probes
                .iter()
                .map(|&t| jobs.iter().filter(|j| j.arrival_s <= t && t < j.arrival_s + j.service_s).count() as u32)
                .max()
                .unwrap_or(0);
            prop_assert_eq!(p.peak(from, to), brute);
        }
    }
}
