//! The chunk buffers kept between snapshots follow what the snapshots use
//! (issue 14; fresh tester t14m's cases): values whose encoded size the
//! capture cannot know before it writes them (strings, lists of strings),
//! so that a chunk's buffer grows while it is written; a relationship's
//! order list, a chunk made outside the kept buffers; full snapshots in a
//! row and deltas between them. Before, such a world kept 5 to 12 times a
//! snapshot's bytes after a few snapshots; now what is kept stays where
//! the first snapshots left it. One test in this file: the kept buffers
//! are the whole process's.

use dizzy::components::buffers;
use dizzy::prelude::*;
use dizzy::snapshots::CaptureSettings;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Shelf(String);

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Lots(Vec<String>);

const N: usize = 100_000;
const AISLES: usize = 40;

fn lots(i: usize, round: usize) -> Lots {
    Lots(
        (0..(i * 31 + round) % 7)
            .map(|j| "x".repeat((i * 13 + j * 7 + round) % 49))
            .collect(),
    )
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Shelf>("store.shelf")
        .component::<Lots>("store.lots")
        .component::<ChildOf>("store.child_of")
        .snapshot_policy(SnapshotPolicy::OFF)
        .capture_settings(CaptureSettings {
            max_chain: 4,
            ..Default::default()
        })
}

fn latest_bytes(rt: &Runtime) -> usize {
    rt.store().unwrap().latest().unwrap().unwrap().bytes as usize
}

#[test]
fn kept_buffers_stay_where_the_first_snapshots_left_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.redb");
    let mut rt = app(&db).open().unwrap();
    buffers::clear();
    let world = rt.world_mut();
    let aisles: Vec<Entity> = (0..AISLES)
        .map(|i| world.spawn(Shelf(format!("aisle {i}"))).id())
        .collect();
    for i in 0..N {
        world.spawn((
            Shelf(format!("{i:0>20}")),
            lots(i, 0),
            ChildOf(aisles[i % AISLES]),
        ));
    }

    // Full snapshots of an unchanged world.
    let mut kept = Vec::new();
    for _ in 0..8 {
        rt.snapshot_full().unwrap();
        rt.flush().unwrap();
        kept.push(buffers::kept_bytes());
    }
    let bytes = latest_bytes(&rt);
    let settled = kept[1];
    assert!(
        settled <= 2 * bytes,
        "kept {settled} bytes after the second full snapshot of {bytes}"
    );
    for (k, &now) in kept.iter().enumerate().skip(2) {
        assert!(
            now <= settled + settled / 10,
            "kept {now} bytes after full snapshot {}, {settled} after the second: {kept:?}",
            k + 1
        );
    }

    // Deltas of a tenth of the lists (about 1 MB each, fresh tester t14n's
    // case: kept bytes grew to 3.5 times a full snapshot, as the deltas'
    // buffers, sized from the type, grew while written); a full snapshot
    // after every four.
    let mut during = Vec::new();
    for round in 1..=30 {
        let world = rt.world_mut();
        let mut q = world.query::<(&Uid, &mut Lots)>();
        for (uid, mut l) in q.iter_mut(world) {
            let i = uid.get() as usize;
            if (i + round).is_multiple_of(10) {
                *l = lots(i, round);
            }
        }
        rt.tick().unwrap();
        rt.snapshot().unwrap();
        rt.flush().unwrap();
        during.push(buffers::kept_bytes());
    }
    let most = during.iter().copied().max().unwrap_or(0);
    assert!(
        most <= settled + settled / 4,
        "kept up to {most} bytes with deltas, {settled} after the full snapshots: {during:?}"
    );

    rt.close().unwrap();
    buffers::clear();
    assert_eq!(buffers::kept_bytes(), 0);
}
