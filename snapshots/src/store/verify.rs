//! Checking every page of a file without changing it.
//!
//! redb checks its pages' checksums only when a file is opened read-write
//! with an integrity check (which [`Store::open`](super::Store::open) asks
//! for); a read-only open reads what is there. That check commits the
//! allocator state it rebuilds, so it cannot run on the file itself for a
//! reader that promises to leave the file as it was: it runs here over
//! [`Overlay`], a view of the file whose writes stay in memory.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use redb::{Database, StorageBackend};

/// What redb's `StorageBackend` returns (without redb's experimental API).
type BackendIoError = std::io::Error;

/// Verifies the checksum of every page of the committed state of the dizzy
/// file at `path`, as opening it read-write does, without writing to it.
///
/// # Errors
/// The reason redb gives for a page that does not read back as it wrote
/// it (or the I/O error that stopped the check).
pub(crate) fn verify_pages(path: &Path) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let overlay = Overlay {
        file,
        state: Mutex::new(State {
            len,
            file_len: len,
            written: Vec::new(),
        }),
    };
    let checked = super::contain(|| {
        Database::builder()
            .set_check_integrity_on_open(true)
            // The check reads every page once: a small cache will do.
            .set_cache_size(16 << 20)
            .create_with_backend(overlay)
            .map(drop)
    })?;
    checked.map_err(|e| match e {
        // Named as an open of the file names it (`classify`).
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
            super::classify::damaged_because(reason)
        }
        other => other.to_string(),
    })
}

/// The file read through, with what redb writes kept in memory (in order,
/// so that a later write over an earlier one wins).
#[derive(Debug)]
struct Overlay {
    file: std::fs::File,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The length redb sees.
    len: u64,
    /// How much of the file still shows through: bytes past it (after a
    /// shrink and a growth) read as zero, as a file's new bytes do.
    file_len: u64,
    written: Vec<(u64, Vec<u8>)>,
}

fn io(kind: std::io::ErrorKind, msg: &str) -> BackendIoError {
    std::io::Error::new(kind, msg.to_owned())
}

impl Overlay {
    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, BackendIoError> {
        self.state
            .lock()
            .map_err(|_| io(std::io::ErrorKind::Other, "poisoned"))
    }
}

impl StorageBackend for Overlay {
    fn len(&self) -> Result<u64, BackendIoError> {
        Ok(self.state()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
        let state = self.state()?;
        let end = offset
            .checked_add(out.len() as u64)
            .filter(|&e| e <= state.len)
            .ok_or_else(|| io(std::io::ErrorKind::UnexpectedEof, "read past the end"))?;
        // From the file, up to what still shows of it; zeros past that.
        let from_file = state.file_len.clamp(offset, end) - offset;
        let (head, tail) = out.split_at_mut(from_file as usize);
        self.file.read_exact_at(head, offset)?;
        tail.fill(0);
        for (at, bytes) in &state.written {
            let w_end = at + bytes.len() as u64;
            if w_end <= offset || *at >= end {
                continue;
            }
            let a = (*at).max(offset);
            let b = w_end.min(end);
            out[(a - offset) as usize..(b - offset) as usize]
                .copy_from_slice(&bytes[(a - at) as usize..(b - at) as usize]);
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
        let mut state = self.state()?;
        state.file_len = state.file_len.min(len);
        for (at, bytes) in &mut state.written {
            bytes.truncate(len.saturating_sub(*at) as usize);
        }
        state.len = len;
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendIoError> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
        let mut state = self.state()?;
        let end = offset + data.len() as u64;
        if end > state.len {
            return Err(io(std::io::ErrorKind::InvalidInput, "write past the end"));
        }
        state.written.push((offset, data.to_vec()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads see the file, then the writes in order over it, and zeros
    /// past a shrink; the file itself is never written.
    #[test]
    fn the_overlay_reads_writes_over_the_file_and_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abcdefgh").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let o = Overlay {
            file,
            state: Mutex::new(State {
                len: 8,
                file_len: 8,
                written: Vec::new(),
            }),
        };
        o.write(2, b"XY").unwrap();
        o.write(3, b"Z").unwrap();
        let mut out = [0u8; 6];
        o.read(1, &mut out).unwrap();
        assert_eq!(&out, b"bXZefg");
        o.set_len(4).unwrap();
        o.set_len(10).unwrap();
        let mut out = [1u8; 10];
        o.read(0, &mut out).unwrap();
        assert_eq!(&out, b"abXZ\0\0\0\0\0\0");
        assert!(o.read(5, &mut [0u8; 6]).is_err());
        assert!(o.write(9, b"ab").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"abcdefgh");
    }
}
