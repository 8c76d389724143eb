//! Analyses of inspected snapshots: what changed between two
//! ([`diff`](diff())), what each component costs ([`stats`](stats())), and
//! how entities descend from one another ([`trace`](trace())). They work on
//! [`Inspection`](crate::Inspection)s and return plain data: the command
//! line prints it, the explorer renders it as pages.

mod diff;
mod stats;
mod trace;

pub use diff::{Change, Diff, ResourceChange, diff};
pub use stats::{ColumnStats, Stats, stats};
pub use trace::{MAX_TRACE_DEPTH, Trace, TraceNode, trace, trace_correlation};
