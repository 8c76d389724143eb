//! Benchmarks.
pub mod peer;
