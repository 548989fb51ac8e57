//! How soon demand comes back to a level after it fell below it, learned per level from the
//! observed demand (busy workers plus waiting jobs, in workers) tick by tick. The strict-SLO
//! hold reads it: a worker whose level has come back within a long hold after each recent
//! fall is worth holding that long; one whose level comes back only after hours is not. Pure; what to hold is
//! `decide`'s call.
//!
//! A fall is closed when demand reaches the level again (its gap is the time it was away) or
//! when it has been away longer than the longest hold asked about (`cap_s`, counted as a gap
//! beyond the cap and then forgotten), so every level keeps only its last `KEPT` outcomes and
//! a level that stopped coming back soon forgets its old habits within `KEPT` falls.

use std::collections::VecDeque;

/// Outcomes kept per level (the most recent falls).
const KEPT: usize = 20;

/// Falls a level must have seen before its gaps are trusted.
const MIN_FALLS: usize = 5;

/// Per level n (1-based: index n − 1): whether demand was at least n at the last tick, since
/// when it has been below, and the gaps of its last falls (`f64::INFINITY` = beyond the cap).
#[derive(Debug, Clone, Default)]
pub struct LevelReturns {
    above: Vec<bool>,
    away_since_s: Vec<Option<f64>>,
    gaps_s: Vec<VecDeque<f64>>,
}

impl LevelReturns {
    /// Note the demand (in workers) seen at `now_s`; falls away longer than `cap_s` close as
    /// beyond it.
    pub fn observe(&mut self, demand: u32, now_s: f64, cap_s: f64) {
        let top = (demand as usize).max(self.above.len());
        self.above.resize(top, false);
        self.away_since_s.resize(top, None);
        self.gaps_s.resize(top, VecDeque::new());
        for l in 0..top {
            let up = demand as usize > l;
            let gaps = &mut self.gaps_s[l];
            let mut close = |gap: f64| {
                if gaps.len() == KEPT {
                    gaps.pop_front();
                }
                gaps.push_back(gap);
            };
            match (up, self.away_since_s[l]) {
                (true, Some(t)) => {
                    close(now_s - t);
                    self.away_since_s[l] = None;
                }
                (false, Some(t)) if now_s - t > cap_s => {
                    close(f64::INFINITY);
                    self.away_since_s[l] = None;
                }
                (false, None) if self.above[l] => self.away_since_s[l] = Some(now_s),
                _ => {}
            }
            self.above[l] = up;
        }
    }

    /// The highest level that fell within its own hold (`hold_s`). 0 if none.
    pub fn held_level(&self, now_s: f64, default_s: f64, cap_s: f64) -> u32 {
        (0..self.away_since_s.len())
            .rev()
            .find(|&l| {
                self.away_since_s[l].is_some_and(|t| now_s - t <= self.hold_s(l, default_s, cap_s))
            })
            .map_or(0, |l| l as u32 + 1)
    }

    /// Level `l`'s hold (0-based): the slowest of its last falls' returns, when there were at
    /// least `MIN_FALLS` and every one came back within `cap_s`; `default_s` otherwise, and
    /// never less. The slowest, not a typical one: a hold shorter than the returns it is for
    /// releases the worker just before it is wanted, and pays the boot and the misses anyway.
    pub fn hold_s(&self, l: usize, default_s: f64, cap_s: f64) -> f64 {
        let Some(gaps) = self.gaps_s.get(l) else {
            return default_s;
        };
        let slowest = gaps.iter().copied().fold(0.0, f64::max);
        if gaps.len() < MIN_FALLS || slowest > cap_s {
            default_s
        } else {
            slowest.max(default_s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Demand that drops from 3 to 1 for `away_s` and comes back, `n` times, every hour.
    fn returns_after(away_s: f64, n: usize) -> (LevelReturns, f64) {
        let mut r = LevelReturns::default();
        let mut t = 0.0;
        for _ in 0..n {
            r.observe(3, t, 1800.0);
            r.observe(1, t + 60.0, 1800.0);
            r.observe(1, t + 60.0 + away_s - 1.0, 1800.0);
            r.observe(3, t + 60.0 + away_s, 1800.0);
            t += 3600.0;
        }
        r.observe(1, t, 1800.0);
        (r, t)
    }

    #[test]
    fn a_level_that_comes_back_within_the_cap_is_held_as_long_as_its_slowest_return() {
        let (r, t) = returns_after(900.0, 6);
        // 10 min after the fall: past the 7-min default, within the 15-min returns.
        assert_eq!(r.held_level(t + 600.0, 420.0, 1800.0), 3);
        assert_eq!(r.held_level(t + 1000.0, 420.0, 1800.0), 0);
    }

    #[test]
    fn a_level_that_comes_back_only_after_the_cap_keeps_the_default_hold() {
        let (r, t) = returns_after(2400.0, 6);
        assert_eq!(r.held_level(t + 300.0, 420.0, 1800.0), 3);
        assert_eq!(r.held_level(t + 600.0, 420.0, 1800.0), 0);
    }

    #[test]
    fn too_few_falls_keep_the_default_hold() {
        let (r, t) = returns_after(900.0, MIN_FALLS - 1);
        assert_eq!(r.held_level(t + 300.0, 420.0, 1800.0), 3);
        assert_eq!(r.held_level(t + 600.0, 420.0, 1800.0), 0);
    }
}
