//! Says when the SLO is out of reach: preheat's own sizing for its SLO (`decide::size`, before
//! the guards) asks for more workers than max_tasks or the hourly budget allow. Pure, and
//! additive to `decide`: it never changes what preheat scales to, it only measures the gap so
//! the reason text, the metrics and the backtest can say so instead of silently delivering
//! less (issue #9, target 5). Choosing the count and applying the caps stay with `decide` and
//! `guards`.

use crate::core::config::{ServiceConfig, fmt_s};
use crate::core::decide::{CoreState, Sizing, budget_cap_tasks, size};
use crate::core::model::{CapKind, QueueDepth, Shortfall};

/// How far past the limit the wider sizing looks, as a multiple of the limit (and at least
/// `WIDE_MIN_TASKS`): enough to tell "a few short" from "far short" without letting the
/// Erlang-C search (quadratic in the servers it tries) run away on a huge load.
const WIDE_FACTOR: u32 = 4;
const WIDE_MIN_TASKS: u32 = 64;

/// The most workers the caps allow, and which cap that is (the budget when it buys fewer than
/// max_tasks).
pub fn limit(cfg: &ServiceConfig) -> (u32, CapKind) {
    match cfg.budget_per_hour_usd.map(|b| budget_cap_tasks(cfg, b)) {
        Some(b) if b < cfg.max_tasks => (b, CapKind::Budget),
        _ => (cfg.max_tasks, CapKind::MaxTasks),
    }
}

/// The shortfall behind this tick's sizing `sz`, or `None` when the caps allow what the SLO
/// needs. `size` itself stops at max_tasks, so when it reached that stop the need is sized
/// again on a copy of the state with a wider ceiling (the copy keeps the real state's
/// forecast bookkeeping untouched).
#[allow(clippy::too_many_arguments)]
pub fn shortfall(
    cfg: &ServiceConfig,
    tick_s: f64,
    st: &CoreState,
    q: QueueDepth,
    busy: u32,
    now_s: f64,
    sz: &Sizing,
) -> Option<Shortfall> {
    let (limit_tasks, cap) = limit(cfg);
    if sz.raw < limit_tasks {
        return None;
    }
    let stopped = sz.forecast_tasks >= cfg.max_tasks || sz.backlog_tasks >= cfg.max_tasks;
    let (need_tasks, need_at_least) = if stopped {
        let wide_tasks = limit_tasks
            .saturating_mul(WIDE_FACTOR)
            .max(cfg.max_tasks)
            .max(WIDE_MIN_TASKS);
        let mut wide = cfg.clone();
        wide.max_tasks = wide_tasks;
        let w = size(&wide, tick_s, &mut st.clone(), q, busy, now_s);
        let at_least = w.forecast_tasks >= wide_tasks || w.backlog_tasks >= wide_tasks;
        (w.raw.max(sz.raw), at_least)
    } else {
        (sz.raw, false)
    };
    (need_tasks > limit_tasks).then_some(Shortfall {
        need_tasks,
        need_at_least,
        limit_tasks,
        cap,
    })
}

/// The sentence for the reason text, e.g. "SLO unreachable: needs 14 workers for 99% within
/// 1m, max_tasks is 8".
pub fn describe(cfg: &ServiceConfig, s: &Shortfall) -> String {
    let cap = match s.cap {
        CapKind::MaxTasks => format!("max_tasks is {}", s.limit_tasks),
        CapKind::Budget => format!(
            "the budget {} $/h buys {}",
            cfg.budget_per_hour_usd.unwrap_or(0.0),
            s.limit_tasks
        ),
    };
    format!(
        "SLO unreachable: needs {}{} workers for {}% within {}, {cap}",
        if s.need_at_least { "at least " } else { "" },
        s.need_tasks,
        fmt_pct(cfg.slo.attainment),
        fmt_s(cfg.slo.max_wait_s),
    )
}

/// What the reason text gets appended: "; SLO unreachable: …", or nothing.
pub fn suffix(cfg: &ServiceConfig, s: Option<Shortfall>) -> String {
    s.map_or(String::new(), |s| format!("; {}", describe(cfg, &s)))
}

/// 0.99 → "99", 0.995 → "99.5".
pub fn fmt_pct(share: f64) -> String {
    let p = format!("{:.2}", share * 100.0);
    p.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decide::decide;
    use crate::core::decide::tests::{cfg, obs};

    /// A backlog of 30 jobs at a loose SLO with max_tasks 8: the sizing wants a worker per
    /// job, the cap allows 8, and the decision says so with figures while still scaling to 8.
    #[test]
    fn a_backlog_beyond_max_tasks_is_reported_with_figures() {
        let mut c = cfg();
        c.max_tasks = 8;
        c.max_step = 100;
        let mut st = CoreState::new(&c);
        let d = decide(&c, 15.0, &mut st, &obs(30, 0, 0), 0.0);
        let s = d
            .unreachable
            .expect("30 waiting jobs with 8 workers at most");
        assert_eq!((s.limit_tasks, s.cap), (8, CapKind::MaxTasks));
        assert!(s.need_tasks > 8 && s.workers() == s.need_tasks - 8, "{s:?}");
        assert!(
            d.why.text.contains(&format!(
                "SLO unreachable: needs {} workers for 95% within 10m, max_tasks is 8",
                s.need_tasks
            )),
            "{}",
            d.why
        );
        // What preheat scales to is the cap, as before.
        assert!(
            d.actions
                .iter()
                .any(|a| matches!(a, crate::core::model::Action::SetDesired { desired: 8, .. }))
        );
    }

    /// The same queue with room for it: nothing to report.
    #[test]
    fn no_report_when_the_caps_allow_the_need() {
        let mut c = cfg();
        c.max_tasks = 64;
        c.budget_per_hour_usd = None;
        let mut st = CoreState::new(&c);
        let d = decide(&c, 15.0, &mut st, &obs(3, 0, 0), 0.0);
        assert_eq!(d.unreachable, None, "{}", d.why);
        assert!(!d.why.text.contains("unreachable"), "{}", d.why);
    }

    /// The budget binds when it buys fewer workers than max_tasks, and the text names it.
    #[test]
    fn the_budget_is_named_when_it_binds() {
        let mut c = cfg();
        c.max_tasks = 20;
        c.max_step = 100;
        let per_task_h = c.price.per_hour_usd() / f64::from(c.tasks_per_instance.max(1));
        c.budget_per_hour_usd = Some(3.5 * per_task_h);
        let (lim, kind) = limit(&c);
        assert_eq!(
            (lim, kind),
            (budget_cap_tasks(&c, 3.5 * per_task_h), CapKind::Budget)
        );
        let mut st = CoreState::new(&c);
        let d = decide(&c, 15.0, &mut st, &obs(12, 0, 0), 0.0);
        let s = d.unreachable.expect("12 waiting, budget for 3");
        assert_eq!(s.cap, CapKind::Budget);
        assert!(d.why.text.contains(&format!("buys {lim}")), "{}", d.why);
    }

    #[test]
    fn percentages_print_without_trailing_zeros() {
        assert_eq!(fmt_pct(0.99), "99");
        assert_eq!(fmt_pct(0.995), "99.5");
        assert_eq!(fmt_pct(0.9), "90");
    }
}
