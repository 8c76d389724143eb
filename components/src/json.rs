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
//! reads back as it (`0.1`, not its widening `0.10000000149011612`). `Some`
//! of a value that prints as `null` (`Some(None)`, a reference to no entity)
//! is `{"Some": null}` ([`some_of`]), where `serde_json` writes `null`,
//! as for `None`. Inspection
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
    type SerializeMap = MapOf<S>;
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
        // `Some` of a value that prints as `null` (`Some(None)`, `Some(())`,
        // a reference to no entity) is `{"Some": null}`, never what `None`
        // prints; `Some` of such a `Some` wraps it again
        // (`{"Some": {"Some": null}}`), so no two of them print the same.
        let inner = to_value(value).map_err(ser::Error::custom)?;
        if wraps_again(&inner) {
            self.0.serialize_some(&some_of(inner))
        } else {
            self.0.serialize_some(&inner)
        }
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
        Ok(MapOf {
            out: self.0,
            entries: Vec::with_capacity(len.unwrap_or(0).min(1024)),
            key: None,
        })
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

/// A map, as a value read by its recorded shape prints
/// ([`crate::shape::decode`]): an object when every key is a string, else
/// an array of `[key, value]` pairs (`{1: 10}` is `[[1, 10]]`), so that a
/// map keyed by numbers, tuples or options prints the same whether the
/// reader registers its type or not (JSON object keys are strings only).
struct MapOf<S> {
    out: S,
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

impl<S: Serializer> ser::SerializeMap for MapOf<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.key = Some(to_value(key).map_err(ser::Error::custom)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ser::Error::custom("a map value without its key"))?;
        self.entries
            .push((key, to_value(value).map_err(ser::Error::custom)?));
        Ok(())
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        use ser::SerializeSeq;
        if self.entries.iter().all(|(k, _)| k.is_string()) {
            let mut map = self.out.serialize_map(Some(self.entries.len()))?;
            for (k, v) in &self.entries {
                map.serialize_entry(k, v)?;
            }
            map.end()
        } else {
            let mut seq = self.out.serialize_seq(Some(self.entries.len()))?;
            for (k, v) in &self.entries {
                seq.serialize_element(&[k, v])?;
            }
            seq.end()
        }
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

/// The key of `{"Some": …}`: an `Option` holding a value that prints as
/// `null` (see [`some_of`]).
pub const SOME: &str = "Some";

/// `{"Some": inner}`: how `Some(inner)` prints when `inner` prints as
/// `null` (`Some(None)`, `Some(())`, a reference to no entity) or is such a
/// wrapper itself (`{"Some": {"Some": null}}`), so that no two options
/// print alike and none prints as `None` does.
pub fn some_of(inner: Value) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(SOME.to_owned(), inner);
    Value::Object(map)
}

/// Whether `v` is a wrapper [`some_of`] makes.
pub fn is_some_of(v: &Value) -> bool {
    wrapper(v, &Value::is_null)
}

/// Whether `v` is `{"Some": i}` with `i` null (by `null`) or a wrapper.
fn wrapper(v: &Value, null: &dyn Fn(&Value) -> bool) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.get(SOME).is_some_and(|i| null(i) || wrapper(i, null)))
}

/// Marks of a reference to no entity while [`stored_json`] looks for them.
const MARK_A: u64 = 0xFFFF_FFFE_FFFF_FFFE;
const MARK_B: u64 = 0xFFFF_FFFD_FFFF_FFFD;

/// Whether `Some(v)` prints as `{"Some": v}` ([`some_of`]), the marks of
/// [`stored_json`] counting as `null`.
fn wraps_again(v: &Value) -> bool {
    prints_null(v) || wrapper(v, &prints_null)
}

/// Whether `v` prints as `null` (or is one of [`stored_json`]'s marks of a
/// reference to no entity, which will).
fn prints_null(v: &Value) -> bool {
    v.is_null() || matches!(v.as_u64(), Some(MARK_A | MARK_B))
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
mod tests;
