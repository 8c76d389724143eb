//! The file system side of the dedupe demo: paths as bytes, listing a
//! directory, reading a file's ends or all of it.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Bytes read at each end of a file for its partial hash (jdupes and
/// fclones read 4 KiB too). A file of at most twice this is read whole
/// instead, and its partial hash is its full one.
pub(crate) const PARTIAL: u64 = 4096;

/// The bytes of a file name, as the file system gives them.
#[cfg(unix)]
pub(crate) fn name_bytes(name: &OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().to_vec()
}

/// The bytes of a file name (outside Unix, names are Unicode: UTF-8).
#[cfg(not(unix))]
pub(crate) fn name_bytes(name: &OsStr) -> Vec<u8> {
    name.to_string_lossy().into_owned().into_bytes()
}

/// The path of `rel` (bytes relative to the root, `/`-separated) under
/// `root`.
pub(crate) fn join(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        return root.to_owned();
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        root.join(OsStr::from_bytes(rel))
    }
    #[cfg(not(unix))]
    {
        root.join(String::from_utf8_lossy(rel).as_ref())
    }
}

/// `rel/name`, or `name` at the root.
pub(crate) fn child(rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rel.len() + 1 + name.len());
    if !rel.is_empty() {
        out.extend_from_slice(rel);
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// A path for people, one line and unambiguous: text where the bytes are
/// UTF-8, except that a backslash is written `\\`, an ASCII control
/// character `\xNN` (newline is `\x0A`, escape `\x1B`, delete `\x7F`), and
/// other control characters, line separators, bidirectional controls and
/// invisible format characters (zero-width spaces, soft hyphen, tags)
/// `\u{N}` (hex); every byte that is not UTF-8 is `\xNN`. Different paths
/// always display differently.
pub fn display(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02X}", c as u32);
                }
                // Other control characters, and those that break or
                // reorder a line (separators, bidirectional controls).
                c if c.is_control()
                    || matches!(
                        c,
                        '\u{AD}'
                            | '\u{61C}'
                            | '\u{200B}'..='\u{200F}'
                            | '\u{2028}'
                            | '\u{2029}'
                            | '\u{202A}'..='\u{202E}'
                            | '\u{2060}'..='\u{2069}'
                            | '\u{FEFF}'
                            | '\u{E0000}'..='\u{E007F}'
                    ) =>
                {
                    let _ = write!(out, "\\u{{{:X}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

/// One entry of a listed directory.
pub(crate) enum Entry {
    Dir(Vec<u8>),
    /// Path, size, modification time ([`modified_ns`]).
    File(Vec<u8>, u64, u64),
    Bad(Vec<u8>, String),
}

impl Entry {
    fn path(&self) -> &[u8] {
        match self {
            Entry::Dir(p) | Entry::File(p, _, _) | Entry::Bad(p, _) => p,
        }
    }
}

/// Lists one directory: subdirectories and regular files, sorted by name
/// (as bytes); symlinks and other kinds are skipped.
pub(crate) fn list(root: &Path, rel: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let path = join(root, rel);
    // Listed as a directory, maybe by an earlier process: a symlink (or
    // anything else) there now is not followed.
    let kind = std::fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
    if !rel.is_empty() && !kind.is_dir() {
        return Err("not a directory any more".into());
    }
    if !rel.is_empty() {
        drop(open_without_symlinks(&path, true).map_err(|e| symlink_error(&e))?);
    }
    let rd = std::fs::read_dir(&path).map_err(|e| e.to_string())?;
    for entry in rd {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = child(rel, &name_bytes(&entry.file_name()));
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.push(Entry::Dir(path)),
            Ok(t) if t.is_file() => match entry.metadata() {
                Ok(m) => out.push(Entry::File(path, m.len(), modified_ns(&m))),
                Err(e) => out.push(Entry::Bad(path, e.to_string())),
            },
            Ok(_) => {}
            Err(e) => out.push(Entry::Bad(path, e.to_string())),
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

/// A file's modification time in nanoseconds since the epoch (0 if the
/// file system does not tell).
pub(crate) fn modified_ns(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Opens the file at `path` to read it without following a symlink put
/// there since it was listed — as the file itself or as any directory on its
/// path (the root is canonical: it holds none) — and without waiting on a
/// FIFO. What it reads is bounded by the size listed (see [`full`]), so a
/// FIFO or a device there is found changed rather than read; an empty file
/// is checked to be a regular file (its size bounds nothing).
fn open_listed(path: &Path, size: u64) -> Result<std::fs::File, String> {
    let f = open_without_symlinks(path, false).map_err(|e| symlink_error(&e))?;
    if size == 0 && !f.metadata().map_err(|e| e.to_string())?.is_file() {
        return Err("not a regular file any more".into());
    }
    Ok(f)
}

/// The message for an error of [`open_without_symlinks`].
fn symlink_error(e: &std::io::Error) -> String {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return "a symlink on its path since it was listed (not followed)".to_owned();
    }
    e.to_string()
}

/// Opens `path` read-only (a directory if `dir`), failing with `ELOOP` if
/// any of its components is a symlink; never waits on a FIFO.
#[cfg(unix)]
pub(crate) fn open_without_symlinks(path: &Path, dir: bool) -> std::io::Result<std::fs::File> {
    let flags = libc::O_RDONLY
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_CLOEXEC
        | if dir { libc::O_DIRECTORY } else { 0 };
    #[cfg(target_os = "linux")]
    match openat2_no_symlinks(path, flags) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
        done => return done,
    }
    // Without openat2 (older kernels, other systems): every directory on
    // the path is checked not to be a symlink, then the last component is
    // opened with `O_NOFOLLOW`.
    for ancestor in path.ancestors().skip(1) {
        if std::fs::symlink_metadata(ancestor)?
            .file_type()
            .is_symlink()
        {
            return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
        }
    }
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags & !libc::O_RDONLY)
        .open(path)
}

/// Opens `path` (elsewhere there are no symlinks to refuse).
#[cfg(not(unix))]
pub(crate) fn open_without_symlinks(path: &Path, _dir: bool) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// `openat2(AT_FDCWD, path, flags, RESOLVE_NO_SYMLINKS)`: the kernel
/// refuses a symlink anywhere on the path.
#[cfg(target_os = "linux")]
fn openat2_no_symlinks(path: &Path, flags: libc::c_int) -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    /// The kernel's `struct open_how` (linux/openat2.h): three `u64`s.
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve: libc::RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: `c_path` is a NUL-terminated string and `how` has the layout
    // of the kernel's `open_how` (three u64, `repr(C)`); both outlive the
    // call, and the size passed is `how`'s own. The kernel only reads them.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(|_| std::io::Error::other("fd out of range"))?;
    // SAFETY: `fd` was just returned by a successful openat2: an open
    // descriptor that nothing else owns.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// The error of a file whose size is not the one it was listed with.
fn resized(listed: u64, read: u64) -> String {
    format!("changed since it was listed: {listed} bytes listed, {read} or more read")
}

/// What reading a file for its partial hash gave.
pub(crate) enum Partial {
    /// The file was read whole (it is small): its SHA-256.
    Whole([u8; 32]),
    /// A hash of its first and last [`PARTIAL`] bytes.
    Ends(u64),
}

/// Reads the ends of the file at `path`, listed with `size` bytes (all of
/// it if it is small).
pub(crate) fn partial(path: &Path, size: u64) -> Result<Partial, String> {
    if size <= 2 * PARTIAL {
        return full(path, size).map(Partial::Whole);
    }
    let f = open_listed(path, size)?;
    let mut buf = [0u8; 2 * PARTIAL as usize];
    let (head, tail) = buf.split_at_mut(PARTIAL as usize);
    read_at(&f, head, 0)?;
    read_at(&f, tail, size - PARTIAL)?;
    let digest: [u8; 32] = Sha256::digest(buf).into();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Ok(Partial::Ends(u64::from_le_bytes(first)))
}

/// Fills `buf` from `f` at `offset`.
fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, offset).map_err(|e| e.to_string())
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = f;
        f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
        f.read_exact(buf).map_err(|e| e.to_string())
    }
}

/// The SHA-256 of the whole file at `path`, listed with `size` bytes. A
/// file of another size now is an error: its size no longer says which
/// files it may equal (and a FIFO or device there reads as another size).
/// At most `size + 1` bytes are read; a short read of a regular file is its
/// end, so a file is usually read in one call.
pub(crate) fn full(path: &Path, size: u64) -> Result<[u8; 32], String> {
    thread_local! {
        // One read buffer per thread, not one zeroed allocation per file.
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 1 << 17]);
    }
    let mut f = open_listed(path, size)?;
    let mut h = Sha256::new();
    let mut read = 0u64;
    BUF.with_borrow_mut(|buf| {
        loop {
            // Up to one byte past the listed size: enough to see it grew.
            let want = usize::try_from(size + 1 - read).map_or(buf.len(), |w| w.min(buf.len()));
            let n = f.read(&mut buf[..want]).map_err(|e| e.to_string())?;
            read += n as u64;
            if read > size {
                return Err(resized(size, read));
            }
            h.update(&buf[..n]);
            if n == 0 || (n < want && read == size) {
                break;
            }
        }
        if read == size {
            Ok(())
        } else {
            Err(resized(size, read))
        }
    })?;
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_and_unambiguous() {
        assert_eq!(display(b"a/b c.txt"), "a/b c.txt");
        assert_eq!(display("é/ü".as_bytes()), "é/ü");
        assert_eq!(display(b"bad\xff\xfename"), "bad\\xFF\\xFEname");
        // A name that spells an escape, and one that is the byte: different.
        assert_eq!(display(b"lit\\xFF"), "lit\\\\xFF");
        assert_ne!(display(b"lit\\xFF"), display(b"lit\xff"));
        assert_eq!(display(b"two\nlines\x1b[31m"), "two\\x0Alines\\x1B[31m");
        assert_eq!(display("c1\u{85}".as_bytes()), "c1\\u{85}");
        assert_eq!(
            display("a\u{2028}b\u{202E}c\x7f".as_bytes()),
            "a\\u{2028}b\\u{202E}c\\x7F"
        );
    }

    #[test]
    fn child_joins_with_a_slash_below_the_root() {
        assert_eq!(child(b"", b"x"), b"x");
        assert_eq!(child(b"a\xff", b"x"), b"a\xff/x");
    }

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
        let ends = |n: &str| match partial(&dir.join(n), size as u64).unwrap() {
            Partial::Ends(h) => h,
            Partial::Whole(_) => panic!("a large file is read at its ends"),
        };
        assert_ne!(ends("a"), ends("b"));
        assert_eq!(ends("a"), ends("c"), "the middle is not read");
        std::fs::write(dir.join("small"), b"hi").unwrap();
        assert!(matches!(
            partial(&dir.join("small"), 2).unwrap(),
            Partial::Whole(h) if h == full(&dir.join("small"), 2).unwrap()
        ));
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
                assert!(partial(&fifo, 100_000).is_err());
            }
            let link = dir.join("link");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            let e = full(&link, 5).unwrap_err();
            assert!(e.contains("symlink"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dizzy-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
