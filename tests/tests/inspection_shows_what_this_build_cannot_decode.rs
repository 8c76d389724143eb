//! The inspection commands work on any dizzy file. Components the `dizzy`
//! binary does not register are decoded from the serde shape the file
//! records (format 2); where the file records none (format 1), every
//! entity is still shown, its undecodable components are listed, and a
//! note names them — nothing fails, except asking to export one of them.

use dizzy::prelude::*;
use dizzy_tests::dizzy;
use serde_json::{Value, json};

fn output(args: &[&str]) -> (Value, String) {
    let out = dizzy().args(args).output().expect("run dizzy");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dizzy {args:?} failed: {stderr}");
    let value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    (value, stderr)
}

#[test]
fn a_file_without_shapes_is_shown_with_its_undecodable_components_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("format-1.redb");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/format-1.redb");
    std::fs::copy(fixture, &db).unwrap();
    let db = db.to_str().unwrap();

    let (shown, note) = output(&["show", "--db", db, "--json"]);
    assert_eq!(
        shown,
        json!([
            {"uid": 2, "@undecoded": ["atlas.place", "atlas.road"]},
            {"uid": 3, "@undecoded": ["atlas.capital", "atlas.place"]},
            {"uid": 4, "@undecoded": ["atlas.place", "atlas.road"]},
        ])
    );
    assert!(
        note.starts_with("note: not decodable by this build: "),
        "{note}"
    );
    for name in ["atlas.atlas", "atlas.capital", "atlas.place", "atlas.road"] {
        assert!(note.contains(name), "{name} in {note}");
    }

    let (stats, _) = output(&["stats", "--db", db, "--json"]);
    assert_eq!(stats[0]["components"]["atlas.place"]["entities"], 4);
    assert_eq!(stats[1]["components"]["atlas.place"]["entities"], 3);
    assert_eq!(stats[1]["components"]["atlas.road"]["entities"], 2);

    let (diff, _) = output(&["diff", "--db", db, "1", "2", "--json"]);
    assert_eq!(diff["despawned"], json!([{"uid": 5}]));
    assert_eq!(
        diff["added"],
        json!([{"uid": 4, "component": "atlas.road", "value": null}])
    );
    assert!(diff["not_decodable"]["atlas.road"].is_string(), "{diff}");

    let out = dizzy()
        .args(["export-table", "--db", db, "--with", "atlas.place"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`atlas.place` is not decodable by this build"),
        "{err}"
    );
}

#[derive(Component, Serialize, Deserialize)]
struct Pin {
    label: String,
    #[entities]
    at: Entity,
}

#[test]
fn unknown_components_are_decoded_from_the_recorded_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("pins.redb");
    let db = db_path.to_str().unwrap();
    let mut rt = App::new()
        .db(&db_path)
        .plugin(dizzy_demos::dedupe::DedupePlugin::default())
        .component::<Pin>("test.pin")
        .open()
        .unwrap();
    let home = rt.spawn(dizzy_demos::dedupe::Dir {
        path: "home".into(),
    });
    rt.spawn(Pin {
        label: "here".into(),
        at: home,
    });
    rt.close().unwrap();

    let (shown, note) = output(&["show", "--db", db, "--with", "test.pin", "--json"]);
    assert_eq!(
        shown,
        json!([{"uid": 3, "test.pin": {"label": "here", "at": 2}}])
    );
    assert!(note.is_empty(), "everything decodes: {note}");
    let (home, _) = output(&["show", "--db", db, "--uid", "2", "--json"]);
    assert_eq!(home, json!([{"uid": 2, "dedupe.dir": {"path": "home"}}]));
}
