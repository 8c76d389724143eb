//! The `dizzy` binary registers none of an app's types; what it writes into
//! an app's file (`dizzy compact --squash`, `dizzy import --unknown keep`)
//! must resume in the app exactly as the app's own writes would (found by a
//! fresh tester, a radio station):
//! - a registered resource a system removed stays removed: the binary's
//!   snapshot records the app's schemas, so the app does not take the
//!   resource for one registered since and insert its initial value again;
//! - values the binary imports are new to every system after the resume,
//!   as values the app imports between ticks are;
//! - a relationship the binary imports has the order the app's import
//!   gives it;
//! - the binary's snapshot records the app's types, not the binary's own
//!   (its demos').

use std::path::Path;

use dizzy::prelude::*;
use dizzy::{ExportOptions, OnConflict, Selection};
use dizzy_tests::dizzy_ok;

#[derive(Resource, Serialize, Deserialize, Debug, PartialEq)]
struct Beacon(u32);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Song(u64);
#[derive(Resource, Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
struct Seen(Vec<usize>);

fn switch_off(tick: Res<TickCount>, mut commands: Commands) {
    if tick.0 == 2 {
        commands.remove_resource::<Beacon>();
    }
}

fn reader(added: Query<&Song, Added<Song>>, mut seen: ResMut<Seen>) {
    seen.0.push(added.iter().count());
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .resource("fm.beacon", Beacon(7))
        .component::<Song>("fm.song")
        .resource("fm.seen", Seen::default())
        .systems((reader, switch_off))
}

fn songs_bundle(dir: &Path) -> std::path::PathBuf {
    let mut src = app(&dir.join("src.redb")).open().unwrap();
    src.spawn(Song(1));
    src.spawn(Song(2));
    let b = src
        .export(
            &Selection::With("fm.song".into()),
            &ExportOptions::default(),
        )
        .unwrap();
    let path = dir.join("songs.bundle");
    std::fs::write(&path, &b.bytes).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_removed_resource_stays_removed_after_the_binary_rewrites_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = songs_bundle(dir.path());
    for (full, tool) in [
        (false, "squash"),
        (true, "squash"),
        (false, "import"),
        (true, "import"),
    ] {
        let db = dir.path().join(format!("beacon-{full}-{tool}.redb"));
        let mut run = app(&db).open().unwrap();
        run.run_ticks(3).unwrap();
        if full {
            run.snapshot_full().unwrap();
        }
        run.close().unwrap();
        assert!(
            app(&db)
                .open()
                .unwrap()
                .world()
                .get_resource::<Beacon>()
                .is_none()
        );
        match tool {
            "squash" => dizzy_ok(&["compact", "--db", s(&db), "--squash"]),
            _ => dizzy_ok(&["import", "--unknown", "keep", "--db", s(&db), s(&bundle)]),
        };
        // The binary's snapshot records the app's types, not its own.
        let meta = dizzy::Store::open_to_read(&db)
            .unwrap()
            .latest()
            .unwrap()
            .unwrap();
        let mut names: Vec<&str> = meta.schemas.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        let want = [
            "dizzy.caused_by",
            "dizzy.correlation",
            "fm.beacon",
            "fm.seen",
            "fm.song",
        ];
        assert_eq!(names, want, "after `dizzy {tool}`");
        let run = app(&db).open().unwrap();
        assert_eq!(
            run.world().get_resource::<Beacon>(),
            None,
            "after `dizzy {tool}` (latest snapshot full: {full})"
        );
        assert!(run.code_changes().is_none(), "{:?}", run.code_changes());
    }
}

#[test]
fn values_the_binary_imports_are_new_to_the_apps_systems() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = songs_bundle(dir.path());
    let bytes = std::fs::read(&bundle).unwrap();

    // The run that never stopped: imports between ticks.
    let mut live = app(&dir.path().join("live.redb")).open().unwrap();
    live.run_ticks(1).unwrap();
    live.import(&bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    live.run_ticks(1).unwrap();
    let want = live.world().resource::<Seen>().0.clone();
    assert_eq!(want, vec![0, 2]);

    for by_binary in [false, true] {
        let db = dir.path().join(format!("t-{by_binary}.redb"));
        let mut run = app(&db).open().unwrap();
        run.run_ticks(1).unwrap();
        run.close().unwrap();
        if by_binary {
            dizzy_ok(&["import", "--unknown", "keep", "--db", s(&db), s(&bundle)]);
        } else {
            let mut run = app(&db).open().unwrap();
            run.import(&bytes, OnConflict::Remap, RefPolicy::Fail)
                .unwrap();
            run.close().unwrap();
        }
        let mut run = app(&db).open().unwrap();
        run.run_ticks(1).unwrap();
        assert_eq!(
            run.world().resource::<Seen>().0,
            want,
            "imported by the binary: {by_binary}"
        );
    }
}

#[derive(Component, Serialize, Deserialize, Debug)]
struct Show(char);
#[derive(Component, Serialize, Deserialize, Debug)]
#[relationship(relationship_target = Tracks)]
struct InShow(#[entities] Entity);
#[derive(Component, Debug)]
#[relationship_target(relationship = InShow)]
struct Tracks(Vec<Entity>);

fn radio(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Show>("fm.show")
        .component::<Song>("fm.song")
        .component::<InShow>("fm.in_show")
}

/// A show with songs 1 and 2, then (`more`) song 3; with `swap`, song 1 is
/// moved to the end of the list.
fn make_show(db: &Path, more: bool, swap: bool) {
    let mut run = radio(db).open().unwrap();
    let show = run.spawn(Show('e'));
    let one = run.spawn((Song(1), InShow(show)));
    run.spawn((Song(2), InShow(show)));
    if more {
        run.spawn((Song(3), InShow(show)));
    }
    if swap {
        run.world_mut().entity_mut(one).insert(InShow(show));
    }
    run.close().unwrap();
}

/// A bundle of the songs of `src` (and the show they name), exported by
/// the binary.
fn export_songs(dir: &Path, src: &Path) -> std::path::PathBuf {
    let bundle = dir.join("show.bundle");
    dizzy_ok(&[
        "export",
        "--db",
        s(src),
        "--with",
        "fm.song",
        "-o",
        s(&bundle),
    ]);
    bundle
}

/// The songs of the show, in its list's order.
fn tracks(db: &Path) -> Vec<u64> {
    let mut run = radio(db).open().unwrap();
    let world = run.world_mut();
    let mut q = world.query::<&Tracks>();
    let list: Vec<Entity> = q.single(world).unwrap().iter().collect();
    list.iter()
        .map(|&e| world.get::<Song>(e).unwrap().0)
        .collect()
}

#[test]
fn the_binary_imports_a_relationship_in_the_order_the_app_would() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.redb");
    make_show(&src, true, false);
    let bundle = export_songs(dir.path(), &src);
    let bytes = std::fs::read(&bundle).unwrap();
    for swap in [false, true] {
        for conflict in ["skip", "replace"] {
            let by_app = dir.path().join(format!("app-{swap}-{conflict}.redb"));
            let by_bin = dir.path().join(format!("bin-{swap}-{conflict}.redb"));
            make_show(&by_app, false, swap);
            make_show(&by_bin, false, swap);
            let mut run = radio(&by_app).open().unwrap();
            let on: OnConflict = conflict.parse().unwrap();
            run.import(&bytes, on, RefPolicy::Fail).unwrap();
            run.close().unwrap();
            dizzy_ok(&[
                "import",
                "--unknown",
                "keep",
                "--on-conflict",
                conflict,
                "--db",
                s(&by_bin),
                s(&bundle),
            ]);
            let want = tracks(&by_app);
            assert_eq!(want.len(), 3, "{want:?}");
            assert_eq!(
                tracks(&by_bin),
                want,
                "--on-conflict {conflict}, list reordered before: {swap}"
            );
        }
    }
}

#[test]
fn squashing_a_file_without_a_snapshot_makes_none_up() {
    // What a run killed before its first snapshot leaves: a file without one.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.redb");
    drop(dizzy::Store::open(&db).unwrap());
    let out = dizzy_ok(&["compact", "--db", s(&db), "--squash", "--json"]);
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["squashed"], serde_json::Value::Null, "{out}");
    assert_eq!(
        dizzy::Store::open_to_read(&db)
            .unwrap()
            .snapshot_count()
            .unwrap(),
        0
    );
    // The program starts, as it would have without the squash.
    let run = app(&db).open().unwrap();
    assert_eq!(run.resumed_from(), None);
}

#[derive(Component, Serialize, Deserialize, Debug)]
struct Barn(u32);
#[derive(Component, Serialize, Deserialize, Debug)]
struct Cow(u32);
#[derive(Resource, Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
struct Herd(Vec<String>);

fn herd_watch(
    changed: Query<&Barn, Changed<Children>>,
    added: Query<&Barn, Added<Children>>,
    mut log: ResMut<Herd>,
) {
    let mut c: Vec<u32> = changed.iter().map(|b| b.0).collect();
    let mut a: Vec<u32> = added.iter().map(|b| b.0).collect();
    c.sort();
    a.sort();
    log.0.push(format!("changed {c:?} added {a:?}"));
}

fn dairy(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Barn>("d.barn")
        .component::<Cow>("d.cow")
        .component::<ChildOf>("d.child_of")
        .resource("d.herd", Herd::default())
        .systems(herd_watch)
}

/// Barn 1 with cow 10; with `more`, cow 11 in barn 1 and barn 2 with cows
/// 20 and 21.
fn make_dairy(db: &Path, more: bool) {
    let mut run = dairy(db).open().unwrap();
    let one = run.spawn(Barn(1));
    run.spawn((Cow(10), ChildOf(one)));
    if more {
        run.spawn((Cow(11), ChildOf(one)));
        let two = run.spawn(Barn(2));
        run.spawn((Cow(20), ChildOf(two)));
        run.spawn((Cow(21), ChildOf(two)));
    }
    run.run_ticks(1).unwrap();
    run.close().unwrap();
}

#[test]
fn children_the_binary_imports_are_changed_for_the_apps_systems() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.redb");
    make_dairy(&src, true);
    let bundle = dir.path().join("cows.bundle");
    dizzy_ok(&[
        "export",
        "--db",
        s(&src),
        "--with",
        "d.cow",
        "-o",
        s(&bundle),
    ]);
    let bytes = std::fs::read(&bundle).unwrap();
    let mut logs = Vec::new();
    for by_binary in [false, true] {
        let db = dir.path().join(format!("d-{by_binary}.redb"));
        make_dairy(&db, false);
        if by_binary {
            dizzy_ok(&[
                "import",
                "--unknown",
                "keep",
                "--on-conflict",
                "skip",
                "--db",
                s(&db),
                s(&bundle),
            ]);
        } else {
            let mut run = dairy(&db).open().unwrap();
            run.import(&bytes, OnConflict::Skip, RefPolicy::Fail)
                .unwrap();
            run.close().unwrap();
        }
        let mut run = dairy(&db).open().unwrap();
        run.run_ticks(1).unwrap();
        logs.push(run.world().resource::<Herd>().0.clone());
    }
    assert_eq!(
        logs[0].last().map(String::as_str),
        Some("changed [1, 2] added [2]"),
        "{logs:?}"
    );
    assert_eq!(logs[1], logs[0], "imported by the binary, then by the app");
}

#[test]
fn a_bundle_the_binary_exports_keeps_a_relationships_order() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.redb");
    make_show(&src, true, true);
    assert_eq!(tracks(&src), [2, 3, 1]);
    let bundle = export_songs(dir.path(), &src);
    let bytes = std::fs::read(&bundle).unwrap();
    let db = dir.path().join("new.redb");
    let mut run = radio(&db).open().unwrap();
    run.import(&bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    run.close().unwrap();
    assert_eq!(tracks(&db), [2, 3, 1], "the source's order");
}
