//! `dizzy compact --squash` rewrites an app's file with a build that does
//! not register the app's types: it keeps their values byte for byte. It
//! must keep what the snapshot records beside those values too, or the app
//! resumes differently from a run that never stopped (found by a fresh
//! tester, a greenhouse controller):
//! - the change ticks of values changed in the last tick (`@ages`): a
//!   `Changed<T>` reader that runs before the writer missed the writer's
//!   last changes, and one skipped by a run condition missed older ones;
//! - the order of a relationship's lists (`@order`): `Children` and the
//!   user's own lists came back in uid order, not in the order the program
//!   made them;
//! - the change ticks of resources changed in the last tick: a reader of
//!   `Res::is_changed()` that runs before the writer missed its change.

use std::path::Path;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug)]
struct Zone(char);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Valve(u32);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Level(u64);
#[derive(Component, Serialize, Deserialize, Debug)]
#[relationship(relationship_target = ZoneValves)]
struct ValveOf(#[entities] Entity);
#[derive(Component, Debug)]
#[relationship_target(relationship = ValveOf)]
struct ZoneValves(Vec<Entity>);
#[derive(Resource, Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
struct Log(Vec<String>);
#[derive(Resource, Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
struct Limit(u64);

/// Runs first: which valves' levels changed since its last run, and
/// whether the limit did.
fn reader(
    tick: Res<TickCount>,
    q: Query<&Valve, Changed<Level>>,
    limit: Res<Limit>,
    mut log: ResMut<Log>,
) {
    let mut v: Vec<u32> = q.iter().map(|v| v.0).collect();
    v.sort();
    log.0.push(format!("{} changed {v:?}", tick.0));
    log.0
        .push(format!("{} limit changed {}", tick.0, limit.is_changed()));
}

/// Runs every third tick only.
fn rare(tick: Res<TickCount>, q: Query<&Valve, Changed<Level>>, mut log: ResMut<Log>) {
    let mut v: Vec<u32> = q.iter().map(|v| v.0).collect();
    v.sort();
    log.0.push(format!("{} rare {v:?}", tick.0));
}

/// Each zone's valves, in its list's order (the first gets double flow).
fn lists(
    tick: Res<TickCount>,
    zones: Query<(&Zone, &ZoneValves)>,
    valves: Query<&Valve>,
    children: Query<(&Zone, &Children)>,
    mut log: ResMut<Log>,
) {
    let mut out: Vec<String> = zones
        .iter()
        .map(|(z, l)| {
            let v: Vec<u32> = l
                .iter()
                .filter_map(|e| valves.get(e).ok())
                .map(|v| v.0)
                .collect();
            format!("{}{v:?}", z.0)
        })
        .collect();
    out.extend(children.iter().map(|(z, c)| {
        let v: Vec<u32> = c
            .iter()
            .filter_map(|e| valves.get(e).ok())
            .map(|v| v.0)
            .collect();
        format!("{}children{v:?}", z.0)
    }));
    out.sort();
    log.0.push(format!("{} lists {out:?}", tick.0));
}

/// Runs after the readers: changes some levels, and moves a valve to the
/// end of its zone's list (by inserting its relationship again).
fn writer(
    tick: Res<TickCount>,
    mut q: Query<(Entity, &Valve, &ValveOf, &mut Level)>,
    mut limit: ResMut<Limit>,
    mut commands: Commands,
) {
    let t = tick.0;
    if t.is_multiple_of(2) {
        limit.0 = t;
    }
    for (e, v, of, mut level) in &mut q {
        if (u64::from(v.0) + t).is_multiple_of(3) {
            level.0 += t;
        }
        if (u64::from(v.0) + t).is_multiple_of(4) {
            commands.entity(e).insert(ValveOf(of.0));
        }
    }
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Zone>("g.zone")
        .component::<Valve>("g.valve")
        .component::<Level>("g.level")
        .component::<ValveOf>("g.valve_of")
        .component::<ChildOf>("g.child_of")
        .resource("g.log", Log::default())
        .resource("g.limit", Limit::default())
        .systems(
            (
                reader,
                rare.run_if(|t: Res<TickCount>| t.0.is_multiple_of(3)),
                lists,
                writer,
            )
                .chain(),
        )
}

const TICKS: u64 = 10;

fn log_of(dir: &Path, stop: Option<u64>) -> Vec<String> {
    let db = dir.join(format!("run-{stop:?}.redb"));
    let mut run = app(&db).open().unwrap();
    for (zi, z) in ['a', 'b'].into_iter().enumerate() {
        let zone = run.spawn(Zone(z));
        // Spawned in an order unlike their uids' once the writer reorders.
        for i in 0..4u32 {
            let n = zi as u32 * 10 + i;
            run.spawn((Valve(n), Level(0), ValveOf(zone), ChildOf(zone)));
        }
    }
    if let Some(stop) = stop {
        run.run_ticks(stop).unwrap();
        run.close().unwrap();
        dizzy_tests::squash_without_the_apps_types(&db);
        run = app(&db).open().unwrap();
        run.run_ticks(TICKS - stop).unwrap();
    } else {
        run.run_ticks(TICKS).unwrap();
    }
    let log = run.world().resource::<Log>().0.clone();
    run.close().unwrap();
    log
}

#[test]
fn a_file_squashed_by_a_build_without_its_types_resumes_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let want = log_of(dir.path(), None);
    // The lists are not in uid order at the end.
    let last = want.iter().rev().find(|l| l.contains("lists")).unwrap();
    assert!(!last.contains("a[0, 1, 2, 3]"), "{last}");
    for stop in 1..TICKS {
        let got = log_of(dir.path(), Some(stop));
        assert_eq!(got, want, "squashed after tick {stop}");
    }
}
