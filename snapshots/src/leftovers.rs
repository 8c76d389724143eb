//! What processes killed before they could clean up leave behind: files
//! and directories named after their pid, found by whether that process
//! still lives.

use std::path::{Path, PathBuf};

/// The entries of `dir` named `<prefix><pid>[-<n>]<suffix>` whose process
/// `<pid>` is gone, where `/proc` tells which processes live (elsewhere:
/// none). A pid reused by another process keeps its entries until that
/// process is gone too.
pub fn left_by_gone_processes(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    if !Path::new("/proc/self").exists() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            name.to_str()
                .and_then(|f| f.strip_prefix(prefix))
                .and_then(|f| f.strip_suffix(suffix))
                .map(|f| f.split_once('-').map_or(f, |(pid, _)| pid))
                .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
                .is_some_and(|pid| !Path::new("/proc").join(pid).exists())
        })
        .map(|entry| entry.path())
        .collect()
}

/// Removes the temporaries `.dizzy-<pid>[-<n>]<suffix>` in the directory of
/// `path` whose process `<pid>` is gone (killed before it could remove
/// them): see [`left_by_gone_processes`].
pub fn remove_temporaries_of_dead_processes(path: &Path, suffix: &str) {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    for path in left_by_gone_processes(dir, ".dizzy-", suffix) {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(
                "{}: removed the temporary of a process that is gone",
                path.display()
            ),
            Err(e) => tracing::warn!(
                "{}: the temporary of a process that is gone cannot be removed: {e}",
                path.display()
            ),
        }
    }
}
