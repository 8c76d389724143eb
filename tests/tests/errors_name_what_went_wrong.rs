//! Errors name the thing they are about: a reference policy for a name
//! that is not registered names that name (not a "migration from version
//! 0"); an app given a store opened read-only says the store is read-only
//! (not that "the snapshot writer stopped"); the two open errors have two
//! names (`dizzy::OpenError` for an app, `StoreOpenError` for a file).

use dizzy::prelude::*;
use dizzy::snapshots::{Store, StoreOpenError};

#[derive(Component, Serialize, Deserialize)]
struct Reading(f64);

#[test]
fn a_reference_policy_for_an_unknown_name_names_it() {
    let mut registry = dizzy::Registry::new();
    registry.component::<Reading>("lab.reading").unwrap();
    let e = registry
        .reference_policy("lab.readnig", RefPolicy::Drop)
        .unwrap_err();
    let message = e.to_string();
    assert_eq!(
        message,
        "reference policy for `lab.readnig`: no component or resource is registered under that name"
    );
    assert!(!message.contains("migration"));
    registry
        .reference_policy("lab.reading", RefPolicy::Drop)
        .unwrap();
}

#[test]
fn an_app_on_a_read_only_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.redb");
    let app = || App::new().component::<Reading>("lab.reading");
    let mut run = app().db(&path).open().unwrap();
    run.spawn(Reading(1.5));
    run.close().unwrap();

    let store = Store::open_read_only(&path).unwrap();
    let e = app().store(store).open().unwrap_err();
    let message = e.to_string();
    assert!(message.contains("lab.redb"), "{message}");
    assert!(message.contains("read-only"), "{message}");
    assert!(!message.contains("writer stopped"), "{message}");
}

#[test]
fn opening_a_missing_file_read_only_is_a_store_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.redb");
    let e: StoreOpenError = Store::open_read_only(&missing).unwrap_err();
    assert!(matches!(e, StoreOpenError::Missing { .. }));
    assert!(e.to_string().contains("nothing.redb"));
    // The app's own open error wraps it.
    let app_error: dizzy::OpenError = e.into();
    assert!(app_error.to_string().contains("no such file"));
}

#[derive(Component, Serialize, Deserialize)]
struct Slot(u32);

fn conflicting(_a: Query<&mut Slot>, _b: Query<&mut Slot>) {}

/// A system whose own queries conflict (bevy's B0001) is an error of
/// `App::open` naming it, not a panic.
#[test]
fn a_system_with_conflicting_queries_is_an_open_error() {
    let result = std::panic::catch_unwind(|| {
        App::new()
            .in_memory()
            .component::<Slot>("test.slot")
            .systems(conflicting)
            .open()
            .map(|_| ())
    });
    let opened = result.expect("App::open does not panic");
    let e = opened.expect_err("the schedule is refused").to_string();
    assert!(e.contains("conflicting") && e.contains("B0001"), "{e}");
}
