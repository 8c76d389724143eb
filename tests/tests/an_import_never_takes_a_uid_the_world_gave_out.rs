//! A uid whose entity left is never given to an imported entity.
//!
//! - An entity despawned since the last snapshot leaves its uid "free" in
//!   the world, but the next delta still records that uid as gone: an
//!   import that kept a bundle's uid because it looked free lost the
//!   imported entity at the next reopen (the restore spawned it, then
//!   applied the recorded despawn). Found by a fresh tester (a hospital bed
//!   board).
//! - The first fix kept such a uid once a snapshot had recorded the
//!   departure, so which uids an import kept depended on when the writer
//!   happened to snapshot: a resumed run (which always starts with the
//!   departure recorded) kept a uid that the run that never stopped
//!   remapped, and the worlds differed by uid. Found by a fresh tester (an
//!   epidemic). A uid the world handed out is now never free again, under
//!   every conflict policy, whatever the snapshots.

use dizzy::prelude::*;
use dizzy::snapshots::{ExportOptions, OnConflict, Selection};

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Bed(u32);

fn app() -> App {
    App::new().component::<Bed>("ward.bed")
}

fn beds(rt: &mut Runtime) -> Vec<u32> {
    let w = rt.world_mut();
    let mut v: Vec<u32> = w.query::<&Bed>().iter(w).map(|b| b.0).collect();
    v.sort_unstable();
    v
}

#[test]
fn an_imported_entity_survives_the_reopen() {
    for policy in [
        OnConflict::Remap,
        OnConflict::Fail,
        OnConflict::Skip,
        OnConflict::Replace,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ward.redb");
        // The bundle: one bed, with the first uid a world hands out.
        let mut other = app().in_memory().open().unwrap();
        other.spawn(Bed(999));
        let bundle = other
            .export(
                &Selection::With("ward.bed".into()),
                &ExportOptions::default(),
            )
            .unwrap();

        let mut rt = app().db(&db).open().unwrap();
        let old = rt.spawn(Bed(1)); // the same uid here
        rt.spawn(Bed(2));
        rt.tick().unwrap();
        rt.snapshot().unwrap();
        rt.flush().unwrap();
        rt.world_mut().despawn(old);
        let map = rt.import(&bundle.bytes, policy, RefPolicy::Fail).unwrap();
        assert_eq!(map.len(), 1);
        assert_eq!(beds(&mut rt), [2, 999], "{policy:?}");
        rt.close().unwrap();

        let mut again = app().db(&db).open().unwrap();
        assert_eq!(beds(&mut again), [2, 999], "{policy:?}: after the reopen");
        again.close().unwrap();
    }
}

/// The same program, snapshotting at another pace, or resumed: the import
/// keeps or remaps the same uids.
#[test]
fn which_uids_an_import_keeps_does_not_depend_on_the_snapshots() {
    // The bundle: beds with the uids 2 and 3 of another world.
    let mut other = app().in_memory().open().unwrap();
    let first = other.spawn(Bed(900));
    other.spawn(Bed(901));
    other.tick().unwrap();
    let uid_of = |rt: &mut Runtime, e| *rt.world_mut().get::<Uid>(e).unwrap();
    assert_eq!(uid_of(&mut other, first).get(), 2);
    let bundle = other
        .export(
            &Selection::With("ward.bed".into()),
            &ExportOptions::default(),
        )
        .unwrap();

    // Tick 1: beds 2 to 6; the bed with uid 2 leaves between ticks 1 and
    // 2; the import comes between ticks 2 and 3. `snapshots` says after
    // which ticks a snapshot is made durable; `reopen_after` closes and
    // reopens the file after that tick.
    let run = |snapshots: &[u64], reopen_after: Option<u64>| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ward.redb");
        let open = || {
            app()
                .db(&db)
                .snapshot_policy(SnapshotPolicy::OFF)
                .open()
                .unwrap()
        };
        let mut rt = open();
        for b in 1..=5 {
            rt.spawn(Bed(b));
        }
        let mut map = None;
        for tick in 1..=4u64 {
            rt.tick().unwrap();
            if tick == 1 {
                let w = rt.world_mut();
                let gone = w
                    .query::<(Entity, &Uid)>()
                    .iter(w)
                    .find(|(_, u)| u.get() == 2)
                    .map(|(e, _)| e)
                    .unwrap();
                w.despawn(gone);
            }
            if tick == 2 {
                let m = rt.import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail);
                map = Some(m.unwrap());
            }
            if snapshots.contains(&tick) {
                rt.snapshot().unwrap();
                rt.flush().unwrap();
            }
            if reopen_after == Some(tick) {
                rt.close().unwrap();
                rt = open();
            }
        }
        let w = rt.world_mut();
        let mut beds: Vec<(u64, u32)> = w
            .query::<(&Uid, &Bed)>()
            .iter(w)
            .map(|(u, b)| (u.get(), b.0))
            .collect();
        beds.sort_unstable();
        rt.close().unwrap();
        (map.unwrap(), beds)
    };
    let never = run(&[], None);
    // Uid 2 left: the bed from the bundle with uid 2 gets a fresh one.
    assert_ne!(never.0[&2], 2, "{:?}", never.0);
    for (snapshots, reopen) in [
        (&[1u64][..], None),
        (&[1, 2, 3], None),
        (&[1], Some(1)),
        (&[], Some(1)),
        (&[2], Some(2)),
    ] {
        assert_eq!(
            run(snapshots, reopen),
            never,
            "snapshots after ticks {snapshots:?}, reopened after {reopen:?}"
        );
    }
}
