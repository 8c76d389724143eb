//! Types whose `Deserialize` refuses the shape tracer's first made-up
//! values (a `NonZeroU16` field, a number kept as a string through
//! `#[serde(with)]`) still have their shape recorded, so a reorder of their
//! fields restores by name, never swapped (found by a fresh tester, a
//! winery: `Cask { id, vintage: 2019, litres: 225 }` came back as
//! `litres: 2019, vintage: 225`). A type no made-up value gets through is
//! read by position, and a change that breaks its decoding is reported as a
//! changed type, not a corrupt file. Types that need a self-describing
//! format (`#[serde(flatten)]`, internally tagged and untagged enums) are
//! refused when registered, not at the first snapshot. A migration that
//! panics is named as one.

use std::num::NonZeroU16;

use dizzy::RegistryError;
use dizzy::components::UpgradeError;
use dizzy::prelude::*;
use dizzy::snapshots::RestoreError;

mod as_string {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A code that must start with `LOT-`: no made-up string gets through.
#[derive(Serialize, Debug, PartialEq, Clone)]
pub struct Code(String);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.starts_with("LOT-") {
            true => Ok(Code(s)),
            false => Err(serde::de::Error::custom(format!("`{s}` is not a lot code"))),
        }
    }
}

mod v1 {
    use super::*;
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Cask {
        pub id: NonZeroU16,
        pub vintage: u16,
        pub litres: u16,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Lot {
        #[serde(with = "as_string")]
        pub number: u64,
        pub vintage: u16,
        pub casks: u16,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Sealed {
        pub code: Code,
        pub year: u16,
    }
}

mod v2 {
    use super::*;
    /// Fields reordered.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Cask {
        pub id: NonZeroU16,
        pub litres: u16,
        pub vintage: u16,
    }
    /// Fields reordered, and one added with a default.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Lot {
        #[serde(with = "as_string")]
        pub number: u64,
        pub casks: u16,
        pub vintage: u16,
        #[serde(default)]
        pub grade: u8,
    }
    /// A field added with a default: without a shape, read by position.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Sealed {
        pub code: Code,
        pub year: u16,
        #[serde(default)]
        pub grade: u8,
    }
}

fn write_v1(db: &std::path::Path, sealed: bool) {
    let mut app = App::new()
        .db(db)
        .component::<v1::Cask>("wine.cask")
        .component::<v1::Lot>("wine.lot")
        .snapshot_policy(SnapshotPolicy::OFF);
    if sealed {
        app = app.component::<v1::Sealed>("wine.sealed");
    }
    let mut rt = app.open().unwrap();
    rt.spawn((
        v1::Cask {
            id: NonZeroU16::new(5).unwrap(),
            vintage: 2019,
            litres: 225,
        },
        v1::Lot {
            number: 42,
            vintage: 2018,
            casks: 12,
        },
    ));
    if sealed {
        rt.spawn(v1::Sealed {
            code: Code("LOT-7".into()),
            year: 2020,
        });
    }
    rt.close().unwrap();
}

#[test]
fn validating_fields_keep_their_shape_and_reorders_resolve_by_name() {
    let mut registry = dizzy::Registry::new();
    registry.component::<v1::Cask>("wine.cask").unwrap();
    registry.component::<v1::Lot>("wine.lot").unwrap();
    registry.component::<v1::Sealed>("wine.sealed").unwrap();
    for name in ["wine.cask", "wine.lot"] {
        let reg = registry.get(name).unwrap();
        assert!(reg.shape().is_some(), "{name}: {:?}", reg.untraced());
        assert_eq!(reg.untraced(), None);
    }
    let sealed = registry.get("wine.sealed").unwrap();
    assert!(sealed.shape().is_none());
    assert!(
        sealed
            .untraced()
            .is_some_and(|w| w.contains("not a lot code")),
        "{:?}",
        sealed.untraced()
    );

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    write_v1(&db, false);
    let mut rt = App::new()
        .db(&db)
        .component::<v2::Cask>("wine.cask")
        .component::<v2::Lot>("wine.lot")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    let casks: Vec<v2::Cask> = rt
        .world_mut()
        .query::<&v2::Cask>()
        .iter(rt.world())
        .cloned()
        .collect();
    assert_eq!(
        casks,
        [v2::Cask {
            id: NonZeroU16::new(5).unwrap(),
            litres: 225,
            vintage: 2019
        }],
        "never swapped"
    );
    let lots: Vec<v2::Lot> = rt
        .world_mut()
        .query::<&v2::Lot>()
        .iter(rt.world())
        .cloned()
        .collect();
    assert_eq!(
        lots,
        [v2::Lot {
            number: 42,
            casks: 12,
            vintage: 2018,
            grade: 0
        }]
    );
}

mod v3 {
    use super::*;
    /// `year` became a string: beyond where the skeleton reaches (it stops
    /// at `code`), so the values are read by position and do not decode.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Sealed {
        pub code: Code,
        pub year: String,
    }
}

#[test]
fn a_type_without_a_shape_that_changed_is_refused_as_a_changed_type_not_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    write_v1(&db, true);
    let before = std::fs::read(&db).unwrap();
    let open = |app: App| {
        app.db(&db)
            .component::<v1::Cask>("wine.cask")
            .component::<v1::Lot>("wine.lot")
            .open()
            .expect_err("a changed type without a shape is refused")
    };
    // A field added: the skeleton (what the type asks for, as far as the
    // tracer gets) differs, and the file is refused before any value is
    // read.
    let err = open(App::new().component::<v2::Sealed>("wine.sealed"));
    match &err {
        dizzy::OpenError::Restore(RestoreError::Incompatible {
            source: UpgradeError::UntracedChanged(change),
            ..
        }) => {
            assert_eq!(change.name, "wine.sealed");
            assert_eq!(change.stored, "Sealed{code,year} string");
            assert_eq!(change.now, "Sealed{code,year,grade} string");
        }
        other => panic!("not refused as a changed type: {other:?}"),
    }
    // A change past where the skeleton reaches: the values do not decode.
    let err2 = open(App::new().component::<v3::Sealed>("wine.sealed"));
    match &err2 {
        dizzy::OpenError::Restore(RestoreError::Incompatible {
            source: UpgradeError::Unshaped { name, .. },
            ..
        }) => assert_eq!(name, "wine.sealed"),
        other => panic!("not an incompatible type: {other:?}"),
    }
    let text = err2.to_string();
    for needle in ["wine.sealed", "no serde shape", "component_version"] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
    for e in [err, err2] {
        assert!(!e.to_string().contains("corrupt"), "{e}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is untouched");
}

mod unstorable {
    use dizzy::prelude::*;
    #[derive(Serialize, Deserialize, Debug)]
    pub struct Label {
        pub text: String,
    }
    #[derive(Component, Serialize, Deserialize, Debug)]
    pub struct Bottle {
        pub id: u32,
        #[serde(flatten)]
        pub label: Label,
    }
    #[derive(Component, Serialize, Deserialize, Debug)]
    #[serde(tag = "kind")]
    pub enum Treatment {
        Fining { agent: String },
        Filtering,
    }
    #[derive(Component, Serialize, Deserialize, Debug)]
    #[serde(untagged)]
    pub enum Score {
        Points(u32),
        Note(String),
    }
}

#[test]
fn types_that_need_a_self_describing_format_are_refused_when_registered() {
    fn refused(result: Result<(), RegistryError>, name: &str) {
        match result {
            Err(RegistryError::NotSelfDescribing { name: n, call, .. }) => {
                assert_eq!(n, name);
                assert!(call.starts_with("deserialize_"), "{call}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let mut registry = dizzy::Registry::new();
    refused(
        registry.component::<unstorable::Bottle>("wine.bottle"),
        "wine.bottle",
    );
    refused(
        registry.component::<unstorable::Treatment>("wine.treatment"),
        "wine.treatment",
    );
    refused(
        registry.component::<unstorable::Score>("wine.score"),
        "wine.score",
    );
    // Through the app: `open` refuses before any file is made.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    let err = App::new()
        .db(&db)
        .component::<unstorable::Score>("wine.score")
        .open()
        .expect_err("refused");
    let text = err.to_string();
    for needle in ["wine.score", "untagged", "self-describing"] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
    assert!(!db.exists(), "no file is made");
}

mod migrated {
    use dizzy::prelude::*;
    #[derive(Serialize, Deserialize)]
    pub struct CaskV1 {
        pub id: std::num::NonZeroU16,
        pub vintage: u16,
        pub litres: u16,
    }
    #[derive(Component, Serialize, Deserialize, Debug)]
    pub struct Cask {
        pub id: u16,
        pub vintage: u16,
        pub litres: u16,
        pub full: bool,
    }
}

#[test]
fn a_migration_that_panics_is_named_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    write_v1(&db, false);
    let before = std::fs::read(&db).unwrap();
    let err = App::new()
        .db(&db)
        .component_version::<migrated::Cask>("wine.cask", 2)
        .migration::<migrated::CaskV1, migrated::Cask>("wine.cask", 1, |c| {
            if c.litres > 200 {
                panic!("a cask of {} litres", c.litres);
            }
            migrated::Cask {
                id: c.id.get(),
                vintage: c.vintage,
                litres: c.litres,
                full: true,
            }
        })
        .component::<v1::Lot>("wine.lot")
        .open()
        .expect_err("the panic is an error");
    let text = err.to_string();
    for needle in [
        "wine.cask",
        "a migration from version 1 to 2",
        "a cask of 225 litres",
    ] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is untouched");
}
