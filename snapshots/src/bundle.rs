//! Bundles: a piece of one world, sent to another.
//!
//! A bundle is a single self-contained file: a header (magic, format
//! version, codec), the schemas of the components it carries, their values
//! (entity references stored as uids, as in snapshots) and a checksum of all
//! of it. [`export`] cuts a selection of entities out of a world — with the
//! entities they reference, transitively, unless told not to; [`import`]
//! brings a bundle into a world all or nothing: every byte is checked and
//! every value decoded before the world is touched.
//!
//! Values of components this build does not register travel too: a world
//! restored with [`Unknown::Keep`] holds them byte for byte ([`Kept`]), and
//! [`export`] carries them with the schema (and shape) their file recorded.
//! [`import_with`] decodes them in an app that registers the type; an app
//! that does not refuses them, drops them or keeps them, as its
//! [`Unknown`] policy says.
//!
//! Layout (little endian):
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `DIZZYBDL` |
//! | 4 | bundle format version (2; 1 is still read) |
//! | 4 | codec name length `n` (at most 64) |
//! | n | codec name, UTF-8 |
//! | 8 | body length `b` |
//! | b | body: the [`BundleBody`], encoded with the codec |
//! | 8 | CRC-64/XZ of everything before, `u64` (format 1: 32 bytes, SHA-256) |

use std::collections::{BTreeMap, BTreeSet, HashSet};

use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{
    ColumnOps, DecodedColumn, RefEncoder, RefPolicy, Registration, Registry, Relation, Resolver,
    Uid, UidMap, Uids, ValueError, codec, is_valid_uid,
};
use serde::{Deserialize, Serialize};

use crate::checksum::{Crc64, Sha256};
use crate::format::{HEADER, Layout, Schema, col, header, parse};
use crate::kept::{self, Kept};
use crate::restore::Unknown;

const MAGIC: &[u8; 8] = b"DIZZYBDL";
/// The bundle format version this build writes (and the newest it reads).
pub const BUNDLE_VERSION: u32 = 2;

/// The body of a bundle.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BundleBody {
    /// The schemas of the components carried.
    pub schemas: Vec<Schema>,
    /// Every entity carried, by uid (some may carry no component).
    pub uids: Vec<u64>,
    /// Per component: its stable name and one keyed chunk (values, then uids).
    pub columns: Vec<(String, Vec<u8>)>,
    /// Where it came from (a file and snapshot, informative).
    pub source: String,
}

/// Which entities to export.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// These uids.
    Uids(Vec<u64>),
    /// Every entity with this component (stable name).
    With(String),
    /// Every entity of this correlation (see `dizzy_components::CorrelationId`).
    Correlation(u64),
}

/// A bundle could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A selected uid is not in the world.
    #[error("uid {0} is not in the world")]
    UnknownUid(u64),
    /// The component filter names a component that is neither registered
    /// nor kept (from a file, see [`Kept`]).
    #[error(
        "`{0}` is not a registered component, and the world keeps no values of it from its file"
    )]
    UnknownComponent(String),
    /// Nothing matched the selection.
    #[error("the selection is empty")]
    Empty,
    /// A reference leaves the selection (without the closure) under `RefPolicy::Fail`.
    #[error(
        "`{component}` of uid {holder} references an entity outside the selection; export with its closure, or drop such references"
    )]
    Dangling {
        /// The component's stable name.
        component: String,
        /// The referencing uid.
        holder: u64,
    },
    /// A value of a type this build does not register (kept from the
    /// file) references an entity the bundle would not carry; such a value
    /// cannot be rewritten here, so the reference cannot be dropped.
    #[error(
        "`{component}` of uid {holder} references uid {target}, outside the selection, and this build does not register `{component}` to drop the reference; export with the closure"
    )]
    KeptDangling {
        /// The component's stable name.
        component: String,
        /// The referencing uid.
        holder: u64,
        /// The uid outside the selection.
        target: u64,
    },
    /// A value could not be encoded.
    #[error("`{component}`: {source}")]
    Codec {
        /// The component's stable name.
        component: String,
        /// The codec's error.
        source: dizzy_components::CodecError,
    },
    /// User code (a `Serialize`, `Deserialize` or `map_entities`) panicked;
    /// the world is as it was.
    #[error(
        "a value's `Serialize` (or `Deserialize`, `map_entities`) panicked while exporting: {0}"
    )]
    Panicked(String),
}

/// A bundle was refused; the target is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The bytes are not a valid bundle (truncated, corrupt, hostile).
    #[error("not a valid bundle: {0}")]
    Invalid(String),
    /// The bundle file cannot be read, or is not a regular file of a
    /// plausible size.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// Written by a newer dizzy.
    #[error("bundle format {found}; this build reads formats up to {supported}")]
    NewerFormat {
        /// The bundle's version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// Encoded with a codec this build does not have.
    #[error("bundle encoded with codec `{0}`; this build has `{supported}`", supported = codec::CODEC)]
    UnknownCodec(String),
    /// A component this build does not register (with [`Unknown::Fail`]).
    #[error(
        "the bundle carries `{0}`, which this build does not register (register it, or import with the unknown-components policy skip or keep)"
    )]
    Unregistered(String),
    /// A component this build does not register, to keep, without the
    /// shape that keeping needs.
    #[error(
        "the bundle carries `{0}`, which this build does not register and cannot keep (the bundle records no shape for it)"
    )]
    Unkeepable(String),
    /// A kept value (of a type this build does not register) references
    /// an entity whose uid the import changes: its bytes cannot be
    /// rewritten here.
    #[error(
        "`{component}` of uid {holder} references uid {target}, which is taken in this world and would get a new uid; this build does not register `{component}` to rewrite the reference (register it, or import with on-conflict skip or replace)"
    )]
    KeptRemapped {
        /// The component's stable name.
        component: String,
        /// The referencing uid (in the bundle).
        holder: u64,
        /// The referenced uid (in the bundle).
        target: u64,
    },
    /// A stored version without a migration.
    #[error(transparent)]
    Version(#[from] dizzy_components::UpgradeError),
    /// A uid of the bundle is already in the world (`OnConflict::Fail`).
    #[error("uid {0} of the bundle is already in the world (on conflict: fail)")]
    Conflict(u64),
    /// A reference to an entity neither in the bundle nor kept.
    #[error(
        "`{component}` of uid {holder} references uid {target}, which the bundle does not carry"
    )]
    Dangling {
        /// The component's stable name.
        component: String,
        /// The referencing uid.
        holder: u64,
        /// The missing uid.
        target: u64,
    },
    /// A value does not decode.
    #[error("`{component}`: {reason}")]
    Corrupt {
        /// The component's stable name.
        component: String,
        /// What is wrong.
        reason: String,
    },
}

/// What to do when a uid of the bundle is already in the target world.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnConflict {
    /// Give the imported entity a fresh uid (default); references follow.
    #[default]
    Remap,
    /// Do not import it; references to it point at the existing entity.
    Skip,
    /// Import into the existing entity: the bundle's values overwrite its
    /// components of the same types.
    Replace,
    /// Refuse the whole import.
    Fail,
}

impl std::str::FromStr for OnConflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "remap" => Ok(OnConflict::Remap),
            "skip" => Ok(OnConflict::Skip),
            "replace" => Ok(OnConflict::Replace),
            "fail" => Ok(OnConflict::Fail),
            _ => Err(format!("`{s}`: expected remap, skip, replace or fail")),
        }
    }
}

/// How to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Carry everything the selection references, transitively (default).
    pub closure: bool,
    /// References that leave the selection (without the closure): fail or drop.
    pub refs: RefPolicy,
    /// Where the world came from, recorded in the bundle.
    pub source: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            closure: true,
            refs: RefPolicy::Fail,
            source: String::new(),
        }
    }
}

/// What an export carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The bundle's bytes.
    pub bytes: Vec<u8>,
    /// Uids carried.
    pub entities: usize,
    /// Component names carried.
    pub components: Vec<String>,
}

/// Cuts `selection` (and, with the closure, everything it references) out
/// of `world` into a bundle. The world is only read.
///
/// # Errors
/// The selection names a uid that is not in the world or an unregistered
/// component, or selects nothing; a reference leaves the selection without
/// the closure under `RefPolicy::Fail`; a value does not encode.
pub fn export(
    world: &World,
    registry: &Registry,
    selection: &Selection,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        export_unguarded(world, registry, selection, options)
    }))
    .unwrap_or_else(|payload| {
        Err(ExportError::Panicked(
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default(),
        ))
    })
}

fn export_unguarded(
    world: &World,
    registry: &Registry,
    selection: &Selection,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    let mut chosen = selected(world, registry, selection)?;
    if chosen.is_empty() {
        return Err(ExportError::Empty);
    }
    let columns: Vec<(&str, &dyn ColumnOps, ComponentId)> = registry
        .iter()
        .filter_map(|r| {
            let ops = r.column()?;
            Some((r.name(), ops, ops.component_id(world)?))
        })
        .collect();
    let set = if options.closure {
        close_over_references(world, &columns, &mut chosen)?
    } else {
        chosen.iter().copied().collect()
    };
    chosen.sort_by_key(|&e| uid_of(world, e));
    chosen.dedup();

    let mut body = BundleBody {
        schemas: Vec::new(),
        uids: chosen.iter().map(|&e| uid_of(world, e)).collect(),
        columns: Vec::new(),
        source: options.source.clone(),
    };
    for &(name, ops, id) in &columns {
        let holders: Vec<Entity> = chosen
            .iter()
            .copied()
            .filter(|&e| world.entity(e).contains_id(id))
            .collect();
        if holders.is_empty() {
            continue;
        }
        let reg = registry
            .get(name)
            .unwrap_or_else(|| unreachable!("listed from the registry"));
        let chunk = values_chunk(world, reg, ops, &holders, &set, options.refs)?;
        body.columns.push((name.to_owned(), chunk));
        body.schemas.push(Schema {
            name: reg.name().to_owned(),
            version: reg.version(),
            kind: reg.kind(),
            type_name: reg.type_name().to_owned(),
            shape: reg.shape().map(str::to_owned),
        });
    }
    // The order of relationship targets' lists, among the entities carried.
    for &(name, _, id) in &columns {
        if let Some(relation) = Relation::of(world, id)
            && let Some(chunk) = order_chunk(world, name, &relation, &chosen, &set)?
        {
            body.columns.push((format!("{}{name}", col::ORDER), chunk));
        }
    }
    if let Some(kept) = world.get_resource::<Kept>() {
        let uids = world.resource::<Uids>();
        let within = |uid: u64| uids.entity(uid).is_some_and(|e| set.contains(&e));
        for (schema, chunk) in kept::bundle_columns(kept, &body.uids, &within)? {
            body.columns.push((schema.name.clone(), chunk));
            body.schemas.push(schema);
        }
    }
    let components = body
        .columns
        .iter()
        .filter(|(n, _)| !n.starts_with('@'))
        .map(|(n, _)| n.clone())
        .collect();
    let entities = body.uids.len();
    let bytes = write(&body).map_err(|source| ExportError::Codec {
        component: "@bundle".into(),
        source,
    })?;
    Ok(Exported {
        bytes,
        entities,
        components,
    })
}

/// The uid of entity `e` (0 if it has none).
fn uid_of(world: &World, e: Entity) -> u64 {
    world.get::<Uid>(e).map_or(0, |u| u.get())
}

/// The entities `selection` names.
fn selected(
    world: &World,
    registry: &Registry,
    selection: &Selection,
) -> Result<Vec<Entity>, ExportError> {
    let with = |id: ComponentId| -> Vec<Entity> {
        let Some(uid_id) = world.component_id::<Uid>() else {
            return Vec::new();
        };
        world
            .archetypes()
            .iter()
            .filter(|a| a.contains(id) && a.contains(uid_id))
            .flat_map(|a| a.entities().iter().map(|e| e.id()))
            .collect()
    };
    Ok(match selection {
        Selection::Uids(uids) => uids
            .iter()
            .map(|&u| {
                world
                    .resource::<Uids>()
                    .entity(u)
                    .ok_or(ExportError::UnknownUid(u))
            })
            .collect::<Result<_, _>>()?,
        Selection::With(name) => match registry.get(name).and_then(|r| r.column()) {
            Some(ops) => with(
                ops.component_id(world)
                    .ok_or_else(|| ExportError::UnknownComponent(name.clone()))?,
            ),
            // A component this build does not register, kept from the file.
            None => {
                let kept = world
                    .get_resource::<Kept>()
                    .filter(|k| k.component_names().any(|n| n == name))
                    .ok_or_else(|| ExportError::UnknownComponent(name.clone()))?;
                let uids = world.resource::<Uids>();
                let mut holders = kept.holders(name);
                holders.sort_unstable();
                holders.into_iter().filter_map(|u| uids.entity(u)).collect()
            }
        },
        Selection::Correlation(c) => {
            match world.component_id::<dizzy_components::CorrelationId>() {
                Some(corr_id) => with(corr_id)
                    .into_iter()
                    .filter(|&e| {
                        world
                            .get::<dizzy_components::CorrelationId>(e)
                            .is_some_and(|id| id.0 == *c)
                    })
                    .collect(),
                None => Vec::new(),
            }
        }
    })
}

/// Adds to `chosen` what its values reference, until nothing new appears;
/// the set of every entity carried.
fn close_over_references(
    world: &World,
    columns: &[(&str, &dyn ColumnOps, ComponentId)],
    chosen: &mut Vec<Entity>,
) -> Result<HashSet<Entity>, ExportError> {
    let mut set: HashSet<Entity> = chosen.iter().copied().collect();
    let mut frontier = chosen.clone();
    while !frontier.is_empty() {
        let mut found = Vec::new();
        for (name, ops, _) in columns {
            ops.referenced(world, &frontier, &mut found)
                .map_err(|source| ExportError::Codec {
                    component: (*name).to_owned(),
                    source,
                })?;
        }
        found.extend(kept::references(world, &frontier));
        frontier = found
            .into_iter()
            .filter(|e| world.get::<Uid>(*e).is_some() && set.insert(*e))
            .collect();
        chosen.extend(frontier.iter().copied());
    }
    Ok(set)
}

/// The keyed chunk of one component's values on `holders` (references as
/// uids of entities in `set`, or as `refs` says), then their uids.
fn values_chunk(
    world: &World,
    reg: &Registration,
    ops: &dyn ColumnOps,
    holders: &[Entity],
    set: &HashSet<Entity>,
    refs: RefPolicy,
) -> Result<Vec<u8>, ExportError> {
    let name = reg.name();
    let within = |e: Entity| set.contains(&e);
    let encoder = RefEncoder::new(world, reg.refs().unwrap_or(refs)).within(&within);
    let refs = reg.references().any().then_some(&encoder);
    let mut chunk = vec![0u8; HEADER];
    let rows = ops
        .encode(
            world,
            dizzy_components::Place::Entities(holders),
            refs,
            &mut chunk,
        )
        .map_err(|e| match e {
            ValueError::Dangling(d) => ExportError::Dangling {
                component: name.to_owned(),
                holder: d.holder,
            },
            ValueError::Codec(source) => ExportError::Codec {
                component: name.to_owned(),
                source,
            },
            other => ExportError::Codec {
                component: name.to_owned(),
                source: dizzy_components::CodecError::Encode(other.to_string()),
            },
        })?;
    for &e in holders {
        chunk.extend_from_slice(&uid_of(world, e).to_le_bytes());
    }
    let mut h = Vec::with_capacity(HEADER);
    header(&mut h, Layout::Keyed, rows as u32);
    chunk[..HEADER].copy_from_slice(&h);
    Ok(chunk)
}

/// The keyed chunk of relationship `name`'s target lists (of two or more
/// carried sources) of the carried targets, or `None` if there is none.
fn order_chunk(
    world: &World,
    name: &str,
    relation: &Relation,
    chosen: &[Entity],
    set: &HashSet<Entity>,
) -> Result<Option<Vec<u8>>, ExportError> {
    let mut chunk = vec![0u8; HEADER];
    let mut owners = Vec::new();
    for &target in chosen {
        let Some(list) = relation.list(world, target) else {
            continue;
        };
        let uids: Vec<u64> = list
            .iter()
            .filter(|e| set.contains(e))
            .map(|&e| uid_of(world, e))
            .collect();
        if uids.len() < 2 {
            continue;
        }
        codec::encode_into(&uids, &mut chunk).map_err(|source| ExportError::Codec {
            component: name.to_owned(),
            source,
        })?;
        owners.push(uid_of(world, target));
    }
    if owners.is_empty() {
        return Ok(None);
    }
    for u in &owners {
        chunk.extend_from_slice(&u.to_le_bytes());
    }
    let mut h = Vec::with_capacity(HEADER);
    header(&mut h, Layout::Keyed, owners.len() as u32);
    chunk[..HEADER].copy_from_slice(&h);
    Ok(Some(chunk))
}

/// Reads the recorded lists of relationship targets of a bundle.
fn read_order(
    name: &str,
    chunk: &[u8],
    carried: &BTreeSet<u64>,
) -> Result<Vec<(u64, Vec<u64>)>, ImportError> {
    let corrupt = |reason: String| ImportError::Corrupt {
        component: name.to_owned(),
        reason,
    };
    let chunk = parse(chunk).map_err(corrupt)?;
    if chunk.layout != Layout::Keyed {
        return Err(corrupt("not a keyed chunk".into()));
    }
    let mut lists = Vec::new();
    codec::decode_rows::<Vec<u64>>(chunk.payload, chunk.rows as usize, |l| lists.push(l))
        .map_err(|e| corrupt(e.to_string()))?;
    let out: Vec<(u64, Vec<u64>)> = chunk.uids().zip(lists).collect();
    for (t, l) in &out {
        if let Some(u) = std::iter::once(t).chain(l).find(|u| !carried.contains(u)) {
            return Err(corrupt(format!("uid {u}, which the bundle does not carry")));
        }
    }
    Ok(out)
}

/// Correlation ids follow the bundle's uids: the uid of a carried root
/// becomes its new uid; a root the bundle does not carry keeps its value
/// if no entity of the target world has it as uid (and the allocator is
/// moved past it), else gets a fresh one — the same for every entity of
/// that correlation.
fn remap_correlations(
    column: DecodedColumn,
    map: &BTreeMap<u64, u64>,
    world: &mut World,
) -> DecodedColumn {
    let Some(mut values) = column.into_vec::<dizzy_components::CorrelationId>() else {
        unreachable!("the correlation column holds correlation ids");
    };
    let mut fresh: BTreeMap<u64, u64> = BTreeMap::new();
    let mut uids = world.resource_mut::<Uids>();
    for v in &mut values {
        let new = match map.get(&v.0) {
            Some(&n) => n,
            None => *fresh.entry(v.0).or_insert_with(|| match Uid::new(v.0) {
                Some(u) if uids.entity(v.0).is_none() => {
                    uids.reserve(u);
                    v.0
                }
                _ => uids.allocate().get(),
            }),
        };
        v.0 = new;
    }
    DecodedColumn::from_vec(values)
}

/// Encodes a bundle body into a bundle file's bytes (bundle format
/// [`BUNDLE_VERSION`], with a CRC-64 of everything before it).
///
/// # Errors
/// A value of the body does not encode.
pub fn write(body: &BundleBody) -> Result<Vec<u8>, dizzy_components::CodecError> {
    Ok(envelope(&codec::encode(body)?))
}

/// A bundle file's bytes around an encoded body: header, body, checksum.
pub(crate) fn envelope(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() + 96);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&BUNDLE_VERSION.to_le_bytes());
    out.extend_from_slice(&(codec::CODEC.len() as u32).to_le_bytes());
    out.extend_from_slice(codec::CODEC.as_bytes());
    out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    out.extend_from_slice(encoded);
    let mut crc = Crc64::new();
    crc.update(&out);
    out.extend_from_slice(&crc.finish().to_le_bytes());
    out
}

/// The most bytes any bundle header takes (magic, version, codec name of at
/// most 64 bytes, body length): [`check_header`] needs no more than this.
pub const BUNDLE_HEADER_MAX: usize = 8 + 4 + 4 + 64 + 8;

/// The length of the checksum that ends a bundle of format `version`.
fn trailer_len(version: u32) -> usize {
    if version == 1 { 32 } else { 8 }
}

/// A bundle's header, checked against the bundle's whole length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleHeader {
    /// The bundle format version.
    pub version: u32,
    /// The codec's name.
    pub codec: String,
    /// Where the body starts.
    pub body_start: usize,
    /// The body's length in bytes.
    pub body_len: u64,
}

/// Checks a bundle's header from its first bytes (`prefix`, up to
/// [`BUNDLE_HEADER_MAX`] of them) and the bundle's total length, before
/// anything else is read: the magic, the format version, the codec name,
/// and a body length that accounts for every byte. A file that is not a
/// bundle, or claims a body it does not hold, costs nothing more.
///
/// # Errors
/// [`ImportError::Invalid`] naming what is wrong, [`ImportError::NewerFormat`].
pub fn check_header(prefix: &[u8], total: u64) -> Result<BundleHeader, ImportError> {
    let bad = |m: &str| ImportError::Invalid(m.to_owned());
    if total < 8 + 4 + 4 + 8 + 8 || prefix.len() < 16 {
        return Err(ImportError::Invalid(format!(
            "{total} bytes is shorter than any bundle"
        )));
    }
    if &prefix[..8] != MAGIC {
        return Err(bad("it does not start with the bundle magic (DIZZYBDL)"));
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([prefix[i], prefix[i + 1], prefix[i + 2], prefix[i + 3]]);
    let version = u32_at(8);
    if version == 0 {
        return Err(bad("bundle format 0"));
    }
    if version > BUNDLE_VERSION {
        return Err(ImportError::NewerFormat {
            found: version,
            supported: BUNDLE_VERSION,
        });
    }
    let trailer = trailer_len(version) as u64;
    let n = u32_at(12) as usize;
    if n > 64 || (16 + n + 8) as u64 + trailer > total || prefix.len() < 16 + n + 8 {
        return Err(ImportError::Invalid(format!("a codec name of {n} bytes")));
    }
    let codec = std::str::from_utf8(&prefix[16..16 + n])
        .map_err(|_| bad("the codec name is not UTF-8"))?
        .to_owned();
    let at = 16 + n;
    let mut len = [0u8; 8];
    len.copy_from_slice(&prefix[at..at + 8]);
    let body_len = u64::from_le_bytes(len);
    let body_start = at + 8;
    let expected = total - body_start as u64 - trailer;
    if body_len != expected {
        return Err(ImportError::Invalid(format!(
            "the header announces a body of {body_len} bytes, the file holds {expected} (truncated or corrupt)"
        )));
    }
    Ok(BundleHeader {
        version,
        codec,
        body_start,
        body_len,
    })
}

/// Whether `trailer` is the checksum of `content` for a bundle of format
/// `version` (SHA-256 for format 1, CRC-64/XZ after).
fn checksum_matches(version: u32, content: &[u8], trailer: &[u8]) -> bool {
    if version == 1 {
        let mut sha = Sha256::new();
        sha.update(content);
        sha.finish().as_slice() == trailer
    } else {
        let mut crc = Crc64::new();
        crc.update(content);
        crc.finish().to_le_bytes().as_slice() == trailer
    }
}

/// Checks a bundle file's bytes and decodes its body. Bounded: nothing is
/// allocated beyond a small multiple of `bytes.len()`. Bundles of every
/// earlier format are read (and their checksums verified).
///
/// # Errors
/// The bytes are not a valid bundle of a format this build reads
/// ([`ImportError`]).
pub fn read(bytes: &[u8]) -> Result<BundleBody, ImportError> {
    let bad = |m: &str| ImportError::Invalid(m.to_owned());
    let prefix = &bytes[..bytes.len().min(BUNDLE_HEADER_MAX)];
    let header = check_header(prefix, bytes.len() as u64)?;
    let (content, sum) = bytes.split_at(bytes.len() - trailer_len(header.version));
    if !checksum_matches(header.version, content, sum) {
        return Err(bad("the checksum does not match (corrupt)"));
    }
    if header.codec != codec::CODEC {
        return Err(ImportError::UnknownCodec(header.codec));
    }
    let body: BundleBody = codec::decode(&content[header.body_start..])
        .map_err(|e| ImportError::Invalid(e.to_string()))?;
    let mut sorted = body.uids.clone();
    sorted.sort_unstable();
    if let Some(u) = body.uids.iter().find(|&&u| !is_valid_uid(u)) {
        return Err(ImportError::Invalid(format!(
            "uid {u} is invalid or repeated"
        )));
    }
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(ImportError::Invalid(format!(
            "uid {} is invalid or repeated",
            w[0]
        )));
    }
    Ok(body)
}

/// Reads a bundle file whole, checking it first: it must be a regular file
/// (not a device, a pipe or a directory) no larger than `max_bytes`, its
/// header must hold (see [`check_header`]) and its checksum match (read
/// streaming, in constant memory) before it is read into one buffer of
/// exactly the file's size. `/dev/zero`, a
/// sparse file of a gigabyte or a file that is not a bundle costs a few
/// bytes of memory, not its size.
///
/// # Errors
/// [`ImportError::File`] for a file that cannot be read or is not a
/// regular file of a plausible size; the header's errors.
pub fn read_file(path: &std::path::Path, max_bytes: u64) -> Result<Vec<u8>, ImportError> {
    use std::io::Read;
    let file_error = |reason: String| ImportError::File {
        path: path.to_owned(),
        reason,
    };
    let not_regular =
        || file_error("not a regular file (a bundle is read from a regular file)".to_owned());
    // Checked before opening too: opening a named pipe waits for a writer.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(not_regular());
    }
    let mut file = std::fs::File::open(path).map_err(|e| file_error(e.to_string()))?;
    let meta = file.metadata().map_err(|e| file_error(e.to_string()))?;
    if !meta.is_file() {
        return Err(file_error(
            "not a regular file (a bundle is read from a regular file)".to_owned(),
        ));
    }
    let total = meta.len();
    if total > max_bytes {
        return Err(file_error(format!(
            "{total} bytes is more than the {max_bytes} bytes a bundle may have here"
        )));
    }
    let mut prefix = vec![0u8; (total as usize).min(BUNDLE_HEADER_MAX)];
    file.read_exact(&mut prefix)
        .map_err(|e| file_error(e.to_string()))?;
    let header = check_header(&prefix, total)?;
    // The checksum is verified streaming first (a few KiB of memory), so a
    // damaged or forged file of any size costs its reading, not its size.
    let trailer = trailer_len(header.version) as u64;
    let mut content = (&mut file).take(total - prefix.len() as u64 - trailer);
    let mut buffer = vec![0u8; 64 << 10];
    let mut sha = Sha256::new();
    let mut crc = Crc64::new();
    sha.update(&prefix);
    crc.update(&prefix);
    loop {
        let n = content
            .read(&mut buffer)
            .map_err(|e| file_error(e.to_string()))?;
        if n == 0 {
            break;
        }
        if header.version == 1 {
            sha.update(&buffer[..n]);
        } else {
            crc.update(&buffer[..n]);
        }
    }
    let mut sum = vec![0u8; trailer as usize];
    file.read_exact(&mut sum)
        .map_err(|e| file_error(e.to_string()))?;
    let matches = if header.version == 1 {
        sha.finish().as_slice() == sum.as_slice()
    } else {
        crc.finish().to_le_bytes().as_slice() == sum.as_slice()
    };
    if !matches {
        return Err(ImportError::Invalid(
            "the checksum does not match (corrupt)".to_owned(),
        ));
    }
    drop(buffer);
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(prefix.len() as u64))
        .map_err(|e| file_error(e.to_string()))?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(total as usize)
        .map_err(|_| file_error(format!("no memory for {total} bytes")))?;
    bytes.extend_from_slice(&prefix);
    (&mut file)
        .take(total - prefix.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(e.to_string()))?;
    if bytes.len() as u64 != total {
        return Err(file_error(format!(
            "changed while being read ({} bytes read of {total})",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// How to import.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// What to do with a uid the world already has.
    pub on_conflict: OnConflict,
    /// References to entities the bundle does not carry: fail or drop.
    pub refs: RefPolicy,
    /// Components of the bundle that `registry` does not register: refuse
    /// the bundle (default), leave them out, or keep them byte for byte
    /// (in the world's [`Kept`], written into every later full snapshot).
    pub unknown: Unknown,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// The old-to-new uid of every entity of the bundle.
    pub uids: BTreeMap<u64, u64>,
    /// Components this build does not register, kept byte for byte.
    pub kept: Vec<String>,
    /// Components this build does not register, left out.
    pub skipped: Vec<String>,
}

/// Imports a bundle into `world`, all or nothing; returns the old-to-new uid
/// of every entity of the bundle. A component `registry` does not register
/// refuses the bundle ([`import_with`] can skip or keep it).
///
/// # Errors
/// The bundle is invalid, or refused ([`ImportError`]); `world` is unchanged.
pub fn import(
    world: &mut World,
    registry: &Registry,
    bytes: &[u8],
    on_conflict: OnConflict,
    refs: RefPolicy,
) -> Result<BTreeMap<u64, u64>, ImportError> {
    let options = ImportOptions {
        on_conflict,
        refs,
        unknown: Unknown::Fail,
    };
    import_with(world, registry, bytes, &options).map(|i| i.uids)
}

/// Imports a bundle into `world`, all or nothing, as `options` say.
///
/// In two steps: everything is checked and every uid decided while the
/// world is untouched; then the entities are spawned and the values
/// inserted, reference-free values first, which cannot fail.
///
/// # Errors
/// The bundle is invalid, or refused ([`ImportError`]); `world` is unchanged.
pub fn import_with(
    world: &mut World,
    registry: &Registry,
    bytes: &[u8],
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let body = read(bytes)?;
    let carried: BTreeSet<u64> = body.uids.iter().copied().collect();

    // 1. Check everything; decide every uid. Nothing changes yet.
    let checked = check_columns(&body, registry, options, &carried)?;
    let (mut map, skipped) = decide_uids(world, &body.uids, options.on_conflict)?;
    // Kept bytes cannot follow a uid that changes (one not in `map` yet
    // gets a fresh uid below).
    for column in &checked.kept {
        for &(holder, target) in &column.refs {
            if !map.contains_key(&target) {
                return Err(ImportError::KeptRemapped {
                    component: column.schema.name.clone(),
                    holder,
                    target,
                });
            }
        }
    }

    // 2. Apply: cannot fail from here on.
    let entity = spawn_carried(world, &body.uids, &mut map);
    let requires = crate::restore::registered_requires(world, registry);
    let before: Vec<(Entity, Vec<ComponentId>)> = if requires.is_empty() {
        Vec::new()
    } else {
        entity
            .values()
            .map(|&e| (e, world.entity(e).archetype().components().to_vec()))
            .collect()
    };
    let mut inserted: Vec<(Entity, ComponentId)> = Vec::new();
    for column in checked.columns {
        insert_column(
            world,
            column,
            &Placement {
                entity: &entity,
                map: &map,
                skipped: &skipped,
                orders: &checked.orders,
                refs: options.refs,
            },
            &mut inserted,
        )?;
    }
    // Registered components bevy added as required, that the bundle does
    // not carry and the entity did not have, are removed again.
    for (e, had) in before {
        let Ok(now) = world.get_entity(e) else {
            continue;
        };
        let extra: Vec<ComponentId> = requires
            .values()
            .flatten()
            .copied()
            .filter(|r| now.contains_id(*r) && !had.contains(r) && !inserted.contains(&(e, *r)))
            .collect();
        crate::restore::drop_components(world, e, &extra);
    }
    if !checked.kept.is_empty() {
        let mut store = world.remove_resource::<Kept>().unwrap_or_default();
        for column in &checked.kept {
            for (u, bytes) in column.owners.iter().zip(&column.values) {
                if !skipped.contains(u) {
                    store.put(column.schema, map[u], bytes.to_vec());
                }
            }
        }
        world.insert_resource(store);
    }
    Ok(Imported {
        uids: map,
        kept: checked.kept.iter().map(|c| c.schema.name.clone()).collect(),
        skipped: checked.skipped,
    })
}

/// One registered component of a bundle, checked: its values (at this
/// build's version and shape) and their owners.
struct CheckedColumn<'a> {
    name: &'a String,
    reg: &'a Registration,
    ops: &'a dyn ColumnOps,
    owners: Vec<u64>,
    payload: Vec<u8>,
}

/// Every column of a bundle, checked.
struct Checked<'a> {
    /// Registered components, reference-free ones first.
    columns: Vec<CheckedColumn<'a>>,
    /// Each relationship's recorded order: target, then its sources.
    orders: BTreeMap<&'a str, Vec<(u64, Vec<u64>)>>,
    /// Components this build does not register, kept as bytes.
    kept: Vec<kept::Column<'a>>,
    /// Components this build does not register, left out.
    skipped: Vec<String>,
}

/// Checks every column of `body`: chunks whole, owners carried, values
/// decodable at this build's version, references to carried entities (or
/// allowed by the policy); unknown components refused, skipped or kept as
/// `options.unknown` says.
fn check_columns<'a>(
    body: &'a BundleBody,
    registry: &'a Registry,
    options: &ImportOptions,
    carried: &BTreeSet<u64>,
) -> Result<Checked<'a>, ImportError> {
    let mut checked = Checked {
        columns: Vec::with_capacity(body.columns.len()),
        orders: BTreeMap::new(),
        kept: Vec::new(),
        skipped: Vec::new(),
    };
    for (name, chunk) in &body.columns {
        if let Some(relationship) = name.strip_prefix(col::ORDER) {
            checked
                .orders
                .insert(relationship, read_order(name, chunk, carried)?);
            continue;
        }
        let Some((reg, ops)) = registry
            .get(name)
            .and_then(|r| r.column().map(|ops| (r, ops)))
        else {
            match options.unknown {
                Unknown::Skip => checked.skipped.push(name.clone()),
                Unknown::Keep => checked
                    .kept
                    .push(kept::bundle_column(body, name, chunk, carried)?),
                _ => return Err(ImportError::Unregistered(name.clone())),
            }
            continue;
        };
        let corrupt = |reason: String| ImportError::Corrupt {
            component: name.clone(),
            reason,
        };
        let chunk = parse(chunk).map_err(corrupt)?;
        if chunk.layout != Layout::Keyed {
            return Err(corrupt("not a keyed chunk".into()));
        }
        let owners: Vec<u64> = chunk.uids().collect();
        if let Some(u) = owners.iter().find(|u| !carried.contains(u)) {
            return Err(corrupt(format!(
                "a value for uid {u}, which the bundle does not carry"
            )));
        }
        let schema = body.schemas.iter().find(|s| &s.name == name);
        let version = schema.map_or(reg.version(), |s| s.version);
        let shape = schema.and_then(|s| s.shape.as_deref());
        let payload = if reg.needs_upgrade(version, shape) {
            reg.upgrade(version, shape, chunk.payload, owners.len())?
        } else {
            chunk.payload.to_vec()
        };
        ops.check(
            &payload,
            owners.len(),
            &|u| carried.contains(&u),
            reg.refs().unwrap_or(options.refs),
        )
        .map_err(|e| match e {
            ValueError::Dangling(d) => ImportError::Dangling {
                component: name.clone(),
                holder: d.holder,
                target: d.target,
            },
            other => corrupt(other.to_string()),
        })?;
        checked.columns.push(CheckedColumn {
            name,
            reg,
            ops,
            owners,
            payload,
        });
    }
    // Values without references first: an entity is complete, but for the
    // references it holds, when the first reference to it is inserted.
    checked.columns.sort_by_key(|c| c.reg.references().any());
    Ok(checked)
}

/// The uid each carried entity keeps (`map`; the ones missing get a fresh
/// uid when applied) and the carried uids whose values are left out, as
/// `on_conflict` says for uids the world already has.
fn decide_uids(
    world: &World,
    carried: &[u64],
    on_conflict: OnConflict,
) -> Result<(BTreeMap<u64, u64>, BTreeSet<u64>), ImportError> {
    let mut map: BTreeMap<u64, u64> = BTreeMap::new();
    let mut skipped: BTreeSet<u64> = BTreeSet::new();
    let index = world.resource::<Uids>();
    for &u in carried {
        if index.entity(u).is_some() {
            match on_conflict {
                OnConflict::Fail => return Err(ImportError::Conflict(u)),
                OnConflict::Skip => {
                    skipped.insert(u);
                    map.insert(u, u);
                }
                OnConflict::Replace => {
                    map.insert(u, u);
                }
                OnConflict::Remap => {}
            }
        } else {
            map.insert(u, u);
        }
    }
    Ok((map, skipped))
}

/// Reserves the uids kept, gives the others fresh ones (completing `map`)
/// and spawns the carried entities the world lacks; the entity of each
/// carried uid.
fn spawn_carried(
    world: &mut World,
    carried: &[u64],
    map: &mut BTreeMap<u64, u64>,
) -> UidMap<Entity> {
    {
        let mut uids = world.resource_mut::<Uids>();
        for &u in carried {
            if let Some(uid) = Uid::new(u) {
                uids.reserve(uid);
            }
        }
        let remapped: Vec<u64> = carried
            .iter()
            .copied()
            .filter(|u| !map.contains_key(u))
            .collect();
        for u in remapped {
            let fresh = uids.allocate();
            map.insert(u, fresh.get());
        }
    }
    let mut entity: UidMap<Entity> = UidMap::default();
    for &u in carried {
        let new = map[&u];
        let e = match world.resource::<Uids>().entity(new) {
            Some(e) => e,
            None => world
                .spawn(Uid::new(new).unwrap_or_else(|| unreachable!("checked or allocated")))
                .id(),
        };
        entity.insert(u, e);
    }
    entity
}

/// Where the values of an import go.
struct Placement<'p, 'a> {
    /// The entity of each carried uid.
    entity: &'p UidMap<Entity>,
    /// The uid each carried uid became.
    map: &'p BTreeMap<u64, u64>,
    /// Carried uids whose values are left out.
    skipped: &'p BTreeSet<u64>,
    /// The recorded order of each relationship.
    orders: &'p BTreeMap<&'a str, Vec<(u64, Vec<u64>)>>,
    refs: RefPolicy,
}

/// Decodes one checked column, resolves its references to the entities of
/// the import, and inserts its values (relationships in their recorded
/// order); notes what it inserted in `inserted`.
fn insert_column(
    world: &mut World,
    c: CheckedColumn<'_>,
    to: &Placement<'_, '_>,
    inserted: &mut Vec<(Entity, ComponentId)>,
) -> Result<(), ImportError> {
    let corrupt = |reason: String| ImportError::Corrupt {
        component: c.name.clone(),
        reason,
    };
    // Checked above: decoding again cannot fail; if it did, no value of
    // this column is inserted.
    let mut column = c
        .ops
        .decode_column(&c.payload, c.owners.len())
        .map_err(|e| corrupt(e.to_string()))?;
    let lookup = |u: u64| to.entity.get(&u).copied();
    let mut resolver = Resolver::new(&lookup, c.reg.refs().unwrap_or(to.refs));
    c.ops
        .resolve_column(&mut column, &c.owners, &mut resolver)
        .map_err(|d| ImportError::Dangling {
            component: c.name.clone(),
            holder: d.holder,
            target: d.target,
        })?;
    if c.name == dizzy_components::CORRELATION {
        column = remap_correlations(column, to.map, world);
    }
    // Values of skipped entities are dropped; a relationship is inserted
    // in the order its bundle records for each target.
    let mut keep: Vec<usize> = (0..c.owners.len())
        .filter(|&i| !to.skipped.contains(&c.owners[i]))
        .collect();
    if let Some(lists) = to.orders.get(c.name.as_str()) {
        let position: UidMap<usize> = lists
            .iter()
            .flat_map(|(_, l)| l.iter().enumerate().map(|(i, &u)| (u, i)))
            .collect();
        keep.sort_by_key(|&i| position.get(&c.owners[i]).copied().unwrap_or(usize::MAX));
    }
    column.reorder(&keep);
    let targets: Vec<Entity> = keep.iter().map(|&i| to.entity[&c.owners[i]]).collect();
    if let Some(id) = c.ops.component_id(world) {
        inserted.extend(targets.iter().map(|&e| (e, id)));
    }
    c.ops
        .insert_column(world, &targets, column)
        .map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_damage_is_named() {
        let body = BundleBody {
            schemas: vec![],
            uids: vec![2, 3],
            columns: vec![],
            source: "test".into(),
        };
        let bytes = write(&body).unwrap();
        assert_eq!(read(&bytes).unwrap(), body);
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(read(&b).is_err(), "flipped byte {i}");
        }
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert!(matches!(
            read(&newer),
            Err(ImportError::NewerFormat { found: 9, .. })
        ));
    }
}
