//! Change detection recorded by older files keeps working: until
//! 2026-11-30 a snapshot stored the ages of the values changed in its last
//! tick as `@ticks/<name>` (one keyed row per value); now as `@ages/<name>`
//! (uids grouped by age, stored as gaps). `tests/fixtures/ticks-columns.redb`
//! was written by the code of that time with the app below; resuming it must
//! give the readers what they would have seen in a run that never stopped,
//! and so must a file written now.
//!
//! To rewrite the fixture: run this test once with
//! `DIZZY_WRITE_FIXTURE=ticks` (with the code whose format it should keep).

use std::path::{Path, PathBuf};

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Level(u32);

/// What the readers saw, tick by tick: (uid, level) of each changed value,
/// and the uids of the values added.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
struct Seen(Vec<(Vec<(u64, u32)>, Vec<u64>)>);

fn read(
    changed: Query<(&Uid, &Level), Changed<Level>>,
    added: Query<&Uid, Added<Level>>,
    mut seen: ResMut<Seen>,
) {
    let mut c: Vec<(u64, u32)> = changed.iter().map(|(u, l)| (u.get(), l.0)).collect();
    c.sort_unstable();
    let mut a: Vec<u64> = added.iter().map(|u| u.get()).collect();
    a.sort_unstable();
    seen.0.push((c, a));
}

/// Runs after `read`: what it changes is still new to `read` at the next
/// tick, across a resume too.
fn bump(mut levels: Query<(&Uid, &mut Level)>, tick: Res<TickCount>) {
    for (uid, mut level) in &mut levels {
        if (uid.get() + tick.0).is_multiple_of(3) {
            level.0 += 1;
        }
    }
}

/// Runs last: spawns values that are added after `read` ran.
fn spawn(mut commands: Commands, tick: Res<TickCount>) {
    for i in 0..5 {
        commands.spawn(Level(tick.0 as u32 * 100 + i));
    }
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Level>("gauge.level")
        .resource::<Seen>("gauge.seen", Seen::default())
        .systems((read, bump, spawn).chain())
        .snapshot_every_ticks(1)
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/ticks-columns.redb")
}

/// Runs `ticks` ticks on `db` (resuming whatever it holds) and closes it.
fn run(db: &Path, ticks: u64) {
    let mut rt = app(db).open().unwrap();
    rt.run_ticks(ticks).unwrap();
    rt.close().unwrap();
}

fn seen(db: &Path) -> Seen {
    let rt = app(db).open().unwrap();
    let seen = rt.world().resource::<Seen>().clone();
    rt.close().unwrap();
    seen
}

#[test]
fn a_file_with_ticks_columns_resumes_with_its_change_detection() {
    if std::env::var("DIZZY_WRITE_FIXTURE").is_ok_and(|f| f == "ticks") {
        let _ = std::fs::remove_file(fixture());
        run(&fixture(), 4);
    }
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight.redb");
    run(&straight, 8);
    let expected = seen(&straight);
    assert_eq!(expected.0.len(), 8);
    // Every tick after the first sees changes and additions, so a resume
    // that lost them (or made everything new) would differ.
    assert!(
        expected.0[1..]
            .iter()
            .all(|(c, a)| !c.is_empty() && !a.is_empty() && c.len() < 40),
        "{expected:?}"
    );

    let old = dir.path().join("old.redb");
    std::fs::copy(fixture(), &old).unwrap();
    {
        let rt = app(&old).open().unwrap();
        assert!(rt.resumed_from().is_some());
        assert_eq!(
            rt.world().resource::<TickCount>().0,
            4,
            "the fixture ran 4 ticks"
        );
        rt.close().unwrap();
    }
    run(&old, 4);
    assert_eq!(seen(&old), expected, "resumed from @ticks columns");

    // The same stop, written now (`@ages` columns).
    let new = dir.path().join("new.redb");
    run(&new, 4);
    run(&new, 4);
    assert_eq!(seen(&new), expected, "resumed from @ages columns");
}
