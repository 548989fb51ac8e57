//! The safety invariants every simulated run must keep, and their violation counters.
//!
//! The simulated world checks them as it goes, because only it knows the truth behind what the
//! controller saw: on every observation (was it complete?), on every decision it is asked to
//! apply (bounds and floors, budget priced in instances, busy workers, missing or stale data,
//! flapping), whenever a task stops (was a busy worker stopped?), whenever a job starts or ends
//! (did it run twice?) and when the books close (was a job lost, or will it never finish?). This
//! file only names the invariants and counts; `sim::world` decides when one is broken,
//! `sim::invariant_tests` shows each one firing, `preheat chaos` reports them.

use std::fmt;

/// One property that must hold on every tick of every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// A job that arrived neither completed nor is still queued, returning, or held by a live
    /// worker whose finish is still to come, at the end.
    JobLost,
    /// A job started (or completed) more often than its interruptions allow.
    JobRunTwice,
    /// A task holding a job stopped while its instance was still there, whatever the stop was
    /// called and whether or not the worker had protected itself (only a Spot reclaim, which
    /// takes the instance, may stop a busy task).
    BusyTaskStopped,
    /// A decided desired count above `max_tasks`, or below the floor in force (`min_tasks` or a
    /// schedule floor) other than on the way up to it or when the budget cannot pay for it; or
    /// a tick with complete reads that kept a count below the floor.
    DesiredOutOfBounds,
    /// A decided desired count whose instances (whole ones: billing is per instance) cost more
    /// per hour than `budget_per_hour_usd`, or a scale-out after which the instances holding
    /// the service's tasks do.
    OverBudget,
    /// A scale-in decided on a tick whose observation was missing, failed, or stale (an old SQS
    /// count that hides work there now).
    ScaleInOnMissingData,
    /// A decided desired count below the workers holding a job.
    BelowBusyWorkers,
    /// A change of the desired count undone within one cold start with no new demand: a
    /// scale-in reversed with no job arrived or come back since, or a scale-out reversed with no
    /// job started or finished since (changes made on faulty reads are excused). And, as
    /// before, after a restart a scale-in below the count found undone within a cold start.
    /// The name is kept for the reports' stable keys.
    RestartFlap,
}

impl Invariant {
    pub const ALL: [Invariant; 8] = [
        Invariant::JobLost,
        Invariant::JobRunTwice,
        Invariant::BusyTaskStopped,
        Invariant::DesiredOutOfBounds,
        Invariant::OverBudget,
        Invariant::ScaleInOnMissingData,
        Invariant::BelowBusyWorkers,
        Invariant::RestartFlap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Invariant::JobLost => "no job lost",
            Invariant::JobRunTwice => "no job run twice (except after an interruption)",
            Invariant::BusyTaskStopped => "no busy task stopped (but by a Spot reclaim)",
            Invariant::DesiredOutOfBounds => "desired count within [floor, max]",
            Invariant::OverBudget => "billed instances within the hourly budget",
            Invariant::ScaleInOnMissingData => "no scale-in from a missing, failed or stale read",
            Invariant::BelowBusyWorkers => "desired count never below busy workers",
            Invariant::RestartFlap => "no flap (a change undone within a cold start)",
        }
    }

    fn index(self) -> usize {
        Invariant::ALL
            .iter()
            .position(|&i| i == self)
            .expect("every invariant is in ALL")
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many examples of violations a report keeps (for debugging; counts are exact).
const MAX_EXAMPLES: usize = 8;

/// Violation counts per invariant, with the first few described.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct InvariantReport {
    counts: [u64; 8],
    /// Checks made (decisions, observations, stops, job events), to show the counters mean
    /// something.
    pub checks: u64,
    /// Decisions the policy itself capped at the budget (shows the budget check had work).
    pub budget_capped: u64,
    /// Busy tasks stopped whose job no read could show yet (taken after the SQS count read,
    /// by a worker that protects late or never): harm from the reads' lag, not a violation.
    pub hidden_busy_stops: u64,
    pub examples: Vec<String>,
}

impl InvariantReport {
    pub fn violate(&mut self, inv: Invariant, now_s: f64, detail: impl FnOnce() -> String) {
        self.counts[inv.index()] += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples
                .push(format!("t={now_s:.0}s {}: {}", inv.name(), detail()));
        }
    }

    pub fn count(&self, inv: Invariant) -> u64 {
        self.counts[inv.index()]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn merge(&mut self, o: &InvariantReport) {
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.checks += o.checks;
        self.budget_capped += o.budget_capped;
        self.hidden_busy_stops += o.hidden_busy_stops;
        for e in &o.examples {
            if self.examples.len() < MAX_EXAMPLES {
                self.examples.push(e.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_keep_a_few_examples() {
        let mut a = InvariantReport::default();
        for _ in 0..20 {
            a.violate(Invariant::JobLost, 1.0, || "x".into());
        }
        let mut b = InvariantReport::default();
        b.violate(Invariant::RestartFlap, 2.0, || "y".into());
        b.merge(&a);
        assert_eq!(b.count(Invariant::JobLost), 20);
        assert_eq!(b.total(), 21);
        assert_eq!(b.examples.len(), MAX_EXAMPLES);
        assert!(b.examples[0].contains("flap"), "{:?}", b.examples);
    }
}
