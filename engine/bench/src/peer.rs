//! The peer of dizzy's snapshot benchmark: hecs 0.11's column serializer.
//!
//! It measures what a hecs user pays to save a world to a file and load it
//! back, with the same rows and the same codec (bincode 2.0.1, `standard`
//! configuration, through [`dizzy_components::codec`]) as dizzy:
//!
//! - *save*: serialize a prebuilt [`hecs::World`] with
//!   [`hecs::serialize::column`] into a buffer, write it to a new file and
//!   fsync it. Building the world is not timed.
//! - *restore*: read the file and deserialize it into a fresh
//!   [`hecs::World`], then check that it holds every entity.

use std::any::TypeId;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use dizzy_components::codec;
use hecs::serialize::column::{
    DeserializeContext, SerializeContext, deserialize_column, try_serialize, try_serialize_id,
};
use hecs::{Archetype, ColumnBatchBuilder, ColumnBatchType, World};
use serde::de::SeqAccess;
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Figures of one save + restore by the peer.
#[derive(Clone, Copy, Debug)]
pub struct PeerFigures {
    /// Serialize, write and fsync, in milliseconds.
    pub save_ms: f64,
    /// Read and deserialize into a fresh world, in milliseconds.
    pub restore_ms: f64,
    /// Size of the saved file.
    pub bytes: u64,
}

/// The file the peer saves to, inside the caller's directory.
const FILE_NAME: &str = "hecs-column.bin";

#[derive(Debug, Serialize, Deserialize)]
struct Id(u64);

#[derive(Debug, Serialize, Deserialize)]
struct Position([f32; 3]);

#[derive(Debug, Serialize, Deserialize)]
struct Velocity([f32; 3]);

#[derive(Debug, Serialize, Deserialize)]
struct Name(String);

/// The component identifiers written in front of each archetype.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum ComponentId {
    Id,
    Position,
    Velocity,
    Name,
}

/// Writes the four component types; any other type is left out.
#[derive(Debug)]
struct SaveContext;

impl SerializeContext for SaveContext {
    fn component_count(&self, archetype: &Archetype) -> usize {
        let known = [
            TypeId::of::<Id>(),
            TypeId::of::<Position>(),
            TypeId::of::<Velocity>(),
            TypeId::of::<Name>(),
        ];
        archetype
            .component_types()
            .filter(|t| known.contains(t))
            .count()
    }

    fn serialize_component_ids<S: SerializeTuple>(
        &mut self,
        archetype: &Archetype,
        mut out: S,
    ) -> Result<S::Ok, S::Error> {
        try_serialize_id::<Id, _, _>(archetype, &ComponentId::Id, &mut out)?;
        try_serialize_id::<Position, _, _>(archetype, &ComponentId::Position, &mut out)?;
        try_serialize_id::<Velocity, _, _>(archetype, &ComponentId::Velocity, &mut out)?;
        try_serialize_id::<Name, _, _>(archetype, &ComponentId::Name, &mut out)?;
        out.end()
    }

    fn serialize_components<S: SerializeTuple>(
        &mut self,
        archetype: &Archetype,
        mut out: S,
    ) -> Result<S::Ok, S::Error> {
        try_serialize::<Id, _>(archetype, &mut out)?;
        try_serialize::<Position, _>(archetype, &mut out)?;
        try_serialize::<Velocity, _>(archetype, &mut out)?;
        try_serialize::<Name, _>(archetype, &mut out)?;
        out.end()
    }
}

/// Reads archetypes back; remembers the ids of the current one.
#[derive(Debug, Default)]
struct LoadContext {
    components: Vec<ComponentId>,
}

impl DeserializeContext for LoadContext {
    fn deserialize_component_ids<'de, A>(&mut self, mut seq: A) -> Result<ColumnBatchType, A::Error>
    where
        A: SeqAccess<'de>,
    {
        self.components.clear();
        let mut batch = ColumnBatchType::new();
        while let Some(id) = seq.next_element()? {
            match id {
                ComponentId::Id => batch.add::<Id>(),
                ComponentId::Position => batch.add::<Position>(),
                ComponentId::Velocity => batch.add::<Velocity>(),
                ComponentId::Name => batch.add::<Name>(),
            };
            self.components.push(id);
        }
        Ok(batch)
    }

    fn deserialize_components<'de, A>(
        &mut self,
        entity_count: u32,
        mut seq: A,
        batch: &mut ColumnBatchBuilder,
    ) -> Result<(), A::Error>
    where
        A: SeqAccess<'de>,
    {
        for id in &self.components {
            match id {
                ComponentId::Id => deserialize_column::<Id, _>(entity_count, &mut seq, batch)?,
                ComponentId::Position => {
                    deserialize_column::<Position, _>(entity_count, &mut seq, batch)?
                }
                ComponentId::Velocity => {
                    deserialize_column::<Velocity, _>(entity_count, &mut seq, batch)?
                }
                ComponentId::Name => deserialize_column::<Name, _>(entity_count, &mut seq, batch)?,
            }
        }
        Ok(())
    }
}

/// A world seen through serde, so that the codec module can encode it.
struct SaveWorld<'a>(&'a World);

impl Serialize for SaveWorld<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        hecs::serialize::column::serialize(self.0, &mut SaveContext, serializer)
    }
}

/// A world built by deserializing, so that the codec module can decode it.
struct LoadWorld(World);

impl<'de> Deserialize<'de> for LoadWorld {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        hecs::serialize::column::deserialize(&mut LoadContext::default(), deserializer)
            .map(LoadWorld)
    }
}

/// rows: (uid, position, velocity, name), the same data dizzy's bench uses.
///
/// save = serialize a prebuilt `hecs::World` with hecs' column serializer +
/// bincode 2 (standard config) into a file in `dir`, write + fsync (timed
/// from serialize start to fsync end; building the hecs world is NOT timed);
/// restore = read the file + deserialize into a fresh `hecs::World` (timed),
/// and check the entity count matches.
pub fn hecs_column_peer(
    rows: &[(u64, [f32; 3], [f32; 3], String)],
    dir: &Path,
) -> io::Result<PeerFigures> {
    let mut world = World::new();
    world.spawn_batch(
        rows.iter()
            .map(|(uid, p, v, name)| (Id(*uid), Position(*p), Velocity(*v), Name(name.clone()))),
    );
    let path = dir.join(FILE_NAME);

    let start = Instant::now();
    let mut buf = Vec::new();
    codec::encode_into(&SaveWorld(&world), &mut buf).map_err(io::Error::other)?;
    let mut file = File::create(&path)?;
    file.write_all(&buf)?;
    file.sync_all()?;
    let save_ms = start.elapsed().as_secs_f64() * 1e3;
    drop(file);
    let bytes = buf.len() as u64;
    drop(buf);
    drop(world);

    let start = Instant::now();
    let input = std::fs::read(&path)?;
    let LoadWorld(restored) =
        codec::decode(&input).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let restore_ms = start.elapsed().as_secs_f64() * 1e3;

    if restored.len() as usize != rows.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("restored {} entities, saved {}", restored.len(), rows.len()),
        ));
    }
    Ok(PeerFigures {
        save_ms,
        restore_ms,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64) -> Vec<(u64, [f32; 3], [f32; 3], String)> {
        (0..n)
            .map(|i| {
                let f = i as f32;
                (
                    i + 1,
                    [f, f * 0.5, -f],
                    [1.0, 0.25, f * 0.001],
                    format!("p-{i}"),
                )
            })
            .collect()
    }

    #[test]
    fn round_trip_restores_every_entity() {
        let dir = tempfile::tempdir().unwrap();
        let figures = hecs_column_peer(&rows(1_000), dir.path()).unwrap();
        assert_eq!(
            figures.bytes,
            std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len()
        );
        assert!(figures.bytes > 1_000 * (8 + 12 + 12));

        // The restored world holds the saved values, not just as many entities.
        let input = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        let LoadWorld(world) = codec::decode(&input).unwrap();
        assert_eq!(world.len(), 1_000);
        let mut seen: Vec<(u64, [f32; 3], [f32; 3], String)> = world
            .query::<(&Id, &Position, &Velocity, &Name)>()
            .iter()
            .map(|(id, p, v, name)| (id.0, p.0, v.0, name.0.clone()))
            .collect();
        seen.sort_by_key(|r| r.0);
        assert_eq!(seen, rows(1_000));
    }
}
