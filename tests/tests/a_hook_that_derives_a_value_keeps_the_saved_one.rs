//! A component hook that writes another persisted component of its own
//! entity (found by a fresh tester, a seed bank: `on_add` of `Germinating`
//! resets `Viability`) runs again as values are restored and overwrites the
//! saved value, which is already what the hook made of it. The README's rule:
//! such a hook returns at once while `Restoring` exists. This test holds the
//! rule to its word: with the check, a run closed and reopened after every
//! tick (from full snapshots and from deltas) ends where the run that never
//! stopped ends; without it, it does not (so the check is what the rule says
//! it is, not a no-op).

use std::path::Path;

use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::components::Restoring;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
#[component(on_add = reset_viability)]
struct Germinating;

#[derive(Component, Serialize, Deserialize)]
#[component(on_add = reset_checked)]
struct GerminatingChecked;

#[derive(Component, Serialize, Deserialize, Debug, PartialEq)]
struct Viability(f64);

fn reset(world: &mut DeferredWorld, ctx: &HookContext) {
    if let Some(mut v) = world.get_mut::<Viability>(ctx.entity) {
        v.0 = 0.5;
    }
}

/// When germination starts, viability is reset (no check: wrong on restore).
fn reset_viability(mut world: DeferredWorld, ctx: HookContext) {
    reset(&mut world, &ctx);
}

/// The same, as the README says to write it.
fn reset_checked(mut world: DeferredWorld, ctx: HookContext) {
    if world.contains_resource::<Restoring>() {
        return;
    }
    reset(&mut world, &ctx);
}

/// Each tick a germinating seed loses 0.25; a new seed starts every third.
fn decay(mut q: Query<&mut Viability>, tick: Res<TickCount>, mut commands: Commands) {
    for mut v in &mut q {
        v.0 -= 0.25;
    }
    if tick.0.is_multiple_of(3) {
        commands.spawn((
            Viability(2.0 + tick.0 as f64),
            Germinating,
            GerminatingChecked,
        ));
    }
}

fn app(db: &Path, hooked: bool) -> App {
    let app = App::new()
        .db(db)
        .component::<Viability>("seed.viability")
        .systems(decay)
        .snapshot_policy(SnapshotPolicy::EVERY_TICK);
    if hooked {
        app.component::<GerminatingChecked>("seed.germinating")
    } else {
        app.component::<Germinating>("seed.germinating")
    }
}

fn viabilities(world: &mut World) -> Vec<(u64, f64)> {
    let mut v: Vec<(u64, f64)> = world
        .query::<(&Uid, &Viability)>()
        .iter(world)
        .map(|(u, v)| (u.get(), v.0))
        .collect();
    v.sort_by_key(|&(u, _)| u);
    v
}

fn ends(dir: &Path, checked: bool, reopen: bool) -> Vec<(u64, f64)> {
    let db = dir.join(format!("seeds-{checked}-{reopen}.redb"));
    let mut run = app(&db, checked).open().unwrap();
    run.spawn((Viability(1.0), Germinating, GerminatingChecked));
    for _ in 0..7 {
        run.run_ticks(1).unwrap();
        if reopen {
            run.close().unwrap();
            run = app(&db, checked).open().unwrap();
        }
    }
    let end = viabilities(run.world_mut());
    run.close().unwrap();
    end
}

#[test]
fn a_hook_that_checks_restoring_leaves_the_saved_values_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let want = ends(dir.path(), true, false);
    assert_eq!(want.len(), 3, "{want:?}");
    assert_eq!(want[0].1, 0.5 - 7.0 * 0.25);
    assert_eq!(ends(dir.path(), true, true), want);
    // The same hook without the check: the restore resets what was saved.
    assert_ne!(
        ends(dir.path(), false, true),
        ends(dir.path(), false, false)
    );
}
