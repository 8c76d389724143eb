//! Shared helpers for dizzy's behaviour, crash and property tests.

pub mod browser;
pub mod hostile;
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `dizzy` binary, built (once) in the profile the tests run in.
pub fn dizzy_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable lives in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_owned();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "dizzy-tool", "--bin", "dizzy"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the dizzy binary failed");
        let bin = profile_dir.join(format!("dizzy{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
    .clone()
}

/// A command running the `dizzy` binary.
pub fn dizzy() -> Command {
    Command::new(dizzy_bin())
}

/// Runs `dizzy args`, which must succeed; returns its stdout.
pub fn dizzy_ok(args: &[&str]) -> String {
    let out = dizzy().args(args).output().expect("run dizzy");
    assert!(
        out.status.success(),
        "dizzy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs `dizzy args`, which must succeed and print JSON; returns it.
pub fn dizzy_json(args: &[&str]) -> serde_json::Value {
    let text = dizzy_ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("dizzy {args:?}: {e}: {text}"))
}

/// Runs `dizzy demo dedupe TREE --db DB --json`, which must succeed; returns
/// its report.
pub fn dedupe_json(tree: &Path, db: &Path) -> serde_json::Value {
    dizzy_json(&[
        "demo",
        "dedupe",
        tree.to_str().expect("a UTF-8 test path"),
        "--db",
        db.to_str().expect("a UTF-8 test path"),
        "--json",
    ])
}

/// A small deterministic PRNG (splitmix64), so that generated data is the
/// same on every run with the same seed.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Writes a tree of `files` files under `root`, spread over nested
/// directories, where about a third of the files repeat the content of an
/// earlier one; a symlink and an empty directory are included. Returns the
/// relative paths written.
pub fn make_tree(root: &Path, files: usize, max_size: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut contents: Vec<Vec<u8>> = Vec::new();
    let mut paths = Vec::new();
    std::fs::create_dir_all(root.join("empty/dir")).unwrap();
    for i in 0..files {
        let depth = rng.below(4) as usize;
        let mut dir = PathBuf::new();
        for d in 0..depth {
            dir.push(format!("d{}_{}", d, rng.below(5)));
        }
        std::fs::create_dir_all(root.join(&dir)).unwrap();
        let content = if !contents.is_empty() && rng.below(3) == 0 {
            contents[rng.below(contents.len() as u64) as usize].clone()
        } else {
            let len = rng.below(max_size as u64 + 1) as usize;
            let mut c = Vec::with_capacity(len);
            while c.len() < len {
                c.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
            c.truncate(len);
            contents.push(c.clone());
            c
        };
        let rel = dir.join(format!("f{i}.bin"));
        std::fs::write(root.join(&rel), content).unwrap();
        paths.push(rel.to_string_lossy().into_owned());
    }
    #[cfg(unix)]
    {
        let _ = std::os::unix::fs::symlink(root.join(&paths[0]), root.join("link-to-first"));
    }
    paths
}

/// The duplicate sets `sha256sum` would give for the tree: (hex, sorted
/// paths) for every content shared by two or more regular files. Paths are
/// read as bytes (`sha256sum -z` does not escape names) and sorted as
/// bytes, then shown as the demo shows them (`\xNN` for bytes that are not
/// UTF-8, see [`dizzy_demos::dedupe::display`]).
pub fn expected_duplicates(root: &Path) -> Vec<(String, Vec<String>)> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -print0 | xargs -0 sha256sum -z")
        .current_dir(root)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success());
    let mut groups: std::collections::BTreeMap<String, Vec<Vec<u8>>> = Default::default();
    for record in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let (hash, rest) = record.split_at(64);
        let path = rest.strip_prefix(b"  ").expect("sha256sum record");
        let path = path.strip_prefix(b"./").unwrap_or(path);
        groups
            .entry(String::from_utf8(hash.to_vec()).expect("hex"))
            .or_default()
            .push(path.to_vec());
    }
    groups
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(h, mut v)| {
            v.sort();
            let shown = v.iter().map(|p| dizzy_demos::dedupe::display(p)).collect();
            (h, shown)
        })
        .collect()
}

/// The duplicate sets of a `dizzy demo dedupe --json` report, as
/// [`expected_duplicates`] gives them.
pub fn reported_duplicates(report: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    report["duplicate_sets"]
        .as_array()
        .expect("duplicate_sets")
        .iter()
        .map(|s| {
            let paths = s["paths"]
                .as_array()
                .expect("paths")
                .iter()
                .map(|p| p.as_str().expect("path").to_owned())
                .collect();
            (s["sha256"].as_str().expect("sha256").to_owned(), paths)
        })
        .collect()
}

/// The paths of each duplicate set of a `dizzy demo dedupe --json`
/// report, the sets sorted.
pub fn reported_sets(report: &serde_json::Value) -> Vec<Vec<String>> {
    let mut sets: Vec<Vec<String>> = reported_duplicates(report)
        .into_iter()
        .map(|(_, paths)| paths)
        .collect();
    sets.sort();
    sets
}

/// The bytes of a file, for "left exactly as it was" checks.
pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// Faults to inject into a [`FaultyBackend`], armed from the test.
#[derive(Debug, Default)]
pub struct Faults {
    writes: std::sync::atomic::AtomicU64,
    syncs: std::sync::atomic::AtomicU64,
    fail_write_at: std::sync::atomic::AtomicU64,
    fail_sync_at: std::sync::atomic::AtomicU64,
    full: std::sync::atomic::AtomicBool,
    /// How many operations failed on purpose.
    pub injected: std::sync::atomic::AtomicU64,
}

impl Faults {
    /// The `n`-th write from now (1 = the next) fails with an I/O error.
    pub fn fail_write_in(&self, n: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        self.fail_write_at
            .store(self.writes.load(SeqCst) + n.max(1), SeqCst);
    }

    /// The `n`-th sync from now (1 = the next) fails with an I/O error.
    pub fn fail_sync_in(&self, n: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        self.fail_sync_at
            .store(self.syncs.load(SeqCst) + n.max(1), SeqCst);
    }

    /// Every write fails with "no space left on device" until [`Faults::clear`].
    pub fn disk_full(&self) {
        self.full.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.fail_write_at.store(0, SeqCst);
        self.fail_sync_at.store(0, SeqCst);
        self.full.store(false, SeqCst);
    }

    /// Writes and syncs seen so far.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.writes.load(SeqCst), self.syncs.load(SeqCst))
    }
}

/// A redb storage backend over a real file that fails on purpose: the seam
/// through which the storage-fault tests reach the file (like redb's own
/// crash-consistency tests).
#[derive(Debug)]
pub struct FaultyBackend {
    inner: redb::backends::FileBackend,
    /// The faults, shared with the test.
    pub faults: std::sync::Arc<Faults>,
}

impl FaultyBackend {
    /// Opens (or creates) `path` with no fault armed.
    pub fn open(path: &Path) -> (FaultyBackend, std::sync::Arc<Faults>) {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .expect("open the file");
        let faults = std::sync::Arc::new(Faults::default());
        let inner = redb::backends::FileBackend::new(file).expect("file backend");
        (
            FaultyBackend {
                inner,
                faults: faults.clone(),
            },
            faults,
        )
    }
}

fn injected(kind: std::io::ErrorKind, what: &str) -> std::io::Error {
    std::io::Error::new(kind, format!("injected fault: {what}"))
}

impl redb::StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.faults.full.load(SeqCst) && len > self.inner.len()? {
            self.faults.injected.fetch_add(1, SeqCst);
            return Err(injected(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.faults.syncs.fetch_add(1, SeqCst) + 1;
        if n == self.faults.fail_sync_at.load(SeqCst) {
            self.faults.injected.fetch_add(1, SeqCst);
            return Err(injected(std::io::ErrorKind::Other, "sync failed"));
        }
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.faults.writes.fetch_add(1, SeqCst) + 1;
        if self.faults.full.load(SeqCst) {
            self.faults.injected.fetch_add(1, SeqCst);
            return Err(injected(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        if n == self.faults.fail_write_at.load(SeqCst) {
            self.faults.injected.fetch_add(1, SeqCst);
            return Err(injected(std::io::ErrorKind::Other, "write failed"));
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// The ids of the snapshots the file at `db` holds, oldest first (through
/// `Store::open_to_read`, which verifies every page).
///
/// # Panics
/// If the file cannot be opened or read.
pub fn snapshot_ids(db: &Path) -> Vec<u64> {
    dizzy::Store::open_to_read(db)
        .unwrap()
        .snapshots()
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect()
}

/// Squashes `db` as `dizzy compact --squash` does: a build that registers
/// none of the app's types (it keeps their values) and has none of its
/// systems.
pub fn squash_without_the_apps_types(db: &Path) {
    let mut tool = dizzy::App::new()
        .db(db)
        .unknown_components(dizzy::Unknown::Keep)
        .as_tool()
        .snapshot_policy(dizzy::SnapshotPolicy::OFF)
        .open()
        .unwrap();
    assert!(tool.squash().unwrap().is_some(), "the file is squashed");
    tool.close().unwrap();
}

/// The uids of a packed uids chunk's body (docs/FORMAT.md, layout 3), read
/// as the format describes, independently of dizzy's own reader: each is the
/// zigzag of its difference from the one before (the first from 0), as a
/// LEB128 varint.
///
/// # Panics
/// If the body ends inside a varint.
pub fn unpack_uids(body: &[u8]) -> Vec<u64> {
    let (mut at, mut prev, mut out) = (0, 0u64, Vec::new());
    while at < body.len() {
        let (mut z, mut shift) = (0u64, 0);
        loop {
            let b = body[at];
            at += 1;
            z |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
        prev = prev.wrapping_add(d as u64);
        out.push(prev);
    }
    out
}

/// A dedupe run of `tree` into `db` in this process, started as `dizzy demo
/// dedupe --batch BATCH` starts one (snapshots only when asked): the tests
/// tick it themselves.
pub fn dedupe_runtime(tree: &Path, db: &Path, batch: usize) -> dizzy::Runtime {
    use dizzy_demos::dedupe::{Dedupe, DedupePlugin, Dir, Settings, Unlisted};
    let root = std::fs::canonicalize(tree).expect("the tree");
    let mut rt = dizzy::App::new()
        .db(db)
        .plugin(DedupePlugin {
            settings: Some(Settings {
                root: root.clone(),
                batch,
                batch_bytes: 64 << 20,
            }),
        })
        .snapshot_policy(dizzy::SnapshotPolicy::OFF)
        .open()
        .expect("open the run");
    rt.world_mut().resource_mut::<Dedupe>().root = root.to_string_lossy().into_owned();
    rt.spawn((
        Dir {
            path: String::new(),
        },
        Unlisted,
    ));
    rt
}
