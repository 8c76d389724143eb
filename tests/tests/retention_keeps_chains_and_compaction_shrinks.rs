//! With `keep_last`, old snapshots are deleted as new ones commit, but every
//! retained snapshot stays restorable (its delta chain is kept); `dizzy
//! compact` then leaves a file no larger than 2.5x the live snapshot bytes.

use dizzy::prelude::*;
use dizzy::snapshots::{RestoreOptions, Store, restore};
use dizzy_tests::dizzy;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Value(u64, String);

fn bump(mut q: Query<&mut Value>, t: Res<TickCount>) {
    for mut v in &mut q {
        if v.0 % 7 == t.0 % 7 {
            v.0 += 100;
            v.1.push('x');
        }
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Value>("t.value")
        .systems(bump)
        .snapshot_policy(SnapshotPolicy::EVERY_TICK)
        .keep_last(4)
        .capture_settings(dizzy::snapshots::CaptureSettings {
            max_chain: 5,
            ..Default::default()
        })
}

#[test]
fn old_snapshots_go_retained_ones_restore() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.redb");
    let mut rt = app(&db).open().unwrap();
    for i in 0..100_000 {
        rt.spawn(Value(i, format!("value number {i}")));
    }
    for _ in 0..20 {
        rt.tick().unwrap();
        rt.flush().unwrap();
    }
    let expected: Vec<(u64, String)> = {
        let mut v: Vec<(u64, String)> = rt
            .world_mut()
            .query::<&Value>()
            .iter(rt.world())
            .map(|v| (v.0, v.1.clone()))
            .collect();
        v.sort_unstable();
        v
    };
    rt.close().unwrap();

    let store = Store::open_to_read(&db).unwrap();
    let snaps = store.snapshots().unwrap();
    assert!(
        snaps.len() <= 4 + 5,
        "at most the kept ones and one chain: {}",
        snaps.len()
    );
    assert!(snaps.len() >= 4);
    assert_eq!(snaps.last().unwrap().tick, 20);
    let reg = app(&db).registry_owned();
    for m in &snaps {
        let r = restore(
            &store,
            &reg,
            &RestoreOptions {
                snapshot: Some(m.id),
                ..Default::default()
            },
        );
        assert!(r.is_ok(), "snapshot {} restores: {:?}", m.id, r.err());
    }
    let mut latest = restore(&store, &reg, &RestoreOptions::default())
        .unwrap()
        .world;
    let mut got: Vec<(u64, String)> = latest
        .query::<&Value>()
        .iter(&latest)
        .map(|v| (v.0, v.1.clone()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, expected);
    drop(store);

    let out = dizzy()
        .args(["compact", "--db", db.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (after, live) = (
        c["bytes_after"].as_u64().unwrap(),
        c["live_bytes"].as_u64().unwrap(),
    );
    assert!(after <= c["bytes_before"].as_u64().unwrap());
    assert!(live > 4 << 20, "enough data to measure: {live}");
    assert!(
        after as f64 <= 2.5 * live as f64,
        "{after} bytes for {live} live bytes"
    );
    eprintln!("compacted to {after} bytes for {live} live bytes");
    let reopened = app(&db).open().unwrap();
    assert_eq!(reopened.tick_count(), 20);
}

/// A snapshot retention deleted is refused by an error that says what the
/// file still holds (found by a fresh tester: it read as a made-up id did).
#[test]
fn a_deleted_snapshot_is_refused_naming_what_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.redb");
    let mut rt = app(&db).open().unwrap();
    for i in 0..100 {
        rt.spawn(Value(i, format!("{i}")));
    }
    for _ in 0..12 {
        rt.tick().unwrap();
        rt.flush().unwrap();
    }
    rt.close().unwrap();
    let ids: Vec<u64> = Store::open_to_read(&db)
        .unwrap()
        .snapshots()
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert!(!ids.contains(&1) && ids.len() >= 4, "{ids:?}");
    let (oldest, newest) = (ids[0], *ids.last().unwrap());

    let Err(err) = app(&db).at_snapshot(1).open() else {
        panic!("snapshot 1 is gone, and opened");
    };
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "no snapshot 1 (the file holds {} snapshots, {oldest} to {newest};",
            ids.len()
        )) && text.contains("retention"),
        "{text}"
    );
    let store = Store::open_to_read(&db).unwrap();
    let reg = app(&db).registry_owned();
    match restore(
        &store,
        &reg,
        &RestoreOptions {
            snapshot: Some(1),
            ..Default::default()
        },
    ) {
        Err(dizzy::snapshots::RestoreError::UnknownSnapshot {
            id,
            held,
            ids: range,
            ..
        }) => {
            assert_eq!(
                (id, held, range),
                (1, ids.len() as u64, Some((oldest, newest)))
            );
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let out = dizzy()
        .args(["show", "--db", db.to_str().unwrap(), "--snapshot", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{oldest} to {newest}")),
        "{stderr}"
    );
}
