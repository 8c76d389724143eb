//! When the runtime snapshots on its own.

use std::time::Duration;

/// When snapshots are taken automatically, between ticks. Explicit
/// [`Runtime::snapshot`](crate::Runtime::snapshot) calls and the final
/// snapshot when a run ends happen regardless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Every this many ticks.
    pub every_ticks: Option<u64>,
    /// At least this long after the previous snapshot.
    pub every: Option<Duration>,
}

impl Default for SnapshotPolicy {
    /// Every 2 seconds.
    fn default() -> Self {
        SnapshotPolicy {
            every_ticks: None,
            every: Some(Duration::from_secs(2)),
        }
    }
}

impl SnapshotPolicy {
    /// Never on its own.
    pub const OFF: SnapshotPolicy = SnapshotPolicy {
        every_ticks: None,
        every: None,
    };

    /// After every tick.
    pub const EVERY_TICK: SnapshotPolicy = SnapshotPolicy {
        every_ticks: Some(1),
        every: None,
    };

    /// Whether a snapshot is due, `ticks` and `elapsed` after the previous one.
    pub fn due(&self, ticks: u64, elapsed: Duration) -> bool {
        self.every_ticks.is_some_and(|n| ticks >= n.max(1))
            || self.every.is_some_and(|t| elapsed >= t)
    }
}

/// What a resumed run does when the code differs from the code that wrote
/// the snapshot it resumes from (systems added, removed or changed, their
/// access or order, registered types; see
/// [`CodeChanges`](dizzy_systems::CodeChanges)).
///
/// Files written before dizzy recorded what identifies the code report no
/// change under either policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeChange {
    /// Resume, logging the changes as a warning; they are also at
    /// [`Runtime::code_changes`](crate::Runtime::code_changes) (the
    /// default).
    #[default]
    Continue,
    /// Refuse to resume: [`App::open`](crate::App::open) fails with
    /// [`OpenError::CodeChanged`](crate::OpenError::CodeChanged), naming
    /// what changed; the file is left as it was.
    Refuse,
}
