//! What each component of a snapshot holds and costs.

use std::collections::BTreeMap;

use dizzy_components::Kind;

use crate::format::col;
use crate::inspect::Inspection;

/// One component (or resource) in one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnStats {
    /// Entities that have it, in the world at the snapshot (0 for a
    /// resource).
    pub entities: u64,
    /// Values this snapshot wrote (all of them in a full snapshot, the
    /// changed ones in a delta).
    pub written: u64,
    /// Bytes of those values' chunks (framing included), and of the
    /// removals a delta records for it.
    pub bytes: u64,
}

/// The statistics of one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every component the snapshot's app registered or its entities have,
    /// by stable name.
    pub components: BTreeMap<String, ColumnStats>,
    /// Every resource of the world at the snapshot, by stable name.
    pub resources: BTreeMap<String, ColumnStats>,
    /// Bytes of dizzy's own columns (uids, spawns, despawns).
    pub own_bytes: u64,
}

/// Per component and resource of `inspection`: entities that have it,
/// values the snapshot wrote and their bytes. Only presence is needed:
/// an inspection made with [`Decode::Nothing`](crate::Decode::Nothing)
/// serves.
pub fn stats(inspection: &Inspection) -> Stats {
    let meta = &inspection.meta;
    let mut components: BTreeMap<String, ColumnStats> = meta
        .schemas
        .iter()
        .filter(|s| s.kind == Kind::Component)
        .map(|s| (s.name.clone(), ColumnStats::default()))
        .collect();
    for c in inspection.entities.values() {
        for name in c.keys() {
            components.entry(name.clone()).or_default().entities += 1;
        }
    }
    let mut resources: BTreeMap<String, ColumnStats> = inspection
        .resources
        .keys()
        .map(|n| (n.clone(), ColumnStats::default()))
        .collect();
    let mut own_bytes = 0;
    for c in &meta.columns {
        if let Some(name) = c.name.strip_prefix(col::RESOURCE) {
            let r = resources.entry(name.to_owned()).or_default();
            r.written += c.rows;
            r.bytes += c.bytes;
        } else if let Some(name) = c.name.strip_prefix(col::REMOVE) {
            components.entry(name.to_owned()).or_default().bytes += c.bytes;
        } else if c.name.starts_with('@') {
            own_bytes += c.bytes;
        } else {
            let column = components.entry(c.name.clone()).or_default();
            column.written += c.rows;
            column.bytes += c.bytes;
        }
    }
    Stats {
        components,
        resources,
        own_bytes,
    }
}
