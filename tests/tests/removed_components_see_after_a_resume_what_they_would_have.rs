//! `RemovedComponents<T>` after a resume: a reader sees at the next tick
//! the removals made after its run — by the commands the schedule applies
//! at its end, and between ticks (`world_mut()`, before `close()`) — as in
//! the run that never stopped. Before, a resume lost them: a reader that
//! runs before the system that removes (the most common order: a clean-up
//! system, then the one that despawns) missed every removal of the tick
//! before the snapshot (found by fresh testers, a tram depot and others).
//!
//! Covered: a marker removed from live entities; entities despawned (their
//! every component); children despawned with their parent (bevy's
//! `linked_spawn`) and a child detached (`RemovedComponents<ChildOf>`); a
//! component removed and given again in the same tick; removed, given
//! again and despawned in the same tick (two removals from an entity that
//! is gone: found by a fresh tester, a library network); removals between
//! ticks, which readers see for two ticks (a reader a run condition skips
//! at the next tick sees them at the one after: found by a fresh tester, a
//! container terminal); resumes from full snapshots and from deltas, after every tick.

use std::path::Path;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Tram(u32);

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Broken;

#[derive(Component, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Depot(u32);

#[derive(Resource, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Log(Vec<String>);

#[derive(Resource, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Next(u32);

/// The entities a reader gets, by uid ("gone" for a dead handle).
fn named<T: Component>(removed: &mut RemovedComponents<T>, uids: &Query<&Uid>) -> Vec<String> {
    removed
        .read()
        .map(|e| {
            uids.get(e)
                .map_or_else(|_| "gone".to_owned(), |u| u.get().to_string())
        })
        .collect()
}

/// Reads every removal, before the system that makes them.
fn reader(
    tick: Res<TickCount>,
    mut broken: RemovedComponents<Broken>,
    mut trams: RemovedComponents<Tram>,
    mut parents: RemovedComponents<ChildOf>,
    uids: Query<&Uid>,
    mut log: ResMut<Log>,
) {
    let b = named(&mut broken, &uids);
    let t = named(&mut trams, &uids);
    let p = named(&mut parents, &uids);
    log.0.push(format!(
        "tick {}: broken {b:?} trams {t:?} parents {p:?}",
        tick.0
    ));
}

/// Reads removals on odd ticks only (a run condition skips the others):
/// removals made between ticks stay readable for two ticks, those of a
/// tick's last commands for one, so it sees the first kind and not the
/// second when it skipped the tick after them. A resume from the snapshot
/// taken after the tick it skipped cannot give them back: a reader that
/// ran at that tick read them already (which did lives in bevy's
/// per-system state), and the snapshot records the removals every reader
/// sees next.
fn odd_reader(
    tick: Res<TickCount>,
    mut broken: RemovedComponents<Broken>,
    mut trams: RemovedComponents<Tram>,
    uids: Query<&Uid>,
    mut log: ResMut<Log>,
) {
    let b = named(&mut broken, &uids);
    let t = named(&mut trams, &uids);
    log.0
        .push(format!("odd tick {}: broken {b:?} trams {t:?}", tick.0));
}

/// Spawns, breaks, mends and despawns, in uid order (commands applied at
/// the end of the schedule).
fn work(
    tick: Res<TickCount>,
    mut next: ResMut<Next>,
    trams: Query<(Entity, &Uid, &Tram, Has<Broken>, Has<ChildOf>)>,
    depots: Query<(Entity, &Uid, &Depot)>,
    mut commands: Commands,
) {
    let k = tick.0 as u32;
    let mut depots: Vec<_> = depots.iter().collect();
    depots.sort_by_key(|d| d.1.get());
    if k % 3 == 1 {
        next.0 += 1;
        let depot = commands.spawn(Depot(next.0)).id();
        for i in 0..3 {
            next.0 += 1;
            commands.spawn((Tram(next.0 + i), ChildOf(depot)));
        }
    }
    let mut trams: Vec<_> = trams.iter().collect();
    trams.sort_by_key(|t| t.1.get());
    for (e, _, tram, broken, parented) in trams {
        if broken && (tram.0 + k) % 7 == 6 {
            // Mended, broken again and despawned in the same tick: two
            // removals of `Broken` from an entity that is gone.
            commands
                .entity(e)
                .remove::<Broken>()
                .insert(Broken)
                .despawn();
            continue;
        }
        match (tram.0 + k) % 5 {
            0 if broken => {
                commands.entity(e).remove::<Broken>();
            }
            1 if !broken => {
                commands.entity(e).insert(Broken);
            }
            2 if broken => {
                // Mended and broken again in the same tick.
                commands.entity(e).remove::<Broken>().insert(Broken);
            }
            3 if parented && k.is_multiple_of(2) => {
                commands.entity(e).remove::<ChildOf>();
            }
            4 if !parented => {
                commands.entity(e).despawn();
            }
            _ => {}
        }
    }
    // Every fourth tick the oldest depot goes, with its trams.
    if k.is_multiple_of(4)
        && let Some((d, _, _)) = depots.first()
    {
        commands.entity(*d).despawn();
    }
}

fn app(db: &Path, policy: SnapshotPolicy) -> App {
    App::new()
        .db(db)
        .component::<Tram>("depot.tram")
        .component::<Broken>("depot.broken")
        .component::<Depot>("depot.depot")
        .component::<ChildOf>("depot.child_of")
        .resource("depot.log", Log::default())
        .resource("depot.next", Next::default())
        .systems(
            (
                reader,
                odd_reader.run_if(|t: Res<TickCount>| t.0 % 2 == 1),
                work,
            )
                .chain(),
        )
        .snapshot_policy(policy)
}

/// After ticks 1, 5, 9 and 13 (before a tick the odd reader skips), a
/// mend, and a tram mended, broken and despawned, through `world_mut()`.
fn edit(run: &mut dizzy::Runtime) {
    if run.tick_count() % 4 != 1 {
        return;
    }
    let w = run.world_mut();
    let mut q = w.query_filtered::<(Entity, &Uid), With<Broken>>();
    let mut broken: Vec<(Entity, u64)> = q.iter(w).map(|(e, u)| (e, u.get())).collect();
    broken.sort_by_key(|b| b.1);
    if let Some(&(e, _)) = broken.first() {
        w.entity_mut(e).remove::<Broken>();
    }
    // The same three steps as in `work`, through the world.
    if let Some(&(e, _)) = broken.get(1) {
        w.entity_mut(e).remove::<Broken>();
        w.entity_mut(e).insert(Broken);
        w.despawn(e);
    }
}

const TICKS: u64 = 14;

/// Reopened after every tick `reopen` names.
fn log(
    dir: &Path,
    name: &str,
    policy: SnapshotPolicy,
    reopen: &dyn Fn(u64) -> bool,
) -> Vec<String> {
    let db = dir.join(format!("{name}.redb"));
    let mut run = app(&db, policy).open().unwrap();
    for _ in 0..TICKS {
        run.run_ticks(1).unwrap();
        edit(&mut run);
        if reopen(run.tick_count()) {
            run.close().unwrap();
            run = app(&db, policy).open().unwrap();
        }
    }
    let log = run.world().resource::<Log>().0.clone();
    run.close().unwrap();
    log
}

#[test]
fn readers_before_the_remover_see_the_same_removals_after_every_resume() {
    let dir = tempfile::tempdir().unwrap();
    let want = log(dir.path(), "live", SnapshotPolicy::OFF, &|_| false);
    // The run exercises what it claims to.
    let all = want.join("\n");
    assert!(
        all.contains("broken [\"") && all.contains("\"gone\""),
        "{all}"
    );
    // Children despawned with their depot, and children detached.
    let parents = |l: &String| l.split("parents ").nth(1).unwrap_or("").to_owned();
    assert!(want.iter().any(|l| parents(l).contains("gone")), "{all}");
    assert!(
        want.iter()
            .any(|l| parents(l).chars().any(|c| c.is_ascii_digit())),
        "{all}"
    );
    for (name, policy) in [
        ("deltas", SnapshotPolicy::EVERY_TICK),
        ("closes", SnapshotPolicy::OFF),
    ] {
        let got = log(dir.path(), name, policy, &|_| true);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // A resume after the tick the odd reader skipped cannot give
            // it the removals made between the ticks before (see
            // `odd_reader`): compared where it resumes otherwise, below.
            if !w.starts_with("odd") {
                assert_eq!(g, w, "{name}: line {i}");
            }
        }
        assert_eq!(got.len(), want.len(), "{name}");
        let name = format!("{name}-but-after-skipped-ticks");
        let got = log(dir.path(), &name, policy, &|t| t % 4 != 2);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: line {i}");
        }
        assert_eq!(got.len(), want.len(), "{name}");
    }
    // The odd reader sees removals made between ticks at the tick after
    // the one it skipped.
    assert!(
        want.iter()
            .any(|l| l.starts_with("odd tick 7") && l.contains("broken [\"")),
        "{all}"
    );
}

/// The record survives files rewritten by the `dizzy` binary, which
/// registers none of the app's types: `compact --squash` keeps it byte for
/// byte, and the app then makes the removals again.
#[test]
fn a_squash_by_the_binary_keeps_the_removals_to_make_again() {
    let dir = tempfile::tempdir().unwrap();
    let want = log(dir.path(), "live", SnapshotPolicy::OFF, &|_| false);
    let db = dir.path().join("squashed.redb");
    let mut run = app(&db, SnapshotPolicy::EVERY_TICK).open().unwrap();
    for _ in 0..TICKS {
        run.run_ticks(1).unwrap();
        edit(&mut run);
        // Not after a tick the odd reader skipped (see the test above).
        if run.tick_count() % 4 == 2 {
            continue;
        }
        run.close().unwrap();
        dizzy_tests::dizzy_ok(&["compact", "--db", db.to_str().unwrap(), "--squash"]);
        run = app(&db, SnapshotPolicy::EVERY_TICK).open().unwrap();
    }
    let got = run.world().resource::<Log>().0.clone();
    run.close().unwrap();
    assert_eq!(got, want);
}

#[derive(Component, Serialize, Deserialize)]
struct Berth;

#[derive(Component, Serialize, Deserialize)]
#[relationship(relationship_target = Moorings)]
struct Moored {
    #[relationship]
    berth: Entity,
}

#[derive(Component)]
#[relationship_target(relationship = Moored)]
struct Moorings(Vec<Entity>);

#[derive(Resource, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Unmoored(Vec<u64>);

fn unmoored(mut r: RemovedComponents<Moored>, uids: Query<&Uid>, mut seen: ResMut<Unmoored>) {
    for e in r.read() {
        seen.0.push(uids.get(e).map_or(0, |u| u.get()));
    }
}

/// A relationship's target despawned between ticks: bevy removes the
/// relationship from its sources (found by a fresh tester, a harbour:
/// from a full snapshot the file could not be opened again). Full
/// snapshots and deltas, and a squash.
#[test]
fn a_relationship_whose_target_went_between_ticks_is_removed_again() {
    let dir = tempfile::tempdir().unwrap();
    for (name, max_chain) in [("full", 0), ("delta", 100)] {
        let db = dir.path().join(format!("moor-{name}.redb"));
        let app = || {
            App::new()
                .db(&db)
                .component::<Berth>("moor.berth")
                .component::<Moored>("moor.moored")
                .resource("moor.unmoored", Unmoored::default())
                .systems(unmoored)
                .capture_settings(dizzy::CaptureSettings {
                    max_chain,
                    ..Default::default()
                })
        };
        let mut run = app().open().unwrap();
        let berth = run.spawn(Berth);
        let ship = run.spawn(Moored { berth });
        let ship_uid = run.world().get::<Uid>(ship).unwrap().get();
        run.run_ticks(1).unwrap();
        run.snapshot().unwrap();
        run.world_mut().despawn(berth);
        run.close().unwrap();
        let mut run = app().open().unwrap();
        run.run_ticks(1).unwrap();
        assert_eq!(
            run.world().resource::<Unmoored>().0,
            vec![ship_uid],
            "{name}"
        );
        run.squash().unwrap();
        run.close().unwrap();
        let mut run = app().open().unwrap();
        run.run_ticks(1).unwrap();
        run.close().unwrap();
    }
}
