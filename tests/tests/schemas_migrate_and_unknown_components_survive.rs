//! Components whose shape changed over time: stored values of an older
//! version run the registered migration chain (v1 -> v2 -> v3); without one,
//! the error names the component, both versions and the fields that differ.
//! Components a build does not register: refused by default, skipped on
//! request, or kept byte for byte through later snapshots, so the plugin
//! that owns them finds them intact.

use dizzy::Unknown;
use dizzy::prelude::*;

mod v1 {
    use super::*;
    #[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Peak {
        pub name: String,
        pub height_ft: i32,
    }
}

mod v2 {
    use super::*;
    #[derive(Serialize, Deserialize)]
    pub struct Peak {
        pub name: String,
        pub height_m: f64,
    }
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Peak {
    name: String,
    height_m: f64,
    range: String,
}

/// A component only the "other plugin" knows.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Note {
    text: String,
    stars: Option<u8>,
    tags: Vec<String>,
}

#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Settings {
    theme: String,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Counter(u32);

fn write_v1(db: &std::path::Path) {
    let mut rt = App::new()
        .db(db)
        .component::<v1::Peak>("geo.peak")
        .open()
        .unwrap();
    rt.spawn(v1::Peak {
        name: "Mont Blanc".into(),
        height_ft: 15_777,
    });
    rt.snapshot_full().unwrap();
    rt.spawn(v1::Peak {
        name: "Ventoux".into(),
        height_ft: 6_273,
    });
    rt.snapshot().unwrap();
    rt.close().unwrap();
}

fn v3_app(db: &std::path::Path) -> App {
    App::new().db(db).component_version::<Peak>("geo.peak", 3)
}

fn peaks(rt: &mut Runtime) -> Vec<Peak> {
    let mut v: Vec<Peak> = rt
        .world_mut()
        .query::<&Peak>()
        .iter(rt.world())
        .cloned()
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

#[test]
fn old_versions_migrate_through_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("geo.redb");
    write_v1(&db);

    let err = v3_app(&db).open().unwrap_err().to_string();
    assert!(
        err.contains("`geo.peak`") && err.contains("version 1") && err.contains("version 3"),
        "{err}"
    );
    assert!(
        err.contains("`height_ft`") && err.contains("`range`"),
        "the fields that differ: {err}"
    );

    let mut rt = v3_app(&db)
        .migration::<v1::Peak, v2::Peak>("geo.peak", 1, |p| v2::Peak {
            name: p.name,
            height_m: (f64::from(p.height_ft) * 0.3048).round(),
        })
        .migration::<v2::Peak, Peak>("geo.peak", 2, |p| Peak {
            name: p.name,
            height_m: p.height_m,
            range: "Alps".into(),
        })
        .open()
        .unwrap();
    assert_eq!(
        peaks(&mut rt),
        vec![
            Peak {
                name: "Mont Blanc".into(),
                height_m: 4809.0,
                range: "Alps".into()
            },
            Peak {
                name: "Ventoux".into(),
                height_m: 1912.0,
                range: "Alps".into()
            },
        ]
    );
    // Written back at version 3, the file now opens without migrations.
    rt.snapshot_full().unwrap();
    rt.close().unwrap();
    let mut again = v3_app(&db).open().unwrap();
    assert_eq!(peaks(&mut again)[0].height_m, 4809.0);
}

fn full_app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Counter>("t.counter")
        .component::<Note>("other.note")
        .resource(
            "other.settings",
            Settings {
                theme: "light".into(),
            },
        )
}

fn partial_app(db: &std::path::Path) -> App {
    App::new().db(db).component::<Counter>("t.counter")
}

fn notes(rt: &mut Runtime) -> Vec<(u32, Note)> {
    let mut v: Vec<(u32, Note)> = rt
        .world_mut()
        .query::<(&Counter, &Note)>()
        .iter(rt.world())
        .map(|(c, n)| (c.0, n.clone()))
        .collect();
    v.sort_by_key(|x| x.0);
    v
}

fn write_full(db: &std::path::Path) -> Vec<(u32, Note)> {
    let mut rt = full_app(db).open().unwrap();
    for i in 0..50u32 {
        let note = Note {
            text: format!("note {i}"),
            stars: (i % 3 == 0).then_some(i as u8),
            tags: vec!["a".into(); i as usize % 4],
        };
        rt.spawn((Counter(i), note));
    }
    rt.world_mut().resource_mut::<Settings>().theme = "dark".into();
    rt.snapshot_full().unwrap();
    let n = notes(&mut rt);
    rt.close().unwrap();
    n
}

#[test]
fn unknown_components_fail_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.redb");
    write_full(&db);
    let err = partial_app(&db).open().unwrap_err().to_string();
    assert!(
        err.contains("`other.note`") && err.contains("does not register"),
        "{err}"
    );
    // The fix is named: register it, or choose a policy for such types.
    assert!(
        err.contains("App::unknown_components(Unknown::Skip)"),
        "{err}"
    );
}

#[test]
fn unknown_components_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.redb");
    write_full(&db);
    let mut rt = partial_app(&db)
        .unknown_components(Unknown::Skip)
        .open()
        .unwrap();
    assert_eq!(
        rt.world_mut().query::<&Counter>().iter(rt.world()).count(),
        50
    );
    rt.snapshot_full().unwrap();
    rt.close().unwrap();
    let mut back = full_app(&db).open().unwrap();
    assert!(
        notes(&mut back).is_empty(),
        "skipped data is not written again"
    );
}

#[test]
fn unknown_components_are_kept_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.redb");
    let expected = write_full(&db);

    // A tool without the "other" plugin works on the file: changes counters,
    // despawns one entity, writes a full snapshot and deltas.
    let mut rt = partial_app(&db)
        .unknown_components(Unknown::Keep)
        .open()
        .unwrap();
    let mut q = rt.world_mut().query::<(Entity, &mut Counter)>();
    let mut gone = None;
    for (e, mut c) in q.iter_mut(rt.world_mut()) {
        c.0 += 1000;
        if c.0 == 1007 {
            gone = Some(e);
        }
    }
    rt.world_mut().despawn(gone.unwrap());
    rt.tick().unwrap();
    rt.snapshot_full().unwrap();
    rt.spawn(Counter(5000));
    rt.tick().unwrap();
    rt.snapshot().unwrap();
    rt.close().unwrap();

    // The plugin's owner finds its data intact.
    let mut back = full_app(&db).open().unwrap();
    let got = notes(&mut back);
    let want: Vec<(u32, Note)> = expected
        .into_iter()
        .filter(|(c, _)| *c != 7)
        .map(|(c, n)| (c + 1000, n))
        .collect();
    assert_eq!(got, want);
    assert_eq!(back.world().resource::<Settings>().theme, "dark");
}
