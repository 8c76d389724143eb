//! Creating a new dizzy file, all at once.

use std::path::Path;
use std::sync::Arc;

use redb::Database;

use super::{Db, Store, backend, classify, default_cache_bytes};
use crate::error::StoreOpenError;

/// Creates a new, empty dizzy file at `path` all at once: it is made under
/// a temporary name beside `path` and linked into place complete. A process
/// killed while creating it leaves no half-made file at `path` (redb writes
/// its header last, and the next run would refuse a file without one), at
/// worst a stray temporary file. If another process created `path`
/// meanwhile, that file is kept.
pub(super) fn create_new(
    path: &Path,
    cache_bytes: Option<usize>,
) -> Result<Option<Database>, StoreOpenError> {
    let io = |source| StoreOpenError::Io {
        path: path.to_owned(),
        source,
    };
    // A short name of its own (not derived from the file's: a name of 250
    // bytes must work wherever it fits), unique in this process.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".dizzy-{}-{n}.creating", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    crate::leftovers::remove_temporaries_of_dead_processes(path, ".creating");
    let cache = cache_bytes.unwrap_or_else(|| default_cache_bytes(0));
    let made = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&tmp)
        .map_err(|source| StoreOpenError::Io {
            path: path.to_owned(),
            source,
        })
        .and_then(|file| {
            backend::WritebackFile::new(file)
                .and_then(|b| {
                    Database::builder()
                        .set_cache_size(cache)
                        .create_with_backend(b)
                })
                .map_err(|e| classify(path, e))
        })
        .and_then(|db| {
            let store = Store {
                path: path.to_owned(),
                db: Db::Write(Arc::new(db)),
            };
            store.write_meta()?;
            Ok(store.into_database())
        });
    let db = match made {
        Ok(db) => db,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // `hard_link` fails if `path` exists; a file system without hard links
    // gets a rename (which would replace a file created meanwhile).
    let linked = match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => std::fs::rename(&tmp, path),
        other => other,
    };
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(io(e)),
        // Another process created `path` first: its file is opened.
        Err(_) => Ok(None),
        // The open database is the file at `path` now (same inode).
        Ok(()) => Ok(db),
    }
}
