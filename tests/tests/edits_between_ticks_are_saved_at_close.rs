//! Changes made between ticks — spawns, edits, removals, despawns and
//! resource changes through `world_mut()` or `spawn` — are persisted by
//! `close()` (and `finish`, and the final snapshot of `run_until`), decided
//! by the world's own change ticks, not by whether a tick ran; a close with
//! nothing changed writes nothing.

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Task(u64);

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Note(String);

#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Budget(u64);

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Task>("e.task")
        .component::<Note>("e.note")
        .resource("e.budget", Budget(10))
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn tasks(rt: &mut Runtime) -> Vec<(u64, Option<String>)> {
    let mut out: Vec<(u64, Option<String>)> = rt
        .world_mut()
        .query::<(&Task, Option<&Note>)>()
        .iter(rt.world())
        .map(|(t, n)| (t.0, n.map(|n| n.0.clone())))
        .collect();
    out.sort();
    out
}

fn snapshot_count(db: &std::path::Path) -> usize {
    dizzy::Store::open_read_only(db)
        .unwrap()
        .snapshots()
        .unwrap()
        .len()
}

#[test]
fn close_saves_every_edit_made_since_the_last_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.redb");
    let mut rt = app(&db).open().unwrap();
    let keep = rt.spawn((Task(1), Note("first".into())));
    let gone = rt.spawn(Task(2));
    rt.spawn(Task(3));
    rt.close().unwrap();

    // Reopen, then edit without running a tick.
    let mut rt = app(&db).open().unwrap();
    let keep = {
        let w = rt.world_mut();
        let mut q = w.query::<(Entity, &Task)>();
        let found: Vec<(Entity, u64)> = q.iter(w).map(|(e, t)| (e, t.0)).collect();
        let _ = (keep, gone);
        found
    };
    let by = |n: u64| keep.iter().find(|(_, t)| *t == n).map(|(e, _)| *e).unwrap();
    rt.spawn(Task(4));
    rt.world_mut().get_mut::<Task>(by(3)).unwrap().0 = 30;
    rt.world_mut().entity_mut(by(1)).remove::<Note>();
    rt.world_mut().despawn(by(2));
    rt.world_mut().resource_mut::<Budget>().0 = 7;
    let id = rt.close().unwrap();
    assert!(id.is_some(), "close wrote the edits");

    let mut again = app(&db).open().unwrap();
    assert_eq!(tasks(&mut again), [(1, None), (4, None), (30, None)]);
    assert_eq!(again.world().resource::<Budget>(), &Budget(7));
}

#[test]
fn a_close_with_nothing_changed_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.redb");
    let mut rt = app(&db).open().unwrap();
    rt.spawn(Task(1));
    let first = rt.close().unwrap();
    let n = snapshot_count(&db);
    let rt = app(&db).open().unwrap();
    assert_eq!(rt.close().unwrap(), first);
    assert_eq!(snapshot_count(&db), n);
}

/// `snapshot_changes` then `finish` (build an output while the writer
/// works, then wait): the finish writes nothing more, even when the queued
/// snapshot made the delta chain long enough that the next snapshot is due
/// full (here a delta bigger than the tiny full snapshot it follows).
#[test]
fn a_finish_after_snapshot_changes_writes_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.redb");
    let mut rt = app(&db).open().unwrap();
    let first = rt.snapshot_changes().unwrap();
    assert!(first.is_some(), "a file's first snapshot holds its world");
    let mut ids = vec![first.unwrap()];
    for round in 0..3u64 {
        for i in 0..10 {
            rt.spawn((Task(round * 100 + i), Note(format!("{round}-{i}"))));
        }
        let queued = rt.snapshot_changes().unwrap();
        assert!(queued.is_some(), "round {round}: spawns to write");
        ids.extend(queued);
        assert_eq!(rt.snapshot_changes().unwrap(), None, "round {round}");
        // The newest committed snapshot is the queued one: none after it.
        assert_eq!(rt.finish().unwrap(), queued, "round {round}");
        assert_eq!(rt.finish().unwrap(), queued, "round {round}");
    }
    assert_eq!(rt.close().unwrap(), ids.last().copied());
    let written = dizzy::Store::open_read_only(&db)
        .unwrap()
        .snapshot_ids()
        .unwrap();
    assert_eq!(written, ids);
    let mut again = app(&db).open().unwrap();
    assert_eq!(tasks(&mut again).len(), 30);
}

#[test]
fn run_until_saves_edits_made_before_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.redb");
    let mut rt = app(&db).open().unwrap();
    rt.spawn(Task(1));
    rt.close().unwrap();
    let mut rt = app(&db).open().unwrap();
    rt.spawn(Task(5));
    // Done at once: no tick runs, the final snapshot holds the spawn.
    assert_eq!(rt.run_until(|_| true).unwrap(), RunEnd::Done);
    drop(rt);
    let mut again = app(&db).open().unwrap();
    assert_eq!(tasks(&mut again), [(1, None), (5, None)]);
}
