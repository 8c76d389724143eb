//! Unit tests of `table`.

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;
use crate::{CaptureSettings, Capturer, Decode, Inspector, Store, Want, commit};

#[derive(Component, Serialize, Deserialize, Clone)]
struct Station {
    name: String,
    at: Point,
    elevation: Option<i32>,
    kind: Kind,
    tags: Vec<String>,
    #[entities]
    next: Option<Entity>,
    digest: [u8; 4],
    uid: u16,
    extra: BTreeMap<String, u8>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Point {
    y: f64,
    x: f32,
}

#[derive(Serialize, Deserialize, Clone, Copy)]
enum Kind {
    Manual,
    Automatic,
}

#[derive(Component, Serialize, Deserialize)]
struct Reading(f64);

#[derive(Component, Serialize, Deserialize)]
struct Offline;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Station>("weather.station").unwrap();
    r.component::<Reading>("weather.reading").unwrap();
    r.component::<Offline>("weather.offline").unwrap();
    r
}

fn station(name: &str, next: Option<Entity>) -> Station {
    Station {
        name: name.into(),
        at: Point { y: 46.5, x: 7.25 },
        elevation: (name == "a").then_some(-12),
        kind: if name == "a" {
            Kind::Manual
        } else {
            Kind::Automatic
        },
        tags: vec![name.into(), "x".into()],
        next,
        digest: [0, 15, 16, 255],
        uid: 9,
        extra: BTreeMap::from([("k".into(), 1)]),
    }
}

/// a (reading NaN), b -> a (reading -inf, offline), c (no reading).
fn inspection(dir: &std::path::Path, reg: &Registry) -> Inspection {
    let store = Store::open(dir.join("t.redb")).unwrap();
    let mut world = World::new();
    reg.install(&mut world);
    let a = world.spawn((station("a", None), Reading(f64::NAN))).id();
    world.spawn((station("b", Some(a)), Reading(f64::NEG_INFINITY), Offline));
    world.spawn(station("c", None));
    let mut cap = Capturer::new(CaptureSettings::default(), 1);
    let full = cap.capture(&mut world, reg, 1, Want::Full).unwrap();
    commit(store.database().unwrap(), store.path(), &full).unwrap();
    let mut inspector = Inspector::new(&store, reg, Decode::All).unwrap();
    inspector.at(None).unwrap();
    inspector.into_inspection().unwrap()
}

fn column<'t>(t: &'t Table, name: &str) -> &'t Column {
    t.columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", names(t)))
}

fn names(t: &Table) -> Vec<&str> {
    t.columns.iter().map(|c| c.name.as_str()).collect()
}

#[test]
fn fields_flatten_in_declaration_order_with_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let i = inspection(dir.path(), &reg);
    let t = table(&i, &reg, &["weather.station".into()]).unwrap();
    assert_eq!(t.uids, [2, 3, 4]);
    assert_eq!(
        names(&t),
        [
            "name",
            "at.y",
            "at.x",
            "elevation",
            "kind",
            "tags",
            "next",
            "digest",
            "weather.station.uid",
            "extra"
        ]
    );
    let types: Vec<&ColumnType> = t.columns.iter().map(|c| &c.ty).collect();
    assert_eq!(
        types,
        [
            &ColumnType::Text,
            &ColumnType::F64,
            &ColumnType::F32,
            &ColumnType::Int { bits: 32 },
            &ColumnType::Text,
            &ColumnType::List(Box::new(ColumnType::Text)),
            &ColumnType::Uid,
            &ColumnType::Bytes,
            &ColumnType::UInt { bits: 16 },
            &ColumnType::Json,
        ]
    );
    assert_eq!(column(&t, "at.x").cells[0], Some(Cell::F32(7.25)));
    assert_eq!(
        column(&t, "elevation").cells,
        [Some(Cell::Int(-12)), None, None]
    );
    assert_eq!(
        column(&t, "kind").cells[0],
        Some(Cell::Text("Manual".into()))
    );
    assert_eq!(column(&t, "next").cells, [None, Some(Cell::UInt(2)), None]);
    let digest = column(&t, "digest").cells[0].clone().unwrap();
    assert_eq!(digest.to_json(), json!("000f10ff"));
    assert_eq!(
        column(&t, "extra").cells[0],
        Some(Cell::Json(json!({"k": 1})))
    );
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn components_join_left_on_the_first_by_uid() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let i = inspection(dir.path(), &reg);
    let asked = ["weather.reading", "weather.offline", "weather.station"].map(String::from);
    let t = table(&i, &reg, &asked).unwrap();
    assert_eq!(t.uids, [2, 3], "only entities with a reading");
    assert_eq!(names(&t)[..3], ["reading", "offline", "name"]);
    let r = &column(&t, "reading").cells;
    assert!(matches!(r[0], Some(Cell::F64(x)) if x.is_nan()));
    assert_eq!(r[1], Some(Cell::F64(f64::NEG_INFINITY)));
    assert_eq!(column(&t, "offline").cells, [None, Some(Cell::Bool(true))]);
    assert_eq!(
        column(&t, "name").cells,
        [Some(Cell::Text("a".into())), Some(Cell::Text("b".into()))]
    );
    assert_eq!(Cell::F64(f64::NAN).to_json(), json!("NaN"));
    assert_eq!(Cell::F32(1.1).to_json(), json!(1.1));
}

#[test]
fn without_the_registered_types_the_recorded_shapes_give_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let asked = ["weather.station", "weather.reading"].map(String::from);
    let with_types = table(&inspection(dir.path(), &reg), &reg, &asked).unwrap();
    let none = Registry::new();
    let store = Store::open_to_read(dir.path().join("t.redb")).unwrap();
    let mut inspector = Inspector::new(&store, &none, Decode::All).unwrap();
    inspector.at(None).unwrap();
    let by_shape = inspector.into_inspection().unwrap();
    let without = table(&by_shape, &none, &asked).unwrap();
    assert_eq!(names(&with_types), names(&without));
    let json = |c: &Column| -> Vec<Value> {
        c.cells
            .iter()
            .map(|x| x.as_ref().map_or(Value::Null, Cell::to_json))
            .collect()
    };
    for (a, b) in with_types.columns.iter().zip(&without.columns) {
        assert_eq!(a.ty, b.ty, "{}", a.name);
        assert_eq!(json(a), json(b), "{}", a.name);
    }
}

#[test]
fn values_without_a_shape_are_typed_from_what_they_hold() {
    let v = [
        json!({"n": 1, "f": 1.5, "s": "x", "o": {"deep": true}}),
        json!({"n": -2, "f": 2, "s": null, "o": {"deep": false}, "late": [1]}),
    ];
    let values: Vec<Option<&Value>> = v.iter().map(Some).collect();
    let plan = plan_values(&values);
    let got: Vec<(String, ColumnType)> = plan
        .leaves
        .iter()
        .map(|l| (l.path.join("."), l.ty.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("n".into(), ColumnType::Int { bits: 64 }),
            ("f".into(), ColumnType::F64),
            ("s".into(), ColumnType::Text),
            ("o.deep".into(), ColumnType::Bool),
            ("late".into(), ColumnType::Json),
        ]
    );
}

#[derive(Serialize, Deserialize)]
struct Chain {
    v: u32,
    next: Option<Box<Chain>>,
}

#[test]
fn a_recursive_type_stops_at_itself() {
    let shape = shape::read(&shape::trace::<Chain>().unwrap()).unwrap();
    let plan = plan_shape(&shape);
    let got: Vec<(String, ColumnType)> = plan
        .leaves
        .iter()
        .map(|l| (l.path.join("."), l.ty.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("v".into(), ColumnType::UInt { bits: 32 }),
            ("next".into(), ColumnType::Json)
        ]
    );
}

#[test]
fn a_hostile_shape_that_fans_out_is_bounded() {
    use serde_reflection::{ContainerFormat, Format, Named};
    // T0 { a: T1, b: T1 }, T1 { a: T2, b: T2 }, … : 2^40 paths.
    let mut types = serde_json::Map::new();
    for i in 0..40 {
        let next = Format::TypeName(format!("T{}", i + 1));
        let c = ContainerFormat::Struct(vec![
            Named {
                name: "a".into(),
                value: next.clone(),
            },
            Named {
                name: "b".into(),
                value: next,
            },
        ]);
        types.insert(format!("T{i}"), serde_json::to_value(c).unwrap());
    }
    let text = json!({
        "root": serde_json::to_value(Format::TypeName("T0".into())).unwrap(),
        "types": types,
    })
    .to_string();
    let shape = shape::read(&text).unwrap();
    let plan = plan_shape(&shape);
    assert!(
        plan.leaves.len() <= 2 * MAX_COLUMNS,
        "{}",
        plan.leaves.len()
    );
    // A list of lists of itself resolves without recursing forever.
    let mut types = serde_json::Map::new();
    let lists = ContainerFormat::NewTypeStruct(Box::new(Format::Seq(Box::new(Format::Seq(
        Box::new(Format::TypeName("L".into())),
    )))));
    types.insert("L".into(), serde_json::to_value(lists).unwrap());
    let text = json!({
        "root": serde_json::to_value(Format::TypeName("L".into())).unwrap(),
        "types": types,
    })
    .to_string();
    let plan = plan_shape(&shape::read(&text).unwrap());
    assert_eq!(plan.leaves.len(), 1);
    assert_eq!(plan.leaves[0].ty, ColumnType::Json);
}

#[test]
fn names_collide_only_when_they_must() {
    let names = column_names(&[
        ("size".into(), "a.size".into()),
        ("path".into(), "a.path".into()),
        ("size".into(), "b.size".into()),
        ("uid".into(), "b.uid".into()),
    ]);
    assert_eq!(names, ["a.size", "path", "b.size", "b.uid"]);
}

#[test]
fn bad_requests_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry();
    let i = inspection(dir.path(), &reg);
    assert!(matches!(
        table(&i, &reg, &[]),
        Err(TableError::NoComponents)
    ));
    let twice = ["weather.reading", "weather.reading"].map(String::from);
    assert!(matches!(
        table(&i, &reg, &twice),
        Err(TableError::Repeated(_))
    ));
    let err = table(&i, &reg, &["no.such".into()]).unwrap_err();
    assert!(err.to_string().contains("no component `no.such`"), "{err}");
    assert!(err.to_string().contains("weather.station"), "{err}");
}
