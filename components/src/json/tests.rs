use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::*;

#[derive(Serialize)]
struct Reading {
    label: String,
    value: f64,
    low: f32,
    maybe: Option<f64>,
    series: Vec<f32>,
    pair: (f64, i32),
    by_name: BTreeMap<String, f64>,
    kind: Kind,
}

#[derive(Serialize)]
enum Kind {
    Scale(f64),
    Range { from: f32, to: f32 },
}

#[test]
fn non_finite_floats_are_named_everywhere_in_a_value() {
    let r = Reading {
        label: "x".into(),
        value: f64::NAN,
        low: f32::NEG_INFINITY,
        maybe: Some(f64::INFINITY),
        series: vec![1.5, f32::NAN, f32::INFINITY],
        pair: (f64::NEG_INFINITY, 3),
        by_name: BTreeMap::from([("a".into(), f64::NAN), ("b".into(), 2.0)]),
        kind: Kind::Scale(f64::INFINITY),
    };
    assert_eq!(
        to_value(&r).unwrap(),
        json!({
            "label": "x",
            "value": "NaN",
            "low": "-Infinity",
            "maybe": "Infinity",
            "series": [1.5, "NaN", "Infinity"],
            "pair": ["-Infinity", 3],
            "by_name": {"a": "NaN", "b": 2.0},
            "kind": {"Scale": "Infinity"},
        })
    );
    let range = Kind::Range {
        from: f32::NAN,
        to: 0.25,
    };
    assert_eq!(
        to_value(&range).unwrap(),
        json!({"Range": {"from": "NaN", "to": 0.25}})
    );
    // `None` stays null: distinct from all three.
    assert_eq!(to_value(&None::<f64>).unwrap(), Value::Null);
}

#[test]
fn finite_values_are_what_serde_json_gives() {
    let r = Reading {
        label: "héllo".into(),
        value: -0.1,
        low: 1.1,
        maybe: None,
        series: vec![],
        pair: (1e300, -7),
        by_name: BTreeMap::new(),
        kind: Kind::Range { from: 1.0, to: 2.0 },
    };
    // As serde_json gives them, but an f32 as its shortest decimal
    // (serde_json widens it: 1.100000023841858).
    assert_eq!(
        to_value(&r).unwrap(),
        json!({
            "label": "héllo",
            "value": -0.1,
            "low": 1.1,
            "maybe": null,
            "series": [],
            "pair": [1e300, -7],
            "by_name": {},
            "kind": {"Range": {"from": 1.0, "to": 2.0}},
        })
    );
    assert_eq!(
        serde_json::to_value(&r).unwrap()["low"],
        json!(f64::from(1.1f32))
    );
}

/// An f32 prints as the shortest decimal that reads back as it, and
/// reads back bit for bit, over many bit patterns.
#[test]
fn an_f32_prints_short_and_reads_back_exactly() {
    assert_eq!(float32(0.1).to_string(), "0.1");
    assert_eq!(float32(-0.0).to_string(), "-0.0");
    assert_eq!(float32(f32::MIN_POSITIVE).to_string(), "1.1754944e-38");
    let mut bits = 0x9E37_79B9_u32;
    for _ in 0..200_000 {
        bits ^= bits << 13;
        bits ^= bits >> 17;
        bits ^= bits << 5;
        let x = f32::from_bits(bits);
        let v = float32(x);
        let back = float_of(&serde_json::from_str(&v.to_string()).unwrap()).unwrap() as f32;
        if x.is_nan() {
            // The name holds the bits; reading goes through f64,
            // which quiets a signaling NaN.
            assert!(back.is_nan());
            if x.to_bits() & CANONICAL_NAN32 == CANONICAL_NAN32 && x.to_bits() != CANONICAL_NAN32 {
                assert_eq!(back.to_bits(), x.to_bits(), "{v}");
            }
            continue;
        }
        assert_eq!(back.to_bits(), x.to_bits(), "{x:e} ({bits:#x}) printed {v}");
    }
}

/// Floats whose bits differ print differently: the sign of zero, the
/// sign and payload of a NaN (f64 and f32); each reads back as itself.
#[test]
fn floats_whose_bits_differ_print_differently() {
    let nans64 = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff8_0000_0000_0001),
        f64::from_bits(0xfff0_0000_0000_0002),
    ];
    let names: Vec<Value> = nans64.iter().map(|&x| float(x)).collect();
    assert_eq!(
        names,
        [
            json!("NaN"),
            json!("-NaN"),
            json!("NaN(0x7ff8000000000001)"),
            json!("NaN(0xfff0000000000002)"),
        ]
    );
    for x in nans64 {
        assert_eq!(float_of(&float(x)).unwrap().to_bits(), x.to_bits());
    }
    let nans32 = [f32::NAN, -f32::NAN, f32::from_bits(0x7fc0_0001)];
    let names: Vec<Value> = nans32.iter().map(|&x| float32(x)).collect();
    assert_eq!(
        names,
        [json!("NaN"), json!("-NaN"), json!("NaN(0x7fc00001)")]
    );
    for x in nans32 {
        let back = float_of(&float32(x)).unwrap() as f32;
        assert_eq!(back.to_bits(), x.to_bits(), "{x:?}");
    }
    assert!(!identical(&float(0.0), &float(-0.0)));
    assert!(identical(
        &json!({"a": [1, -0.0]}),
        &json!({"a": [1, -0.0]})
    ));
    assert!(!identical(
        &json!({"a": [1, 0.0]}),
        &json!({"a": [1, -0.0]})
    ));
    assert_eq!(float_of(&json!("NaN(0x12)")), None);
    assert_eq!(
        float_of(&json!("NaN(0x3ff0000000000000)")),
        None,
        "not a NaN"
    );
}

#[derive(bevy_ecs::component::Component, Serialize)]
struct Probe {
    reading: f32,
    #[entities]
    target: bevy_ecs::entity::Entity,
    spare: Option<f64>,
}

#[test]
fn stored_values_keep_null_references_and_name_non_finite_floats() {
    let probe = Probe {
        reading: f32::NAN,
        target: crate::ref_entity(crate::NULL_REF).unwrap(),
        spare: Some(f64::NEG_INFINITY),
    };
    let json = crate::json::stored_json(probe).unwrap();
    assert_eq!(
        json,
        json!({"reading": "NaN", "target": null, "spare": "-Infinity"})
    );
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["reading", "target", "spare"], "declaration order");
}

#[test]
fn the_names_read_back_as_the_floats() {
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5, -3.0, 0.0] {
        let back = float_of(&float(x)).unwrap();
        assert!(back == x || (back.is_nan() && x.is_nan()), "{x}");
    }
    assert_eq!(float_of(&json!("nan")), None);
    assert_eq!(float_of(&json!(null)), None);
    assert_eq!(float_of(&json!(true)), None);
}

#[derive(bevy_ecs::component::Component, Serialize)]
struct Wide {
    big: u128,
    low: i128,
    small: u128,
}

#[test]
fn integers_of_128_bits_are_decimal_strings_beyond_64_bits_too() {
    let wide = Wide {
        big: u128::MAX,
        low: i128::MIN,
        small: 7,
    };
    let want = json!({
        "big": "340282366920938463463374607431768211455",
        "low": "-170141183460469231731687303715884105728",
        "small": "7",
    });
    assert_eq!(to_value(&wide).unwrap(), want);
    assert_eq!(crate::json::stored_json(wide).unwrap(), want);
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
enum Shelf {
    Top,
    Bottom,
}

#[derive(Serialize, serde::Deserialize)]
enum Held {
    Counts(BTreeMap<u16, u8>),
    Named { by: BTreeMap<String, u8> },
}

#[derive(bevy_ecs::component::Component, Serialize, serde::Deserialize)]
struct Maps {
    by_number: BTreeMap<u32, u8>,
    by_text: BTreeMap<String, u8>,
    by_char: BTreeMap<char, u8>,
    by_shelf: BTreeMap<Shelf, u8>,
    by_pair: Option<BTreeMap<(u8, u8), u8>>,
    lists: Vec<BTreeMap<i8, u8>>,
    held: Held,
}

/// An empty map prints as its non-empty ones do (`[]` unless its keys
/// print as text), whether read as the registered type (its `Serialize`,
/// then walked with its shape) or by the recorded shape alone; before, an
/// empty map keyed by numbers printed as `{}` (found by a fresh tester).
#[test]
fn an_empty_map_prints_as_its_non_empty_ones() {
    let empty = || Maps {
        by_number: BTreeMap::new(),
        by_text: BTreeMap::new(),
        by_char: BTreeMap::new(),
        by_shelf: BTreeMap::new(),
        by_pair: Some(BTreeMap::new()),
        lists: vec![BTreeMap::new(), BTreeMap::from([(-1, 2)])],
        held: Held::Named {
            by: BTreeMap::new(),
        },
    };
    let want = json!({
        "by_number": [], "by_text": {}, "by_char": {}, "by_shelf": {},
        "by_pair": [], "lists": [[], [[-1, 2]]], "held": {"Named": {"by": {}}},
    });
    let shape_text = crate::shape::trace::<Maps>().expect("traced");
    let shape = crate::shape::read(&shape_text).unwrap();
    assert!(crate::shape::has_maps_of_pairs(&shape));
    let plain = crate::shape::read(&crate::shape::trace::<Shelf>().unwrap()).unwrap();
    assert!(
        !crate::shape::has_maps_of_pairs(&plain),
        "no map: never walked"
    );
    let mut registered = crate::json::stored_json(empty()).unwrap();
    crate::shape::empty_maps_as_pairs(&shape, &mut registered);
    assert_eq!(registered, want);
    let bytes = crate::codec::encode(&empty()).unwrap();
    let (by_shape, _) = crate::shape::decode(&shape_text, &bytes).unwrap();
    assert_eq!(by_shape, want);

    let mut held = crate::json::stored_json(Maps {
        held: Held::Counts(BTreeMap::new()),
        ..empty()
    })
    .unwrap();
    crate::shape::empty_maps_as_pairs(&shape, &mut held);
    assert_eq!(held["held"], json!({"Counts": []}));
}
