//! The on-disk format: redb tables, snapshot records and chunk framing.
//! `docs/FORMAT.md` describes the same in prose; a change here is a new
//! [`FORMAT_VERSION`].

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use dizzy_components::Kind;

/// The format version this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 3;

/// `meta`: file-level facts: `format` (u32 LE) and `codec` (UTF-8).
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("dizzy.meta");
/// `snapshots`: snapshot id -> [`SnapshotMeta`], encoded with the codec.
pub(crate) const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("dizzy.snapshots");
/// `chunks`: (snapshot id, column name, chunk number) -> framed chunk.
pub(crate) const CHUNKS: TableDefinition<(u64, &str, u32), &[u8]> =
    TableDefinition::new("dizzy.chunks");

/// Column names of dizzy's own (registered names never start with `@`).
pub(crate) mod col {
    /// Full snapshots: the uids of each group's rows.
    pub const UID: &str = "@uid";
    /// Deltas: uids of entities that appeared.
    pub const SPAWN: &str = "@spawn";
    /// Deltas: uids of entities that left.
    pub const DESPAWN: &str = "@despawn";
    /// Deltas: `@remove/<name>`: uids that lost component `<name>`.
    pub const REMOVE: &str = "@remove/";
    /// `@res/<name>`: a resource's value.
    pub const RESOURCE: &str = "@res/";
    /// `@detect`: where change detection stood (one keyed row, uid 0): each
    /// system's last run and the resources changed in the last tick, as
    /// ages (see `crate::detect`).
    pub const DETECT: &str = "@detect";
    /// `@ages/<name>`: for values of `<name>` changed in the last tick,
    /// their changed and added ages; one keyed value (uid 0) per chunk,
    /// the uids grouped by ages (see `crate::detect::encode_ages`).
    pub const AGES: &str = "@ages/";
    /// `@ticks/<name>`: what `@ages/<name>` holds, in files written before
    /// 2026-11-30: the ages keyed by uid. Read, no longer written.
    pub const TICKS: &str = "@ticks/";
    /// `@order/<name>`: for relationship `<name>`, each target's list (the
    /// uids whose relationship points at it) in its order; keyed by the
    /// target's uid, each value a `Vec<u64>`. Only lists of two or more.
    pub const ORDER: &str = "@order/";
    /// `@removed`: the removals made after the last tick's systems and
    /// between ticks, which every `RemovedComponents` reader sees at the
    /// next tick: one keyed value (uid 0), `Vec<(name, uid, value bytes)>`
    /// in the order they were made (see `dizzy_components::LastRemovals`).
    pub const REMOVED: &str = "@removed";
    /// The entry of [`REMOVED`] after which come the removals made between
    /// ticks (rather than by the last tick's final commands): bevy's
    /// removal messages then hold them for one tick longer. A name no
    /// component has; its uid is 0 and its value empty. Without it, every
    /// entry was made in the tick (files written before 2026-12-01).
    pub const BETWEEN_TICKS: &str = "@between-ticks";
}

/// Full or delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotKind {
    /// Every registered column.
    Full,
    /// Changes since the previous snapshot of its chain.
    Delta,
}

impl SnapshotKind {
    /// `"full"` or `"delta"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotKind::Full => "full",
            SnapshotKind::Delta => "delta",
        }
    }
}

/// A registered type as a snapshot recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Stable name.
    pub name: String,
    /// Schema version.
    pub version: u32,
    /// Component or resource.
    pub kind: Kind,
    /// The Rust type that wrote it (informative only).
    pub type_name: String,
    /// Its serde shape (JSON, see `dizzy_components::shape`), if traceable.
    /// Absent in format 1 files.
    pub shape: Option<String>,
}

impl Schema {
    /// The Rust type's name, without the skeleton recorded after it for a
    /// type whose shape could not be traced.
    pub fn rust_type(&self) -> &str {
        self.type_name
            .split_once(" [untraced: ")
            .map_or(self.type_name.as_str(), |(t, _)| t)
    }
    /// For a type whose shape could not be traced, what its `Deserialize`
    /// asked for when the values were written (see
    /// `dizzy_components::Registration::skeleton`).
    pub fn untraced_skeleton(&self) -> Option<&str> {
        let (_, rest) = self.type_name.split_once(" [untraced: ")?;
        match rest.split_once("] [first: ") {
            Some((skeleton, _)) => Some(skeleton),
            None => rest.strip_suffix(']'),
        }
    }
    /// For a type whose shape could not be traced, how the first value of
    /// the snapshot's first chunk of its column reads as the type that
    /// wrote it (see `dizzy_components::shape::value_trail`), when the
    /// snapshot holds one.
    pub fn first_trail(&self) -> Option<&str> {
        let (_, rest) = self.type_name.split_once("] [first: ")?;
        rest.strip_suffix(']')
    }
}

/// One column of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMeta {
    /// The column's name: a registered stable name or one of dizzy's own.
    pub name: String,
    /// Number of chunks (numbered from 0).
    pub chunks: u32,
    /// Number of values.
    pub rows: u64,
    /// Encoded bytes (chunk framing included).
    pub bytes: u64,
    /// Whether its values contain entity references.
    pub has_refs: bool,
}

/// One archetype group of a full snapshot: rows that have exactly these
/// table-stored components.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMeta {
    /// Stable names of the components, in column order.
    pub components: Vec<String>,
    /// Number of rows.
    pub rows: u64,
}

/// The record of one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Snapshot id, increasing.
    pub id: u64,
    /// Full or delta.
    pub kind: SnapshotKind,
    /// For a delta: the snapshot it applies to.
    pub base: Option<u64>,
    /// The engine tick the world had finished.
    pub tick: u64,
    /// Capture time, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Live persisted entities after this snapshot.
    pub entities: u64,
    /// Bytes of chunk data this snapshot wrote.
    pub bytes: u64,
    /// The uid allocator's next value.
    pub uid_next: u64,
    /// Every type the app registered.
    pub schemas: Vec<Schema>,
    /// The columns written.
    pub columns: Vec<ColumnMeta>,
    /// Full snapshots: the archetype groups.
    pub groups: Vec<GroupMeta>,
    /// Deltas: resources that were removed.
    pub removed_resources: Vec<String>,
    /// The app's description (its schedule), as JSON text; may be empty.
    pub app: String,
}

impl SnapshotMeta {
    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&ColumnMeta> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Snapshot records of format 2 and later start with this byte (never the
/// first byte of a format 1 record, whose first field is a bincode varint,
/// for which 255 is invalid), then the record's format version.
const RECORD_TAG: u8 = 0xff;

/// Encodes a snapshot record.
pub(crate) fn encode_meta(meta: &SnapshotMeta) -> Result<Vec<u8>, dizzy_components::CodecError> {
    let mut out = vec![RECORD_TAG, FORMAT_VERSION as u8];
    dizzy_components::codec::encode_into(meta, &mut out)?;
    Ok(out)
}

/// Decodes a snapshot record of any format this build reads.
pub(crate) fn decode_meta(bytes: &[u8]) -> Result<SnapshotMeta, String> {
    use dizzy_components::codec;
    match bytes {
        // Formats 2 and 3 have the same records (3 adds a chunk layout).
        [RECORD_TAG, 2 | 3, rest @ ..] => {
            codec::decode::<SnapshotMeta>(rest).map_err(|e| e.to_string())
        }
        [RECORD_TAG, v, ..] => Err(format!(
            "a record of format {v}, newer than this build reads"
        )),
        _ => codec::decode::<v1::SnapshotMeta>(bytes)
            .map(SnapshotMeta::from)
            .map_err(|e| e.to_string()),
    }
}

/// The records of format 1, read by later builds.
mod v1 {
    use serde::Deserialize;

    use super::{ColumnMeta, GroupMeta, SnapshotKind};
    use dizzy_components::Kind;

    #[derive(Deserialize)]
    pub(super) struct Schema {
        name: String,
        version: u32,
        kind: Kind,
        type_name: String,
    }

    #[derive(Deserialize)]
    pub(super) struct SnapshotMeta {
        id: u64,
        kind: SnapshotKind,
        base: Option<u64>,
        tick: u64,
        unix_ms: u64,
        entities: u64,
        bytes: u64,
        uid_next: u64,
        schemas: Vec<Schema>,
        columns: Vec<ColumnMeta>,
        groups: Vec<GroupMeta>,
        removed_resources: Vec<String>,
        app: String,
    }

    impl From<SnapshotMeta> for super::SnapshotMeta {
        fn from(m: SnapshotMeta) -> Self {
            super::SnapshotMeta {
                id: m.id,
                kind: m.kind,
                base: m.base,
                tick: m.tick,
                unix_ms: m.unix_ms,
                entities: m.entities,
                bytes: m.bytes,
                uid_next: m.uid_next,
                schemas: m
                    .schemas
                    .into_iter()
                    .map(|s| super::Schema {
                        name: s.name,
                        version: s.version,
                        kind: s.kind,
                        type_name: s.type_name,
                        shape: None,
                    })
                    .collect(),
                columns: m.columns,
                groups: m.groups,
                removed_resources: m.removed_resources,
                app: m.app,
            }
        }
    }
}

/// How a chunk's rows are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Rows `start..start+rows` of group `group`: values only.
    Rows { group: u32, start: u32 },
    /// The values, then each row's uid (u64 LE) at the end.
    Keyed,
    /// Uids only; in full snapshots, rows `start..` of group `group`.
    /// Stored packed ([`pack_uid`]) since format 3, as `u64` LE before.
    Uids { group: u32, start: u32 },
}

/// The header tag of a chunk of packed uids (format 3): a `Layout::Uids`
/// chunk whose uids are [`pack_uid`]'s varints, not `u64` LE.
const PACKED_UIDS: u8 = 3;

/// The header tag of a keyed chunk whose uids are packed (format 3): the
/// values, then the uids as [`pack_uid`]'s varints, whose length in bytes
/// is the header's "first row" field.
const PACKED_KEYED: u8 = 4;

/// Writes the header of a keyed chunk of `rows` values followed by
/// `uid_bytes` bytes of packed uids.
pub(crate) fn packed_keyed_header(out: &mut Vec<u8>, rows: u32, uid_bytes: u32) {
    out.extend_from_slice(&[PACKED_KEYED, 0, 0, 0]);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&uid_bytes.to_le_bytes());
    out.extend_from_slice(&rows.to_le_bytes());
}

/// The most bytes one packed uid takes (a LEB128 varint of a `u64`).
pub(crate) const PACKED_UID_MAX: usize = 10;

/// Appends `uid` to a chunk of packed uids: the zigzag of its difference
/// from `prev` (the uid before it in the chunk, 0 for the first), as a
/// LEB128 varint. Uids are handed out in order, so a table's rows mostly
/// hold uids a few apart: one or two bytes each instead of eight.
pub(crate) fn pack_uid(out: &mut Vec<u8>, prev: u64, uid: u64) {
    let d = uid.wrapping_sub(prev) as i64;
    let mut z = ((d << 1) ^ (d >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// The uids of a chunk, as stored in either form.
pub(crate) struct UidsIter<'a> {
    bytes: &'a [u8],
    packed: bool,
    prev: u64,
}

impl Iterator for UidsIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if !self.packed {
            let (head, rest) = self.bytes.split_first_chunk::<8>()?;
            self.bytes = rest;
            return Some(u64::from_le_bytes(*head));
        }
        // `parse` checked that every varint ends within 10 bytes and that
        // the last byte ends one.
        let mut z = 0u64;
        let mut shift = 0u32;
        loop {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            z |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
        self.prev = self.prev.wrapping_add(d as u64);
        Some(self.prev)
    }
}

/// Checks a body of packed uids: `rows` varints of at most
/// [`PACKED_UID_MAX`] bytes, and nothing after the last.
fn check_packed(body: &[u8], rows: u32) -> Result<(), String> {
    let mut ends = 0u64;
    let mut run = 0usize;
    for &b in body {
        run += 1;
        if run > PACKED_UID_MAX {
            return Err(format!("a packed uid longer than {PACKED_UID_MAX} bytes"));
        }
        if b < 0x80 {
            ends += 1;
            run = 0;
        }
    }
    if run != 0 {
        return Err("the last packed uid is cut short".to_owned());
    }
    if ends != u64::from(rows) {
        return Err(format!("chunk claims {rows} uids but holds {ends}"));
    }
    Ok(())
}

pub(crate) const HEADER: usize = 16;

/// Writes a chunk header.
/// The keyed chunk of a relationship's lists (`@order/<name>`): each list
/// (its entries' uids, in order) is a value keyed by its target's uid.
/// Returns the number of lists and the chunk.
pub(crate) fn lists_chunk(
    lists: impl IntoIterator<Item = (u64, Vec<u64>)>,
) -> Result<(u64, Vec<u8>), dizzy_components::codec::CodecError> {
    let mut chunk = vec![0u8; HEADER];
    let mut owners = Vec::new();
    for (target, list) in lists {
        dizzy_components::codec::encode_into(&list, &mut chunk)?;
        owners.push(target);
    }
    for u in &owners {
        chunk.extend_from_slice(&u.to_le_bytes());
    }
    let mut h = Vec::with_capacity(HEADER);
    header(&mut h, Layout::Keyed, owners.len() as u32);
    chunk[..HEADER].copy_from_slice(&h);
    Ok((owners.len() as u64, chunk))
}

/// Writes a chunk header; a `Layout::Uids` chunk is one of packed uids.
pub(crate) fn header(out: &mut Vec<u8>, layout: Layout, rows: u32) {
    let (tag, group, start) = match layout {
        Layout::Rows { group, start } => (0u8, group, start),
        Layout::Keyed => (1, 0, 0),
        Layout::Uids { group, start } => (PACKED_UIDS, group, start),
    };
    out.extend_from_slice(&[tag, 0, 0, 0]);
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&rows.to_le_bytes());
}

/// A chunk split into its parts.
#[derive(Debug)]
pub(crate) struct Chunk<'a> {
    pub layout: Layout,
    pub rows: u32,
    /// The uids (Keyed and Uids layouts): `u64` LE, or packed varints.
    uids: &'a [u8],
    /// Whether `uids` are packed ([`pack_uid`]).
    packed: bool,
    pub payload: &'a [u8],
}

impl Chunk<'_> {
    /// The chunk's uids, in order.
    pub(crate) fn uids(&self) -> UidsIter<'_> {
        UidsIter {
            bytes: self.uids,
            packed: self.packed,
            prev: 0,
        }
    }
}

/// Splits a chunk; `Err` names what is wrong.
pub(crate) fn parse(bytes: &[u8]) -> Result<Chunk<'_>, String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "chunk of {} bytes is shorter than its header",
            bytes.len()
        ));
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let rows = u32_at(12);
    let layout = match bytes[0] {
        0 => Layout::Rows {
            group: u32_at(4),
            start: u32_at(8),
        },
        1 | PACKED_KEYED => Layout::Keyed,
        2 | PACKED_UIDS => Layout::Uids {
            group: u32_at(4),
            start: u32_at(8),
        },
        t => return Err(format!("unknown chunk layout {t}")),
    };
    // Bytes 1..4 are zero in every layout, and so are group and first row
    // in a keyed chunk (but for the length of packed uids): anything else is
    // not a chunk this format wrote.
    let reserved_zero = bytes[1..4] == [0, 0, 0]
        && match bytes[0] {
            1 => bytes[4..12] == [0; 8],
            PACKED_KEYED => bytes[4..8] == [0; 4],
            _ => true,
        };
    if !reserved_zero {
        return Err("chunk header: bytes that must be zero are not".to_owned());
    }
    let body = &bytes[HEADER..];
    if bytes[0] == PACKED_UIDS {
        check_packed(body, rows)?;
        return Ok(Chunk {
            layout,
            rows,
            uids: body,
            packed: true,
            payload: &[],
        });
    }
    if bytes[0] == PACKED_KEYED {
        let uid_bytes = u32_at(8) as usize;
        if body.len() < uid_bytes {
            return Err(format!(
                "chunk claims {uid_bytes} bytes of uids but has {}",
                body.len()
            ));
        }
        let (payload, uids) = body.split_at(body.len() - uid_bytes);
        check_packed(uids, rows)?;
        return Ok(Chunk {
            layout,
            rows,
            uids,
            packed: true,
            payload,
        });
    }
    let uid_bytes = match layout {
        Layout::Rows { .. } => 0,
        Layout::Keyed | Layout::Uids { .. } => rows as usize * 8,
    };
    if body.len() < uid_bytes {
        return Err(format!(
            "chunk claims {rows} uids but has {} bytes",
            body.len()
        ));
    }
    let (payload, uids) = body.split_at(body.len() - uid_bytes);
    if matches!(layout, Layout::Uids { .. }) && !payload.is_empty() {
        return Err(format!("{} stray bytes before the uids", payload.len()));
    }
    Ok(Chunk {
        layout,
        rows,
        uids,
        packed: false,
        payload,
    })
}
