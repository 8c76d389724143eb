//! What the dedupe demo hashes of a file: its ends for the partial hash,
//! all of it for the SHA-256, never past the size it was listed with.

#[cfg(test)]
use std::path::Path;

use sha2::{Digest, Sha256};

#[cfg(test)]
use super::scan::open_listed;

/// Bytes read at each end of a file for its partial hash (jdupes and
/// fclones read 4 KiB too). A file of at most twice this is read whole
/// instead, and its partial hash is its full one.
pub(crate) const PARTIAL: u64 = 4096;

/// The error of a file whose size is not the one it was listed with.
fn resized(listed: u64, read: u64) -> String {
    if read < listed {
        format!("changed since it was listed: {listed} bytes listed, {read} read")
    } else {
        format!("changed since it was listed: {listed} bytes listed, {read} or more read")
    }
}

/// Reads the ends of the file at `path`, listed with `size` bytes (all of
/// it if it is small), for its partial hash ([`partial_of`]).
#[cfg(test)]
pub(crate) fn partial(path: &Path, size: u64) -> Result<u64, String> {
    partial_of(&open_listed(path, size)?, size)
}

/// The partial hash of an opened file listed with `size` bytes: for a file
/// of more than twice [`PARTIAL`] bytes, the first 8 bytes of the SHA-256
/// of its first and last [`PARTIAL`] bytes; for a smaller one, the XXH3
/// (64 bits) of all of it — a hash that only sorts out which files may be
/// equal (those whose size and partial hash are shared get their SHA-256),
/// so a fast one, as jdupes and fclones use. Either way a file that does
/// not end at `size` now — cut, grown, or a FIFO or device put in its
/// place — is an error that says it changed since it was listed: the read
/// of the last bytes asks for one byte more, so that this costs no call.
pub(crate) fn partial_of(f: &std::fs::File, size: u64) -> Result<u64, String> {
    if size <= 2 * PARTIAL {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        read_whole(f, size, &mut |chunk| h.update(chunk))?;
        return Ok(h.digest());
    }
    // Both ends, and one byte past the tail to see that the file ends.
    let mut buf = [0u8; 2 * PARTIAL as usize + 1];
    let (head, tail) = buf.split_at_mut(PARTIAL as usize);
    read_at(f, head, 0, size)?;
    read_end(f, tail, size - PARTIAL, size)?;
    let digest: [u8; 32] = Sha256::digest(&buf[..2 * PARTIAL as usize]).into();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Ok(u64::from_le_bytes(first))
}

/// Fills `buf` from `f` at `offset`, of a file listed with `size` bytes:
/// a file that ends before (it was cut since it was listed) is an error
/// that says so.
fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64, size: u64) -> Result<(), String> {
    #[cfg(unix)]
    let read = {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, offset)
    };
    #[cfg(not(unix))]
    let read = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = f;
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(buf))
    };
    read.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => cut(size),
        _ => read_error(&e),
    })
}

/// Fills all of `buf` but its last byte from `f` at `offset`, the last
/// bytes of a file listed with `size` bytes, and checks that the file
/// ends there: `buf` is one byte longer than what is wanted, so a file
/// that holds more (it grew, or a device is there now) fills it. A short
/// read of a regular file is its end, so the check costs no call.
fn read_end(f: &std::fs::File, buf: &mut [u8], offset: u64, size: u64) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let want = buf.len() - 1;
        let mut got = 0;
        loop {
            let n = match f.read_at(&mut buf[got..], offset + got as u64) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(&e)),
            };
            got += n;
            if got > want {
                return Err(resized(size, size + 1));
            }
            if got == want {
                // Fewer bytes than asked for: the end of the file.
                return Ok(());
            }
            if n == 0 {
                return Err(cut(size));
            }
        }
    }
    #[cfg(not(unix))]
    {
        let want = buf.len() - 1;
        read_at(f, &mut buf[..want], offset, size)
    }
}

/// The error of a file listed with `size` bytes that ends before them.
fn cut(size: u64) -> String {
    format!("changed since it was listed: {size} bytes listed, fewer read")
}

/// The message of an error reading a listed file: a FIFO put where it was
/// (`ESPIPE`: it cannot be read at an offset) or a directory (`EISDIR`)
/// says so.
fn read_error(e: &std::io::Error) -> String {
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(libc::ESPIPE | libc::EISDIR)) {
        return "changed since it was listed: not a regular file any more".into();
    }
    e.to_string()
}

/// The SHA-256 of the whole file at `path`, listed with `size` bytes. A
/// file of another size now is an error: its size no longer says which
/// files it may equal (and a FIFO or device there reads as another size).
/// At most `size + 1` bytes are read; a short read of a regular file is its
/// end, so a file is usually read in one call.
#[cfg(test)]
pub(crate) fn full(path: &Path, size: u64) -> Result<[u8; 32], String> {
    full_of(&open_listed(path, size)?, size)
}

/// [`full`] of an opened file.
pub(crate) fn full_of(f: &std::fs::File, size: u64) -> Result<[u8; 32], String> {
    let mut h = Sha256::new();
    read_whole(f, size, &mut |chunk| h.update(chunk))?;
    Ok(h.finalize().into())
}

/// [`full_of`], given up (`None`) as soon as `stop` says so: it is asked
/// before each read of at most 128 KiB, so a stop requested while a huge
/// file is hashed is heeded at once.
pub(crate) fn full_until(
    f: &std::fs::File,
    size: u64,
    stop: &dyn Fn() -> bool,
) -> Result<Option<[u8; 32]>, String> {
    let mut h = Sha256::new();
    let whole = read_until(f, size, &mut |chunk| h.update(chunk), stop)?;
    Ok(whole.then(|| h.finalize().into()))
}

/// Reads all of `f`, listed with `size` bytes, handing each piece to
/// `take`; a file of another size now is an error ([`full`]).
fn read_whole(f: &std::fs::File, size: u64, take: &mut dyn FnMut(&[u8])) -> Result<(), String> {
    read_until(f, size, take, &|| false).map(|_| ())
}

/// [`read_whole`], stopped before a read when `stop` says so: whether the
/// file was read to its end.
fn read_until(
    f: &std::fs::File,
    size: u64,
    take: &mut dyn FnMut(&[u8]),
    stop: &dyn Fn() -> bool,
) -> Result<bool, String> {
    thread_local! {
        // One read buffer per thread, not one zeroed allocation per file.
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 1 << 17]);
    }
    let mut read = 0u64;
    BUF.with_borrow_mut(|buf| {
        loop {
            if stop() {
                return Ok(false);
            }
            // Up to one byte past the listed size: enough to see it grew.
            let want = usize::try_from(size + 1 - read).map_or(buf.len(), |w| w.min(buf.len()));
            let n = read_some(f, &mut buf[..want]).map_err(|e| read_error(&e))?;
            read += n as u64;
            if read > size {
                return Err(resized(size, read));
            }
            take(&buf[..n]);
            if n == 0 || (n < want && read == size) {
                break;
            }
        }
        if read == size {
            Ok(true)
        } else {
            Err(resized(size, read))
        }
    })
}

/// One `read` of `f` into `buf`: on Linux the system call itself
/// (rustix), without the C library's cancellation-point bookkeeping around
/// it, which showed in profiles of the demo (tens of thousands of reads).
fn read_some(f: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        loop {
            match rustix::io::read(f, &mut *buf) {
                Err(rustix::io::Errno::INTR) => {}
                other => return other.map_err(std::io::Error::from),
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        use std::io::Read;
        let mut f = f;
        f.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn partial_hash_reads_both_ends() {
        let dir = tempfile_dir();
        let size = 3 * PARTIAL as usize;
        let a = vec![7u8; size];
        let mut b = a.clone();
        b[size - 1] = 8; // differs only in the last byte
        let mut c = a.clone();
        c[size / 2] = 9; // differs only in the middle
        for (name, data) in [("a", &a), ("b", &b), ("c", &c)] {
            std::fs::write(dir.join(name), data).unwrap();
        }
        let ends = |n: &str| partial(&dir.join(n), size as u64).unwrap();
        assert_ne!(ends("a"), ends("b"));
        assert_eq!(ends("a"), ends("c"), "the middle is not read");
        // A small file is hashed whole: a change anywhere shows.
        let small = 2 * PARTIAL as usize;
        let mut d = vec![7u8; small];
        std::fs::write(dir.join("small"), &d).unwrap();
        let before = partial(&dir.join("small"), small as u64).unwrap();
        d[small / 2] = 9;
        std::fs::write(dir.join("small"), &d).unwrap();
        assert_ne!(partial(&dir.join("small"), small as u64).unwrap(), before);
        assert_eq!(before, xxhash_rust::xxh3::xxh3_64(&vec![7u8; small]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_is_read_only_as_far_as_its_listed_size() {
        let dir = std::env::temp_dir().join(format!("dizzy-scan-sizes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, vec![1u8; 300_000]).unwrap();
        let whole: [u8; 32] = Sha256::digest(vec![1u8; 300_000]).into();
        assert_eq!(full(&f, 300_000).unwrap(), whole, "read across buffers");
        let grown = full(&f, 299_999).unwrap_err();
        assert!(grown.contains("changed since it was listed"), "{grown}");
        let shrunk = full(&f, 300_001).unwrap_err();
        assert!(shrunk.contains("changed since it was listed"), "{shrunk}");
        // Its ends too: grown since it was listed, or cut.
        assert!(partial(&f, 300_000).is_ok());
        let grown = partial(&f, 299_999).unwrap_err();
        assert_eq!(
            grown,
            "changed since it was listed: 299999 bytes listed, 300000 or more read"
        );
        let cut = partial(&f, 300_001).unwrap_err();
        assert!(cut.contains("fewer read"), "{cut}");
        // Cut after it was opened: its ends are not where they were listed.
        let opened = open_listed(&f, 300_000).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(0)
            .unwrap();
        let cut = partial_of(&opened, 300_000).unwrap_err();
        assert_eq!(
            cut,
            "changed since it was listed: 300000 bytes listed, fewer read"
        );
        std::fs::write(&f, b"").unwrap();
        assert_eq!(full(&f, 0).unwrap(), <[u8; 32]>::from(Sha256::digest(b"")));
        #[cfg(unix)]
        {
            // A FIFO nobody writes to: not waited on, found changed.
            let fifo = dir.join("fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .is_ok_and(|s| s.success());
            if made {
                assert!(full(&fifo, 5).is_err());
                assert!(full(&fifo, 0).is_err());
                let e = partial(&fifo, 100_000).unwrap_err();
                assert_eq!(
                    e,
                    "changed since it was listed: not a regular file any more"
                );
            }
            // A device that reads as much as is asked (here /dev/zero, as
            // `mknod c 1 5` put in a listed file's place): its ends are no
            // file's ends.
            let zero = std::fs::File::open("/dev/zero").unwrap();
            let e = partial_of(&zero, 100_000).unwrap_err();
            assert_eq!(
                e,
                "changed since it was listed: 100000 bytes listed, 100001 or more read"
            );
            let link = dir.join("link");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            let e = full(&link, 5).unwrap_err();
            assert!(e.contains("symlink"), "{e}");
            // A directory, or a socket, where the file was (found by a
            // fresh tester: the OS's "Is a directory", "No such device or
            // address").
            let sub = dir.join("now-a-dir");
            std::fs::create_dir(&sub).unwrap();
            let socket = dir.join("now-a-socket");
            let _bound = std::os::unix::net::UnixListener::bind(&socket).unwrap();
            for path in [&sub, &socket] {
                for e in [
                    full(path, 5).unwrap_err(),
                    partial(path, 100_000).unwrap_err(),
                ] {
                    assert_eq!(
                        e, "changed since it was listed: not a regular file any more",
                        "{path:?}"
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dizzy-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
