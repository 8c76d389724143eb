//! Values stored with another shape than the build's, resolved by name.
//!
//! bincode records no field names: a struct whose fields were reordered
//! would decode into the wrong fields, silently, and an added or removed
//! field would not decode at all. Every snapshot records each type's serde
//! shape, so a value written with shape *S* is read here by *S* into a
//! tree that knows field and variant names, then handed to the build's
//! own `Deserialize` as a self-describing value — structs as maps keyed by
//! field name — and encoded again in the build's layout. As in Avro's
//! schema resolution: reordered fields, removed fields, and added fields
//! that have a default (`#[serde(default)]`, `Option`) need no version bump
//! and no migration; integer widths widen, integers become floats. What
//! cannot be resolved (a field added without a default, an incompatible
//! type, a variant the data uses that the build removed) is refused with
//! the field's path. Values whose shape equals the build's never come here.

use std::fmt;

use serde::Serialize;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde_reflection::{ContainerFormat, Format, VariantFormat};

use crate::codec;
use crate::refscan::ENTITY;
use crate::shape::{MAX_DEPTH, Reader, Shape, parse};

/// A value read by its shape, with its names.
#[derive(Debug, Clone, PartialEq)]
enum Tree {
    Unit,
    Bool(bool),
    /// An unsigned integer and the width it was stored with, in bits.
    U(u128, u8),
    /// A signed integer and the width it was stored with, in bits.
    I(i128, u8),
    F32(f32),
    F64(f64),
    Char(char),
    Str(String),
    Bytes(Vec<u8>),
    Option(Option<Box<Tree>>),
    Seq(Vec<Tree>),
    Map(Vec<(Tree, Tree)>),
    Tuple(Vec<Tree>),
    Struct(Vec<(String, Tree)>),
    NewType(Box<Tree>),
    Variant(String, Box<Content>),
}

#[derive(Debug, Clone, PartialEq)]
enum Content {
    Unit,
    NewType(Tree),
    Tuple(Vec<Tree>),
    Struct(Vec<(String, Tree)>),
}

/// Why a value could not be resolved: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The field's path in the value (`size.width`, `items[]`, `kind::Big`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.reason)?;
        if self.reason.starts_with("missing field") {
            f.write_str(" (a field added without a default: `#[serde(default)]` or an `Option` would resolve it)")?;
        }
        Ok(())
    }
}

/// Whether two recorded shapes describe the same bytes the same way
/// (marks of entity references aside).
pub(crate) fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => strip(a) == strip(b),
        _ => false,
    }
}

/// A shape without its marks of entity references.
fn strip(mut s: Shape) -> Shape {
    fn unmark(f: &mut Format) {
        match f {
            Format::TypeName(n) if n == ENTITY => *f = Format::U64,
            Format::Option(i) | Format::Seq(i) => unmark(i),
            Format::Map { key, value } => {
                unmark(key);
                unmark(value);
            }
            Format::Tuple(items) => items.iter_mut().for_each(unmark),
            Format::TupleArray { content, .. } => unmark(content),
            _ => {}
        }
    }
    unmark(&mut s.root);
    s.types.remove(ENTITY);
    for c in s.types.values_mut() {
        match c {
            ContainerFormat::NewTypeStruct(f) => unmark(f),
            ContainerFormat::TupleStruct(fs) => fs.iter_mut().for_each(unmark),
            ContainerFormat::Struct(fs) => fs.iter_mut().for_each(|n| unmark(&mut n.value)),
            ContainerFormat::Enum(vs) => {
                for v in vs.values_mut() {
                    match &mut v.value {
                        VariantFormat::NewType(f) => unmark(f),
                        VariantFormat::Tuple(fs) => fs.iter_mut().for_each(unmark),
                        VariantFormat::Struct(fs) => {
                            fs.iter_mut().for_each(|n| unmark(&mut n.value))
                        }
                        _ => {}
                    }
                }
            }
            ContainerFormat::UnitStruct => {}
        }
    }
    s
}

/// Brings `rows` values stored with shape `stored` (all of `payload`) to
/// the layout of `T`, matching struct fields and enum variants by name.
///
/// # Errors
/// The stored shape is unreadable, the payload does not follow it, or a
/// value cannot become a `T` (the error names the field).
pub(crate) fn resolve<T: Serialize + DeserializeOwned>(
    stored: &str,
    payload: &[u8],
    rows: usize,
) -> Result<Vec<u8>, Unresolved> {
    resolve_with::<T, T>(stored, payload, rows, &|v| v)
}

/// [`resolve`] into `In`, then through `f` (a migration step) into the
/// layout of `Out`.
pub(crate) fn resolve_with<In: DeserializeOwned, Out: Serialize>(
    stored: &str,
    payload: &[u8],
    rows: usize,
    f: &dyn Fn(In) -> Out,
) -> Result<Vec<u8>, Unresolved> {
    let shape = parse(stored).map_err(|reason| Unresolved {
        field: String::new(),
        reason,
    })?;
    let mut reader = Reader {
        bytes: payload,
        at: 0,
        types: &shape.types,
        depth: 0,
        refs: None,
    };
    let mut out = Vec::with_capacity(payload.len());
    for _ in 0..rows {
        reader.depth = 0;
        let tree = read(&mut reader, &shape.root).map_err(|reason| Unresolved {
            field: String::new(),
            reason: format!("the stored value does not follow its recorded shape: {reason}"),
        })?;
        let mut path = Vec::new();
        let value = In::deserialize(TreeDe {
            tree: &tree,
            path: &mut path,
        })
        .map_err(|e| Unresolved {
            field: e.path.unwrap_or_default(),
            reason: e.message,
        })?;
        codec::encode_into(&f(value), &mut out).map_err(|e| Unresolved {
            field: String::new(),
            reason: e.to_string(),
        })?;
    }
    if reader.at != payload.len() {
        return Err(Unresolved {
            field: String::new(),
            reason: format!(
                "{} bytes left after {rows} values of the recorded shape",
                payload.len() - reader.at
            ),
        });
    }
    Ok(out)
}

/// Reads one value of `format` into a tree.
fn read(r: &mut Reader<'_>, format: &Format) -> Result<Tree, String> {
    r.depth += 1;
    if r.depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    let t = match format {
        Format::Unit => Tree::Unit,
        Format::Bool => match r.byte()? {
            0 => Tree::Bool(false),
            1 => Tree::Bool(true),
            b => return Err(format!("invalid bool {b}")),
        },
        Format::U8 => Tree::U(u128::from(r.byte()?), 8),
        Format::I8 => Tree::I(i128::from(r.byte()? as i8), 8),
        Format::U16 => Tree::U(r.varint()?, 16),
        Format::U32 => Tree::U(r.varint()?, 32),
        Format::U64 => Tree::U(r.varint()?, 64),
        Format::U128 => Tree::U(r.varint()?, 128),
        Format::I16 => Tree::I(r.signed()?, 16),
        Format::I32 => Tree::I(r.signed()?, 32),
        Format::I64 => Tree::I(r.signed()?, 64),
        Format::I128 => Tree::I(r.signed()?, 128),
        Format::F32 => Tree::F32(f32::from_le_bytes(
            r.take(4)?.try_into().map_err(|_| "short f32")?,
        )),
        Format::F64 => Tree::F64(f64::from_le_bytes(
            r.take(8)?.try_into().map_err(|_| "short f64")?,
        )),
        Format::Char => {
            // bincode writes a char as its UTF-8 bytes.
            let first = r.bytes.get(r.at).copied().ok_or("a char at the end")?;
            let width = match first {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            let s = std::str::from_utf8(r.take(width)?).map_err(|e| e.to_string())?;
            Tree::Char(s.chars().next().ok_or("an empty char")?)
        }
        Format::Str => {
            let n = r.len()?;
            Tree::Str(
                std::str::from_utf8(r.take(n)?)
                    .map_err(|e| e.to_string())?
                    .to_owned(),
            )
        }
        Format::Bytes => {
            let n = r.len()?;
            Tree::Bytes(r.take(n)?.to_vec())
        }
        Format::Option(inner) => match r.byte()? {
            0 => Tree::Option(None),
            1 => Tree::Option(Some(Box::new(read(r, inner)?))),
            b => return Err(format!("invalid option tag {b}")),
        },
        Format::Seq(inner) => {
            let n = r.len()?;
            Tree::Seq((0..n).map(|_| read(r, inner)).collect::<Result<_, _>>()?)
        }
        Format::Map { key, value } => {
            let n = r.len()?;
            let mut pairs = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                pairs.push((read(r, key)?, read(r, value)?));
            }
            Tree::Map(pairs)
        }
        Format::Tuple(items) => {
            Tree::Tuple(items.iter().map(|f| read(r, f)).collect::<Result<_, _>>()?)
        }
        Format::TupleArray { content, size } => {
            if *size > r.bytes.len().saturating_mul(8) + 4096 {
                return Err(format!("an array of {size}"));
            }
            Tree::Tuple(
                (0..*size)
                    .map(|_| read(r, content))
                    .collect::<Result<_, _>>()?,
            )
        }
        Format::TypeName(name) => {
            let c = r
                .types
                .get(name)
                .ok_or_else(|| format!("unknown type `{name}` in the shape"))?;
            match c {
                ContainerFormat::UnitStruct => Tree::Unit,
                ContainerFormat::NewTypeStruct(inner) => Tree::NewType(Box::new(read(r, inner)?)),
                ContainerFormat::TupleStruct(items) => {
                    Tree::Tuple(items.iter().map(|f| read(r, f)).collect::<Result<_, _>>()?)
                }
                ContainerFormat::Struct(fields) => Tree::Struct(
                    fields
                        .iter()
                        .map(|f| Ok((f.name.clone(), read(r, &f.value)?)))
                        .collect::<Result<_, String>>()?,
                ),
                ContainerFormat::Enum(variants) => {
                    let index =
                        u32::try_from(r.varint()?).map_err(|_| "variant index too large")?;
                    let v = variants
                        .get(&index)
                        .ok_or_else(|| format!("no variant {index}"))?;
                    let content = match &v.value {
                        VariantFormat::Unit => Content::Unit,
                        VariantFormat::NewType(inner) => Content::NewType(read(r, inner)?),
                        VariantFormat::Tuple(items) => Content::Tuple(
                            items.iter().map(|f| read(r, f)).collect::<Result<_, _>>()?,
                        ),
                        VariantFormat::Struct(fields) => Content::Struct(
                            fields
                                .iter()
                                .map(|f| Ok((f.name.clone(), read(r, &f.value)?)))
                                .collect::<Result<_, String>>()?,
                        ),
                        VariantFormat::Variable(_) => return Err("an incomplete shape".into()),
                    };
                    Tree::Variant(v.name.clone(), Box::new(content))
                }
            }
        }
        Format::Variable(_) => return Err("an incomplete shape".into()),
    };
    r.depth -= 1;
    Ok(t)
}

/// An error of the build's `Deserialize`, with the path where it happened.
#[derive(Debug)]
struct Error {
    message: String,
    path: Option<String>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Error {
            message: msg.to_string(),
            path: None,
        }
    }
}

/// Deserializes the build's type from a tree; `path` names where it is.
struct TreeDe<'t, 'p> {
    tree: &'t Tree,
    path: &'p mut Vec<String>,
}

impl TreeDe<'_, '_> {
    /// Fills in the path of an error that has none yet.
    fn located<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|mut e| {
            if e.path.is_none() {
                e.path = Some(self.path.join("."));
            }
            e
        })
    }
}

fn with<'t, 'p, T>(
    path: &'p mut Vec<String>,
    step: String,
    tree: &'t Tree,
    seed: impl DeserializeSeed<'t, Value = T>,
) -> Result<T, Error> {
    path.push(step);
    let r = seed.deserialize(TreeDe {
        tree,
        path: &mut *path,
    });
    let r = r.map_err(|mut e| {
        if e.path.is_none() {
            e.path = Some(path.join("."));
        }
        e
    });
    path.pop();
    r
}

struct Items<'t, 'p> {
    items: std::slice::Iter<'t, Tree>,
    index: usize,
    path: &'p mut Vec<String>,
}

impl<'de> SeqAccess<'de> for Items<'de, '_> {
    type Error = Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        let Some(tree) = self.items.next() else {
            return Ok(None);
        };
        let i = self.index;
        self.index += 1;
        with(self.path, format!("{i}"), tree, seed).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Struct fields or map entries as a map.
struct Entries<'t, 'p> {
    entries: Vec<(KeyRef<'t>, &'t Tree)>,
    next: usize,
    path: &'p mut Vec<String>,
}

#[derive(Clone, Copy)]
enum KeyRef<'t> {
    Name(&'t str),
    Tree(&'t Tree),
}

impl<'de> MapAccess<'de> for Entries<'de, '_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(&(key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        match key {
            KeyRef::Name(n) => {
                seed.deserialize(n.into_deserializer())
                    .map(Some)
                    .map_err(|e: de::value::Error| Error {
                        message: e.to_string(),
                        path: Some(self.path.join(".")),
                    })
            }
            KeyRef::Tree(t) => with(self.path, "{key}".into(), t, seed).map(Some),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, tree) = self.entries[self.next];
        self.next += 1;
        let step = match key {
            KeyRef::Name(n) => n.to_owned(),
            KeyRef::Tree(_) => "{value}".to_owned(),
        };
        with(self.path, step, tree, seed)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.next)
    }
}

struct Enum<'t, 'p> {
    name: &'t str,
    content: &'t Content,
    path: &'p mut Vec<String>,
}

impl<'de, 'p> EnumAccess<'de> for Enum<'de, 'p> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let name = self.name;
        let v = seed
            .deserialize(name.into_deserializer())
            .map_err(|e: de::value::Error| Error {
                message: e.to_string(),
                path: Some(self.path.join(".")),
            })?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for Enum<'de, '_> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.content {
            Content::Unit => Ok(()),
            _ => Err(self.mismatch("a unit variant")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.content {
            Content::NewType(t) => with(self.path, self.name.to_owned(), t, seed),
            _ => Err(self.mismatch("a newtype variant")),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.content {
            Content::Tuple(items) => {
                self.path.push(self.name.to_owned());
                let r = visitor.visit_seq(Items {
                    items: items.iter(),
                    index: 0,
                    path: &mut *self.path,
                });
                self.path.pop();
                r
            }
            _ => Err(self.mismatch("a tuple variant")),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.content {
            Content::Struct(fields) => {
                self.path.push(self.name.to_owned());
                let r = visitor.visit_map(Entries {
                    entries: fields
                        .iter()
                        .map(|(n, t)| (KeyRef::Name(n.as_str()), t))
                        .collect(),
                    next: 0,
                    path: &mut *self.path,
                });
                self.path.pop();
                r
            }
            _ => Err(self.mismatch("a struct variant")),
        }
    }
}

impl Enum<'_, '_> {
    fn mismatch(&self, expected: &str) -> Error {
        Error {
            message: format!(
                "variant `{}` is stored as another kind of variant than {expected}",
                self.name
            ),
            path: Some(self.path.join(".")),
        }
    }
}

impl<'de> de::Deserializer<'de> for TreeDe<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.tree {
            Tree::Unit => visitor.visit_unit(),
            Tree::Bool(b) => visitor.visit_bool(*b),
            Tree::U(u, _) => match u64::try_from(*u) {
                Ok(u) => visitor.visit_u64(u),
                Err(_) => visitor.visit_u128(*u),
            },
            Tree::I(i, _) => match i64::try_from(*i) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => visitor.visit_i128(*i),
            },
            Tree::F32(f) => visitor.visit_f32(*f),
            Tree::F64(f) => visitor.visit_f64(*f),
            Tree::Char(c) => visitor.visit_char(*c),
            Tree::Str(s) => visitor.visit_str(s),
            Tree::Bytes(b) => visitor.visit_bytes(b),
            Tree::Option(None) => visitor.visit_none(),
            Tree::Option(Some(t)) => visitor.visit_some(TreeDe {
                tree: t,
                path: self.path,
            }),
            Tree::Seq(items) | Tree::Tuple(items) => visitor.visit_seq(Items {
                items: items.iter(),
                index: 0,
                path: self.path,
            }),
            Tree::Map(pairs) => visitor.visit_map(Entries {
                entries: pairs
                    .iter()
                    .flat_map(|(k, v)| [(KeyRef::Tree(k), v)])
                    .collect(),
                next: 0,
                path: self.path,
            }),
            Tree::Struct(fields) => visitor.visit_map(Entries {
                entries: fields
                    .iter()
                    .map(|(n, t)| (KeyRef::Name(n.as_str()), t))
                    .collect(),
                next: 0,
                path: self.path,
            }),
            Tree::NewType(inner) => TreeDe {
                tree: inner,
                path: self.path,
            }
            .deserialize_any(visitor),
            Tree::Variant(name, content) => visitor.visit_enum(Enum {
                name,
                content,
                path: self.path,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.tree {
            Tree::Option(None) => visitor.visit_none(),
            Tree::Option(Some(t)) => visitor.visit_some(TreeDe {
                tree: t,
                path: self.path,
            }),
            // A field that became optional keeps its value.
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.tree {
            Tree::NewType(inner) => visitor.visit_newtype_struct(TreeDe {
                tree: inner,
                path: self.path,
            }),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let tree = match self.tree {
            Tree::NewType(inner) => inner.as_ref(),
            t => t,
        };
        let r = match tree {
            Tree::Variant(name, content) => visitor.visit_enum(Enum {
                name,
                content,
                path: &mut *self.path,
            }),
            _ => Err(de::Error::custom("a stored value that is not an enum")),
        };
        let d = TreeDe {
            tree: self.tree,
            path: self.path,
        };
        d.located(r)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::U(8), visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::U(16), visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::U(32), visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::U(64), visitor)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::U(128), visitor)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::I(8), visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::I(16), visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::I(32), visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::I(64), visitor)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::I(128), visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::F(32), visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.number(Num::F(64), visitor)
    }

    serde::forward_to_deserialize_any! {
        bool char str string bytes byte_buf unit seq tuple map struct identifier
    }
}

/// A number type of the build: unsigned, signed or float, and its width in
/// bits.
#[derive(Clone, Copy)]
enum Num {
    U(u8),
    I(u8),
    F(u8),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::U(b) => write!(f, "u{b}"),
            Num::I(b) => write!(f, "i{b}"),
            Num::F(b) => write!(f, "f{b}"),
        }
    }
}

/// Whether every value of the stored number type `from` is a value of
/// `to`, exactly: the widening conversions (`u32` to `u64` or `i64`, `f32`
/// to `f64`, an integer to a float whose mantissa holds all its values).
/// What this refuses loses values for some inputs, so it is refused for
/// all of them: whether a file opens never depends on its values.
fn widens(from: Num, to: Num) -> bool {
    match (from, to) {
        (Num::U(a), Num::U(b)) | (Num::I(a), Num::I(b)) | (Num::F(a), Num::F(b)) => a <= b,
        (Num::U(a), Num::I(b)) => a < b,
        (Num::I(_), Num::U(_)) | (Num::F(_), Num::U(_) | Num::I(_)) => false,
        // f32 holds integers of 24 bits exactly, f64 of 53.
        (Num::U(a) | Num::I(a), Num::F(32)) => a <= 16,
        (Num::U(a) | Num::I(a), Num::F(_)) => a <= 32,
    }
}

impl<'de> TreeDe<'de, '_> {
    /// A number the build reads as `to`: refused (with the path) unless the
    /// stored type widens to it.
    fn number<V: Visitor<'de>>(self, to: Num, visitor: V) -> Result<V::Value, Error> {
        let from = match self.tree {
            Tree::U(_, b) => Num::U(*b),
            Tree::I(_, b) => Num::I(*b),
            Tree::F32(_) => Num::F(32),
            Tree::F64(_) => Num::F(64),
            _ => return de::Deserializer::deserialize_any(self, visitor),
        };
        if !widens(from, to) {
            return Err(Error {
                message: format!(
                    "stored as {from}, read as {to} by this build: not every {from} is a \
                     {to}, so values could be lost (bump the component's version and add a \
                     migration that says how)"
                ),
                path: Some(self.path.join(".")),
            });
        }
        de::Deserializer::deserialize_any(self, visitor)
    }
}

/// A stored shape's fields, for messages: `name: Type` of the root struct.
/// The structs (by name) in which a value stored with shape `stored`, read
/// by the build's `build`, loses fields and gets others from their
/// defaults: what renaming a field without `#[serde(alias = "old")]` looks
/// like. Each: the struct, the stored fields no longer read, the fields
/// filled with their default.
pub(crate) fn dropped_and_defaulted(
    stored: &str,
    build: &str,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let (Ok(a), Ok(b)) = (parse(stored), parse(build)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, old) in &a.types {
        let (ContainerFormat::Struct(old), Some(ContainerFormat::Struct(new))) =
            (old, b.types.get(name))
        else {
            continue;
        };
        let names = |fs: &[serde_reflection::Named<Format>]| -> Vec<String> {
            fs.iter().map(|n| n.name.clone()).collect()
        };
        let (old, new) = (names(old), names(new));
        let dropped: Vec<String> = old.iter().filter(|f| !new.contains(f)).cloned().collect();
        let defaulted: Vec<String> = new.iter().filter(|f| !old.contains(f)).cloned().collect();
        if !dropped.is_empty() && !defaulted.is_empty() {
            out.push((name.clone(), dropped, defaulted));
        }
    }
    out
}

pub(crate) fn outline(shape: &str) -> String {
    let Ok(s) = parse(shape) else {
        return "an unreadable shape".into();
    };
    let root = crate::shape::describe(&s.root);
    match &s.root {
        Format::TypeName(n) => match s.types.get(n) {
            Some(ContainerFormat::Struct(fields)) => format!(
                "{root} {{ {} }}",
                fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, crate::shape::describe(&f.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(ContainerFormat::Enum(vs)) => format!(
                "{root} {{ {} }}",
                vs.values()
                    .map(|v| v.name.clone())
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            _ => root,
        },
        _ => root,
    }
}
