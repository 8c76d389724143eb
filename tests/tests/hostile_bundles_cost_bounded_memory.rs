//! Guards what an import reads before it checks (issue 12, item 4):
//! `/dev/zero`, a 1 GiB sparse file, a 256 MiB file with a valid header and
//! a wrong checksum are refused at the cost of a few MiB; a crafted bundle
//! with a valid checksum that claims many entities stays within the stated
//! budget (32 MiB + 4 × the bundle + 320 bytes per entity carried, peak RSS
//! of the `dizzy import` process, measured by wait4). Old (format 1)
//! bundles still import, their SHA-256 verified.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use dizzy::snapshots::{BundleBody, write_bundle};
use dizzy_tests::{dizzy_bin, dizzy_json};

/// `struct rusage` of Linux (x86-64 and aarch64: every field is 8 bytes).
#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss_kib: i64,
    rest: [i64; 13],
}

unsafe extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

/// Runs `dizzy args`; returns (exit code, stderr, peak RSS in bytes,
/// seconds taken).
fn measured(args: &[&str]) -> (i32, String, u64, f64) {
    let err = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let child = Command::new(dizzy_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut status = 0i32;
    let mut usage = Rusage::default();
    // SAFETY: `child.id()` is our child, not yet waited for (std never
    // waits for it: the `Child` is forgotten below); `status` and `usage`
    // are valid for writes of their C types.
    let pid = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    std::mem::forget(child);
    let code = if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    };
    let stderr = std::fs::read_to_string(err.path()).unwrap();
    (
        code,
        stderr,
        usage.maxrss_kib as u64 * 1024,
        started.elapsed().as_secs_f64(),
    )
}

const MIB: u64 = 1 << 20;

#[test]
fn input_that_is_not_a_bundle_costs_a_few_mib() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.redb");
    let db = db.to_string_lossy();
    let sparse = dir.path().join("sparse.bundle");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    // A valid header announcing the 256 MiB body the file holds, and a
    // wrong checksum.
    let forged = dir.path().join("forged.bundle");
    {
        use std::io::Write;
        let codec = dizzy::components::codec::CODEC.as_bytes();
        let mut f = std::fs::File::create(&forged).unwrap();
        let header = 8 + 4 + 4 + codec.len() + 8;
        let total: u64 = 256 << 20;
        f.write_all(b"DIZZYBDL").unwrap();
        f.write_all(&dizzy::snapshots::BUNDLE_VERSION.to_le_bytes())
            .unwrap();
        f.write_all(&(codec.len() as u32).to_le_bytes()).unwrap();
        f.write_all(codec).unwrap();
        f.write_all(&(total - header as u64 - 8).to_le_bytes())
            .unwrap();
        f.set_len(total).unwrap();
    }
    let mut refused = 0;
    for (input, says) in [
        ("/dev/zero", "not a regular file"),
        (&*sparse.to_string_lossy(), "bundle magic"),
        (&*forged.to_string_lossy(), "checksum does not match"),
    ] {
        let (code, err, rss, secs) = measured(&["import", "--db", &db, input]);
        assert_eq!(code, 1, "{input}: {err}");
        assert!(err.contains(input) && err.contains(says), "{input}: {err}");
        assert!(
            rss < 64 * MIB,
            "{input}: peak RSS {} MiB (budget 64 MiB)",
            rss / MIB
        );
        assert!(secs < 120.0, "{input}: {secs} s");
        eprintln!(
            "{input}: refused, peak RSS {:.1} MiB",
            rss as f64 / MIB as f64
        );
        refused += 1;
    }
    assert!(
        !Path::new(&*db).exists(),
        "nothing created for refused input"
    );
    assert_eq!(refused, 3);
}

#[test]
fn a_crafted_bundle_claiming_many_entities_stays_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let n: u64 = 200_000;
    let body = BundleBody {
        schemas: Vec::new(),
        uids: (2..n + 2).collect(),
        columns: Vec::new(),
        source: "crafted".into(),
    };
    let bundle = dir.path().join("many.bundle");
    let bytes = write_bundle(&body).unwrap();
    std::fs::write(&bundle, &bytes).unwrap();
    let db = dir.path().join("many.redb");
    let started = Instant::now();
    let (code, err, rss, _) = measured(&[
        "import",
        "--db",
        &db.to_string_lossy(),
        &bundle.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    let budget = 32 * MIB + 4 * bytes.len() as u64 + 320 * n;
    eprintln!(
        "hostile input memory: {n} entities in {} bytes: peak RSS {:.1} MiB (budget {:.1} MiB), {:?}",
        bytes.len(),
        rss as f64 / MIB as f64,
        budget as f64 / MIB as f64,
        started.elapsed()
    );
    assert!(
        rss <= budget,
        "peak RSS {} MiB over the budget of {} MiB",
        rss / MIB,
        budget / MIB
    );
    let list = dizzy_json(&["snapshots", "--db", &db.to_string_lossy(), "--json"]);
    assert_eq!(list[0]["entities"], n);
}

#[test]
fn a_bundle_of_format_1_imports_with_its_sha256_verified() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundle-format-1.bundle");
    let bytes = std::fs::read(&fixture).unwrap();
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes(), "a format 1 bundle");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.redb");
    let imported = dizzy_json(&[
        "import",
        "--db",
        &db.to_string_lossy(),
        &fixture.to_string_lossy(),
    ]);
    assert_eq!(imported["imported"], 5, "{imported}");
    let sets = dizzy_json(&[
        "show",
        "--db",
        &db.to_string_lossy(),
        "--with",
        "dedupe.duplicate_set",
        "--json",
    ]);
    assert_eq!(sets.as_array().unwrap().len(), 1, "{sets}");
    // One flipped byte in the body: the SHA-256 no longer matches.
    let mut damaged = bytes.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x40;
    let bad = dir.path().join("damaged.bundle");
    std::fs::write(&bad, &damaged).unwrap();
    let o = Command::new(dizzy_bin())
        .args(["import", "--db"])
        .arg(dir.path().join("other.redb"))
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("checksum does not match"), "{err}");
}
