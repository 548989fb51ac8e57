//! Wall-clock time for `preheat run`: Unix seconds, tokio timers, and a shutdown signal.
//!
//! `RealClock::sleep_until` returns false as soon as shutdown is requested (SIGTERM or
//! ctrl-c), so the loop ends after the tick in progress. Catching the signals is
//! `Shutdown::listen`'s job; the simulator's clock (`world::SimClock`) never waits.

use crate::world::Clock;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Now in Unix seconds.
pub fn unix_now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A shutdown flag every part of `run` can wait on.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Listen for SIGTERM and ctrl-c (SIGINT) in the background. Must run inside a runtime.
    pub fn listen() -> std::io::Result<Self> {
        let (tx, rx) = watch::channel(false);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "ctrl-c",
            };
            tracing::info!(signal = which, "shutting down after the current tick");
            let _ = tx.send(true);
        });
        Ok(Shutdown { rx })
    }

    /// A flag that never fires (for `--once` and benchmarks).
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `requested` stays pending, not closed.
        std::mem::forget(tx);
        Shutdown { rx }
    }

    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown is requested.
    pub async fn requested(&mut self) {
        while !*self.rx.borrow_and_update() {
            if self.rx.changed().await.is_err() {
                // Sender gone without a request: never resolve.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Real time: Unix seconds, sleeps on tokio timers, wakes early on shutdown.
pub struct RealClock {
    shutdown: Shutdown,
}

impl RealClock {
    pub fn new(shutdown: Shutdown) -> Self {
        RealClock { shutdown }
    }
}

impl Clock for RealClock {
    fn now_s(&self) -> f64 {
        unix_now_s()
    }

    async fn sleep_until(&mut self, t_s: f64) -> bool {
        if self.shutdown.is_requested() {
            return false;
        }
        let wait = (t_s - unix_now_s()).clamp(0.0, 3600.0);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs_f64(wait)) => {
                !self.shutdown.is_requested()
            }
            _ = self.shutdown.requested() => false,
        }
    }
}

/// Real time that never waits: the loop runs tick after tick (the footprint benchmark).
pub struct BusyClock;

impl Clock for BusyClock {
    fn now_s(&self) -> f64 {
        unix_now_s()
    }
    async fn sleep_until(&mut self, _t_s: f64) -> bool {
        true
    }
}
