//! Pieces shared by several test binaries. Each binary compiles this module on its own and uses
//! only part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod cloudwatch;
