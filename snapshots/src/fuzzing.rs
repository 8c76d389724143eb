//! Entry points for fuzz targets and mutation tests, not a public API: they
//! put raw bytes where a file would have them and let the real decoders read
//! them.
//!
//! - [`decode_meta`]: a snapshot record, as `dizzy.snapshots` holds it;
//! - [`memory_store`], [`write_raw`], [`read_raw`]: a dizzy file kept in
//!   memory (redb's `InMemoryBackend`) whose records and chunks are written
//!   byte for byte, unchecked, so that [`restore`](crate::restore) reads
//!   hostile chunks through its real path without touching the disk;
//! - [`check_world`]: what every world a restore returns must satisfy.

use bevy_ecs::world::World;
use dizzy_components::CodecError;
use dizzy_components::{Uid, Uids};

use crate::error::StoreOpenError;
use crate::format::{CHUNKS, SNAPSHOTS, SnapshotMeta};
use crate::store::Store;

/// The key of a chunk: snapshot id, column name, chunk number.
pub type ChunkKey = (u64, String, u32);

/// Every record and chunk of a file, as raw bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raw {
    /// `dizzy.snapshots`: id and encoded record.
    pub records: Vec<(u64, Vec<u8>)>,
    /// `dizzy.chunks`: key and framed chunk.
    pub chunks: Vec<(ChunkKey, Vec<u8>)>,
}

/// Decodes a snapshot record the way [`Store::snapshots`] does.
///
/// # Errors
/// The bytes are not a record of a format this build reads.
pub fn decode_meta(bytes: &[u8]) -> Result<SnapshotMeta, String> {
    crate::format::decode_meta(bytes)
}

/// Encodes a snapshot record the way the writer does (to craft records).
///
/// # Errors
/// A field does not encode.
pub fn encode_meta(meta: &SnapshotMeta) -> Result<Vec<u8>, CodecError> {
    crate::format::encode_meta(meta)
}

/// A new, empty dizzy file in memory, labelled `label` in messages.
///
/// # Errors
/// redb cannot create the file in memory.
pub fn memory_store(label: &str) -> Result<Store, StoreOpenError> {
    Store::open_with_backend(label, redb::backends::InMemoryBackend::new())
}

/// Writes `raw` into `store` as it is (records and chunks are not checked),
/// in one transaction.
///
/// # Errors
/// The store is open read-only, or redb failed.
pub fn write_raw(store: &Store, raw: &Raw) -> Result<(), redb::Error> {
    let db = store.database().ok_or(redb::Error::Corrupted(
        "the store is open read-only".to_owned(),
    ))?;
    let tx = db.begin_write()?;
    {
        let mut records = tx.open_table(SNAPSHOTS)?;
        for (id, bytes) in &raw.records {
            records.insert(*id, bytes.as_slice())?;
        }
        let mut chunks = tx.open_table(CHUNKS)?;
        for ((id, column, n), bytes) in &raw.chunks {
            chunks.insert((*id, column.as_str(), *n), bytes.as_slice())?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Reads every record and chunk of `store`, oldest first.
///
/// # Errors
/// redb failed to read a table.
pub fn read_raw(store: &Store) -> Result<Raw, redb::Error> {
    use redb::ReadableTable;
    let tx = store.begin_read()?;
    let mut raw = Raw::default();
    for row in tx.open_table(SNAPSHOTS)?.iter()? {
        let (k, v) = row?;
        raw.records.push((k.value(), v.value().to_vec()));
    }
    for row in tx.open_table(CHUNKS)?.iter()? {
        let (k, v) = row?;
        let (id, column, n) = k.value();
        raw.chunks
            .push(((id, column.to_owned(), n), v.value().to_vec()));
    }
    Ok(raw)
}

/// Checks what every restored world must satisfy, whatever the file held:
/// the uid index knows exactly the entities that have a uid, each under its
/// own uid (so no uid is used twice), and the allocator hands out no uid
/// that is in use.
///
/// # Errors
/// The first property the world breaks, named.
pub fn check_world(world: &mut World) -> Result<(), String> {
    let pairs: Vec<(bevy_ecs::entity::Entity, Uid)> = world
        .query::<(bevy_ecs::entity::Entity, &Uid)>()
        .iter(world)
        .map(|(e, u)| (e, *u))
        .collect();
    let uids = world
        .get_resource::<Uids>()
        .ok_or("the world has no uid index")?;
    if uids.len() != pairs.len() {
        return Err(format!(
            "the uid index holds {} entities, the world {}",
            uids.len(),
            pairs.len()
        ));
    }
    for (e, uid) in pairs {
        if uids.entity(uid.get()) != Some(e) {
            return Err(format!("uid {uid} is not indexed as its entity"));
        }
    }
    let mut uids = world.resource_mut::<Uids>();
    let fresh = uids.allocate();
    if uids.entity(fresh.get()).is_some() {
        return Err(format!(
            "the allocator hands out uid {fresh}, which is in use"
        ));
    }
    Ok(())
}

/// Wraps an encoded bundle body in a valid envelope of the current bundle
/// format (header, lengths, checksum), so that a fuzzer's changes reach the
/// body's decoder instead of failing the checksum.
pub fn bundle_envelope(body: &[u8]) -> Vec<u8> {
    crate::bundle::envelope(body)
}
