//! What the pages read: the file's snapshot records and the worlds at its
//! snapshots, through one [`Store`] handle (a read-only open of a saved
//! file, or a running app's own handle, whose read transactions run beside
//! its writer). Snapshots never change once committed, so what was read of
//! one is kept (a few worlds, the newest used first) and new snapshots are
//! picked up as they land.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dizzy_components::{CAUSED_BY, Registry, shape};
use dizzy_snapshots::{
    Decode, Inspection, Inspector, RestoreError, SnapshotMeta, SnapshotRef, Store,
};

use crate::error::PageError;

/// Worlds kept decoded (each holds every value of a snapshot as JSON).
const KEPT_WORLDS: usize = 2;

/// One reference from a value to an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The entity holding the reference.
    pub(crate) from: u64,
    /// The component (stable name) holding it.
    pub(crate) component: String,
    /// Where in the value (JSON pointer; empty for the whole value).
    pub(crate) pointer: String,
    /// The entity referred to.
    pub(crate) to: u64,
}

/// The world at one snapshot, with what the pages derive from it.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) inspection: Inspection,
    /// Entity references by the component that holds them: component ->
    /// uid -> pointers of references in its value (and their targets).
    pub(crate) references: BTreeMap<String, BTreeMap<u64, Vec<(String, u64)>>>,
    /// References by target uid.
    pub(crate) incoming: BTreeMap<u64, Vec<Reference>>,
    /// Components whose columns the file marks as holding references
    /// (`ColumnMeta::has_refs`) in this snapshot's chain.
    pub(crate) marked: BTreeSet<String>,
}

impl World {
    fn new(inspection: Inspection, chain: &[Arc<SnapshotMeta>]) -> World {
        let meta = &inspection.meta;
        let marked: BTreeSet<String> = chain
            .iter()
            .flat_map(|m| m.columns.iter())
            .filter(|c| c.has_refs && !c.name.starts_with('@'))
            .map(|c| c.name.clone())
            .collect();
        let shapes: BTreeMap<&str, &str> = meta
            .schemas
            .iter()
            .filter_map(|s| Some((s.name.as_str(), s.shape.as_deref()?)))
            .collect();
        let mut references: BTreeMap<String, BTreeMap<u64, Vec<(String, u64)>>> = BTreeMap::new();
        let mut incoming: BTreeMap<u64, Vec<Reference>> = BTreeMap::new();
        for (&uid, components) in &inspection.entities {
            for (name, value) in components {
                let Some(value) = value else { continue };
                let found = if name == CAUSED_BY {
                    // Lineage: the cause's uid (a plain number on disk).
                    value
                        .as_u64()
                        .map(|to| vec![(String::new(), to)])
                        .unwrap_or_default()
                } else if marked.contains(name) {
                    shapes
                        .get(name.as_str())
                        .map(|s| shape::references(s, value))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                if found.is_empty() {
                    continue;
                }
                // Lineage has its own section: causes are not listed as
                // incoming references of every directory.
                for (pointer, to) in found.iter().filter(|_| name != CAUSED_BY) {
                    incoming.entry(*to).or_default().push(Reference {
                        from: uid,
                        component: name.clone(),
                        pointer: pointer.clone(),
                        to: *to,
                    });
                }
                references
                    .entry(name.clone())
                    .or_default()
                    .insert(uid, found);
            }
        }
        World {
            inspection,
            references,
            incoming,
            marked,
        }
    }

    /// The references inside `uid`'s value of `component`.
    pub(crate) fn references_of(&self, component: &str, uid: u64) -> &[(String, u64)] {
        self.references
            .get(component)
            .and_then(|m| m.get(&uid))
            .map_or(&[], Vec::as_slice)
    }
}

#[derive(Default)]
struct Cache {
    /// Every snapshot record read so far, by id.
    metas: BTreeMap<u64, Arc<SnapshotMeta>>,
    /// Ids of the snapshots the file held at the last look.
    ids: Vec<u64>,
    /// Decoded worlds, most recently used last.
    worlds: Vec<(u64, Arc<World>)>,
}

/// The file behind the explorer.
pub(crate) struct Source {
    store: Store,
    registry: Arc<Registry>,
    cache: Mutex<Cache>,
    /// Held while a world is decoded: one at a time (memory stays bounded
    /// by the kept worlds and the one being made).
    decoding: Mutex<()>,
    /// Whether a running app writes the file (pages then refresh).
    live: bool,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("store", &self.store)
            .field("live", &self.live)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A page that panicked cannot leave the cache half-changed: every
    // change is one assignment. Keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Source {
    pub(crate) fn new(store: Store, registry: Arc<Registry>, live: bool) -> Source {
        Source {
            store,
            registry,
            cache: Mutex::new(Cache::default()),
            decoding: Mutex::new(()),
            live,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn live(&self) -> bool {
        self.live
    }

    fn read_error(&self, e: RestoreError) -> PageError {
        PageError::internal(e.to_string())
    }

    /// Every snapshot record the file holds now, oldest first. Only what
    /// is new since the last look is read: the records after the newest
    /// known one, and (when retention deleted some meanwhile, which the
    /// count tells) the list of ids.
    pub(crate) fn snapshots(&self) -> Result<Vec<Arc<SnapshotMeta>>, PageError> {
        let count = self
            .store
            .snapshot_count()
            .map_err(|e| self.read_error(e))?;
        let known_last = lock(&self.cache).ids.last().copied();
        let new = self
            .store
            .snapshots_after(known_last)
            .map_err(|e| self.read_error(e))?;
        let mut c = lock(&self.cache);
        if c.ids.last().copied() != known_last {
            // Another request refreshed meanwhile: start over next time.
            c.ids.clear();
            c.metas.clear();
        }
        for m in new {
            c.ids.push(m.id);
            c.metas.insert(m.id, Arc::new(m));
        }
        if c.ids.len() as u64 != count {
            drop(c);
            let ids = self.store.snapshot_ids().map_err(|e| self.read_error(e))?;
            c = lock(&self.cache);
            let held: BTreeSet<u64> = ids.iter().copied().collect();
            c.metas.retain(|id, _| held.contains(id));
            let missing: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| !c.metas.contains_key(id))
                .collect();
            drop(c);
            let mut read = Vec::new();
            for id in missing {
                match self.store.snapshot(id) {
                    Ok(m) => read.push(m),
                    // Deleted by retention since the ids were read.
                    Err(RestoreError::UnknownSnapshot { .. }) => {}
                    Err(e) => return Err(self.read_error(e)),
                }
            }
            c = lock(&self.cache);
            for m in read {
                c.metas.insert(m.id, Arc::new(m));
            }
            c.ids = ids
                .into_iter()
                .filter(|id| c.metas.contains_key(id))
                .collect();
        }
        Ok(c.ids
            .iter()
            .filter_map(|id| c.metas.get(id).cloned())
            .collect())
    }

    /// The id `at` names (`latest`, `latest~N` or an id), or 404.
    pub(crate) fn resolve(&self, at: &str) -> Result<u64, PageError> {
        let r: SnapshotRef = at.parse().map_err(|e: dizzy_snapshots::SnapshotRefError| {
            PageError::bad_request(e.to_string())
        })?;
        let metas = self.snapshots()?;
        let ids: Vec<u64> = metas.iter().map(|m| m.id).collect();
        r.pick(&ids).ok_or_else(|| {
            PageError::not_found(match r {
                SnapshotRef::Id(id) => format!("no snapshot {id} in this file"),
                SnapshotRef::Latest(_) => {
                    format!("no snapshot {r}: the file holds {} snapshots", ids.len())
                }
            })
        })
    }

    /// The record of snapshot `id`.
    pub(crate) fn meta(&self, id: u64) -> Result<Arc<SnapshotMeta>, PageError> {
        if let Some(m) = lock(&self.cache).metas.get(&id) {
            return Ok(m.clone());
        }
        self.snapshots()?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| PageError::not_found(format!("no snapshot {id} in this file")))
    }

    /// The world at snapshot `id`, every value decoded.
    pub(crate) fn world(&self, id: u64) -> Result<Arc<World>, PageError> {
        if let Some(w) = self.kept(id) {
            return Ok(w);
        }
        let _one_at_a_time = lock(&self.decoding);
        // Another request may have made it meanwhile.
        if let Some(w) = self.kept(id) {
            return Ok(w);
        }
        let mut inspector = Inspector::new(&self.store, &self.registry, Decode::All)
            .map_err(|e| self.read_error(e))?;
        let inspection = inspector
            .at(Some(id))
            .map_err(|e| match e {
                RestoreError::UnknownSnapshot { id, .. } => {
                    PageError::not_found(format!("no snapshot {id} in this file"))
                }
                e => self.read_error(e),
            })?
            .clone();
        drop(inspector);
        let chain: Vec<Arc<SnapshotMeta>> = inspection
            .chain
            .iter()
            .map(|&c| self.meta(c))
            .collect::<Result<_, _>>()?;
        let world = Arc::new(World::new(inspection, &chain));
        let mut c = lock(&self.cache);
        c.worlds.retain(|(w, _)| *w != id);
        c.worlds.push((id, world.clone()));
        if c.worlds.len() > KEPT_WORLDS {
            c.worlds.remove(0);
        }
        Ok(world)
    }

    fn kept(&self, id: u64) -> Option<Arc<World>> {
        let mut c = lock(&self.cache);
        let i = c.worlds.iter().position(|(w, _)| *w == id)?;
        let entry = c.worlds.remove(i);
        let world = entry.1.clone();
        c.worlds.push(entry);
        Some(world)
    }

    /// For each of `uids`, the first snapshot (up to `up_to`) that holds it.
    pub(crate) fn first_seen(
        &self,
        uids: &BTreeSet<u64>,
        up_to: u64,
    ) -> Result<BTreeMap<u64, u64>, PageError> {
        let inspector = Inspector::new(&self.store, &self.registry, Decode::Nothing)
            .map_err(|e| self.read_error(e))?;
        inspector
            .first_seen(uids, up_to)
            .map_err(|e| self.read_error(e))
    }
}

#[cfg(test)]
mod tests {
    use dizzy::prelude::*;

    use super::*;

    #[derive(Component, Serialize, Deserialize)]
    struct Count(u64);

    fn bump(mut q: Query<&mut Count>) {
        for mut c in &mut q {
            c.0 += 1;
        }
    }

    /// The records a source lists are the file's, as snapshots land and
    /// retention deletes old ones, read through the running app's handle.
    #[test]
    fn follows_new_and_deleted_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = App::new()
            .db(dir.path().join("c.redb"))
            .component::<Count>("count")
            .systems(bump)
            .snapshot_every_ticks(1)
            .keep_last(2)
            .open()
            .unwrap();
        rt.spawn(Count(0));
        let source = Source::new(rt.store().unwrap().clone(), rt.shared_registry(), true);
        assert!(source.snapshots().unwrap().is_empty());
        for _ in 0..3 {
            rt.run_ticks(4).unwrap();
            rt.snapshot().unwrap();
            rt.flush().unwrap();
            let listed: Vec<u64> = source.snapshots().unwrap().iter().map(|m| m.id).collect();
            assert_eq!(listed, rt.store().unwrap().snapshot_ids().unwrap());
            let newest = *listed.last().unwrap();
            assert_eq!(source.resolve("latest").unwrap(), newest);
            let world = source.world(newest).unwrap();
            let (_, c) = world.inspection.entities.iter().next().unwrap();
            assert_eq!(c["count"], Some(serde_json::json!(rt.tick_count())));
        }
        assert_eq!(source.resolve("999").unwrap_err().status, 404);
        assert_eq!(source.resolve("latest~99").unwrap_err().status, 404);
        assert_eq!(source.resolve("x").unwrap_err().status, 400);
        rt.close().unwrap();
    }
}
