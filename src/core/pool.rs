//! The idle pool a strict SLO keeps beside its busy workers, sized against the SLO's budget of
//! misses. A job that comes while demand (busy workers plus waiting jobs, in workers) is `w`
//! above its low point of the last exposure window (a cold start less the SLO's wait) waits for
//! a launch that cannot be up in time, unless an idle worker takes it. So each time the rise
//! over that window first reaches `w` while fewer than `w` workers were idle at the low point
//! is about one miss a pool of `w` would have saved. The pool is the fewest workers whose
//! uncovered rises beyond it, over the last week, fit the week's budget of misses (`1 −
//! attainment` of the jobs judged).
//!
//! Whether a pool can meet the budget at all is checked the same way, online: the most a pool
//! learned from history can hold is the highest rise seen so far, so a rise past that record
//! is a miss no learned pool avoids. When the week's record-setting rises alone overspend the
//! budget (flurries of a new size each week), the SLO is out of reach by learning: the pool
//! then keeps only the levels whose rises alone each came more often than the whole budget
//! allows, leaves the rarer levels above (where the records are) to miss, and `decide` says so.
//! That is judged only after the learning week (a window since the first rise), when every
//! rise sets a record.
//!
//! The budget follows the misses measured since start: far fewer than the SLO allows stretch
//! it (a rise that finds a worker freeing up in time is no miss), more than it allows tighten
//! the pool's sizing in proportion, while learning can meet the SLO. Once half the misses the
//! SLO allows are spent, the pool also holds, at each hour of the day, the highest rise seen
//! within an hour of it over the last three weeks (flurries come back at the hours they came
//! before). Pure; `decide` applies the floor and says why.

use std::collections::VecDeque;

/// The window rises are counted over, matched to the attainment feedback's.
const WINDOW_S: f64 = 7.0 * 86400.0;

/// Rises are counted per hour, so that a level a dense service crosses every tick keeps at most
/// a week of hourly counts, not a timestamp per crossing.
const BUCKET_S: f64 = 3600.0;

/// The pool's sizing budget tightens at most this far: at a quarter of the week's budget the
/// pool already covers nearly every level the week's rises reached. (Issue #9, strict: a floor
/// of 0.05 instead moved no pair by more than 0.07 pt.)
const TIGHTEN_MIN: f64 = 0.25;

/// The budget stretches while the misses measured since start stay under this share of the
/// SLO's allowance, and by at most `STRETCH_MAX`. (Issue #9, strict: kth later weeks 99.42% for
/// $3531 → 99.21% for $2919, azure's code service 99.86% for $963 → $854, azure-llm-conv 99.69%
/// for $1431 → $1416, the others unchanged. Stretching to the whole allowance instead (share 1)
/// left kth's later weeks at 98.99%; judging it over the trailing week instead of since start,
/// servegen-sparse at 3 min fell to 96.91% against 97%.)
const STRETCH_SHARE: f64 = 0.5;
const STRETCH_MAX: f64 = 2.0;

/// How long each hour's highest uncovered rise is remembered for the hour-of-day hold: three
/// weeks, so that a flurry size seen at this hour a fortnight ago still counts. A restarted
/// controller knows only the 14 days it reads back from CloudWatch (which keeps 15) until it
/// has run a week. (Issue #9, strict, against 14 days: hpc2n days 200–228 98.98% for $9100 →
/// 99.36% for $9981 and kth days 200–228 98.92% for $5033 → 99.01% for $4979, meeting 99%
/// where static N does; kth days 90–118 99.42% → 99.51% for $16 less; hpc2n-flurries 97.06%
/// → 96.78% (+$166); 2–7% dearer on four pairs that met 99% already. 28 days: the same two
/// met, dearer by up to 10%.)
const HOURLY_MEMORY_S: f64 = 21.0 * 86400.0;

/// The hours either side of the hour of the day whose rises the hour-of-day hold covers: a
/// flurry that came at 10:40 yesterday may come at 9:50 today.
const HOUR_SPAN: i64 = 1;

/// How far the week's budget of misses may stretch: each uncovered rise is counted as a miss,
/// but a job that finds a busy worker freeing up within the wait is none (30-second jobs against
/// a one-minute wait), so a service that misses far less than the count says gets a smaller
/// pool. Measured since start: how rises turn into misses is a property of the service (its job
/// lengths against the wait), and the longest record says it best. 1 until enough jobs are
/// judged, or while the service misses more than `STRETCH_SHARE` of the allowance.
pub fn budget_stretch(miss_share: f64, attainment_since_start: Option<f64>) -> f64 {
    attainment_since_start.map_or(1.0, |a| {
        (STRETCH_SHARE * miss_share / (1.0 - a).max(1e-6)).clamp(1.0, STRETCH_MAX)
    })
}

/// How far the pool's sizing budget tightens while the misses measured since start run over
/// the SLO's share: in proportion (twice the misses allowed, half the budget), down to
/// `TIGHTEN_MIN`; 1 until enough jobs are judged, or while the service meets its SLO. The week
/// since is sized as if the earlier misses had to be bought back, the Lagrangian form of the
/// SLO as one budget of misses over the whole run rather than a fresh one each week. Only the
/// sizing tightens: whether learning can meet the SLO at all, and what is kept when it cannot,
/// are judged against the SLO's own budget, so that a service whose flurries keep setting new
/// heights does not buy, for nothing, every level its week reached. (Issue #9, strict:
/// hpc2n-flurries was behind static N=16 when the out-of-reach levels were tightened too.)
pub fn budget_tighten(miss_share: f64, attainment_since_start: Option<f64>) -> f64 {
    attainment_since_start.map_or(1.0, |a| {
        (miss_share / (1.0 - a).max(1e-6)).clamp(TIGHTEN_MIN, 1.0)
    })
}

/// Whether the pool adds the hour-of-day hold (`RisePool::size`): once the misses measured
/// since start pass `STRETCH_SHARE` of what the SLO allows, where the budget stops stretching.
/// A service that holds the hours only once it is behind its SLO buys back misses it has
/// already spent; one that starts at half its allowance meets it. (Issue #9, strict: started
/// behind instead, hpc2n later weeks 99.18% → 98.99% and ServeGen dense 99.07% → 98.87%,
/// both under the 99% static N reaches, for $294 and $43 less.)
pub fn hour_hold_due(miss_share: f64, attainment_since_start: Option<f64>) -> bool {
    attainment_since_start.is_some_and(|a| 1.0 - a > STRETCH_SHARE * miss_share)
}

/// What the pool says for one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolSize {
    /// Idle workers to keep beside the busy ones (when not `feasible`, only the levels each
    /// reached more often than the budget allows).
    pub idle_tasks: u32,
    /// Misses the week's rises beyond that pool come to (at most the budget when feasible).
    pub uncovered_jobs: usize,
    /// Misses from rises past the record of their time, over the week: no learned pool
    /// avoids them.
    pub unforeseen_jobs: usize,
    /// The week's budget of misses.
    pub budget_jobs: f64,
    /// The budget the pool was sized to: `budget_jobs`, tightened while the service misses
    /// more than the SLO allows (`budget_tighten`).
    pub sizing_jobs: f64,
    /// Whether a learned pool can meet the budget (`unforeseen_jobs ≤ budget_jobs`, or still
    /// the learning week).
    pub feasible: bool,
    /// Once the service has missed half what its SLO allows since start, the highest
    /// uncovered rise seen at this hour of the day (± `HOUR_SPAN`) over `HOURLY_MEMORY_S`, which
    /// the pool holds at least; 0 otherwise.
    pub hour_tasks: u32,
}

impl PoolSize {
    /// The reason text's clause when the pool sets the target, beside `busy` busy workers,
    /// with the exposure window `exposed_s`.
    pub fn keeping_text(&self, busy: u32, exposed_s: f64) -> String {
        if self.hour_binds() {
            return format!(
                "; keeping {} idle beside {busy} busy{}",
                self.idle_tasks,
                self.hour_text()
            );
        }
        format!(
            "; keeping {} idle beside {busy} busy: this week demand rose past that within {} (cold start less the wait) with no idle worker to take it more often than the budget of {:.0} misses allows{}; the {} rises beyond it fit",
            self.idle_tasks,
            crate::core::config::fmt_s(exposed_s),
            self.sizing_jobs,
            if self.sizing_jobs < self.budget_jobs {
                format!(
                    " (the week's {:.0}, tightened: more jobs missed since start than the SLO allows)",
                    self.budget_jobs
                )
            } else {
                String::new()
            },
            self.uncovered_jobs
        )
    }

    /// The reason text's clause when no learned pool meets the SLO of `attainment`; empty
    /// while one can.
    pub fn out_of_reach_text(&self, attainment: f64) -> String {
        if self.feasible {
            return String::new();
        }
        format!(
            "; no learned pool meets {}% here: {} of this week's rises went past the highest seen before them, more misses than the week's budget of {:.0}; {}",
            crate::core::unreachable::fmt_pct(attainment),
            self.unforeseen_jobs,
            self.budget_jobs,
            match self.idle_tasks {
                0 => "no rise that set no record overspends it, so no idle pool".to_string(),
                n if self.hour_binds() => format!("keeping {n} idle{}", self.hour_text()),
                n =>
                    format!("keeping {n} idle for the rises that set no record, within the budget"),
            }
        )
    }

    /// Whether the hour-of-day hold sets the pool.
    fn hour_binds(&self) -> bool {
        self.hour_tasks > 0 && self.hour_tasks == self.idle_tasks
    }

    fn hour_text(&self) -> String {
        format!(
            ": half the misses the SLO allows or more spent since start, so the pool holds the highest rise seen within {HOUR_SPAN} h of this hour of the day over the last {:.0} days ({})",
            HOURLY_MEMORY_S / 86400.0,
            self.hour_tasks
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct RisePool {
    /// Demand and the other rules' idle workers over the last exposure window: (time, demand,
    /// idle).
    recent: VecDeque<(f64, u32, u32)>,
    /// Per level w (index w − 1): whether the rise was at least w at the last tick, and how
    /// often it reached w uncovered, per hour of the window: (hour's start, count).
    above: Vec<bool>,
    uncovered: Vec<VecDeque<(f64, usize)>>,
    /// Uncovered rises past the record of their time: (time, the record then, levels past it).
    unforeseen: VecDeque<(f64, usize, usize)>,
    /// The highest uncovered rise seen so far.
    record: usize,
    /// When the first uncovered rise came: the window after it is the pool's learning week.
    first_rise_s: Option<f64>,
    /// Arrivals of the history the pool was primed with (sorted): they count toward the
    /// week's budget of misses until a week has passed, as the jobs judged since start do.
    primed_arrivals_s: Vec<f64>,
    /// The highest uncovered rise of each hour that had one, over `HOURLY_MEMORY_S`: (hour's
    /// start, rise).
    hourly_tops: VecDeque<(f64, usize)>,
    /// Never holds a pool (for tests of the other rules in isolation).
    #[cfg(test)]
    off: bool,
}

impl RisePool {
    /// A pool that never holds a worker, for `decide`'s tests of the other rules.
    #[cfg(test)]
    pub(crate) fn off() -> Self {
        RisePool {
            off: true,
            ..Default::default()
        }
    }

    /// Note the demand and the idle workers the other rules hold, at `now_s`, with the
    /// exposure window `exposed_s` (cold start less the SLO's wait).
    pub fn observe(&mut self, demand: u32, idle_other: u32, now_s: f64, exposed_s: f64) {
        self.recent.push_back((now_s, demand, idle_other));
        while self
            .recent
            .front()
            .is_some_and(|&(t, _, _)| t < now_s - exposed_s)
        {
            self.recent.pop_front();
        }
        let &(_, low, idle_at_low) = self
            .recent
            .iter()
            .min_by_key(|&&(_, d, _)| d)
            .expect("just pushed");
        let rise = (demand - low) as usize;
        if rise > self.above.len() {
            self.above.resize(rise, false);
            self.uncovered.resize(rise, VecDeque::new());
        }
        let mut past_record = 0;
        let mut top = self.record;
        for w in 0..self.above.len() {
            let up = rise > w;
            if up && !self.above[w] && idle_at_low as usize <= w {
                let hour_s = (now_s / BUCKET_S).floor() * BUCKET_S;
                match self.uncovered[w].back_mut() {
                    Some((h, n)) if *h == hour_s => *n += 1,
                    _ => self.uncovered[w].push_back((hour_s, 1)),
                }
                if w >= self.record {
                    past_record += 1;
                    top = w + 1;
                }
            }
            self.above[w] = up;
            while self.uncovered[w]
                .front()
                .is_some_and(|&(h, _)| h + BUCKET_S <= now_s - WINDOW_S)
            {
                self.uncovered[w].pop_front();
            }
        }
        // The hour's highest rise no idle worker at the low point took.
        if rise > idle_at_low as usize {
            let hour_s = (now_s / BUCKET_S).floor() * BUCKET_S;
            match self.hourly_tops.back_mut() {
                Some((h, n)) if *h == hour_s => *n = (*n).max(rise),
                _ => self.hourly_tops.push_back((hour_s, rise)),
            }
        }
        while self
            .hourly_tops
            .front()
            .is_some_and(|&(h, _)| h + BUCKET_S <= now_s - HOURLY_MEMORY_S)
        {
            self.hourly_tops.pop_front();
        }
        if past_record > 0 {
            self.record = top;
            self.first_rise_s.get_or_insert(now_s);
            self.unforeseen
                .push_back((now_s, top - past_record, past_record));
        }
        while self
            .unforeseen
            .front()
            .is_some_and(|&(t, _, _)| t < now_s - WINDOW_S)
        {
            self.unforeseen.pop_front();
        }
    }

    /// Remember the arrivals of the history the pool was primed with (`prime.rs`).
    pub fn remember_jobs(&mut self, arrivals_s: impl IntoIterator<Item = f64>) {
        self.primed_arrivals_s = arrivals_s.into_iter().collect();
        self.primed_arrivals_s.sort_by(f64::total_cmp);
    }

    /// The primed history's jobs within the window before `now_s`.
    pub fn primed_jobs(&self, now_s: f64) -> f64 {
        let from = self
            .primed_arrivals_s
            .partition_point(|&a| a < now_s - WINDOW_S);
        let to = self.primed_arrivals_s.partition_point(|&a| a < now_s);
        to.saturating_sub(from) as f64
    }

    /// Rises through level `w` (index) over the window that went past the record of their
    /// time there.
    fn record_rises(&self, w: usize) -> usize {
        self.unforeseen
            .iter()
            .filter(|&&(_, lo, n)| lo <= w && w < lo + n)
            .count()
    }

    /// The highest uncovered rise within `HOUR_SPAN` hours of `now_s`'s hour of the day, over
    /// the last `HOURLY_MEMORY_S`.
    fn hour_top(&self, now_s: f64) -> usize {
        let hour = |t_s: f64| ((t_s / BUCKET_S).floor() as i64).rem_euclid(24);
        let now = hour(now_s);
        self.hourly_tops
            .iter()
            .filter(|&&(h, _)| {
                let apart = (hour(h) - now).rem_euclid(24);
                apart <= HOUR_SPAN || apart >= 24 - HOUR_SPAN
            })
            .map(|&(_, n)| n)
            .max()
            .unwrap_or(0)
    }

    /// Uncovered rises through level `w` (index) over the window.
    fn rises(&self, w: usize) -> usize {
        self.uncovered[w].iter().map(|&(_, n)| n).sum()
    }

    /// The pool at `now_s` for a week's budget of `budget_jobs` misses, sized to that budget
    /// times `tighten` (`budget_tighten`; 1 for the budget as it is).
    /// `hold_hours` (`hour_hold_due`) adds the hour-of-day hold.
    pub fn size(&self, budget_jobs: f64, tighten: f64, hold_hours: bool, now_s: f64) -> PoolSize {
        let sizing_jobs = budget_jobs * tighten.min(1.0);
        #[cfg(test)]
        if self.off {
            return PoolSize {
                idle_tasks: 0,
                uncovered_jobs: 0,
                unforeseen_jobs: 0,
                budget_jobs,
                sizing_jobs,
                feasible: true,
                hour_tasks: 0,
            };
        }
        let unforeseen_jobs = self.unforeseen.iter().map(|&(_, _, n)| n).sum();
        let mut idle_tasks = 0;
        // From the top level down, the rises beyond the pool so far, until one more level's
        // would overspend the budget: the pool takes that level and those below it.
        let mut uncovered_jobs = 0;
        for w in (0..self.uncovered.len()).rev() {
            let here = uncovered_jobs + self.rises(w);
            if here as f64 > sizing_jobs {
                idle_tasks = w as u32 + 1;
                break;
            }
            uncovered_jobs = here;
        }
        // Feasibility is judged only once a whole window has passed since the first rise: in
        // the learning week every rise sets a record of a few days, which says nothing yet
        // about whether history can teach the pool (on a one-day trace of bursts whose first
        // hours set every record, a pool learned from them met 99%).
        let learning = self.first_rise_s.is_none_or(|t| now_s - t < WINDOW_S);
        let feasible = learning || unforeseen_jobs as f64 <= budget_jobs;
        // Out of reach by learning, the week's misses overspend the budget whatever the pool;
        // still, a level whose rises alone came more often than the whole budget allows costs
        // more misses than the SLO tolerates from everything, so those levels are held and
        // the rarer ones above (where the records are) left to miss. (Issue #9, strict: hpc2n
        // later weeks 94.32% for $5552 → 98.04% for $6428, where static N=12 reaches 98.93%
        // for $7257; hpc2n-flurries 91.97% → 93.67% for $7532, kth-office-hours 97.18% →
        // 97.23% for $6702, kth later weeks 99.21% for $2919 → $3022; dropping the pool
        // instead left whole weeks after one record-setting flurry without any.)
        if !feasible {
            idle_tasks = (0..self.uncovered.len())
                .rev()
                .find(|&w| self.rises(w) as f64 > budget_jobs)
                .map_or(0, |w| w as u32 + 1);
            // The records' misses are spent, but the rises that set none are the ones a
            // learned pool does avoid: they are held to the week's budget (untightened, as
            // the levels above), so one flurry of a new height does not leave the rest of the
            // week with only the levels that each overspend it. (Issue #9, strict, with the
            // history priming: kth days 62–90 98.75% for $3757 → 99.28% for $4686, 0.64×
            // static N=12; hpc2n-flurries 95.53% for $7896 → 96.83% for $10,390, past static
            // N=16's 96.44% for $9688; kth days 150–178 98.45% → 98.64% for $4924;
            // kth-office-hours 97.64% for $7540 → $8268. Without the priming, sized so, it
            // put hpc2n-flurries behind static N=16.)
            let mut beyond = 0;
            for w in (0..self.uncovered.len()).rev() {
                let here = beyond + self.rises(w).saturating_sub(self.record_rises(w));
                if here as f64 > budget_jobs {
                    idle_tasks = idle_tasks.max(w as u32 + 1);
                    break;
                }
                beyond = here;
            }
            uncovered_jobs = (idle_tasks as usize..self.uncovered.len())
                .map(|w| self.rises(w))
                .sum();
        }
        // Once half the misses the SLO allows are spent, the next come where the week's sizing
        // let a level go, and flurries come back at the hours they came before (office hours,
        // an evening peak): the pool holds, at each hour of the day, the highest rise seen
        // near it over the last three weeks, records or not. Held only at those hours it costs a share
        // of holding the record around the clock. (Issue #9, strict, with `hour_hold_due`:
        // kth days 150–178 98.64% for $4924 → 99.25% for $5381, hpc2n later weeks 98.99% for
        // $7515 → 99.18% for $7795, ServeGen dense 98.40% for $9772 → 99.07% for $9838, each
        // meeting 99% under the static N that does; hpc2n days 200–228 98.39% → 98.98%,
        // 120–148 98.20% → 98.58%, hpc2n-flurries 96.83% → 97.06%; kth-office-hours paid
        // $8268 → $8951 for nothing. Holding the record around the clock instead put hpc2n
        // later weeks and kth days 150–178 behind static N; holding every rise's height, not
        // only the uncovered ones', moved no pair by more than 0.12 pt.)
        let hour_tasks = if hold_hours {
            self.hour_top(now_s) as u32
        } else {
            0
        };
        let idle_tasks = idle_tasks.max(hour_tasks);
        PoolSize {
            idle_tasks,
            uncovered_jobs,
            unforeseen_jobs,
            budget_jobs,
            sizing_jobs: if feasible { sizing_jobs } else { budget_jobs },
            feasible,
            hour_tasks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK_S: f64 = 60.0;
    const EXPOSED_S: f64 = 180.0;
    const DAY_S: f64 = 86400.0;

    /// Demand at 1 for `days`, with a flurry every `every_s` that jumps to `1 + size(i)` within
    /// a tick and falls back an hour later; the other rules hold no idle worker. Returns the
    /// time reached.
    fn flurries(p: &mut RisePool, days: f64, every_s: f64, size: impl Fn(usize) -> u32) -> f64 {
        let mut t = 0.0;
        while t < days * DAY_S {
            let i = (t / every_s).floor() as usize;
            let into_s = t - i as f64 * every_s;
            let demand = if i > 0 && into_s < 3600.0 {
                1 + size(i)
            } else {
                1
            };
            p.observe(demand, 0, t, EXPOSED_S);
            t += TICK_S;
        }
        t
    }

    #[test]
    fn past_half_its_allowance_the_pool_holds_at_each_hour_of_the_day_the_highest_rise_seen_near_it()
     {
        // A flurry of 8 from 10:00 to 11:00 on each of the first three days, quiet otherwise.
        let mut p = RisePool::default();
        let demand = |t_s: f64| {
            let into_s = t_s.rem_euclid(DAY_S);
            if t_s < 3.0 * DAY_S && (36_000.0..39_600.0).contains(&into_s) {
                9
            } else {
                1
            }
        };
        let mut t = 0.0;
        while t < 4.0 * DAY_S {
            p.observe(demand(t), 0, t, EXPOSED_S);
            t += TICK_S;
        }
        // The fourth day at 9:30: the budget is ample, so the week's sizing keeps no pool …
        let at_930 = 4.0 * DAY_S + 9.5 * 3600.0;
        let s = p.size(100.0, 1.0, false, at_930);
        assert_eq!((s.idle_tasks, s.hour_tasks), (0, 0), "{s:?}");
        // … but once the hold is due it keeps the flurries' height within an hour of theirs,
        let s = p.size(100.0, 1.0, true, at_930);
        assert_eq!((s.idle_tasks, s.hour_tasks), (8, 8), "{s:?}");
        // and nothing at night.
        let s = p.size(100.0, 1.0, true, 4.0 * DAY_S + 22.0 * 3600.0);
        assert_eq!(s.idle_tasks, 0, "{s:?}");
        // Two weeks after the last flurry it is still held at 10:00 (a flurry size that came
        // back after a fortnight missed where the memory was 14 days) …
        while t < 17.5 * DAY_S {
            p.observe(1, 0, t, EXPOSED_S);
            t += TICK_S;
        }
        let s = p.size(100.0, 1.0, true, 17.0 * DAY_S + 10.0 * 3600.0);
        assert_eq!((s.idle_tasks, s.hour_tasks), (8, 8), "{s:?}");
        // … and three weeks after, it is forgotten.
        while t < 24.5 * DAY_S {
            p.observe(1, 0, t, EXPOSED_S);
            t += TICK_S;
        }
        let s = p.size(100.0, 1.0, true, 24.0 * DAY_S + 10.0 * 3600.0);
        assert_eq!((s.idle_tasks, s.hour_tasks), (0, 0), "{s:?}");
    }

    #[test]
    fn a_flurry_size_that_recurs_gets_a_pool_that_covers_it_within_the_budget() {
        // Four flurries of 3 a day: a week of 28 rises through each of the three levels. With a
        // budget of 10 misses only a pool of 3 leaves none uncovered (2 would leave 28).
        let mut p = RisePool::default();
        let now_s = flurries(&mut p, 9.0, 6.0 * 3600.0, |_| 3);
        let s = p.size(10.0, 1.0, false, now_s);
        assert!(s.feasible, "{s:?}");
        assert_eq!((s.idle_tasks, s.uncovered_jobs), (3, 0), "{s:?}");
        // A budget the third level's rises fit in keeps two.
        let s = p.size(30.0, 1.0, false, now_s);
        assert_eq!((s.idle_tasks, s.uncovered_jobs), (2, 28), "{s:?}");
    }

    /// The reason's clauses: what the pool keeps and why, and the out-of-reach clause only
    /// when no learned pool can meet the budget.
    #[test]
    fn the_reason_clauses_name_the_pool_and_say_when_learning_cannot_meet_the_budget() {
        let mut s = PoolSize {
            idle_tasks: 3,
            uncovered_jobs: 2,
            unforeseen_jobs: 7,
            budget_jobs: 4.4,
            sizing_jobs: 4.4,
            feasible: true,
            hour_tasks: 0,
        };
        assert_eq!(
            s.keeping_text(5, 180.0),
            "; keeping 3 idle beside 5 busy: this week demand rose past that within 3m (cold start less the wait) with no idle worker to take it more often than the budget of 4 misses allows; the 2 rises beyond it fit"
        );
        assert_eq!(s.out_of_reach_text(0.99), "");
        // Sized to a tightened budget, the clause says from what.
        s.sizing_jobs = 2.2;
        assert!(
            s.keeping_text(5, 180.0).contains("the budget of 2 misses allows (the week's 4, tightened: more jobs missed since start than the SLO allows); the 2 rises"),
            "{}",
            s.keeping_text(5, 180.0)
        );
        s.feasible = false;
        assert_eq!(
            s.out_of_reach_text(0.99),
            "; no learned pool meets 99% here: 7 of this week's rises went past the highest seen before them, more misses than the week's budget of 4; keeping 3 idle for the rises that set no record, within the budget"
        );
        s.idle_tasks = 0;
        assert!(
            s.out_of_reach_text(0.99)
                .ends_with("; no rise that set no record overspends it, so no idle pool"),
            "{}",
            s.out_of_reach_text(0.99)
        );
        // The hour-of-day hold, when it sets the pool, is named in either clause.
        s.idle_tasks = 6;
        s.hour_tasks = 6;
        assert!(
            s.out_of_reach_text(0.99).ends_with("; keeping 6 idle: half the misses the SLO allows or more spent since start, so the pool holds the highest rise seen within 1 h of this hour of the day over the last 21 days (6)"),
            "{}",
            s.out_of_reach_text(0.99)
        );
        s.feasible = true;
        assert!(
            s.keeping_text(2, 180.0)
                .starts_with("; keeping 6 idle beside 2 busy: half the misses the SLO allows"),
            "{}",
            s.keeping_text(2, 180.0)
        );
    }

    #[test]
    fn flurries_that_set_a_new_size_each_time_put_the_budget_out_of_reach_after_a_week() {
        // Each flurry is one bigger than the last: every rise goes past the record, so no pool
        // learned from history covers any of them.
        let mut p = RisePool::default();
        let now_s = flurries(&mut p, 3.0, 6.0 * 3600.0, |i| i as u32);
        // Still the learning week: the pool is sized, records or not.
        let s = p.size(5.0, 1.0, false, now_s);
        assert!(s.feasible && s.idle_tasks > 0, "{s:?}");
        assert!(s.unforeseen_jobs > 5, "{s:?}");
        // A week on, the week's records overspend the budget: no pool.
        let now_s = flurries(&mut p, 9.0, 6.0 * 3600.0, |i| i as u32);
        let s = p.size(5.0, 1.0, false, now_s);
        assert!(!s.feasible, "{s:?}");
        // Out of reach, the records' misses are spent: the top of each of the week's flurries
        // is left to miss, and the rises below the records are held to the budget (each
        // flurry's top is its only record, so the pool stops short of the newest flurries).
        let nonrecord_from = |lo: usize| {
            (lo..p.uncovered.len())
                .map(|w| p.rises(w) - p.record_rises(w))
                .sum::<usize>()
        };
        let idle = s.idle_tasks as usize;
        assert!(idle > 0 && idle < p.record, "{s:?}");
        assert!(
            nonrecord_from(idle) <= 5 && nonrecord_from(idle - 1) > 5,
            "{s:?}"
        );
        assert_eq!(
            s.uncovered_jobs,
            (idle..p.uncovered.len()).map(|w| p.rises(w)).sum::<usize>(),
            "{s:?}"
        );
        // The same record-setting rises, rarer than the budget allows, leave it to the sizing.
        let mut p = RisePool::default();
        let now_s = flurries(&mut p, 12.0, 3.0 * DAY_S, |i| i as u32);
        let s = p.size(4.0, 1.0, false, now_s);
        assert!(s.feasible, "{s:?}");
        assert_eq!((s.idle_tasks, s.uncovered_jobs), (1, 3), "{s:?}");
        assert_eq!(s.unforeseen_jobs, 2, "{s:?}");
    }

    #[test]
    fn a_service_missing_more_than_its_slo_allows_sizes_its_pool_to_a_tighter_budget() {
        // Misses at twice the allowance halve the sizing budget; within it, none; never
        // tighter than a quarter.
        assert_eq!(budget_tighten(0.01, None), 1.0);
        assert_eq!(budget_tighten(0.01, Some(0.995)), 1.0);
        assert!((budget_tighten(0.01, Some(0.98)) - 0.5).abs() < 1e-9);
        assert_eq!(budget_tighten(0.01, Some(0.5)), TIGHTEN_MIN);
        // Flurries of 1, 2 and 3 above the base in turn, every 6 hours for 9 days: the week's
        // rises through the levels are 28 (level 1), 18 and 9 (level 3). A budget of 10 leaves
        // the third level's 9 uncovered; tightened to half, 5 no longer fits them.
        let mut p = RisePool::default();
        let now_s = flurries(&mut p, 9.0, 6.0 * 3600.0, |i| 1 + (i % 3) as u32);
        let (r1, r2, r3) = (p.rises(0), p.rises(1), p.rises(2));
        assert!(r3 > 5 && r3 <= 10 && r2 + r3 > 10, "{r1} {r2} {r3}");
        let plain = p.size(10.0, 1.0, false, now_s);
        assert_eq!(
            (plain.idle_tasks, plain.uncovered_jobs),
            (2, r3),
            "{plain:?}"
        );
        let tight = p.size(10.0, 0.5, false, now_s);
        assert_eq!(
            (tight.idle_tasks, tight.uncovered_jobs),
            (3, 0),
            "{tight:?}"
        );
        assert_eq!(
            (tight.budget_jobs, tight.sizing_jobs),
            (10.0, 5.0),
            "{tight:?}"
        );
        // A tighten factor above 1 is no stretch: the stretch is `budget_jobs`' own.
        assert_eq!(p.size(10.0, 3.0, false, now_s).idle_tasks, 2);
    }

    /// Flurries of 1 to 6 in turn twice a day, then one of 20: its 14 new levels put the week
    /// out of reach, but the rises below the old record are as learnable as before, and they
    /// keep the pool they asked for, one more than the levels whose rises alone overspend it.
    #[test]
    fn a_flurry_of_a_new_height_leaves_the_rises_below_it_their_pool() {
        let mut p = RisePool::default();
        let size = |i: usize| if i == 17 { 20 } else { 1 + (i % 6) as u32 };
        let now_s = flurries(&mut p, 9.0, 12.0 * 3600.0, size);
        let s = p.size(6.0, 1.0, false, now_s);
        assert!(!s.feasible && s.unforeseen_jobs >= 14, "{s:?}");
        let each_overspends = (0..p.uncovered.len())
            .rev()
            .find(|&w| p.rises(w) as f64 > 6.0)
            .map_or(0, |w| w as u32 + 1);
        assert_eq!((s.idle_tasks, each_overspends), (5, 4), "{s:?}");
    }

    #[test]
    fn out_of_reach_by_learning_the_kept_levels_ignore_the_tightening() {
        // The record-setting flurries of the out-of-reach test: what is kept is judged against
        // the SLO's own budget, tightened or not, and the sizing budget reported is that one.
        let mut p = RisePool::default();
        let now_s = flurries(&mut p, 9.0, 6.0 * 3600.0, |i| i as u32);
        let plain = p.size(5.0, 1.0, false, now_s);
        let tight = p.size(5.0, 0.25, true, now_s);
        assert!(!plain.feasible && !tight.feasible, "{plain:?} {tight:?}");
        // Behind the SLO, the hour-of-day hold comes on top of them; the rest is the same.
        assert!(tight.hour_tasks > 0, "{tight:?}");
        assert_eq!(tight.idle_tasks, plain.idle_tasks.max(tight.hour_tasks));
        assert_eq!(
            PoolSize {
                idle_tasks: plain.idle_tasks,
                hour_tasks: 0,
                ..tight
            },
            plain
        );
        assert_eq!(tight.sizing_jobs, 5.0, "{tight:?}");
    }

    #[test]
    fn idle_workers_the_other_rules_hold_cover_rises_up_to_their_number() {
        // Two idle workers held at the low point: a rise of 3 leaves only its third level
        // uncovered.
        let mut p = RisePool::default();
        let mut t = 0.0;
        for _ in 0..20 {
            p.observe(1, 2, t, EXPOSED_S);
            p.observe(4, 0, t + TICK_S, EXPOSED_S);
            t += 6.0 * 3600.0;
        }
        assert_eq!((p.rises(0), p.rises(1), p.rises(2)), (0, 0, 20));
        assert_eq!(p.size(5.0, 1.0, false, t).idle_tasks, 3);
    }

    #[test]
    fn the_hours_are_held_once_half_the_misses_the_slo_allows_are_spent() {
        assert!(!hour_hold_due(0.01, None), "nothing judged yet");
        assert!(
            !hour_hold_due(0.01, Some(0.996)),
            "0.4% missed of 1% allowed"
        );
        assert!(
            hour_hold_due(0.01, Some(0.994)),
            "0.6% missed of 1% allowed"
        );
        assert!(hour_hold_due(0.01, Some(0.98)), "behind");
    }

    #[test]
    fn the_budget_stretches_only_while_far_fewer_jobs_miss_than_the_slo_allows() {
        // Nothing judged yet, or misses at the allowance: the budget as it is.
        assert_eq!(budget_stretch(0.01, None), 1.0);
        assert_eq!(budget_stretch(0.01, Some(0.99)), 1.0);
        assert_eq!(budget_stretch(0.01, Some(0.995)), 1.0);
        // A quarter of the allowance: twice the budget; none missed: still twice.
        assert!((budget_stretch(0.01, Some(0.9975)) - 2.0).abs() < 1e-9);
        assert_eq!(budget_stretch(0.01, Some(1.0)), 2.0);
        // In between, in proportion.
        assert!((budget_stretch(0.01, Some(0.996)) - 1.25).abs() < 1e-9);
    }

    /// What the pool keeps is bounded by the levels and the week's hours, not by how often
    /// demand crosses them: a dense service that rises through every level every other tick
    /// for a month keeps at most a week of hourly counts per level (plus the hour under way),
    /// and at most one record-setting entry per rise in the week.
    #[test]
    fn a_month_of_rises_every_other_tick_keeps_at_most_a_week_of_hourly_counts_per_level() {
        let mut p = RisePool::default();
        let mut t = 0.0;
        let mut top = 0;
        while t < 30.0 * DAY_S {
            // Up and down by up to 40 on alternate ticks, a new height now and then.
            let i = (t / TICK_S) as u32;
            top = (top + u32::from(i.is_multiple_of(997))).min(40);
            let demand = if i.is_multiple_of(2) {
                1
            } else {
                1 + top.max(1)
            };
            p.observe(demand, 0, t, EXPOSED_S);
            t += TICK_S;
        }
        let hours_in_week = (WINDOW_S / BUCKET_S) as usize + 1;
        assert!(p.uncovered.len() <= 40, "{}", p.uncovered.len());
        for (w, counts) in p.uncovered.iter().enumerate() {
            assert!(counts.len() <= hours_in_week, "level {w}: {}", counts.len());
        }
        // Level 1 was crossed on every other tick the whole month: its window still counts
        // the week's crossings, all of them.
        let per_week = (WINDOW_S / (2.0 * TICK_S)) as usize;
        assert!(
            p.rises(0).abs_diff(per_week) <= 60,
            "{} vs {per_week}",
            p.rises(0)
        );
        assert!(p.unforeseen.len() <= p.record, "{}", p.unforeseen.len());
        assert!(
            p.recent.len() <= (EXPOSED_S / TICK_S) as usize + 1,
            "{}",
            p.recent.len()
        );
    }

    #[test]
    fn rises_older_than_a_week_are_forgotten() {
        let mut p = RisePool::default();
        let mut t = flurries(&mut p, 2.0, 6.0 * 3600.0, |_| 2);
        assert!(p.size(1.0, 1.0, false, t).idle_tasks > 0);
        // Nine quiet days later nothing in the window asks for a pool.
        while t < 11.0 * DAY_S {
            p.observe(1, 0, t, EXPOSED_S);
            t += TICK_S;
        }
        let s = p.size(1.0, 1.0, false, t);
        assert_eq!((s.idle_tasks, s.unforeseen_jobs), (0, 0), "{s:?}");
    }
}
