//! The README's resumable pipeline (the same component, system and loop),
//! resumed from every snapshot it wrote, ends in exactly the world the
//! uninterrupted run ends in, by uid — and so does every intermediate
//! state: the tasks a resumed tick picks are the ones the uninterrupted
//! run picked at that tick.

use std::collections::BTreeMap;
use std::path::Path;

use dizzy::prelude::*;

/// A task, and its result once done.
#[derive(Component, Serialize, Deserialize)]
struct Task {
    n: u64,
}
#[derive(Component, Serialize, Deserialize)]
struct Square(u64);

/// Each tick, work through the next 100 tasks (in uid order: a resumed
/// run picks the same ones as a run that never stopped).
fn work(mut commands: Commands, todo: Query<(Entity, &Uid, &Task), Without<Square>>) {
    for (e, _, t) in todo.iter().sort::<&Uid>().take(100) {
        commands.entity(e).insert(Square(t.n * t.n));
    }
}

fn app(path: &Path) -> App {
    App::new()
        .db(path)
        .component::<Task>("squares.task")
        .component::<Square>("squares.square")
        .systems(work)
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// uid -> (task, square), and the tick.
fn state(rt: &mut Runtime) -> (BTreeMap<u64, (u64, Option<u64>)>, u64) {
    let w = rt.world_mut();
    let rows = w
        .query::<(&Uid, &Task, Option<&Square>)>()
        .iter(w)
        .map(|(u, t, s)| (u.get(), (t.n, s.map(|s| s.0))))
        .collect();
    (rows, rt.tick_count())
}

#[test]
fn the_readme_pipeline_resumed_from_every_snapshot_matches() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("squares.redb");
    // The uninterrupted run, with a snapshot after every tick; the state
    // after each tick is kept.
    let mut run = app(&db).open().unwrap();
    for n in 0..1_000 {
        run.spawn(Task { n });
    }
    let mut states = vec![state(&mut run)];
    let done = |w: &mut World| {
        w.query_filtered::<(), (With<Task>, Without<Square>)>()
            .iter(w)
            .next()
            .is_none()
    };
    run.snapshot().unwrap();
    while !done(run.world_mut()) {
        run.tick().unwrap();
        run.snapshot().unwrap();
        run.flush().unwrap();
        states.push(state(&mut run));
    }
    run.close().unwrap();
    let last = states.last().unwrap().clone();

    let ids: Vec<(u64, u64)> = dizzy::Store::open_read_only(&db)
        .unwrap()
        .snapshots()
        .unwrap()
        .iter()
        .map(|m| (m.id, m.tick))
        .collect();
    assert!(ids.len() >= 10, "{ids:?}");
    for (id, tick) in ids {
        let copy = dir.path().join(format!("from-{id}.redb"));
        std::fs::copy(&db, &copy).unwrap();
        let mut again = app(&copy).at_snapshot(id).open().unwrap();
        assert_eq!(
            state(&mut again),
            states[tick as usize],
            "snapshot {id} restores the state after tick {tick}"
        );
        while !done(again.world_mut()) {
            again.tick().unwrap();
            let t = again.tick_count() as usize;
            assert_eq!(
                state(&mut again),
                states[t],
                "resumed from snapshot {id}, tick {t} picked other tasks"
            );
        }
        assert_eq!(state(&mut again), last);
        again.close().unwrap();
        std::fs::remove_file(&copy).unwrap();
    }
}
