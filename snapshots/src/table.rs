//! Components of a snapshot as one typed table, for data tools: see
//! [`table()`].

use std::collections::{HashMap, HashSet};

use dizzy_components::shape;
use dizzy_components::{Kind, NULL_REF, Registry, json};
use serde_json::Value;

use crate::inspect::Inspection;

mod plan;
use plan::{Leaf, Plan, at, fields_beyond, infer, plan_shape, plan_values};

/// Deeper nesting than this is kept as one JSON column.
const MAX_DEPTH: usize = 32;

/// More columns than this for one component: the rest are JSON columns
/// (a shape from elsewhere can fan out without bound).
const MAX_COLUMNS: usize = 4096;

/// The type of a column.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// Booleans.
    Bool,
    /// Signed integers of `bits` bits (8, 16, 32 or 64).
    Int {
        /// The width.
        bits: u8,
    },
    /// Unsigned integers of `bits` bits (8, 16, 32 or 64).
    UInt {
        /// The width.
        bits: u8,
    },
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
    /// Text.
    Text,
    /// Bytes (hex in text formats).
    Bytes,
    /// Entity references, as the target's uid.
    Uid,
    /// Lists of one of the types above (their items may be null).
    List(Box<ColumnType>),
    /// Any other value, as JSON.
    Json,
}

/// One value of a column (a null cell is `None`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Cell {
    /// Of [`ColumnType::Bool`].
    Bool(bool),
    /// Of [`ColumnType::Int`].
    Int(i64),
    /// Of [`ColumnType::UInt`] and [`ColumnType::Uid`].
    UInt(u64),
    /// Of [`ColumnType::F32`].
    F32(f32),
    /// Of [`ColumnType::F64`].
    F64(f64),
    /// Of [`ColumnType::Text`].
    Text(String),
    /// Of [`ColumnType::Bytes`].
    Bytes(Vec<u8>),
    /// Of [`ColumnType::List`].
    List(Vec<Option<Cell>>),
    /// Of [`ColumnType::Json`].
    Json(Value),
}

impl Cell {
    /// The cell as JSON: numbers, strings, booleans and arrays as they are;
    /// bytes as a lowercase hex string; non-finite floats as `"NaN"`,
    /// `"Infinity"`, `"-Infinity"` (see [`dizzy_components::json`]).
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::from(*i),
            Cell::UInt(u) => Value::from(*u),
            // An f32 shows as the shortest decimal that reads back as it.
            Cell::F32(f) => json::float32(*f),
            Cell::F64(f) => json::float(*f),
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Bytes(b) => Value::String(hex(b)),
            Cell::List(items) => Value::Array(
                items
                    .iter()
                    .map(|c| c.as_ref().map_or(Value::Null, Cell::to_json))
                    .collect(),
            ),
            Cell::Json(v) => v.clone(),
        }
    }
}

/// `bytes` as lowercase hex, two digits a byte (what `sha256sum` prints).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// One column of a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// The stable name of the component it comes from.
    pub component: String,
    /// Its type; every cell is of it.
    pub ty: ColumnType,
    /// One cell per row (`None`: null).
    pub cells: Vec<Option<Cell>>,
}

/// Components of a snapshot joined by uid; see [`table()`].
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The snapshot the table shows.
    pub snapshot: u64,
    /// Each row's entity (the uid column), ascending.
    pub uids: Vec<u64>,
    /// The other columns, in order.
    pub columns: Vec<Column>,
    /// Columns kept as JSON because their values do not fit the recorded
    /// shape, each with the reason.
    pub notes: Vec<String>,
}

/// A table could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// No component was asked for.
    #[error("no component to export: name one or more")]
    NoComponents,
    /// A component was asked for twice.
    #[error("component `{0}` is asked for twice")]
    Repeated(String),
    /// Neither the snapshot nor this build knows the component.
    #[error("snapshot {snapshot} has no component `{name}` (components: {})", known.join(", "))]
    UnknownComponent {
        /// The snapshot.
        snapshot: u64,
        /// The name asked for.
        name: String,
        /// The components the snapshot records.
        known: Vec<String>,
    },
    /// The name is a resource's: tables are of components.
    #[error(
        "`{name}` is a resource, not a component: a table has a row per entity (the explorer's snapshot page, `dizzy serve`, shows resources)"
    )]
    Resource {
        /// The name asked for.
        name: String,
    },
    /// The component's values cannot be decoded by this build.
    #[error("snapshot {snapshot}: component `{name}` is not decodable by this build ({reason})")]
    Undecodable {
        /// The snapshot.
        snapshot: u64,
        /// The component.
        name: String,
        /// Why.
        reason: String,
    },
    /// The inspection was made without decoding the component's values.
    #[error(
        "snapshot {snapshot}: the values of `{name}` were not decoded (inspect with Decode::All or name it in Decode::Only)"
    )]
    NotDecoded {
        /// The snapshot.
        snapshot: u64,
        /// The component.
        name: String,
    },
}

/// Components `components` of `inspection` as one table. The inspection
/// must have decoded their values ([`Decode::All`](crate::Decode::All), or
/// `Decode::Only` naming them).
///
/// Components are joined by uid: one row per entity that has the first
/// component (a left join: an entity without one of the others has nulls in
/// that component's columns), sorted by uid. The first column is the uid;
/// then, for each component in the order asked, its fields in declaration
/// order, nested structs flattened with dotted names (`at.x`, `at.y`).
///
/// Column types come from the serde shape of the component (the one its
/// values were decoded with: the registered type's, or the one the file
/// recorded), so they hold even for a column whose values are all null:
///
/// | Rust | column |
/// |---|---|
/// | `bool` | [`ColumnType::Bool`] |
/// | `i8`…`i64`, `u8`…`u64` | [`ColumnType::Int`], [`ColumnType::UInt`] (same width) |
/// | `f32`, `f64` | [`ColumnType::F32`], [`ColumnType::F64`] (NaN and infinities kept) |
/// | `String`, `char`, `i128`, `u128`, an enum of unit variants | [`ColumnType::Text`] |
/// | `[u8; N]`, `Vec<u8>`, bytes | [`ColumnType::Bytes`] |
/// | `Entity` (a reference) | [`ColumnType::Uid`]: the target's uid |
/// | `Option<T>` | `T`'s column(s), null for `None` |
/// | struct, tuple, tuple struct | one column per field (`pos.0`, `pos.1` for positions) |
/// | `Vec<T>`, `[T; N]` of one of the above | [`ColumnType::List`] |
/// | anything else (maps, enums with data, lists of structs) | [`ColumnType::Json`] |
///
/// A component whose value is not a struct (a newtype such as
/// `Sha256([u8; 32])`) gives one column named after the last part of its
/// stable name (`sha256` for `dedupe.sha256`); a component without fields
/// (a marker) gives a boolean column, true where the entity has it. A name
/// that two components share, or `uid`, is qualified with the component's
/// stable name (`dedupe.duplicate_set.size`). A component recorded without
/// a shape gets column types from its values; a column whose values do not
/// fit its shape (a file that does not match its own record) is kept as
/// [`ColumnType::Json`] and named in [`Table::notes`], never dropped. A
/// chain whose values sit at two shapes (a delta after a struct changed,
/// read by a build without the type) gives the snapshot's shape's columns,
/// then a column for each field only earlier values hold, named in
/// [`Table::notes`] and typed by the newest earlier shape of the chain that
/// has it ([`Inspection::earlier_schemas`]; from the values if none does).
///
/// # Errors
/// No component named, one named twice, one that neither the snapshot nor
/// `registry` knows, one whose values this build cannot decode or that
/// the inspection did not decode ([`TableError`]).
pub fn table(
    inspection: &Inspection,
    registry: &Registry,
    components: &[String],
) -> Result<Table, TableError> {
    let snapshot = inspection.meta.id;
    let Some(first) = components.first() else {
        return Err(TableError::NoComponents);
    };
    let mut seen = HashSet::new();
    for name in components {
        if !seen.insert(name) {
            return Err(TableError::Repeated(name.clone()));
        }
        let registered = registry
            .get(name)
            .is_some_and(|r| r.kind() == Kind::Component);
        let resource = registry
            .get(name)
            .is_some_and(|r| r.kind() == Kind::Resource)
            || inspection
                .meta
                .schemas
                .iter()
                .any(|s| s.name == *name && s.kind == Kind::Resource);
        if resource {
            return Err(TableError::Resource { name: name.clone() });
        }
        if !registered && !inspection.knows_component(name) {
            let mut known: Vec<String> = inspection
                .meta
                .schemas
                .iter()
                .filter(|s| s.kind == Kind::Component)
                .map(|s| s.name.clone())
                .collect();
            known.sort_unstable();
            known.dedup();
            return Err(TableError::UnknownComponent {
                snapshot,
                name: name.clone(),
                known,
            });
        }
        if let Some(reason) = inspection.undecodable.get(name) {
            return Err(TableError::Undecodable {
                snapshot,
                name: name.clone(),
                reason: reason.clone(),
            });
        }
    }

    // The rows: every entity with the first component.
    let rows: Vec<(u64, &crate::inspect::Components)> = inspection
        .entities
        .iter()
        .filter(|(_, c)| c.contains_key(first))
        .map(|(&uid, c)| (uid, c))
        .collect();

    let mut columns = Vec::new();
    let mut notes = Vec::new();
    // Per column: its name unqualified and qualified with the component.
    let mut names: Vec<(String, String)> = Vec::new();
    for name in components {
        let mut values: Vec<Option<&Value>> = Vec::with_capacity(rows.len());
        for (_, c) in &rows {
            match c.get(name) {
                None => values.push(None),
                Some(Some(v)) => values.push(Some(v)),
                Some(None) => {
                    return Err(TableError::NotDecoded {
                        snapshot,
                        name: name.clone(),
                    });
                }
            }
        }
        let mut plan = match shape_of(inspection, registry, name).and_then(|s| shape::read(s).ok())
        {
            Some(shape) => plan_shape(&shape),
            None => plan_values(&values),
        };
        if let Some(note) = versions_mixed(inspection, registry, name) {
            notes.push(note);
        }
        let earlier = earlier_plans(inspection, name);
        for field in fields_beyond(&plan, &values) {
            notes.push(format!(
                "`{name}` field `{field}`: held by values stored at an earlier shape, not in \
                 the snapshot's; its column follows the others"
            ));
            // Typed by the newest earlier shape that has the field (its
            // nested fields flattened as any other's), else by the values.
            let recorded: Vec<Leaf> = earlier
                .iter()
                .map(|p| {
                    p.leaves
                        .iter()
                        .filter(|l| l.path.first() == Some(&field))
                        .cloned()
                        .collect::<Vec<Leaf>>()
                })
                .find(|leaves| !leaves.is_empty())
                .unwrap_or_default();
            if recorded.is_empty() {
                let path = vec![field];
                let ty = infer(values.iter().flatten().filter_map(|v| at(v, &path)));
                plan.leaves.push(Leaf {
                    path,
                    ty,
                    presence: false,
                });
            } else {
                plan.leaves.extend(recorded);
            }
        }
        let short = name.rsplit('.').next().unwrap_or(name).to_owned();
        for leaf in &plan.leaves {
            let dotted = leaf.path.join(".");
            let (local, qualified) = match (plan.named_fields, dotted.is_empty()) {
                (true, false) => (dotted.clone(), format!("{name}.{dotted}")),
                (_, true) => (short.clone(), name.clone()),
                (false, false) => (format!("{short}.{dotted}"), format!("{name}.{dotted}")),
            };
            names.push((local, qualified));
            let (ty, cells) = fill(leaf, &values).unwrap_or_else(|why| {
                notes.push(format!(
                    "`{name}` field `{}`: {why}; written as JSON",
                    if dotted.is_empty() {
                        "(value)"
                    } else {
                        &dotted
                    }
                ));
                let cells = values
                    .iter()
                    .map(|v| v.and_then(|v| at(v, &leaf.path)).cloned().map(Cell::Json))
                    .collect();
                (ColumnType::Json, cells)
            });
            columns.push(Column {
                name: String::new(),
                component: name.clone(),
                ty,
                cells,
            });
        }
    }
    for (column, name) in columns.iter_mut().zip(column_names(&names)) {
        column.name = name;
    }
    Ok(Table {
        snapshot,
        uids: rows.iter().map(|(uid, _)| *uid).collect(),
        columns,
        notes,
    })
}

/// The shape `name`'s values were decoded with: the registered type's when
/// it matches the file's version (inspection decodes with the type then),
/// else the one the file records.
fn shape_of<'a>(inspection: &'a Inspection, registry: &'a Registry, name: &str) -> Option<&'a str> {
    let stored = inspection
        .meta
        .schemas
        .iter()
        .find(|s| s.name == name && s.kind == Kind::Component);
    let registered = registry.get(name).filter(|r| r.kind() == Kind::Component);
    match (registered, stored) {
        (Some(r), Some(s)) if s.version == r.version() => r.shape().or(s.shape.as_deref()),
        (Some(r), None) => r.shape(),
        (_, Some(s)) => s.shape.as_deref(),
        (None, None) => None,
    }
}

/// A note when the chain holds values of `name` written at two schema
/// versions and `registry` does not register the type (only the app's
/// build runs its migrations): such values are read each by its own
/// version's shape, and a field whose meaning the new version changed
/// (feet to metres) mixes both in one column.
fn versions_mixed(inspection: &Inspection, registry: &Registry, name: &str) -> Option<String> {
    if registry.get(name).is_some() {
        return None;
    }
    let now = inspection
        .meta
        .schemas
        .iter()
        .find(|s| s.name == name && s.kind == Kind::Component)?
        .version;
    let mut older: Vec<u32> = inspection
        .earlier_schemas
        .iter()
        .filter(|s| s.name == name && s.kind == Kind::Component && s.version != now)
        .map(|s| s.version)
        .collect();
    older.sort_unstable();
    older.dedup();
    if older.is_empty() {
        return None;
    }
    let older: Vec<String> = older.iter().map(u32::to_string).collect();
    Some(format!(
        "`{name}`: the chain holds values written at versions {} and {now}, and this build \
         does not register the type, so it cannot run the app's migrations: each value is \
         read as stored, and a field whose meaning changed between versions may mix them in \
         one column; to have every value at version {now}, export with the app's own \
         command line (`dizzy_cli::run!`), or after the app has written a full snapshot",
        older.join(", ")
    ))
}

/// The column plans of the struct shapes that earlier snapshots of the
/// chain record for `name`, the newest first (see
/// [`Inspection::earlier_schemas`]).
fn earlier_plans(inspection: &Inspection, name: &str) -> Vec<Plan> {
    inspection
        .earlier_schemas
        .iter()
        .filter(|s| s.name == name && s.kind == Kind::Component)
        .filter_map(|s| shape::read(s.shape.as_deref()?).ok())
        .map(|shape| plan_shape(&shape))
        .filter(|p| p.named_fields)
        .collect()
}

/// Column names: unqualified, except where two columns (or a column and
/// `uid`) would share one; a name still shared after that gets `_2`, `_3`.
fn column_names(names: &[(String, String)]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (local, _) in names {
        *count.entry(local.as_str()).or_default() += 1;
    }
    let mut taken: HashSet<String> = HashSet::from(["uid".to_owned()]);
    names
        .iter()
        .map(|(local, qualified)| {
            let base = if count[local.as_str()] > 1 || local == "uid" {
                qualified
            } else {
                local
            };
            let mut name = base.clone();
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{base}_{n}");
            }
            name
        })
        .collect()
}

/// The cells of `leaf`'s column, typed; an error names the first value
/// that does not fit the type.
fn fill(leaf: &Leaf, values: &[Option<&Value>]) -> Result<(ColumnType, Vec<Option<Cell>>), String> {
    let mut cells = Vec::with_capacity(values.len());
    for v in values {
        let cell = match v {
            None => None,
            Some(_) if leaf.presence => Some(Cell::Bool(true)),
            Some(v) => match at(v, &leaf.path) {
                None => None,
                Some(x) => cell(&leaf.ty, x)
                    .ok_or_else(|| format!("{x} is not a value of {:?}", leaf.ty))?,
            },
        };
        cells.push(cell);
    }
    Ok((leaf.ty.clone(), cells))
}

/// `value` as a cell of type `ty` (`Some(None)`: null); `None` if it does
/// not fit.
fn cell(ty: &ColumnType, value: &Value) -> Option<Option<Cell>> {
    // `Some` of a value that prints as `null` is null in a typed column too
    // (JSON tells the two apart: `{"Some": null}`).
    if value.is_null() || (*ty != ColumnType::Json && json::is_some_of(value)) {
        return Some(None);
    }
    Some(Some(match ty {
        ColumnType::Bool => Cell::Bool(value.as_bool()?),
        ColumnType::Int { .. } => Cell::Int(value.as_i64()?),
        ColumnType::UInt { .. } => Cell::UInt(value.as_u64()?),
        ColumnType::Uid => match value.as_u64()? {
            // `NULL_REF` is no entity (`Entity::PLACEHOLDER`): null.
            NULL_REF => return Some(None),
            uid => Cell::UInt(uid),
        },
        ColumnType::F32 => Cell::F32(json::float_of(value)? as f32),
        ColumnType::F64 => Cell::F64(json::float_of(value)?),
        ColumnType::Text => match value {
            Value::String(s) => Cell::Text(s.clone()),
            Value::Number(n) => Cell::Text(n.to_string()),
            _ => return None,
        },
        ColumnType::Bytes => Cell::Bytes(
            value
                .as_array()?
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()?,
        ),
        ColumnType::List(item) => Cell::List(
            value
                .as_array()?
                .iter()
                .map(|x| cell(item, x))
                .collect::<Option<Vec<_>>>()?,
        ),
        ColumnType::Json => Cell::Json(value.clone()),
    }))
}

#[cfg(test)]
mod tests;
