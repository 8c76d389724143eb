//! Whether a snapshot's types are this build's, and the errors of values
//! that cannot be restored.

use dizzy_components::{Dangling, Kind, Registry, ValueError};

use super::Unknown;
use crate::error::RestoreError;
use crate::format::{SnapshotMeta, col};
use crate::store::{Store, read_chunks};

/// The error of a chunk whose bytes are damaged.
pub(super) fn corrupt(
    store: &Store,
    snapshot: u64,
    column: &str,
    chunk: u32,
    reason: impl Into<String>,
) -> RestoreError {
    RestoreError::Corrupt {
        path: store.path().to_owned(),
        snapshot,
        column: column.to_owned(),
        chunk,
        reason: reason.into(),
    }
}

/// The error for a reference, held by `component`'s value, to an entity that
/// does not exist.
pub(super) fn dangling(store: &Store, snapshot: u64, component: &str, d: Dangling) -> RestoreError {
    RestoreError::Dangling {
        path: store.path().to_owned(),
        snapshot,
        component: component.to_owned(),
        holder: d.holder,
        target: d.target,
    }
}

/// The error for values of `name` in `meta` that do not decode as the
/// registered type: [`RestoreError::Incompatible`] when [`changed_type`]
/// says the type changed, else `bad` (damage).
pub(super) fn undecodable(
    store: &Store,
    registry: &Registry,
    meta: &SnapshotMeta,
    name: &str,
    e: dizzy_components::CodecError,
    bad: impl FnOnce(String) -> RestoreError,
) -> RestoreError {
    let Some(reg) = registry.get(name) else {
        return bad(e.to_string());
    };
    match changed_type(reg, unshaped(reg, meta), e) {
        Ok(source) => RestoreError::Incompatible {
            path: store.path().to_owned(),
            snapshot: meta.id,
            source,
        },
        Err(e) => bad(damage(reg, &e)),
    }
}

/// Values of `reg` that did not decode, as a changed type when they are
/// one: the type's `Deserialize` refused a well-formed value, or the type
/// has no shape (`unshaped`: in the file or this build) to tell a change
/// from damage by. `Err`: the codec's error, for damage.
pub(crate) fn changed_type(
    reg: &dizzy_components::Registration,
    unshaped: bool,
    e: dizzy_components::CodecError,
) -> Result<dizzy_components::UpgradeError, dizzy_components::CodecError> {
    use dizzy_components::{CodecError, UpgradeError};
    match e {
        CodecError::Refused(reason) => Ok(UpgradeError::Refused {
            name: reg.name().to_owned(),
            type_name: reg.type_name(),
            reason,
        }),
        e if unshaped => Ok(UpgradeError::Unshaped {
            name: reg.name().to_owned(),
            type_name: reg.type_name(),
            source: e,
        }),
        e => Err(e),
    }
}

/// Why values of `reg` whose shape the file records did not decode.
pub(super) fn damage(
    reg: &dizzy_components::Registration,
    e: &dizzy_components::CodecError,
) -> String {
    format!(
        "{e}; the file records {}'s shape, so either its bytes were changed or its `Serialize` writes what its `Deserialize` cannot read (a field skipped by `skip_serializing_if`)",
        reg.type_name()
    )
}

/// Whether `reg`'s values in `meta` have no shape to be checked against:
/// the file records none for them, or this build traced none.
pub(super) fn unshaped(reg: &dizzy_components::Registration, meta: &SnapshotMeta) -> bool {
    reg.shape().is_none()
        || meta
            .schemas
            .iter()
            .find(|s| s.name == reg.name())
            .is_none_or(|s| s.shape.is_none())
}

/// A value that could not be restored: a dangling reference, or `bad` data.
pub(super) fn value_error(
    store: &Store,
    snapshot: u64,
    component: &str,
    e: ValueError,
    bad: impl FnOnce(String) -> RestoreError,
) -> RestoreError {
    match e {
        ValueError::Dangling(d) => dangling(store, snapshot, component, d),
        other => bad(other.to_string()),
    }
}

/// Checks that every column with data in `meta` is registered, as the same
/// kind and version.
///
/// # Errors
/// A column of `meta` is not registered (under the [`Unknown::Fail`] policy),
/// is registered as the other kind, or at another version without a migration
/// ([`RestoreError`]).
pub fn check_schemas(
    store: &Store,
    registry: &Registry,
    meta: &SnapshotMeta,
    unknown: Unknown,
) -> Result<(), RestoreError> {
    for c in &meta.columns {
        let (name, kind) = column_type(&c.name);
        let Some(name) = name else { continue };
        let stored = meta.schemas.iter().find(|s| s.name == name);
        let Some(reg) = registry.get(name) else {
            if unknown == Unknown::Keep && stored.is_none_or(|s| s.shape.is_none()) {
                return Err(RestoreError::Unkeepable {
                    path: store.path().to_owned(),
                    snapshot: meta.id,
                    name: name.to_owned(),
                });
            }
            if unknown != Unknown::Fail {
                continue;
            }
            return Err(RestoreError::Unregistered {
                path: store.path().to_owned(),
                snapshot: meta.id,
                kind: stored.map_or(kind, |s| s.kind),
                name: name.to_owned(),
            });
        };
        if reg.kind() != kind {
            return Err(RestoreError::KindMismatch {
                path: store.path().to_owned(),
                snapshot: meta.id,
                name: name.to_owned(),
                stored: kind,
                current: reg.kind(),
            });
        }
        if let Some(s) = stored
            && !reg.migrates_from(s.version)
        {
            let fields = dizzy_components::shape::differences(s.shape.as_deref(), reg.shape());
            return Err(RestoreError::VersionMismatch {
                path: store.path().to_owned(),
                snapshot: meta.id,
                name: name.to_owned(),
                stored: s.version,
                current: reg.version(),
                fields: if fields.is_empty() {
                    String::new()
                } else {
                    format!("; fields that differ: {}", fields.join(", "))
                },
            });
        }
        if let Some(s) = stored
            && s.version == reg.version()
            && let Some(then) = s.untraced_skeleton()
            && then != reg.skeleton()
        {
            return Err(RestoreError::Incompatible {
                path: store.path().to_owned(),
                snapshot: meta.id,
                source: dizzy_components::UpgradeError::UntracedChanged(Box::new(
                    dizzy_components::UntracedChange {
                        name: name.to_owned(),
                        type_name: reg.type_name(),
                        stored: then.to_owned(),
                        now: reg.skeleton().to_owned(),
                    },
                )),
            });
        }
    }
    for name in &meta.removed_resources {
        if registry.get(name).is_none() && unknown == Unknown::Fail {
            return Err(RestoreError::Unregistered {
                path: store.path().to_owned(),
                snapshot: meta.id,
                kind: Kind::Resource,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// The registered name a column holds data of, and its kind.
fn column_type(column: &str) -> (Option<&str>, Kind) {
    if let Some(n) = column.strip_prefix(col::RESOURCE) {
        (Some(n), Kind::Resource)
    } else if let Some(n) = column.strip_prefix(col::REMOVE) {
        (Some(n), Kind::Component)
    } else if column.starts_with('@') {
        (None, Kind::Component)
    } else {
        (Some(column), Kind::Component)
    }
}

/// For each type whose shape could not be traced and whose snapshot
/// records how the first value of its column reads (`Schema::first_trail`):
/// reads that value as this build's type and refuses the snapshot when it
/// reads otherwise (fields reordered or retyped, variants renumbered), so
/// that values read by position never land in the wrong fields. A value
/// that does not decode is left to the restore, which reports it.
///
/// # Errors
/// A type reads the value otherwise ([`RestoreError::Incompatible`]), or the
/// chunk cannot be read.
pub(super) fn check_untraced_values(
    store: &Store,
    tx: &redb::ReadTransaction,
    registry: &Registry,
    meta: &SnapshotMeta,
) -> Result<(), RestoreError> {
    for s in &meta.schemas {
        let Some(then) = s.first_trail() else {
            continue;
        };
        let Some(reg) = registry.get(&s.name).filter(|r| r.version() == s.version) else {
            continue;
        };
        let column = match s.kind {
            Kind::Component => s.name.clone(),
            Kind::Resource => format!("{}{}", col::RESOURCE, s.name),
        };
        if meta.column(&column).is_none_or(|c| c.chunks == 0) {
            continue;
        }
        let chunks = read_chunks(store, tx, meta.id, &column, 1)?;
        let Some(chunk) = chunks.first().and_then(|b| crate::format::parse(b).ok()) else {
            continue;
        };
        let now = match (reg.column(), reg.resource()) {
            (Some(ops), _) => ops.first_trail(chunk.payload),
            (_, Some(ops)) => ops.first_trail(chunk.payload),
            _ => None,
        };
        if let Some(now) = now
            && now != then
        {
            return Err(RestoreError::Incompatible {
                path: store.path().to_owned(),
                snapshot: meta.id,
                source: dizzy_components::UpgradeError::UntracedChanged(Box::new(
                    dizzy_components::UntracedChange {
                        name: s.name.clone(),
                        type_name: reg.type_name(),
                        stored: then.to_owned(),
                        now,
                    },
                )),
            });
        }
    }
    Ok(())
}

/// The first type whose values `chain` records with fields `registry`'s
/// type does not read (at the same version: a build older than the code
/// that added them), and those fields (`Struct.field`). What a tool of that
/// build writes of such values (a snapshot, a bundle) would lose them.
pub fn fields_not_read(
    chain: &[SnapshotMeta],
    registry: &Registry,
) -> Option<(String, Vec<String>)> {
    chain.iter().flat_map(|m| &m.schemas).find_map(|s| {
        let reg = registry.get(&s.name)?;
        let fields = reg.stored_fields_not_read(s.shape.as_deref()?);
        (s.version == reg.version() && !fields.is_empty()).then(|| (s.name.clone(), fields))
    })
}
