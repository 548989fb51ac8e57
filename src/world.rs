//! The seams between the reconcile loop and the outside: a `World` that observes services and
//! applies actions, and a `Clock` that says what time it is and waits.
//!
//! Two worlds implement them: the simulated ECS MI cluster (`sim::world`) and the AWS edge
//! (`aws::AwsWorld`). Dry-run is a decorator over a world (`DryRun`, below) that logs instead of
//! applying. Two clocks too: `SimClock` here and `clock::RealClock`. Nothing here knows which
//! one it talks to.

use crate::core::model::{Action, Observation};
use std::future::Future;

/// Why an action could not be applied (the loop logs it and backs off; it never retries a
/// scale-in blindly).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("throttled by {api}: {message}")]
    Throttled { api: String, message: String },
    #[error("{api} failed: {message}")]
    Failed { api: String, message: String },
    /// The controller's role lacks the permission: reported as such, never retried as transient.
    #[error("{api} denied: {message}")]
    Denied { api: String, message: String },
}

pub trait World {
    /// How many services this world holds (the loop decides for each).
    fn services(&self) -> usize;
    /// Read the state of service `service` at `now_s`. A failed read is a `None` field.
    fn observe(&mut self, service: usize, now_s: f64) -> impl Future<Output = Observation>;
    /// Carry out `actions` for `service` at `now_s`.
    fn apply(
        &mut self,
        service: usize,
        actions: &[Action],
        now_s: f64,
    ) -> impl Future<Output = Result<(), ApplyError>>;
    /// True when there is nothing left to do (a simulation that drained); never for AWS.
    fn finished(&self, _now_s: f64) -> bool {
        false
    }
}

pub trait Clock {
    fn now_s(&self) -> f64;
    /// Wait until `t_s`. Returns false when the loop should stop instead (shutdown).
    fn sleep_until(&mut self, t_s: f64) -> impl Future<Output = bool>;
}

/// Simulated time: jumps straight to the next wake-up.
#[derive(Debug, Clone)]
pub struct SimClock {
    now_s: f64,
}

impl SimClock {
    pub fn new(start_s: f64) -> Self {
        SimClock { now_s: start_s }
    }
}

impl Clock for SimClock {
    fn now_s(&self) -> f64 {
        self.now_s
    }
    async fn sleep_until(&mut self, t_s: f64) -> bool {
        if t_s > self.now_s {
            self.now_s = t_s;
        }
        true
    }
}

/// Dry-run: observes through the wrapped world, logs each action it would apply, writes
/// nothing. The core and the loop cannot tell the difference.
pub struct DryRun<W> {
    inner: W,
    names: Vec<String>,
}

impl<W: World> DryRun<W> {
    /// `names` label the services in the log (index = service number).
    pub fn new(inner: W, names: Vec<String>) -> Self {
        DryRun { inner, names }
    }

    pub fn inner(&self) -> &W {
        &self.inner
    }
}

impl<W: World> World for DryRun<W> {
    fn services(&self) -> usize {
        self.inner.services()
    }
    async fn observe(&mut self, service: usize, now_s: f64) -> Observation {
        self.inner.observe(service, now_s).await
    }
    async fn apply(
        &mut self,
        service: usize,
        actions: &[Action],
        _now_s: f64,
    ) -> Result<(), ApplyError> {
        let name = self.names.get(service).map(String::as_str).unwrap_or("?");
        for a in actions {
            tracing::info!(service = name, action = %a, "dry-run: would apply (no write made)");
        }
        Ok(())
    }
    fn finished(&self, now_s: f64) -> bool {
        self.inner.finished(now_s)
    }
}
