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
use serde::de::DeserializeOwned;
use serde_reflection::{ContainerFormat, Format, VariantFormat};

use crate::codec;
use crate::refscan::ENTITY;
use crate::shape::{MAX_DEPTH, Reader, Shape, parse};

mod tree_de;
use tree_de::TreeDe;

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

/// The field serde's "missing field `name`" names.
fn missing_field(reason: &str) -> Option<&str> {
    reason.strip_prefix("missing field `")?.strip_suffix('`')
}

/// `name` within the value at `at` (the top of the value when empty).
fn join_path(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if missing_field(&self.reason).is_some() && !self.field.is_empty() {
            write!(f, "missing field `{}`", self.field)?;
            return f.write_str(" (a field added without a default: `#[serde(default)]` or an `Option` would resolve it)");
        }
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
        .map_err(|e| {
            let at = e.path.unwrap_or_default();
            Unresolved {
                field: missing_field(&e.message)
                    .map_or_else(|| at.clone(), |name| join_path(&at, name)),
                reason: e.message,
            }
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

/// The structs (by name) in which a value stored with shape `stored`, read
/// by the build's `build`, loses fields and gets others from their
/// defaults: what renaming a field without `#[serde(alias = "old")]` looks
/// like. Each: the struct, the stored fields no longer read, the fields
/// filled with their default.
pub(crate) fn dropped_and_defaulted(
    stored: &str,
    build: &str,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    for (name, dropped, defaulted) in field_changes(stored, build) {
        if !dropped.is_empty() && !defaulted.is_empty() {
            out.push((name, dropped, defaulted));
        }
    }
    out
}

/// The stored fields (`Struct.field`) a value stored with shape `stored`
/// has that the build's `build` does not read.
pub(crate) fn not_read(stored: &str, build: &str) -> Vec<String> {
    field_changes(stored, build)
        .into_iter()
        .flat_map(|(name, dropped, _)| dropped.into_iter().map(move |f| format!("{name}.{f}")))
        .collect()
}

/// For each struct of both shapes: the stored fields the build does not
/// have, and the build's fields the stored shape does not have. Structs are
/// paired where they sit in the value (from the root: a field by its name,
/// an `Option`'s or a list's items, a variant by its name), as values are
/// read, not by their Rust names: a struct renamed in the code (`Cargo` to
/// `Load`) still pairs with its stored self. Each is named as stored.
fn field_changes(stored: &str, build: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let (Ok(a), Ok(b)) = (parse(stored), parse(build)) else {
        return Vec::new();
    };
    let mut pairing = Pairing {
        a: &a,
        b: &b,
        seen: std::collections::HashSet::new(),
        out: Vec::new(),
    };
    pairing.formats(&a.root, &b.root, 0);
    pairing.out
}

/// The walk of [`field_changes`] over two shapes at once.
struct Pairing<'s> {
    a: &'s Shape,
    b: &'s Shape,
    /// Named types already paired (a recursive type is walked once).
    seen: std::collections::HashSet<(&'s str, &'s str)>,
    out: Vec<(String, Vec<String>, Vec<String>)>,
}

impl<'s> Pairing<'s> {
    fn formats(&mut self, a: &'s Format, b: &'s Format, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match (a, b) {
            (Format::TypeName(x), Format::TypeName(y)) => {
                if !self.seen.insert((x, y)) {
                    return;
                }
                if let (Some(ca), Some(cb)) = (self.a.types.get(x), self.b.types.get(y)) {
                    self.containers(x, ca, cb, depth + 1);
                }
            }
            (Format::Option(x), Format::Option(y)) | (Format::Seq(x), Format::Seq(y)) => {
                self.formats(x, y, depth + 1);
            }
            // A value the build wraps in an `Option` (a widening).
            (x, Format::Option(y)) => self.formats(x, y, depth + 1),
            (
                Format::Map { key, value },
                Format::Map {
                    key: key2,
                    value: value2,
                },
            ) => {
                self.formats(key, key2, depth + 1);
                self.formats(value, value2, depth + 1);
            }
            (Format::Tuple(xs), Format::Tuple(ys)) => {
                for (x, y) in xs.iter().zip(ys) {
                    self.formats(x, y, depth + 1);
                }
            }
            (Format::TupleArray { content: x, .. }, Format::TupleArray { content: y, .. }) => {
                self.formats(x, y, depth + 1)
            }
            _ => {}
        }
    }

    fn containers(
        &mut self,
        name: &str,
        a: &'s ContainerFormat,
        b: &'s ContainerFormat,
        depth: usize,
    ) {
        match (a, b) {
            (ContainerFormat::Struct(x), ContainerFormat::Struct(y)) => {
                self.fields(name.to_owned(), x, y, depth);
            }
            (ContainerFormat::NewTypeStruct(x), ContainerFormat::NewTypeStruct(y)) => {
                self.formats(x, y, depth);
            }
            (ContainerFormat::TupleStruct(xs), ContainerFormat::TupleStruct(ys)) => {
                for (x, y) in xs.iter().zip(ys) {
                    self.formats(x, y, depth);
                }
            }
            (ContainerFormat::Enum(xs), ContainerFormat::Enum(ys)) => {
                for x in xs.values() {
                    let Some(y) = ys.values().find(|y| y.name == x.name) else {
                        continue;
                    };
                    match (&x.value, &y.value) {
                        (VariantFormat::Struct(fx), VariantFormat::Struct(fy)) => {
                            self.fields(format!("{name}::{}", x.name), fx, fy, depth);
                        }
                        (VariantFormat::NewType(fx), VariantFormat::NewType(fy)) => {
                            self.formats(fx, fy, depth);
                        }
                        (VariantFormat::Tuple(fx), VariantFormat::Tuple(fy)) => {
                            for (x, y) in fx.iter().zip(fy) {
                                self.formats(x, y, depth);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn fields(
        &mut self,
        name: String,
        old: &'s [serde_reflection::Named<Format>],
        new: &'s [serde_reflection::Named<Format>],
        depth: usize,
    ) {
        let dropped: Vec<String> = old
            .iter()
            .filter(|f| !new.iter().any(|n| n.name == f.name))
            .map(|f| f.name.clone())
            .collect();
        let defaulted: Vec<String> = new
            .iter()
            .filter(|f| !old.iter().any(|o| o.name == f.name))
            .map(|f| f.name.clone())
            .collect();
        if !dropped.is_empty() || !defaulted.is_empty() {
            self.out.push((name, dropped, defaulted));
        }
        for f in old {
            if let Some(n) = new.iter().find(|n| n.name == f.name) {
                self.formats(&f.value, &n.value, depth);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug)]
    struct Inner {
        a: u32,
    }
    #[derive(Serialize, Deserialize)]
    struct Old {
        size: Inner,
        name: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    struct Inner2 {
        a: u32,
        depth: u32,
    }
    #[derive(Serialize, Deserialize, Debug)]
    struct NewInner {
        size: Inner2,
        name: String,
    }
    #[derive(Serialize, Deserialize, Debug)]
    struct NewTop {
        size: Inner,
        name: String,
        screen: u8,
    }

    fn stored() -> (String, Vec<u8>) {
        let shape = crate::shape::trace::<Old>().expect("traced");
        let mut bytes = Vec::new();
        let old = Old {
            size: Inner { a: 7 },
            name: "x".into(),
        };
        crate::codec::encode_into(&old, &mut bytes).unwrap();
        (shape, bytes)
    }

    #[test]
    fn a_missing_field_is_named_by_its_path() {
        let (shape, bytes) = stored();
        let top = super::resolve::<NewTop>(&shape, &bytes, 1).unwrap_err();
        assert_eq!(top.field, "screen", "{top:?}");
        assert!(
            top.to_string().starts_with("missing field `screen`"),
            "{top}"
        );
        let nested = super::resolve::<NewInner>(&shape, &bytes, 1).unwrap_err();
        assert_eq!(nested.field, "size.depth", "{nested:?}");
        assert!(nested.to_string().contains("`size.depth`"), "{nested}");
    }
}
