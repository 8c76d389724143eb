//! An entity despawned since the last snapshot leaves its uid "free" in
//! the world, but the next delta still records that uid as gone: an import
//! that kept a bundle's uid because it looked free lost the imported
//! entity at the next reopen (the restore spawned it, then applied the
//! recorded despawn). Found by a fresh tester (a hospital bed board). Such
//! a uid now gets a fresh one, whatever the conflict policy.

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
