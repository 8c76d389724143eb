//! Retention: keep the newest K snapshots, and every snapshot their chains
//! need (a delta is useless without its base), delete the rest; compaction
//! then gives the space back to the file system.

use std::collections::{BTreeMap, BTreeSet};

use redb::WriteTransaction;

use crate::error::{RestoreError, StoreOpenError};
use crate::format::{CHUNKS, SNAPSHOTS};
use crate::store::{Store, read_all_meta};

/// The chain links of a file: snapshot id -> its base (None for full).
pub type Links = BTreeMap<u64, Option<u64>>;

/// The snapshots to keep: the `keep_last` newest and their chains.
pub fn retained(links: &Links, keep_last: usize) -> BTreeSet<u64> {
    let mut keep = BTreeSet::new();
    for &id in links.keys().rev().take(keep_last.max(1)) {
        let mut at = Some(id);
        while let Some(id) = at {
            if !keep.insert(id) {
                break;
            }
            at = links.get(&id).copied().flatten();
        }
    }
    keep
}

/// Deletes, inside `tx`, every snapshot of `links` that `retained` does not
/// keep; updates `links` and returns the ids deleted.
///
/// # Errors
/// redb failed to delete a snapshot's rows; the transaction should be aborted.
pub fn prune(
    tx: &WriteTransaction,
    links: &mut Links,
    keep_last: usize,
) -> Result<Vec<u64>, redb::Error> {
    let keep = retained(links, keep_last);
    let gone: Vec<u64> = links
        .keys()
        .copied()
        .filter(|id| !keep.contains(id))
        .collect();
    if gone.is_empty() {
        return Ok(gone);
    }
    let mut snapshots = tx.open_table(SNAPSHOTS)?;
    let mut chunks = tx.open_table(CHUNKS)?;
    for &id in &gone {
        snapshots.remove(id)?;
        chunks.retain_in((id, "", 0u32)..(id + 1, "", 0u32), |_, _| false)?;
        links.remove(&id);
    }
    Ok(gone)
}

/// Reads the chain links of a file.
///
/// # Errors
/// The file cannot be read or a record is damaged ([`RestoreError`]).
pub fn links(store: &Store) -> Result<Links, RestoreError> {
    Ok(store
        .snapshots()?
        .into_iter()
        .map(|m| (m.id, m.base))
        .collect())
}

/// What [`compact`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compaction {
    /// Snapshots deleted by the retention policy.
    pub deleted: usize,
    /// Snapshots left.
    pub snapshots: usize,
    /// File size before.
    pub bytes_before: u64,
    /// File size after.
    pub bytes_after: u64,
    /// Chunk bytes of the snapshots left.
    pub live_bytes: u64,
}

/// Compaction failed; the file holds what it held before, or the pruned set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// The file could not be opened.
    #[error(transparent)]
    Open(#[from] StoreOpenError),
    /// The records could not be read.
    #[error(transparent)]
    Read(#[from] RestoreError),
    /// redb failed.
    #[error("{path}: {source}")]
    Storage {
        /// The path.
        path: std::path::PathBuf,
        /// redb's error.
        source: redb::Error,
    },
}

/// Applies `keep_last` (if any) and compacts the file at `path`.
///
/// # Errors
/// The file cannot be opened or read, pruning failed, or redb could not compact
/// it ([`CompactError`]).
pub fn compact(
    path: &std::path::Path,
    keep_last: Option<usize>,
) -> Result<Compaction, CompactError> {
    let size = || std::fs::metadata(path).map_or(0, |m| m.len());
    let bytes_before = size();
    let store = Store::open(path)?;
    let fail = |e: redb::Error| CompactError::Storage {
        path: path.to_owned(),
        source: e,
    };
    let mut links = links(&store)?;
    let mut deleted = 0;
    if let Some(k) = keep_last {
        let db = store
            .database()
            .ok_or_else(|| fail(redb::StorageError::Unsupported.into()))?;
        let tx = db.begin_write().map_err(|e| fail(e.into()))?;
        deleted = prune(&tx, &mut links, k).map_err(fail)?.len();
        tx.commit().map_err(|e| fail(e.into()))?;
    }
    let live_bytes = {
        let tx = store.begin_read().map_err(|e| fail(e.into()))?;
        read_all_meta(&store, &tx)?.iter().map(|m| m.bytes).sum()
    };
    let mut db = store
        .into_database()
        .ok_or_else(|| fail(redb::StorageError::Unsupported.into()))?;
    // Compaction moves pages down in steps; repeat while it makes progress.
    while db.compact().map_err(|e| fail(e.into()))? {}
    drop(db);
    Ok(Compaction {
        deleted,
        snapshots: links.len(),
        bytes_before,
        bytes_after: size(),
        live_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_of_kept_snapshots_stay() {
        // 1 full, 2-3 deltas, 4 full, 5-6 deltas.
        let links: Links = [
            (1, None),
            (2, Some(1)),
            (3, Some(2)),
            (4, None),
            (5, Some(4)),
            (6, Some(5)),
        ]
        .into();
        assert_eq!(retained(&links, 1), [4, 5, 6].into());
        assert_eq!(retained(&links, 3), [4, 5, 6].into());
        assert_eq!(retained(&links, 4), [1, 2, 3, 4, 5, 6].into());
        let only_fulls: Links = [(1, None), (2, None), (3, None)].into();
        assert_eq!(retained(&only_fulls, 2), [2, 3].into());
    }
}
