//! Guards bundles of components the exporting binary does not register: the
//! `dizzy` binary exports a plugin's components (and what they reference,
//! found through the recorded shapes) byte for byte with their recorded
//! schema; an app that registers them imports and decodes them, references
//! resolved; one that does not refuses, skips or keeps them as its
//! `Unknown` policy says, and kept values come back decoded once an app
//! that registers them reopens the file.

use std::path::Path;

use dizzy::Unknown;
use dizzy::prelude::*;
use dizzy::snapshots::{ExportOptions, ImportError, OnConflict, Selection, read_bundle};
use dizzy_tests::{dizzy, dizzy_json};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Note {
    text: String,
    #[entities]
    about: Entity,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Tag(String);

/// The app of the plugin: it registers both types.
fn plugin_app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Note>("plugin.note")
        .component::<Tag>("plugin.tag")
}

/// A file of the plugin's app: five entities spawned and gone (so the
/// next uids are 7 and up), then "target" (uid 7), "noted" (uid 8, a note
/// about 7) and "other" (uid 9).
fn plugin_file(db: &Path) {
    let mut run = plugin_app(db).open().unwrap();
    let gone: Vec<Entity> = (0..5)
        .map(|i| run.spawn(Tag(format!("gone {i}"))))
        .collect();
    for e in gone {
        run.world_mut().despawn(e);
    }
    let target = run.spawn(Tag("target".into()));
    run.spawn((
        Tag("noted".into()),
        Note {
            text: "see the target".into(),
            about: target,
        },
    ));
    run.spawn(Tag("other".into()));
    run.close().unwrap();
}

/// The tags of a world by uid, and each note as (its tag, its text, the
/// tag of what it is about).
fn contents(world: &mut World) -> (Vec<(u64, String)>, Vec<(String, String, String)>) {
    let mut tags: Vec<(u64, String)> = world
        .query::<(&Uid, &Tag)>()
        .iter(world)
        .map(|(u, t)| (u.get(), t.0.clone()))
        .collect();
    tags.sort();
    let notes = world
        .query::<(&Tag, &Note)>()
        .iter(world)
        .map(|(t, n)| {
            let about = world.get::<Tag>(n.about).map(|t| t.0.clone());
            (t.0.clone(), n.text.clone(), about.unwrap_or_default())
        })
        .collect();
    (tags, notes)
}

fn one_line_error(args: &[&str]) -> String {
    let out = dizzy().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn the_dizzy_binary_exports_a_plugins_components_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.redb");
    plugin_file(&a);
    let bundle = dir.path().join("note.bundle");
    let printed = dizzy_json(&[
        "export",
        "--db",
        a.to_str().unwrap(),
        "--with",
        "plugin.note",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    // The note and, through its reference, its target.
    assert_eq!(printed["entities"], 2, "{printed}");
    let bytes = std::fs::read(&bundle).unwrap();
    let body = read_bundle(&bytes).unwrap();
    assert_eq!(body.uids, [7, 8]);

    // The same selection exported by the plugin's own app: the same
    // schemas and the same bytes.
    let own = plugin_app(&a).open().unwrap();
    let exported = own
        .export(
            &Selection::With("plugin.note".into()),
            &ExportOptions::default(),
        )
        .unwrap();
    let theirs = read_bundle(&exported.bytes).unwrap();
    let mut ours = body.columns.clone();
    ours.sort();
    let mut expected = theirs.columns.clone();
    expected.sort();
    assert_eq!(ours, expected, "values byte for byte");
    for schema in &theirs.schemas {
        let carried = body.schemas.iter().find(|s| s.name == schema.name).unwrap();
        assert_eq!(carried, schema, "{}", schema.name);
    }
    drop(own);

    // Without the closure the reference would leave the bundle, and this
    // build cannot rewrite a value of a type it does not register.
    let err = one_line_error(&[
        "export",
        "--db",
        a.to_str().unwrap(),
        "--with",
        "plugin.note",
        "--no-closure",
        "--drop-dangling",
        "-o",
        dir.path().join("cut.bundle").to_str().unwrap(),
    ]);
    assert!(
        err.contains("`plugin.note` of uid 8 references uid 7"),
        "{err}"
    );
}

#[test]
fn an_app_that_registers_them_imports_and_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.redb");
    plugin_file(&a);
    let bundle = dir.path().join("note.bundle");
    dizzy_json(&[
        "export",
        "--db",
        a.to_str().unwrap(),
        "--with",
        "plugin.note",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&bundle).unwrap();

    // The target world already has uids 2..=11: 7 and 8 are remapped.
    let b = dir.path().join("b.redb");
    let mut run = plugin_app(&b).open().unwrap();
    for i in 0..10 {
        run.spawn(Tag(format!("mine {i}")));
    }
    let map = run
        .import(&bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    assert_eq!(map.len(), 2);
    assert!(map.values().all(|&u| u > 11), "{map:?}");
    run.close().unwrap();
    let mut again = plugin_app(&b).open().unwrap();
    let (tags, notes) = contents(again.world_mut());
    assert_eq!(tags.len(), 12);
    assert_eq!(
        notes,
        [(
            "noted".to_owned(),
            "see the target".to_owned(),
            "target".to_owned()
        )]
    );
}

#[test]
fn an_app_without_them_refuses_skips_or_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.redb");
    plugin_file(&a);
    let bundle = dir.path().join("note.bundle");
    dizzy_json(&[
        "export",
        "--db",
        a.to_str().unwrap(),
        "--with",
        "plugin.note",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    let bundle = bundle.to_str().unwrap();

    // Refused when told to (the binary keeps them by default), before the
    // target file is even created.
    let c = dir.path().join("c.redb");
    let err = one_line_error(&[
        "import",
        "--unknown",
        "fail",
        "--db",
        c.to_str().unwrap(),
        bundle,
    ]);
    assert!(
        err.contains("`plugin.note`") && err.contains("does not register"),
        "{err}"
    );
    assert!(!c.exists());

    // Skipped: the entities arrive without them.
    let imported = dizzy_json(&[
        "import",
        "--db",
        c.to_str().unwrap(),
        bundle,
        "--unknown",
        "skip",
    ]);
    assert_eq!(imported["imported"], 2);
    let shown = dizzy_json(&["show", "--db", c.to_str().unwrap(), "--json"]);
    assert_eq!(shown, serde_json::json!([{"uid": 7}, {"uid": 8}]));

    // Kept: byte for byte, shown by their recorded shape, and decoded by
    // the plugin's app when it opens the file.
    let d = dir.path().join("d.redb");
    dizzy_json(&["import", "--db", d.to_str().unwrap(), bundle]);
    let shown = dizzy_json(&["show", "--db", d.to_str().unwrap(), "--json"]);
    assert_eq!(
        shown,
        serde_json::json!([
            {"uid": 7, "plugin.tag": "target"},
            {"uid": 8, "plugin.note": {"text": "see the target", "about": 7}, "plugin.tag": "noted"},
        ])
    );
    // (The `dizzy` binary's own resources are unknown to the plugin's app.)
    let mut reopened = plugin_app(&d)
        .unknown_components(Unknown::Skip)
        .open()
        .unwrap();
    let (_, notes) = contents(reopened.world_mut());
    assert_eq!(
        notes,
        [(
            "noted".to_owned(),
            "see the target".to_owned(),
            "target".to_owned()
        )]
    );
}

#[test]
fn kept_values_reach_the_next_snapshot_of_a_running_app() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.redb");
    plugin_file(&a);
    let bundle = dir.path().join("note.bundle");
    dizzy_json(&[
        "export",
        "--db",
        a.to_str().unwrap(),
        "--with",
        "plugin.note",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&bundle).unwrap();

    // An app that knows only its own type, keeping what it does not know,
    // on a file that already has snapshots (the next one could be a delta).
    #[derive(Component, Serialize, Deserialize)]
    struct Mine(u32);
    let e = dir.path().join("e.redb");
    let keeping = || {
        App::new()
            .db(&e)
            .component::<Mine>("mine.mine")
            .unknown_components(Unknown::Keep)
    };
    let mut run = keeping().open().unwrap();
    run.spawn(Mine(1));
    run.spawn(Mine(2));
    run.snapshot().unwrap();
    run.flush().unwrap();
    let map = run
        .import(&bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    assert_eq!(map.get(&7), Some(&7));
    assert_eq!(map.get(&8), Some(&8));
    run.close().unwrap();

    let mut plugin = plugin_app(&e)
        .component::<Mine>("mine.mine")
        .open()
        .unwrap();
    let (tags, notes) = contents(plugin.world_mut());
    assert_eq!(tags, [(7, "target".to_owned()), (8, "noted".to_owned())]);
    assert_eq!(
        notes,
        [(
            "noted".to_owned(),
            "see the target".to_owned(),
            "target".to_owned()
        )]
    );
    drop(plugin);

    // A kept value cannot follow its target to a new uid: refused, and the
    // world is unchanged.
    let f = dir.path().join("f.redb");
    let mut run = App::new()
        .db(&f)
        .component::<Mine>("mine.mine")
        .unknown_components(Unknown::Keep)
        .open()
        .unwrap();
    for i in 0..10 {
        run.spawn(Mine(i));
    }
    let before = run.world().resource::<Uids>().len();
    let err = run
        .import(&bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ImportError::KeptRemapped { component, holder: 8, target: 7 } if component == "plugin.note"
        ),
        "{err}"
    );
    assert_eq!(run.world().resource::<Uids>().len(), before);
}
