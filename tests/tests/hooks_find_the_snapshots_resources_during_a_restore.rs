//! A component hook that reads a registered resource (a tariff to price a
//! crossing: common bevy code) or a transient one runs during a restore
//! too. Found by a fresh tester: the first run worked, and every later open
//! failed with "Requested resource … does not exist", because a restore
//! inserted the resources after the components. A restore now gives back
//! the snapshot's reference-free resources first, full snapshot and deltas
//! alike, so the hook sees the value the snapshot holds; transient
//! resources are in the world before the restore starts.

use std::path::Path;
use std::sync::Mutex;

use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
#[component(on_add = price)]
struct Crossing {
    km: u64,
}

#[derive(Resource, Serialize, Deserialize, Clone, Debug)]
struct Tariff {
    per_km: u64,
}

/// The fares the hook computed, in order (one test at a time: see `LOCK`).
static FARES: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static LOCK: Mutex<()> = Mutex::new(());

fn price(world: DeferredWorld, ctx: HookContext) {
    let km = world.get::<Crossing>(ctx.entity).map_or(0, |c| c.km);
    let fare = km * world.resource::<Tariff>().per_km;
    FARES.lock().unwrap().push(fare);
}

/// A berth's fee: its length plus a surcharge that is not persisted.
#[derive(Component, Serialize, Deserialize, Clone, Debug)]
#[component(on_add = fee)]
struct Berth {
    metres: u64,
}

#[derive(Resource, Debug)]
struct Surcharge(u64);

fn fee(world: DeferredWorld, ctx: HookContext) {
    let metres = world.get::<Berth>(ctx.entity).map_or(0, |b| b.metres);
    FARES
        .lock()
        .unwrap()
        .push(1000 + metres + world.resource::<Surcharge>().0);
}

fn app(db: &Path, every: u64) -> App {
    let mut app = App::new()
        .db(db)
        .component::<Crossing>("ferry.crossing")
        .component::<Berth>("ferry.berth")
        .resource("ferry.tariff", Tariff { per_km: 3 })
        .snapshot_every_ticks(every);
    app.setup().transient_resource(Surcharge(5));
    app
}

fn fares() -> Vec<u64> {
    std::mem::take(&mut *FARES.lock().unwrap())
}

#[test]
fn a_hook_reading_a_resource_restores_full_snapshots_and_deltas() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ferry.redb");
    fares();
    {
        let mut rt = app(&db, 1).open().unwrap();
        rt.world_mut().resource_mut::<Tariff>().per_km = 5;
        rt.spawn(Crossing { km: 10 });
        rt.tick().unwrap();
        rt.snapshot_full().unwrap();
        // A delta on top: a new crossing and a new tariff.
        rt.world_mut().resource_mut::<Tariff>().per_km = 7;
        rt.spawn(Crossing { km: 2 });
        rt.tick().unwrap();
        rt.close().unwrap();
    }
    assert_eq!(fares(), vec![50, 14]);
    // The full snapshot's value for the first crossing, the delta's for
    // the second: what each snapshot holds when its values come back.
    let rt = app(&db, 1)
        .open()
        .expect("a hook that reads a resource must not make the file unopenable");
    assert!(rt.resumed_from().is_some());
    assert_eq!(rt.world().resource::<Tariff>().per_km, 7);
    assert_eq!(fares(), vec![50, 14]);
    rt.close().unwrap();
}

#[test]
fn a_hook_reading_a_transient_resource_restores() {
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("harbour.redb");
    fares();
    {
        let mut rt = app(&db, 1).open().unwrap();
        rt.spawn(Berth { metres: 20 });
        rt.tick().unwrap();
        rt.snapshot_full().unwrap();
        rt.spawn(Berth { metres: 30 });
        rt.tick().unwrap();
        rt.close().unwrap();
    }
    assert_eq!(fares(), vec![1025, 1035]);
    for _ in 0..2 {
        let rt = app(&db, 1)
            .open()
            .expect("a hook that reads a transient resource must not make the file unopenable");
        assert_eq!(rt.world().resource::<Surcharge>().0, 5);
        assert_eq!(fares(), vec![1025, 1035]);
        rt.close().unwrap();
    }
}
