//! Children spawned after a full snapshot (so restored from a delta) come
//! back exactly: no child twice in its parent's list, and in the order the
//! user gave, whatever the children's component sets.

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug)]
struct Tray(u32);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Vial(u32);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Hazard;

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Tray>("m.tray")
        .component::<Vial>("m.vial")
        .component::<Hazard>("m.hazard")
        .component::<ChildOf>("m.child_of")
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn show(run: &mut Runtime) -> Vec<(u32, Vec<u32>)> {
    let w = run.world_mut();
    let mut q = w.query::<(&Tray, Option<&Children>)>();
    let mut v: Vec<(u32, Vec<u32>)> = q
        .iter(w)
        .map(|(t, c)| {
            (
                t.0,
                c.map(|c| {
                    c.iter()
                        .map(|k| w.get::<Vial>(k).map_or(u32::MAX, |v| v.0))
                        .collect()
                })
                .unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn children_spawned_with_their_parent_after_a_full_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let mut run = app(&path).open().unwrap();
    run.world_mut()
        .spawn((Tray(0), children![Vial(10), Vial(11)]));
    run.snapshot_full().unwrap();
    run.flush().unwrap();
    run.world_mut()
        .spawn((Tray(2), children![Vial(1), Vial(2)]));
    let before = show(&mut run);
    run.close().unwrap();
    let mut run = app(&path).open().unwrap();
    assert_eq!(show(&mut run), before);
}

#[test]
fn children_of_several_shapes_keep_their_order_through_a_delta() {
    for full_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let mut run = app(&path).open().unwrap();
        let tray = run.spawn(Tray(1));
        if full_first {
            run.snapshot_full().unwrap();
            run.flush().unwrap();
        }
        let a = run.spawn(Vial(1));
        let b = run.spawn((Vial(2), Hazard));
        let c = run.spawn(Vial(3));
        run.world_mut().entity_mut(tray).add_children(&[a, b, c]);
        let before = show(&mut run);
        assert_eq!(before, [(1, vec![1, 2, 3])]);
        run.close().unwrap();
        let mut run = app(&path).open().unwrap();
        assert_eq!(show(&mut run), before, "full snapshot first: {full_first}");
    }
}

/// Found by the model test: a delta that takes children out of a parent's
/// list (or moves them to another parent) and then despawns the parent
/// restores the children — bevy's linked despawn takes only what the live
/// despawn took.
#[test]
fn children_taken_out_before_their_parent_is_despawned_survive_a_delta() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let mut run = app(&path).open().unwrap();
    let old = run.spawn(Tray(1));
    let new = run.spawn(Tray(2));
    let kept = run.spawn(Vial(10));
    let moved = run.spawn(Vial(11));
    let gone = run.spawn(Vial(12));
    run.world_mut()
        .entity_mut(old)
        .add_children(&[kept, moved, gone]);
    run.snapshot_full().unwrap();
    run.flush().unwrap();
    run.world_mut().entity_mut(kept).remove::<ChildOf>();
    run.world_mut().entity_mut(new).add_children(&[moved]);
    run.world_mut().despawn(old); // takes `gone` with it
    let before = show(&mut run);
    assert_eq!(before, [(2, vec![11])]);
    let vials = |run: &mut Runtime| {
        let w = run.world_mut();
        let mut v: Vec<u32> = w.query::<&Vial>().iter(w).map(|v| v.0).collect();
        v.sort();
        v
    };
    assert_eq!(vials(&mut run), [10, 11]);
    run.close().unwrap();
    let mut run = app(&path).open().unwrap();
    assert_eq!(show(&mut run), before);
    assert_eq!(vials(&mut run), [10, 11]);
}

/// Lists whose order is not the table's: children moved between parents
/// at random, some put at the front of their new list, so that every list
/// interleaves rows from all over the table. A full restore inserts the
/// relationship in an order that keeps every list (merged by table row);
/// this checks the lists, full snapshot and delta, against the live world.
#[test]
fn lists_in_no_table_order_restore_in_their_order() {
    for full_last in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let mut run = app(&path).open().unwrap();
        let trays: Vec<Entity> = (0..40).map(|i| run.spawn(Tray(i))).collect();
        let vials: Vec<Entity> = (0..2_000)
            .map(|i| run.spawn((Vial(i), ChildOf(trays[(i % 40) as usize]))))
            .collect();
        run.snapshot_full().unwrap();
        let mut z = 0x2545_F491_4F6C_DD1Du64;
        for round in 0..6 {
            for _ in 0..300 {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                let vial = vials[(z % 2_000) as usize];
                let tray = trays[((z >> 20) % 40) as usize];
                let w = run.world_mut();
                if z >> 40 & 1 == 0 {
                    w.entity_mut(tray).insert_children(0, &[vial]);
                } else {
                    w.entity_mut(vial).insert(ChildOf(tray));
                }
            }
            if round % 2 == 1 {
                run.snapshot().unwrap();
            }
        }
        if full_last {
            run.snapshot_full().unwrap();
        }
        let before = show(&mut run);
        assert!(
            before.iter().any(|(_, l)| !l.is_sorted()),
            "the moves left every list in table order"
        );
        run.close().unwrap();
        let mut run = app(&path).open().unwrap();
        assert_eq!(show(&mut run), before, "full snapshot last: {full_last}");
    }
}
