//! A panic in user code is reported as that, never as a damaged file: a
//! `Deserialize` or a component hook that panics while a world is restored
//! gives an error naming the component and its type (and the file opens
//! again with a build whose code does not panic); a `Serialize` that panics
//! during a snapshot or an export gives an error and leaves the live world
//! exactly as it was.

use std::sync::atomic::{AtomicBool, Ordering};

use bevy_ecs::lifecycle::HookContext;
use bevy_ecs::world::DeferredWorld;
use dizzy::prelude::*;
use dizzy::snapshots::{ExportOptions, Selection};
use serde::{Deserializer, Serializer};

static PANIC_ON_DECODE: AtomicBool = AtomicBool::new(false);
static PANIC_ON_ENCODE: AtomicBool = AtomicBool::new(false);
static PANIC_IN_HOOK: AtomicBool = AtomicBool::new(false);

/// A value whose serde code panics when told to.
#[derive(Component, Debug, Clone, PartialEq)]
#[component(on_insert = Fragile::hook)]
struct Fragile(u32);

impl Fragile {
    fn hook(_world: DeferredWorld, _ctx: HookContext) {
        if PANIC_IN_HOOK.load(Ordering::SeqCst) {
            panic!("the hook refuses");
        }
    }
}

impl Serialize for Fragile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if PANIC_ON_ENCODE.load(Ordering::SeqCst) {
            panic!("Serialize refuses");
        }
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Fragile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if PANIC_ON_DECODE.load(Ordering::SeqCst) && v == 13 {
            panic!("Deserialize refuses 13");
        }
        Ok(Fragile(v))
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Fragile>("t.fragile")
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn values(rt: &mut Runtime) -> Vec<u32> {
    let mut v: Vec<u32> = rt
        .world_mut()
        .query::<&Fragile>()
        .iter(rt.world())
        .map(|f| f.0)
        .collect();
    v.sort_unstable();
    v
}

// One test: the switches are process-wide.
#[test]
fn panics_of_user_code_are_named_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.redb");
    let mut rt = app(&db).open().unwrap();
    for v in [1, 13, 20] {
        rt.spawn(Fragile(v));
    }
    rt.close().unwrap();

    for (switch, what) in [(&PANIC_ON_DECODE, "Deserialize"), (&PANIC_IN_HOOK, "hook")] {
        switch.store(true, Ordering::SeqCst);
        let err = app(&db).open().unwrap_err().to_string();
        switch.store(false, Ordering::SeqCst);
        assert!(err.contains("t.fragile"), "{what}: {err}");
        assert!(err.contains("Fragile"), "{what}: the type: {err}");
        assert!(err.contains("panicked"), "{what}: {err}");
        assert!(
            !err.contains("damaged") && !err.contains("corrupt"),
            "{what}: {err}"
        );
    }
    // The file is fine.
    let mut rt = app(&db).open().unwrap();
    assert_eq!(values(&mut rt), [1, 13, 20]);

    // A panicking Serialize: an error, and the world as it was.
    rt.spawn(Fragile(30));
    let before = values(&mut rt);
    PANIC_ON_ENCODE.store(true, Ordering::SeqCst);
    let snap = rt.snapshot_full();
    let uid = {
        let w = rt.world_mut();
        w.query::<&Uid>().iter(w).next().unwrap().get()
    };
    let export = rt.export(&Selection::Uids(vec![uid]), &ExportOptions::default());
    PANIC_ON_ENCODE.store(false, Ordering::SeqCst);
    let err = snap.unwrap_err().to_string();
    assert!(err.contains("panicked"), "{err}");
    assert!(export.unwrap_err().to_string().contains("panicked"));
    assert_eq!(values(&mut rt), before);
    // And the next snapshot works.
    rt.snapshot().unwrap();
    rt.close().unwrap();
    let mut again = app(&db).open().unwrap();
    assert_eq!(values(&mut again), before);
}
