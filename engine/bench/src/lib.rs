//! Benchmarks that print JSON: `dizzy bench snapshot` (at one size, or a
//! sweep of sizes) and its peer; `dizzy bench hierarchy`.

mod hierarchy;
pub mod peer;
mod snapshot;
mod sweep;

pub use hierarchy::HierarchyBench;
pub use snapshot::SnapshotBench;
pub use sweep::{COLUMNS, parse_sizes, summarize};
