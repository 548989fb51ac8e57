//! The unit of work every part of preheat talks about: one queue message, when it is sent and
//! how long a worker needs for it. Trace importers (`crate::trace`) produce jobs, the simulator
//! and the clairvoyant baselines consume them; nothing here reads files or keeps time.

/// One job of the workload: when its message is sent and how long a worker needs for it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Job {
    /// Seconds after the start of the (windowed, scaled) trace; never negative.
    pub arrival_s: f64,
    /// Seconds of worker time; always finite and positive.
    pub service_s: f64,
}
