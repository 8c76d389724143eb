//! Files the commands write (`export -o`, `export-table -o`): whole or not
//! at all, never over the database they read, never over a user's file
//! other than the one named.
//!
//! A file is written under a temporary name of its own in the target's
//! directory (`.dizzy-<pid>-<n>.tmp`, created exclusively, so it cannot be a
//! file that already exists, and short, so it fits wherever the target's
//! name fits), synced, renamed onto the target, and the directory synced:
//! after a crash the target is either the old file or the whole new one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::CliError;

/// Refuses `out` if it is the file `db` (by path, through a link, or the
/// same file under another name): writing it would destroy the database.
pub(crate) fn refuse_database(out: &Path, db: &Path) -> Result<(), CliError> {
    if same_file(out, db) {
        return Err(CliError::new(format!(
            "{}: is the database {} itself; write the output to another file",
            out.display(),
            db.display()
        )));
    }
    Ok(())
}

/// Whether `a` and `b` name the same file: the same device and inode (links,
/// other names), or the same canonical path.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b))
            && ma.dev() == mb.dev()
            && ma.ino() == mb.ino()
        {
            return true;
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(ca), Ok(cb)) => ca == cb,
        _ => false,
    }
}

/// The directory a file `path` lives in.
fn directory_of(path: &Path) -> PathBuf {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_owned(),
        None => PathBuf::from("."),
    }
}

/// Creates a new temporary file in `dir` under a name no file had.
fn create_temporary(dir: &Path) -> std::io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".dizzy-{}-{n}.tmp", std::process::id()));
        match File::options().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes `path` whole through `f`: into a temporary file beside it,
/// synced, renamed onto `path`, the directory synced. On any error no
/// temporary file is left and `path` is as it was. Errors name `path`.
pub(crate) fn write_file(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let named = |e: std::io::Error| CliError::new(format!("{}: {e}", path.display()));
    if path.is_dir() {
        return Err(CliError::new(format!(
            "{}: is a directory; name a file to write",
            path.display()
        )));
    }
    let dir = directory_of(path);
    let (tmp, file) = create_temporary(&dir).map_err(named)?;
    let mut out = BufWriter::new(file);
    let written = f(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| out.get_ref().sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    drop(out);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(named(e));
    }
    // The rename is durable once the directory is.
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CliError::new(format!("{}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        std::fs::write(&target, b"old").unwrap();
        let e = write_file(&target, |_| Err(std::io::Error::other("boom")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("out.txt") && e.contains("boom"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
