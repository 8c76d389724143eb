//! bevy's `Disabled` is not serializable, so dizzy does not record it: a
//! disabled entity comes back enabled after a resume (found by a fresh
//! tester, a seed bank). The README's way to keep it — a registered marker
//! inserted and removed with `Disabled`, and its holders disabled again in
//! `Setup::on_start` — makes a run closed and reopened after every tick see
//! what the run that never stopped sees; without the start step it does not.

use std::path::Path;

use dizzy::bevy_ecs::entity_disabling::Disabled;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
struct Seed(u32);

/// Ours: set with `Disabled`, persisted.
#[derive(Component, Serialize, Deserialize)]
struct Shelved;

#[derive(Resource, Serialize, Deserialize, Default, Debug, PartialEq, Clone)]
struct Seen(Vec<Vec<u32>>);

fn shelve(
    tick: Res<TickCount>,
    seeds: Query<(Entity, &Seed)>,
    shelved: Query<Entity, (With<Shelved>, With<Disabled>)>,
    mut commands: Commands,
) {
    if tick.0 == 2 {
        for (e, s) in &seeds {
            if s.0 % 2 == 0 {
                commands.entity(e).insert((Shelved, Disabled));
            }
        }
    }
    if tick.0 == 5 {
        for e in &shelved {
            commands.entity(e).remove::<(Shelved, Disabled)>();
        }
    }
}

fn count(seeds: Query<&Seed>, mut seen: ResMut<Seen>) {
    let mut v: Vec<u32> = seeds.iter().map(|s| s.0).collect();
    v.sort_unstable();
    seen.0.push(v);
}

fn app(db: &Path, restart_step: bool) -> App {
    let app = App::new()
        .db(db)
        .component::<Seed>("bank.seed")
        .component::<Shelved>("bank.shelved")
        .resource("bank.seen", Seen::default())
        .systems((shelve, count).chain());
    if !restart_step {
        return app;
    }
    app.plugin(|setup: &mut Setup| {
        setup.on_start(|w| {
            let shelved: Vec<Entity> = w
                .query_filtered::<Entity, With<Shelved>>()
                .iter(w)
                .collect();
            for e in shelved {
                w.entity_mut(e).insert(Disabled);
            }
        });
    })
}

fn seen(dir: &Path, restart_step: bool, reopen: bool) -> Vec<Vec<u32>> {
    let db = dir.join(format!("bank-{restart_step}-{reopen}.redb"));
    let mut run = app(&db, restart_step).open().unwrap();
    for i in 0..4 {
        run.spawn(Seed(i));
    }
    for _ in 0..7 {
        run.run_ticks(1).unwrap();
        if reopen {
            run.close().unwrap();
            run = app(&db, restart_step).open().unwrap();
        }
    }
    let seen = run.world().resource::<Seen>().0.clone();
    run.close().unwrap();
    seen
}

#[test]
fn a_registered_marker_disables_its_holders_again_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let want = seen(dir.path(), true, false);
    assert_eq!(want[2], vec![1, 3], "{want:?}");
    assert_eq!(want[5], vec![0, 1, 2, 3], "{want:?}");
    assert_eq!(seen(dir.path(), true, true), want);
    // Without the start step, the disabled seeds come back enabled.
    assert_ne!(
        seen(dir.path(), false, true),
        seen(dir.path(), false, false)
    );
}

#[derive(Component, Serialize, Deserialize, Debug, PartialEq)]
struct Label(String);

/// A component removed from a disabled entity, and a disabled entity
/// despawned, between snapshots (so the next one is a delta): both stay
/// gone after a resume. Before, the removal was never recorded (dizzy's
/// removal observer looked the entity up with a query, which leaves
/// disabled entities out), and the label came back.
#[test]
fn removals_from_disabled_entities_reach_the_delta() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.redb");
    let open = || {
        App::new()
            .db(&db)
            .component::<Seed>("bank.seed")
            .component::<Label>("bank.label")
            .open()
            .unwrap()
    };
    let mut run = open();
    let kept = run.spawn((Seed(1), Label("one".into()), Disabled));
    let gone = run.spawn((Seed(2), Label("two".into()), Disabled));
    run.snapshot_full().unwrap();
    run.world_mut().entity_mut(kept).remove::<Label>();
    run.world_mut().despawn(gone);
    run.close().unwrap();

    let mut run = open();
    let mut all: Vec<(u32, Option<String>)> = run
        .world_mut()
        .query_filtered::<(&Seed, Option<&Label>), Allow<Disabled>>()
        .iter(run.world())
        .map(|(s, l)| (s.0, l.map(|l| l.0.clone())))
        .collect();
    all.sort();
    assert_eq!(all, vec![(1, None)]);
    run.close().unwrap();
}
