//! Cases a fresh tester (a brewery) found in the shapes dizzy records:
//! - a struct holding a date kept as a checked `"YYYY-MM-DD"` string had no
//!   shape at all, so a reorder of its two dates swapped them silently;
//! - enums inside a `Vec`, behind a `Box`, with `NonZeroU16` fields were
//!   recorded with a variant missing, so the next build refused a good file;
//! - a field that became a `NonZeroU8` called a file holding 0 corrupt;
//! - `#[serde(skip_serializing_if)]` was accepted, and the program could not
//!   reopen its own file.

use std::num::NonZeroU16;

use dizzy::components::UpgradeError;
use dizzy::prelude::*;
use dizzy::snapshots::RestoreError;

/// A date kept as `"YYYY-MM-DD"`, checked when read.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Date {
    y: u16,
    m: u8,
    d: u8,
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04}-{:02}-{:02}", self.y, self.m, self.d))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || serde::de::Error::custom(format!("`{s}` is not a date"));
        let mut parts = s.split('-');
        let mut next = || {
            parts
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(bad)
        };
        let (y, m, d) = (next()?, next()?, next()?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        Ok(Date {
            y,
            m: m as u8,
            d: d as u8,
        })
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Adjunct {
    kind: String,
    kg: NonZeroU16,
}

mod a {
    use super::*;
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Dates {
        pub seq: u64,
        pub brewed: Date,
        pub bottled: Date,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Style {
        Lager,
        Ale { ibu: u8 },
        Stout(Box<Adjunct>),
        Sour(u16, u16),
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Brew {
        pub seq: u64,
        pub alt: Vec<Style>,
        pub style: Style,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Meaning {
        pub seq: u64,
        pub zero: u8,
    }
}

mod b {
    use super::*;
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Dates {
        pub seq: u64,
        pub bottled: Date,
        pub brewed: Date,
    }
    /// Variants reordered and one added.
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Style {
        Sour(u16, u16),
        Stout(Box<Adjunct>),
        Lager,
        Ale { ibu: u8 },
        Porter,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Brew {
        pub style: Style,
        pub alt: Vec<Style>,
        pub seq: u64,
    }
    /// `zero` became a `NonZeroU8`: a stored 0 is refused.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Meaning {
        pub seq: u64,
        pub zero: std::num::NonZeroU8,
    }
}

fn date(y: u16, m: u8, d: u8) -> Date {
    Date { y, m, d }
}

fn stout() -> Adjunct {
    Adjunct {
        kind: "oats".into(),
        kg: NonZeroU16::new(7).unwrap(),
    }
}

fn write_a(db: &std::path::Path) {
    let mut rt = App::new()
        .db(db)
        .component::<a::Dates>("brew.dates")
        .component::<a::Brew>("brew.brew")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    rt.spawn(a::Dates {
        seq: 1,
        brewed: date(2024, 3, 5),
        bottled: date(2024, 9, 5),
    });
    rt.spawn(a::Brew {
        seq: 2,
        alt: vec![
            a::Style::Sour(1, 2),
            a::Style::Stout(Box::new(stout())),
            a::Style::Ale { ibu: 40 },
            a::Style::Lager,
        ],
        style: a::Style::Stout(Box::new(stout())),
    });
    rt.close().unwrap();
}

#[test]
fn every_type_here_has_a_whole_shape() {
    let mut registry = dizzy::Registry::new();
    registry.component::<a::Dates>("brew.dates").unwrap();
    registry.component::<a::Brew>("brew.brew").unwrap();
    for name in ["brew.dates", "brew.brew"] {
        let reg = registry.get(name).unwrap();
        assert!(reg.shape().is_some(), "{name}: {:?}", reg.untraced());
    }
}

#[test]
fn a_reorder_around_checked_and_nested_types_resolves_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("brew.redb");
    write_a(&db);
    let mut rt = App::new()
        .db(&db)
        .component::<b::Dates>("brew.dates")
        .component::<b::Brew>("brew.brew")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    let dates: Vec<b::Dates> = rt
        .world_mut()
        .query::<&b::Dates>()
        .iter(rt.world())
        .cloned()
        .collect();
    assert_eq!(
        dates,
        [b::Dates {
            seq: 1,
            bottled: date(2024, 9, 5),
            brewed: date(2024, 3, 5),
        }],
        "never swapped"
    );
    let brews: Vec<b::Brew> = rt
        .world_mut()
        .query::<&b::Brew>()
        .iter(rt.world())
        .cloned()
        .collect();
    assert_eq!(
        brews,
        [b::Brew {
            style: b::Style::Stout(Box::new(stout())),
            alt: vec![
                b::Style::Sour(1, 2),
                b::Style::Stout(Box::new(stout())),
                b::Style::Ale { ibu: 40 },
                b::Style::Lager,
            ],
            seq: 2,
        }]
    );
    rt.close().unwrap();

    // The file's own program, and `dizzy show`'s reading by the recorded
    // shape, read it too.
    let store = dizzy::Store::open_to_read(&db).unwrap();
    let none = dizzy::Registry::new();
    let seen = dizzy::snapshots::entities_at(&store, &none, None).unwrap();
    assert!(seen.undecodable.is_empty(), "{:?}", seen.undecodable);
}

#[test]
fn a_stored_value_the_type_now_refuses_is_a_changed_type_not_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.redb");
    let mut rt = App::new()
        .db(&db)
        .component::<a::Meaning>("brew.meaning")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    rt.spawn(a::Meaning { seq: 1, zero: 0 });
    rt.close().unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = App::new()
        .db(&db)
        .component::<b::Meaning>("brew.meaning")
        .open()
        .expect_err("refused");
    let text = err.to_string();
    match &err {
        dizzy::OpenError::Restore(RestoreError::Incompatible {
            source: UpgradeError::Refused { name, .. },
            ..
        }) => assert_eq!(name, "brew.meaning"),
        other => panic!("not a refused value: {other:?}"),
    }
    for needle in ["brew.meaning", "nonzero", "component_version"] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
    assert!(!text.contains("corrupt"), "{text}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[derive(Component, Serialize, Deserialize, Debug)]
struct SkipIf {
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    a: Option<u32>,
    b: u32,
}

#[derive(Component, Serialize, Deserialize, Debug)]
struct SkipEmpty {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    tags: Vec<String>,
}

#[test]
fn fields_written_only_sometimes_are_refused_when_registered() {
    let mut registry = dizzy::Registry::new();
    for (result, name) in [
        (registry.component::<SkipIf>("brew.skip_if"), "brew.skip_if"),
        (
            registry.component::<SkipEmpty>("brew.skip_empty"),
            "brew.skip_empty",
        ),
    ] {
        match result {
            Err(dizzy::RegistryError::RoundTrip { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.redb");
    let err = App::new()
        .db(&db)
        .component::<SkipIf>("brew.skip_if")
        .open()
        .expect_err("refused");
    assert!(err.to_string().contains("skip_serializing_if"), "{err}");
    assert!(!db.exists());
}

/// A code that must start with `LOT-`: no made-up string gets through, so
/// neither it nor a struct holding it has a shape.
#[derive(Serialize, Debug, PartialEq, Clone)]
pub struct Lot(String);

impl<'de> Deserialize<'de> for Lot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.starts_with("LOT-") {
            true => Ok(Lot(s)),
            false => Err(serde::de::Error::custom(format!("`{s}` is not a lot"))),
        }
    }
}

mod untraced_a {
    use super::*;
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Pair {
        pub first: Lot,
        pub second: Lot,
    }
}

mod untraced_b {
    use super::*;
    /// Reordered: read by position, `first` would get the stored `second`.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Pair {
        pub second: Lot,
        pub first: Lot,
    }
}

#[test]
fn a_reorder_of_a_type_without_a_shape_is_refused_never_swapped() {
    let mut registry = dizzy::Registry::new();
    registry.component::<untraced_a::Pair>("brew.pair").unwrap();
    let reg = registry.get("brew.pair").unwrap();
    assert!(reg.shape().is_none());
    assert!(
        reg.skeleton().contains("Pair{first,second}"),
        "{}",
        reg.skeleton()
    );

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.redb");
    let mut rt = App::new()
        .db(&db)
        .component::<untraced_a::Pair>("brew.pair")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    rt.spawn(untraced_a::Pair {
        first: Lot("LOT-1".into()),
        second: Lot("LOT-2".into()),
    });
    let bundle = rt
        .export(
            &Selection::With("brew.pair".into()),
            &ExportOptions::default(),
        )
        .unwrap()
        .bytes;
    rt.close().unwrap();

    // The same type reads its file back.
    let rt = App::new()
        .db(&db)
        .component::<untraced_a::Pair>("brew.pair")
        .open()
        .unwrap();
    drop(rt);

    let before = std::fs::read(&db).unwrap();
    let err = App::new()
        .db(&db)
        .component::<untraced_b::Pair>("brew.pair")
        .open()
        .expect_err("a reorder without a shape is refused");
    match &err {
        dizzy::OpenError::Restore(RestoreError::Incompatible {
            source: UpgradeError::UntracedChanged(change),
            ..
        }) => assert_eq!(change.name, "brew.pair"),
        other => panic!("not refused as a changed type: {other:?}"),
    }
    let text = err.to_string();
    for needle in ["brew.pair", "Pair{first,second}", "Pair{second,first}"] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // A bundle follows the same rule.
    let mut other = App::new()
        .db(dir.path().join("other.redb"))
        .component::<untraced_b::Pair>("brew.pair")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    let err = other
        .import(&bundle, OnConflict::Fail, RefPolicy::Fail)
        .expect_err("refused");
    assert!(
        matches!(
            err,
            dizzy::ImportError::Version(UpgradeError::UntracedChanged(_))
        ),
        "{err}"
    );
}

mod resource_a {
    use super::*;
    #[derive(Resource, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Catalogue {
        pub code: Lot,
        pub since: u32,
    }
}

mod resource_b {
    use super::*;
    /// `since` widened to `f64`, past where the skeleton reaches.
    #[derive(Resource, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Catalogue {
        pub code: Lot,
        pub since: f64,
    }
}

#[test]
fn a_resource_without_a_shape_that_no_longer_decodes_is_a_changed_type() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.redb");
    let rt = App::new()
        .db(&db)
        .resource(
            "seed.catalogue",
            resource_a::Catalogue {
                code: Lot("LOT-9".into()),
                since: 20_250_101,
            },
        )
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    rt.close().unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = App::new()
        .db(&db)
        .resource(
            "seed.catalogue",
            resource_b::Catalogue {
                code: Lot("LOT-0".into()),
                since: 0.0,
            },
        )
        .open()
        .expect_err("refused");
    match &err {
        dizzy::OpenError::Restore(RestoreError::Incompatible {
            source: UpgradeError::Unshaped { name, .. },
            ..
        }) => assert_eq!(name, "seed.catalogue"),
        other => panic!("not refused as a changed type: {other:?}"),
    }
    assert!(!err.to_string().contains("corrupt"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

mod after_a {
    use super::*;
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Status {
        Pending,
        Approved,
        Cancelled,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Order {
        pub code: Lot,
        pub status: Status,
        pub qty: u64,
    }
}

mod after_b {
    use super::*;
    /// Variants reordered after the field the tracer cannot get past.
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Status {
        Pending,
        Cancelled,
        Approved,
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Order {
        pub code: Lot,
        pub status: Status,
        pub qty: u64,
    }
}

mod after_c {
    use super::*;
    /// A number retyped after that field.
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Order {
        pub code: Lot,
        pub status: super::after_a::Status,
        pub qty: i64,
    }
}

#[test]
fn changes_past_the_field_the_tracer_cannot_get_past_are_refused_by_a_stored_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.redb");
    let mut rt = App::new()
        .db(&db)
        .component::<after_a::Order>("seed.order")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    rt.spawn(after_a::Order {
        code: Lot("LOT-4".into()),
        status: after_a::Status::Approved,
        qty: 4001,
    });
    let bundle = rt
        .export(
            &Selection::With("seed.order".into()),
            &ExportOptions::default(),
        )
        .unwrap()
        .bytes;
    rt.close().unwrap();
    // The type that wrote them reads them back.
    let mut same = App::new()
        .db(&db)
        .component::<after_a::Order>("seed.order")
        .open()
        .unwrap();
    let orders: Vec<after_a::Order> = same
        .world_mut()
        .query::<&after_a::Order>()
        .iter(same.world())
        .cloned()
        .collect();
    assert_eq!(orders[0].status, after_a::Status::Approved);
    assert_eq!(orders[0].qty, 4001);
    drop(same);

    let before = std::fs::read(&db).unwrap();
    let refused = |app: App| match app.db(&db).open() {
        Err(dizzy::OpenError::Restore(RestoreError::Incompatible {
            source: UpgradeError::UntracedChanged(change),
            ..
        })) => change,
        Err(other) => panic!("not refused as a changed type: {other}"),
        Ok(_) => panic!("opened: values read by position would be wrong"),
    };
    let b = refused(App::new().component::<after_b::Order>("seed.order"));
    assert!(
        b.stored.contains("Approved") && b.now.contains("Cancelled"),
        "{b}"
    );
    let c = refused(App::new().component::<after_c::Order>("seed.order"));
    assert!(c.stored.contains("U64") && c.now.contains("I64"), "{c}");
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // An import compares the bundle's first value the same way.
    let mut other = App::new()
        .db(dir.path().join("other.redb"))
        .component::<after_c::Order>("seed.order")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    let err = other
        .import(&bundle, OnConflict::Fail, RefPolicy::Fail)
        .expect_err("refused");
    assert!(err.to_string().contains("I64"), "{err}");
}

/// A time kept as `"YYYY-MM-DDTHH:MM:SSZ"`, checked when read: with a
/// [`Date`] in the same struct, no one made-up string fits both.
#[derive(Debug, PartialEq, Clone)]
pub struct Stamp(String);

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T' {
            true => Ok(Stamp(s)),
            false => Err(serde::de::Error::custom(format!("`{s}` is not a time"))),
        }
    }
}

mod mixed_a {
    use super::*;
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Level {
        Light(u8),
        Dark(u8),
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Received {
        pub harvested: Date,
        pub arrived: Stamp,
        pub level: Level,
    }
}

mod mixed_b {
    use super::*;
    /// Variants reordered.
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub enum Level {
        Dark(u8),
        Light(u8),
    }
    #[derive(Component, Serialize, Deserialize, Debug, PartialEq, Clone)]
    pub struct Received {
        pub level: Level,
        pub arrived: Stamp,
        pub harvested: Date,
    }
}

#[test]
fn a_date_and_a_timestamp_in_one_struct_are_traced_and_resolve_by_name() {
    let mut registry = dizzy::Registry::new();
    registry
        .component::<mixed_a::Received>("roast.received")
        .unwrap();
    let reg = registry.get("roast.received").unwrap();
    assert!(reg.shape().is_some(), "{:?}", reg.untraced());

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.redb");
    let mut rt = App::new()
        .db(&db)
        .component::<mixed_a::Received>("roast.received")
        .snapshot_policy(SnapshotPolicy::OFF)
        .open()
        .unwrap();
    let at = Stamp("2024-05-06T07:08:09Z".into());
    for (n, level) in [
        (20, mixed_a::Level::Light(20)),
        (28, mixed_a::Level::Dark(90)),
    ] {
        rt.spawn(mixed_a::Received {
            harvested: date(2024, 1, n),
            arrived: at.clone(),
            level,
        });
    }
    rt.close().unwrap();
    let mut rt = App::new()
        .db(&db)
        .component::<mixed_b::Received>("roast.received")
        .open()
        .unwrap();
    let mut got: Vec<(u8, mixed_b::Level)> = rt
        .world_mut()
        .query::<&mixed_b::Received>()
        .iter(rt.world())
        .map(|r| (r.harvested.d, r.level.clone()))
        .collect();
    got.sort_by_key(|(d, _)| *d);
    assert_eq!(
        got,
        [
            (20, mixed_b::Level::Light(20)),
            (28, mixed_b::Level::Dark(90))
        ],
        "never swapped"
    );
}
