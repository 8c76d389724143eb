//! Values of components and resources this build does not register, kept
//! byte for byte (restore with [`Unknown::Keep`](crate::Unknown::Keep)) and
//! written again into every later snapshot: a tool built without some plugin
//! never destroys that plugin's data.

use std::collections::BTreeMap;

use bevy_ecs::resource::Resource;
use dizzy_components::{UidMap, Uids};

use crate::format::Schema;

/// Kept values, by stable name and uid, with their recorded schemas.
#[derive(Resource, Debug, Default)]
pub struct Kept {
    schemas: BTreeMap<String, Schema>,
    components: BTreeMap<String, UidMap<Vec<u8>>>,
    resources: BTreeMap<String, Vec<u8>>,
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
        self.schemas
            .entry(schema.name.clone())
            .or_insert_with(|| schema.clone());
        self.components
            .entry(schema.name.clone())
            .or_default()
            .insert(uid, bytes);
    }

    pub(crate) fn remove(&mut self, name: &str, uid: u64) {
        if let Some(m) = self.components.get_mut(name) {
            m.remove(&uid);
        }
    }

    pub(crate) fn despawn(&mut self, uid: u64) {
        for m in self.components.values_mut() {
            m.remove(&uid);
        }
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

    /// Drops values of entities that no longer exist.
    pub(crate) fn retain_live(&mut self, uids: &Uids) {
        for m in self.components.values_mut() {
            m.retain(|uid, _| uids.entity(*uid).is_some());
        }
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
