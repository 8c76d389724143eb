//! Run conditions of a system set (`configure_sets(S.run_if(…))`, and
//! `(a, b).run_if(…)`, which bevy turns into a set): bevy keeps their own
//! last run inside the built schedule, so a resume gave them a new one and
//! their first evaluation saw every value as changed (the set ran once
//! more than in the run that never stopped). dizzy now gives them the tick
//! before the oldest last run of the set's systems.

use std::path::Path;

use dizzy::prelude::*;

#[derive(Resource, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Level(u32);

#[derive(Resource, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Log(Vec<String>);

#[derive(bevy_ecs::schedule::SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
struct OnChange;

/// Raises the level on some ticks only.
fn raise(tick: Res<TickCount>, mut level: ResMut<Level>) {
    if tick.0 % 4 == 1 || tick.0.is_multiple_of(7) {
        level.0 += 1;
    }
}

fn in_set(tick: Res<TickCount>, mut log: ResMut<Log>) {
    log.0.push(format!("set at {}", tick.0));
}

fn in_tuple_a(tick: Res<TickCount>, mut log: ResMut<Log>) {
    log.0.push(format!("a at {}", tick.0));
}

fn in_tuple_b(tick: Res<TickCount>, mut log: ResMut<Log>) {
    log.0.push(format!("b at {}", tick.0));
}

fn every_third(tick: Res<TickCount>) -> bool {
    tick.0.is_multiple_of(3)
}

fn gated(tick: Res<TickCount>, mut log: ResMut<Log>) {
    log.0.push(format!("gated at {}", tick.0));
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .resource("lake.level", Level::default())
        .resource("lake.log", Log::default())
        .plugin(|setup: &mut Setup| {
            setup.configure_sets(OnChange.run_if(resource_changed::<Level>));
        })
        .systems(raise)
        .systems(in_set.in_set(OnChange).after(raise))
        .systems(
            (in_tuple_a, in_tuple_b)
                .chain()
                .run_if(resource_changed::<Level>)
                .after(in_set),
        )
        // bevy does not evaluate `resource_changed` while the gate says
        // no: its own last run is as old as the last third tick (found by
        // a fresh tester, a beekeeping co-op).
        .systems(
            (gated, gated)
                .chain()
                .run_if(every_third.and_then(resource_changed::<Level>))
                .after(in_tuple_b),
        )
}

fn log(dir: &Path, name: &str, reopen: bool) -> Vec<String> {
    let db = dir.join(format!("{name}.redb"));
    let mut run = app(&db).open().unwrap();
    for _ in 0..16 {
        run.run_ticks(1).unwrap();
        if reopen {
            run.close().unwrap();
            run = app(&db).open().unwrap();
        }
    }
    let log = run.world().resource::<Log>().0.clone();
    run.close().unwrap();
    log
}

#[test]
fn set_conditions_see_after_a_resume_what_they_would_have() {
    let dir = tempfile::tempdir().unwrap();
    let want = log(dir.path(), "live", false);
    // The sets ran on some ticks only.
    assert!(want.contains(&"set at 1".to_owned()), "{want:?}");
    assert!(!want.contains(&"set at 2".to_owned()), "{want:?}");
    assert!(want.contains(&"b at 7".to_owned()), "{want:?}");
    assert!(want.contains(&"gated at 3".to_owned()), "{want:?}");
    assert!(!want.contains(&"gated at 12".to_owned()), "{want:?}");
    assert_eq!(log(dir.path(), "reopened", true), want);
}
