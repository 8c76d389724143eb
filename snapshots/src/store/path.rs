//! What a path is before redb sees it: a directory, a device, an empty
//! file, a path through a regular file; and whether an I/O error means the
//! file cannot be written.

use std::path::Path;

use crate::error::StoreOpenError;

/// What a file that is neither a regular file nor a directory is, as a
/// phrase for messages: `a character device`, `a block device`, `a named
/// pipe`, `a socket`, or `not a regular file`.
pub fn file_kind(m: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    let _ = m;
    "not a regular file"
}

/// Checks the path before redb sees it.
pub(super) fn precheck(path: &Path, must_exist: bool) -> Result<bool, StoreOpenError> {
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") && !path.is_dir() {
        return Err(StoreOpenError::BadPath {
            path: path.to_owned(),
            reason: "ends in `/`, so it names a directory; a dizzy file needs a file name (`DIR/run.redb`)".into(),
        });
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(StoreOpenError::IsDirectory {
            path: path.to_owned(),
        }),
        Ok(m) if !m.is_file() => Err(StoreOpenError::NotRegular {
            path: path.to_owned(),
            kind: file_kind(&m),
        }),
        Ok(m) if m.len() == 0 && reads_data(path) => Err(StoreOpenError::NotRegular {
            path: path.to_owned(),
            kind: "a special file (it reports 0 bytes but reads data, as files of /proc and /sys do)",
        }),
        Ok(m) if m.len() == 0 => Err(StoreOpenError::Empty {
            path: path.to_owned(),
        }),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(StoreOpenError::BadPath {
            path: path.to_owned(),
            reason: not_a_directory(path),
        }),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            Err(StoreOpenError::DanglingLink {
                path: path.to_owned(),
                target: std::fs::read_link(path).unwrap_or_default(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreOpenError::Missing {
            path: path.to_owned(),
        }),
        Err(e) => Err(StoreOpenError::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

/// Whether the file at `path`, which reports 0 bytes, reads data (a file
/// of /proc or /sys).
fn reads_data(path: &Path) -> bool {
    use std::io::Read;
    std::fs::File::open(path).is_ok_and(|mut f| f.read(&mut [0u8; 1]).is_ok_and(|n| n > 0))
}

/// Which part of `path` is not a directory: the deepest of its parents
/// that exists.
fn not_a_directory(path: &Path) -> String {
    for a in path.ancestors().skip(1) {
        if a.as_os_str().is_empty() {
            continue;
        }
        if let Ok(m) = std::fs::metadata(a) {
            if !m.is_dir() {
                let what = if m.is_file() { "a file" } else { file_kind(&m) };
                return format!("`{}` is {what}, not a directory", a.display());
            }
            break;
        }
    }
    "a part of the path is not a directory".into()
}

/// No write permission, or read-only media.
pub(super) fn not_writable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}
