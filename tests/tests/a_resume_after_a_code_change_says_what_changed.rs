//! A run resumed by different code says exactly what changed (systems
//! added, removed, changed in version or access, ordering, registered
//! types), in `Runtime::code_changes` and as one block; `CodeChange::Refuse`
//! refuses to resume and leaves the file as it was; the same code reports
//! nothing; a file written before the code was recorded reports nothing
//! either; `dizzy graph --diff` shows the changes between two snapshots.

use std::path::{Path, PathBuf};

use dizzy::prelude::*;
use dizzy::systems::{CodeChanges, Edge, SystemChange};
use dizzy::{CodeChange, OpenError};
use dizzy_tests::dizzy_ok;

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Reading(f64);

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct HeatIndex(f64);

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Risk(bool);

#[derive(Resource, Serialize, Deserialize, Clone, Debug)]
struct Limits {
    high: f64,
}

#[derive(Resource, Serialize, Deserialize, Clone, Debug, Default)]
struct Alerts(u64);

fn heat_index(mut commands: Commands, readings: Query<(Entity, &Reading), Without<HeatIndex>>) {
    for (e, r) in &readings {
        commands.entity(e).insert(HeatIndex(r.0 * 1.1));
    }
}

fn log_count(readings: Query<&Reading>) {
    let _ = readings.iter().count();
}

/// The first version of the code.
mod v1 {
    use super::*;

    pub fn risk(mut commands: Commands, indices: Query<(Entity, &HeatIndex), Without<Risk>>) {
        for (e, h) in &indices {
            commands.entity(e).insert(Risk(h.0 > 35.0));
        }
    }

    pub fn app(db: &Path) -> App {
        let mut app = App::new()
            .db(db)
            .component::<Reading>("weather.reading")
            .component::<HeatIndex>("weather.heat_index")
            .component::<Risk>("weather.risk")
            .systems(((heat_index, risk).chain(), log_count))
            .snapshot_every_ticks(1);
        app.setup().declare(heat_index).creates::<HeatIndex>();
        app.setup().declare(risk).creates::<Risk>();
        app
    }
}

/// The second: a new formula in `heat_index` (its version bumped), `risk`
/// reads a threshold, `alert` counts risky readings, `log_count` is gone.
mod v2 {
    use super::*;

    pub fn risk(
        mut commands: Commands,
        limits: Res<Limits>,
        indices: Query<(Entity, &HeatIndex), Without<Risk>>,
    ) {
        for (e, h) in &indices {
            commands.entity(e).insert(Risk(h.0 > limits.high));
        }
    }

    pub fn alert(risks: Query<&Risk, Added<Risk>>, mut alerts: ResMut<Alerts>) {
        alerts.0 += risks.iter().filter(|r| r.0).count() as u64;
    }

    pub fn app(db: &Path) -> App {
        let mut app = App::new()
            .db(db)
            .component::<Reading>("weather.reading")
            .component::<HeatIndex>("weather.heat_index")
            .component::<Risk>("weather.risk")
            .resource("weather.limits", Limits { high: 30.0 })
            .resource("weather.alerts", Alerts::default())
            .systems((heat_index, risk, alert).chain())
            .system_version(heat_index, 2)
            .snapshot_every_ticks(1);
        app.setup().declare(heat_index).creates::<HeatIndex>();
        app.setup().declare(risk).creates::<Risk>();
        app
    }
}

fn expected() -> CodeChanges {
    CodeChanges {
        systems_added: vec!["alert".into()],
        systems_removed: vec!["log_count".into()],
        systems_changed: vec![
            SystemChange {
                name: "heat_index".into(),
                version: Some((1, 2)),
                ..SystemChange::default()
            },
            SystemChange {
                name: "risk".into(),
                reads_added: vec!["Res<weather.limits>".into()],
                ..SystemChange::default()
            },
        ],
        order_added: vec![Edge {
            from: "risk".into(),
            to: "alert".into(),
        }],
        order_removed: vec![],
        schemas_added: vec!["weather.alerts".into(), "weather.limits".into()],
        schemas_removed: vec![],
        schemas_changed: vec![],
    }
}

/// A file written by the first version: two readings, two ticks.
fn written_by_v1(dir: &Path) -> PathBuf {
    let db = dir.join("weather.redb");
    let mut rt = v1::app(&db).open().unwrap();
    rt.spawn(Reading(20.0));
    rt.spawn(Reading(33.0));
    rt.run_ticks(2).unwrap();
    assert_eq!(rt.code_changes(), None, "a new file has nothing to compare");
    rt.close().unwrap();
    db
}

#[test]
fn the_same_code_resumes_without_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = written_by_v1(dir.path());
    let rt = v1::app(&db)
        .on_code_change(CodeChange::Refuse)
        .open()
        .unwrap();
    assert_eq!(rt.resumed_from(), Some(2));
    assert_eq!(rt.code_changes(), None);
}

#[test]
fn changed_code_is_reported_exactly_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let db = written_by_v1(dir.path());
    let mut rt = v2::app(&db).open().unwrap();
    let changes = rt.code_changes().expect("the code changed").clone();
    assert_eq!(changes, expected());
    assert_eq!(
        changes.to_string(),
        [
            "  systems added: alert",
            "  systems removed: log_count",
            "  system changed: heat_index: version 1 -> 2",
            "  system changed: risk: reads +Res<weather.limits>",
            "  order added: risk -> alert",
            "  types added: weather.alerts, weather.limits",
        ]
        .join("\n")
    );
    // The run goes on with the new code.
    rt.spawn(Reading(40.0));
    rt.run_ticks(2).unwrap();
    let world = rt.world_mut();
    let risky = world.query::<&Risk>().iter(world).filter(|r| r.0).count();
    assert_eq!(risky, 2, "33 °C under the old formula, 40 °C under the new");
    rt.close().unwrap();

    // The file now holds snapshots of both: `graph --diff` compares them.
    let db = db.to_str().unwrap();
    let text = dizzy_ok(&["graph", "--db", db, "--diff", "1", "latest"]);
    assert_eq!(text, format!("changes from 1 to latest:\n{}\n", expected()));
    let json = dizzy_ok(&[
        "graph", "--db", db, "--diff", "1", "latest", "--format", "json",
    ]);
    let parsed: CodeChanges = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, expected());
    let same = dizzy_ok(&["graph", "--db", db, "--diff", "1", "2"]);
    assert_eq!(same, "no changes from 1 to 2\n");
    // And reopening with the second version reports nothing more.
    assert_eq!(v2::app(Path::new(db)).open().unwrap().code_changes(), None);
}

#[test]
fn refuse_names_what_changed_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = written_by_v1(dir.path());
    let before = std::fs::read(&db).unwrap();
    let err = v2::app(&db)
        .on_code_change(CodeChange::Refuse)
        .open()
        .expect_err("the refuse policy refuses changed code");
    let OpenError::CodeChanged {
        path,
        snapshot,
        changes,
        ..
    } = &err
    else {
        panic!("not a code change: {err}");
    };
    assert_eq!((path.as_path(), *snapshot), (db.as_path(), 2));
    assert_eq!(**changes, expected());
    let message = err.to_string();
    for part in [
        db.to_str().unwrap(),
        "snapshot 2",
        "refusing to resume",
        "heat_index: version 1 -> 2",
        "systems removed: log_count",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file is untouched");
    // The old code still resumes it.
    assert_eq!(v1::app(&db).open().unwrap().resumed_from(), Some(2));
}

// A file written before the code was recorded (the format-2 fixture of
// `old_files_keep_loading`): different code resumes it without a report,
// even under the refuse policy.

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Place {
    name: String,
    height: i32,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Road {
    #[entities]
    to: Entity,
    km: f32,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
#[component(storage = "SparseSet")]
struct Capital;

#[derive(Resource, Serialize, Deserialize, Clone, Debug)]
struct Atlas {
    edition: u32,
}

fn grow(mut places: Query<&mut Place>) {
    for mut p in &mut places {
        p.height += 1;
    }
}

#[test]
fn a_file_without_the_record_resumes_without_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("old.redb");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/format-2.redb"),
        &copy,
    )
    .unwrap();
    let mut rt = App::new()
        .db(&copy)
        .component::<Place>("atlas.place")
        .component::<Road>("atlas.road")
        .component::<Capital>("atlas.capital")
        .resource("atlas.atlas", Atlas { edition: 0 })
        .systems(grow)
        .on_code_change(CodeChange::Refuse)
        .open()
        .unwrap();
    assert_eq!(rt.resumed_from(), Some(2));
    assert_eq!(rt.code_changes(), None);
    rt.tick().unwrap();
    rt.close().unwrap();
}

/// A system of the same short name as `v1::risk`, elsewhere: adding it
/// makes bevy's short names collide, so both are shown by their full names.
mod elsewhere {
    use super::*;

    pub fn risk(readings: Query<&Reading>) {
        let _ = readings.iter().count();
    }
}

#[test]
fn a_system_whose_short_name_collides_is_the_only_change_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = written_by_v1(dir.path());
    let rt = v1::app(&db)
        .systems(elsewhere::risk.after(v1::risk))
        .open()
        .unwrap();
    let changes = rt.code_changes().cloned().expect("a change is reported");
    // Only the new system and its edge: the unchanged `risk` is not
    // reported removed and added again under its longer name.
    assert_eq!(changes.systems_added.len(), 1, "{changes}");
    assert!(
        changes.systems_added[0].ends_with("elsewhere::risk"),
        "{changes}"
    );
    assert!(changes.systems_removed.is_empty(), "{changes}");
    assert!(changes.systems_changed.is_empty(), "{changes}");
    assert!(changes.order_removed.is_empty(), "{changes}");
    assert_eq!(changes.order_added.len(), 1, "{changes}");
    assert!(
        changes.order_added[0].to.ends_with("elsewhere::risk"),
        "{changes}"
    );
    rt.close().unwrap();
}
