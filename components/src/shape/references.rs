//! Entity references in values read by their shape: where they are in a
//! value's JSON ([`references`]), and a value's bytes with some of them
//! made null ([`drop_references`]).

use std::collections::BTreeMap;

use serde_json::Value;
use serde_reflection::{ContainerFormat, Format, Named, VariantFormat};

use super::{MAX_DEPTH, Reader, parse};
use crate::refscan::ENTITY;

/// The entity references inside `value`, a value of the type `shape`
/// describes, as JSON (as [`decode`](super::decode) or a registered type's `to_json` gives
/// it): each as the JSON pointer of the reference within the value and the
/// uid it points at. Null references (`null`) are left out. References are
/// found where the shape marks them (shapes recorded since format 3); a
/// shape without marks finds none.
pub fn references(shape: &str, value: &Value) -> Vec<(String, u64)> {
    let Ok(shape) = parse(shape) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut pointer = String::new();
    find_refs(&shape.root, &shape.types, value, &mut pointer, &mut out, 0);
    out
}

/// A key as a JSON pointer token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn find_refs(
    format: &Format,
    types: &BTreeMap<String, ContainerFormat>,
    value: &Value,
    pointer: &mut String,
    out: &mut Vec<(String, u64)>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    fn at(
        key: &str,
        format: &Format,
        types: &BTreeMap<String, ContainerFormat>,
        value: &Value,
        pointer: &mut String,
        out: &mut Vec<(String, u64)>,
        depth: usize,
    ) {
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(key);
        find_refs(format, types, value, pointer, out, depth + 1);
        pointer.truncate(len);
    }
    // The items of a tuple (struct or variant), and the fields of a struct.
    let items = |items: &[Format], vs: &[Value], pointer: &mut String, out: &mut _| {
        for (i, (f, v)) in items.iter().zip(vs).enumerate() {
            at(&i.to_string(), f, types, v, pointer, out, depth);
        }
    };
    let fields = |fields: &[Named<Format>],
                  o: &serde_json::Map<String, Value>,
                  pointer: &mut String,
                  out: &mut _| {
        for f in fields {
            if let Some(v) = o.get(&f.name) {
                at(&escape(&f.name), &f.value, types, v, pointer, out, depth);
            }
        }
    };
    match format {
        Format::TypeName(n) if n == ENTITY => {
            if let Some(uid) = value.as_u64() {
                out.push((pointer.clone(), uid));
            }
        }
        Format::TypeName(n) => {
            let Some(c) = types.get(n) else { return };
            match (c, value) {
                (ContainerFormat::NewTypeStruct(inner), v) => {
                    find_refs(inner, types, v, pointer, out, depth + 1)
                }
                (ContainerFormat::TupleStruct(fs), Value::Array(vs)) => items(fs, vs, pointer, out),
                (ContainerFormat::Struct(fs), Value::Object(o)) => fields(fs, o, pointer, out),
                (ContainerFormat::Enum(variants), Value::Object(o)) => {
                    let Some((name, content)) = o.iter().next() else {
                        return;
                    };
                    let Some(v) = variants.values().find(|v| &v.name == name) else {
                        return;
                    };
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape(name));
                    match (&v.value, content) {
                        (VariantFormat::NewType(inner), c) => {
                            find_refs(inner, types, c, pointer, out, depth + 1)
                        }
                        (VariantFormat::Tuple(fs), Value::Array(cs)) => items(fs, cs, pointer, out),
                        (VariantFormat::Struct(fs), Value::Object(co)) => {
                            fields(fs, co, pointer, out)
                        }
                        _ => {}
                    }
                    pointer.truncate(len);
                }
                _ => {}
            }
        }
        Format::Option(inner) if !value.is_null() => {
            find_refs(inner, types, value, pointer, out, depth + 1);
        }
        Format::Seq(inner) | Format::TupleArray { content: inner, .. } => {
            if let Value::Array(vs) = value {
                for (i, v) in vs.iter().enumerate() {
                    at(&i.to_string(), inner, types, v, pointer, out, depth);
                }
            }
        }
        Format::Tuple(fs) => {
            if let Value::Array(vs) = value {
                items(fs, vs, pointer, out);
            }
        }
        Format::Map { key, value: vf } => match value {
            // Maps with string keys show as objects, others as [key, value] pairs.
            Value::Object(o) => {
                for (k, v) in o {
                    at(&escape(k), vf, types, v, pointer, out, depth);
                }
            }
            Value::Array(pairs) => {
                for (i, pair) in pairs.iter().enumerate() {
                    if let Value::Array(kv) = pair
                        && let [k, v] = kv.as_slice()
                    {
                        at(&format!("{i}/0"), key, types, k, pointer, out, depth);
                        at(&format!("{i}/1"), vf, types, v, pointer, out, depth);
                    }
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// One value of `shape` (all of `bytes`) with every reference whose uid
/// `keep` refuses written as a null reference, or `None` when every
/// reference is kept. Only the references' bytes change: the value is
/// rewritten without being understood, as values of types this build does
/// not register must be.
///
/// # Errors
/// The shape is unreadable or `bytes` is not one value of it.
pub fn drop_references(
    shape: &str,
    bytes: &[u8],
    keep: &dyn Fn(u64) -> bool,
) -> Result<Option<Vec<u8>>, String> {
    let shape = parse(shape)?;
    let mut r = Reader::new(bytes, &shape.types, Some(Vec::new()));
    r.value(&shape.root)?;
    if r.at != bytes.len() {
        return Err(format!("{} bytes left after the value", bytes.len() - r.at));
    }
    let spans = r.refs.take().unwrap_or_default();
    let mut out = Vec::with_capacity(bytes.len());
    let mut copied = 0;
    let mut dropped = false;
    for (start, end) in spans {
        let uid = Reader::new(&bytes[start..end], &shape.types, None).varint()?;
        let uid = u64::try_from(uid).map_err(|_| "a reference above 64 bits")?;
        if !crate::is_valid_uid(uid) || keep(uid) {
            continue;
        }
        out.extend_from_slice(&bytes[copied..start]);
        // bincode's varint of `NULL_REF` (a value below 251 is one byte).
        out.push(crate::NULL_REF as u8);
        copied = end;
        dropped = true;
    }
    if !dropped {
        return Ok(None);
    }
    out.extend_from_slice(&bytes[copied..]);
    Ok(Some(out))
}
