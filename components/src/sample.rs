//! Sample values of a type, one per *variant choice*: pass `k` takes the
//! `k`-th variant (or the last) of every enum it meets, wherever it meets
//! it, with every sequence and map holding one element and every option
//! `Some`. Together the passes reach every variant of every enum in every
//! place — inside vectors, options and maps too, where serde-reflection's
//! tracer explores an enum only once.
//!
//! Used at registration to complete a type's shape (each sample is traced
//! by serialization, which records the formats of the variants it holds)
//! and to find its entity references ([`crate::refscan`]).

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// Nesting below which sequences are empty and options `None` (recursive
/// types end there).
const MAX_DEPTH: usize = 24;

/// At most this many passes (enums with more variants: the rest share the last).
const MAX_PASSES: usize = 256;

/// At most this many values made up per pass (a recursive enum whose every
/// variant recurses would otherwise grow without bound).
const BUDGET: usize = 20_000;

/// The samples of `T`: one per pass, until a pass meets no enum with a
/// further variant. `None` if `T` refuses the made-up values (a custom
/// `Deserialize` with its own validation).
pub(crate) fn samples<T: DeserializeOwned>() -> Option<Vec<T>> {
    samples_with::<T>(false).or_else(|| samples_with::<T>(true))
}

/// A value of `T` with every option `None` and every sequence and map
/// empty (the first variant of each enum), with the first made-up values
/// `T` accepts; `None` if it refuses them.
pub(crate) fn minimal<T: DeserializeOwned>() -> Option<T> {
    [false, true].into_iter().find_map(|alt| {
        let mut state = State {
            alt,
            minimal: true,
            trail: None,
            picks: Vec::new(),
            strings: 0,
            last_string: None,
            more: false,
            budget: BUDGET,
        };
        T::deserialize(Sampler {
            pass: 0,
            depth: 0,
            state: &mut state,
        })
        .ok()
    })
}

/// What `T`'s `Deserialize` asks for, in order, up to where it refuses the
/// made-up values (or to its end): its structs with their fields, enums with
/// their variants, and every number, string, option and sequence, as one
/// line. It depends on the type's definition alone; two types with the same
/// skeleton lay their values out alike as far as it goes. For types whose
/// shape cannot be traced: a reorder of their fields changes it.
pub(crate) fn skeleton<T: DeserializeOwned>() -> String {
    let mut state = State {
        alt: true,
        minimal: false,
        trail: Some(Vec::new()),
        picks: Vec::new(),
        strings: 0,
        last_string: None,
        more: false,
        budget: BUDGET,
    };
    let _ = T::deserialize(Sampler {
        pass: 0,
        depth: 0,
        state: &mut state,
    });
    state.trail.unwrap_or_default().join(" ")
}

fn samples_with<T: DeserializeOwned>(alt: bool) -> Option<Vec<T>> {
    let mut out = Vec::new();
    let mut picks: Vec<u8> = Vec::new();
    for pass in 0..MAX_PASSES {
        // A refused string takes the next of `TEXTS`, and the value is
        // made again (a bounded number of times).
        let mut tries = 0;
        let (value, more) = loop {
            let mut state = State {
                alt,
                minimal: false,
                trail: None,
                picks: picks.clone(),
                strings: 0,
                last_string: None,
                more: false,
                budget: BUDGET,
            };
            let made = T::deserialize(Sampler {
                pass,
                depth: 0,
                state: &mut state,
            });
            match made {
                Ok(value) => break (value, state.more),
                Err(_) => {
                    let at = state.last_string?;
                    if picks.len() <= at {
                        picks.resize(at + 1, 0);
                    }
                    picks[at] += 1;
                    tries += 1;
                    if usize::from(picks[at]) >= TEXTS.len() || tries > 64 {
                        return None;
                    }
                }
            }
        };
        out.push(value);
        if !more {
            break;
        }
    }
    Some(out)
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl de::Error for Refused {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        Refused(msg.to_string())
    }
}

struct State {
    /// The other made-up values (2 and `"2"`, see [`Sampler::n`]).
    alt: bool,
    /// Options `None` and sequences and maps empty (see [`minimal`]).
    minimal: bool,
    /// With [`skeleton`]: what the type asked for, in order.
    trail: Option<Vec<String>>,
    /// Which of [`TEXTS`] each string (by its place in the value) takes.
    picks: Vec<u8>,
    /// Strings made up so far in this value, and the place of the last.
    strings: usize,
    last_string: Option<usize>,
    /// Set when some enum has a variant beyond this pass's.
    more: bool,
    /// Values still to be made up in this pass.
    budget: usize,
}

struct Sampler<'a> {
    pass: usize,
    depth: usize,
    state: &'a mut State,
}

impl Sampler<'_> {
    fn deeper(&mut self) -> Sampler<'_> {
        Sampler {
            pass: self.pass,
            depth: self.depth + 1,
            state: self.state,
        }
    }
    fn spend(&mut self) -> Result<(), Refused> {
        self.state.budget = self
            .state
            .budget
            .checked_sub(1)
            .ok_or_else(|| Refused("too many values".into()))?;
        Ok(())
    }
    fn note(&mut self, what: impl FnOnce() -> String) {
        if let Some(trail) = &mut self.state.trail {
            trail.push(what());
        }
    }
    fn shallow(&self) -> bool {
        self.depth < MAX_DEPTH && !self.state.minimal
    }
    /// The made-up number: 0, or 2 with the other values (a `NonZero*`
    /// and most checks of a range accept 2).
    fn n(&self) -> u8 {
        if self.state.alt { 2 } else { 0 }
    }
    /// The made-up string: `"a"`, or `"2"` with the other values (a number
    /// kept as a string parses).
    fn text(&mut self) -> &'static str {
        let at = self.state.strings;
        self.state.strings += 1;
        self.state.last_string = Some(at);
        match self.state.picks.get(at) {
            Some(&k) if k > 0 => TEXTS[usize::from(k)],
            _ if self.state.alt => "2",
            _ => "a",
        }
    }
}

/// Strings to try, in turn, at a string the type refused: a date and a
/// time too, so that a type holding a date and a timestamp, each checked
/// when read, gets a value for each.
const TEXTS: [&str; 4] = ["a", "2", "2000-01-02", "2000-01-02T03:04:05Z"];

/// `n` items, each sampled one level deeper.
struct Items<'s, 'a> {
    sampler: &'s mut Sampler<'a>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = Refused;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Refused> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.sampler.spend()?;
        seed.deserialize(self.sampler.deeper()).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, '_> {
    type Error = Refused;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Refused> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(self.sampler.deeper()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Refused> {
        seed.deserialize(self.sampler.deeper())
    }
}

struct Variant<'s, 'a> {
    sampler: &'s mut Sampler<'a>,
    name: &'static str,
}

impl<'de, 's, 'a> de::EnumAccess<'de> for Variant<'s, 'a> {
    type Error = Refused;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Refused> {
        let key = seed.deserialize(self.name.into_deserializer())?;
        Ok((key, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, '_> {
    type Error = Refused;
    fn unit_variant(self) -> Result<(), Refused> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Refused> {
        seed.deserialize(self.sampler.deeper())
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_seq(Items {
            sampler: self.sampler,
            left: len,
        })
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        visitor.visit_seq(Items {
            sampler: self.sampler,
            left: fields.len(),
        })
    }
}

impl<'de> de::Deserializer<'de> for Sampler<'_> {
    type Error = Refused;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Refused> {
        Err(Refused("a self-describing value".into()))
    }
    fn deserialize_bool<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "bool".to_owned());
        visitor.visit_bool(self.state.alt)
    }
    fn deserialize_i8<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "i8".to_owned());
        visitor.visit_i8(self.n() as i8)
    }
    fn deserialize_i16<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "i16".to_owned());
        visitor.visit_i16(self.n().into())
    }
    fn deserialize_i32<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "i32".to_owned());
        visitor.visit_i32(self.n().into())
    }
    fn deserialize_i64<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "i64".to_owned());
        visitor.visit_i64(self.n().into())
    }
    fn deserialize_i128<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "i128".to_owned());
        visitor.visit_i128(self.n().into())
    }
    fn deserialize_u8<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "u8".to_owned());
        visitor.visit_u8(self.n())
    }
    fn deserialize_u16<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "u16".to_owned());
        visitor.visit_u16(self.n().into())
    }
    // 2 for u32 and u64: a valid entity (bevy's `Entity` refuses 0) and uid.
    fn deserialize_u32<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "u32".to_owned());
        visitor.visit_u32(2)
    }
    fn deserialize_u64<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "u64".to_owned());
        visitor.visit_u64(2)
    }
    fn deserialize_u128<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "u128".to_owned());
        visitor.visit_u128(self.n().into())
    }
    fn deserialize_f32<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "f32".to_owned());
        visitor.visit_f32(self.n().into())
    }
    fn deserialize_f64<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "f64".to_owned());
        visitor.visit_f64(self.n().into())
    }
    fn deserialize_char<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "char".to_owned());
        visitor.visit_char(if self.state.alt { '2' } else { 'a' })
    }
    fn deserialize_str<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "str".to_owned());
        visitor.visit_str(self.text())
    }
    fn deserialize_string<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "string".to_owned());
        visitor.visit_string(self.text().to_owned())
    }
    fn deserialize_bytes<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "bytes".to_owned());
        visitor.visit_bytes(&[self.n()])
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "byte_buf".to_owned());
        visitor.visit_byte_buf(vec![self.n()])
    }
    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "option".to_owned());
        if self.shallow() {
            visitor.visit_some(self.deeper())
        } else {
            visitor.visit_none()
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "unit".to_owned());
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.note(|| name.to_owned());
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.note(|| format!("{name}()"));
        visitor.visit_newtype_struct(self.deeper())
    }
    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "seq".to_owned());
        let left = usize::from(self.shallow());
        visitor.visit_seq(Items {
            sampler: &mut self,
            left,
        })
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        mut self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.note(|| format!("({len})"));
        visitor.visit_seq(Items {
            sampler: &mut self,
            left: len,
        })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.note(|| name.to_owned());
        self.deserialize_tuple(len, visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Refused> {
        self.note(|| "map".to_owned());
        let left = usize::from(self.shallow());
        visitor.visit_map(Items {
            sampler: &mut self,
            left,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.note(|| format!("{name}{{{}}}", fields.join(",")));
        visitor.visit_seq(Items {
            sampler: &mut self,
            left: fields.len(),
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.note(|| format!("{_name}[{}]", variants.join("|")));
        let Some(&last) = variants.last() else {
            return Err(Refused("an enum without variants".into()));
        };
        self.spend()?;
        if self.pass + 1 < variants.len() {
            self.state.more = true;
        }
        // Past the depth limit take the first variant: for a recursive
        // enum that is usually the leaf.
        let name = if self.shallow() {
            variants.get(self.pass).copied().unwrap_or(last)
        } else {
            variants[0]
        };
        visitor.visit_enum(Variant {
            sampler: &mut self,
            name,
        })
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_str("a")
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_unit()
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}
