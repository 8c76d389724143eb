//! Guards memory with big components (issue 12, item 5): 24 values of
//! 4 MiB (96 MiB of data) are saved, a new snapshot of them is taken after
//! half changed, and they are restored; the process's peak resident memory
//! (VmHWM, reset between phases) stays within the budget the README
//! states: 4 × the data (the world's copy; at a snapshot one encoded copy
//! in flight; at a restore the chunks read and the values decoded from
//! them) plus 32 MiB (what redb's page cache holds, bounded at 64 MiB by
//! default, and the rest of the process). redb's default cache alone would
//! be 1 GiB.
//! One test in this file: the measure is the whole process's.

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Photo(#[serde(with = "bytes")] Vec<u8>);

mod bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = a.next_element()? {
                    v.push(b);
                }
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

const COUNT: usize = 24;
const SIZE: usize = 4 << 20;
const MIB: u64 = 1 << 20;

/// The peak resident memory since the last reset, in bytes.
fn peak() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Resets the peak to the current resident memory (Linux 4.0+).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Photo>("big.photo")
        .snapshot_policy(SnapshotPolicy::OFF)
}

#[test]
fn big_values_are_saved_changed_and_restored_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("photos.redb");
    let data = (COUNT * SIZE) as u64;
    let budget = 4 * data + 32 * MIB;
    let mut phases = Vec::new();

    let mut rt = app(&db).open().unwrap();
    for i in 0..COUNT {
        rt.spawn(Photo(vec![i as u8; SIZE]));
    }
    reset_peak();
    rt.snapshot_full().unwrap();
    rt.flush().unwrap();
    phases.push(("full snapshot", peak()));

    let mut q = rt.world_mut().query::<&mut Photo>();
    let world = rt.world_mut();
    for mut p in q.iter_mut(world).take(COUNT / 2) {
        p.0[0] ^= 1;
    }
    reset_peak();
    rt.snapshot().unwrap();
    rt.close().unwrap();
    phases.push(("delta of half", peak()));

    reset_peak();
    let mut again = app(&db).open().unwrap();
    phases.push(("restore", peak()));
    let n = again
        .world_mut()
        .query::<&Photo>()
        .iter(again.world())
        .filter(|p| p.0.len() == SIZE)
        .count();
    assert_eq!(n, COUNT);
    drop(again);

    for (phase, bytes) in &phases {
        eprintln!(
            "big values: {phase}: peak RSS {:.0} MiB for {} MiB of data ({:.2}x)",
            *bytes as f64 / MIB as f64,
            data / MIB,
            *bytes as f64 / data as f64
        );
    }
    for (phase, bytes) in phases {
        assert!(
            bytes <= budget,
            "{phase}: peak RSS {} MiB over the budget of {} MiB",
            bytes / MIB,
            budget / MIB
        );
    }
}
