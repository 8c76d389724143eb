//! bevy's `Disabled` is not serializable, so dizzy does not record it: a
//! disabled entity comes back enabled after a resume (found by a fresh
//! tester, a seed bank). The README's way to keep it — a registered marker
//! whose hooks insert and remove `Disabled` — makes a run closed and
//! reopened after every tick see what the run that never stopped sees, and
//! disables what an import brings (a second tester found that a start-up
//! step misses imports made after `open()`); without the hooks it does not.

use std::path::Path;

use dizzy::bevy_ecs::entity_disabling::Disabled;
use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::prelude::*;
use dizzy::{ExportOptions, OnConflict, Selection};

#[derive(Component, Serialize, Deserialize)]
struct Seed(u32);

/// Ours, persisted: its holders are disabled.
#[derive(Component, Serialize, Deserialize, Default)]
#[component(on_add = disable, on_remove = enable)]
struct Shelved;

fn disable(mut world: DeferredWorld, ctx: HookContext) {
    world.commands().entity(ctx.entity).insert(Disabled);
}

fn enable(mut world: DeferredWorld, ctx: HookContext) {
    world.commands().entity(ctx.entity).try_remove::<Disabled>();
}

/// The same marker without the hooks.
#[derive(Component, Serialize, Deserialize, Default)]
struct Plain;

#[derive(Resource, Serialize, Deserialize, Default, Debug, PartialEq, Clone)]
struct Seen(Vec<Vec<u32>>);

fn shelve<M: Component + Default>(
    tick: Res<TickCount>,
    seeds: Query<(Entity, &Seed)>,
    shelved: Query<Entity, (With<M>, Allow<Disabled>)>,
    mut commands: Commands,
) {
    if tick.0 == 2 {
        for (e, s) in &seeds {
            if s.0 % 2 == 0 {
                commands.entity(e).insert((M::default(), Disabled));
            }
        }
    }
    if tick.0 == 5 {
        for e in &shelved {
            commands.entity(e).remove::<(M, Disabled)>();
        }
    }
}

fn count(seeds: Query<&Seed>, mut seen: ResMut<Seen>) {
    let mut v: Vec<u32> = seeds.iter().map(|s| s.0).collect();
    v.sort_unstable();
    seen.0.push(v);
}

fn app(db: &Path, hooked: bool) -> App {
    let app = App::new()
        .db(db)
        .component::<Seed>("bank.seed")
        .resource("bank.seen", Seen::default());
    if hooked {
        app.component::<Shelved>("bank.shelved")
            .systems((shelve::<Shelved>, count).chain())
    } else {
        app.component::<Plain>("bank.shelved")
            .systems((shelve::<Plain>, count).chain())
    }
}

fn seen(dir: &Path, hooked: bool, reopen: bool) -> Vec<Vec<u32>> {
    let db = dir.join(format!("bank-{hooked}-{reopen}.redb"));
    let mut run = app(&db, hooked).open().unwrap();
    for i in 0..4 {
        run.spawn(Seed(i));
    }
    for _ in 0..7 {
        run.run_ticks(1).unwrap();
        if reopen {
            run.close().unwrap();
            run = app(&db, hooked).open().unwrap();
        }
    }
    let seen = run.world().resource::<Seen>().0.clone();
    run.close().unwrap();
    seen
}

#[test]
fn a_registered_marker_keeps_its_holders_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let want = seen(dir.path(), true, false);
    assert_eq!(want[2], vec![1, 3], "{want:?}");
    assert_eq!(want[5], vec![0, 1, 2, 3], "{want:?}");
    assert_eq!(seen(dir.path(), true, true), want);
    // Without the hooks, the disabled seeds come back enabled.
    assert_ne!(
        seen(dir.path(), false, true),
        seen(dir.path(), false, false)
    );
}

#[test]
fn a_marked_entity_an_import_brings_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut from = app(&dir.path().join("from.redb"), true).open().unwrap();
    from.spawn((Seed(7), Shelved));
    from.spawn(Seed(8));
    let bundle = from
        .export(
            &Selection::With("bank.seed".into()),
            &ExportOptions::default(),
        )
        .unwrap();
    from.close().unwrap();

    let mut to = app(&dir.path().join("to.redb"), true).open().unwrap();
    to.import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    to.run_ticks(1).unwrap();
    assert_eq!(to.world().resource::<Seen>().0, vec![vec![8]]);
    to.close().unwrap();
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
