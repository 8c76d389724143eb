//! A number field whose type changed without a version bump is read only if
//! every value of the old type is a value of the new one (`u32` to `u64`,
//! `f32` to `f64`, `u16` to `f32`); a narrowing change (`f64` to `f32`,
//! `u64` to `u32`, `i32` to `u64`) is refused for every file, even one whose
//! values happen to fit — so whether a file opens never depends on its
//! values, and 1e300 never becomes infinity silently. The refused file is
//! left as it was.

use dizzy::prelude::*;

mod old {
    use dizzy::prelude::*;
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Reading {
        pub temp: f64,
        pub count: u64,
        pub small: u16,
        pub signed: i32,
        pub level: f32,
    }
}

mod wider {
    use dizzy::prelude::*;
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Reading {
        pub temp: f64,
        pub count: u128,
        pub small: f32,
        pub signed: f64,
        pub level: f64,
    }
}

macro_rules! narrower {
    ($name:ident, $temp:ty, $count:ty, $signed:ty, $level:ty) => {
        mod $name {
            use dizzy::prelude::*;
            #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
            pub struct Reading {
                pub temp: $temp,
                pub count: $count,
                pub small: u16,
                pub signed: $signed,
                pub level: $level,
            }
        }
    };
}
narrower!(f64_to_f32, f32, u64, i32, f32);
narrower!(u64_to_u32, f64, u32, i32, f32);
narrower!(i32_to_u64, f64, u64, u64, f32);
narrower!(f32_to_i64, f64, u64, i32, i64);

fn app<T: Component + Serialize + serde::de::DeserializeOwned>(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<T>("lab.reading")
        .snapshot_policy(SnapshotPolicy::OFF)
}

fn write(db: &std::path::Path) -> old::Reading {
    let value = old::Reading {
        temp: 1.0,
        count: 2,
        small: 65_535,
        signed: -3,
        level: 0.5,
    };
    let mut rt = app::<old::Reading>(db).open().unwrap();
    rt.spawn(value.clone());
    rt.close().unwrap();
    value
}

fn refused<T: Component + Serialize + serde::de::DeserializeOwned>(
    db: &std::path::Path,
    field: &str,
    from: &str,
    to: &str,
) {
    let err = app::<T>(db).open().unwrap_err().to_string();
    assert!(err.contains("lab.reading"), "{err}");
    assert!(
        err.contains(&format!("`{field}`")),
        "names the field: {err}"
    );
    assert!(
        err.contains(&format!("stored as {from}, read as {to}")),
        "{err}"
    );
    assert!(err.contains("migration"), "the fix: {err}");
    assert!(!err.contains("corrupt"), "{err}");
}

#[test]
fn narrowing_is_refused_even_when_every_stored_value_fits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    let before = write(&db);
    refused::<f64_to_f32::Reading>(&db, "temp", "f64", "f32");
    refused::<u64_to_u32::Reading>(&db, "count", "u64", "u32");
    refused::<i32_to_u64::Reading>(&db, "signed", "i32", "u64");
    refused::<f32_to_i64::Reading>(&db, "level", "f32", "i64");
    // The file is as it was: the old build reads it back.
    let mut rt = app::<old::Reading>(&db).open().unwrap();
    let w = rt.world_mut();
    let got: Vec<old::Reading> = w.query::<&old::Reading>().iter(w).cloned().collect();
    assert_eq!(got, vec![before]);
    rt.close().unwrap();
}

#[test]
fn widening_keeps_every_value_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    write(&db);
    let mut rt = app::<wider::Reading>(&db).open().unwrap();
    let w = rt.world_mut();
    let got: Vec<wider::Reading> = w.query::<&wider::Reading>().iter(w).cloned().collect();
    assert_eq!(
        got,
        vec![wider::Reading {
            temp: 1.0,
            count: 2,
            small: 65_535.0,
            signed: -3.0,
            level: 0.5,
        }]
    );
}
