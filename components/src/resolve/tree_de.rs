//! The build's own `Deserialize` run over a value read by its stored
//! shape ([`Tree`]): structs as maps keyed by field name, enums by variant
//! name, numbers only where they widen.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::{Content, Tree};

/// An error of the build's `Deserialize`, with the path where it happened.
#[derive(Debug)]
pub(super) struct Error {
    pub(super) message: String,
    pub(super) path: Option<String>,
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
pub(super) struct TreeDe<'t, 'p> {
    pub(super) tree: &'t Tree,
    pub(super) path: &'p mut Vec<String>,
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
                     {to}, so values could be lost"
                ),
                path: Some(self.path.join(".")),
            });
        }
        de::Deserializer::deserialize_any(self, visitor)
    }
}
