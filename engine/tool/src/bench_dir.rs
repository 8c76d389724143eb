//! What every `dizzy bench` command shares: the directory it works in
//! (made, marked, removed; left behind only by a benchmark that was killed,
//! and then removed by the next one), the check that a size fits in memory
//! (which `demo particles` makes too), and a sweep's child that ends with
//! its parent.

use std::io::Read;
use std::path::{Path, PathBuf};

use dizzy_cli::CliError;

/// The file that marks a benchmark's own directory (only such directories
/// are ever removed as left behind).
const MARKER: &str = ".dizzy-bench";

/// The directory a benchmark makes its own directory in: `--dir`, which
/// must be an existing directory (a benchmark never creates the one named:
/// a mistyped path would be left behind), or the system's temp dir.
///
/// # Errors
///
/// `--dir` missing, not a directory, or not readable, named.
pub(crate) fn base_dir(dir: Option<&Path>) -> Result<PathBuf, CliError> {
    let Some(dir) = dir else {
        return Ok(std::env::temp_dir());
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(dir.to_owned()),
        Ok(_) => Err(CliError::new(format!(
            "--dir {}: not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::new(format!(
            "--dir {}: no such directory (the benchmark creates none; make it first)",
            dir.display()
        ))),
        Err(e) => Err(CliError::new(format!("--dir {}: {e}", dir.display()))),
    }
}

/// A benchmark's own directory, `dizzy-bench-<pid>[-<kind>]` in
/// [`base_dir`], holding [`MARKER`]; removed when dropped (also when the
/// benchmark fails or panics). Making one first removes those of
/// benchmarks of any kind whose process is gone (killed, or stopped by a
/// signal, before they could clean up: up to gigabytes at 10M entities).
pub(crate) struct BenchDir(PathBuf);

impl BenchDir {
    /// Makes the directory of this process's benchmark of `kind` (`""`
    /// for `bench snapshot`).
    ///
    /// # Errors
    ///
    /// `--dir` as [`base_dir`]; the directory cannot be made.
    pub(crate) fn new(dir: Option<&Path>, kind: &str) -> Result<BenchDir, CliError> {
        let base = base_dir(dir)?;
        remove_dirs_of_dead_benchmarks(&base);
        let mut name = format!("dizzy-bench-{}", std::process::id());
        if !kind.is_empty() {
            name = format!("{name}-{kind}");
        }
        let path = base.join(name);
        let named = |e: std::io::Error| {
            // `base` was just found to be a directory: "not found" here is
            // a file system that makes none in it (procfs answers so).
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} makes no new directories (the file system answered: {e})",
                    base.display()
                )
            } else {
                e.to_string()
            };
            CliError::new(format!(
                "cannot make the benchmark's directory {}: {why}",
                path.display()
            ))
        };
        // Only a directory this call made is ever removed on drop (one that
        // failed to be made, as already there, is not ours); one made whose
        // marker cannot be written is.
        std::fs::create_dir(&path).map_err(named)?;
        let marked = std::fs::write(path.join(MARKER), b"").map_err(named);
        let dir = BenchDir(path);
        marked.map(|()| dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the directories `dizzy-bench-<pid>[-<kind>]` in `base` that a
/// benchmark killed before it could clean up left behind: those holding
/// [`MARKER`] whose process `<pid>` is gone
/// ([`dizzy::snapshots::left_by_gone_processes`]).
pub(crate) fn remove_dirs_of_dead_benchmarks(base: &Path) {
    for path in dizzy::snapshots::left_by_gone_processes(base, "dizzy-bench-", "") {
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir())
            && std::fs::symlink_metadata(path.join(MARKER)).is_ok_and(|m| m.is_file());
        if !ours {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => eprintln!(
                "bench: removed {}, left by a benchmark that was stopped",
                path.display()
            ),
            Err(e) => eprintln!("bench: {} cannot be removed: {e}", path.display()),
        }
    }
}

/// Refuses a benchmark of `entities` at `bytes_per_entity` each that would
/// not fit in the memory this machine has available (`MemAvailable` of
/// `/proc/meminfo`, Linux; elsewhere no check), before anything is
/// allocated.
///
/// # Errors
///
/// Too large: the figures, in GiB.
pub(crate) fn check_fits(entities: usize, bytes_per_entity: u64) -> Result<(), CliError> {
    let Some(available) = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    }) else {
        return Ok(());
    };
    let needed = (entities as u64).saturating_mul(bytes_per_entity);
    if needed > available {
        return Err(CliError::new(format!(
            "{entities} entities need about {:.1} GiB of memory; {:.1} GiB is available",
            needed as f64 / (1u64 << 30) as f64,
            available as f64 / (1u64 << 30) as f64
        )));
    }
    Ok(())
}

/// In a sweep's child (its stdin a pipe the parent never writes to): ends
/// this process, removing `dir`, once the parent is gone and the pipe
/// closes, so that a parent killed with `kill -9` leaves no benchmark
/// running for nobody.
pub(crate) fn exit_with_parent(dir: PathBuf) {
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        // EOF (the parent's end closed) or an error: the parent is gone.
        while matches!(std::io::stdin().read(&mut byte), Ok(n) if n > 0) {}
        // The benchmark's thread may still be making files in `dir`: a
        // removal that one made fail (not empty) is tried again.
        for _ in 0..200 {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => break,
            }
        }
        eprintln!("bench: the sweep that started this benchmark is gone; stopping");
        std::process::exit(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_marked_directories_of_gone_processes_are_removed() {
        let base = std::env::temp_dir().join(format!("dizzy-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        // A pid no process has (above the kernel's limit), of two kinds,
        // ours, and a directory of that name without the marker (not a
        // benchmark's).
        let gone = base.join("dizzy-bench-4294967295");
        let gone_kind = base.join("dizzy-bench-4294967295-replicate");
        let live = base.join(format!("dizzy-bench-{}", std::process::id()));
        let foreign = base.join("dizzy-bench-4294967294");
        for (dir, marked) in [
            (&gone, true),
            (&gone_kind, true),
            (&live, true),
            (&foreign, false),
        ] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("bench-0.redb"), b"x").unwrap();
            if marked {
                std::fs::write(dir.join(MARKER), b"").unwrap();
            }
        }
        remove_dirs_of_dead_benchmarks(&base);
        if Path::new("/proc/self").exists() {
            assert!(!gone.exists(), "left by a process that is gone");
            assert!(!gone_kind.exists(), "of another kind, left by one gone");
        }
        assert!(live.exists(), "a running benchmark's");
        assert!(foreign.exists(), "not a benchmark's");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_directory_already_there_is_refused_and_left_alone() {
        let base = tempfile::tempdir().unwrap();
        let there = base
            .path()
            .join(format!("dizzy-bench-{}-taken", std::process::id()));
        std::fs::create_dir(&there).unwrap();
        std::fs::write(there.join("data"), b"someone's").unwrap();
        assert!(BenchDir::new(Some(base.path()), "taken").is_err());
        assert_eq!(std::fs::read(there.join("data")).unwrap(), b"someone's");
    }

    #[test]
    fn a_bench_dir_is_removed_when_dropped() {
        let base = tempfile::tempdir().unwrap();
        let dir = BenchDir::new(Some(base.path()), "kind").unwrap();
        let path = dir.path().to_owned();
        assert!(path.join(MARKER).is_file());
        assert!(path.to_string_lossy().ends_with("-kind"));
        drop(dir);
        assert!(!path.exists());
    }
}
