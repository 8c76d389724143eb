//! Benchmarks that print JSON: `dizzy bench snapshot` and its peer.

pub mod peer;
mod snapshot;

pub use snapshot::SnapshotBench;
