//! The inspection path (what `show`, `stats`, `diff`, `trace` and
//! `export-table` read through) never panics on a broken file: chunks and
//! snapshot records of the hostile-input fixture, with bits flipped, cut
//! short or overwritten with absurd lengths, give a clear error or a
//! readable world, for every snapshot, decoding everything or nothing, of
//! every entity or of a few.
//! (The exhaustive version of this sweep, run once in release, tried about
//! 60,000 cases; this one samples them.)

use std::panic::{AssertUnwindSafe, catch_unwind};

use dizzy::snapshots::fuzzing::{self, Raw};
use dizzy::snapshots::{Decode, Inspector};
use dizzy_tests::{Rng, hostile};

/// Inspects every snapshot of `raw`; returns how many inspections failed
/// with an error. Panics (naming `what`) if inspecting panicked.
fn inspect_all(raw: &Raw, registry: &dizzy::Registry, what: &dyn Fn() -> String) -> usize {
    let store = fuzzing::memory_store("hostile").unwrap();
    fuzzing::write_raw(&store, raw).unwrap();
    let mut errors = 0;
    // The third pass keeps a few uids only (`show --uid`).
    for (decode, only) in [
        (Decode::All, false),
        (Decode::Nothing, false),
        (Decode::All, true),
    ] {
        let run = catch_unwind(AssertUnwindSafe(|| {
            let Ok(mut inspector) = Inspector::new(&store, registry, decode) else {
                return 1;
            };
            if only {
                inspector = inspector.only_uids((2..6).collect());
            }
            let Ok(metas) = inspector.snapshots() else {
                return 1;
            };
            let ids: Vec<u64> = metas.iter().map(|m| m.id).collect();
            ids.into_iter()
                .filter(|&id| inspector.at(Some(id)).is_err())
                .count()
        }));
        match run {
            Ok(n) => errors += n,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("{}: inspection panicked: {msg}", what());
            }
        }
    }
    errors
}

/// Mutations of `bytes`: sampled bit flips, cuts, and absurd varints.
fn mutations(bytes: &[u8], rng: &mut Rng, per_kind: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if bytes.is_empty() {
        return out;
    }
    for _ in 0..per_kind {
        let bit = rng.below(bytes.len() as u64 * 8) as usize;
        let mut v = bytes.to_vec();
        v[bit / 8] ^= 1 << (bit % 8);
        out.push((format!("bit {bit} flipped"), v));
        let cut = rng.below(bytes.len() as u64) as usize;
        out.push((format!("cut at {cut}"), bytes[..cut].to_vec()));
        let at = rng.below(bytes.len() as u64) as usize;
        let absurd: &[u8] = if rng.below(2) == 0 {
            &[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x40]
        } else {
            &[0xfc, 0xff, 0xff, 0xff, 0xff]
        };
        let mut v = bytes.to_vec();
        for (i, b) in absurd.iter().enumerate() {
            if let Some(x) = v.get_mut(at + i) {
                *x = *b;
            }
        }
        out.push((format!("absurd length at {at}"), v));
    }
    out
}

#[test]
fn broken_chunks_and_records_are_errors_not_panics() {
    let raw = hostile::fixture();
    let registry = hostile::registry();
    assert_eq!(
        inspect_all(&raw, &registry, &|| "the intact fixture".into()),
        0
    );
    let mut rng = Rng(5);
    let (mut cases, mut errors) = (0, 0);
    for (ci, (key, bytes)) in raw.chunks.iter().enumerate() {
        for (how, v) in mutations(bytes, &mut rng, 25) {
            let mut broken = raw.clone();
            broken.chunks[ci].1 = v;
            errors += inspect_all(&broken, &registry, &|| format!("chunk {key:?}, {how}"));
            cases += 1;
        }
    }
    for (ri, (id, bytes)) in raw.records.iter().enumerate() {
        for (how, v) in mutations(bytes, &mut rng, 60) {
            let mut broken = raw.clone();
            broken.records[ri].1 = v;
            errors += inspect_all(&broken, &registry, &|| format!("record {id}, {how}"));
            cases += 1;
        }
    }
    assert!(errors > 0, "broken input was noticed");
    println!("{cases} broken files inspected, {errors} clear errors, 0 panics");
}
