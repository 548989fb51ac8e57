//! What a strict SLO costs any policy that cannot see a job before it arrives: a bound computed
//! from the trace alone, for the backtest's verdict on pairs where no online rule comes close.
//!
//! An *opening* is an arrival after a silence (no arrival) longer than the fastest cold start:
//! nothing before it said it would come, and a worker launched when it arrives is ready only a
//! cold start later. The jobs of a flurry that opens so, and that cannot wait for such a launch
//! within the SLO, start in time only on workers already there: idle ones, or busy ones that
//! finish soon enough. The bound counts, first in first out, the jobs that miss for a pool of W
//! idle workers at every opening, generously: every worker busy at the opening (one per
//! earlier job still running) is free the moment its job ends, unlimited launches are made at
//! the opening and are ready after the fastest cold start, and jobs outside these windows never
//! miss. The smallest W whose misses fit the SLO's budget is a pool any policy must have at the
//! openings; one that cannot tell when a silence will end holds it through the silences, which
//! prices it. A policy that knows the time of day could hold it for less; the figure says what
//! foresight is worth, not what every policy must pay.
//!
//! The pool must be there at the first opening that needs it, before anything has shown its
//! size. So the bound also plays the most generous policy that sizes its pool from what it has
//! seen: at each opening, the largest pool any earlier opening needed to miss nothing (up to the
//! cap) waits idle, around the clock. The openings it has seen include those of the history
//! before the trace's window (the days CloudWatch still holds when a controller starts). Where even that stays below the SLO, the SLO is out of
//! reach for a policy that learns, and only a pool sized in advance (the user's `min_tasks`, or
//! a static pool sized from the whole trace's peak) reaches it. Where it does reach the SLO, its
//! idle workers through the silences are priced, so that it can be set against a static pool
//! that reaches the SLO for less. Simulation and verdicts are `backtest.rs`'s.

use crate::core::job::Job;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The bound for one trace at one strict SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForesightBound {
    /// Arrivals after a silence longer than the fastest cold start.
    pub openings: usize,
    /// Jobs that arrive before a launch made at their opening could start them in time.
    pub jobs_exposed: usize,
    /// The misses the SLO allows over the whole trace.
    pub miss_budget_jobs: f64,
    /// The fewest idle workers at every opening that keep the misses within the budget;
    /// `None` when not even `cap` workers do.
    pub pool_workers: Option<u32>,
    /// The silences before the openings, summed.
    pub silence_hours: f64,
    /// `pool_workers` held through those silences at the worker's hourly price.
    pub pool_cost_usd: Option<f64>,
    /// The hours of the week (counted from the trace's start) in which exposed jobs arrive: a
    /// pool held only then would cost a share of the week, if that share were small.
    pub exposed_week_hours: usize,
    /// The share of all jobs started in time when each opening gets the largest pool an
    /// earlier opening needed (`learned_pool_misses`): the best a policy can do that sizes its
    /// pool from the flurries it has seen.
    pub learned_pool_attainment: f64,
    /// That learned pool, idle through the silences before the openings alone, at the
    /// worker's hourly price: the least it costs beyond the busy time.
    pub learned_pool_idle_usd: f64,
}

/// Integer ordering for f64 times in a heap (finite, non-negative seconds).
fn key(t_s: f64) -> Reverse<u64> {
    Reverse(t_s.max(0.0).to_bits())
}

/// One opening: the index of its first job, one past its last exposed job, and when the
/// workers busy at its start are free.
struct Opening {
    first: usize,
    end: usize,
    busy_free_s: Vec<f64>,
    silence_s: f64,
}

fn openings(jobs: &[Job], ready_s: f64, max_wait_s: f64) -> Vec<Opening> {
    let mut out = Vec::new();
    // Ends of earlier jobs still running (each on its own worker: the generous side).
    let mut running: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
    let mut i = 0;
    while i < jobs.len() {
        let a = jobs[i].arrival_s;
        let silence_s = if i == 0 {
            0.0
        } else {
            a - jobs[i - 1].arrival_s
        };
        if i > 0 && silence_s < ready_s {
            running.push(key(a + jobs[i].service_s));
            i += 1;
            continue;
        }
        while running
            .peek()
            .is_some_and(|&Reverse(e)| f64::from_bits(e) <= a)
        {
            running.pop();
        }
        let busy_free_s = running
            .iter()
            .map(|&Reverse(e)| f64::from_bits(e))
            .collect();
        // Exposed: a launch at the opening, ready at a + ready_s, starts it too late.
        let mut end = i;
        while end < jobs.len() && jobs[end].arrival_s + max_wait_s < a + ready_s {
            end += 1;
        }
        out.push(Opening {
            first: i,
            end,
            busy_free_s,
            silence_s,
        });
        for j in &jobs[i..end.max(i + 1)] {
            running.push(key(j.arrival_s + j.service_s));
        }
        i = end.max(i + 1);
    }
    out
}

/// Jobs that miss `max_wait_s` with `pool` idle workers at every opening.
fn misses(jobs: &[Job], ops: &[Opening], pool: u32, max_wait_s: f64) -> usize {
    let mut missed = 0;
    for op in ops {
        let a = jobs[op.first].arrival_s;
        let mut free: BinaryHeap<Reverse<u64>> = op.busy_free_s.iter().map(|&t| key(t)).collect();
        for _ in 0..pool {
            free.push(key(a));
        }
        for j in &jobs[op.first..op.end] {
            match free.peek() {
                Some(&Reverse(f))
                    if f64::from_bits(f).max(j.arrival_s) <= j.arrival_s + max_wait_s =>
                {
                    free.pop();
                    let start = f64::from_bits(f).max(j.arrival_s);
                    free.push(key(start + j.service_s));
                }
                _ => missed += 1,
            }
        }
    }
    missed
}

/// The fewest idle workers (up to `cap`) with which `op` misses nothing; `cap` if none do.
fn pool_needed(jobs: &[Job], op: &Opening, cap: u32, max_wait_s: f64) -> u32 {
    (0..=cap)
        .find(|&w| misses(jobs, std::slice::from_ref(op), w, max_wait_s) == 0)
        .unwrap_or(cap)
}

/// Jobs that miss when each opening gets, idle, the largest pool an earlier one needed
/// (`start_pool`, what the history taught, at the first): the pool learned from what has been seen, never shrinking, up to `cap`.
/// Also the worker-seconds that pool waits idle through the silences before the openings.
fn learned_pool_misses(
    jobs: &[Job],
    ops: &[Opening],
    start_pool: u32,
    cap: u32,
    max_wait_s: f64,
) -> (usize, f64) {
    let mut pool = start_pool.min(cap);
    let mut missed = 0;
    let mut idle_worker_s = 0.0;
    for op in ops {
        missed += misses(jobs, std::slice::from_ref(op), pool, max_wait_s);
        idle_worker_s += f64::from(pool) * op.silence_s;
        pool = pool.max(pool_needed(jobs, op, cap, max_wait_s));
    }
    (missed, idle_worker_s)
}

/// The bound for `jobs` (sorted by arrival) at a wait SLO of `max_wait_s` met by a share
/// `attainment`, with cold starts of at least `fastest_cold_s`, at most `cap` workers, and
/// `worker_per_hour_usd` per worker-hour. `history` (sorted, before the first job) teaches the
/// learned pool before the trace starts.
pub fn foresight_bound(
    jobs: &[Job],
    history: &[Job],
    max_wait_s: f64,
    attainment: f64,
    fastest_cold_s: f64,
    cap: u32,
    worker_per_hour_usd: f64,
) -> ForesightBound {
    let ops = openings(jobs, fastest_cold_s, max_wait_s);
    // The tolerance keeps 20% of 50 jobs at 10 misses, not 9.999….
    let budget = (1.0 - attainment).max(0.0) * jobs.len() as f64 + 1e-9;
    let pool_workers = (0..=cap).find(|&w| misses(jobs, &ops, w, max_wait_s) as f64 <= budget);
    let silence_hours = ops.iter().map(|o| o.silence_s).sum::<f64>() / 3600.0;
    let taught = openings(history, fastest_cold_s, max_wait_s)
        .iter()
        .map(|op| pool_needed(history, op, cap, max_wait_s))
        .max()
        .unwrap_or(0);
    let (learned_missed, learned_idle_worker_s) =
        learned_pool_misses(jobs, &ops, taught, cap, max_wait_s);
    let mut week_hours = [false; 168];
    for op in &ops {
        for j in &jobs[op.first..op.end] {
            week_hours[(j.arrival_s.max(0.0) / 3600.0) as usize % 168] = true;
        }
    }
    ForesightBound {
        openings: ops.len(),
        jobs_exposed: ops.iter().map(|o| o.end - o.first).sum(),
        miss_budget_jobs: budget,
        pool_workers,
        silence_hours,
        pool_cost_usd: pool_workers.map(|w| f64::from(w) * silence_hours * worker_per_hour_usd),
        exposed_week_hours: week_hours.iter().filter(|&&h| h).count(),
        learned_pool_attainment: if jobs.is_empty() {
            1.0
        } else {
            1.0 - learned_missed as f64 / jobs.len() as f64
        },
        learned_pool_idle_usd: learned_idle_worker_s / 3600.0 * worker_per_hour_usd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(arrival_s: f64, service_s: f64) -> Job {
        Job {
            arrival_s,
            service_s,
        }
    }

    /// Flurries of `n` jobs in one second, an hour apart.
    fn flurries(n: usize, count: usize) -> Vec<Job> {
        (0..count)
            .flat_map(|f| (0..n).map(move |k| job(f as f64 * 3600.0 + k as f64 * 0.1, 300.0)))
            .collect()
    }

    #[test]
    fn a_flurry_after_a_silence_needs_a_pool_its_size() {
        // Ten flurries of 5: every job is exposed (a launch is ready after 150 s, the SLO is
        // 60 s), so 99% needs all five workers idle at every opening.
        let jobs = flurries(5, 10);
        let b = foresight_bound(&jobs, &[], 60.0, 0.99, 150.0, 20, 1.0);
        assert_eq!(b.openings, 10);
        assert_eq!(b.jobs_exposed, 50);
        assert_eq!(b.pool_workers, Some(5));
        // One flurry an hour, ten hours.
        assert_eq!(b.exposed_week_hours, 10);
        // Nine silences of an hour (less the flurry's half second).
        assert!((b.silence_hours - 9.0).abs() < 0.01, "{}", b.silence_hours);
        assert!((b.pool_cost_usd.unwrap() - 45.0).abs() < 0.1);
        // At 80% ten misses are allowed: four workers leave one job per flurry waiting.
        let b = foresight_bound(&jobs, &[], 60.0, 0.80, 150.0, 20, 1.0);
        assert_eq!(b.pool_workers, Some(4));
    }

    #[test]
    fn a_pool_learned_from_earlier_flurries_misses_the_flurries_that_teach_it() {
        // Ten flurries of 5: a learned pool has nothing at the first (5 misses) and 5 after.
        let b = foresight_bound(&flurries(5, 10), &[], 60.0, 0.99, 150.0, 20, 1.0);
        assert!((b.learned_pool_attainment - 0.90).abs() < 1e-9);
        // It waits, 5 strong, through the nine silences after the first flurry (each an hour
        // less the flurry's 0.4 s), at $1 per worker-hour.
        let want_usd = 5.0 * 9.0 * (3600.0 - 0.4) / 3600.0;
        assert!(
            (b.learned_pool_idle_usd - want_usd).abs() < 1e-6,
            "{}",
            b.learned_pool_idle_usd
        );
        // Three of 2, then seven of 5: the first of each size teaches it (2 + 3 misses), so 99%
        // is out of reach for it, while a pool of 5 from the start misses nothing.
        let mut jobs = flurries(2, 3);
        jobs.extend(
            flurries(5, 7)
                .into_iter()
                .map(|j| job(j.arrival_s + 3.0 * 3600.0, j.service_s)),
        );
        let b = foresight_bound(&jobs, &[], 60.0, 0.99, 150.0, 20, 1.0);
        assert_eq!(b.pool_workers, Some(5));
        let want = 1.0 - 5.0 / 41.0;
        assert!(
            (b.learned_pool_attainment - want).abs() < 1e-9,
            "{}",
            b.learned_pool_attainment
        );
        // It never learns past the cap: with 3, each flurry of 5 leaves 2 waiting.
        let b = foresight_bound(&flurries(5, 10), &[], 60.0, 0.99, 150.0, 3, 1.0);
        assert!((b.learned_pool_attainment - (1.0 - 23.0 / 50.0)).abs() < 1e-9);
    }

    #[test]
    fn a_pool_learned_from_the_history_before_the_window_covers_its_first_flurry() {
        // Ten flurries of 5 a day after a history with one flurry of 5: the pool is there
        // from the first, and nothing misses; a history of flurries of 2 teaches only 2, so
        // the first flurry of 5 leaves 3 to miss.
        let later: Vec<Job> = flurries(5, 10)
            .into_iter()
            .map(|j| job(j.arrival_s + 86_400.0, j.service_s))
            .collect();
        let b = foresight_bound(&later, &flurries(5, 1), 60.0, 0.99, 150.0, 20, 1.0);
        assert!((b.learned_pool_attainment - 1.0).abs() < 1e-9);
        let b = foresight_bound(&later, &flurries(2, 3), 60.0, 0.99, 150.0, 20, 1.0);
        assert!((b.learned_pool_attainment - (1.0 - 3.0 / 50.0)).abs() < 1e-9);
    }

    #[test]
    fn a_pool_above_the_cap_is_out_of_reach() {
        let b = foresight_bound(&flurries(5, 10), &[], 60.0, 0.99, 150.0, 3, 1.0);
        assert_eq!(b.pool_workers, None);
        assert_eq!(b.pool_cost_usd, None);
    }

    #[test]
    fn a_steady_stream_has_no_opening_after_the_first_and_busy_workers_count() {
        // A job every 30 s: no silence reaches a cold start, so only the first job opens.
        let jobs: Vec<Job> = (0..100).map(|k| job(f64::from(k) * 30.0, 20.0)).collect();
        let b = foresight_bound(&jobs, &[], 60.0, 0.99, 150.0, 20, 1.0);
        assert_eq!(b.openings, 1);
        // The first job has nothing before it: one idle worker serves the three exposed jobs.
        assert_eq!(b.jobs_exposed, 3);
        assert_eq!(b.pool_workers, Some(1));
        // A worker busy at an opening starts the next flurry's job when it frees in time
        // (30 s after the opening here), and not when it frees too late.
        let in_time = vec![job(0.0, 3630.0), job(3600.0, 10.0)];
        let ops = openings(&in_time, 150.0, 60.0);
        assert_eq!(ops.len(), 2);
        assert_eq!(
            misses(&in_time, &ops, 0, 60.0),
            1,
            "only the first job has no worker"
        );
        let too_late = vec![job(0.0, 3700.0), job(3600.0, 10.0)];
        let ops = openings(&too_late, 150.0, 60.0);
        assert_eq!(misses(&too_late, &ops, 0, 60.0), 2);
    }

    #[test]
    fn jobs_a_launch_at_the_opening_serves_are_not_exposed() {
        // Launches are ready 150 s after the opening: a job at +100 s can wait 50 s for one.
        let jobs = vec![job(0.0, 10.0), job(3600.0, 10.0), job(3700.0, 10.0)];
        let b = foresight_bound(&jobs, &[], 60.0, 1.0, 150.0, 20, 1.0);
        assert_eq!(b.jobs_exposed, 2);
        assert_eq!(b.pool_workers, Some(1));
    }
}
