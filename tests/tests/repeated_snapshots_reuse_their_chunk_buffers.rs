//! Repeated full snapshots of a big world reuse the chunk buffers of the
//! last one (issue 14: fresh buffers were page-faulted in at every capture,
//! so its cost grew faster than the world): the writer gives each buffer
//! back once redb holds its copy, the next capture takes it again, the
//! memory kept stays bounded (and falls when the world shrinks), and what
//! reused buffers encode restores exactly (a buffer that kept old bytes
//! would show here).
//! One test in this file: the kept buffers are the whole process's.

use dizzy::components::buffers;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Reading {
    sensor: String,
    celsius: f64,
    samples: Vec<u16>,
}

const N: usize = 60_000;
const MIB: usize = 1 << 20;

fn reading(i: usize, round: usize) -> Reading {
    Reading {
        sensor: format!("bay-{}-probe-{i}", round * 7 + i % 13),
        celsius: (i as f64) * 0.25 - (round as f64) * 1.5,
        samples: (0..(i + round) % 40)
            .map(|k| (k * 31 + i + round) as u16)
            .collect(),
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Reading>("lab.reading")
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn rewrite(rt: &mut Runtime, round: usize) {
    let world = rt.world_mut();
    let mut q = world.query::<(&Uid, &mut Reading)>();
    for (uid, mut r) in q.iter_mut(world) {
        *r = reading(uid.get() as usize, round);
    }
}

fn saved(db: &std::path::Path) -> Vec<(u64, Reading)> {
    let mut rt = app(db).open().unwrap();
    let world = rt.world_mut();
    let mut rows: Vec<(u64, Reading)> = world
        .query::<(&Uid, &Reading)>()
        .iter(world)
        .map(|(u, r)| (u.get(), r.clone()))
        .collect();
    rows.sort_by_key(|(u, _)| *u);
    rt.close().unwrap();
    rows
}

#[test]
fn full_snapshots_reuse_buffers_within_the_bound_and_restore_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    let mut rt = app(&db).open().unwrap();
    rt.world_mut()
        .spawn_batch((0..N).map(|i| reading(i, 0)).collect::<Vec<_>>());
    assert_eq!(buffers::kept_bytes(), 0, "nothing kept before a snapshot");

    rt.snapshot_full().unwrap();
    rt.flush().unwrap();
    let first = buffers::kept_bytes();
    let bytes = rt.store().unwrap().latest().unwrap().unwrap().bytes as usize;
    assert!(
        bytes > 3 * MIB,
        "the snapshot spans several chunks: {bytes}"
    );
    // The chunk-sized buffers came back: most of the snapshot's bytes.
    assert!(
        first >= bytes / 2 && first <= buffers::KEPT_BYTES,
        "kept {first} bytes after a snapshot of {bytes}"
    );

    // Every value changes, and the next full snapshot takes the kept
    // buffers instead of new ones: what comes back is about as much again,
    // not twice as much.
    rewrite(&mut rt, 1);
    rt.snapshot_full().unwrap();
    rt.flush().unwrap();
    let second = buffers::kept_bytes();
    assert!(
        second < first + first / 2,
        "kept {second} bytes after a second snapshot, {first} after the first"
    );

    // More of them keep about as much, not more at each one (a small
    // request used to take a chunk-sized buffer, and the next chunk a new
    // one: fresh tester t14k saw the kept bytes reach the bound).
    for round in 2..10 {
        rewrite(&mut rt, round);
        rt.snapshot_full().unwrap();
        rt.flush().unwrap();
        let kept = buffers::kept_bytes();
        assert!(
            kept <= second + second / 10,
            "kept {kept} bytes after full snapshot {round}, {second} after the second"
        );
    }

    // The world shrinks to a tenth: once the chunk-sized buffers it no
    // longer needs have sat unused through IDLE_CAPTURES full snapshots,
    // they are freed.
    let world = rt.world_mut();
    let gone: Vec<Entity> = world
        .query_filtered::<Entity, With<Reading>>()
        .iter(world)
        .skip(N / 10)
        .collect();
    for e in gone {
        world.despawn(e);
    }
    // Two ticks, after which bevy no longer holds the removals for
    // `RemovedComponents` readers (nor the snapshots their values).
    rt.tick().unwrap();
    rt.tick().unwrap();
    for _ in 0..=buffers::IDLE_CAPTURES {
        rt.snapshot_full().unwrap();
        rt.flush().unwrap();
    }
    let small = rt.store().unwrap().latest().unwrap().unwrap().bytes as usize;
    let kept = buffers::kept_bytes();
    assert!(
        kept <= 2 * small + 2 * MIB,
        "kept {kept} bytes for full snapshots of {small}, {second} before the world shrank"
    );

    // A delta after them, then the resumed world holds every new value.
    rewrite(&mut rt, 10);
    rt.snapshot().unwrap();
    rt.close().unwrap();
    let got = saved(&db);
    let want: Vec<(u64, Reading)> = got
        .iter()
        .map(|(u, _)| (*u, reading(*u as usize, 10)))
        .collect();
    assert_eq!(got.len(), N / 10);
    assert!(
        got == want,
        "the resumed world differs from the last one saved"
    );

    buffers::clear();
    assert_eq!(buffers::kept_bytes(), 0);
}
