//! An observer added with `Setup::add_observer` (`App::add_observer`) is a
//! system whose `Changed<T>`/`Added<T>` compare with its own last run: what
//! it sees at each trigger is the same after a resume as in a run that
//! never stopped, whichever tick the run was closed after, with deltas or
//! full snapshots — for an observer of an event a system triggers now and
//! then, one of a component's insertions, and one function added twice.
//! Before, its first trigger after a resume saw every restored value as
//! changed.

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug)]
struct Tank(char);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Level(u64);
#[derive(Resource, Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
struct Log(Vec<String>);

#[derive(Event)]
struct Audit;

/// Tank A changes on odd ticks, B on even ticks, C every third tick.
fn writer(tick: Res<TickCount>, mut q: Query<(&Tank, &mut Level)>) {
    for (t, mut l) in &mut q {
        let now = match t.0 {
            'A' => !tick.0.is_multiple_of(2),
            'B' => tick.0.is_multiple_of(2),
            'C' => tick.0.is_multiple_of(3),
            _ => false,
        };
        if now {
            l.0 = tick.0;
        }
    }
}

/// Triggers an audit every fourth tick, and spawns tank C at tick 5 (its
/// `Level` insertion triggers [`on_level`]).
fn auditor(tick: Res<TickCount>, mut commands: Commands) {
    if tick.0.is_multiple_of(4) {
        commands.trigger(Audit);
    }
    if tick.0 == 5 {
        commands.spawn((Tank('C'), Level(0)));
    }
}

fn names(q: &Query<&Tank, Changed<Level>>) -> Vec<char> {
    let mut v: Vec<char> = q.iter().map(|t| t.0).collect();
    v.sort_unstable();
    v
}

fn audit(
    _: On<Audit>,
    tick: Res<TickCount>,
    changed: Query<&Tank, Changed<Level>>,
    added: Query<&Tank, Added<Level>>,
    mut log: ResMut<Log>,
) {
    let mut a: Vec<char> = added.iter().map(|t| t.0).collect();
    a.sort_unstable();
    log.0.push(format!(
        "audit {}: {:?} added {a:?}",
        tick.0,
        names(&changed)
    ));
}

fn on_level(
    event: On<Insert<Level>>,
    tick: Res<TickCount>,
    tanks: Query<&Tank>,
    changed: Query<&Tank, Changed<Level>>,
    mut log: ResMut<Log>,
) {
    let who = tanks.get(event.entity).map_or('?', |t| t.0);
    log.0
        .push(format!("insert {who} at {}: {:?}", tick.0, names(&changed)));
}

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Tank>("o.tank")
        .component::<Level>("o.level")
        .resource::<Log>("o.log", Log::default())
        .snapshot_policy(SnapshotPolicy::OFF)
        .systems((auditor, writer).chain())
        .add_observer(audit)
        .add_observer(on_level)
        // The same function twice: each keeps its own last run.
        .add_observer(audit)
}

const TICKS: u64 = 13;

fn log_of(dir: &std::path::Path, stops: &[u64], full: bool) -> Vec<String> {
    let path = dir.join(format!("run-{stops:?}-{full}.redb"));
    let mut run = app(&path).open().unwrap();
    if run.resumed_from().is_none() {
        run.spawn((Tank('A'), Level(0)));
        run.spawn((Tank('B'), Level(0)));
    }
    let mut done = 0;
    for &stop in stops {
        run.run_ticks(stop - done).unwrap();
        done = stop;
        if full {
            run.snapshot_full().unwrap();
        }
        run.close().unwrap();
        run = app(&path).open().unwrap();
    }
    run.run_ticks(TICKS - done).unwrap();
    let log = run.world().resource::<Log>().0.clone();
    run.close().unwrap();
    log
}

#[test]
fn every_stopping_point_gives_the_observers_log_of_the_run_that_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let want = log_of(dir.path(), &[], false);
    // The run that never stopped: each audit sees what changed since the
    // last (the second `audit`, which changes nothing, the same as the
    // first); C's insertion sees what changed since the last insertion.
    for line in [
        "insert B at 0: ['B']",
        "insert C at 5: ['A', 'B', 'C']",
        "audit 8: ['A', 'B', 'C'] added ['C']",
        "audit 12: ['A', 'B', 'C'] added []",
    ] {
        assert_eq!(
            want.iter().filter(|l| *l == line).count(),
            if line.starts_with("audit") { 2 } else { 1 },
            "{line}: {want:?}"
        );
    }
    for full in [false, true] {
        for stop in 1..TICKS {
            let got = log_of(dir.path(), &[stop], full);
            assert_eq!(
                got, want,
                "closed after tick {stop} (full snapshots: {full})"
            );
        }
        let got = log_of(dir.path(), &[1, 2, 3, 5, 8, 9, 12], full);
        assert_eq!(got, want, "closed after several ticks (full: {full})");
    }
}
