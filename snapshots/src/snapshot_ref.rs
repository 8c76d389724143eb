//! Naming a snapshot: by id (`42`), or counting back from the newest
//! (`latest`, `latest~2`).

use std::fmt;
use std::str::FromStr;

use crate::error::RestoreError;
use crate::store::Store;

/// A snapshot as a user names it: an id, or the newest snapshot of the
/// file counted back by `n` snapshots (`latest~n`; `latest` is
/// `latest~0`). Counting goes by the snapshots the file holds, not by
/// ids: ids that retention deleted are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnapshotRef {
    /// The snapshot with this id.
    Id(u64),
    /// The `n`-th snapshot before the newest one.
    Latest(u64),
}

/// A snapshot name that is neither an id nor `latest`/`latest~N`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a snapshot: expected an id (42), `latest` or `latest~N` (latest~1)")]
pub struct SnapshotRefError(pub String);

impl FromStr for SnapshotRef {
    type Err = SnapshotRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SnapshotRefError(s.chars().take(64).collect());
        let t = s.trim();
        if let Some(rest) = t.strip_prefix("latest") {
            return match rest.strip_prefix('~') {
                None if rest.is_empty() => Ok(SnapshotRef::Latest(0)),
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    n.parse().map(SnapshotRef::Latest).map_err(|_| bad())
                }
                _ => Err(bad()),
            };
        }
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse().map(SnapshotRef::Id).map_err(|_| bad());
        }
        Err(bad())
    }
}

impl fmt::Display for SnapshotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotRef::Id(id) => write!(f, "{id}"),
            SnapshotRef::Latest(0) => f.write_str("latest"),
            SnapshotRef::Latest(n) => write!(f, "latest~{n}"),
        }
    }
}

impl SnapshotRef {
    /// The id this names among `ids` (the file's snapshot ids, oldest
    /// first); `None` when there is no such snapshot.
    pub fn pick(self, ids: &[u64]) -> Option<u64> {
        match self {
            SnapshotRef::Id(id) => ids.binary_search(&id).ok().map(|_| id),
            SnapshotRef::Latest(n) => {
                let back = usize::try_from(n).ok()?;
                let i = ids.len().checked_sub(back)?.checked_sub(1)?;
                ids.get(i).copied()
            }
        }
    }

    /// The id this names in `store`.
    ///
    /// # Errors
    /// [`RestoreError::UnknownSnapshot`] for an id the file does not hold,
    /// [`RestoreError::NoSnapshot`] for `latest~N` when the file holds N
    /// snapshots or fewer; a storage error when the file cannot be read.
    pub fn resolve(self, store: &Store) -> Result<u64, RestoreError> {
        let ids = store.snapshot_ids()?;
        self.pick(&ids).ok_or_else(|| match self {
            SnapshotRef::Id(id) => RestoreError::UnknownSnapshot {
                path: store.path().to_owned(),
                id,
                held: ids.len() as u64,
                ids: ids.first().copied().zip(ids.last().copied()),
            },
            SnapshotRef::Latest(_) => RestoreError::TooFewSnapshots {
                path: store.path().to_owned(),
                wanted: self.to_string(),
                held: ids.len(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_latest() {
        assert_eq!("42".parse(), Ok(SnapshotRef::Id(42)));
        assert_eq!("latest".parse(), Ok(SnapshotRef::Latest(0)));
        assert_eq!("latest~3".parse(), Ok(SnapshotRef::Latest(3)));
        for bad in [
            "",
            "latest~",
            "latest~-1",
            "latest3",
            "-1",
            "4x",
            "latest~99999999999999999999",
        ] {
            assert!(bad.parse::<SnapshotRef>().is_err(), "{bad}");
        }
        assert_eq!(SnapshotRef::Latest(2).to_string(), "latest~2");
        assert_eq!(SnapshotRef::Latest(0).to_string(), "latest");
    }

    #[test]
    fn picks_by_position_from_the_newest() {
        let ids = [3, 4, 9];
        assert_eq!(SnapshotRef::Latest(0).pick(&ids), Some(9));
        assert_eq!(SnapshotRef::Latest(2).pick(&ids), Some(3));
        assert_eq!(SnapshotRef::Latest(3).pick(&ids), None);
        assert_eq!(SnapshotRef::Latest(u64::MAX).pick(&ids), None);
        assert_eq!(SnapshotRef::Id(4).pick(&ids), Some(4));
        assert_eq!(SnapshotRef::Id(5).pick(&ids), None);
        assert_eq!(SnapshotRef::Latest(0).pick(&[]), None);
    }
}
