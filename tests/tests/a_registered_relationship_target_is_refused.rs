//! A relationship's target side (`Children`, a `#[relationship_target]`)
//! is built by bevy from the relationship's values. Registered as well, it
//! came back in a restore over the list bevy had rebuilt, whose hooks took
//! the relationship off every source: a world closed with two `InVat`s
//! reopened with none, without an error (found by a fresh tester, a
//! brewery). `open()` now refuses the registration, naming both types,
//! before anything is restored; registering the relationship alone keeps
//! it.

use std::path::Path;

use dizzy::prelude::*;
use dizzy::{OpenError, RegistryError};

#[derive(Component, Serialize, Deserialize)]
struct Vat;

#[derive(Component, Serialize, Deserialize)]
#[relationship(relationship_target = VatContents)]
struct InVat(#[entities] Entity);

#[derive(Component, Serialize, Deserialize)]
#[relationship_target(relationship = InVat)]
struct VatContents(#[entities] Vec<Entity>);

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Vat>("brewery.vat")
        .component::<InVat>("brewery.in_vat")
}

fn counts(rt: &mut Runtime) -> (usize, usize) {
    let w = rt.world_mut();
    let a = w.query::<&InVat>().iter(w).count();
    let b = w.query::<&VatContents>().iter(w).count();
    (a, b)
}

#[test]
fn registering_the_target_is_refused_and_the_relationship_alone_survives() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vats.redb");
    let mut rt = app(&db).open().unwrap();
    let v = rt.spawn(Vat);
    rt.spawn(InVat(v));
    rt.spawn(InVat(v));
    rt.tick().unwrap();
    assert_eq!(counts(&mut rt), (2, 1));
    rt.close().unwrap();
    let before = std::fs::read(&db).unwrap();

    // Both sides registered: refused, naming both, the file untouched.
    for both in [
        app(&db).component::<VatContents>("brewery.vat_contents"),
        App::new()
            .db(&db)
            .component::<VatContents>("brewery.vat_contents")
            .component::<Vat>("brewery.vat")
            .component::<InVat>("brewery.in_vat"),
    ] {
        let Err(e) = both.open() else {
            panic!("a registered relationship target opened");
        };
        let text = e.to_string();
        assert!(
            matches!(
                e,
                OpenError::Registry(RegistryError::RelationshipTarget { .. })
            ),
            "{e:?}"
        );
        assert!(
            text.contains("`brewery.vat_contents`")
                && text.contains("VatContents")
                && text.contains("InVat"),
            "{text}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), before, "the file is unchanged");
    }
    // A fresh file too, before its first snapshot.
    let fresh = dir.path().join("fresh.redb");
    assert!(
        app(&fresh)
            .component::<VatContents>("brewery.vat_contents")
            .open()
            .is_err()
    );

    // The relationship alone: bevy rebuilds the target's list.
    let mut rt = app(&db).open().unwrap();
    assert_eq!(counts(&mut rt), (2, 1));
    let w = rt.world_mut();
    let list = w.query::<&VatContents>().single(w).unwrap().0.len();
    assert_eq!(list, 2);
}
