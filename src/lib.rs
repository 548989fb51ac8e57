//! preheat: keeps GPU queue workers on Amazon ECS Managed Instances warm just before work
//! arrives, and lets them go when it does not.
//!
//! The layout follows the architecture (`docs/architecture.md`):
//! - `core`: the pure decision core (observation model, config, `decide`, forecasts, lag and
//!   queueing maths). No I/O, no clock, no global RNG.
//! - `world`, `clock`, `reconcile`, `telemetry`: the one loop that observes a world, calls a
//!   policy and applies its actions, on a real or a simulated clock, with its metrics.
//! - `sim`: the simulated ECS MI world, its reports, charts, scenarios and fault injection.
//! - `aws`: the same world over the AWS SDK (SQS, ECS, Application Auto Scaling).
//! - `baselines`: the peer policies preheat is compared with, one file each.
//! - `trace`: importers that turn public workload traces into jobs, one file per format.
//! - `eval`: the backtest and chaos runners built on the simulator.
//! - `history`: a queue's CloudWatch history turned into a trace (`preheat history`).
//! - `twin`: a loopback SQS/ECS/CloudWatch endpoint backed by the simulated world, and the
//!   lockstep runner that drives the real AWS edge against it.
//!
//! The binary (`main.rs` and `cli/`, one file per command) only parses flags and wires these up.

pub mod aws;
pub mod baselines;
pub mod clock;
pub mod core;
pub mod emf;
pub mod eval;
#[cfg(test)]
mod fuzz;
pub mod history;
pub mod reconcile;
pub mod sim;
pub mod telemetry;
pub mod trace;
pub mod twin;
pub mod world;
