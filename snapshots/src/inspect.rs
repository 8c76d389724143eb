//! Reading what a snapshot holds, as JSON, without restoring a world.
//!
//! [`restore`](crate::restore()) builds a live world and refuses a file that
//! holds types this build does not register. Inspection instead reads the
//! chunks of a snapshot's chain directly (the full snapshot's groups, then
//! each delta's despawns, removals, spawns and values) and turns every value
//! into JSON: entity references stay the uids they are on disk, a null
//! reference is `null`. Nothing is refused: a component this build cannot
//! decode is still reported on every entity that has it (without a value),
//! and named in [`Inspection::undecodable`] (so is a component whose values
//! do not decode as its registered type). The structure of the file —
//! chunk frames, uids, the chain — is checked as strictly as by restore.
//!
//! A value is decoded with the registered type when the file's schema
//! version and kind match the registration, else with the serde shape the
//! file recorded for it (format 2 and later), else not at all.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use dizzy_components::{ColumnOps, Kind, Registry, ResourceOps, is_valid_uid, shape};
use redb::ReadTransaction;
use serde_json::Value;

use crate::error::RestoreError;
use crate::format::{Layout, Schema, SnapshotKind, SnapshotMeta, col, parse};
use crate::restore::chain;
use crate::store::{Store, Stored, read_all_meta, read_chunks};

/// The components of one entity by stable name: `Some(value)` when decoded,
/// `None` when the entity has the component but its value was not decoded
/// (not asked for, or not decodable by this build).
pub type Components = BTreeMap<String, Option<Value>>;

/// Which values to decode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decode {
    /// Every component and resource.
    #[default]
    All,
    /// Only these components and resources (by stable name); the others
    /// are reported present, without values.
    Only(BTreeSet<String>),
    /// Nothing: which entity has which component, only.
    Nothing,
}

impl Decode {
    fn wants(&self, name: &str) -> bool {
        match self {
            Decode::All => true,
            Decode::Only(names) => names.contains(name),
            Decode::Nothing => false,
        }
    }
}

/// The world at one snapshot, as JSON values.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The snapshot inspected.
    pub meta: SnapshotMeta,
    /// Its chain, by id: the full snapshot first, `meta.id` last.
    pub chain: Vec<u64>,
    /// Every persisted entity, by uid, with its components.
    pub entities: BTreeMap<u64, Components>,
    /// Every persisted resource, by stable name (`None`: not decoded).
    pub resources: BTreeMap<String, Option<Value>>,
    /// Components and resources the chain holds whose values this build
    /// cannot decode, each with the reason.
    pub undecodable: BTreeMap<String, String>,
    /// The schemas that earlier snapshots of the chain record and `meta`
    /// does not (a type whose shape or version changed along the chain),
    /// the newest first: a value no later delta wrote again was decoded
    /// with its snapshot's, so its fields are typed by them.
    pub earlier_schemas: Vec<Schema>,
}

impl Inspection {
    /// Whether any entity of the snapshot has component `name`, or the
    /// snapshot's schemas list it (a component may be registered and have
    /// no values).
    pub fn knows_component(&self, name: &str) -> bool {
        self.meta
            .schemas
            .iter()
            .any(|s| s.name == name && s.kind == Kind::Component)
            || self.entities.values().any(|c| c.contains_key(name))
    }
}

/// Reads snapshots of one file as JSON, in one read transaction. Going
/// from a snapshot to a later delta of its chain applies only the deltas in
/// between.
pub struct Inspector<'a> {
    store: &'a Store,
    registry: &'a Registry,
    decode: Decode,
    tx: ReadTransaction,
    state: Option<Inspection>,
    /// Only these entities are kept (`None`: all of them).
    only: Option<BTreeSet<u64>>,
    /// With `only`: every live uid of `state`, so the structure of the
    /// file is checked for the entities left out too.
    live: HashSet<u64>,
}

impl std::fmt::Debug for Inspector<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("store", self.store)
            .field("decode", &self.decode)
            .field("at", &self.state.as_ref().map(|s| s.meta.id))
            .finish()
    }
}

/// The world at `snapshot` (the latest if `None`), every value decoded.
///
/// # Errors
/// The file cannot be read, the snapshot does not exist, or a chunk is damaged
/// ([`RestoreError`]).
pub fn entities_at(
    store: &Store,
    registry: &Registry,
    snapshot: Option<u64>,
) -> Result<Inspection, RestoreError> {
    let mut inspector = Inspector::new(store, registry, Decode::All)?;
    inspector.at(snapshot)?;
    inspector.into_inspection()
}

/// How one column's values are decoded in one snapshot.
enum Decoder<'r> {
    /// By the registered type, whose shape (if traced) gives empty maps
    /// their form ([`shape::empty_maps_as_pairs`]).
    Column(&'r dyn ColumnOps, Option<shape::Shape>),
    Resource(&'r dyn ResourceOps, Option<shape::Shape>),
    /// Stored at another version or shape: brought to the build's (the
    /// migrations and by-name resolution a restore applies), then decoded
    /// as the registered type; by the stored shape if that fails.
    Upgraded {
        reg: &'r dizzy_components::Registration,
        version: u32,
        shape: Option<&'r str>,
    },
    Shape(&'r str),
    /// Not decoded; the reason if it cannot be (vs. not asked for).
    Skip(Option<String>),
}

/// The registered type's shape, if traced and if it has a map whose
/// empty values need rewriting (most types have none: their values are
/// not walked again).
fn registered_shape(reg: &dizzy_components::Registration) -> Option<shape::Shape> {
    shape::read(reg.shape()?)
        .ok()
        .filter(shape::has_maps_of_pairs)
}

impl Decoder<'_> {
    /// Decodes one value at the front of `bytes`.
    fn value(&self, bytes: &[u8]) -> Result<(Value, usize), String> {
        match self {
            Decoder::Column(ops, shape) => {
                let (mut v, used) = ops.to_json(bytes).map_err(|e| e.to_string())?;
                if let Some(shape) = shape {
                    shape::empty_maps_as_pairs(shape, &mut v);
                }
                Ok((v, used))
            }
            Decoder::Resource(ops, shape) => {
                let mut v = ops.to_json(bytes).map_err(|e| e.to_string())?;
                if let Some(shape) = shape {
                    shape::empty_maps_as_pairs(shape, &mut v);
                }
                Ok((v, bytes.len()))
            }
            Decoder::Shape(s) => shape::decode(s, bytes),
            Decoder::Upgraded { .. } | Decoder::Skip(_) => Err("not decoded".to_owned()),
        }
    }

    /// Decodes exactly `rows` values from all of `payload`; `None` when
    /// this column is not decoded.
    fn values(&self, payload: &[u8], rows: usize) -> Result<Option<Vec<Value>>, String> {
        if matches!(self, Decoder::Skip(_)) {
            return Ok(None);
        }
        if let Decoder::Upgraded {
            reg,
            version,
            shape,
        } = self
        {
            let as_registered = match (reg.upgrade(*version, *shape, payload, rows), reg.ops()) {
                (Ok(bytes), dizzy_components::Ops::Component(ops)) => {
                    Decoder::Column(ops.as_ref(), registered_shape(reg))
                        .values(&bytes, rows)
                        .ok()
                }
                (Ok(bytes), dizzy_components::Ops::Resource(ops)) => {
                    Decoder::Resource(ops.as_ref(), registered_shape(reg))
                        .values(&bytes, rows)
                        .ok()
                }
                (Err(_), _) => None,
            };
            return match (as_registered, shape) {
                (Some(values), _) => Ok(values),
                (None, Some(s)) => Decoder::Shape(s).values(payload, rows),
                (None, None) => Ok(None),
            };
        }
        let mut out = Vec::with_capacity(rows.min(payload.len() + 1));
        let mut at = 0;
        for _ in 0..rows {
            let (v, used) = self.value(&payload[at..])?;
            at += used;
            out.push(v);
        }
        if at != payload.len() {
            return Err(format!(
                "{} bytes left after {rows} values",
                payload.len() - at
            ));
        }
        Ok(Some(out))
    }
}

impl<'a> Inspector<'a> {
    /// An inspector of `store`, decoding with `registry`'s types (and the
    /// shapes the file records) what `decode` asks for.
    ///
    /// # Errors
    /// The file's snapshot records cannot be read ([`RestoreError`]).
    pub fn new(
        store: &'a Store,
        registry: &'a Registry,
        decode: Decode,
    ) -> Result<Self, RestoreError> {
        let tx = store.begin_read().map_err(|e| store.restore_storage(e))?;
        Ok(Inspector {
            store,
            registry,
            decode,
            tx,
            state: None,
            only: None,
            live: HashSet::new(),
        })
    }

    /// Keeps only the entities with these uids in every inspection, and
    /// decodes only the chunks that hold a value of one of them: `dizzy
    /// show --uid` on a world of millions reads every uid but decodes a
    /// few chunks. Uids the snapshot does not hold are left out. The
    /// structure of the file is checked as without it (a value for a uid
    /// that does not exist, a uid listed twice).
    #[must_use]
    pub fn only_uids(mut self, uids: BTreeSet<u64>) -> Self {
        self.only = Some(uids);
        self.state = None;
        self
    }

    fn wanted(&self, uid: u64) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&uid))
    }

    fn wants_any(&self, uids: &[u64]) -> bool {
        match &self.only {
            None => true,
            Some(o) => uids.iter().any(|u| o.contains(u)),
        }
    }

    /// Every snapshot record of the file, oldest first.
    ///
    /// # Errors
    /// The file cannot be read or a record is damaged ([`RestoreError`]).
    pub fn snapshots(&self) -> Result<Vec<SnapshotMeta>, RestoreError> {
        read_all_meta(self.store, &self.tx)
    }

    /// The world at `snapshot` (the latest if `None`): its full snapshot
    /// and every delta of its chain up to it.
    ///
    /// # Errors
    /// The snapshot does not exist, its chain is broken, or a chunk is damaged
    /// ([`RestoreError`]).
    pub fn at(&mut self, snapshot: Option<u64>) -> Result<&Inspection, RestoreError> {
        let chain = chain(self.store, &self.tx, snapshot)?;
        let ids: Vec<u64> = chain.iter().map(|m| m.id).collect();
        // Continue from the last state when it is on this chain.
        let from = self
            .state
            .as_ref()
            .and_then(|s| ids.iter().position(|&id| id == s.meta.id));
        let mut live = std::mem::take(&mut self.live);
        let mut state = match (from, self.state.take()) {
            (Some(i), Some(state)) => {
                let mut state = state;
                for meta in &chain[i + 1..] {
                    self.apply_delta(&mut state, &mut live, meta)?;
                }
                state
            }
            _ => {
                live.clear();
                let mut state = self.full(&chain[0], &mut live)?;
                for meta in &chain[1..] {
                    self.apply_delta(&mut state, &mut live, meta)?;
                }
                state
            }
        };
        self.live = live;
        state.chain = ids;
        let mut earlier: Vec<Schema> = Vec::new();
        for meta in chain[..chain.len() - 1].iter().rev() {
            for schema in &meta.schemas {
                if !state.meta.schemas.contains(schema) && !earlier.contains(schema) {
                    earlier.push(schema.clone());
                }
            }
        }
        state.earlier_schemas = earlier;
        let state = self.state.insert(state);
        Ok(state)
    }

    /// The last inspection made by [`Inspector::at`].
    ///
    /// # Errors
    /// No inspection was made yet ([`RestoreError`]).
    pub fn into_inspection(self) -> Result<Inspection, RestoreError> {
        self.state.ok_or_else(|| RestoreError::NoSnapshot {
            path: self.store.path().to_owned(),
        })
    }

    /// For each of `uids`, the first snapshot (by id, up to `up_to`) that
    /// holds it: a full snapshot that lists it or a delta that spawns it.
    /// Uids held by no such snapshot are left out.
    ///
    /// # Errors
    /// The file cannot be read or a chunk is damaged ([`RestoreError`]).
    pub fn first_seen(
        &self,
        uids: &BTreeSet<u64>,
        up_to: u64,
    ) -> Result<BTreeMap<u64, u64>, RestoreError> {
        let mut out = BTreeMap::new();
        for meta in self.snapshots()? {
            if meta.id > up_to || out.len() == uids.len() {
                break;
            }
            let column = match meta.kind {
                SnapshotKind::Full => col::UID,
                SnapshotKind::Delta => col::SPAWN,
            };
            for (_, uids_in) in self.uid_chunks(&meta, column)? {
                for uid in uids_in {
                    if uids.contains(&uid) {
                        out.entry(uid).or_insert(meta.id);
                    }
                }
            }
        }
        Ok(out)
    }

    fn corrupt(
        &self,
        snapshot: u64,
        column: &str,
        chunk: usize,
        reason: impl Into<String>,
    ) -> RestoreError {
        RestoreError::Corrupt {
            path: self.store.path().to_owned(),
            snapshot,
            column: column.to_owned(),
            chunk: chunk as u32,
            reason: reason.into(),
        }
    }

    fn chunks(&self, meta: &SnapshotMeta, column: &str) -> Result<Vec<Stored>, RestoreError> {
        match meta.column(column).map_or(0, |c| c.chunks) {
            0 => Ok(Vec::new()),
            n => read_chunks(self.store, &self.tx, meta.id, column, n),
        }
    }

    /// The uids of a uid column, chunk by chunk, with each chunk's layout.
    fn uid_chunks(
        &self,
        meta: &SnapshotMeta,
        column: &str,
    ) -> Result<Vec<(Layout, Vec<u64>)>, RestoreError> {
        let mut out = Vec::new();
        for (i, bytes) in self.chunks(meta, column)?.iter().enumerate() {
            let chunk = parse(bytes).map_err(|r| self.corrupt(meta.id, column, i, r))?;
            if !matches!(chunk.layout, Layout::Uids { .. }) {
                return Err(self.corrupt(meta.id, column, i, "not a uid chunk"));
            }
            let uids: Vec<u64> = chunk.uids().collect();
            if let Some(bad) = uids.iter().find(|&&u| !is_valid_uid(u)) {
                return Err(self.corrupt(meta.id, column, i, format!("{bad} is not a valid uid")));
            }
            out.push((chunk.layout, uids));
        }
        Ok(out)
    }

    /// How `name`'s values in snapshot `meta` are decoded (`kind`: where the
    /// column says it is).
    fn decoder<'m>(&'m self, meta: &'m SnapshotMeta, name: &str, kind: Kind) -> Decoder<'m> {
        if !self.decode.wants(name) {
            return Decoder::Skip(None);
        }
        let stored = meta.schemas.iter().find(|s| s.name == name);
        let by_shape = || stored.and_then(|s| s.shape.as_deref()).map(Decoder::Shape);
        let reason = match self.registry.get(name) {
            None => "not registered".to_owned(),
            Some(reg) if reg.kind() != kind => {
                format!("a {kind} in the file, registered as a {}", reg.kind())
            }
            Some(reg)
                if stored.is_some_and(|s| {
                    reg.needs_upgrade(s.version, s.shape.as_deref()) && reg.migrates_from(s.version)
                }) =>
            {
                let s = stored.unwrap_or_else(|| unreachable!("checked"));
                return Decoder::Upgraded {
                    reg,
                    version: s.version,
                    shape: s.shape.as_deref(),
                };
            }
            Some(reg) if stored.is_some_and(|s| s.version != reg.version()) => format!(
                "version {} in the file, version {} registered",
                stored.map_or(0, |s| s.version),
                reg.version()
            ),
            Some(reg) => match (reg.column(), reg.resource()) {
                (Some(ops), _) => return Decoder::Column(ops, registered_shape(reg)),
                (_, Some(ops)) => return Decoder::Resource(ops, registered_shape(reg)),
                _ => "no operations registered".to_owned(),
            },
        };
        by_shape().unwrap_or_else(|| {
            Decoder::Skip(Some(format!(
                "{reason}, and the file records no shape for it"
            )))
        })
    }

    /// Decodes one column's chunk payload; `None` (and the reason recorded
    /// in `state`, unless the values were not asked for) when it cannot.
    fn decode_values(
        &self,
        state: &mut Inspection,
        decoder: &Decoder<'_>,
        name: &str,
        (snapshot, column, chunk): (u64, &str, usize),
        payload: &[u8],
        rows: usize,
    ) -> Result<Option<Vec<Value>>, RestoreError> {
        let reason = match decoder {
            Decoder::Skip(reason) => reason.clone(),
            _ => match decoder.values(payload, rows) {
                Ok(values) => return Ok(values),
                // A value that does not decode leaves the rest readable:
                // the component is reported, not the inspection failed.
                Err(e) => {
                    let how = match decoder {
                        Decoder::Shape(_) => "with the shape the file records",
                        _ => "as the registered type",
                    };
                    Some(format!(
                        "does not decode {how}: snapshot {snapshot}, column `{column}`, chunk {chunk}: {e}"
                    ))
                }
            },
        };
        if let Some(reason) = reason {
            state.undecodable.entry(name.to_owned()).or_insert(reason);
        }
        Ok(None)
    }

    fn full(
        &self,
        meta: &SnapshotMeta,
        live: &mut HashSet<u64>,
    ) -> Result<Inspection, RestoreError> {
        let snap = meta.id;
        let mut state = Inspection {
            meta: meta.clone(),
            chain: vec![snap],
            entities: BTreeMap::new(),
            resources: BTreeMap::new(),
            undecodable: BTreeMap::new(),
            earlier_schemas: Vec::new(),
        };
        // The rows of every group, by uid; each gets its group's components.
        let mut groups: Vec<Vec<u64>> = vec![Vec::new(); meta.groups.len()];
        for (i, (layout, uids)) in self.uid_chunks(meta, col::UID)?.into_iter().enumerate() {
            let Layout::Uids { group, start } = layout else {
                continue;
            };
            let rows = groups
                .get_mut(group as usize)
                .ok_or_else(|| self.corrupt(snap, col::UID, i, "a group that does not exist"))?;
            if rows.len() != start as usize {
                return Err(self.corrupt(
                    snap,
                    col::UID,
                    i,
                    format!("rows from {start} follow {} rows", rows.len()),
                ));
            }
            rows.extend(uids);
        }
        for (gi, (g, uids)) in meta.groups.iter().zip(&groups).enumerate() {
            if uids.len() as u64 != g.rows {
                return Err(self.corrupt(
                    snap,
                    col::UID,
                    0,
                    format!("group {gi} has {} uids for {} rows", uids.len(), g.rows),
                ));
            }
            for &uid in uids {
                let twice = if self.only.is_some() {
                    if self.wanted(uid) {
                        let components = g.components.iter().map(|n| (n.clone(), None)).collect();
                        state.entities.insert(uid, components);
                    }
                    !live.insert(uid)
                } else {
                    let components = g.components.iter().map(|n| (n.clone(), None)).collect();
                    state.entities.insert(uid, components).is_some()
                };
                if twice {
                    return Err(self.corrupt(
                        snap,
                        col::UID,
                        0,
                        format!("uid {uid} appears twice"),
                    ));
                }
            }
        }
        for c in meta.columns.iter().filter(|c| !c.name.starts_with('@')) {
            let decoder = self.decoder(meta, &c.name, Kind::Component);
            for (i, bytes) in self.chunks(meta, &c.name)?.iter().enumerate() {
                let chunk = parse(bytes).map_err(|r| self.corrupt(snap, &c.name, i, r))?;
                let rows = chunk.rows as usize;
                let at = (snap, c.name.as_str(), i);
                // The rows' uids first: they bound how many values are
                // decoded by what the file holds (a value may take no bytes).
                let in_group = matches!(chunk.layout, Layout::Rows { .. });
                let uids: Vec<u64> = match chunk.layout {
                    Layout::Rows { group, start } => {
                        let start = start as usize;
                        groups
                            .get(group as usize)
                            .and_then(|g| g.get(start..start.checked_add(rows)?))
                            .ok_or_else(|| {
                                self.corrupt(snap, &c.name, i, "rows beyond their group")
                            })?
                            .to_vec()
                    }
                    Layout::Keyed => chunk.uids().collect(),
                    Layout::Uids { .. } => {
                        return Err(self.corrupt(snap, &c.name, i, "a uid chunk"));
                    }
                };
                let values = if self.wants_any(&uids) {
                    self.decode_values(&mut state, &decoder, &c.name, at, chunk.payload, rows)?
                } else if in_group {
                    // Rows of a group: live by construction, none wanted.
                    continue;
                } else {
                    None
                };
                self.set_values(&mut state, live, &c.name, at, &uids, values)?;
            }
        }
        self.apply_resources(&mut state, meta)?;
        Ok(state)
    }

    /// Gives each of `uids` component `name`, with its value if decoded.
    fn set_values(
        &self,
        state: &mut Inspection,
        live: &HashSet<u64>,
        name: &str,
        (snapshot, column, chunk): (u64, &str, usize),
        uids: &[u64],
        values: Option<Vec<Value>>,
    ) -> Result<(), RestoreError> {
        let mut values = values.map(Vec::into_iter);
        for &uid in uids {
            let value = values.as_mut().and_then(Iterator::next);
            let missing = || {
                self.corrupt(
                    snapshot,
                    column,
                    chunk,
                    format!("a value for uid {uid}, which does not exist"),
                )
            };
            if self.only.is_some() && !self.wanted(uid) {
                if !live.contains(&uid) {
                    return Err(missing());
                }
                continue;
            }
            let components = state.entities.get_mut(&uid).ok_or_else(missing)?;
            components.insert(name.to_owned(), value);
        }
        Ok(())
    }

    fn apply_delta(
        &self,
        state: &mut Inspection,
        live: &mut HashSet<u64>,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        for (_, uids) in self.uid_chunks(meta, col::DESPAWN)? {
            for uid in uids {
                state.entities.remove(&uid);
                live.remove(&uid);
            }
        }
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::REMOVE))
        {
            let name = &c.name[col::REMOVE.len()..];
            for (_, uids) in self.uid_chunks(meta, &c.name)? {
                for uid in uids {
                    if let Some(components) = state.entities.get_mut(&uid) {
                        components.remove(name);
                    }
                }
            }
        }
        for (_, uids) in self.uid_chunks(meta, col::SPAWN)? {
            for uid in uids {
                if self.wanted(uid) {
                    state.entities.entry(uid).or_default();
                }
                if self.only.is_some() {
                    live.insert(uid);
                }
            }
        }
        for c in meta.columns.iter().filter(|c| !c.name.starts_with('@')) {
            let decoder = self.decoder(meta, &c.name, Kind::Component);
            for (i, bytes) in self.chunks(meta, &c.name)?.iter().enumerate() {
                let chunk = parse(bytes).map_err(|r| self.corrupt(snap, &c.name, i, r))?;
                if chunk.layout != Layout::Keyed {
                    return Err(self.corrupt(snap, &c.name, i, "not a keyed chunk"));
                }
                let at = (snap, c.name.as_str(), i);
                let rows = chunk.rows as usize;
                let uids: Vec<u64> = chunk.uids().collect();
                let values = if self.wants_any(&uids) {
                    self.decode_values(state, &decoder, &c.name, at, chunk.payload, rows)?
                } else {
                    None
                };
                self.set_values(state, live, &c.name, at, &uids, values)?;
            }
        }
        self.apply_resources(state, meta)?;
        state.meta = meta.clone();
        Ok(())
    }

    fn apply_resources(
        &self,
        state: &mut Inspection,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
        let snap = meta.id;
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::RESOURCE))
        {
            let name = &c.name[col::RESOURCE.len()..];
            let decoder = self.decoder(meta, name, Kind::Resource);
            for (i, bytes) in self.chunks(meta, &c.name)?.iter().enumerate() {
                let chunk = parse(bytes).map_err(|r| self.corrupt(snap, &c.name, i, r))?;
                if chunk.layout != Layout::Keyed || chunk.rows != 1 {
                    return Err(self.corrupt(snap, &c.name, i, "not a resource chunk"));
                }
                let at = (snap, c.name.as_str(), i);
                let value = self
                    .decode_values(state, &decoder, name, at, chunk.payload, 1)?
                    .and_then(|v| v.into_iter().next());
                state.resources.insert(name.to_owned(), value);
            }
        }
        for name in &meta.removed_resources {
            state.resources.remove(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
