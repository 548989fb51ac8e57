//! The clairvoyant zero-wait reference cost that every report prints beside the busy-time
//! floor, computed offline from the job list alone: jobs start at their arrival, each goes to
//! the worker freed most recently, a worker idles through a gap shorter than the boot time
//! (paying the gap) and otherwise is released and a new one booted (paying the boot). It is what
//! perfect foresight costs at zero wait, not a bound once waits are allowed. Billing details of
//! the simulator (60 s minimum, the MI fee split) are left to `world.rs`; `report.rs` prints it.

use crate::core::job::Job;
use std::collections::BTreeMap;

/// The offline zero-wait cost bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OracleCost {
    pub cost_usd: f64,
    /// Instance-seconds paid: busy + bridged gaps + boots.
    pub instance_seconds: f64,
    /// Workers booted.
    pub launches: u64,
}

/// Cost of serving `jobs` with zero wait by a planner that knows the future (see the module
/// doc). With `jobs_per_worker` > 1 each job slot is planned on its own and billed at
/// `1/jobs_per_worker` of an instance, which is a slight under-estimate (slots of one instance
/// cannot boot separately) and so stays a bound.
pub fn oracle_cost(
    jobs: &[Job],
    boot_s: f64,
    price_per_hour_usd: f64,
    jobs_per_worker: u32,
) -> OracleCost {
    let boot_s = boot_s.max(0.0);
    let mut order: Vec<&Job> = jobs.iter().collect();
    order.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    // Free workers keyed by the millisecond they became free (a multiset).
    let mut free: BTreeMap<i64, u32> = BTreeMap::new();
    // Workers busy until a time; moved to `free` once the clock passes it.
    let mut busy: BTreeMap<i64, u32> = BTreeMap::new();
    let ms = |t: f64| (t * 1000.0).round() as i64;
    let mut slot_seconds = 0.0;
    let mut launches = 0u64;
    for job in order {
        let now = ms(job.arrival_s);
        // Release every worker that finished by now.
        let done: Vec<i64> = busy.range(..=now).map(|(&t, _)| t).collect();
        for t in done {
            if let Some(n) = busy.remove(&t) {
                *free.entry(t).or_insert(0) += n;
            }
        }
        let reuse = free
            .range(..=now)
            .next_back()
            .map(|(&t, _)| t)
            .filter(|&t| (now - t) as f64 / 1000.0 < boot_s);
        match reuse {
            Some(t) => {
                slot_seconds += (now - t) as f64 / 1000.0;
                if let Some(n) = free.get_mut(&t) {
                    *n -= 1;
                    if *n == 0 {
                        free.remove(&t);
                    }
                }
            }
            None => {
                slot_seconds += boot_s;
                launches += 1;
            }
        }
        slot_seconds += job.service_s;
        *busy.entry(ms(job.arrival_s + job.service_s)).or_insert(0) += 1;
        // Workers idle longer than a boot are gone for good; drop them to keep the map small.
        let stale = now - ms(boot_s);
        let old: Vec<i64> = free.range(..stale).map(|(&t, _)| t).collect();
        for t in old {
            free.remove(&t);
        }
    }
    let k = f64::from(jobs_per_worker.max(1));
    let instance_seconds = slot_seconds / k;
    OracleCost {
        cost_usd: instance_seconds * price_per_hour_usd / 3600.0,
        instance_seconds,
        launches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(a: f64, s: f64) -> Job {
        Job {
            arrival_s: a,
            service_s: s,
        }
    }

    #[test]
    fn back_to_back_jobs_share_one_worker() {
        let c = oracle_cost(&[job(0.0, 10.0), job(10.0, 10.0)], 100.0, 3600.0, 1);
        assert_eq!(c.launches, 1);
        assert!((c.instance_seconds - 120.0).abs() < 1e-9);
    }

    #[test]
    fn cost_bridges_short_gaps_and_reboots_after_long_ones() {
        // Gap of 50 s < boot 100 s: bridged. Gap of 500 s: released and rebooted.
        let jobs = [job(0.0, 10.0), job(60.0, 10.0), job(570.0, 10.0)];
        let c = oracle_cost(&jobs, 100.0, 3600.0, 1);
        assert_eq!(c.launches, 2);
        assert!((c.instance_seconds - (100.0 + 10.0 + 50.0 + 10.0 + 100.0 + 10.0)).abs() < 1e-9);
        assert!(
            (c.cost_usd - c.instance_seconds).abs() < 1e-9,
            "$3600/h = $1/s"
        );
    }
}
