//! A system with a run condition skips ticks; what `Changed<T>` shows it
//! when it runs again is the same after a resume as in a run that never
//! stopped, whichever tick the run was closed after, with deltas or full
//! snapshots (found by a user whose reader ran on even ticks only).

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug)]
struct Tank(char);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Level(u64);
#[derive(Resource, Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
struct Log(Vec<String>);

/// Tank A changes on odd ticks, B on even ticks, C every third tick (D is
/// changed by [`late`]).
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

fn reader(tick: Res<TickCount>, q: Query<&Tank, Changed<Level>>, mut log: ResMut<Log>) {
    let mut v: Vec<char> = q.iter().map(|t| t.0).collect();
    v.sort();
    log.0.push(format!("third {}: {:?}", tick.0, v));
}

fn rare(tick: Res<TickCount>, q: Query<&Tank, Added<Level>>, mut log: ResMut<Log>) {
    let mut v: Vec<char> = q.iter().map(|t| t.0).collect();
    v.sort();
    log.0.push(format!("fifth {}: {:?}", tick.0, v));
}

/// Runs after the reader: what it changes is new to the reader's next run,
/// two or three ticks later.
fn late(tick: Res<TickCount>, mut q: Query<(&Tank, &mut Level)>) {
    for (t, mut l) in &mut q {
        if t.0 == 'D' && tick.0.is_multiple_of(3) {
            l.0 = 100 + tick.0;
        }
    }
}

fn spawner(tick: Res<TickCount>, mut commands: Commands) {
    if tick.0 == 4 {
        commands.spawn((Tank('C'), Level(0)));
    }
}

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Tank>("r.tank")
        .component::<Level>("r.level")
        .resource::<Log>("r.log", Log::default())
        .snapshot_policy(SnapshotPolicy::OFF)
        .systems(
            (
                spawner,
                writer,
                reader.run_if(|t: Res<TickCount>| t.0.is_multiple_of(3)),
                rare.run_if(|t: Res<TickCount>| t.0.is_multiple_of(5)),
                late,
            )
                .chain(),
        )
}

const TICKS: u64 = 11;

fn log_of(dir: &std::path::Path, stops: &[u64], full: bool) -> Vec<String> {
    let path = dir.join(format!("run-{stops:?}-{full}.redb"));
    let mut run = app(&path).open().unwrap();
    run.spawn((Tank('A'), Level(0)));
    run.spawn((Tank('B'), Level(0)));
    run.spawn((Tank('D'), Level(0)));
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
fn every_stopping_point_gives_the_log_of_the_run_that_never_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let want = log_of(dir.path(), &[], false);
    assert!(
        want.contains(&"third 6: ['A', 'B', 'C', 'D']".to_owned()),
        "{want:?}"
    );
    for full in [false, true] {
        for stop in 1..TICKS {
            let got = log_of(dir.path(), &[stop], full);
            assert_eq!(
                got, want,
                "closed after tick {stop} (full snapshots: {full})"
            );
        }
        let got = log_of(dir.path(), &[1, 2, 3, 5, 8, 9], full);
        assert_eq!(got, want, "closed after several ticks (full: {full})");
    }
}
