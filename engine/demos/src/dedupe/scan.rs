//! The file system side of the dedupe demo: paths as bytes, listing a
//! directory, opening what it holds without following a symlink, reading
//! a batch of files on every core (what is hashed of them: [`super::hash`]).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::hash::full_of;

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
                c => dizzy_components::text::push_shown(&mut out, c),
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
    /// Path, and what it was when looked at.
    File(Vec<u8>, Seen),
    Bad(Vec<u8>, String),
}

impl Entry {
    pub(crate) fn path(&self) -> &[u8] {
        match self {
            Entry::Dir(p) | Entry::File(p, _) | Entry::Bad(p, _) => p,
        }
    }
}

/// A directory opened without following a symlink on its path (see
/// [`open_without_symlinks`]), to list it and to open what it holds by
/// name: one walk of its path for all of them.
pub(crate) struct OpenDir {
    /// Its path (under the root).
    #[cfg(not(target_os = "linux"))]
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

/// Opens the directory `rel` (bytes relative to the root) under `root`.
///
/// # Errors
/// It is gone, is not a directory any more, has a symlink on its path
/// (`ELOOP`), or cannot be read.
pub(crate) fn open_dir(root: &Path, rel: &[u8]) -> std::io::Result<OpenDir> {
    let path = join(root, rel);
    #[cfg(unix)]
    {
        let fd = open_without_symlinks(&path, true)?.into();
        Ok(OpenDir {
            #[cfg(not(target_os = "linux"))]
            path,
            fd,
        })
    }
    #[cfg(not(unix))]
    {
        if !std::fs::metadata(&path)?.is_dir() {
            return Err(std::io::Error::other("not a directory any more"));
        }
        Ok(OpenDir { path })
    }
}

/// The message for an error of [`open_dir`] on `rel` under `root`: a
/// symlink there (which `O_DIRECTORY` reports as "not a directory") is
/// named as such.
fn dir_error(root: &Path, rel: &[u8], e: &std::io::Error) -> String {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ENOTDIR) {
        let symlink =
            std::fs::symlink_metadata(join(root, rel)).is_ok_and(|m| m.file_type().is_symlink());
        return if symlink {
            symlink_error(&std::io::Error::from_raw_os_error(libc::ELOOP))
        } else {
            "not a directory any more".to_owned()
        };
    }
    let _ = (root, rel);
    symlink_error(e)
}

/// Directories with more entries than this have them looked at (`statx`)
/// on every core, in slices of this many.
const STAT_SLICE: usize = 256;

impl OpenDir {
    /// Opens the entry `name` (one path component) to read it, without
    /// following a symlink there and without waiting on a FIFO.
    fn open(&self, name: &[u8]) -> std::io::Result<std::fs::File> {
        // One component (never `..`, never through a `/`), not followed if
        // it is a symlink (`O_NOFOLLOW`): nothing outside this directory
        // and no symlink is ever opened.
        if name.contains(&b'/') || name == b".." || name == b"." || name.is_empty() {
            return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
        }
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            use std::os::unix::ffi::OsStrExt;
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.fd, OsStr::from_bytes(name), flags, Mode::empty())?;
            Ok(fd.into())
        }
        #[cfg(not(unix))]
        {
            std::fs::File::open(self.path.join(String::from_utf8_lossy(name).as_ref()))
        }
    }

    /// The entries of the directory (`rel`, its path relative to the root):
    /// subdirectories and regular files, sorted by name (as bytes);
    /// symlinks and other kinds are skipped.
    fn entries(&self, rel: &[u8]) -> Result<Vec<Entry>, String> {
        use rayon::prelude::*;
        // Names and kinds first (`getdents`), sorted; then what a regular
        // file's size and time are (`statx`) — on every core for a big
        // directory, in order.
        let mut names: Vec<(Vec<u8>, Kind)> = Vec::new();
        self.names(&mut |name, kind| names.push((name.to_vec(), kind)))?;
        let look = |(name, kind): &(Vec<u8>, Kind)| -> Option<Entry> {
            let path = child(rel, name);
            if matches!(kind, Kind::Dir) {
                return Some(Entry::Dir(path));
            }
            let known_file = matches!(kind, Kind::File);
            match self.stat(name) {
                Ok(Stat::File(seen)) => Some(Entry::File(path, seen)),
                Ok(Stat::Dir) if !known_file => Some(Entry::Dir(path)),
                Ok(_) if !known_file => None,
                // Listed as a file, now something else: it changed.
                Ok(_) => Some(Entry::Bad(path, "changed while it was listed".into())),
                Err(e) => Some(Entry::Bad(path, e.to_string())),
            }
        };
        Ok(if names.len() > STAT_SLICE {
            names.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
            names
                .par_chunks(STAT_SLICE)
                .flat_map_iter(|slice| slice.iter().filter_map(look))
                .collect()
        } else {
            names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            names.iter().filter_map(look).collect()
        })
    }

    /// Calls `f` with the name and kind of every entry but `.` and `..`.
    #[cfg(unix)]
    fn names(&self, f: &mut dyn FnMut(&[u8], Kind)) -> Result<(), String> {
        use rustix::fs::FileType;
        let mut take = |name: &[u8], kind: FileType| {
            if name == b"." || name == b".." {
                return;
            }
            match kind {
                FileType::Directory => f(name, Kind::Dir),
                FileType::RegularFile => f(name, Kind::File),
                FileType::Unknown => f(name, Kind::Unknown),
                _ => {}
            }
        };
        // On Linux, `getdents` straight into a buffer of this thread, on
        // the descriptor just opened (at its start); elsewhere a `Dir`.
        #[cfg(target_os = "linux")]
        {
            thread_local! {
                static BUF: std::cell::RefCell<Vec<std::mem::MaybeUninit<u8>>> =
                    std::cell::RefCell::new(vec![std::mem::MaybeUninit::uninit(); 32 << 10]);
            }
            BUF.with_borrow_mut(|buf| {
                let mut dir = rustix::fs::RawDir::new(&self.fd, buf);
                while let Some(entry) = dir.next() {
                    let entry = entry.map_err(|e| e.to_string())?;
                    take(entry.file_name().to_bytes(), entry.file_type());
                }
                Ok(())
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let mut dir = rustix::fs::Dir::read_from(&self.fd).map_err(|e| e.to_string())?;
            while let Some(entry) = dir.read() {
                let entry = entry.map_err(|e| e.to_string())?;
                take(entry.file_name().to_bytes(), entry.file_type());
            }
            Ok(())
        }
    }

    /// Calls `f` with the name and kind of every entry.
    #[cfg(not(unix))]
    fn names(&self, f: &mut dyn FnMut(&[u8], Kind)) -> Result<(), String> {
        for entry in std::fs::read_dir(&self.path).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = name_bytes(&entry.file_name());
            match entry.file_type() {
                Ok(t) if t.is_dir() => f(&name, Kind::Dir),
                Ok(t) if t.is_file() => f(&name, Kind::File),
                Ok(_) => {}
                Err(_) => f(&name, Kind::Unknown),
            }
        }
        Ok(())
    }

    /// What the entry `name` is now, without following a symlink.
    fn stat(&self, name: &[u8]) -> std::io::Result<Stat> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{AtFlags, FileType, StatxFlags};
            let mask = StatxFlags::TYPE
                | StatxFlags::SIZE
                | StatxFlags::MTIME
                | StatxFlags::CTIME
                | StatxFlags::INO;
            let st = rustix::fs::statx(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW, mask)?;
            let ns = |t: rustix::fs::StatxTimestamp| {
                u64::try_from(t.tv_sec).map_or(0, |s| {
                    s.saturating_mul(1_000_000_000)
                        .saturating_add(u64::from(t.tv_nsec))
                })
            };
            Ok(match FileType::from_raw_mode(u32::from(st.stx_mode)) {
                FileType::RegularFile => Stat::File(Seen {
                    size: st.stx_size,
                    modified_ns: ns(st.stx_mtime),
                    changed_ns: ns(st.stx_ctime),
                    inode: st.stx_ino,
                }),
                FileType::Directory => Stat::Dir,
                _ => Stat::Other,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            #[cfg(unix)]
            let name = {
                use std::os::unix::ffi::OsStrExt;
                OsStr::from_bytes(name)
            };
            #[cfg(not(unix))]
            let name = String::from_utf8_lossy(name).into_owned();
            let m = std::fs::symlink_metadata(self.path.join(name))?;
            Ok(if m.is_file() {
                Stat::File(Seen::of(&m))
            } else if m.is_dir() {
                Stat::Dir
            } else {
                Stat::Other
            })
        }
    }
}

/// What a regular file was when it was looked at: enough to tell, later,
/// whether it may have changed (a write changes its modification and
/// change times, a rename or a replacement its inode or change time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (0 if unknown).
    pub modified_ns: u64,
    /// Status change time (`ctime`), nanoseconds since the epoch (0 if
    /// unknown).
    pub changed_ns: u64,
    /// Inode number (0 if unknown).
    pub inode: u64,
}

impl Seen {
    /// What the opened file `f` is now (`None` if the system does not
    /// tell).
    pub(crate) fn of_file(f: &std::fs::File) -> Option<Seen> {
        f.metadata().ok().map(|m| Seen::of(&m))
    }

    /// What `m` tells of a file.
    fn of(m: &std::fs::Metadata) -> Seen {
        #[cfg(unix)]
        let (changed_ns, inode) = {
            use std::os::unix::fs::MetadataExt;
            let changed = u64::try_from(m.ctime()).map_or(0, |s| {
                s.saturating_mul(1_000_000_000)
                    .saturating_add(u64::try_from(m.ctime_nsec()).unwrap_or(0))
            });
            (changed, m.ino())
        };
        #[cfg(not(unix))]
        let (changed_ns, inode) = (0, 0);
        Seen {
            size: m.len(),
            modified_ns: modified_ns(m),
            changed_ns,
            inode,
        }
    }
}

/// The kind of a directory entry, as listed.
enum Kind {
    Dir,
    File,
    /// The file system did not say (`DT_UNKNOWN`): looked at with `statx`.
    Unknown,
}

/// What an entry is when looked at.
enum Stat {
    /// A regular file.
    File(Seen),
    Dir,
    Other,
}

/// Lists one directory: subdirectories and regular files, sorted by name
/// (as bytes); symlinks and other kinds are skipped. The directory is
/// opened once (not following a symlink put on its path since it was
/// listed) and what it holds is looked at by name.
pub(crate) fn list(root: &Path, rel: &[u8]) -> Result<Vec<Entry>, String> {
    open_dir(root, rel)
        .map_err(|e| dir_error(root, rel, &e))?
        .entries(rel)
}

/// `rel` (a path relative to the root) split into its directory and its
/// name.
fn split_path(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&rel[..0], rel),
    }
}

/// A file by its name in its directory, the directory opened without
/// following a symlink on its path (as [`read_batch`] opens files).
pub(crate) struct InDir<'a> {
    dir: &'a OpenDir,
    name: &'a [u8],
}

impl InDir<'_> {
    /// What the file is now, not following a symlink: `None` if it is not
    /// a regular file any more.
    ///
    /// # Errors
    /// It is gone, or cannot be looked at.
    pub(crate) fn look(&self) -> std::io::Result<Option<Seen>> {
        Ok(match self.dir.stat(self.name)? {
            Stat::File(seen) => Some(seen),
            _ => None,
        })
    }

    /// The file opened to be read, if it is what a file listed with `size`
    /// bytes may be ([`open_listed`]).
    ///
    /// # Errors
    /// It could not be opened; [`ReadError::moved`] when it is gone, or a
    /// symlink or not a regular file now.
    fn open(&self, size: u64) -> Result<std::fs::File, ReadError> {
        let f = self.dir.open(self.name).map_err(|e| ReadError {
            moved: is_a_move(&e),
            message: symlink_error(&e),
        })?;
        checked(f, size).map_err(|message| ReadError {
            moved: true,
            message,
        })
    }

    /// Its SHA-256, read only as far as `size`, the size it was listed
    /// with, and what the open file is at the end of the read.
    ///
    /// # Errors
    /// It could not be opened or read; [`ReadError::moved`] as for
    /// [`InDir::open`], or when it is not `size` bytes long any more.
    pub(crate) fn sha256(&self, size: u64) -> Result<([u8; 32], Option<Seen>), ReadError> {
        let f = self.open(size)?;
        let digest = full_of(&f, size).map_err(|message| ReadError {
            // Cut or grown (a read error on a file of its listed size is
            // one of reading).
            moved: Seen::of_file(&f).is_none_or(|now| now.size != size),
            message,
        })?;
        Ok((digest, Seen::of_file(&f)))
    }
}

/// Runs `each` on the files of a batch — `(id, size listed, path relative
/// to the root)` — on every core, each directory opened once for the files
/// of it that the batch holds (once per slice of 64 of them, so that one
/// big directory keeps every core busy; the slices of most bytes first, so
/// that what is left at the end is small). `each` gets the file in its
/// opened directory, or the error that opening its directory gave, and its
/// id and listed size. In no particular order.
pub(crate) fn in_dirs<K, T, F>(root: &Path, batch: &[(K, u64, &[u8])], each: F) -> Vec<(K, T)>
where
    K: Copy + Send + Sync,
    T: Send,
    F: Fn(Result<InDir<'_>, &ReadError>, K, u64) -> T + Sync,
{
    use rayon::prelude::*;
    /// Files per task.
    const SLICE: usize = 64;
    let mut items: Vec<(&[u8], &[u8], K, u64)> = batch
        .iter()
        .map(|&(k, size, rel)| {
            let (dir, name) = split_path(rel);
            (dir, name, k, size)
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    let mut slices: Vec<&[(&[u8], &[u8], K, u64)]> = items
        .chunk_by(|a, b| a.0 == b.0)
        .flat_map(|same_dir| same_dir.chunks(SLICE))
        .collect();
    slices.sort_by_cached_key(|slice| std::cmp::Reverse(slice.iter().map(|i| i.3).sum::<u64>()));
    slices
        .par_iter()
        .flat_map_iter(|slice| {
            let rel = slice[0].0;
            let dir = open_dir(root, rel).map_err(|e| ReadError {
                moved: is_a_move(&e),
                message: match dir_error(root, rel, &e) {
                    // The file's own message: its directory is not one.
                    m if m == "not a directory any more" => format!("its directory is {m}"),
                    m => m,
                },
            });
            let each = &each;
            slice.iter().map(move |&(_, name, k, size)| {
                let file = dir.as_ref().map(|dir| InDir { dir, name });
                (k, each(file, k, size))
            })
        })
        .collect()
}

/// Reads the files of a batch — `(id, size listed, path relative to the
/// root)` — on every core, each directory opened once for the files of it
/// that the batch holds ([`in_dirs`]): `read` gets each file opened (see
/// [`OpenDir::open`]) and its listed size. A file whose directory cannot be
/// opened gets that error.
pub(crate) fn read_batch<K, T, F>(
    root: &Path,
    batch: &[(K, u64, &[u8])],
    read: F,
) -> Vec<(K, Result<T, String>)>
where
    K: Copy + Send + Sync,
    T: Send,
    F: Fn(std::fs::File, u64) -> Result<T, String> + Sync,
{
    in_dirs(root, batch, |file, _, size| match file {
        Ok(file) => file
            .open(size)
            .map_err(|e| e.message)
            .and_then(|f| read(f, size)),
        Err(e) => Err(e.message.clone()),
    })
}

/// Why a listed file, or its directory, could not be opened or read.
pub(crate) struct ReadError {
    /// What went wrong, for people.
    pub(crate) message: String,
    /// Whether it says the path moved ([`is_a_move`]) rather than that it
    /// cannot be read now.
    pub(crate) moved: bool,
}

/// Whether `e`, met opening or looking at a listed path, says that what
/// was listed there moved — it is gone (`ENOENT`), a directory on its path
/// is not one any more (`ENOTDIR`), is a symlink now (`ELOOP`) or a socket
/// (`ENXIO`) — rather than that it cannot be read now (permission, too many
/// open files, an I/O error): access that may come back.
pub(crate) fn is_a_move(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    if matches!(
        e.raw_os_error(),
        Some(libc::ENOTDIR | libc::ELOOP | libc::ENXIO)
    ) {
        return true;
    }
    e.kind() == std::io::ErrorKind::NotFound
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
#[cfg(test)]
pub(crate) fn open_listed(path: &Path, size: u64) -> Result<std::fs::File, String> {
    let f = open_without_symlinks(path, false).map_err(|e| symlink_error(&e))?;
    checked(f, size)
}

/// `f`, if its size bounds what is read of it: an empty file must still be
/// a regular file.
fn checked(f: std::fs::File, size: u64) -> Result<std::fs::File, String> {
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
    // A socket (or a device without its driver) where the file was.
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ENXIO) {
        return "changed since it was listed: not a regular file any more".to_owned();
    }
    e.to_string()
}

/// Opens `path` read-only (a directory if `dir`), failing with `ELOOP` if
/// any of its components is a symlink; never waits on a FIFO.
#[cfg(unix)]
pub(crate) fn open_without_symlinks(path: &Path, dir: bool) -> std::io::Result<std::fs::File> {
    use rustix::fs::OFlags;
    let flags = OFlags::RDONLY
        | OFlags::NOFOLLOW
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC
        | if dir {
            OFlags::DIRECTORY
        } else {
            OFlags::empty()
        };
    // `openat2` with `RESOLVE_NO_SYMLINKS`: the kernel refuses a symlink
    // anywhere on the path.
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, Mode, ResolveFlags, openat2};
        match openat2(CWD, path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS) {
            Ok(fd) => return Ok(fd.into()),
            Err(e) if e != rustix::io::Errno::NOSYS && e != rustix::io::Errno::PERM => {
                return Err(e.into());
            }
            Err(_) => {}
        }
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
    let fd = rustix::fs::open(path, flags, rustix::fs::Mode::empty())?;
    Ok(fd.into())
}

/// Opens `path` (elsewhere there are no symlinks to refuse).
#[cfg(not(unix))]
pub(crate) fn open_without_symlinks(path: &Path, _dir: bool) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

#[cfg(test)]
mod tests {
    use super::super::hash::full;
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
        // Characters a display may show as nothing (found by a fresh
        // tester): escaped; an emoji's variation selector is kept.
        assert_eq!(
            display("a\u{180E}b\u{34F}c\u{3164}d".as_bytes()),
            "a\\u{180E}b\\u{34F}c\\u{3164}d"
        );
        assert_eq!(display("\u{2764}\u{FE0F}".as_bytes()), "\u{2764}\u{FE0F}");
    }

    #[test]
    fn child_joins_with_a_slash_below_the_root() {
        assert_eq!(child(b"", b"x"), b"x");
        assert_eq!(child(b"a\xff", b"x"), b"a\xff/x");
    }

    #[test]
    fn a_batch_reads_every_file_once_by_its_directory() {
        let root = own_dir("batch");
        let _ = std::fs::remove_dir_all(&root);
        // A big directory (several slices), a small one, one replaced by a
        // symlink since listing, and one that is gone.
        for d in ["big", "small", "real", "moved"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let mut batch: Vec<(usize, u64, Vec<u8>)> = Vec::new();
        for i in 0..200 {
            let rel = format!("big/f{i}");
            std::fs::write(root.join(&rel), format!("content {i}")).unwrap();
            batch.push((
                batch.len(),
                format!("content {i}").len() as u64,
                rel.into_bytes(),
            ));
        }
        std::fs::write(root.join("small/x"), b"x").unwrap();
        std::fs::write(root.join("top"), b"top").unwrap();
        std::fs::write(root.join("real/y"), b"y").unwrap();
        std::fs::write(root.join("moved/z"), b"z").unwrap();
        for (rel, size) in [("small/x", 1), ("top", 3), ("link/y", 1), ("moved/z", 1)] {
            batch.push((batch.len(), size, rel.as_bytes().to_vec()));
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::fs::remove_dir_all(root.join("moved")).unwrap();
        let refs: Vec<(usize, u64, &[u8])> = batch
            .iter()
            .map(|(k, s, p)| (*k, *s, p.as_slice()))
            .collect();
        let mut results = read_batch(&root, &refs, |f, size| full_of(&f, size));
        results.sort_by_key(|r| r.0);
        assert_eq!(results.len(), batch.len());
        for ((k, r), (k2, size, rel)) in results.iter().zip(&batch) {
            assert_eq!(k, k2);
            let path = join(&root, rel);
            match rel.as_slice() {
                b"link/y" | b"moved/z" => assert!(r.is_err(), "{r:?}"),
                _ => assert_eq!(r.as_ref().unwrap(), &full(&path, *size).unwrap()),
            }
        }
        let e = results[results.len() - 2].1.as_ref().unwrap_err();
        #[cfg(unix)]
        assert!(e.contains("symlink"), "{e}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_big_directory_lists_as_a_small_one_would() {
        let root = own_dir("listing");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("d/sub")).unwrap();
        let n = 3 * STAT_SLICE + 7;
        for i in 0..n {
            std::fs::write(root.join(format!("d/{i:05}")), vec![0u8; i]).unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink("00001", root.join("d/link")).unwrap();
        let listed = list(&root, b"d").unwrap();
        assert_eq!(
            listed.len(),
            n + 1,
            "files and the subdirectory, no symlink"
        );
        let paths: Vec<&[u8]> = listed.iter().map(Entry::path).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "sorted by name");
        for e in &listed {
            match e {
                Entry::File(p, seen) => {
                    let m = std::fs::symlink_metadata(join(&root, p)).unwrap();
                    assert_eq!((seen.size, seen.modified_ns), (m.len(), modified_ns(&m)));
                    {
                        use std::os::unix::fs::MetadataExt;
                        assert_eq!(seen.inode, m.ino());
                    }
                }
                Entry::Dir(p) => assert_eq!(p, b"d/sub"),
                Entry::Bad(p, e) => panic!("{p:?}: {e}"),
            }
        }
        let e = list(&root, b"d/00001").err().unwrap();
        assert!(e.contains("not a directory"), "{e}");
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A directory of this test's own (tests run at once).
    fn own_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dizzy-scan-{name}-{}", std::process::id()))
    }
}
