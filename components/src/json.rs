//! Values as JSON, for people and tools: what `serde_json` gives, except
//! for floats that are not finite and 128-bit integers.
//!
//! `u128` and `i128` values are decimal strings (`"340282366920938463463374607431768211455"`),
//! every one of them, so a column has one JSON type whatever its values:
//! JSON readers hold numbers as 64-bit floats or integers, and
//! `serde_json` refuses a 128-bit number above 64 bits.
//!
//! JSON has no NaN or infinity, and `serde_json` writes all three as `null`,
//! the same as `None`. Here they are the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"` (the spelling of the protobuf JSON mapping; Python's
//! `float()`, pandas' `read_json`, and a DuckDB `CAST(… AS DOUBLE)` read
//! them back as the floats they were), so every output stays valid JSON and
//! the three stay distinct from each other and from `null`. A NaN with its
//! sign bit set is `"-NaN"`, and one with a payload `"NaN(0x…)"` (its bits),
//! so that values whose bits differ never print the same (`dizzy diff`
//! compares what it prints). An `f32` prints as the shortest decimal that
//! reads back as it (`0.1`, not its widening `0.10000000149011612`). Inspection
//! (`dizzy show --json`, `diff`, `export-table`) gets its values from
//! [`to_value`] and from [`crate::shape::decode`], which both use [`float`].
//! A reader that knows a value is a float (from its shape) turns the strings
//! back with [`float_of`].

use serde::ser::{self, Serialize, Serializer};
use serde_json::Value;

/// The JSON of `x`: a number if finite, else `"NaN"`, `"Infinity"` or
/// `"-Infinity"`. A NaN other than the usual one (positive, quiet, no
/// payload: the one `f64::NAN` is) is `"-NaN"` when only its sign differs,
/// else `"NaN(0x…)"` with its 16 hex digits of bits, so that two values
/// that differ in their bits never show the same.
pub fn float(x: f64) -> Value {
    match serde_json::Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None => Value::String(non_finite(x)),
    }
}

/// The JSON of an `f32`: a number (the shortest decimal that reads back
/// as `x`, `0.1` rather than its `f64` widening `0.10000000149011612`), or
/// the names [`float`] gives, with `"NaN(0x…)"` holding the `f32`'s 8 hex
/// digits of bits.
pub fn float32(x: f32) -> Value {
    match name32(x) {
        Some(name) => Value::String(name),
        None => float(short(x)),
    }
}

/// The name of an `f32` that is not finite (as [`float32`] gives it).
fn name32(x: f32) -> Option<String> {
    if x.is_nan() {
        Some(nan_name(
            x.to_bits().into(),
            CANONICAL_NAN32.into(),
            SIGN32.into(),
            8,
        ))
    } else if x.is_infinite() {
        Some(non_finite(f64::from(x)))
    } else {
        None
    }
}

/// `x` as the `f64` of its shortest decimal, if that reads back as `x`
/// (else its exact widening).
fn short(x: f32) -> f64 {
    match x.to_string().parse::<f64>() {
        Ok(y) if x.is_finite() && (y as f32).to_bits() == x.to_bits() => y,
        _ => f64::from(x),
    }
}

const CANONICAL_NAN64: u64 = 0x7ff8_0000_0000_0000;
const SIGN64: u64 = 1 << 63;
const CANONICAL_NAN32: u32 = 0x7fc0_0000;
const SIGN32: u32 = 1 << 31;

/// The name of a float that is not finite.
fn non_finite(x: f64) -> String {
    if x.is_nan() {
        nan_name(x.to_bits(), CANONICAL_NAN64, SIGN64, 16)
    } else if x > 0.0 {
        "Infinity".to_owned()
    } else {
        "-Infinity".to_owned()
    }
}

/// `"NaN"`, `"-NaN"` or `"NaN(0x…)"` for a NaN of `bits`.
fn nan_name(bits: u64, canonical: u64, sign: u64, digits: usize) -> String {
    if bits == canonical {
        "NaN".to_owned()
    } else if bits == canonical | sign {
        "-NaN".to_owned()
    } else {
        format!("NaN(0x{bits:0digits$x})")
    }
}

/// The float `value` shows ([`float`]'s and [`float32`]'s inverse): a
/// number, or one of `"NaN"`, `"-NaN"`, `"NaN(0x…)"`, `"Infinity"`,
/// `"-Infinity"`; `None` for anything else. An `f32`'s `"NaN(0x…)"` (8
/// digits) comes back as its widening, which `as f32` turns back into it.
pub fn float_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "-NaN" => Some(f64::from_bits(CANONICAL_NAN64 | SIGN64)),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => {
                let hex = other.strip_prefix("NaN(0x")?.strip_suffix(')')?;
                let x = match hex.len() {
                    16 => f64::from_bits(u64::from_str_radix(hex, 16).ok()?),
                    8 => f64::from(f32::from_bits(u32::from_str_radix(hex, 16).ok()?)),
                    _ => return None,
                };
                x.is_nan().then_some(x)
            }
        },
        _ => None,
    }
}

/// Whether `a` and `b` are the same JSON, floats compared by their bits:
/// `0.0` and `-0.0` differ (`serde_json`'s `==` holds them equal).
pub fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.is_f64(), y.is_f64()) {
            (true, true) => x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| identical(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| identical(a, b)))
        }
        _ => a == b,
    }
}

/// `serde_json::to_value(value)`, with non-finite floats as [`float`]
/// shows them.
///
/// # Errors
/// What `serde_json::to_value` fails with (a map whose keys are not
/// strings or numbers, a failing `Serialize` impl).
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    serde_json::to_value(Finite(value))
}

/// Serializes the value it holds through [`Adapter`].
struct Finite<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Finite<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Adapter(serializer))
    }
}

/// A serializer (or one of its compound parts) that forwards everything
/// to the one it wraps, except non-finite floats, which it writes as
/// strings; every value inside goes through it too.
struct Adapter<S>(S);

impl<S: Serializer> Serializer for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Adapter<S::SerializeSeq>;
    type SerializeTuple = Adapter<S::SerializeTuple>;
    type SerializeTupleStruct = Adapter<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Adapter<S::SerializeTupleVariant>;
    type SerializeMap = Adapter<S::SerializeMap>;
    type SerializeStruct = Adapter<S::SerializeStruct>;
    type SerializeStructVariant = Adapter<S::SerializeStructVariant>;

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        match name32(v) {
            Some(name) => self.0.serialize_str(&name),
            None => self.0.serialize_f64(short(v)),
        }
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.0.serialize_f64(v)
        } else {
            self.0.serialize_str(&non_finite(v))
        }
    }

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.0.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.0.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.0.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.0.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.0.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.0.serialize_str(&v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.0.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.0.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.0.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.0.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.0.serialize_str(&v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.0.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.0.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.0.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Finite(value))
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_struct(name)
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Finite(value))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Finite(value))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.0.serialize_seq(len).map(Adapter)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.0.serialize_tuple(len).map(Adapter)
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.0.serialize_tuple_struct(name, len).map(Adapter)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.0
            .serialize_tuple_variant(name, index, variant, len)
            .map(Adapter)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.0.serialize_map(len).map(Adapter)
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.0.serialize_struct(name, len).map(Adapter)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.0
            .serialize_struct_variant(name, index, variant, len)
            .map(Adapter)
    }
    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

impl<S: ser::SerializeSeq> ser::SerializeSeq for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.0.serialize_element(&Finite(value))
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

impl<S: ser::SerializeTuple> ser::SerializeTuple for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.0.serialize_element(&Finite(value))
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

impl<S: ser::SerializeTupleStruct> ser::SerializeTupleStruct for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.0.serialize_field(&Finite(value))
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

impl<S: ser::SerializeTupleVariant> ser::SerializeTupleVariant for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.0.serialize_field(&Finite(value))
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

impl<S: ser::SerializeMap> ser::SerializeMap for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.0.serialize_key(&Finite(key))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.0.serialize_value(&Finite(value))
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

impl<S: ser::SerializeStruct> ser::SerializeStruct for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.0.serialize_field(key, &Finite(value))
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.0.skip_field(key)
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

impl<S: ser::SerializeStructVariant> ser::SerializeStructVariant for Adapter<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.0.serialize_field(key, &Finite(value))
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.0.skip_field(key)
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

/// A stored value as JSON, its entity references as the uids they hold
/// and a reference to no entity as `null`.
pub(crate) fn stored_json<T: bevy_ecs::component::Component + serde::Serialize>(
    mut value: T,
) -> Result<serde_json::Value, crate::codec::CodecError> {
    use bevy_ecs::entity::EntityMapper;
    struct Remap {
        from: u64,
        to: bevy_ecs::entity::Entity,
        seen: bool,
    }
    impl EntityMapper for Remap {
        fn get_mapped(&mut self, source: bevy_ecs::entity::Entity) -> bevy_ecs::entity::Entity {
            if source.to_bits() == self.from {
                self.seen = true;
                self.to
            } else {
                source
            }
        }
        fn set_mapped(
            &mut self,
            _source: bevy_ecs::entity::Entity,
            _target: bevy_ecs::entity::Entity,
        ) {
        }
    }
    const MARK_A: u64 = 0xFFFF_FFFE_FFFF_FFFE;
    const MARK_B: u64 = 0xFFFF_FFFD_FFFF_FFFD;
    // Non-finite floats as "NaN", "Infinity", "-Infinity" (see `crate::json`).
    let to_json = |v: &T| {
        crate::json::to_value(v).map_err(|e| crate::codec::CodecError::Encode(e.to_string()))
    };
    let (Some(a), Some(b)) = (crate::ref_entity(MARK_A), crate::ref_entity(MARK_B)) else {
        return to_json(&value);
    };
    let mut first = Remap {
        from: crate::NULL_REF,
        to: a,
        seen: false,
    };
    T::map_entities(&mut value, &mut first);
    if !first.seen {
        return to_json(&value);
    }
    let marked_a = to_json(&value)?;
    let mut second = Remap {
        from: MARK_A,
        to: b,
        seen: false,
    };
    T::map_entities(&mut value, &mut second);
    let marked_b = to_json(&value)?;
    fn merge(a: serde_json::Value, b: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y))
                if x.as_u64() == Some(MARK_A) && y.as_u64() == Some(MARK_B) =>
            {
                Value::Null
            }
            (Value::Array(xs), Value::Array(ys)) if xs.len() == ys.len() => {
                Value::Array(xs.into_iter().zip(ys).map(|(x, y)| merge(x, y)).collect())
            }
            (Value::Object(xs), Value::Object(ys)) => Value::Object(
                xs.into_iter()
                    .map(|(k, x)| {
                        let merged = match ys.get(&k) {
                            Some(y) => merge(x, y),
                            None => x,
                        };
                        (k, merged)
                    })
                    .collect(),
            ),
            (a, _) => a,
        }
    }
    Ok(merge(marked_a, &marked_b))
}

#[cfg(test)]
mod tests {
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
                if x.to_bits() & CANONICAL_NAN32 == CANONICAL_NAN32
                    && x.to_bits() != CANONICAL_NAN32
                {
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
}
