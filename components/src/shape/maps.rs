//! An empty map prints as its non-empty ones do: `{}` when its keys print
//! as text (strings, chars, enums of unit variants), else `[]`, the empty
//! array of `[key, value]` pairs (see [`crate::json`]). A value printed
//! through its type's `Serialize` cannot tell an empty map's key type, so
//! its JSON is walked with the type's shape afterwards.

use serde_json::Value;
use serde_reflection::{ContainerFormat, Format, VariantFormat};

use super::{MAX_DEPTH, Shape};
use crate::json::SOME;

/// Whether a map keyed by `key` prints as a JSON object (its keys print as
/// text), rather than as an array of pairs.
pub(crate) fn keys_print_as_text(
    types: &std::collections::BTreeMap<String, ContainerFormat>,
    key: &Format,
) -> bool {
    let mut key = key;
    for _ in 0..MAX_DEPTH {
        match key {
            Format::Str | Format::Char => return true,
            Format::TypeName(n) => match types.get(n) {
                Some(ContainerFormat::NewTypeStruct(inner)) => key = inner,
                Some(ContainerFormat::Enum(vs)) => {
                    return vs.values().all(|v| matches!(v.value, VariantFormat::Unit));
                }
                _ => return false,
            },
            _ => return false,
        }
    }
    false
}

/// Whether `shape` has a map anywhere whose keys do not print as text:
/// only values of such a shape need [`empty_maps_as_pairs`].
pub fn has_maps_of_pairs(shape: &Shape) -> bool {
    fn pairs(types: &std::collections::BTreeMap<String, ContainerFormat>, f: &Format) -> bool {
        match f {
            Format::Map { key, value } => {
                !keys_print_as_text(types, key) || pairs(types, key) || pairs(types, value)
            }
            Format::Option(i) | Format::Seq(i) | Format::TupleArray { content: i, .. } => {
                pairs(types, i)
            }
            Format::Tuple(items) => items.iter().any(|i| pairs(types, i)),
            _ => false,
        }
    }
    let t = &shape.types;
    pairs(t, &shape.root)
        || t.values().any(|c| match c {
            ContainerFormat::NewTypeStruct(f) => pairs(t, f),
            ContainerFormat::TupleStruct(fs) => fs.iter().any(|f| pairs(t, f)),
            ContainerFormat::Struct(fs) => fs.iter().any(|f| pairs(t, &f.value)),
            ContainerFormat::Enum(vs) => vs.values().any(|v| match &v.value {
                VariantFormat::NewType(f) => pairs(t, f),
                VariantFormat::Tuple(fs) => fs.iter().any(|f| pairs(t, f)),
                VariantFormat::Struct(fs) => fs.iter().any(|f| pairs(t, &f.value)),
                _ => false,
            }),
            ContainerFormat::UnitStruct => false,
        })
}

/// Rewrites in `value`, a value of `shape` printed through its type's
/// `Serialize`, every empty map whose keys do not print as text from `{}`
/// to `[]`.
pub fn empty_maps_as_pairs(shape: &Shape, value: &mut Value) {
    fn any_empty_object(v: &Value) -> bool {
        match v {
            Value::Object(o) => o.is_empty() || o.values().any(any_empty_object),
            Value::Array(a) => a.iter().any(any_empty_object),
            _ => false,
        }
    }
    if any_empty_object(value) {
        walk(shape, &shape.root, value, 0);
    }
}

fn walk(shape: &Shape, format: &Format, value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match format {
        Format::Option(inner) => match value {
            Value::Null => {}
            Value::Object(o) if o.len() == 1 && o.contains_key(SOME) => {
                if let Some(v) = o.get_mut(SOME) {
                    walk(shape, inner, v, depth + 1);
                }
            }
            v => walk(shape, inner, v, depth + 1),
        },
        Format::Seq(inner) | Format::TupleArray { content: inner, .. } => {
            if let Value::Array(a) = value {
                for v in a {
                    walk(shape, inner, v, depth + 1);
                }
            }
        }
        Format::Tuple(formats) => positions(shape, formats, value, depth),
        Format::Map { key, value: of } => match value {
            Value::Object(o) if o.is_empty() && !keys_print_as_text(&shape.types, key) => {
                *value = Value::Array(Vec::new());
            }
            Value::Object(o) if o.is_empty() => {}
            Value::Object(o) => {
                for v in o.values_mut() {
                    walk(shape, of, v, depth + 1);
                }
            }
            Value::Array(pairs) => {
                for pair in pairs {
                    if let Value::Array(kv) = pair
                        && let [k, v] = kv.as_mut_slice()
                    {
                        walk(shape, key, k, depth + 1);
                        walk(shape, of, v, depth + 1);
                    }
                }
            }
            _ => {}
        },
        Format::TypeName(n) => match shape.types.get(n) {
            Some(ContainerFormat::NewTypeStruct(inner)) => walk(shape, inner, value, depth + 1),
            Some(ContainerFormat::TupleStruct(formats)) => positions(shape, formats, value, depth),
            Some(ContainerFormat::Struct(fields)) => {
                if let Value::Object(o) = value {
                    for f in fields {
                        if let Some(v) = o.get_mut(&f.name) {
                            walk(shape, &f.value, v, depth + 1);
                        }
                    }
                }
            }
            Some(ContainerFormat::Enum(variants)) => {
                let Value::Object(o) = value else {
                    return;
                };
                let Some((name, inner)) = o.iter_mut().next() else {
                    return;
                };
                let Some(variant) = variants.values().find(|v| v.name == *name) else {
                    return;
                };
                match &variant.value {
                    VariantFormat::NewType(f) => walk(shape, f, inner, depth + 1),
                    VariantFormat::Tuple(formats) => positions(shape, formats, inner, depth),
                    VariantFormat::Struct(fields) => {
                        if let Value::Object(o) = inner {
                            for f in fields {
                                if let Some(v) = o.get_mut(&f.name) {
                                    walk(shape, &f.value, v, depth + 1);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        },
        _ => {}
    }
}

fn positions(shape: &Shape, formats: &[Format], value: &mut Value, depth: usize) {
    if let Value::Array(a) = value {
        for (f, v) in formats.iter().zip(a) {
            walk(shape, f, v, depth + 1);
        }
    }
}
