//! The pure decision core: what preheat observes and decides (`model`, `job`), how it reads its
//! configuration (`config`), and the functions that turn an observation into actions
//! (`decide` with its ordered `guards`, built on `observed`, `forecast`, `lag` and `queueing`).
//! Nothing here does I/O, reads a clock or draws from a global RNG; the worlds (`crate::sim`,
//! `crate::aws`) and the loop
//! (`crate::reconcile`) supply observations and carry out the actions.

pub mod attainment;
pub mod config;
pub mod decide;
pub mod feedback;
pub mod forecast;
pub mod guards;
#[cfg(test)]
mod guards_tests;
pub mod job;
pub mod lag;
pub mod model;
pub mod observed;
pub mod pool;
pub mod prime;
pub mod queueing;
pub mod returns;
pub mod unreachable;
