//! The serde shape of a registered type, recorded with every snapshot and
//! bundle, so that a reader can tell exactly what changed between versions
//! and can decode values whose Rust type it does not have.
//!
//! Shapes are traced with `serde-reflection` when a type is registered and
//! stored as JSON text. [`decode`] reads one value encoded by [`crate::codec`]
//! (bincode 2, standard configuration) following a shape, into JSON;
//! [`differences`] names the fields that differ between two shapes.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_reflection::{ContainerFormat, Format, Named, Tracer, TracerConfig, VariantFormat};

use crate::refscan::{ENTITY, Refs};

mod maps;
mod references;

pub use maps::{empty_maps_as_pairs, has_maps_of_pairs};

pub use references::{drop_references, references};

/// A traced shape: the root format and every named container it uses
/// (`serde-reflection`'s types). [`read`] gives one, for readers that walk
/// a shape themselves (the tables of `dizzy export-table`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub(crate) root: Format,
    pub(crate) types: BTreeMap<String, ContainerFormat>,
}

impl Shape {
    /// The format of a whole value.
    pub fn root(&self) -> &Format {
        &self.root
    }

    /// The container a `Format::TypeName` names (an entity reference is
    /// [`ENTITY`], a newtype of `U64`).
    pub fn container(&self, name: &str) -> Option<&ContainerFormat> {
        self.types.get(name)
    }
}

/// Parses a shape recorded as JSON text (as [`trace`] gives it).
///
/// # Errors
/// The text is not a shape.
pub fn read(shape: &str) -> Result<Shape, String> {
    parse(shape)
}

/// Traces `T`'s serde shape, as JSON text; `None` if the type cannot be
/// traced (a custom `Deserialize` that rejects the tracer's sample values).
///
/// Limitation (of tracing by deserialization): an enum reached only inside
/// a `Vec`, an `Option` or a map is explored once, so only its first variant
/// may be known; values using other variants then cannot be decoded by shape
/// (and are reported as such). Enums at the top of a type or in struct
/// fields are traced completely.
pub fn trace<T: Serialize + DeserializeOwned>() -> Option<String> {
    let (shape, _) = trace_samples::<T>()?;
    serde_json::to_string(&shape).ok()
}

/// `T`'s shape traced by deserialization alone (for types that are only
/// read, such as a migration's old type), as JSON text.
pub(crate) fn trace_de<T: DeserializeOwned>() -> Option<String> {
    CONFIGS.iter().find_map(|config| trace_de_with::<T>(config))
}

/// The tracer's made-up values: first its own (zeros, empty strings; 2 for
/// `u32` and `u64`, a valid entity and uid: bevy's `Entity` rejects 0),
/// then, for a type whose `Deserialize` refuses those (`NonZeroU16`, a
/// number kept as a string through `#[serde(with)]`, a date kept as a
/// string), 2 for every number, `true`, 16 bytes (a UUID's), and as every
/// string `"2"`, then a date, then a date and time (RFC 3339).
const CONFIGS: [fn() -> TracerConfig; 4] = [
    || {
        TracerConfig::default()
            .default_u64_value(2)
            .default_u32_value(2)
            .record_samples_for_newtype_structs(false)
    },
    || other_values("2"),
    || other_values("2000-01-02"),
    || other_values("2000-01-02T03:04:05Z"),
];

fn other_values(text: &'static str) -> TracerConfig {
    TracerConfig::default()
        .default_u8_value(2)
        .default_u16_value(2)
        .default_u32_value(2)
        .default_u64_value(2)
        .default_u128_value(2)
        .default_i8_value(2)
        .default_i16_value(2)
        .default_i32_value(2)
        .default_i64_value(2)
        .default_i128_value(2)
        .default_f32_value(2.0)
        .default_f64_value(2.0)
        .default_bool_value(true)
        .default_char_value('2')
        .default_borrowed_str_value(text)
        .default_string_value(text.to_owned())
        .default_borrowed_bytes_value(&[2; 16])
        .default_byte_buf_value(vec![2; 16])
        .record_samples_for_newtype_structs(false)
}

/// Why `T` cannot be traced with any of the tracer's made-up values (the
/// first configuration's error); `None` if it can.
pub(crate) fn untraced_reason<T: DeserializeOwned>() -> Option<serde_reflection::Error> {
    let mut tracer = Tracer::new(CONFIGS[0]());
    let first = tracer.trace_simple_type::<T>().err()?;
    CONFIGS[1..]
        .iter()
        .all(|config| Tracer::new(config()).trace_simple_type::<T>().is_err())
        .then_some(first)
}

/// Why `T` cannot be traced, in words: each set of made-up values' refusal
/// (the field that refuses every one of them is among these).
pub(crate) fn untraced_reasons<T: DeserializeOwned>() -> String {
    let mut reasons: Vec<String> = Vec::new();
    for config in &CONFIGS {
        if let Err(e) = Tracer::new(config()).trace_simple_type::<T>() {
            let e = e.to_string();
            if !reasons.contains(&e) {
                reasons.push(e);
            }
        }
    }
    reasons.join("; then ")
}

fn trace_de_with<T: DeserializeOwned>(config: &fn() -> TracerConfig) -> Option<String> {
    let (shape, _) = trace_passes::<T>(config)?;
    serde_json::to_string(&shape).ok()
}

/// Traces `T` by deserialization, one more variant of each enum per pass,
/// until no enum is left incomplete; also returns the tracer's values.
/// Each round starts again knowing the enums the last one met (an enum
/// inside a variant is met only once that variant is explored), until a
/// round meets no enum it was not watching: a shape is never recorded with
/// a variant missing (a value of it would not decode by the shape).
fn trace_passes<T: DeserializeOwned>(config: &fn() -> TracerConfig) -> Option<(Shape, Vec<T>)> {
    let enum_names = |types: &BTreeMap<String, ContainerFormat>| -> BTreeSet<String> {
        types
            .iter()
            .filter(|(_, c)| matches!(c, ContainerFormat::Enum(_)))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let mut first = Tracer::new(config());
    first.trace_simple_type::<T>().ok()?;
    let mut enums = enum_names(&first.registry_unchecked());
    for _round in 0..16 {
        let mut samples = Vec::new();
        let mut tracer = Tracer::new(config());
        let mut root = None;
        let mut complete = false;
        for _ in 0..1024 {
            let (format, values) = tracer.trace_simple_type::<T>().ok()?;
            root = Some(format);
            samples.extend(values);
            let mut incomplete = false;
            for name in &enums {
                incomplete |= tracer.check_incomplete_enum(name).is_some();
            }
            if !incomplete {
                complete = true;
                break;
            }
        }
        let types = tracer.registry_unchecked();
        let met = enum_names(&types);
        if complete && met.is_subset(&enums) {
            return finish(root?, types).map(|shape| (shape, samples));
        }
        if met.is_subset(&enums) {
            return None;
        }
        enums.extend(met);
    }
    None
}

/// How `value` serializes: its format and every struct and enum it goes
/// through, with their fields and the variants it uses, as JSON. Two types
/// that read the same bytes into values with the same trail lay those
/// bytes out alike (field names and order, numbers' types, variant names
/// at their indices); for a type whose shape cannot be traced, a snapshot
/// records the trail of one stored value so that a build whose type reads
/// it differently is refused.
pub fn value_trail<T: Serialize>(value: &T) -> Option<String> {
    let mut tracer = Tracer::new(TracerConfig::default());
    let (format, _) = tracer
        .trace_value(&mut serde_reflection::Samples::new(), value)
        .ok()?;
    serde_json::to_string(&(format, tracer.registry_unchecked())).ok()
}

/// A trail ([`value_trail`]) as one line: the containers it goes through,
/// the root's first (`Order { lot: U64, tag: LotTag }; LotTag(Str)`);
/// anything else (a skeleton) as it is.
pub(crate) fn readable_trail(trail: &str) -> String {
    type Trail = (Format, BTreeMap<String, ContainerFormat>);
    let Ok((root, types)) = serde_json::from_str::<Trail>(trail) else {
        return trail.to_owned();
    };
    let fields = |fs: &[serde_reflection::Named<Format>]| {
        fs.iter()
            .map(|f| format!("{}: {}", f.name, describe(&f.value)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let items = |fs: &[Format]| fs.iter().map(describe).collect::<Vec<_>>().join(", ");
    let container = |name: &str, c: &ContainerFormat| match c {
        ContainerFormat::UnitStruct => name.to_owned(),
        ContainerFormat::NewTypeStruct(f) => format!("{name}({})", describe(f)),
        ContainerFormat::TupleStruct(fs) => format!("{name}({})", items(fs)),
        ContainerFormat::Struct(fs) => format!("{name} {{ {} }}", fields(fs)),
        ContainerFormat::Enum(vs) => {
            let variants = vs.iter().map(|(i, v)| {
                let body = match &v.value {
                    serde_reflection::VariantFormat::Unit => String::new(),
                    serde_reflection::VariantFormat::NewType(f) => format!("({})", describe(f)),
                    serde_reflection::VariantFormat::Tuple(fs) => format!("({})", items(fs)),
                    serde_reflection::VariantFormat::Struct(fs) => format!(" {{ {} }}", fields(fs)),
                    serde_reflection::VariantFormat::Variable(_) => "(?)".to_owned(),
                };
                format!("#{i} {}{body}", v.name)
            });
            format!("{name} {{ {} }}", variants.collect::<Vec<_>>().join(" | "))
        }
    };
    let first = match &root {
        Format::TypeName(n) => types.get(n).map(|c| container(n, c)),
        _ => None,
    };
    let rest = types
        .iter()
        .filter(|(n, _)| !matches!(&root, Format::TypeName(r) if r == *n))
        .map(|(n, c)| container(n, c));
    let all: Vec<String> = first.into_iter().chain(rest).collect();
    if all.is_empty() {
        describe(&root)
    } else {
        all.join("; ")
    }
}

/// The shape of a component or resource type, with its entity references
/// marked (see [`crate::refscan`]), and what is known of its references.
pub(crate) fn trace_component<T>() -> (Option<String>, Refs)
where
    T: bevy_ecs::component::Component + Serialize + DeserializeOwned,
{
    let Some((mut shape, samples)) = trace_samples::<T>() else {
        return (None, Refs::Unmarked);
    };
    let refs = crate::refscan::scan(samples, &mut shape.root, &mut shape.types);
    (serde_json::to_string(&shape).ok(), refs)
}

/// The shape of `T` and sample values of it: the tracer's, and those of
/// [`crate::sample`], which reach every variant of every enum wherever it
/// sits (each is traced by serialization too, which completes the enums'
/// formats).
fn trace_samples<T: Serialize + DeserializeOwned>() -> Option<(Shape, Vec<T>)> {
    CONFIGS
        .iter()
        .find_map(|config| trace_samples_with::<T>(config))
}

fn trace_samples_with<T: Serialize + DeserializeOwned>(
    config: &fn() -> TracerConfig,
) -> Option<(Shape, Vec<T>)> {
    let mut samples = Vec::new();
    if let Some(made) = crate::sample::samples::<T>() {
        let mut tracer = Tracer::new(config());
        if let Ok((root, values)) = tracer.trace_simple_type::<T>() {
            samples.extend(values);
            let mut complete = true;
            for s in &made {
                complete &= tracer
                    .trace_value(&mut serde_reflection::Samples::new(), s)
                    .is_ok();
            }
            samples.extend(made);
            if complete && let Some(shape) = finish(root, tracer.registry_unchecked()) {
                return Some((shape, samples));
            }
        } else {
            // The tracer's one made-up string per configuration does not
            // fit every field (a date and a timestamp, each checked): the
            // sampler's values, one per variant choice, are traced by
            // serialization alone.
            let mut tracer = Tracer::new(config());
            let mut root = None;
            for s in &made {
                let (format, _) = tracer
                    .trace_value(&mut serde_reflection::Samples::new(), s)
                    .ok()?;
                root = Some(format);
            }
            if let Some(shape) = finish(root?, tracer.registry_unchecked()) {
                return Some((shape, made));
            }
        }
    }
    trace_passes::<T>(config)
}

/// The shape a tracer found: `None` if it is incomplete.
fn finish(root: Format, mut types: BTreeMap<String, ContainerFormat>) -> Option<Shape> {
    for c in types.values_mut() {
        if let ContainerFormat::Enum(variants) = c {
            normalize_indices(variants);
            variants.retain(|_, v| !matches!(v.value, VariantFormat::Variable(_)));
        }
    }
    let complete = std::iter::once(&root)
        .chain(types.values().flat_map(formats))
        .all(|f| !has_variable(f));
    complete.then_some(Shape { root, types })
}

/// Variants whose index tracing did not confirm keep a provisional key
/// (`u32::MAX - (n - 1) + i` for the `i`-th of `n` variants); the first
/// variant explored is always the 0th, so the smallest key gives the offset.
fn normalize_indices(variants: &mut BTreeMap<u32, Named<VariantFormat>>) {
    const PROVISIONAL: u32 = u32::MAX / 2;
    let provisional: Vec<u32> = variants
        .keys()
        .copied()
        .filter(|&k| k > PROVISIONAL)
        .collect();
    let Some(&min) = provisional.first() else {
        return;
    };
    for k in provisional {
        if let Some(v) = variants.remove(&k) {
            variants.entry(k - min).or_insert(v);
        }
    }
}

fn formats(c: &ContainerFormat) -> Vec<&Format> {
    match c {
        ContainerFormat::UnitStruct => vec![],
        ContainerFormat::NewTypeStruct(f) => vec![f],
        ContainerFormat::TupleStruct(fs) => fs.iter().collect(),
        ContainerFormat::Struct(fs) => fs.iter().map(|n| &n.value).collect(),
        ContainerFormat::Enum(vs) => vs
            .values()
            .flat_map(|v| match &v.value {
                VariantFormat::NewType(f) => vec![&**f],
                VariantFormat::Tuple(fs) => fs.iter().collect(),
                VariantFormat::Struct(fs) => fs.iter().map(|n| &n.value).collect(),
                _ => vec![],
            })
            .collect(),
    }
}

fn has_variable(f: &Format) -> bool {
    match f {
        Format::Variable(_) => true,
        Format::Option(i) | Format::Seq(i) => has_variable(i),
        Format::Map { key, value } => has_variable(key) || has_variable(value),
        Format::Tuple(items) => items.iter().any(has_variable),
        Format::TupleArray { content, .. } => has_variable(content),
        _ => false,
    }
}

pub(crate) fn parse(shape: &str) -> Result<Shape, String> {
    serde_json::from_str(shape).map_err(|e| format!("unreadable shape: {e}"))
}

pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
    pub(crate) types: &'a BTreeMap<String, ContainerFormat>,
    pub(crate) depth: usize,
    /// When present, the byte ranges of the entity references read.
    pub(crate) refs: Option<Vec<(usize, usize)>>,
}

impl<'a> Reader<'a> {
    /// A reader at the front of `bytes`; `refs` collects the byte ranges
    /// of the references read when it is `Some`.
    pub(crate) fn new(
        bytes: &'a [u8],
        types: &'a BTreeMap<String, ContainerFormat>,
        refs: Option<Vec<(usize, usize)>>,
    ) -> Self {
        Reader {
            bytes,
            at: 0,
            types,
            depth: 0,
            refs,
        }
    }
}

pub(crate) const MAX_DEPTH: usize = 64;

impl Reader<'_> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "{} bytes needed at offset {}, {} left",
                n,
                self.at,
                self.bytes.len() - self.at
            )
        })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u128, String> {
        let tag = self.byte()?;
        Ok(match tag {
            0..=250 => u128::from(tag),
            251 => u128::from(u16::from_le_bytes(
                self.take(2)?.try_into().map_err(|_| "short u16")?,
            )),
            252 => u128::from(u32::from_le_bytes(
                self.take(4)?.try_into().map_err(|_| "short u32")?,
            )),
            253 => u128::from(u64::from_le_bytes(
                self.take(8)?.try_into().map_err(|_| "short u64")?,
            )),
            254 => u128::from_le_bytes(self.take(16)?.try_into().map_err(|_| "short u128")?),
            _ => {
                return Err(format!(
                    "invalid integer tag {tag} at offset {}",
                    self.at - 1
                ));
            }
        })
    }

    pub(crate) fn signed(&mut self) -> Result<i128, String> {
        let z = self.varint()?;
        Ok(((z >> 1) as i128) ^ -((z & 1) as i128))
    }

    pub(crate) fn len(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        // Every element takes at least a byte, except zero-sized ones: cap
        // lengths so that hostile input cannot make a loop spin forever.
        let left = (self.bytes.len() - self.at) as u128;
        if n > left.saturating_mul(8) + 4096 {
            return Err(format!("a length of {n} with {left} bytes left"));
        }
        Ok(n as usize)
    }

    fn number(n: impl Into<Value>) -> Value {
        n.into()
    }

    fn value(&mut self, f: &Format) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let v = match f {
            Format::Unit => Value::Null,
            Format::Bool => match self.byte()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("invalid bool {b}")),
            },
            Format::U8 => Self::number(self.byte()?),
            Format::I8 => Self::number(self.byte()? as i8),
            Format::U16 | Format::U32 | Format::U64 => {
                let n = self.varint()?;
                Self::number(u64::try_from(n).map_err(|_| "integer too large")?)
            }
            Format::U128 => Value::String(self.varint()?.to_string()),
            Format::I16 | Format::I32 | Format::I64 => {
                let n = self.signed()?;
                Self::number(i64::try_from(n).map_err(|_| "integer too large")?)
            }
            Format::I128 => Value::String(self.signed()?.to_string()),
            // Non-finite floats as "NaN", "Infinity", "-Infinity" (see `crate::json`).
            Format::F32 => crate::json::float32(f32::from_le_bytes(
                self.take(4)?.try_into().map_err(|_| "short f32")?,
            )),
            Format::F64 => crate::json::float(f64::from_le_bytes(
                self.take(8)?.try_into().map_err(|_| "short f64")?,
            )),
            Format::Char => {
                let first = self
                    .bytes
                    .get(self.at)
                    .copied()
                    .ok_or("a char at the end")?;
                let width = match first {
                    0x00..=0x7f => 1,
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                let s = std::str::from_utf8(self.take(width)?).map_err(|e| e.to_string())?;
                Value::String(s.to_owned())
            }
            Format::Str => {
                let n = self.len()?;
                let s = std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())?;
                Value::String(s.to_owned())
            }
            Format::Bytes => {
                let n = self.len()?;
                Value::Array(self.take(n)?.iter().map(|&b| Value::from(b)).collect())
            }
            Format::Option(inner) => match self.byte()? {
                0 => Value::Null,
                // As a registered type prints it (`crate::json`).
                1 => match self.value(inner)? {
                    v if v.is_null() || crate::json::is_some_of(&v) => crate::json::some_of(v),
                    v => v,
                },
                b => return Err(format!("invalid option tag {b}")),
            },
            Format::Seq(inner) => {
                let n = self.len()?;
                Value::Array(
                    (0..n)
                        .map(|_| self.value(inner))
                        .collect::<Result<_, _>>()?,
                )
            }
            Format::Map { key, value } => {
                let n = self.len()?;
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    pairs.push((self.value(key)?, self.value(value)?));
                }
                let text = if pairs.is_empty() {
                    maps::keys_print_as_text(self.types, key)
                } else {
                    pairs.iter().all(|(k, _)| k.is_string())
                };
                if text {
                    Value::Object(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v))
                            .collect(),
                    )
                } else {
                    Value::Array(
                        pairs
                            .into_iter()
                            .map(|(k, v)| Value::Array(vec![k, v]))
                            .collect(),
                    )
                }
            }
            Format::Tuple(items) => self.tuple(items)?,
            Format::TupleArray { content, size } => {
                if *size > self.bytes.len().saturating_mul(8) + 4096 {
                    return Err(format!("an array of {size}"));
                }
                Value::Array(
                    (0..*size)
                        .map(|_| self.value(content))
                        .collect::<Result<_, _>>()?,
                )
            }
            Format::TypeName(name) => {
                let c = self
                    .types
                    .get(name)
                    .ok_or_else(|| format!("unknown type `{name}` in the shape"))?;
                let start = self.at;
                let v = self.container(c)?;
                if name == ENTITY
                    && let Some(refs) = &mut self.refs
                {
                    refs.push((start, self.at));
                }
                // No entity (`Entity::PLACEHOLDER`, stored as `NULL_REF`)
                // is null, as a registered type shows it.
                if name == ENTITY && v.as_u64() == Some(crate::NULL_REF) {
                    Value::Null
                } else {
                    v
                }
            }
            Format::Variable(_) => return Err("an incomplete shape".into()),
        };
        self.depth -= 1;
        Ok(v)
    }

    fn fields(&mut self, fields: &[Named<Format>]) -> Result<Value, String> {
        let mut obj = serde_json::Map::new();
        for f in fields {
            obj.insert(f.name.clone(), self.value(&f.value)?);
        }
        Ok(Value::Object(obj))
    }

    fn tuple(&mut self, items: &[Format]) -> Result<Value, String> {
        Ok(Value::Array(
            items
                .iter()
                .map(|i| self.value(i))
                .collect::<Result<_, _>>()?,
        ))
    }

    fn container(&mut self, c: &ContainerFormat) -> Result<Value, String> {
        Ok(match c {
            ContainerFormat::UnitStruct => Value::Null,
            ContainerFormat::NewTypeStruct(inner) => self.value(inner)?,
            ContainerFormat::TupleStruct(items) => self.tuple(items)?,
            ContainerFormat::Struct(fields) => self.fields(fields)?,
            ContainerFormat::Enum(variants) => {
                let index = u32::try_from(self.varint()?).map_err(|_| "variant index too large")?;
                let v = variants
                    .get(&index)
                    .ok_or_else(|| format!("no variant {index}"))?;
                let content = match &v.value {
                    VariantFormat::Unit => return Ok(Value::String(v.name.clone())),
                    VariantFormat::NewType(inner) => self.value(inner)?,
                    VariantFormat::Tuple(items) => self.tuple(items)?,
                    VariantFormat::Struct(fields) => self.fields(fields)?,
                    VariantFormat::Variable(_) => return Err("an incomplete shape".into()),
                };
                let mut obj = serde_json::Map::new();
                obj.insert(v.name.clone(), content);
                Value::Object(obj)
            }
        })
    }
}

/// Decodes one value at the front of `bytes` following `shape`; returns it
/// as JSON and the number of bytes it used.
///
/// # Errors
/// The shape is not valid JSON of a shape, or the bytes do not hold a value of
/// it; the message says where.
pub fn decode(shape: &str, bytes: &[u8]) -> Result<(Value, usize), String> {
    let shape = parse(shape)?;
    let mut r = Reader::new(bytes, &shape.types, None);
    let v = r.value(&shape.root)?;
    Ok((v, r.at))
}

/// Splits `rows` values off the front of `bytes` following `shape`; returns
/// each value's bytes.
///
/// # Errors
/// The shape is not valid, or the bytes do not hold `rows` values of it; the
/// message says where.
pub fn split<'a>(shape: &str, bytes: &'a [u8], rows: usize) -> Result<Vec<&'a [u8]>, String> {
    let shape = parse(shape)?;
    let mut r = Reader::new(bytes, &shape.types, None);
    let mut out = Vec::with_capacity(rows.min(bytes.len() + 1));
    for _ in 0..rows {
        let start = r.at;
        r.depth = 0;
        r.value(&shape.root)?;
        out.push(&bytes[start..r.at]);
    }
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes left after {rows} values",
            bytes.len() - r.at
        ));
    }
    Ok(out)
}

pub(crate) fn describe(f: &Format) -> String {
    match f {
        Format::TypeName(n) => n.clone(),
        Format::Option(i) => format!("Option<{}>", describe(i)),
        Format::Seq(i) => format!("Vec<{}>", describe(i)),
        Format::Map { key, value } => format!("Map<{}, {}>", describe(key), describe(value)),
        Format::Tuple(items) => format!(
            "({})",
            items.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Format::TupleArray { content, size } => format!("[{}; {size}]", describe(content)),
        other => format!("{other:?}"),
    }
}

/// The fields of the root containers of two shapes (stored, current) that
/// differ: added, removed, or of another type. Empty if the shapes are
/// unknown or the same.
pub fn differences(stored: Option<&str>, current: Option<&str>) -> Vec<String> {
    let (Some(a), Some(b)) = (
        stored.and_then(|s| parse(s).ok()),
        current.and_then(|s| parse(s).ok()),
    ) else {
        return Vec::new();
    };
    let root_fields = |s: &Shape| -> Option<Vec<(String, String)>> {
        let Format::TypeName(n) = &s.root else {
            return None;
        };
        match s.types.get(n)? {
            ContainerFormat::Struct(fields) => Some(
                fields
                    .iter()
                    .map(|f| (f.name.clone(), describe(&f.value)))
                    .collect(),
            ),
            ContainerFormat::TupleStruct(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (i.to_string(), describe(f)))
                    .collect(),
            ),
            ContainerFormat::NewTypeStruct(inner) => Some(vec![("0".into(), describe(inner))]),
            _ => None,
        }
    };
    match (root_fields(&a), root_fields(&b)) {
        (Some(old), Some(new)) => {
            let mut out = Vec::new();
            for (name, ty) in &old {
                match new.iter().find(|(n, _)| n == name) {
                    None => out.push(format!("`{name}` ({ty}) was removed")),
                    Some((_, t)) if t != ty => {
                        out.push(format!("`{name}` changed from {ty} to {t}"))
                    }
                    _ => {}
                }
            }
            for (name, ty) in &new {
                if !old.iter().any(|(n, _)| n == name) {
                    out.push(format!("`{name}` ({ty}) was added"));
                }
            }
            if out.is_empty() && a != b {
                out.push("the nested types differ".into());
            }
            out
        }
        _ if a != b => vec![format!(
            "the shape changed from {} to {}",
            describe(&a.root),
            describe(&b.root)
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
