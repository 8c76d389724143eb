//! Naming what redb refused: a damaged file of the user's, another
//! program's file, a lock held elsewhere.

use std::path::Path;

use crate::error::StoreOpenError;

use super::storage;

/// The error for a file redb would not open.
pub(super) fn classify(path: &Path, e: redb::DatabaseError) -> StoreOpenError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => {
            StoreOpenError::Locked {
                path: path.to_owned(),
                explorer: crate::served::announced(path),
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            not_redb_or_damaged(path, io.to_string())
        }
        // A redb file cut inside its header: damaged, not an I/O failure.
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            if starts_as_redb(path) {
                StoreOpenError::Damaged {
                    path: path.to_owned(),
                    reason: io.to_string(),
                }
            } else {
                StoreOpenError::Io {
                    path: path.to_owned(),
                    source: io,
                }
            }
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => StoreOpenError::Io {
            path: path.to_owned(),
            source: io,
        },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
            not_redb_or_damaged(path, reason)
        }
        redb::DatabaseError::RepairAborted => StoreOpenError::NeedsRepair {
            path: path.to_owned(),
        },
        redb::DatabaseError::UpgradeRequired(v) => StoreOpenError::NotRedb {
            path: path.to_owned(),
            reason: format!(
                "a redb database of an old file format ({v}), which redb 4 does not read"
            ),
        },
        other => storage(path, other),
    }
}

/// The first bytes of every redb file (redb 4's `MAGICNUMBER`, in
/// `tree_store/page_store/header.rs`).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// A file redb refuses: damaged if it starts as a redb file does (a flipped
/// byte, a file cut short or with bytes appended: still the user's file,
/// to repair or to fetch again), else not a redb file at all.
fn not_redb_or_damaged(path: &Path, reason: String) -> StoreOpenError {
    if starts_as_redb(path) {
        StoreOpenError::Damaged {
            path: path.to_owned(),
            reason: damaged_because(reason),
        }
    } else {
        // redb words it "Not a redb database: magic number mismatch".
        let said = reason
            .strip_prefix("Not a redb database: ")
            .unwrap_or(&reason);
        StoreOpenError::NotRedb {
            path: path.to_owned(),
            reason: format!("not a redb database: {said}"),
        }
    }
}

/// What redb's `Corrupted(reason)` means for a file that is a redb file.
///
/// redb refuses to fall back to the commit before when the last one was
/// made in two phases: dizzy's snapshots never are, but redb's own commit
/// at a clean close is (it records the allocator state, which needs two
/// phases). So either a page that commit names is damaged, or the header's
/// flag was flipped; redb words both as a commit that should not have
/// failed. Any other reason is redb's, as it gives it.
pub(super) fn damaged_because(reason: String) -> String {
    if reason.contains("2-phase commit") {
        format!(
            "its last commit is damaged: a page it names fails its checksum, or the header's flag for a two-phase commit was flipped (redb: {reason})"
        )
    } else {
        reason
    }
}

/// Whether the file at `path` starts with redb's magic bytes.
fn starts_as_redb(path: &Path) -> bool {
    let mut head = [0u8; REDB_MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|f| std::os::unix::fs::FileExt::read_exact_at(&f, &mut head, 0))
        .is_ok_and(|()| head == REDB_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_two_phase_commit_is_named_a_damaged_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.redb");
        let mut bytes = REDB_MAGIC.to_vec();
        bytes.extend_from_slice(&[4; 64]);
        std::fs::write(&path, &bytes).unwrap();
        let redb_says = "Primary is corrupted despite 2-phase commit".to_owned();
        let StoreOpenError::Damaged { reason, .. } = not_redb_or_damaged(&path, redb_says) else {
            panic!("not called damaged");
        };
        assert!(reason.starts_with("its last commit is damaged"), "{reason}");
        assert!(reason.contains("fails its checksum"), "{reason}");
        // Any other reason is passed on as redb gives it.
        let StoreOpenError::Damaged { reason, .. } =
            not_redb_or_damaged(&path, "a page does not check".to_owned())
        else {
            panic!("not called damaged");
        };
        assert_eq!(reason, "a page does not check");
    }
}
