//! Evaluation on top of the simulator: the backtest that sweeps every peer policy against
//! preheat over the scenarios in `config/scenarios.yaml`, and the chaos runner that replays
//! seeded fault plans and counts invariant violations. Both only drive `crate::sim`; the
//! command line in `main.rs` prints and writes what they return.

pub mod backtest;
pub mod chaos;
pub mod current;
pub mod reach;
pub mod sweep;
