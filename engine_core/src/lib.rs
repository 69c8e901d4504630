//! Pure core of the housing allocation engine: portfolio state, policy-v1 scoring and an
//! exact matcher (assignment solver plus branch and bound for mix caps). No I/O, no clock.

// Solver code walks parallel arrays by one index; iterator rewrites would hide that.
#![allow(clippy::needless_range_loop)]

pub mod caps;
pub mod capsolve;
pub mod date;
pub mod engine;
pub mod io;
pub mod lsa;
pub mod mix;
pub mod model;
pub mod pricing;
#[cfg(feature = "python")]
mod python;
pub mod report;
pub mod scoring;
pub mod slots;
pub mod warm;

pub use engine::{Engine, ENGINE_VERSION, LEGACY_ENGINE_VERSION};
