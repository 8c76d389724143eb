//! How a component's values become columns: from its serde shape (the
//! registered type's or the one the file records), or, without one, from
//! the values themselves (see [`super::table`]).

use std::collections::HashSet;

use dizzy_components::ENTITY;
use dizzy_components::shape::Shape;
use serde_json::Value;
use serde_reflection::{ContainerFormat, Format, VariantFormat};

use super::{ColumnType, MAX_COLUMNS, MAX_DEPTH};

/// Where a component's columns come from: a field path below its value
/// and the column's type.
#[derive(Clone, Debug)]
pub(super) struct Leaf {
    pub(super) path: Vec<String>,
    pub(super) ty: ColumnType,
    /// True for the one column of a component without fields: true where
    /// the entity has it.
    pub(super) presence: bool,
}

/// The columns of one component, planned from its shape (or values).
pub(super) struct Plan {
    pub(super) leaves: Vec<Leaf>,
    /// Whether the value is a struct (its fields name the columns) rather
    /// than a single value or a tuple (named after the component).
    pub(super) named_fields: bool,
}

/// The columns of a value of `shape`.
pub(super) fn plan_shape(shape: &Shape) -> Plan {
    let mut leaves = Vec::new();
    let root = resolve(shape, shape.root());
    let presence = match root {
        Format::Unit => true,
        Format::TypeName(n) => struct_fields(shape, n) == Some(0),
        _ => false,
    };
    if presence {
        leaves.push(Leaf {
            path: Vec::new(),
            ty: ColumnType::Bool,
            presence: true,
        });
        return Plan {
            leaves,
            named_fields: false,
        };
    }
    let named_fields = matches!(root, Format::TypeName(n)
        if matches!(shape.container(n), Some(ContainerFormat::Struct(_))));
    let mut walker = Walker {
        shape,
        leaves,
        open: Vec::new(),
    };
    walker.walk(shape.root(), &mut Vec::new(), 0);
    Plan {
        leaves: walker.leaves,
        named_fields,
    }
}

/// How many fields the struct `name` has (`Some(0)` for a unit struct).
pub(super) fn struct_fields(shape: &Shape, name: &str) -> Option<usize> {
    match shape.container(name)? {
        ContainerFormat::UnitStruct => Some(0),
        ContainerFormat::Struct(fields) => Some(fields.len()),
        _ => None,
    }
}

/// `format` with newtype structs unwrapped (not references).
pub(super) fn resolve<'s>(shape: &'s Shape, mut format: &'s Format) -> &'s Format {
    for _ in 0..MAX_DEPTH {
        match format {
            Format::TypeName(n) if n != ENTITY => match shape.container(n) {
                Some(ContainerFormat::NewTypeStruct(inner)) => format = inner,
                _ => return format,
            },
            _ => return format,
        }
    }
    format
}

/// The type of a single-column value of `format`, if it is one.
pub(super) fn scalar(shape: &Shape, format: &Format) -> Option<ColumnType> {
    Some(match resolve(shape, format) {
        Format::Bool => ColumnType::Bool,
        Format::U8 => ColumnType::UInt { bits: 8 },
        Format::U16 => ColumnType::UInt { bits: 16 },
        Format::U32 => ColumnType::UInt { bits: 32 },
        Format::U64 => ColumnType::UInt { bits: 64 },
        Format::I8 => ColumnType::Int { bits: 8 },
        Format::I16 => ColumnType::Int { bits: 16 },
        Format::I32 => ColumnType::Int { bits: 32 },
        Format::I64 => ColumnType::Int { bits: 64 },
        Format::F32 => ColumnType::F32,
        Format::F64 => ColumnType::F64,
        Format::U128 | Format::I128 | Format::Char | Format::Str => ColumnType::Text,
        Format::Bytes => ColumnType::Bytes,
        Format::TypeName(n) if n == ENTITY => ColumnType::Uid,
        Format::TypeName(n) => match shape.container(n)? {
            ContainerFormat::Enum(variants)
                if variants
                    .values()
                    .all(|v| matches!(v.value, VariantFormat::Unit)) =>
            {
                ColumnType::Text
            }
            _ => return None,
        },
        Format::Seq(item) | Format::TupleArray { content: item, .. } => {
            match resolve(shape, item) {
                Format::U8 => ColumnType::Bytes,
                Format::Option(inner) => ColumnType::List(Box::new(list_item(shape, inner)?)),
                other => ColumnType::List(Box::new(list_item(shape, other)?)),
            }
        }
        _ => return None,
    })
}

/// The type of a list's items: a scalar that is not itself a list.
pub(super) fn list_item(shape: &Shape, format: &Format) -> Option<ColumnType> {
    // Not a list itself (and no recursion through a list of lists).
    if matches!(
        resolve(shape, format),
        Format::Seq(_) | Format::TupleArray { .. }
    ) {
        return None;
    }
    scalar(shape, format)
}

/// Plans the columns below a shape's root: one leaf per single-column value.
pub(super) struct Walker<'s> {
    shape: &'s Shape,
    leaves: Vec<Leaf>,
    /// The named types being expanded: a type met again inside itself (a
    /// recursive type) is one JSON column.
    open: Vec<&'s str>,
}

impl<'s> Walker<'s> {
    fn leaf(&mut self, ty: ColumnType, path: &[String]) {
        self.leaves.push(Leaf {
            path: path.to_vec(),
            ty,
            presence: false,
        });
    }

    /// Adds the columns of a value of `format` at `path`.
    fn walk(&mut self, format: &'s Format, path: &mut Vec<String>, depth: usize) {
        // Bounds for shapes from elsewhere: nesting, and fan-out.
        if depth > MAX_DEPTH || self.leaves.len() >= MAX_COLUMNS {
            return self.leaf(ColumnType::Json, path);
        }
        if let Some(ty) = scalar(self.shape, format) {
            return self.leaf(ty, path);
        }
        match resolve(self.shape, format) {
            Format::Option(inner) => self.walk(inner, path, depth + 1),
            Format::Tuple(items) => self.positions(items, path, depth),
            Format::TypeName(n) if !self.open.contains(&n.as_str()) => {
                match self.shape.container(n) {
                    Some(ContainerFormat::TupleStruct(items)) => {
                        self.open.push(n);
                        self.positions(items, path, depth);
                        self.open.pop();
                    }
                    Some(ContainerFormat::Struct(fields)) if !fields.is_empty() => {
                        self.open.push(n);
                        for f in fields {
                            path.push(f.name.clone());
                            self.walk(&f.value, path, depth + 1);
                            path.pop();
                        }
                        self.open.pop();
                    }
                    _ => self.leaf(ColumnType::Json, path),
                }
            }
            _ => self.leaf(ColumnType::Json, path),
        }
    }

    fn positions(&mut self, items: &'s [Format], path: &mut Vec<String>, depth: usize) {
        for (i, item) in items.iter().enumerate() {
            path.push(i.to_string());
            self.walk(item, path, depth + 1);
            path.pop();
        }
    }
}

/// The columns of values recorded without a shape, from the values: an
/// object's keys (in the order first seen) flattened, each typed by what
/// its values hold.
pub(super) fn plan_values(values: &[Option<&Value>]) -> Plan {
    fn paths(
        v: &Value,
        path: &mut Vec<String>,
        seen: &mut HashSet<Vec<String>>,
        out: &mut Vec<Vec<String>>,
        depth: usize,
    ) {
        match v {
            Value::Object(o) if !o.is_empty() && depth < MAX_DEPTH => {
                for (k, x) in o {
                    path.push(k.clone());
                    paths(x, path, seen, out, depth + 1);
                    path.pop();
                }
            }
            _ => {
                if seen.insert(path.clone()) {
                    out.push(path.clone());
                }
            }
        }
    }
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for v in values.iter().flatten() {
        paths(v, &mut Vec::new(), &mut seen, &mut found, 0);
    }
    let named_fields = values
        .iter()
        .flatten()
        .any(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    let leaves = found
        .into_iter()
        .map(|path| {
            let ty = infer(values.iter().flatten().filter_map(|v| at(v, &path)));
            Leaf {
                path,
                ty,
                presence: false,
            }
        })
        .collect();
    Plan {
        leaves,
        named_fields,
    }
}

/// Fields of struct values that `plan` has no column for, in the order
/// first met: a chain's values decoded at two shapes (a field removed from
/// a struct, read by a build without the type) keep every field.
pub(super) fn fields_beyond(plan: &Plan, values: &[Option<&Value>]) -> Vec<String> {
    if !plan.named_fields {
        return Vec::new();
    }
    let planned: HashSet<&str> = plan
        .leaves
        .iter()
        .filter_map(|l| l.path.first().map(String::as_str))
        .collect();
    let mut beyond: Vec<String> = Vec::new();
    for object in values.iter().flatten().filter_map(|v| v.as_object()) {
        for (key, v) in object {
            let empty = v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
            if !empty && !planned.contains(key.as_str()) && !beyond.contains(key) {
                beyond.push(key.clone());
            }
        }
    }
    beyond
}

/// The narrowest column type that holds all of `values` (nulls aside).
pub(super) fn infer<'v>(values: impl Iterator<Item = &'v Value>) -> ColumnType {
    let mut ty: Option<ColumnType> = None;
    for v in values {
        let this = match v {
            Value::Null => continue,
            Value::Bool(_) => ColumnType::Bool,
            Value::Number(n) if n.is_i64() => ColumnType::Int { bits: 64 },
            Value::Number(n) if n.is_u64() => ColumnType::UInt { bits: 64 },
            Value::Number(_) => ColumnType::F64,
            Value::String(_) => ColumnType::Text,
            _ => return ColumnType::Json,
        };
        ty = Some(match (ty, this) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (
                Some(ColumnType::Int { .. } | ColumnType::UInt { .. } | ColumnType::F64),
                ColumnType::F64,
            )
            | (Some(ColumnType::F64), ColumnType::Int { .. } | ColumnType::UInt { .. }) => {
                ColumnType::F64
            }
            _ => return ColumnType::Json,
        });
    }
    ty.unwrap_or(ColumnType::Json)
}

/// The value at `path` below `value` (`None` where a step is missing).
pub(super) fn at<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut v = value;
    for step in path {
        v = match v {
            Value::Object(o) => o.get(step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}
