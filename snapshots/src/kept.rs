//! Values of components and resources this build does not register, kept
//! byte for byte (restore with [`Unknown::Keep`](crate::Unknown::Keep)) and
//! written again into every later snapshot: a tool built without some plugin
//! never destroys that plugin's data. Bundles carry them too: the
//! functions at the end find their references and cut them into bundle
//! columns, by the shapes their files recorded.

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::change_detection::Tick;
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use dizzy_components::{ENTITY, RefPolicy, Uid, UidMap, Uids, is_valid_uid, shape};

use crate::bundle::{BundleBody, ExportError, ImportError};
use crate::format::{HEADER, Layout, Schema, header};

/// Kept values, by stable name and uid, with their recorded schemas, and
/// what the snapshot recorded about them beside their values: the change
/// ticks of those changed in its window (`@ages/<name>`) and, for a
/// relationship, the order of its targets' lists (`@order/<name>`).
/// Written again into later snapshots, so that a resume by a build that
/// registers the type sees the same changes and the same lists.
#[derive(Resource, Debug, Default)]
pub struct Kept {
    schemas: BTreeMap<String, Schema>,
    components: BTreeMap<String, UidMap<Vec<u8>>>,
    resources: BTreeMap<String, Vec<u8>>,
    /// By name: (uid, changed tick, added tick if in the window), as ticks
    /// of this world.
    ticks: BTreeMap<String, Vec<(u64, Tick, Option<Tick>)>>,
    /// By name: target uid -> its entries' uids, in order.
    orders: BTreeMap<String, BTreeMap<u64, Vec<u64>>>,
    /// By name: a kept resource's changed tick, and added tick if in the
    /// window, when its snapshot recorded it as changed.
    resource_ticks: BTreeMap<String, (Tick, Option<Tick>)>,
    /// The schemas the snapshot records of types this build does not
    /// register and holds no value of (a resource a system removed, a
    /// component no entity has): written again, so that the app that owns
    /// the file finds them recorded and does not take them for types
    /// registered since (it would insert a removed resource's initial
    /// value again).
    recorded: BTreeMap<String, Schema>,
    /// The lists of [`Kept::orders`] changed since the last capture, which
    /// a delta writes: (name, target).
    changed_orders: BTreeSet<(String, u64)>,
    /// By name, when its values were stored at more than one schema (a
    /// chain whose deltas hold values written after a version or shape
    /// change, a bundle of another build): the schemas other than
    /// [`Kept::schemas`]'s, and the uids whose value is at one of them (its
    /// index). This build cannot bring such values to one schema, so no
    /// snapshot or bundle writes them together ([`Kept::mixed`]).
    others: BTreeMap<String, (Vec<Schema>, UidMap<usize>)>,
}

/// Whether values of `a` and `b` are written alike.
fn same_schema(a: &Schema, b: &Schema) -> bool {
    a.version == b.version && a.shape == b.shape
}

/// "version 1 and version 2", or "two shapes of version 1".
fn two_schemas(a: &Schema, b: &Schema) -> String {
    if a.version == b.version {
        format!("two shapes of version {}", a.version)
    } else {
        format!(
            "version {} and version {}",
            a.version.min(b.version),
            a.version.max(b.version)
        )
    }
}

impl Kept {
    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.components.values().all(|m| m.is_empty()) && self.resources.is_empty()
    }

    /// The names kept, components then resources.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.components
            .keys()
            .chain(self.resources.keys())
            .map(String::as_str)
    }

    /// The schemas of what is kept.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        self.schemas.values()
    }

    /// Remembers the schemas of a restored snapshot for types this build
    /// does not register (see [`Kept::recorded_schemas`]).
    pub(crate) fn keep_schemas<'s>(&mut self, schemas: impl Iterator<Item = &'s Schema>) {
        for s in schemas {
            self.recorded.insert(s.name.clone(), s.clone());
        }
    }

    /// The schemas to write into a snapshot for the types this build does
    /// not register: those of the kept values, and those the restored
    /// snapshot recorded without a value.
    pub(crate) fn recorded_schemas(&self) -> impl Iterator<Item = &Schema> {
        self.schemas.values().chain(
            self.recorded
                .values()
                .filter(|s| !self.schemas.contains_key(&s.name)),
        )
    }

    /// How many values of component `name` are kept.
    pub fn count(&self, name: &str) -> usize {
        self.components.get(name).map_or(0, |m| m.len())
    }

    /// The recorded schema of kept `name`.
    pub(crate) fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.get(name)
    }

    /// The names of the kept components (not resources).
    pub(crate) fn component_names(&self) -> impl Iterator<Item = &str> {
        self.components.keys().map(String::as_str)
    }

    /// The value of kept component `name` on `uid`.
    pub(crate) fn get(&self, name: &str, uid: u64) -> Option<&[u8]> {
        self.components.get(name)?.get(&uid).map(Vec::as_slice)
    }

    /// The uids that hold a value of kept component `name`.
    pub(crate) fn holders(&self, name: &str) -> Vec<u64> {
        self.components
            .get(name)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    pub(crate) fn put(&mut self, schema: &Schema, uid: u64, bytes: Vec<u8>) {
        let first = self
            .schemas
            .entry(schema.name.clone())
            .or_insert_with(|| schema.clone());
        if same_schema(first, schema) {
            if let Some((_, at)) = self.others.get_mut(&schema.name) {
                at.remove(&uid);
            }
        } else {
            let (list, at) = self.others.entry(schema.name.clone()).or_default();
            let i = match list.iter().position(|s| same_schema(s, schema)) {
                Some(i) => i,
                None => {
                    list.push(schema.clone());
                    list.len() - 1
                }
            };
            at.insert(uid, i);
        }
        self.components
            .entry(schema.name.clone())
            .or_default()
            .insert(uid, bytes);
    }

    pub(crate) fn remove(&mut self, name: &str, uid: u64) {
        if let Some(m) = self.components.get_mut(name) {
            m.remove(&uid);
        }
        if let Some((_, at)) = self.others.get_mut(name) {
            at.remove(&uid);
        }
    }

    pub(crate) fn despawn(&mut self, uid: u64) {
        for m in self.components.values_mut() {
            m.remove(&uid);
        }
        for (_, at) in self.others.values_mut() {
            at.remove(&uid);
        }
    }

    /// Settles the schemas of values put at more than one: a name whose
    /// values are all at one schema now takes that schema.
    pub(crate) fn settle(&mut self) {
        let names: Vec<String> = self.others.keys().cloned().collect();
        for name in names {
            let Some(values) = self.components.get(&name) else {
                self.others.remove(&name);
                continue;
            };
            let (list, at) = &self.others[&name];
            let at_first = values.keys().filter(|u| !at.contains_key(u)).count();
            let used: BTreeSet<usize> = at
                .iter()
                .filter(|(u, _)| values.contains_key(u))
                .map(|(_, &i)| i)
                .collect();
            if used.is_empty() {
                self.others.remove(&name);
            } else if at_first == 0
                && used.len() == 1
                && let Some(&i) = used.first()
            {
                self.schemas.insert(name.clone(), list[i].clone());
                self.others.remove(&name);
            }
        }
    }

    /// A kept component whose values (of `only`, when given: (name, uid))
    /// are not all at the schema a snapshot or bundle would record for
    /// them: its name and the schemas, "version 1 and version 2" (a name
    /// whose values all moved to one schema was settled at the end of the
    /// restore, [`Kept::settle`]).
    pub(crate) fn mixed(&self, only: Option<&[(String, u64)]>) -> Option<(String, String)> {
        for (name, (list, at)) in &self.others {
            let Some(values) = self.components.get(name) else {
                continue;
            };
            let first = self.schemas.get(name)?;
            let other = at.iter().find(|(u, _)| {
                values.contains_key(u)
                    && only.is_none_or(|only| only.iter().any(|(n, o)| n == name && o == *u))
            });
            if let Some((_, &i)) = other {
                return Some((name.clone(), two_schemas(first, &list[i])));
            }
        }
        None
    }

    /// Whether kept `name` holds values at a schema other than `schema`
    /// (a bundle's, to import beside them): the two, "version 1 and
    /// version 2".
    pub(crate) fn differs(&self, schema: &Schema) -> Option<String> {
        let first = self.schemas.get(&schema.name)?;
        if self.count(&schema.name) == 0 {
            return None;
        }
        if !same_schema(first, schema) {
            return Some(two_schemas(first, schema));
        }
        let (list, at) = self.others.get(&schema.name)?;
        at.values().next().map(|&i| two_schemas(schema, &list[i]))
    }

    pub(crate) fn put_resource(&mut self, schema: &Schema, bytes: Vec<u8>) {
        self.schemas
            .entry(schema.name.clone())
            .or_insert_with(|| schema.clone());
        self.resources.insert(schema.name.clone(), bytes);
    }

    pub(crate) fn remove_resource(&mut self, name: &str) {
        self.resources.remove(name);
    }

    /// Sets the change ticks recorded for the values of kept `name`.
    pub(crate) fn keep_ticks(&mut self, name: &str, ticks: Vec<(u64, Tick, Option<Tick>)>) {
        // A kept relationship's target lists (`@target/<name>`) too.
        let of = name.strip_prefix(crate::detect::TARGET).unwrap_or(name);
        if self.components.contains_key(of) {
            self.ticks.insert(name.to_owned(), ticks);
        }
    }

    /// Records values of kept `name` written at tick `now`: (uid, whether
    /// the value is new to its entity, so added now too).
    pub(crate) fn note_written(&mut self, name: &str, written: &[(u64, bool)], now: Tick) {
        if written.is_empty() {
            return;
        }
        let ticks = self.ticks.entry(name.to_owned()).or_default();
        let by_uid: UidMap<bool> = written.iter().copied().collect();
        // A replaced value keeps the added tick recorded for it.
        let mut added_before: UidMap<Option<Tick>> = UidMap::default();
        ticks.retain(|(uid, _, added)| {
            let replaced = by_uid.contains_key(uid);
            if replaced {
                added_before.insert(*uid, *added);
            }
            !replaced
        });
        ticks.extend(written.iter().map(|&(uid, fresh)| {
            let added = if fresh {
                Some(now)
            } else {
                added_before.get(&uid).copied().flatten()
            };
            (uid, now, added)
        }));
    }

    /// The change ticks recorded for kept values that still exist: (name,
    /// uid, changed, added).
    pub(crate) fn recorded_ticks(
        &self,
        uids: &Uids,
    ) -> impl Iterator<Item = (&str, u64, Tick, Option<Tick>)> {
        self.ticks.iter().flat_map(move |(name, v)| {
            v.iter()
                .filter(move |(uid, ..)| {
                    // A target list's holder is the target, which holds no
                    // kept value of the relationship.
                    uids.entity(*uid).is_some()
                        && (name.starts_with(crate::detect::TARGET)
                            || self.get(name, *uid).is_some())
                })
                .map(move |&(uid, c, a)| (name.as_str(), uid, c, a))
        })
    }

    /// Sets the change ticks recorded for kept resource `name`.
    pub(crate) fn keep_resource_ticks(&mut self, name: &str, changed: Tick, added: Option<Tick>) {
        if self.resources.contains_key(name) {
            self.resource_ticks
                .insert(name.to_owned(), (changed, added));
        }
    }

    /// The change ticks recorded for kept resources that are still kept:
    /// (name, changed, added).
    pub(crate) fn recorded_resource_ticks(
        &self,
    ) -> impl Iterator<Item = (&str, Tick, Option<Tick>)> {
        self.resource_ticks
            .iter()
            .filter(|(name, _)| self.resources.contains_key(*name))
            .map(|(name, &(c, a))| (name.as_str(), c, a))
    }

    /// Records the list of `target` for kept relationship `name`.
    pub(crate) fn set_order(&mut self, name: &str, target: u64, entries: Vec<u64>) {
        self.orders
            .entry(name.to_owned())
            .or_default()
            .insert(target, entries);
    }

    /// Notes that kept `name` is a relationship (its snapshot records its
    /// lists, if only as an empty column).
    pub(crate) fn mark_relationship(&mut self, name: &str) {
        self.orders.entry(name.to_owned()).or_default();
    }

    /// The length of the list of `target` of kept relationship `name`, as
    /// recorded (0 for none).
    pub(crate) fn list_len(&self, name: &str, target: u64) -> usize {
        self.orders
            .get(name)
            .and_then(|l| l.get(&target))
            .map_or(0, Vec::len)
    }

    /// Whether kept `name` is known to be a relationship (its lists are
    /// recorded).
    pub(crate) fn is_relationship(&self, name: &str) -> bool {
        self.orders.contains_key(name)
    }

    /// Makes sure the list of `target` for kept relationship `name` is
    /// recorded before values are written: a list of fewer than two
    /// entries is never recorded, so it is the holders whose value names
    /// `target` (by uid).
    pub(crate) fn list_before_writes(&mut self, name: &str, target: u64) {
        if self
            .orders
            .get(name)
            .is_some_and(|l| l.contains_key(&target))
        {
            return;
        }
        let shape = shape_with_refs(self, name).map(str::to_owned);
        let mut holders: Vec<u64> = match (&shape, self.components.get(name)) {
            (Some(shape), Some(values)) => values
                .iter()
                .filter(|(_, bytes)| targets(shape, bytes).contains(&target))
                .map(|(&uid, _)| uid)
                .collect(),
            _ => Vec::new(),
        };
        holders.sort_unstable();
        self.orders
            .entry(name.to_owned())
            .or_default()
            .insert(target, holders);
    }

    /// Moves `holder` to the end of the list of `target` for kept
    /// relationship `name`, off any other list: what bevy does when a
    /// relationship is inserted.
    pub(crate) fn relate(&mut self, name: &str, holder: u64, target: u64) {
        self.list_before_writes(name, target);
        let Some(lists) = self.orders.get_mut(name) else {
            return;
        };
        for (&t, list) in lists.iter_mut() {
            if let Some(i) = list.iter().position(|&u| u == holder) {
                list.remove(i);
                self.changed_orders.insert((name.to_owned(), t));
            }
        }
        if let Some(list) = lists.get_mut(&target) {
            list.push(holder);
        }
        self.changed_orders.insert((name.to_owned(), target));
    }

    /// The target the value of kept `name` on `holder` names (its first
    /// reference), for a relationship.
    pub(crate) fn target_of(&self, name: &str, holder: u64) -> Option<u64> {
        let shape = shape_with_refs(self, name)?;
        targets(shape, self.get(name, holder)?).first().copied()
    }

    /// Whether the list of `target` of kept relationship `name` changed
    /// since the last capture.
    pub(crate) fn order_changed(&self, name: &str, target: u64) -> bool {
        self.changed_orders.contains(&(name.to_owned(), target))
    }

    /// Forgets which lists changed (a capture wrote them).
    pub(crate) fn orders_captured(&mut self) {
        self.changed_orders.clear();
    }

    /// The recorded lists of kept relationships, by name: (target, entries),
    /// each with the targets and entries that still exist and, for
    /// entries, still hold the kept value.
    pub(crate) fn orders(&self, uids: &Uids) -> Vec<(&str, Vec<(u64, Vec<u64>)>)> {
        self.orders
            .iter()
            .map(|(name, lists)| {
                let lists = lists
                    .iter()
                    .filter(|(t, _)| uids.entity(**t).is_some())
                    .map(|(&t, list)| {
                        let list = list
                            .iter()
                            .copied()
                            .filter(|&u| uids.entity(u).is_some() && self.get(name, u).is_some())
                            .collect();
                        (t, list)
                    })
                    .collect();
                (name.as_str(), lists)
            })
            .collect()
    }

    /// Drops values of entities that no longer exist.
    pub(crate) fn retain_live(&mut self, uids: &Uids) {
        for m in self.components.values_mut() {
            m.retain(|uid, _| uids.entity(*uid).is_some());
        }
        for (_, at) in self.others.values_mut() {
            at.retain(|uid, _| uids.entity(*uid).is_some());
        }
        self.settle();
    }

    /// Finds kept references to entities `live` refuses (despawned since
    /// the values were kept), for holders `live` accepts. Under
    /// [`RefPolicy::Fail`] the first is an error: (component, holder,
    /// target); under [`RefPolicy::Drop`] each becomes a null reference,
    /// in place, and the values rewritten are returned (component, holder).
    /// Values this build cannot read by their recorded shape are left as
    /// they are.
    pub(crate) fn drop_dead_references(
        &mut self,
        live: &dyn Fn(u64) -> bool,
        policy: RefPolicy,
    ) -> Result<Vec<(String, u64)>, (String, u64, u64)> {
        let Kept {
            schemas,
            components,
            others,
            ..
        } = self;
        let mut rewritten = Vec::new();
        for (name, values) in components.iter_mut() {
            let Some(shape) = schemas
                .get(name)
                .and_then(|s| s.shape.as_deref())
                .filter(|s| s.contains(ENTITY))
            else {
                continue;
            };
            let other = others.get(name.as_str()).map(|(_, at)| at);
            for (holder, bytes) in values.iter_mut() {
                // A value at another schema is not read by this one's shape
                // (no snapshot writes it: see `Kept::mixed`).
                if !live(*holder) || other.is_some_and(|at| at.contains_key(holder)) {
                    continue;
                }
                let dead = std::cell::Cell::new(None);
                let keep = |t: u64| {
                    let ok = live(t);
                    if !ok && dead.get().is_none() {
                        dead.set(Some(t));
                    }
                    ok
                };
                if let Ok(Some(new)) = shape::drop_references(shape, bytes, &keep) {
                    if policy == RefPolicy::Fail {
                        return Err((name.clone(), *holder, dead.get().unwrap_or(0)));
                    }
                    *bytes = new;
                    rewritten.push((name.clone(), *holder));
                }
            }
        }
        Ok(rewritten)
    }

    /// Component values, sorted by uid.
    pub(crate) fn component_values(&self) -> impl Iterator<Item = (&str, Vec<(u64, &[u8])>)> {
        self.components.iter().map(|(name, m)| {
            let mut rows: Vec<(u64, &[u8])> = m.iter().map(|(u, b)| (*u, b.as_slice())).collect();
            rows.sort_unstable_by_key(|r| r.0);
            (name.as_str(), rows)
        })
    }

    /// Resource values.
    pub(crate) fn resource_values(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.resources
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
    }
}

/// The uids one value of `shape` references (null references aside).
fn targets(shape: &str, bytes: &[u8]) -> Vec<u64> {
    match shape::decode(shape, bytes) {
        Ok((value, _)) => shape::references(shape, &value)
            .into_iter()
            .map(|(_, uid)| uid)
            .filter(|&uid| is_valid_uid(uid))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The first uid one value of `schema` references, for a relationship: its
/// target.
pub(crate) fn first_target(schema: &Schema, bytes: &[u8]) -> Option<u64> {
    let shape = schema.shape.as_deref().filter(|s| s.contains(ENTITY))?;
    targets(shape, bytes).first().copied()
}

/// The shape of kept `name`, if its values may hold references.
fn shape_with_refs<'k>(kept: &'k Kept, name: &str) -> Option<&'k str> {
    kept.schema(name)
        .and_then(|s| s.shape.as_deref())
        .filter(|s| s.contains(ENTITY))
}

/// The entities that the kept values of `holders` reference.
pub(crate) fn references(world: &World, holders: &[Entity]) -> Vec<Entity> {
    let Some(kept) = world.get_resource::<Kept>() else {
        return Vec::new();
    };
    let uids = world.resource::<Uids>();
    let mut out = Vec::new();
    for name in kept.component_names() {
        let Some(shape) = shape_with_refs(kept, name) else {
            continue;
        };
        for &e in holders {
            let Some(bytes) = world.get::<Uid>(e).and_then(|u| kept.get(name, u.get())) else {
                continue;
            };
            out.extend(
                targets(shape, bytes)
                    .into_iter()
                    .filter_map(|t| uids.entity(t)),
            );
        }
    }
    out
}

/// The bundle columns (schema, keyed chunk) of the kept values of `uids`.
/// Kept bytes cannot be rewritten: every reference must point `within`
/// the bundle.
pub(crate) fn bundle_columns(
    kept: &Kept,
    uids: &[u64],
    within: &dyn Fn(u64) -> bool,
) -> Result<Vec<(Schema, Vec<u8>)>, ExportError> {
    let mut out = Vec::new();
    for name in kept.component_names() {
        let Some(schema) = kept.schema(name) else {
            continue;
        };
        let shape = shape_with_refs(kept, name);
        let mut chunk = vec![0u8; HEADER];
        let mut owners = Vec::new();
        for &uid in uids {
            let Some(bytes) = kept.get(name, uid) else {
                continue;
            };
            if let Some((list, at)) = kept.others.get(name)
                && let Some(&i) = at.get(&uid)
            {
                return Err(ExportError::KeptMixed {
                    component: name.to_owned(),
                    schemas: two_schemas(schema, &list[i]),
                });
            }
            for target in shape.map(|s| targets(s, bytes)).unwrap_or_default() {
                if !within(target) {
                    return Err(ExportError::KeptDangling {
                        component: name.to_owned(),
                        holder: uid,
                        target,
                    });
                }
            }
            chunk.extend_from_slice(bytes);
            owners.push(uid);
        }
        if owners.is_empty() {
            continue;
        }
        for u in &owners {
            chunk.extend_from_slice(&u.to_le_bytes());
        }
        let mut h = Vec::with_capacity(HEADER);
        header(&mut h, Layout::Keyed, owners.len() as u32);
        chunk[..HEADER].copy_from_slice(&h);
        out.push((schema.clone(), chunk));
    }
    Ok(out)
}

/// The values of a bundle's column of a type this build does not register,
/// checked for keeping.
pub(crate) struct Column<'b> {
    pub(crate) schema: &'b Schema,
    pub(crate) owners: Vec<u64>,
    pub(crate) values: Vec<&'b [u8]>,
    /// Each reference: (holder, target), by the bundle's uids.
    pub(crate) refs: Vec<(u64, u64)>,
}

/// Checks a bundle's column of unregistered `name` for keeping: its shape,
/// its values (split by the shape), its owners and references carried.
pub(crate) fn bundle_column<'b>(
    body: &'b BundleBody,
    name: &str,
    chunk: &'b [u8],
    carried: &BTreeSet<u64>,
) -> Result<Column<'b>, ImportError> {
    let schema = body
        .schemas
        .iter()
        .find(|s| s.name == name && s.shape.is_some())
        .ok_or_else(|| ImportError::Unkeepable(name.to_owned()))?;
    let shape = schema.shape.as_deref().unwrap_or_default();
    let corrupt = |reason: String| ImportError::Corrupt {
        component: name.to_owned(),
        reason,
    };
    let (chunk, owners) = crate::bundle::keyed_chunk(name, chunk, carried)?;
    let values = shape::split(shape, chunk.payload, owners.len())
        .map_err(|e| corrupt(format!("does not decode with its recorded shape: {e}")))?;
    let mut refs = Vec::new();
    if shape.contains(ENTITY) {
        for (&holder, bytes) in owners.iter().zip(&values) {
            for target in targets(shape, bytes) {
                // A reference that leaves the bundle cannot be dropped from
                // bytes this build cannot rewrite.
                if !carried.contains(&target) {
                    return Err(ImportError::Dangling {
                        component: name.to_owned(),
                        holder,
                        target,
                    });
                }
                refs.push((holder, target));
            }
        }
    }
    Ok(Column {
        schema,
        owners,
        values,
        refs,
    })
}
