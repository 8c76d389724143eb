//! Files the commands write (`export -o`, `export-table -o`): whole or not
//! at all, never over the database they read, never over a user's file
//! other than the one named.
//!
//! A file is written under a temporary name of its own in the target's
//! directory (`.dizzy-<pid>-<n>.tmp`, created exclusively, so it cannot be a
//! file that already exists, and short, so it fits wherever the target's
//! name fits), synced, renamed onto the target, and the directory synced:
//! after a crash the target is either the old file or the whole new one.
//! A symbolic link is followed (the file it names is replaced, the link
//! stays); a file replaced keeps its permissions (a file with other hard
//! links gets a new inode: its other names keep the old content). A target
//! that is not a regular file — a device such as `/dev/stdout` or
//! `/dev/null`, a named pipe — is written in place, never replaced.

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
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(std::fs::Metadata::is_dir) {
        return Err(CliError::new(format!(
            "{}: is a directory; name a file to write",
            path.display()
        )));
    }
    if let Some(m) = existing.as_ref().filter(|m| !m.is_file()) {
        // A device or a pipe: written in place (replacing it would turn a
        // system's `/dev/null` into a file, or leave a pipe's reader
        // waiting forever).
        let file = File::options().write(true).open(path).map_err(named)?;
        let mut out = BufWriter::new(file);
        return f(&mut out).and_then(|()| out.flush()).map_err(|e| {
            CliError::new(format!(
                "{} ({}): {e}",
                path.display(),
                dizzy_snapshots::file_kind(m)
            ))
        });
    }
    let target = resolve_link(path);
    let dir = directory_of(&target);
    let (tmp, file) = create_temporary(&dir).map_err(named)?;
    // The file replaced keeps its permissions (a 0600 file stays private).
    if let Some(m) = &existing
        && let Err(e) = file.set_permissions(m.permissions())
    {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(named(e));
    }
    let mut out = BufWriter::new(file);
    let written = f(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| out.get_ref().sync_all())
        .and_then(|()| std::fs::rename(&tmp, &target));
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

/// The file `path` names, through symbolic links (also a link whose target
/// does not exist yet): what a write replaces.
fn resolve_link(path: &Path) -> PathBuf {
    let mut at = path.to_owned();
    // A bound on chains of links (as the kernel's 40).
    for _ in 0..40 {
        let is_link = std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            break;
        }
        let Ok(next) = std::fs::read_link(&at) else {
            break;
        };
        at = if next.is_absolute() {
            next
        } else {
            directory_of(&at).join(next)
        };
    }
    at
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

    #[cfg(unix)]
    #[test]
    fn links_are_followed_permissions_kept_and_devices_written_in_place() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, b"old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        write_file(&link, |w| w.write_all(b"new")).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link stays a link"
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the file keeps its permissions");
        // A dangling link: the file it names is created.
        let dangling = dir.path().join("dangling.txt");
        std::os::unix::fs::symlink("made.txt", &dangling).unwrap();
        write_file(&dangling, |w| w.write_all(b"made")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("made.txt")).unwrap(), b"made");
        // A device is written in place, not replaced.
        write_file(Path::new("/dev/null"), |w| w.write_all(b"gone")).unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        let full = write_file(Path::new("/dev/full"), |w| w.write_all(&[0; 65536]));
        let e = full.unwrap_err().to_string();
        assert!(
            e.contains("/dev/full") && e.contains("character device"),
            "{e}"
        );
        assert!(!std::fs::metadata("/dev/full").unwrap().is_file());
    }
}
