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

#[derive(Component, Serialize, Deserialize, Debug)]
struct Hive(u32);
#[derive(Resource, Serialize, Deserialize, Debug, Default)]
struct Seen(Vec<String>);

fn on_hive(
    event: On<Add<Hive>>,
    added: Query<&Hive, Added<Hive>>,
    hives: Query<&Hive>,
    mut seen: ResMut<Seen>,
) {
    let mut v: Vec<u32> = added.iter().map(|h| h.0).collect();
    v.sort_unstable();
    let me = hives.get(event.entity).map_or(0, |h| h.0);
    seen.0.push(format!("hive {me} sees added {v:?}"));
}

fn hives(path: &std::path::Path) -> dizzy::Runtime {
    App::new()
        .db(path)
        .component::<Hive>("o.hive")
        .resource::<Seen>("o.seen", Seen::default())
        .add_observer(on_hive)
        .open()
        .unwrap()
}

/// `s`: spawn a hive; `t`: a tick; `c`: close and reopen.
fn seen_after(dir: &std::path::Path, steps: &str) -> Vec<String> {
    let path = dir.join(format!("hives-{steps}.redb"));
    let _ = std::fs::remove_file(&path);
    let mut run = hives(&path);
    let mut n = 0;
    for step in steps.chars() {
        match step {
            's' => {
                n += 1;
                run.spawn(Hive(n));
            }
            't' => run.tick().unwrap(),
            'c' => {
                run.close().unwrap();
                run = hives(&path);
            }
            _ => unreachable!("{step}"),
        }
    }
    let seen = run.world().resource::<Seen>().0.clone();
    run.close().unwrap();
    seen
}

/// Found by a fresh tester (an apiary): an observer that ran before the
/// world's first tick, in a file closed before it, saw every restored
/// value as added at its next trigger.
#[test]
fn an_observer_that_ran_before_the_first_tick_resumes_where_it_stood() {
    let dir = tempfile::tempdir().unwrap();
    for steps in ["sss", "ssts", "ssstts", "stsst"] {
        let want = seen_after(dir.path(), steps);
        let n = steps.len();
        // Closed (and, with a full snapshot, the same) after every step.
        for cut in 0..=n {
            for again in [cut, n.min(cut + 1)] {
                let mut with: String = steps[..cut].to_owned();
                with.push('c');
                with.push_str(&steps[cut..again]);
                if again > cut {
                    with.push('c');
                }
                with.push_str(&steps[again..]);
                assert_eq!(
                    seen_after(dir.path(), &with),
                    want,
                    "{with} against {steps}"
                );
            }
        }
    }
    assert_eq!(
        seen_after(dir.path(), "sss").last().map(String::as_str),
        Some("hive 3 sees added [3]")
    );
}

#[derive(Component, Serialize, Deserialize, Debug)]
struct Note(String);
#[derive(Resource, Serialize, Deserialize, Debug, Default)]
struct Rung(u64);
#[derive(Event)]
struct Bell;

fn ring(mut commands: Commands, mut rung: ResMut<Rung>) {
    rung.0 += 1;
    commands.trigger(Bell);
}

fn kitchen(_: On<Bell>, rung: Res<Rung>, mut commands: Commands) {
    commands.spawn(Note(format!("kitchen {}", rung.0)));
}

fn garden(_: On<Bell>, rung: Res<Rung>, mut commands: Commands) {
    commands.spawn(Note(format!("garden {}", rung.0)));
}

fn hall(_: On<Bell>, rung: Res<Rung>, mut commands: Commands) {
    commands.spawn(Note(format!("hall {}", rung.0)));
}

fn notes_after(path: &std::path::Path, stops: &[u64], ticks: u64) -> Vec<(u64, String)> {
    let open = || {
        App::new()
            .db(path)
            .component::<Note>("o.note")
            .resource::<Rung>("o.rung", Rung::default())
            .systems(ring)
            .add_observer(kitchen)
            .add_observer(garden)
            .add_observer(hall)
            .open()
            .unwrap()
    };
    let mut run = open();
    let mut done = 0;
    for &stop in stops {
        run.run_ticks(stop - done).unwrap();
        done = stop;
        run.close().unwrap();
        run = open();
    }
    run.run_ticks(ticks - done).unwrap();
    let mut notes: Vec<(u64, String)> = run
        .world_mut()
        .query::<(&Uid, &Note)>()
        .iter(run.world())
        .map(|(u, n)| (u.get(), n.0.clone()))
        .collect();
    notes.sort();
    run.close().unwrap();
    notes
}

/// Found by a fresh tester: bevy runs the observers of an event in the
/// order of a map keyed by their entities, which depended on the size of
/// the restored world, so what they spawned got other uids after a resume.
#[test]
fn observers_of_one_event_spawn_the_same_uids_after_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    const TICKS: u64 = 10;
    let want = notes_after(&dir.path().join("whole.redb"), &[], TICKS);
    assert_eq!(want.len(), 3 * TICKS as usize);
    for stop in 1..TICKS {
        let got = notes_after(&dir.path().join(format!("{stop}.redb")), &[stop], TICKS);
        assert_eq!(got, want, "closed after tick {stop}");
    }
    let got = notes_after(&dir.path().join("many.redb"), &[1, 2, 4, 7], TICKS);
    assert_eq!(got, want, "closed after several ticks");
}

fn conflicting(_: On<Audit>, _levels: Query<&mut Level>, _seen: Query<Ref<Level>>) {}

/// bevy panics on an observer whose own queries conflict (B0001): `open`
/// says so, naming the observer, as it does for a system.
#[test]
fn an_observer_bevy_refuses_is_an_error_of_open() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = app(&dir.path().join("c.redb"))
        .add_observer(conflicting)
        .open()
    else {
        panic!("bevy refuses the observer");
    };
    let message = err.to_string();
    assert!(
        message.contains("observer") && message.contains("conflicting"),
        "{message}"
    );
}
