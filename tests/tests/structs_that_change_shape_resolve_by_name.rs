//! A component whose struct changed without a version bump restores by
//! field name: reordered fields keep their values (never silently swapped),
//! removed fields are dropped, added fields with a default take it; a
//! change that cannot be resolved is refused with the component, the field,
//! both shapes and the fix — never called corrupt. Migrations also read
//! values whose stored shape differs from their old type. The same holds
//! for resources and bundles.

use dizzy::prelude::*;
use dizzy::snapshots::{ExportOptions, OnConflict, Selection};

mod v1 {
    use dizzy::prelude::*;
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Size {
        pub width: u32,
        pub height: u32,
        pub label: String,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Shape {
        Square(u32),
        Circle { r: u32 },
        Dot,
    }
    #[derive(Resource, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Settings {
        pub speed: u32,
        pub name: String,
    }
}

mod v2 {
    use dizzy::prelude::*;
    /// Fields reordered, `label` removed, `depth` added with a default,
    /// `note` added as an `Option`, `width` widened.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Size {
        pub height: u32,
        pub width: u64,
        #[serde(default)]
        pub depth: u32,
        pub note: Option<String>,
    }
    /// Variants reordered; `Dot` removed.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Shape {
        Circle { r: u32 },
        Square(u32),
    }
    #[derive(Resource, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Settings {
        pub name: String,
        pub speed: u32,
        #[serde(default)]
        pub extra: bool,
    }
}

mod v3 {
    use dizzy::prelude::*;
    /// `depth` added without a default: cannot be resolved.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Size {
        pub height: u32,
        pub width: u32,
        pub depth: u32,
    }
}

mod v4 {
    use dizzy::prelude::*;
    /// `height` became a string: cannot be resolved.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Size {
        pub width: u32,
        pub height: String,
    }
}

fn write_v1(db: &std::path::Path, with_dot: bool) {
    let mut rt = App::new()
        .db(db)
        .component::<v1::Size>("case.size")
        .component::<v1::Shape>("case.shape")
        .resource(
            "case.settings",
            v1::Settings {
                speed: 3,
                name: "slow".into(),
            },
        )
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    rt.spawn((
        v1::Size {
            width: 90,
            height: 210,
            label: "door".into(),
        },
        v1::Shape::Circle { r: 5 },
    ));
    rt.spawn((
        v1::Size {
            width: 30,
            height: 40,
            label: "window".into(),
        },
        v1::Shape::Square(7),
    ));
    if with_dot {
        rt.spawn(v1::Shape::Dot);
    }
    rt.close().unwrap();
}

fn v2_app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<v2::Size>("case.size")
        .component::<v2::Shape>("case.shape")
        .resource(
            "case.settings",
            v2::Settings {
                name: String::new(),
                speed: 0,
                extra: false,
            },
        )
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn sizes(rt: &mut Runtime) -> Vec<v2::Size> {
    let mut v: Vec<v2::Size> = rt
        .world_mut()
        .query::<&v2::Size>()
        .iter(rt.world())
        .cloned()
        .collect();
    v.sort_by_key(|s| s.width);
    v
}

#[test]
fn reordered_removed_and_added_fields_restore_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.redb");
    write_v1(&db, false);
    let mut rt = v2_app(&db).open().unwrap();
    assert_eq!(
        sizes(&mut rt),
        [
            v2::Size {
                height: 40,
                width: 30,
                depth: 0,
                note: None
            },
            v2::Size {
                height: 210,
                width: 90,
                depth: 0,
                note: None
            },
        ],
        "width and height are never swapped"
    );
    let mut shapes: Vec<String> = rt
        .world_mut()
        .query::<&v2::Shape>()
        .iter(rt.world())
        .map(|s| format!("{s:?}"))
        .collect();
    shapes.sort();
    assert_eq!(shapes, ["Circle { r: 5 }", "Square(7)"]);
    assert_eq!(
        rt.world().resource::<v2::Settings>(),
        &v2::Settings {
            name: "slow".into(),
            speed: 3,
            extra: false
        }
    );
    // The next snapshots are written in the new shape and read back.
    rt.snapshot_full().unwrap();
    rt.close().unwrap();
    let mut again = v2_app(&db).open().unwrap();
    assert_eq!(sizes(&mut again).len(), 2);
}

#[test]
fn a_change_that_cannot_be_resolved_names_the_field_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.redb");
    write_v1(&db, false);
    for (app, field) in [
        (
            App::new().db(&db).component::<v3::Size>("case.size"),
            "depth",
        ),
        (
            App::new().db(&db).component::<v4::Size>("case.size"),
            "height",
        ),
    ] {
        let err = app
            .unknown_components(dizzy::Unknown::Skip)
            .open()
            .unwrap_err()
            .to_string();
        assert!(err.contains("case.size"), "{err}");
        assert!(err.contains(&format!("`{field}`")), "{err}");
        assert!(err.contains("migration"), "the fix: {err}");
        assert!(err.contains("width"), "both shapes: {err}");
        assert!(
            !err.contains("corrupt"),
            "a good file is not corrupt: {err}"
        );
    }
    // The file is untouched: the old build still opens it.
    let old = App::new()
        .db(&db)
        .component::<v1::Size>("case.size")
        .component::<v1::Shape>("case.shape")
        .resource(
            "case.settings",
            v1::Settings {
                speed: 0,
                name: String::new(),
            },
        )
        .open()
        .unwrap();
    drop(old);
}

#[test]
fn a_variant_the_data_uses_that_was_removed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.redb");
    write_v1(&db, true);
    let err = v2_app(&db).open().unwrap_err().to_string();
    assert!(err.contains("case.shape") && err.contains("Dot"), "{err}");
    assert!(!err.contains("corrupt"), "{err}");
}

#[test]
fn bundles_resolve_by_name_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut from = App::new()
        .db(dir.path().join("a.redb"))
        .component::<v1::Size>("case.size")
        .open()
        .unwrap();
    let door = from.spawn(v1::Size {
        width: 90,
        height: 210,
        label: "door".into(),
    });
    let uid = from.world().get::<Uid>(door).unwrap().get();
    let bundle = from
        .export(&Selection::Uids(vec![uid]), &ExportOptions::default())
        .unwrap();
    let mut to = v2_app(&dir.path().join("b.redb")).open().unwrap();
    to.import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    assert_eq!(
        sizes(&mut to),
        [v2::Size {
            height: 210,
            width: 90,
            depth: 0,
            note: None
        }]
    );
}

mod peak {
    use dizzy::prelude::*;
    /// What version 1 was when written.
    #[derive(Component, Serialize, Deserialize)]
    pub struct Stored {
        pub height_ft: i32,
        pub name: String,
    }
    /// The migration's idea of version 1: fields in another order.
    #[derive(Serialize, Deserialize)]
    pub struct V1 {
        pub name: String,
        pub height_ft: i32,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq)]
    pub struct V2 {
        pub name: String,
        pub height_m: f64,
    }
}

#[test]
fn a_migration_reads_its_old_type_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.redb");
    let mut rt = App::new()
        .db(&db)
        .component::<peak::Stored>("geo.peak")
        .open()
        .unwrap();
    rt.spawn(peak::Stored {
        height_ft: 1000,
        name: "Mont".into(),
    });
    rt.close().unwrap();
    let mut rt = App::new()
        .db(&db)
        .component_version::<peak::V2>("geo.peak", 2)
        .migration::<peak::V1, peak::V2>("geo.peak", 1, |p| peak::V2 {
            name: p.name,
            height_m: f64::from(p.height_ft) * 0.3048,
        })
        .open()
        .unwrap();
    let got: Vec<&peak::V2> = rt
        .world_mut()
        .query::<&peak::V2>()
        .iter(rt.world())
        .collect();
    assert_eq!(
        got,
        [&peak::V2 {
            name: "Mont".into(),
            height_m: 304.8
        }]
    );
}

/// A stored field no longer read next to a new field filled with its
/// default is what a rename without `#[serde(alias)]` looks like: the
/// registration names both (a restore logs it as a warning), so values are
/// not emptied without a word.
#[test]
fn fields_dropped_while_others_are_defaulted_are_named() {
    let shape_of = |registry: &dizzy::Registry| {
        registry
            .get("x.size")
            .and_then(|r| r.shape())
            .map(str::to_owned)
            .unwrap()
    };
    let mut old = dizzy::Registry::new();
    old.component::<v1::Size>("x.size").unwrap();
    let mut new = dizzy::Registry::new();
    new.component::<v2::Size>("x.size").unwrap();
    let lost = new.get("x.size").unwrap().fields_not_read(&shape_of(&old));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].contains("`label`") && lost[0].contains("`depth`") && lost[0].contains("alias"),
        "{lost:?}"
    );
    // The same shape: nothing to say.
    assert!(
        new.get("x.size")
            .unwrap()
            .fields_not_read(&shape_of(&new))
            .is_empty()
    );
}
