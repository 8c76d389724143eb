//! Broken and hostile bytes wherever a dizzy file holds data — a snapshot
//! record, a chunk, the whole file — and in bundles, truncated at every offset, with bits
//! flipped and with absurd length prefixes, give a clear error or (for a
//! change that still decodes) a valid world: never a panic, never a world
//! that breaks dizzy's invariants, never more memory than a small multiple
//! of the input (`dizzy_tests::hostile::budget`, measured by a counting
//! allocator). Through the binary: exit code 0 or 1 with a one-line
//! `error:` naming the file, never a panic's 101 or a signal.
//!
//! The in-process cases run the same entry points as the fuzz targets in
//! `tests/fuzz`, whose seed corpora and past findings are replayed here too.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dizzy::snapshots::fuzzing::{self, Raw};
use dizzy_tests::hostile::{self, CountingAlloc, Outcome};
use dizzy_tests::{Rng, dizzy};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Memory is measured process-wide: one case at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    // dizzy installs no panic hook: redb's panics on damaged pages are
    // caught around its calls, and their message goes to the program's
    // hook. This program prints one line, without the backtrace the
    // default hook would capture (and count as memory) under
    // RUST_BACKTRACE=1.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("{info}"))));
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a group of cases ended in.
#[derive(Debug, Default)]
struct Tally {
    rejected: usize,
    restored: usize,
    /// Rejections where redb's reader panicked on a damaged page and dizzy
    /// turned that into its error (counted apart: redb's, not dizzy's).
    contained: usize,
}

impl Tally {
    /// Runs one case; a panic (from a decoder, or from the memory and
    /// world checks of `hostile`) fails the test naming the case.
    fn case(&mut self, what: &dyn Fn() -> String, f: impl FnOnce() -> Outcome) -> Outcome {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(o) => {
                match &o {
                    Outcome::Rejected(e) => {
                        self.rejected += 1;
                        self.contained += usize::from(e.contains("redb stopped with"));
                    }
                    Outcome::Restored(_) => self.restored += 1,
                }
                o
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{}: panicked: {msg}", what())
            }
        }
    }

    fn report(&self, what: &str) {
        println!(
            "{what}: {} bad inputs rejected ({} where redb's reader panicked, contained), {} \
             decoded to a valid world, 0 panics",
            self.rejected, self.contained, self.restored
        );
    }
}

/// The offsets at which `bytes` holds a length prefix or any integer: every
/// offset; the mutations below overwrite there with an absurd varint.
const ABSURD: [&[u8]; 4] = [
    &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x40], // u64: 2^62
    &[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // u64::MAX
    &[0xfc, 0xff, 0xff, 0xff, 0xff],    // u32::MAX
    &[0xfb, 0xff, 0xff],                // u16::MAX
];

fn overwrite(bytes: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    let end = (at + with.len()).min(v.len());
    v[at..end].copy_from_slice(&with[..end - at]);
    v
}

#[test]
fn snapshot_records() {
    let _serial = serial();
    let (fixture, _) = hostile::shared();
    let mut t = Tally::default();
    let mut rng = Rng(0x5eed_0001);
    for (id, record) in &fixture.records {
        let id = *id;
        // The real record restores.
        let ok = t.case(&|| format!("record {id}"), || hostile::fuzz_meta(record));
        assert!(matches!(ok, Outcome::Restored(_)), "record {id}: {ok:?}");
        // Every truncation is an error (the encoding is prefix-free).
        for cut in 0..record.len() {
            let o = t.case(&|| format!("record {id} cut at {cut}"), || {
                hostile::fuzz_meta(&record[..cut])
            });
            assert!(
                matches!(o, Outcome::Rejected(_)),
                "record {id} cut at {cut}: {o:?}"
            );
        }
        // Every bit of the first 160 bytes (ids, kinds, ticks, counts, the
        // first schemas), then one random bit of every later byte.
        for bit in 0..record.len() * 8 {
            if bit >= 160 * 8 && bit % 8 != rng.below(8) as usize {
                continue;
            }
            let mut m = record.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            t.case(&|| format!("record {id}, bit {bit} flipped"), || {
                hostile::fuzz_meta(&m)
            });
        }
        // An absurd length (2^62 as a u64, u32::MAX) at every offset.
        for at in 0..record.len() {
            for with in [ABSURD[0], ABSURD[2]] {
                let m = overwrite(record, at, with);
                t.case(&|| format!("record {id}, {with:x?} at {at}"), || {
                    hostile::fuzz_meta(&m)
                });
            }
        }
    }
    t.report("snapshot records");
}

#[test]
fn chunks() {
    let _serial = serial();
    let (fixture, _) = hostile::shared();
    let mut t = Tally::default();
    let mut rng = Rng(0x5eed_0002);
    for (i, (key, chunk)) in fixture.chunks.iter().enumerate() {
        let input = |bytes: &[u8]| {
            let mut v = vec![i as u8];
            v.extend_from_slice(bytes);
            v
        };
        let ok = t.case(&|| format!("chunk {key:?}"), || {
            hostile::fuzz_chunk(&input(chunk))
        });
        assert!(matches!(ok, Outcome::Restored(_)), "chunk {key:?}: {ok:?}");
        // Every truncation is an error: a chunk is used exactly.
        for cut in 0..chunk.len() {
            let o = t.case(&|| format!("chunk {key:?} cut at {cut}"), || {
                hostile::fuzz_chunk(&input(&chunk[..cut]))
            });
            assert!(
                matches!(o, Outcome::Rejected(_)),
                "chunk {key:?} cut at {cut}: {o:?}"
            );
        }
        // Every bit of the header, one random bit of every payload byte.
        for bit in 0..chunk.len() * 8 {
            if bit >= 16 * 8 && bit % 8 != rng.below(8) as usize {
                continue;
            }
            let mut m = chunk.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            t.case(&|| format!("chunk {key:?}, bit {bit} flipped"), || {
                hostile::fuzz_chunk(&input(&m))
            });
        }
        // Absurd header fields: layout, group, first row, row count.
        for (at, with) in [
            (0, &[3u8][..]),
            (0, &[255]),
            (4, &[0xff, 0xff, 0xff, 0xff]),
            (8, &[0xff, 0xff, 0xff, 0xff]),
            (12, &[0xff, 0xff, 0xff, 0xff]),
            (12, &[0, 0, 0, 0x80]),
            (12, &[0, 0, 0, 0]),
        ] {
            let m = overwrite(chunk, at, with);
            t.case(&|| format!("chunk {key:?}, {with:x?} at {at}"), || {
                hostile::fuzz_chunk(&input(&m))
            });
        }
        // An absurd integer or length prefix at every payload offset.
        for at in 16..chunk.len() {
            for with in ABSURD {
                let m = overwrite(chunk, at, with);
                t.case(&|| format!("chunk {key:?}, {with:x?} at {at}"), || {
                    hostile::fuzz_chunk(&input(&m))
                });
            }
        }
    }
    t.report("chunks");
}

#[test]
fn bundles() {
    let _serial = serial();
    let mut t = Tally::default();
    let mut rng = Rng(0x5eed_0005);
    let seeds = hostile::bundle_seeds();
    assert!(seeds.len() >= 4, "bundles exported from the fixture");
    // Two selections (files; duplicate sets and the files they reference),
    // each as a whole file and as a body.
    for (i, seed) in seeds.iter().enumerate().take(4) {
        let (how, bytes) = (seed[0], &seed[1..]);
        let input = |b: &[u8]| [&[how][..], b].concat();
        let ok = t.case(&|| format!("bundle {i}"), || hostile::fuzz_bundle(seed));
        assert!(matches!(ok, Outcome::Restored(_)), "bundle {i}: {ok:?}");
        // Every truncation is an error (a whole bundle fails its length
        // check; a body, its decoder).
        for cut in 0..bytes.len() {
            let o = t.case(&|| format!("bundle {i} cut at {cut}"), || {
                hostile::fuzz_bundle(&input(&bytes[..cut]))
            });
            assert!(
                matches!(o, Outcome::Rejected(_)),
                "bundle {i} cut at {cut}: {o:?}"
            );
        }
        if how & 1 == 0 {
            // A whole bundle with any bit flipped fails its checksum.
            for at in 0..bytes.len() {
                let mut m = bytes.to_vec();
                m[at] ^= 1 << rng.below(8);
                let o = t.case(&|| format!("bundle {i}, byte {at} flipped"), || {
                    hostile::fuzz_bundle(&input(&m))
                });
                assert!(
                    matches!(o, Outcome::Rejected(_)),
                    "bundle {i} byte {at}: {o:?}"
                );
            }
            continue;
        }
        // A body (wrapped again with a valid checksum) reaches the decoder
        // and the import: bits flipped and absurd lengths at random offsets.
        for _ in 0..400 {
            let at = rng.below(bytes.len() as u64) as usize;
            let bit = rng.below(8);
            let mut m = bytes.to_vec();
            m[at] ^= 1 << bit;
            t.case(&|| format!("bundle {i}, bit {bit} of byte {at}"), || {
                hostile::fuzz_bundle(&input(&m))
            });
        }
        for _ in 0..300 {
            let at = rng.below(bytes.len() as u64) as usize;
            let with = ABSURD[rng.below(ABSURD.len() as u64) as usize];
            let m = overwrite(bytes, at, with);
            t.case(&|| format!("bundle {i}, {with:x?} at {at}"), || {
                hostile::fuzz_bundle(&input(&m))
            });
        }
    }
    t.report("bundles");
}

/// The fixture with one record replaced by `edit` of its decoded form.
fn with_record(fixture: &Raw, id: u64, edit: impl FnOnce(&mut dizzy::SnapshotMeta)) -> Vec<u8> {
    let (_, bytes) = fixture
        .records
        .iter()
        .find(|(i, _)| *i == id)
        .expect("record");
    let mut meta = fuzzing::decode_meta(bytes).expect("decode");
    edit(&mut meta);
    fuzzing::encode_meta(&meta).expect("encode")
}

/// Records and chunks written to claim what no file could hold: each must be
/// an error, or a valid world, within the memory budget (each of these
/// once made restore reserve gigabytes, or abort).
#[test]
fn crafted_claims() {
    let _serial = serial();
    let (fixture, registry) = hostile::shared();
    let mut t = Tally::default();
    let full = fixture.records[0].0;
    let delta = fixture.records[1].0;

    // A column that claims 4 billion chunks (reserved up front before).
    let m = with_record(fixture, full, |m| m.columns[0].chunks = u32::MAX);
    let o = t.case(&|| "u32::MAX chunks".into(), || hostile::fuzz_meta(&m));
    assert!(
        matches!(o, Outcome::Rejected(ref e) if e.contains("chunks found")),
        "{o:?}"
    );

    // Groups that claim 2^64 - 1 rows (128 MiB reserved per group before).
    let m = with_record(fixture, full, |m| {
        for g in &mut m.groups {
            g.rows = u64::MAX;
        }
    });
    let o = t.case(&|| "u64::MAX rows".into(), || hostile::fuzz_meta(&m));
    assert!(matches!(o, Outcome::Rejected(_)), "{o:?}");

    // Thousands of groups, each claiming 2^40 rows.
    let m = with_record(fixture, full, |m| {
        let g = m.groups[0].clone();
        m.groups = vec![dizzy::snapshots::GroupMeta { rows: 1 << 40, ..g }; 4_000];
    });
    let o = t.case(&|| "4000 groups".into(), || hostile::fuzz_meta(&m));
    assert!(matches!(o, Outcome::Rejected(_)), "{o:?}");

    // A delta that spawns 4,000 entities whose uids are 65,000 apart: the
    // dense uid index once grew by 0.5 MiB per 8-byte uid (2 GiB here).
    let spawn_at = fixture
        .chunks
        .iter()
        .position(|(k, _)| k.0 == delta && k.1 == "@spawn")
        .expect("@spawn chunk");
    let old = &fixture.chunks[spawn_at].1;
    assert_eq!(old[0], 3, "packed uids");
    let real = dizzy_tests::unpack_uids(&old[16..]);
    let spaced: Vec<u64> = (1..=4_000u64).map(|i| i * 65_000 + 7).chain(real).collect();
    // Written as uids of format 2 (`u64` LE), which a build still reads.
    let mut chunk = vec![2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    chunk.extend_from_slice(&(spaced.len() as u32).to_le_bytes());
    for u in &spaced {
        chunk.extend_from_slice(&u.to_le_bytes());
    }
    let mut raw = fixture.clone();
    raw.chunks[spawn_at].1 = chunk.clone();
    let record = with_record(fixture, delta, |m| {
        if let Some(c) = m.columns.iter_mut().find(|c| c.name == "@spawn") {
            c.rows = spaced.len() as u64;
        }
    });
    raw.records.retain(|(id, _)| *id != delta);
    raw.records.push((delta, record));
    let base = CountingAlloc::mark();
    let o = t.case(&|| "spaced uids".into(), || {
        hostile::restore_raw(&raw, registry).expect("valid")
    });
    let peak = CountingAlloc::peak_above(base);
    assert!(
        matches!(o, Outcome::Restored(n) if n > 4_000),
        "spaced uids restore: {o:?}"
    );
    assert!(
        peak <= hostile::budget(chunk.len()),
        "{} bytes of uids held {peak} bytes",
        chunk.len()
    );

    // A row count of u32::MAX over a few bytes of payload.
    for (i, (key, bytes)) in fixture.chunks.iter().enumerate() {
        let mut input = vec![i as u8];
        input.extend_from_slice(&overwrite(bytes, 12, &[0xff; 4]));
        let o = t.case(&|| format!("{key:?} with u32::MAX rows"), || {
            hostile::fuzz_chunk(&input)
        });
        assert!(matches!(o, Outcome::Rejected(_)), "{key:?}: {o:?}");
    }
    t.report("crafted claims");
}

/// A small dizzy file, closed cleanly or left as a crash leaves it.
fn fixture_file(dir: &Path, clean: bool) -> Vec<u8> {
    let path = dir.join(if clean { "clean.redb" } else { "unclean.redb" });
    let mut rt = hostile::app().db(&path).open().expect("open");
    hostile::populate(&mut rt);
    if clean {
        rt.close().expect("close");
        return std::fs::read(&path).expect("read");
    }
    let bytes = std::fs::read(&path).expect("read");
    drop(rt);
    bytes
}

#[test]
fn whole_files() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let scratch = dir.path().join("scratch.redb");
    let mut t = Tally::default();
    let mut rng = Rng(0x5eed_0003);
    for clean in [true, false] {
        let file = fixture_file(dir.path(), clean);
        let name = if clean { "clean" } else { "unclean" };
        let o = t.case(&|| format!("{name} file"), || {
            hostile::fuzz_file(&file, &scratch)
        });
        assert!(matches!(o, Outcome::Restored(_)), "{name}: {o:?}");
        // Truncated around every page boundary and at random offsets.
        let mut cuts: Vec<usize> = (0..=file.len() / 4096)
            .flat_map(|p| [p * 4096, p * 4096 + 1, (p * 4096).saturating_sub(1)])
            .chain((0..48).map(|_| rng.below(file.len() as u64) as usize))
            .filter(|&c| c < file.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts {
            t.case(&|| format!("{name} file cut at {cut}"), || {
                hostile::fuzz_file(&file[..cut], &scratch)
            });
        }
        // Bits flipped where the file holds data, and whole pages zeroed.
        let data: Vec<usize> = (0..file.len()).filter(|&i| file[i] != 0).collect();
        for _ in 0..if clean { 300 } else { 100 } {
            let at = data[rng.below(data.len() as u64) as usize];
            let bit = rng.below(8);
            let mut m = file.clone();
            m[at] ^= 1 << bit;
            t.case(&|| format!("{name} file, bit {bit} of byte {at}"), || {
                hostile::fuzz_file(&m, &scratch)
            });
        }
        for page in 0..file.len() / 4096 {
            let mut m = file.clone();
            m[page * 4096..(page + 1) * 4096].fill(0);
            t.case(&|| format!("{name} file, page {page} zeroed"), || {
                hostile::fuzz_file(&m, &scratch)
            });
        }
    }
    t.report("whole files");
}

/// Runs the binary; returns (exit code, stderr). A panic (101) or a signal
/// fails the test.
fn run(args: &[&str], db: &Path) -> (i32, String) {
    let out = dizzy()
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("DIZZY_LOG")
        .output()
        .expect("run dizzy");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("dizzy {args:?} was killed by a signal: {stderr}"));
    assert!(
        code == 0 || code == 1,
        "dizzy {args:?} exited {code}: {stderr}"
    );
    if code == 1 {
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        let name = db.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(stderr.contains(name), "names the file: {stderr}");
    }
    (code, stderr)
}

#[test]
fn whole_files_through_the_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("p.redb");
    let (code, err) = run(
        &[
            "demo",
            "particles",
            "--entities",
            "40",
            "--ticks",
            "6",
            "--json",
        ],
        &db,
    );
    assert_eq!(code, 0, "{err}");
    let file = std::fs::read(&db).expect("read");
    let mut rng = Rng(0x5eed_0004);
    let data: Vec<usize> = (0..file.len()).filter(|&i| file[i] != 0).collect();
    let (mut rejected, mut ran) = (0, 0);
    for i in 0..16 {
        let m = if i % 2 == 0 {
            file[..rng.below(file.len() as u64) as usize].to_vec()
        } else {
            let mut m = file.clone();
            for _ in 0..4 {
                let at = data[rng.below(data.len() as u64) as usize];
                m[at] ^= 1 << rng.below(8);
            }
            m
        };
        let path: PathBuf = dir.path().join(format!("m{i}.redb"));
        std::fs::write(&path, &m).expect("write");
        for args in [
            &["snapshots"][..],
            &["demo", "particles", "--ticks", "8", "--json"],
        ] {
            match run(args, &path).0 {
                0 => ran += 1,
                _ => rejected += 1,
            }
        }
    }
    println!(
        "whole files through the binary: {rejected} rejected with one line, {ran} ran, 0 panics"
    );
}

/// The fuzz targets' seeds and every finding they made, replayed.
#[test]
fn fuzz_corpora_replay() {
    let _serial = serial();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let dir = tempfile::tempdir().expect("temp dir");
    let scratch = dir.path().join("scratch.redb");
    let mut t = Tally::default();
    let mut files = 0;
    for set in ["seeds", "regressions"] {
        for target in ["meta", "chunk", "file", "bundle"] {
            let Ok(entries) = std::fs::read_dir(root.join(set).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("entry").path();
                let bytes = std::fs::read(&path).expect("read");
                files += 1;
                t.case(&|| path.display().to_string(), || match target {
                    "meta" => hostile::fuzz_meta(&bytes),
                    "chunk" => hostile::fuzz_chunk(&bytes),
                    "bundle" => hostile::fuzz_bundle(&bytes),
                    _ => hostile::fuzz_file(&bytes, &scratch),
                });
            }
        }
    }
    assert!(files > 0, "the seed corpora are in {}", root.display());
    t.report("fuzz seeds and findings");
}
