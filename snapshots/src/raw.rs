//! Committed snapshots as stored, byte for byte: read one out of a file, or
//! insert some into another file. Replication to object storage is built on
//! this: it moves the rows of the `dizzy.snapshots` and `dizzy.chunks`
//! tables without decoding a chunk, so it copies any snapshot this build can
//! read the record of, whatever the chunks hold.

use std::collections::BTreeMap;
use std::path::PathBuf;

use redb::{Durability, ReadTransaction, ReadableTable};

use crate::error::RestoreError;
use crate::format::{CHUNKS, SNAPSHOTS, SnapshotMeta};
use crate::store::{Store, contain, decode_meta};

/// One committed snapshot exactly as a file stores it: the bytes of its
/// record (its row of `dizzy.snapshots`) and every row of `dizzy.chunks`
/// that belongs to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSnapshot {
    /// The snapshot id (the record's key).
    pub id: u64,
    /// The record, as stored.
    pub record: Vec<u8>,
    /// Its chunks, in key order (column name, then chunk number).
    pub chunks: Vec<RawChunk>,
}

/// One row of `dizzy.chunks`, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawChunk {
    /// The column's name.
    pub column: String,
    /// The chunk's number within its column.
    pub index: u32,
    /// The framed chunk, as stored.
    pub bytes: Vec<u8>,
}

impl RawSnapshot {
    /// Decodes the record (any record format this build reads); `Err` says
    /// what is wrong with it.
    ///
    /// # Errors
    /// The record does not decode, or names another snapshot id.
    pub fn meta(&self) -> Result<SnapshotMeta, String> {
        let meta = crate::format::decode_meta(&self.record)?;
        if meta.id != self.id {
            return Err(format!(
                "the record of snapshot {} says it is snapshot {}",
                self.id, meta.id
            ));
        }
        Ok(meta)
    }

    /// Bytes of the record and chunks together.
    pub fn len(&self) -> usize {
        self.record.len() + self.chunks.iter().map(|c| c.bytes.len()).sum::<usize>()
    }

    /// Whether it holds no bytes at all (never true of a stored snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads snapshot `id` (its record and every chunk row) out of `store`
/// inside the read transaction `tx`, without decoding a chunk. The record
/// must decode: the caller learns the snapshot's kind and base from it.
///
/// # Errors
/// No snapshot `id` ([`RestoreError::UnknownSnapshot`]), a record that does
/// not decode ([`RestoreError::Corrupt`]), or a storage error.
pub fn read_raw(store: &Store, tx: &ReadTransaction, id: u64) -> Result<RawSnapshot, RestoreError> {
    contain(|| read_raw_unguarded(store, tx, id)).unwrap_or_else(|r| Err(store.damaged(r)))
}

fn read_raw_unguarded(
    store: &Store,
    tx: &ReadTransaction,
    id: u64,
) -> Result<RawSnapshot, RestoreError> {
    let snapshots = tx
        .open_table(SNAPSHOTS)
        .map_err(|e| store.restore_storage(e))?;
    let record = snapshots
        .get(id)
        .map_err(|e| store.restore_storage(e))?
        .ok_or_else(|| store.unknown_snapshot(&snapshots, id))?
        .value()
        .to_vec();
    decode_meta(store, id, &record)?;
    let table = tx
        .open_table(CHUNKS)
        .map_err(|e| store.restore_storage(e))?;
    let mut chunks = Vec::new();
    let range = table
        .range((id, "", 0u32)..(id.saturating_add(1), "", 0u32))
        .map_err(|e| store.restore_storage(e))?;
    for row in range {
        let (k, v) = row.map_err(|e| store.restore_storage(e))?;
        let (snapshot, column, index) = k.value();
        if snapshot != id {
            break;
        }
        chunks.push(RawChunk {
            column: column.to_owned(),
            index,
            bytes: v.value().to_vec(),
        });
    }
    Ok(RawSnapshot { id, record, chunks })
}

impl Store {
    /// [`read_raw`] in a read transaction of its own.
    ///
    /// # Errors
    /// As [`read_raw`].
    pub fn read_raw(&self, id: u64) -> Result<RawSnapshot, RestoreError> {
        let tx = self.begin_read().map_err(|e| self.restore_storage(e))?;
        read_raw(self, &tx, id)
    }
}

/// Inserting raw snapshots into a file failed; the file is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InsertRawError {
    /// The file was opened read-only.
    #[error(
        "{path}: opened read-only; snapshots can only be inserted into a file opened read-write"
    )]
    ReadOnly {
        /// The path.
        path: PathBuf,
    },
    /// The file already holds a snapshot with this id.
    #[error("{path}: already holds a snapshot {snapshot}")]
    Exists {
        /// The path.
        path: PathBuf,
        /// The snapshot id.
        snapshot: u64,
    },
    /// A delta whose base is neither in the file nor inserted before it.
    #[error(
        "{path}: snapshot {snapshot} is a delta on snapshot {base}, which is neither in the file nor inserted before it"
    )]
    MissingBase {
        /// The path.
        path: PathBuf,
        /// The delta.
        snapshot: u64,
        /// Its base.
        base: u64,
    },
    /// The snapshot's rows do not fit its record.
    #[error("{path}: snapshot {snapshot} cannot be inserted: {reason}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// The snapshot id.
        snapshot: u64,
        /// What is wrong.
        reason: String,
    },
    /// redb failed.
    #[error("{path}: could not insert snapshot {snapshot}: {source}")]
    Storage {
        /// The path.
        path: PathBuf,
        /// The snapshot being inserted.
        snapshot: u64,
        /// redb's error.
        source: redb::Error,
    },
}

/// Checks that `raw`'s chunk rows are exactly the chunks its record lists
/// (every column's chunks numbered from 0, none missing, none extra).
fn check_rows(raw: &RawSnapshot, meta: &SnapshotMeta) -> Result<(), String> {
    let mut expected: BTreeMap<&str, u32> = meta
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.chunks))
        .collect();
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for c in &raw.chunks {
        let Some(&count) = expected.get(c.column.as_str()) else {
            return Err(format!(
                "chunk {} of column `{}`, which its record does not list",
                c.index, c.column
            ));
        };
        let next = seen.entry(c.column.as_str()).or_default();
        if c.index != *next || c.index >= count {
            return Err(format!(
                "column `{}`: chunk {} where chunk {} of {count} was expected",
                c.column, c.index, next
            ));
        }
        *next += 1;
    }
    expected.retain(|name, count| seen.get(name).copied().unwrap_or(0) != *count);
    match expected.into_iter().next() {
        Some((name, count)) => Err(format!(
            "column `{name}`: {} chunks, its record lists {count}",
            seen.get(name).copied().unwrap_or(0)
        )),
        None => Ok(()),
    }
}

/// Inserts `snapshots` (in order: a delta's base before the delta) into
/// `store`, byte for byte, in one durable write transaction: afterwards the
/// file holds all of them or, on any error, none. Each record must decode
/// and list exactly the chunk rows given; a delta's base must be in the
/// file or earlier in `snapshots`; no id may exist in the file already.
///
/// # Errors
/// See [`InsertRawError`]; the file is unchanged.
pub fn write_raw(store: &Store, snapshots: &[RawSnapshot]) -> Result<(), InsertRawError> {
    let path = store.path().to_owned();
    let db = store
        .database()
        .ok_or_else(|| InsertRawError::ReadOnly { path: path.clone() })?;
    let first = snapshots.first().map_or(0, |s| s.id);
    let fail = |snapshot: u64| {
        let path = path.clone();
        move |e: redb::Error| InsertRawError::Storage {
            path,
            snapshot,
            source: e,
        }
    };
    let mut tx = db.begin_write().map_err(|e| fail(first)(e.into()))?;
    tx.set_durability(Durability::Immediate)
        .map_err(|e| fail(first)(e.into()))?;
    {
        let mut records = tx
            .open_table(SNAPSHOTS)
            .map_err(|e| fail(first)(e.into()))?;
        let mut chunks = tx.open_table(CHUNKS).map_err(|e| fail(first)(e.into()))?;
        for raw in snapshots {
            let id = raw.id;
            let invalid = |reason: String| InsertRawError::Invalid {
                path: path.clone(),
                snapshot: id,
                reason,
            };
            let meta = raw.meta().map_err(invalid)?;
            check_rows(raw, &meta).map_err(invalid)?;
            if records.get(id).map_err(|e| fail(id)(e.into()))?.is_some() {
                return Err(InsertRawError::Exists {
                    path: path.clone(),
                    snapshot: id,
                });
            }
            if let Some(base) = meta.base
                && records.get(base).map_err(|e| fail(id)(e.into()))?.is_none()
            {
                return Err(InsertRawError::MissingBase {
                    path: path.clone(),
                    snapshot: id,
                    base,
                });
            }
            records
                .insert(id, raw.record.as_slice())
                .map_err(|e| fail(id)(e.into()))?;
            for c in &raw.chunks {
                chunks
                    .insert((id, c.column.as_str(), c.index), c.bytes.as_slice())
                    .map_err(|e| fail(id)(e.into()))?;
            }
        }
    }
    tx.commit().map_err(|e| fail(first)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::capture::{Capture, ChunkData};
    use crate::format::{ColumnMeta, SnapshotKind};

    fn meta(id: u64, base: Option<u64>, columns: &[(&str, u32)]) -> SnapshotMeta {
        SnapshotMeta {
            id,
            kind: if base.is_some() {
                SnapshotKind::Delta
            } else {
                SnapshotKind::Full
            },
            base,
            tick: id * 10,
            unix_ms: 0,
            entities: 0,
            bytes: 0,
            uid_next: 1,
            schemas: Vec::new(),
            columns: columns
                .iter()
                .map(|(name, chunks)| ColumnMeta {
                    name: (*name).to_owned(),
                    chunks: *chunks,
                    rows: 0,
                    bytes: 0,
                    has_refs: false,
                })
                .collect(),
            groups: Vec::new(),
            removed_resources: Vec::new(),
            app: String::new(),
        }
    }

    fn capture(id: u64, base: Option<u64>, columns: &[(&str, u32)]) -> Capture {
        let chunks = columns
            .iter()
            .flat_map(|(name, n)| {
                (0..*n).map(move |index| ChunkData {
                    column: (*name).to_owned(),
                    index,
                    bytes: format!("{name}/{index} of {id}").into_bytes(),
                })
            })
            .collect();
        Capture {
            meta: meta(id, base, columns),
            chunks,
        }
    }

    fn file_with(dir: &std::path::Path, name: &str, captures: &[Capture]) -> Store {
        let store = Store::open(dir.join(name)).unwrap();
        let db = store.database().unwrap().clone();
        for c in captures {
            crate::writer::commit(&db, store.path(), c).unwrap();
        }
        store
    }

    #[test]
    fn snapshots_copy_byte_for_byte_between_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = file_with(
            dir.path(),
            "a.redb",
            &[
                capture(1, None, &[("x", 3), ("y", 1)]),
                capture(2, Some(1), &[("x", 1)]),
                capture(3, None, &[("x", 2)]),
            ],
        );
        let raws: Vec<RawSnapshot> = [1, 2].iter().map(|&id| a.read_raw(id).unwrap()).collect();
        assert_eq!(raws[0].chunks.len(), 4);
        assert_eq!(raws[1].chunks.len(), 1);
        assert_eq!(raws[1].meta().unwrap().base, Some(1));

        let b = Store::open(dir.path().join("b.redb")).unwrap();
        write_raw(&b, &raws).unwrap();
        for id in [1, 2] {
            assert_eq!(b.read_raw(id).unwrap(), a.read_raw(id).unwrap());
        }
        assert_eq!(b.snapshots().unwrap().len(), 2);
        // The same ids again: refused, nothing written.
        let again = write_raw(&b, &raws[1..]);
        assert!(matches!(
            again,
            Err(InsertRawError::Exists { snapshot: 2, .. })
        ));
    }

    #[test]
    fn bad_rows_are_refused_and_leave_the_file_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let a = file_with(
            dir.path(),
            "a.redb",
            &[
                capture(1, None, &[("x", 2)]),
                capture(2, Some(1), &[("x", 1)]),
            ],
        );
        let full = a.read_raw(1).unwrap();
        let delta = a.read_raw(2).unwrap();
        let b = Store::open(dir.path().join("b.redb")).unwrap();

        let orphan = write_raw(&b, std::slice::from_ref(&delta));
        assert!(matches!(
            orphan,
            Err(InsertRawError::MissingBase {
                snapshot: 2,
                base: 1,
                ..
            })
        ));
        let mut short = full.clone();
        short.chunks.pop();
        let e = write_raw(&b, &[short]).unwrap_err().to_string();
        assert!(
            e.contains("column `x`: 1 chunks, its record lists 2"),
            "{e}"
        );
        let mut stray = full.clone();
        stray.chunks.push(RawChunk {
            column: "z".into(),
            index: 0,
            bytes: vec![1],
        });
        let e = write_raw(&b, &[stray]).unwrap_err().to_string();
        assert!(e.contains("column `z`"), "{e}");
        let mut renamed = full.clone();
        renamed.id = 7;
        let e = write_raw(&b, &[renamed]).unwrap_err().to_string();
        assert!(e.contains("says it is snapshot 1"), "{e}");
        let mut garbage = full.clone();
        garbage.record = vec![0xff, 2, 1, 2, 3];
        assert!(matches!(
            write_raw(&b, &[garbage]),
            Err(InsertRawError::Invalid { snapshot: 1, .. })
        ));
        // A good full followed by a bad delta: neither is written.
        let mut bad_delta = delta.clone();
        bad_delta.chunks.clear();
        assert!(write_raw(&b, &[full.clone(), bad_delta]).is_err());
        assert!(b.snapshots().unwrap().is_empty());
        assert!(matches!(
            b.read_raw(1),
            Err(RestoreError::UnknownSnapshot { id: 1, .. })
        ));
    }
}
