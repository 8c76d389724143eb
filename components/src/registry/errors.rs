//! What can go wrong registering a type, and reading values stored at
//! another version or shape.

use crate::codec::CodecError;
use crate::resolve::Unresolved;

/// A registration could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The stable name is taken.
    #[error("the name `{name}` is already registered (for {existing})")]
    DuplicateName {
        /// The name.
        name: String,
        /// The Rust type that holds it.
        existing: &'static str,
    },
    /// The Rust type is registered under another name.
    #[error("{type_name} is already registered as `{existing}`")]
    DuplicateType {
        /// The Rust type.
        type_name: &'static str,
        /// Its stable name.
        existing: String,
    },
    /// The stable name is empty, too long or uses a reserved prefix.
    #[error(
        "invalid stable name `{0}`: use 1 to 200 printable characters, not starting with `@` or `dizzy.`"
    )]
    InvalidName(String),
    /// The version is zero.
    #[error("`{0}`: schema versions start at 1")]
    InvalidVersion(String),
    /// `Uid` is built in and cannot be registered.
    #[error("dizzy's `Uid` is built in; register your own types only")]
    BuiltIn,
    /// A migration for an unregistered name, or out of the version range.
    #[error("migration of `{name}` from version {from}: {reason}")]
    Migration {
        /// The stable name.
        name: String,
        /// The version it migrates from.
        from: u32,
        /// What is wrong.
        reason: String,
    },
    /// A setting (a reference policy) names a type that is not registered.
    #[error("{setting} for `{name}`: no component or resource is registered under that name")]
    NotRegistered {
        /// The stable name asked for.
        name: String,
        /// What was being set (`reference policy`).
        setting: &'static str,
    },
    /// The type's `Deserialize` needs a self-describing format (it calls
    /// `deserialize_any` or `deserialize_identifier`: `#[serde(flatten)]`,
    /// `#[serde(tag = ...)]`, `#[serde(untagged)]`, `serde_json::Value`),
    /// which the codec (bincode) is not: no value of it could be stored.
    #[error(
        "`{name}` ({type_name}) cannot be stored: its `Deserialize` calls `{call}`, which needs a self-describing format, and the codec (bincode) is not one; `#[serde(flatten)]`, `#[serde(tag = ...)]`, `#[serde(untagged)]` and types such as `serde_json::Value` are out: use plain fields and externally tagged enums"
    )]
    NotSelfDescribing {
        /// The stable name.
        name: String,
        /// The Rust type.
        type_name: &'static str,
        /// The serde call the codec lacks.
        call: String,
    },
    /// A value of the type does not read back as it was written: its
    /// `Serialize` writes fields its `Deserialize` does not read in the same
    /// places (`#[serde(skip_serializing_if = ...)]`, `#[serde(skip_serializing)]`
    /// without `skip_deserializing`), which a positional codec cannot store.
    #[error(
        "`{name}` ({type_name}) cannot be stored: a value does not read back as it was written ({reason}); the codec (bincode) reads fields by position, so `#[serde(skip_serializing_if = ...)]` and `#[serde(skip_serializing)]` without `skip_deserializing` are out: drop them (an `Option` stores `None` in one byte)"
    )]
    RoundTrip {
        /// The stable name.
        name: String,
        /// The Rust type.
        type_name: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The type is the target side of a bevy relationship (`Children`, a
    /// `#[relationship_target]`), which bevy builds from the relationship's
    /// values: register the relationship (`ChildOf`, your
    /// `#[relationship]`) only.
    #[error(
        "`{name}` ({type_name}) is the target of the relationship {relationship}, which bevy builds from the relationship's values: register {relationship} only (a restored target list would replace the one bevy rebuilt, and its hooks would take the relationship off every source)"
    )]
    RelationshipTarget {
        /// The stable name.
        name: String,
        /// The Rust type.
        type_name: &'static str,
        /// The relationship's Rust type.
        relationship: String,
    },
    /// A declared archetype names an unregistered type.
    #[error("archetype {archetype}: {type_name} is not a registered component")]
    UnregisteredInArchetype {
        /// The tuple type.
        archetype: &'static str,
        /// The member that is not registered.
        type_name: &'static str,
    },
}

/// Stored values could not be brought to the registered version.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// No migration from the stored version (or the stored one is newer).
    #[error("`{name}` is stored as version {stored}; this build registers version {current} and has no migration from {missing}{}", fields_note(.fields))]
    NoMigration {
        /// Stable name.
        name: String,
        /// Stored version.
        stored: u32,
        /// Registered version.
        current: u32,
        /// The first version without a migration step.
        missing: u32,
        /// Fields that differ between the stored and current shapes.
        fields: Vec<String>,
    },
    /// Values stored with another shape cannot be read by name as this
    /// build's type (a field added without a default, an incompatible type,
    /// a variant the data uses that was removed).
    #[error("{0}")]
    Unresolved(Box<ShapeMismatch>),
    /// A stored value does not decode as the old type.
    #[error("`{name}` version {version}: {source}")]
    Codec {
        /// Stable name.
        name: String,
        /// The version being migrated.
        version: u32,
        /// The codec's error.
        source: CodecError,
    },
    /// Values that do not decode as the registered type, with no shape to
    /// read them by: the file or this build records none for the type (its
    /// `Deserialize` refuses every value the shape tracer makes up), so they
    /// are read by position. The file is not damaged; the type changed.
    #[error(
        "`{name}`: the stored values do not decode as {type_name} ({source}); no serde shape is recorded for this type (it could not be traced), so its values are read by position: a changed type needs a new version (`App::component_version`) and a migration"
    )]
    Unshaped {
        /// Stable name.
        name: String,
        /// The registered Rust type.
        type_name: &'static str,
        /// The codec's error.
        source: CodecError,
    },
    /// A type whose shape cannot be traced asks for something else than
    /// the type that wrote the values (its skeleton differs: fields
    /// reordered, renamed or retyped): read by position they would land in
    /// the wrong fields.
    #[error("{0}")]
    UntracedChanged(Box<UntracedChange>),
    /// Stored values that the registered type's `Deserialize` refuses (a
    /// field that became a `NonZeroU8` or checks a range, a variant it no
    /// longer has): the file is not damaged; the type changed.
    #[error(
        "`{name}`: {type_name} refuses a stored value ({reason}): the type changed since the value was written; give it a new version (`App::component_version`) and a migration that makes the stored values acceptable"
    )]
    Refused {
        /// Stable name.
        name: String,
        /// The registered Rust type.
        type_name: &'static str,
        /// What its `Deserialize` said.
        reason: String,
    },
}

/// A type whose shape cannot be traced, changed since its values were
/// written ([`UpgradeError::UntracedChanged`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "`{name}`: {type_name} has no traceable serde shape, and it changed since the values were written (the type that wrote them reads as `{}`; this build's reads as `{}`): read by position they would land in the wrong fields; give it a new version (`App::component_version`) and a migration, or make its fields' `Deserialize` accept the tracer's made-up values",
    crate::shape::readable_trail(.stored),
    crate::shape::readable_trail(.now)
)]
pub struct UntracedChange {
    /// Stable name.
    pub name: String,
    /// The registered Rust type.
    pub type_name: &'static str,
    /// How the writer's type reads: its skeleton (see
    /// [`Registration::skeleton`](crate::Registration::skeleton)), or the
    /// trail of a stored value ([`crate::shape::value_trail`]).
    pub stored: String,
    /// This build's.
    pub now: String,
}

/// Values of one version stored with a shape this build cannot read them by
/// (see [`UpgradeError::Unresolved`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// Stable name.
    pub name: String,
    /// The stored version.
    pub version: u32,
    /// The stored shape, outlined.
    pub stored: String,
    /// The build's shape, outlined.
    pub current: String,
    /// Which field, and what is wrong.
    pub problem: Unresolved,
}

impl std::fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` version {} is stored as {} and cannot be read as this build's {}: {}; bump its version and register a migration (App::migration) from version {}",
            self.name, self.version, self.stored, self.current, self.problem, self.version
        )
    }
}

fn fields_note(fields: &[String]) -> String {
    if fields.is_empty() {
        String::new()
    } else {
        format!("; fields that differ: {}", fields.join(", "))
    }
}

/// `a`, `b` as `` `a`, `b` ``.
pub(super) fn quote(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
