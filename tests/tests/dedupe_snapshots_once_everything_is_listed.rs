//! `dizzy demo dedupe` snapshots once every directory is listed, before a
//! file is read (issue 14: the writer makes the listing durable while the
//! files are read): the file's first snapshot holds every file and
//! directory, listed (and sorted by size), with no hash yet; its last one
//! the finished run.

use dizzy::prelude::*;
use dizzy::snapshots::{RestoreOptions, Store, restore};
use dizzy_demos::dedupe::{self, Dir, File, PartialHash, Sha256, Stage, Unlisted};
use dizzy_tests::{dizzy_json, expected_duplicates, make_tree, reported_duplicates};

#[test]
fn the_first_snapshot_holds_the_whole_listing_and_no_hash() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let paths = make_tree(&tree, 150, 3000, 7);
    let db = dir.path().join("d.redb");
    let report = dizzy_json(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(reported_duplicates(&report), expected_duplicates(&tree));
    let last = report["snapshot"].as_u64().unwrap();
    assert!(
        last >= 2,
        "a snapshot after the listing, then the last: {report}"
    );

    let store = Store::open_to_read(&db).unwrap();
    let app = dizzy_demos::registry_app();
    let first = RestoreOptions {
        snapshot: Some(1),
        ..RestoreOptions::default()
    };
    let mut restored = restore(&store, app.registry(), &first).unwrap();
    let world = &mut restored.world;
    let count =
        |w: &mut World, stage: Stage| w.query::<&Stage>().iter(w).filter(|s| **s == stage).count();
    assert_eq!(world.query::<&File>().iter(world).count(), paths.len());
    // Listed, or already sorted by size (by_size runs in the tick that
    // lists the last directory): nothing read.
    let not_read: usize = [Stage::Listed, Stage::Partial, Stage::Done]
        .into_iter()
        .map(|s| count(world, s))
        .sum();
    assert_eq!(not_read, paths.len(), "every file listed, none read");
    assert!(dedupe::listed(world), "no directory left to list");
    assert_eq!(
        world
            .query_filtered::<(), With<Unlisted>>()
            .iter(world)
            .count(),
        0
    );
    assert!(
        world.query::<&Dir>().iter(world).count() > 1,
        "the directories"
    );
    assert_eq!(world.query::<&PartialHash>().iter(world).count(), 0);
    assert_eq!(world.query::<&Sha256>().iter(world).count(), 0);
    assert!(!dedupe::done(world));

    let mut restored = restore(&store, app.registry(), &RestoreOptions::default()).unwrap();
    assert_eq!(restored.meta.id, last);
    assert!(dedupe::done(&restored.world));
    let world = &mut restored.world;
    assert_eq!(count(world, Stage::Done), paths.len());
}
