//! Shared helpers for dizzy's behaviour, crash and property tests.

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
        cmd.args(["build", "--quiet", "-p", "dizzy", "--bin", "dizzy"]);
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
/// paths) for every content shared by two or more regular files.
pub fn expected_duplicates(root: &Path) -> Vec<(String, Vec<String>)> {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -print0 | xargs -0 sha256sum")
        .current_dir(root)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success());
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (hash, path) = line.split_once("  ").expect("sha256sum line");
        groups
            .entry(hash.to_owned())
            .or_default()
            .push(path.trim_start_matches("./").to_owned());
    }
    groups
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(h, mut v)| {
            v.sort();
            (h, v)
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

/// The bytes of a file, for "left exactly as it was" checks.
pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}
