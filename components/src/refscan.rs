//! Where a registered type keeps its entity references, found once at
//! registration.
//!
//! The tracer that gives a type its serde shape also builds sample values
//! of it (every enum variant is explored in some pass). Each sample's
//! references are replaced, through the type's own `map_entities`, by
//! distinct marker entities; the sample is then serialized by a
//! [`Locator`] that notes where each marker appears — the struct field,
//! variant, sequence element, map key or value — and that place of the
//! shape is marked as a reference: its `U64` becomes
//! `TypeName("@entity")`, a newtype of `U64` (the bytes do not change, so
//! any reader of the shape decodes it as before).
//!
//! What this decides:
//! - whether the type holds references at all ([`Refs::None`]: values are
//!   encoded as they are, the fast path);
//! - whether each reference's place is known ([`Refs::Marked`]): a reader
//!   without the Rust type (inspection, kept unknown components, the
//!   explorer) can then find and follow references by the shape alone;
//! - [`Refs::Unmarked`]: the type holds references that the shape cannot
//!   place (custom serialization), or could not be traced at all; it is
//!   handled as holding references, conservatively.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bevy_ecs::component::Component;
use bevy_ecs::entity::{Entity, EntityMapper};
use serde::Serialize;
use serde::ser;
use serde_reflection::{ContainerFormat, Format, VariantFormat};

/// The name under which a shape marks an entity reference.
pub const ENTITY: &str = "@entity";

/// What a type's samples showed about its entity references.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Refs {
    /// No references.
    None,
    /// References, each at a place the shape marks.
    Marked,
    /// References the shape cannot place, or a type that could not be
    /// traced: handled as holding references.
    Unmarked,
}

impl Refs {
    /// Whether values may hold references.
    pub fn any(self) -> bool {
        self != Refs::None
    }
}

/// One step down a serialized value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// A named field of a struct or struct variant.
    Field(&'static str),
    /// The `i`-th item of a tuple, tuple struct, tuple variant or array.
    Index(usize),
    /// A variant of an enum (by name).
    Variant(&'static str),
    /// The inside of a newtype struct.
    NewType,
    /// The inside of `Some`.
    Some,
    /// An element of a sequence.
    Elem,
    /// A map's key.
    Key,
    /// A map's value.
    Value,
}

/// Marker entities: the `k`-th has index bits `k + 1` (bevy refuses 0)
/// and a generation no entity of a sample has.
fn marker(k: u32) -> Option<Entity> {
    const GENERATION: u64 = 0x7EED_FACE;
    let bits = (GENERATION << 32) | u64::from(k.checked_add(1)?);
    Entity::try_from_bits(bits).filter(|e| e.to_bits() == bits)
}

fn marker_index(bits: u64) -> Option<u32> {
    ((bits >> 32) == 0x7EED_FACE)
        .then(|| (bits as u32).checked_sub(1))
        .flatten()
}

/// Replaces every entity by a fresh marker, counting them.
struct Mark {
    next: u32,
}

impl EntityMapper for Mark {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        let k = self.next;
        self.next += 1;
        marker(k).unwrap_or(source)
    }
    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Finds the places of `samples`' references and marks them in the shape
/// (`root` and its named `types`).
pub(crate) fn scan<T: Component + Serialize>(
    samples: Vec<T>,
    root: &mut Format,
    types: &mut BTreeMap<String, ContainerFormat>,
) -> Refs {
    let mut visited = 0usize;
    let mut paths: Vec<Vec<Step>> = Vec::new();
    let mut misplaced = false;
    for mut sample in samples {
        let mut mark = Mark { next: 0 };
        // A user's `map_entities` or `Serialize` may panic on a sample the
        // tracer made up: then nothing is known, and the type is handled
        // conservatively.
        let located = catch_unwind(AssertUnwindSafe(|| {
            T::map_entities(&mut sample, &mut mark);
            let mut locator = Locator {
                path: Vec::new(),
                found: Vec::new(),
            };
            sample.serialize(&mut locator).map(|()| locator.found)
        }));
        let Ok(Ok(found)) = located else {
            return Refs::Unmarked;
        };
        visited += mark.next as usize;
        let mut seen = vec![false; mark.next as usize];
        for (k, path) in found {
            if let Some(s) = seen.get_mut(k as usize) {
                *s = true;
            }
            paths.push(path);
        }
        misplaced |= seen.iter().any(|s| !s);
    }
    if visited == 0 {
        return Refs::None;
    }
    for path in &paths {
        misplaced |= !annotate(root, types, path);
    }
    types.insert(
        ENTITY.to_owned(),
        ContainerFormat::NewTypeStruct(Box::new(Format::U64)),
    );
    if misplaced {
        Refs::Unmarked
    } else {
        Refs::Marked
    }
}

/// Marks the `U64` at `path` below `format` as a reference; false if the
/// path does not lead to one.
fn annotate(
    format: &mut Format,
    types: &mut BTreeMap<String, ContainerFormat>,
    path: &[Step],
) -> bool {
    let Some((step, rest)) = path.split_first() else {
        return match format {
            Format::U64 => {
                *format = Format::TypeName(ENTITY.to_owned());
                true
            }
            Format::TypeName(n) => n == ENTITY,
            _ => false,
        };
    };
    match (format, step) {
        (Format::TypeName(name), _) if name != ENTITY => {
            // Take the container out while editing it (a recursive type
            // meeting itself again is left unmarked).
            let Some(mut container) = types.remove(name.as_str()) else {
                return false;
            };
            let done = annotate_container(&mut container, types, path);
            types.insert(name.clone(), container);
            done
        }
        (Format::Option(inner), Step::Some) | (Format::Seq(inner), Step::Elem) => {
            annotate(inner, types, rest)
        }
        (Format::Map { key, .. }, Step::Key) => annotate(key, types, rest),
        (Format::Map { value, .. }, Step::Value) => annotate(value, types, rest),
        (Format::Tuple(items), Step::Index(i)) => {
            items.get_mut(*i).is_some_and(|f| annotate(f, types, rest))
        }
        (Format::TupleArray { content, .. }, Step::Index(_)) => annotate(content, types, rest),
        _ => false,
    }
}

fn annotate_container(
    container: &mut ContainerFormat,
    types: &mut BTreeMap<String, ContainerFormat>,
    path: &[Step],
) -> bool {
    let Some((step, rest)) = path.split_first() else {
        return false;
    };
    match (container, step) {
        (ContainerFormat::NewTypeStruct(inner), Step::NewType) => annotate(inner, types, rest),
        (ContainerFormat::TupleStruct(items), Step::Index(i)) => {
            items.get_mut(*i).is_some_and(|f| annotate(f, types, rest))
        }
        (ContainerFormat::Struct(fields), Step::Field(name)) => fields
            .iter_mut()
            .find(|f| f.name == *name)
            .is_some_and(|f| annotate(&mut f.value, types, rest)),
        (ContainerFormat::Enum(variants), Step::Variant(name)) => {
            let Some(v) = variants.values_mut().find(|v| v.name == *name) else {
                return false;
            };
            match (&mut v.value, rest.split_first()) {
                (VariantFormat::NewType(inner), _) => annotate(inner, types, rest),
                (VariantFormat::Tuple(items), Some((Step::Index(i), rest))) => {
                    items.get_mut(*i).is_some_and(|f| annotate(f, types, rest))
                }
                (VariantFormat::Struct(fields), Some((Step::Field(n), rest))) => fields
                    .iter_mut()
                    .find(|f| f.name == *n)
                    .is_some_and(|f| annotate(&mut f.value, types, rest)),
                _ => false,
            }
        }
        _ => false,
    }
}

/// A serializer that writes nothing: it notes the path of every marker.
struct Locator {
    path: Vec<Step>,
    found: Vec<(u32, Vec<Step>)>,
}

#[derive(Debug)]
struct Stop(String);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Stop(msg.to_string())
    }
}

impl Locator {
    fn within<V: Serialize + ?Sized>(&mut self, step: Step, value: &V) -> Result<(), Stop> {
        self.path.push(step);
        let r = value.serialize(&mut *self);
        self.path.pop();
        r
    }
}

/// The compound half of [`Locator`]: counts positional items.
struct Items<'a> {
    locator: &'a mut Locator,
    next: usize,
    /// Steps pushed for the whole compound (a variant), popped at the end.
    pushed: usize,
}

impl Items<'_> {
    fn end(self) -> Result<(), Stop> {
        for _ in 0..self.pushed {
            self.locator.path.pop();
        }
        Ok(())
    }
    fn item<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Stop> {
        let i = self.next;
        self.next += 1;
        self.locator.within(Step::Index(i), value)
    }
}

macro_rules! ignore {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, _v: $t) -> Result<(), Stop> { Ok(()) })*
    };
}

impl<'a> ser::Serializer for &'a mut Locator {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Items<'a>;
    type SerializeMap = Items<'a>;
    type SerializeStruct = Items<'a>;
    type SerializeStructVariant = Items<'a>;

    ignore!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u128: u128, serialize_f32: f32, serialize_f64: f64,
        serialize_char: char, serialize_str: &str, serialize_bytes: &[u8]);

    fn serialize_u64(self, v: u64) -> Result<(), Stop> {
        if let Some(k) = marker_index(v) {
            self.found.push((k, self.path.clone()));
        }
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<V: Serialize + ?Sized>(self, value: &V) -> Result<(), Stop> {
        self.within(Step::Some, value)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &V,
    ) -> Result<(), Stop> {
        self.within(Step::NewType, value)
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &V,
    ) -> Result<(), Stop> {
        self.within(Step::Variant(variant), value)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Items<'a>, Stop> {
        Ok(Items {
            locator: self,
            next: 0,
            pushed: 0,
        })
    }
    fn serialize_tuple(self, _len: usize) -> Result<Items<'a>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Items<'a>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Items<'a>, Stop> {
        self.path.push(Step::Variant(variant));
        Ok(Items {
            locator: self,
            next: 0,
            pushed: 1,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Items<'a>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Items<'a>, Stop> {
        self.serialize_seq(None)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Items<'a>, Stop> {
        self.serialize_tuple_variant(name, index, variant, len)
    }
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Stop> {
        self.locator.within(Step::Elem, value)
    }
    fn end(self) -> Result<(), Stop> {
        Items::end(self)
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Stop> {
        self.item(value)
    }
    fn end(self) -> Result<(), Stop> {
        Items::end(self)
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Stop> {
        self.item(value)
    }
    fn end(self) -> Result<(), Stop> {
        Items::end(self)
    }
}

impl ser::SerializeTupleVariant for Items<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Stop> {
        self.item(value)
    }
    fn end(self) -> Result<(), Stop> {
        Items::end(self)
    }
}

impl ser::SerializeMap for Items<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<V: Serialize + ?Sized>(&mut self, key: &V) -> Result<(), Stop> {
        self.locator.within(Step::Key, key)
    }
    fn serialize_value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Stop> {
        self.locator.within(Step::Value, value)
    }
    fn end(self) -> Result<(), Stop> {
        Items::end(self)
    }
}

impl ser::SerializeStruct for Items<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), Stop> {
        self.locator.within(Step::Field(key), value)
    }
    fn end(self) -> Result<(), Stop> {
        Items::end(self)
    }
}

impl ser::SerializeStructVariant for Items<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), Stop> {
        self.locator.within(Step::Field(key), value)
    }
    fn end(self) -> Result<(), Stop> {
        Items::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bevy_ecs::component::Component;
    use bevy_ecs::entity::Entity;
    use serde::{Deserialize, Serialize};

    use crate::Refs;
    use crate::shape::{references, trace_component};

    #[derive(Component, Serialize, Deserialize)]
    struct Plain {
        a: u64,
        b: String,
    }

    #[derive(Component, Serialize, Deserialize)]
    #[serde(transparent)]
    struct Follows(#[entities] Entity);

    #[derive(Serialize, Deserialize)]
    enum Link {
        Nothing,
        To(#[serde(default)] u32, Entity),
        Named { who: Entity },
    }

    impl bevy_ecs::entity::MapEntities for Link {
        fn map_entities<E: bevy_ecs::entity::EntityMapper>(&mut self, m: &mut E) {
            match self {
                Link::Nothing => {}
                Link::To(_, e) | Link::Named { who: e } => *e = m.get_mapped(*e),
            }
        }
    }

    #[derive(Component, Serialize, Deserialize)]
    #[component(map_entities)]
    struct Team {
        count: u64,
        lead: Option<Entity>,
        members: Vec<Entity>,
        scores: BTreeMap<Entity, u32>,
        links: Vec<Link>,
    }

    impl bevy_ecs::entity::MapEntities for Team {
        fn map_entities<E: bevy_ecs::entity::EntityMapper>(&mut self, m: &mut E) {
            self.lead.map_entities(m);
            self.members.map_entities(m);
            self.scores = std::mem::take(&mut self.scores)
                .into_iter()
                .map(|(k, v)| (m.get_mapped(k), v))
                .collect();
            self.links.map_entities(m);
        }
    }

    #[test]
    fn types_without_references_are_found_so() {
        assert_eq!(trace_component::<Plain>().1, Refs::None);
    }

    #[test]
    fn every_reference_is_marked_and_found_in_values() {
        let (shape, refs) = trace_component::<Follows>();
        assert_eq!(refs, Refs::Marked);
        let shape = shape.unwrap();
        assert_eq!(
            references(&shape, &serde_json::json!(7)),
            vec![(String::new(), 7)]
        );

        let (shape, refs) = trace_component::<Team>();
        assert_eq!(refs, Refs::Marked, "{shape:?}");
        let shape = shape.unwrap();
        let value = serde_json::json!({
            "count": 5,
            "lead": 9,
            "members": [10, 11],
            "scores": [[12, 1], [13, 2]],
            "links": ["Nothing", {"To": [4, 14]}, {"Named": {"who": 15}}],
        });
        let found = references(&shape, &value);
        let uids: Vec<u64> = found.iter().map(|f| f.1).collect();
        assert_eq!(uids, vec![9, 10, 11, 12, 13, 14, 15], "{found:?}");
        assert!(
            found.contains(&("/links/2/Named/who".to_owned(), 15)),
            "{found:?}"
        );
        assert!(found.contains(&("/scores/1/0".to_owned(), 13)), "{found:?}");
        // A null reference is none.
        let none =
            serde_json::json!({"count": 1, "lead": null, "members": [], "scores": [], "links": []});
        assert!(references(&shape, &none).is_empty());
    }

    #[test]
    fn marked_shapes_decode_the_same_bytes() {
        let (shape, _) = trace_component::<Team>();
        let value = Team {
            count: 3,
            lead: Some(crate::ref_entity(21).unwrap()),
            members: vec![crate::ref_entity(22).unwrap()],
            scores: [(crate::ref_entity(23).unwrap(), 4)].into(),
            links: vec![Link::Named {
                who: crate::ref_entity(24).unwrap(),
            }],
        };
        let bytes = crate::codec::encode(&value).unwrap();
        let (json, used) = crate::shape::decode(&shape.unwrap(), &bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(json["lead"], 21);
        assert_eq!(json["links"][0]["Named"]["who"], 24);
    }
}
