//! Per-API counters of the AWS edge: calls, errors, throttles and AccessDenied answers, and
//! which APIs are denied right now (their last call was refused for lack of permission).
//!
//! Every SDK call of `aws::*` goes through `aws::call`, which records its outcome here. The
//! counters are process-wide (one controller per process; the SDK clients are shared too), so
//! `/metrics`, `/healthz` and the EMF lines read them without a handle being threaded through
//! the loop. This file only counts; deciding what a denial means is the caller's.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What one API has seen since start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiCount {
    pub calls: u64,
    /// Failed calls of any kind (throttles and denials included).
    pub errors: u64,
    pub throttles: u64,
    pub access_denied: u64,
    /// True when the last call of this API was denied (cleared by the next success).
    pub denied_now: bool,
}

/// How one call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Throttled,
    Denied,
    Failed,
}

static STATS: Mutex<BTreeMap<&'static str, ApiCount>> = Mutex::new(BTreeMap::new());

fn lock() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, ApiCount>> {
    // Plain counters: a panic elsewhere cannot leave them inconsistent in a way that matters.
    STATS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Count one call of `api`.
pub fn record(api: &'static str, outcome: Outcome) {
    let mut m = lock();
    let c = m.entry(api).or_default();
    c.calls += 1;
    match outcome {
        Outcome::Ok => c.denied_now = false,
        Outcome::Throttled => {
            c.errors += 1;
            c.throttles += 1;
        }
        Outcome::Denied => {
            c.errors += 1;
            c.access_denied += 1;
            c.denied_now = true;
        }
        Outcome::Failed => c.errors += 1,
    }
}

/// Every API called so far, by name.
pub fn snapshot() -> Vec<(&'static str, ApiCount)> {
    lock().iter().map(|(k, v)| (*k, *v)).collect()
}

/// The APIs whose last call was denied.
pub fn denied_now() -> Vec<&'static str> {
    lock()
        .iter()
        .filter(|(_, v)| v.denied_now)
        .map(|(k, _)| *k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_outcome_and_clears_a_denial_on_success() {
        // Names only this test uses: the counters are process-wide.
        const API: &str = "test:CountsEachOutcome";
        for o in [
            Outcome::Ok,
            Outcome::Throttled,
            Outcome::Failed,
            Outcome::Denied,
        ] {
            record(API, o);
        }
        let c = snapshot().into_iter().find(|(k, _)| *k == API).unwrap().1;
        assert_eq!(
            (c.calls, c.errors, c.throttles, c.access_denied),
            (4, 3, 1, 1)
        );
        assert!(denied_now().contains(&API));
        record(API, Outcome::Ok);
        assert!(!denied_now().contains(&API));
    }
}
