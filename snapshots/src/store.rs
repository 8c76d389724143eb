//! Opening a dizzy file and reading its snapshot records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dizzy_components::codec;
use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata,
};

use crate::error::{RestoreError, StoreOpenError};
use crate::format::{CHUNKS, FORMAT_VERSION, META, SNAPSHOTS, SnapshotMeta};

/// An open dizzy file.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    db: Db,
}

mod backend;
mod classify;
mod create;
mod path;
mod verify;

use classify::classify;
use create::create_new;
pub use path::file_kind;
use path::{not_writable, precheck};

#[derive(Clone)]
enum Db {
    Write(Arc<Database>),
    Read(Arc<ReadOnlyDatabase>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn storage(path: &Path, e: impl Into<redb::Error>) -> StoreOpenError {
    let source = e.into();
    match retyped(&source) {
        Some(reason) => StoreOpenError::Damaged {
            path: path.to_owned(),
            reason,
        },
        None => StoreOpenError::Storage {
            path: path.to_owned(),
            source,
        },
    }
}

/// Why a dizzy file is damaged when redb finds one of dizzy's tables
/// recorded with another key or value type (or kind): dizzy always writes
/// each with the same types, and a file without dizzy's metadata is refused
/// before any table is read, so such a record is a damaged page (a flipped
/// bit in a type's name), never another program's table.
fn retyped(e: &redb::Error) -> Option<String> {
    match e {
        redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_) => Some(format!(
            "a table's recorded types are not the ones dizzy writes: {e}"
        )),
        _ => None,
    }
}

/// The most memory redb's page cache takes by default: a quarter of the
/// file's size at open, at least 64 MiB and at most 256 MiB (redb's own
/// default is 1 GiB on every open, which a file of big values fills). A
/// snapshot file is written once and read back at a restore, so the cache
/// buys little beyond the pages of the newest records.
/// [`Store::open_with_cache`] sets another bound.
///
/// A bigger cache makes big full snapshots durable sooner, at a cost in
/// memory: half of it is redb's write buffer, and a full snapshot that fits
/// there is written once, at its commit. In a smaller buffer redb writes
/// pages out while the snapshot is still being inserted, reads them back to
/// checksum them, and each growth of the file (which redb makes durable at
/// once with `fdatasync`) waits for the disk to take them. The first full
/// snapshot of 1M entities (34 MB) into a new file was durable in 188–212 ms
/// with a floor of 16 MiB, 169–174 ms with this floor of 64 MiB and 115–142
/// ms with 256 MiB; at 10M (332 MiB, one repetition each) in 2,103–2,109,
/// 2,003 and 2,560 ms (a buffer that big delays most writes to the commit).
/// Same session, `dizzy bench snapshot`, alternating builds. redb keeps the
/// pages it wrote, up to the bound, as resident memory: 18 MiB more than a
/// 16 MiB floor after the 1M snapshot, 26 MiB at 10M.
pub fn default_cache_bytes(file_len: u64) -> usize {
    let wanted = (file_len / 4).clamp(64 << 20, 256 << 20);
    usize::try_from(wanted).unwrap_or(256 << 20)
}

impl Store {
    /// Opens `path` for reading and writing, creating a new dizzy file if it
    /// does not exist. An existing file must be a dizzy file of a format this
    /// build reads; if it is not, it is left exactly as it was. redb's page
    /// cache is bounded by [`default_cache_bytes`].
    ///
    /// # Errors
    /// The file cannot be opened or created, or is not a dizzy file of a
    /// format this build reads ([`StoreOpenError`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreOpenError> {
        Self::open_with_cache(path, None)
    }

    /// [`Store::open`] with redb's page cache bounded by `cache_bytes`
    /// (`None`: [`default_cache_bytes`] of the file).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with_cache(
        path: impl AsRef<Path>,
        cache_bytes: Option<usize>,
    ) -> Result<Store, StoreOpenError> {
        let path = path.as_ref();
        let existed = precheck(path, false)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(StoreOpenError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("directory {} does not exist", parent.display()),
                ),
            });
        }
        let created = if existed {
            None
        } else {
            create_new(path, cache_bytes)?
        };
        if let Some(db) = created {
            // Just created and checked by this process: no need to open
            // it again.
            return Ok(Store {
                path: path.to_owned(),
                db: Db::Write(Arc::new(db)),
            });
        }
        let db = {
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
            {
                Ok(file) => file,
                Err(e) if not_writable(&e) => {
                    return Err(StoreOpenError::NotWritable {
                        path: path.to_owned(),
                        source: e,
                    });
                }
                Err(e) => {
                    return Err(StoreOpenError::Io {
                        path: path.to_owned(),
                        source: e,
                    });
                }
            };
            // redb initializes an empty file it is handed to create in:
            // one emptied since the check above is refused as that check
            // refuses it.
            if file.metadata().is_ok_and(|m| m.len() == 0) {
                return Err(StoreOpenError::Empty {
                    path: path.to_owned(),
                });
            }
            // A file changed outside redb (a flipped bit, a hostile file)
            // must be an error, not a panic at a later commit (a plain redb
            // open trusts the allocator state it finds): verify every page's
            // checksum and rebuild that state (about 1.2 ms per MB of file).
            let cache = cache_bytes.unwrap_or_else(|| {
                default_cache_bytes(std::fs::metadata(path).map_or(0, |m| m.len()))
            });
            contain(|| {
                backend::WritebackFile::new(file).and_then(|b| {
                    Database::builder()
                        .set_check_integrity_on_open(true)
                        .set_cache_size(cache)
                        .create_with_backend(b)
                })
            })
            .map_err(|reason| StoreOpenError::Damaged {
                path: path.to_owned(),
                reason,
            })?
        }
        .map_err(|e| classify(path, e))?;
        let store = Store {
            path: path.to_owned(),
            db: Db::Write(Arc::new(db)),
        };
        let format = store.check_meta()?;
        if format < FORMAT_VERSION {
            // Records of the older format stay readable; new ones are
            // written in this format, so the file is of this format now.
            store.write_meta()?;
        }
        Ok(store)
    }

    /// Opens an existing dizzy file for reading only (for inspection); other
    /// readers may have it open at the same time.
    ///
    /// # Errors
    /// The file does not exist, is not a dizzy file, needs a crash repair, or
    /// is of a newer format ([`StoreOpenError`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreOpenError> {
        let path = path.as_ref();
        precheck(path, true)?;
        let damaged = |reason| StoreOpenError::Damaged {
            path: path.to_owned(),
            reason,
        };
        let cache = default_cache_bytes(std::fs::metadata(path).map_or(0, |m| m.len()));
        let db = contain(|| {
            Database::builder()
                .set_cache_size(cache)
                .open_read_only(path)
        })
        .map_err(damaged)?
        .map_err(|e| classify(path, e))?;
        let store = Store {
            path: path.to_owned(),
            db: Db::Read(Arc::new(db)),
        };
        store.check_meta()?;
        Ok(store)
    }

    /// Opens a dizzy file kept in any redb [`StorageBackend`](redb::StorageBackend)
    /// (tests inject faults this way); `label` names it in messages. An
    /// empty backend becomes a new dizzy file.
    ///
    /// # Errors
    /// The backend holds something other than a dizzy file, or redb cannot read
    /// it ([`StoreOpenError`]).
    pub fn open_with_backend(
        label: impl AsRef<Path>,
        backend: impl redb::StorageBackend,
    ) -> Result<Store, StoreOpenError> {
        let path = label.as_ref();
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| classify(path, e))?;
        let store = Store {
            path: path.to_owned(),
            db: Db::Write(Arc::new(db)),
        };
        store.check_meta()?;
        Ok(store)
    }

    /// Opens an existing dizzy file to read it: read-only when it was closed
    /// cleanly; a file left behind by a crash is first repaired by a
    /// read-write open (which loses nothing that was committed, and is the
    /// one case in which this writes to the file). Either way every page's
    /// checksum is verified first, as [`Store::open`] does (reading the
    /// whole file once), so that a damaged file is refused rather than read
    /// as other values; a file closed cleanly is not written.
    /// [`Store::open_read_only`] skips the check.
    ///
    /// A crash-left file whose last commit is damaged is rolled back to the
    /// commit before it by redb's repair: redb's default commit (one fsync,
    /// checksummed) cannot tell a damaged last commit from one the crash
    /// cut short.
    ///
    /// # Errors
    /// As [`Store::open_read_only`] ([`StoreOpenError::Damaged`] for a page
    /// that fails its checksum), and [`Store::open`] for a file that needs a
    /// repair.
    pub fn open_to_read(path: impl AsRef<Path>) -> Result<Store, StoreOpenError> {
        let path = path.as_ref();
        let store = Self::open_to_read_unverified(path)?;
        if matches!(store.db, Db::Read(_)) {
            // The read-only handle keeps writers out meanwhile.
            store.check_pages()?;
        }
        Ok(store)
    }

    /// Verifies the checksum of every page of this store's file, as
    /// [`Store::open_to_read`] does, without writing to it (reading the
    /// whole file once): what a reader that skipped the check (a restore
    /// through [`Store::open_read_only`]) asks when what it read made no
    /// sense, so that a damaged file is named damaged rather than taken
    /// for values of another type.
    ///
    /// # Errors
    /// [`StoreOpenError::Damaged`]: a page fails its checksum.
    pub fn check_pages(&self) -> Result<(), StoreOpenError> {
        verify::verify_pages(&self.path).map_err(|reason| StoreOpenError::Damaged {
            path: self.path.clone(),
            reason,
        })
    }

    fn open_to_read_unverified(path: &Path) -> Result<Store, StoreOpenError> {
        match Self::open_read_only(path) {
            Err(StoreOpenError::NeedsRepair { .. }) => match Self::open(path) {
                // Read-only media, a file or directory without write
                // permission: say what the file needs, and how.
                Err(
                    StoreOpenError::NotWritable { path, source }
                    | StoreOpenError::Io { path, source },
                ) if not_writable(&source) => Err(StoreOpenError::NeedsRepairReadOnly {
                    path,
                    reason: source.to_string(),
                }),
                other => other,
            },
            other => other,
        }
    }

    fn write_meta(&self) -> Result<(), StoreOpenError> {
        let db = self
            .database()
            .ok_or_else(|| storage(&self.path, redb::StorageError::Unsupported))?;
        let tx = db.begin_write().map_err(|e| storage(&self.path, e))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| storage(&self.path, e))?;
            let fmt = FORMAT_VERSION.to_le_bytes();
            meta.insert("format", fmt.as_slice())
                .map_err(|e| storage(&self.path, e))?;
            meta.insert("codec", codec::CODEC.as_bytes())
                .map_err(|e| storage(&self.path, e))?;
            tx.open_table(SNAPSHOTS)
                .map_err(|e| storage(&self.path, e))?;
            tx.open_table(CHUNKS).map_err(|e| storage(&self.path, e))?;
        }
        tx.commit().map_err(|e| storage(&self.path, e))
    }

    /// Checks the file's metadata; returns its format version.
    fn check_meta(&self) -> Result<u32, StoreOpenError> {
        contain(|| self.check_meta_unguarded()).unwrap_or_else(|reason| {
            Err(StoreOpenError::Damaged {
                path: self.path.clone(),
                reason,
            })
        })
    }

    fn check_meta_unguarded(&self) -> Result<u32, StoreOpenError> {
        let tx = self.begin_read().map_err(|e| storage(&self.path, e))?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                let empty = tx
                    .list_tables()
                    .map_err(|e| storage(&self.path, e))?
                    .next()
                    .is_none();
                drop(tx);
                if empty && self.database().is_some() {
                    // A redb file that was created but never got its metadata
                    // (killed right after creation): make it a dizzy file.
                    self.write_meta()?;
                    return Ok(FORMAT_VERSION);
                }
                return Err(StoreOpenError::NotDizzy {
                    path: self.path.clone(),
                });
            }
            Err(e) => return Err(storage(&self.path, e)),
        };
        let get = |key: &str| -> Result<Option<Vec<u8>>, StoreOpenError> {
            Ok(meta
                .get(key)
                .map_err(|e| storage(&self.path, e))?
                .map(|v| v.value().to_vec()))
        };
        let format = get("format")?
            .and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| StoreOpenError::NotDizzy {
                path: self.path.clone(),
            })?;
        if format > FORMAT_VERSION {
            return Err(StoreOpenError::NewerFormat {
                path: self.path.clone(),
                found: format,
                supported: FORMAT_VERSION,
            });
        }
        let found = String::from_utf8_lossy(&get("codec")?.unwrap_or_default()).into_owned();
        if found != codec::CODEC {
            return Err(StoreOpenError::UnknownCodec {
                path: self.path.clone(),
                found,
                supported: codec::CODEC,
            });
        }
        Ok(format)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read-write database, unless opened read-only.
    pub fn database(&self) -> Option<&Arc<Database>> {
        match &self.db {
            Db::Write(db) => Some(db),
            Db::Read(_) => None,
        }
    }

    /// The database, if this is the only handle to it (for compaction).
    pub fn into_database(self) -> Option<Database> {
        match self.db {
            Db::Write(db) => Arc::into_inner(db),
            Db::Read(_) => None,
        }
    }

    /// Starts a read transaction.
    ///
    /// # Errors
    /// redb could not start a read transaction.
    pub fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match &self.db {
            Db::Write(db) => db.begin_read(),
            Db::Read(db) => db.begin_read(),
        }
    }

    pub(crate) fn restore_storage(&self, e: impl Into<redb::Error>) -> RestoreError {
        let source = e.into();
        match retyped(&source) {
            Some(reason) => self.damaged(reason),
            None => RestoreError::Storage {
                path: self.path.clone(),
                source,
            },
        }
    }

    /// A [`RestoreError`] for a reader that gave up on a damaged page.
    pub(crate) fn damaged(&self, reason: String) -> RestoreError {
        RestoreError::Damaged {
            path: self.path.clone(),
            reason,
        }
    }

    /// Every snapshot record, oldest first.
    ///
    /// # Errors
    /// The file cannot be read or a record is damaged ([`RestoreError`]).
    pub fn snapshots(&self) -> Result<Vec<SnapshotMeta>, RestoreError> {
        contain(|| {
            let tx = self.begin_read().map_err(|e| self.restore_storage(e))?;
            read_all_meta(self, &tx)
        })
        .unwrap_or_else(|r| Err(self.damaged(r)))
    }

    /// The newest snapshot record.
    ///
    /// # Errors
    /// The file cannot be read or the record is damaged ([`RestoreError`]).
    pub fn latest(&self) -> Result<Option<SnapshotMeta>, RestoreError> {
        contain(|| self.latest_unguarded()).unwrap_or_else(|r| Err(self.damaged(r)))
    }

    fn latest_unguarded(&self) -> Result<Option<SnapshotMeta>, RestoreError> {
        let tx = self.begin_read().map_err(|e| self.restore_storage(e))?;
        let table = tx
            .open_table(SNAPSHOTS)
            .map_err(|e| self.restore_storage(e))?;
        let last = table.last().map_err(|e| self.restore_storage(e))?;
        match last {
            Some((k, v)) => Ok(Some(decode_meta(self, k.value(), v.value())?)),
            None => Ok(None),
        }
    }

    /// The ids of every snapshot, oldest first (without reading their
    /// records).
    ///
    /// # Errors
    /// The file cannot be read ([`RestoreError`]).
    pub fn snapshot_ids(&self) -> Result<Vec<u64>, RestoreError> {
        contain(|| {
            let tx = self.begin_read().map_err(|e| self.restore_storage(e))?;
            let table = tx
                .open_table(SNAPSHOTS)
                .map_err(|e| self.restore_storage(e))?;
            let mut ids = Vec::new();
            for row in table.iter().map_err(|e| self.restore_storage(e))? {
                let (k, _) = row.map_err(|e| self.restore_storage(e))?;
                ids.push(k.value());
            }
            Ok(ids)
        })
        .unwrap_or_else(|r| Err(self.damaged(r)))
    }

    /// [`RestoreError::UnknownSnapshot`] for `id`, saying what `snapshots`
    /// (the file's `SNAPSHOTS` table) holds; the storage error if that
    /// cannot be read.
    pub(crate) fn unknown_snapshot(
        &self,
        snapshots: &redb::ReadOnlyTable<u64, &[u8]>,
        id: u64,
    ) -> RestoreError {
        let held = || -> Result<(u64, Option<(u64, u64)>), redb::StorageError> {
            let first = snapshots.first()?.map(|(k, _)| k.value());
            let last = snapshots.last()?.map(|(k, _)| k.value());
            Ok((snapshots.len()?, first.zip(last)))
        };
        match held() {
            Ok((held, ids)) => RestoreError::UnknownSnapshot {
                path: self.path.clone(),
                id,
                held,
                ids,
            },
            Err(e) => self.restore_storage(e),
        }
    }

    /// How many snapshots the file holds (without reading them).
    ///
    /// # Errors
    /// The file cannot be read ([`RestoreError`]).
    pub fn snapshot_count(&self) -> Result<u64, RestoreError> {
        contain(|| {
            let tx = self.begin_read().map_err(|e| self.restore_storage(e))?;
            let table = tx
                .open_table(SNAPSHOTS)
                .map_err(|e| self.restore_storage(e))?;
            table.len().map_err(|e| self.restore_storage(e))
        })
        .unwrap_or_else(|r| Err(self.damaged(r)))
    }

    /// The records of the snapshots with ids above `after` (all of them
    /// for `None`), oldest first: what a reader that has the older ones
    /// still needs.
    ///
    /// # Errors
    /// The file cannot be read or a record is damaged ([`RestoreError`]).
    pub fn snapshots_after(&self, after: Option<u64>) -> Result<Vec<SnapshotMeta>, RestoreError> {
        let Some(after) = after else {
            return self.snapshots();
        };
        let Some(from) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        contain(|| {
            let tx = self.begin_read().map_err(|e| self.restore_storage(e))?;
            let table = tx
                .open_table(SNAPSHOTS)
                .map_err(|e| self.restore_storage(e))?;
            let mut out = Vec::new();
            for row in table.range(from..).map_err(|e| self.restore_storage(e))? {
                let (k, v) = row.map_err(|e| self.restore_storage(e))?;
                out.push(decode_meta(self, k.value(), v.value())?);
            }
            Ok(out)
        })
        .unwrap_or_else(|r| Err(self.damaged(r)))
    }

    /// The record of snapshot `id`.
    ///
    /// # Errors
    /// No snapshot `id`, or its record is damaged ([`RestoreError`]).
    pub fn snapshot(&self, id: u64) -> Result<SnapshotMeta, RestoreError> {
        contain(|| {
            let tx = self.begin_read().map_err(|e| self.restore_storage(e))?;
            read_meta(self, &tx, id)
        })
        .unwrap_or_else(|r| Err(self.damaged(r)))
    }
}

/// Runs `f`, a read of redb's pages, and turns a panic inside it into
/// `Err` naming what failed.
///
/// redb reads the pages of a cleanly closed file without verifying them (a
/// read-write open verifies every checksum, see [`Store::open`], but a
/// read-only open cannot) and may panic on a page changed outside redb, as
/// its documentation says. A damaged file must be an error that names it,
/// never a panic: only redb's calls are wrapped, never user code, and no
/// panic hook is installed (the panic's message goes wherever the
/// program's hook sends it).
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = dizzy_components::panic_message(payload.as_ref()).unwrap_or_default();
        format!("a page does not read back as redb wrote it; redb stopped with: {msg}")
    })
}

pub(crate) fn decode_meta(
    store: &Store,
    id: u64,
    bytes: &[u8],
) -> Result<SnapshotMeta, RestoreError> {
    crate::format::decode_meta(bytes)
        .and_then(|m| {
            if m.id == id {
                Ok(m)
            } else {
                Err(format!("record says it is snapshot {}", m.id))
            }
        })
        .map_err(|reason| RestoreError::Corrupt {
            path: store.path.clone(),
            snapshot: id,
            column: "@meta".into(),
            chunk: 0,
            reason,
        })
}

pub(crate) fn read_meta(
    store: &Store,
    tx: &ReadTransaction,
    id: u64,
) -> Result<SnapshotMeta, RestoreError> {
    contain(|| read_meta_unguarded(store, tx, id)).unwrap_or_else(|r| Err(store.damaged(r)))
}

fn read_meta_unguarded(
    store: &Store,
    tx: &ReadTransaction,
    id: u64,
) -> Result<SnapshotMeta, RestoreError> {
    let table = tx
        .open_table(SNAPSHOTS)
        .map_err(|e| store.restore_storage(e))?;
    let bytes = table
        .get(id)
        .map_err(|e| store.restore_storage(e))?
        .ok_or_else(|| store.unknown_snapshot(&table, id))?;
    decode_meta(store, id, bytes.value())
}

pub(crate) fn read_all_meta(
    store: &Store,
    tx: &ReadTransaction,
) -> Result<Vec<SnapshotMeta>, RestoreError> {
    contain(|| read_all_meta_unguarded(store, tx)).unwrap_or_else(|r| Err(store.damaged(r)))
}

fn read_all_meta_unguarded(
    store: &Store,
    tx: &ReadTransaction,
) -> Result<Vec<SnapshotMeta>, RestoreError> {
    let table = tx
        .open_table(SNAPSHOTS)
        .map_err(|e| store.restore_storage(e))?;
    let mut out = Vec::new();
    for row in table.iter().map_err(|e| store.restore_storage(e))? {
        let (k, v) = row.map_err(|e| store.restore_storage(e))?;
        out.push(decode_meta(store, k.value(), v.value())?);
    }
    Ok(out)
}

/// Reads every chunk of one column of one snapshot, in chunk order.
/// One stored chunk, read in place from redb's page (no copy).
pub(crate) struct Stored(redb::AccessGuard<'static, &'static [u8]>);

impl Stored {
    /// A chunk read by its key.
    pub(crate) fn new(guard: redb::AccessGuard<'static, &'static [u8]>) -> Self {
        Stored(guard)
    }
}

impl std::ops::Deref for Stored {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.value()
    }
}

pub(crate) fn read_chunks(
    store: &Store,
    tx: &ReadTransaction,
    snapshot: u64,
    column: &str,
    expected: u32,
) -> Result<Vec<Stored>, RestoreError> {
    contain(|| read_chunks_unguarded(store, tx, snapshot, column, expected))
        .unwrap_or_else(|r| Err(store.damaged(r)))
}

fn read_chunks_unguarded(
    store: &Store,
    tx: &ReadTransaction,
    snapshot: u64,
    column: &str,
    expected: u32,
) -> Result<Vec<Stored>, RestoreError> {
    let table = tx
        .open_table(CHUNKS)
        .map_err(|e| store.restore_storage(e))?;
    // `expected` comes from the file: it sizes nothing before the chunks are there.
    let mut out = Vec::new();
    let range = table
        .range((snapshot, column, 0u32)..=(snapshot, column, u32::MAX))
        .map_err(|e| store.restore_storage(e))?;
    for row in range {
        let (k, v) = row.map_err(|e| store.restore_storage(e))?;
        let (_, _, n) = k.value();
        if n as usize != out.len() {
            return Err(RestoreError::Corrupt {
                path: store.path.clone(),
                snapshot,
                column: column.to_owned(),
                chunk: out.len() as u32,
                reason: format!("chunk {} is missing", out.len()),
            });
        }
        out.push(Stored(v));
    }
    if out.len() != expected as usize {
        return Err(RestoreError::Corrupt {
            path: store.path.clone(),
            snapshot,
            column: column.to_owned(),
            chunk: out.len() as u32,
            reason: format!("{} chunks found, {expected} recorded", out.len()),
        });
    }
    Ok(out)
}
