//! preheat: keeps GPU queue workers on Amazon ECS Managed Instances warm just before work
//! arrives, and lets them go when it does not.
//!
//! The crate is a pure decision core (`decide`, `forecast`, `lag`, `queueing`) with I/O at the
//! edges (`world`, `reconcile`, `sim`). The binary in `main.rs` only parses flags and wires
//! these up.

pub mod aws;
pub mod backtest;
pub mod baselines;
pub mod chaos;
pub mod clock;
pub mod config;
pub mod decide;
pub mod forecast;
#[cfg(test)]
mod fuzz;
pub mod lag;
pub mod model;
pub mod queueing;
pub mod reconcile;
pub mod scenario;
pub mod sim;
pub mod telemetry;
pub mod trace;
pub mod world;
