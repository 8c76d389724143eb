//! A system (behind a rare run condition) or an observer (of a rare event)
//! that has not run for more than 2^24 change ticks — an app whose other
//! systems and observers change thousands of values per tick gets there in
//! hours — sees after a resume what it would have seen in the run that
//! never stopped: bevy tells such a last run from "never" up to its
//! `MAX_CHANGE_AGE` (about 3.26 billion change ticks). Before, a resume
//! gave it "never", and it saw every restored value as changed (found by a
//! fresh tester, a seaport).

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Debug)]
struct Station(u64);
#[derive(Resource, Serialize, Deserialize, Debug, Default)]
struct Log(Vec<String>);

#[derive(Event)]
struct Storm;

/// Storms at ticks 1 and 4; station 1 changes at tick 3.
fn weather(tick: Res<TickCount>, mut commands: Commands, mut q: Query<&mut Station>) {
    if tick.0 == 1 || tick.0 == 4 {
        commands.trigger(Storm);
    }
    if tick.0 == 3 {
        for mut s in &mut q {
            if s.0 == 1 {
                s.0 = 10;
            }
        }
    }
}

fn changed(q: &Query<&Station, Changed<Station>>) -> Vec<u64> {
    let mut v: Vec<u64> = q.iter().map(|s| s.0).collect();
    v.sort_unstable();
    v
}

fn report(tick: Res<TickCount>, q: Query<&Station, Changed<Station>>, mut log: ResMut<Log>) {
    log.0.push(format!("report {}: {:?}", tick.0, changed(&q)));
}

fn storm(
    _: On<Storm>,
    tick: Res<TickCount>,
    q: Query<&Station, Changed<Station>>,
    mut log: ResMut<Log>,
) {
    log.0.push(format!("storm {}: {:?}", tick.0, changed(&q)));
}

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Station>("idle.station")
        .resource::<Log>("idle.log", Log::default())
        .snapshot_policy(SnapshotPolicy::OFF)
        .systems(
            (
                weather,
                report.run_if(|t: Res<TickCount>| t.0 == 1 || t.0 == 4),
            )
                .chain(),
        )
        .add_observer(storm)
}

/// Change ticks that pass between ticks 1 and 2 (what a busy app's other
/// systems would spend): more than 2^24.
const GAP: u32 = 20_000_000;

fn log_of(path: &std::path::Path, close_after: Option<u64>, full: bool) -> Vec<String> {
    let mut run = app(path).open().unwrap();
    for s in 0..3 {
        run.spawn(Station(s));
    }
    for tick in 1..=5 {
        run.tick().unwrap();
        if tick == 1 {
            for _ in 0..GAP {
                run.world_mut().increment_change_tick();
            }
        }
        if Some(tick) == close_after {
            if full {
                run.snapshot_full().unwrap();
            }
            run.close().unwrap();
            run = app(path).open().unwrap();
        }
    }
    let log = run.world().resource::<Log>().0.clone();
    run.close().unwrap();
    log
}

#[test]
fn a_last_run_older_than_2_pow_24_change_ticks_is_carried() {
    let dir = tempfile::tempdir().unwrap();
    let want = log_of(&dir.path().join("whole.redb"), None, false);
    assert_eq!(
        want,
        [
            // The trigger is applied at the sync point `.chain()` puts
            // between `weather` and `report`.
            "storm 1: [0, 1, 2]",
            "report 1: [0, 1, 2]",
            "storm 4: [10]",
            "report 4: [10]"
        ],
    );
    for close_after in 1..=4 {
        for full in [false, true] {
            let path = dir.path().join(format!("{close_after}-{full}.redb"));
            assert_eq!(
                log_of(&path, Some(close_after), full),
                want,
                "closed after tick {close_after} (full: {full})"
            );
        }
    }
}
