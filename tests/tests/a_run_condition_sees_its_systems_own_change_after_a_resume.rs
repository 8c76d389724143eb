//! A system guarded by a run condition that reads change detection of what
//! the system itself writes: uninterrupted, the condition (evaluated just
//! before the system) sees the system's write of the previous tick, so the
//! system keeps running; after a resume it must too (found by a fresh
//! tester's model of a container terminal: the system stopped for good).

use dizzy::prelude::*;

#[derive(Resource, Serialize, Deserialize)]
struct Counter(u64);
#[derive(Component, Serialize, Deserialize)]
struct Gauge(u64);
#[derive(Resource, Serialize, Deserialize)]
struct GaugeRuns(u64);

fn bump(mut c: ResMut<Counter>) {
    c.0 += 1;
}

fn counter_changed(c: Res<Counter>) -> bool {
    c.is_changed()
}

fn bump_gauge(mut g: Query<&mut Gauge>, mut runs: ResMut<GaugeRuns>) {
    for mut g in &mut g {
        g.0 += 1;
    }
    runs.0 += 1;
}

fn gauge_changed(q: Query<(), Changed<Gauge>>) -> bool {
    !q.is_empty()
}

fn app(db: &std::path::Path, which: u8) -> App {
    let app = App::new()
        .db(db)
        .resource("c.counter", Counter(0))
        .resource("c.gauge_runs", GaugeRuns(0))
        .component::<Gauge>("c.gauge");
    match which {
        0 => app.systems(bump.run_if(resource_changed::<Counter>)),
        1 => app.systems(bump.run_if(counter_changed)),
        _ => app.systems(bump_gauge.run_if(gauge_changed)),
    }
}

const TICKS: u64 = 5;

fn counts(dir: &std::path::Path, which: u8, stop: Option<u64>) -> (u64, u64) {
    let db = dir.join(format!("c-{which}-{stop:?}.redb"));
    let mut run = app(&db, which).open().unwrap();
    run.spawn(Gauge(0));
    if let Some(stop) = stop {
        run.run_ticks(stop).unwrap();
        run.close().unwrap();
        run = app(&db, which).open().unwrap();
        run.run_ticks(TICKS - stop).unwrap();
    } else {
        run.run_ticks(TICKS).unwrap();
    }
    let w = run.world();
    (w.resource::<Counter>().0, w.resource::<GaugeRuns>().0)
}

#[test]
fn a_condition_on_its_own_systems_writes_keeps_it_running_after_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    for which in 0..3 {
        let want = counts(dir.path(), which, None);
        assert!(want.0 + want.1 >= TICKS, "it runs every tick: {want:?}");
        for stop in 1..TICKS {
            assert_eq!(
                counts(dir.path(), which, Some(stop)),
                want,
                "condition {which}, closed after tick {stop}"
            );
        }
    }
}
