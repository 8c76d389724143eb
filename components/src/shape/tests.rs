//! Unit tests of `shape`.

use super::*;
use crate::codec;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Kind {
    Small,
    Big(u32),
    Named { a: i16, b: String },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Thing {
    id: u64,
    name: String,
    kind: Kind,
    kinds: Vec<Kind>,
    maybe: Option<f32>,
    pair: (i64, bool),
    arr: [u8; 3],
    link: bevy_ecs::entity::Entity,
}

#[derive(Serialize, Deserialize)]
struct ThingV2 {
    id: u64,
    title: String,
    kind: Kind,
    kinds: Vec<Kind>,
    maybe: Option<f64>,
    pair: (i64, bool),
    arr: [u8; 3],
    link: bevy_ecs::entity::Entity,
}

fn sample() -> Thing {
    Thing {
        id: 300,
        name: "héllo".into(),
        kind: Kind::Named {
            a: -5,
            b: "x".into(),
        },
        kinds: vec![Kind::Small, Kind::Small],
        maybe: Some(1.5),
        pair: (-1_000_000_000_000, true),
        arr: [1, 2, 255],
        link: crate::uid::ref_entity(77).unwrap(),
    }
}

#[test]
fn decodes_like_serde_json_would_show_it() {
    let shape = trace::<Thing>().expect("traceable");
    let bytes = codec::encode(&sample()).unwrap();
    let (json, used) = decode(&shape, &bytes).unwrap();
    assert_eq!(used, bytes.len());
    let mut expected = serde_json::to_value(sample()).unwrap();
    // serde_json writes f32 1.5 as 1.5 as well; entity links show as uids.
    expected["link"] = Value::from(77u64);
    assert_eq!(json, expected);
}

#[test]
fn every_variant_of_a_top_level_enum_is_known() {
    let shape = trace::<Kind>().unwrap();
    for k in [
        Kind::Small,
        Kind::Big(3),
        Kind::Named {
            a: 1,
            b: "q".into(),
        },
    ] {
        let bytes = codec::encode(&k).unwrap();
        assert_eq!(
            decode(&shape, &bytes).unwrap().0,
            serde_json::to_value(&k).unwrap()
        );
    }
}

#[test]
fn splits_values_and_rejects_garbage() {
    let shape = trace::<Thing>().unwrap();
    let mut bytes = codec::encode(&sample()).unwrap();
    let one = bytes.len();
    bytes.extend(codec::encode(&sample()).unwrap());
    let parts = split(&shape, &bytes, 2).unwrap();
    assert_eq!(parts[0].len(), one);
    for cut in 0..bytes.len() / 2 {
        assert!(decode(&shape, &bytes[..cut]).is_err(), "cut {cut}");
    }
    assert!(split(&shape, &bytes, 3).is_err());
    assert!(decode(&shape, &[0xff; 16]).is_err());
}

#[test]
fn names_the_fields_that_differ() {
    let d = differences(trace::<Thing>().as_deref(), trace::<ThingV2>().as_deref());
    assert!(
        d.iter()
            .any(|s| s.contains("`name`") && s.contains("removed")),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|s| s.contains("`title`") && s.contains("added")),
        "{d:?}"
    );
    assert!(
        d.iter().any(|s| s.contains("`maybe`") && s.contains("F64")),
        "{d:?}"
    );
    assert!(differences(trace::<Thing>().as_deref(), trace::<Thing>().as_deref()).is_empty());
}

#[derive(Serialize, Deserialize)]
struct Floats {
    a: f64,
    b: f32,
    c: Option<f64>,
    d: Vec<f32>,
}

#[test]
fn non_finite_floats_decode_as_their_names_like_registered_types_show_them() {
    let shape = trace::<Floats>().unwrap();
    let v = Floats {
        a: f64::NAN,
        b: f32::INFINITY,
        c: Some(f64::NEG_INFINITY),
        d: vec![0.5, f32::NAN, f32::NEG_INFINITY],
    };
    let bytes = codec::encode(&v).unwrap();
    let (json, _) = decode(&shape, &bytes).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "a": "NaN", "b": "Infinity", "c": "-Infinity",
            "d": [0.5, "NaN", "-Infinity"],
        })
    );
    assert_eq!(json, crate::json::to_value(&v).unwrap());
    let none = Floats {
        a: 1.0,
        b: -2.5,
        c: None,
        d: vec![],
    };
    let (json, _) = decode(&shape, &codec::encode(&none).unwrap()).unwrap();
    assert_eq!(json["c"], Value::Null, "None stays null");
    assert_eq!(json["b"], serde_json::json!(-2.5));
}

#[test]
fn a_trail_reads_as_one_line_of_its_containers() {
    #[derive(serde::Serialize)]
    struct Lot {
        code: Code,
        kind: Kind,
        n: u32,
    }
    #[derive(serde::Serialize)]
    struct Code(String);
    #[derive(serde::Serialize)]
    enum Kind {
        #[allow(dead_code)]
        Light,
        Dark {
            roast: u8,
        },
    }
    let trail = super::value_trail(&Lot {
        code: Code("LOT-1".into()),
        kind: Kind::Dark { roast: 3 },
        n: 2,
    })
    .unwrap();
    assert_eq!(
        super::readable_trail(&trail),
        "Lot { code: Code, kind: Kind, n: U32 }; Code(Str); Kind { #1 Dark { roast: U8 } }"
    );
    // A skeleton is not a trail: it stays as it is.
    assert_eq!(
        super::readable_trail("Pair{a,b} string"),
        "Pair{a,b} string"
    );
}

/// Nested options and maps keyed by other than strings print the same read
/// by their type (`crate::json::to_value`) and by their recorded shape, and
/// no two of the options print alike (found by a fresh tester, a
/// veterinary clinic).
#[test]
fn options_and_maps_print_alike_by_type_and_by_shape() {
    use std::collections::BTreeMap;
    #[derive(serde::Serialize, serde::Deserialize, Clone)]
    struct Awkward {
        deep: Option<Option<Option<u8>>>,
        unit: Option<Option<()>>,
        by_number: BTreeMap<u32, u8>,
        by_pair: BTreeMap<(u8, u8), String>,
        by_name: BTreeMap<String, u8>,
    }
    let shape = trace::<Awkward>().unwrap();
    let mut printed = Vec::new();
    for (deep, unit) in [
        (None, None),
        (Some(None), Some(None)),
        (Some(Some(None)), Some(Some(()))),
        (Some(Some(Some(0))), None),
    ] {
        let v = Awkward {
            deep,
            unit,
            by_number: BTreeMap::from([(1, 10), (2, 20)]),
            by_pair: BTreeMap::from([((1, 2), "a".to_owned())]),
            by_name: BTreeMap::from([("k".to_owned(), 1)]),
        };
        let by_type = crate::json::to_value(&v).unwrap();
        let (by_shape, _) = decode(&shape, &codec::encode(&v).unwrap()).unwrap();
        assert_eq!(by_type, by_shape);
        assert_eq!(by_type["by_number"], serde_json::json!([[1, 10], [2, 20]]));
        assert_eq!(by_type["by_pair"], serde_json::json!([[[1, 2], "a"]]));
        assert_eq!(by_type["by_name"], serde_json::json!({"k": 1}));
        printed.push((by_type["deep"].clone(), by_type["unit"].clone()));
    }
    assert_eq!(
        printed,
        [
            (Value::Null, Value::Null),
            (
                serde_json::json!({"Some": null}),
                serde_json::json!({"Some": null})
            ),
            (
                serde_json::json!({"Some": {"Some": null}}),
                serde_json::json!({"Some": {"Some": null}})
            ),
            (Value::from(0), Value::Null),
        ]
    );
}
