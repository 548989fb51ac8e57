//! The seams between the reconcile loop and the outside: a `World` that observes services and
//! applies actions, and a `Clock` that says what time it is and waits.
//!
//! Two worlds implement them: the simulated ECS MI cluster (`sim::world`) and the AWS edge
//! (`aws::AwsWorld`). Dry-run is a decorator over a world (`DryRun`, below) that logs instead of
//! applying; `Logged` is the one `run` uses otherwise, logging each action once it is applied. Two clocks too: `SimClock` here and `clock::RealClock`. Nothing here knows which
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

/// Logs each action after the wrapped world applied it, so that an operator (and `run --once`)
/// sees what changed, as `DryRun` shows what would have.
pub struct Logged<W> {
    inner: W,
    names: Vec<String>,
}

impl<W: World> Logged<W> {
    /// `names` label the services in the log (index = service number).
    pub fn new(inner: W, names: Vec<String>) -> Self {
        Logged { inner, names }
    }
}

impl<W: World> World for Logged<W> {
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
        now_s: f64,
    ) -> Result<(), ApplyError> {
        self.inner.apply(service, actions, now_s).await?;
        let name = self.names.get(service).map(String::as_str).unwrap_or("?");
        for a in actions {
            tracing::info!(service = name, action = %a, "applied");
        }
        Ok(())
    }
    fn finished(&self, now_s: f64) -> bool {
        self.inner.finished(now_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Fake {
        fail: bool,
    }
    impl World for Fake {
        fn services(&self) -> usize {
            1
        }
        async fn observe(&mut self, _: usize, _: f64) -> Observation {
            Observation::default()
        }
        async fn apply(&mut self, _: usize, _: &[Action], _: f64) -> Result<(), ApplyError> {
            if self.fail {
                Err(ApplyError::Failed {
                    api: "UpdateService".into(),
                    message: "no".into(),
                })
            } else {
                Ok(())
            }
        }
    }

    /// What `Logged` writes to the log for one apply.
    fn log_of(fail: bool) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || buf.clone())
            .with_ansi(false)
            .finish();
        let mut w = Logged::new(Fake { fail }, vec!["whisper".into()]);
        let action = Action::SetDesired {
            desired: 3,
            reason: crate::core::model::Reason::new(
                crate::core::model::ReasonCode::Forecast,
                "test",
            ),
        };
        tracing::subscriber::with_default(subscriber, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let _ = rt.block_on(w.apply(0, &[action], 0.0));
        });
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    /// Issue #13: `run --once` without `--dry-run` said nothing about what it changed.
    #[test]
    fn applied_actions_are_logged_and_failed_ones_are_not() {
        let ok = log_of(false);
        assert!(ok.contains("applied"), "{ok}");
        assert!(ok.contains("whisper"), "{ok}");
        assert!(ok.contains("desired=3"), "{ok}");
        assert_eq!(log_of(true), "");
    }
}
