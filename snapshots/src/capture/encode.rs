//! Encoding helpers shared by full and delta captures: column lists, uid and
//! keyed chunks, change-tick scans, reference swapping.

use bevy_ecs::change_detection::{DetectChangesMut, MAX_CHANGE_AGE, Mut, Tick};
use bevy_ecs::component::ComponentId;
use bevy_ecs::entity::Entity;
use bevy_ecs::storage::{Table, TableId};
use bevy_ecs::world::World;
use dizzy_components::{
    ColumnOps, Place, RefEncoder, RefPolicy, Registration, Registry, Uid, Uids, ValueError,
};

use crate::error::CaptureError;
use crate::format::{
    ColumnMeta, HEADER, Layout, PACKED_UID_MAX, col, header, pack_uid, packed_keyed_header,
};
use crate::kept::Kept;

use super::ChunkData;

pub(super) fn tables_with<'w>(
    world: &'w World,
    uid_id: ComponentId,
) -> impl Iterator<Item = (TableId, &'w Table)> + 'w {
    world
        .storages()
        .tables
        .iter()
        .enumerate()
        .filter(move |(_, t)| !t.is_empty() && t.has_column(uid_id))
        .map(|(i, t)| (TableId::from_usize(i), t))
}

/// Entities with a uid and sparse-set component `id`.
pub(super) fn sparse_entities(world: &World, uid_id: ComponentId, id: ComponentId) -> Vec<Entity> {
    world
        .archetypes()
        .iter()
        .filter(|a| a.contains(uid_id) && a.contains(id))
        .flat_map(|a| a.entities().iter().map(|e| e.id()))
        .collect()
}

pub(crate) fn uids_of(table: &Table, uid_id: ComponentId) -> &[std::cell::UnsafeCell<Uid>] {
    // SAFETY: `uid_id` is `Uid`'s id; read between ticks, no writer.
    unsafe { table.get_data_slice_for::<Uid>(uid_id) }.unwrap_or(&[])
}

pub(crate) fn uid_at(uids: &[std::cell::UnsafeCell<Uid>], row: usize) -> u64 {
    // SAFETY: see `uids_of`.
    uids.get(row).map_or(0, |c| unsafe { (*c.get()).get() })
}

/// A registered component as present in this world.
pub(super) struct Col<'r> {
    pub(super) reg: &'r Registration,
    pub(super) ops: &'r dyn ColumnOps,
    pub(super) id: ComponentId,
}

impl Col<'_> {
    /// The reference encoder for this column's values, if they may hold
    /// references (the type's own policy, else `policy`).
    pub(super) fn encoder<'w>(
        &self,
        world: &'w World,
        policy: RefPolicy,
    ) -> Option<RefEncoder<'w>> {
        self.reg
            .references()
            .any()
            .then(|| RefEncoder::new(world, self.reg.refs().unwrap_or(policy)))
    }

    /// A value error of this column as a capture error.
    pub(super) fn error(&self, e: ValueError) -> CaptureError {
        value_error(self.reg.name(), e)
    }
}

/// A value error of component `name` as a capture error.
pub(super) fn value_error(name: &str, e: ValueError) -> CaptureError {
    match e {
        ValueError::Dangling(d) => CaptureError::Dangling {
            component: name.to_owned(),
            holder: d.holder,
            target: d.target,
        },
        ValueError::Codec(source) => CaptureError::Codec {
            component: name.to_owned(),
            source,
        },
        other => CaptureError::Codec {
            component: name.to_owned(),
            source: dizzy_components::CodecError::Encode(other.to_string()),
        },
    }
}

pub(super) fn columns<'r>(world: &World, registry: &'r Registry) -> Vec<Col<'r>> {
    registry
        .iter()
        .filter_map(|reg| {
            let ops = reg.column()?;
            Some(Col {
                reg,
                ops,
                id: ops.component_id(world)?,
            })
        })
        .collect()
}

/// Appends the rows whose tick is newer than `since` (seen at `now`), as
/// `Tick::is_newer_than` decides, in blocks of 32 that the compiler turns
/// into vector compares and a bit mask: a delta scans every row of every
/// column, so this loop is most of a delta's cost.
///
/// A delta's `since` is young (the capturer writes a full snapshot long
/// before it could age past `CHECK_TICK_THRESHOLD`); a change-detection
/// window may reach back to the last run of a system idle for longer, but
/// never past `MAX_CHANGE_AGE` (`detect::MAX_AGE`). A tick older than
/// `MAX_CHANGE_AGE` (not clamped yet) has an age above `horizon` either
/// way, so bevy's clamping of both ages changes nothing here.
pub(crate) fn newer_rows(
    ticks: &[std::cell::UnsafeCell<Tick>],
    since: Tick,
    now: Tick,
    out: &mut Vec<u32>,
) {
    let n = now.get();
    let horizon = n.wrapping_sub(since.get());
    debug_assert!(horizon < MAX_CHANGE_AGE);
    // SAFETY: ticks are read between ticks, no writer.
    let newer =
        |t: &std::cell::UnsafeCell<Tick>| n.wrapping_sub(unsafe { *t.get() }.get()) < horizon;
    // Blocks of 32: a branch-free mask of the block's newer rows
    // (vectorized), then one step per set bit, so that scattered changes
    // cost no mispredicted branch per row.
    for (block, chunk) in ticks.chunks(32).enumerate() {
        let mut mask = chunk
            .iter()
            .enumerate()
            .fold(0u32, |m, (i, t)| m | (u32::from(newer(t)) << i));
        while mask != 0 {
            out.push((block * 32) as u32 + mask.trailing_zeros());
            mask &= mask - 1;
        }
    }
}

/// Encoded chunks of one column: (rows, framed bytes) each.
pub(super) type Encoded = Vec<(u64, Vec<u8>)>;

/// Collects chunks per column and numbers them.
#[derive(Default)]
pub(super) struct Columns {
    pub(super) meta: Vec<ColumnMeta>,
    pub(super) chunks: Vec<ChunkData>,
}

impl Columns {
    pub(super) fn push(&mut self, column: &str, rows: u64, bytes: Vec<u8>) {
        let i = match self.meta.iter().position(|c| c.name == column) {
            Some(i) => i,
            None => {
                self.meta.push(ColumnMeta {
                    name: column.to_owned(),
                    chunks: 0,
                    rows: 0,
                    bytes: 0,
                    has_refs: false,
                });
                self.meta.len() - 1
            }
        };
        let m = &mut self.meta[i];
        m.rows += rows;
        m.bytes += bytes.len() as u64;
        self.chunks.push(ChunkData {
            column: column.to_owned(),
            index: m.chunks,
            bytes,
        });
        m.chunks += 1;
    }

    pub(super) fn mark_refs(&mut self, column: &str) {
        if let Some(m) = self.meta.iter_mut().find(|c| c.name == column) {
            m.has_refs = true;
        }
    }

    pub(super) fn bytes(&self) -> u64 {
        self.meta.iter().map(|c| c.bytes).sum()
    }
}

/// Frames uids as `Uids` chunks of packed uids ([`pack_uid`]) of about
/// `target` bytes, each with its number of uids; `at` is (group, first row)
/// for full snapshots.
pub(super) fn uid_chunks(
    uids: impl Iterator<Item = u64>,
    at: (u32, u32),
    target: usize,
    out: &mut Vec<(u64, Vec<u8>)>,
) {
    let full = HEADER + target.saturating_sub(PACKED_UID_MAX).max(1);
    // Room for the uids at two bytes each (most take one or two), not for a
    // whole chunk: a full snapshot's span of uids fills a tenth of one.
    let room = (HEADER + uids.size_hint().0.saturating_mul(2)).min(full) + PACKED_UID_MAX;
    let mut buf = Vec::new();
    let mut n = 0u32;
    let mut prev = 0;
    let (group, mut start) = at;
    for uid in uids {
        if n == 0 {
            buf = dizzy_components::buffers::take(room);
            buf.resize(HEADER, 0);
            prev = 0;
        }
        pack_uid(&mut buf, prev, uid);
        prev = uid;
        n += 1;
        if buf.len() >= full {
            finish(&mut buf, Layout::Uids { group, start }, n);
            out.push((u64::from(n), std::mem::take(&mut buf)));
            start += n;
            n = 0;
        }
    }
    if n > 0 {
        finish(&mut buf, Layout::Uids { group, start }, n);
        out.push((u64::from(n), buf));
    }
}

/// Writes the header into the `HEADER` bytes reserved at the front.
pub(super) fn finish(buf: &mut [u8], layout: Layout, rows: u32) {
    let mut h = Vec::with_capacity(HEADER);
    header(&mut h, layout, rows);
    buf[..HEADER].copy_from_slice(&h);
}

/// Checks the references of what a [`Kept`] holds against the world's
/// live entities (see [`Kept::drop_dead_references`]); returns the values
/// rewritten with dropped references.
pub(super) fn check_kept(
    world: &mut World,
    policy: RefPolicy,
) -> Result<Vec<(String, u64)>, CaptureError> {
    if !world.contains_resource::<Kept>() {
        return Ok(Vec::new());
    }
    world.resource_scope(|world, mut kept: Mut<Kept>| {
        let uids = world.resource::<Uids>();
        kept.bypass_change_detection()
            .drop_dead_references(&|u| uids.entity(u).is_some(), policy)
            .map_err(|(component, holder, target)| CaptureError::Dangling {
                component,
                holder,
                target,
            })
    })
}

/// Writes what a [`Kept`] holds (values of unregistered types), byte for
/// byte, for the entities still alive; with `only`, just those values (and
/// no resources).
pub(super) fn write_kept(
    kept: &Kept,
    uids: &Uids,
    target: usize,
    out: &mut Columns,
    only: Option<&[(String, u64)]>,
) {
    for (name, rows) in kept.component_values() {
        let rows: Vec<(u64, &[u8])> = match only {
            None => rows,
            Some(only) => {
                let wanted: std::collections::HashSet<u64> = only
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, u)| *u)
                    .collect();
                rows.into_iter()
                    .filter(|(u, _)| wanted.contains(u))
                    .collect()
            }
        };
        let mut buf = vec![0u8; HEADER];
        let mut owners: Vec<u64> = Vec::new();
        let mut flush = |buf: &mut Vec<u8>, owners: &mut Vec<u64>| {
            if owners.is_empty() {
                return;
            }
            // Packed uids (layout 4), as for registered types' keyed chunks.
            let values = buf.len();
            let mut prev = 0;
            for &u in owners.iter() {
                pack_uid(buf, prev, u);
                prev = u;
            }
            let mut h = Vec::with_capacity(HEADER);
            packed_keyed_header(&mut h, owners.len() as u32, (buf.len() - values) as u32);
            buf[..HEADER].copy_from_slice(&h);
            out.push(
                name,
                owners.len() as u64,
                std::mem::replace(buf, vec![0u8; HEADER]),
            );
            owners.clear();
        };
        for (uid, bytes) in rows.into_iter().filter(|(u, _)| uids.entity(*u).is_some()) {
            buf.extend_from_slice(bytes);
            owners.push(uid);
            if buf.len() - HEADER >= target {
                flush(&mut buf, &mut owners);
            }
        }
        flush(&mut buf, &mut owners);
    }
    if only.is_some() {
        return;
    }
    for (name, bytes) in kept.resource_values() {
        let mut buf = vec![0u8; HEADER];
        buf.extend_from_slice(bytes);
        buf.extend_from_slice(&0u64.to_le_bytes());
        finish(&mut buf, Layout::Keyed, 1);
        out.push(&format!("{}{}", col::RESOURCE, name), 1, buf);
    }
}

/// Encodes `place` of one column as keyed chunks (values, then uids).
pub(super) fn keyed_chunks(
    world: &World,
    c: &Col<'_>,
    place: Place<'_>,
    uids: &[u64],
    target: usize,
    refs: Option<&RefEncoder<'_>>,
) -> Result<Encoded, CaptureError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    c.ops
        .encode_chunked(
            world,
            place,
            target,
            HEADER,
            0,
            // The uids appended to each chunk: a byte or two each between
            // rows near each other, more between distant ones.
            4,
            refs,
            &mut |mut buf, rows| {
                let values = buf.len();
                let mut prev = 0;
                for &u in &uids[at..at + rows] {
                    pack_uid(&mut buf, prev, u);
                    prev = u;
                }
                at += rows;
                let mut h = Vec::with_capacity(HEADER);
                packed_keyed_header(&mut h, rows as u32, (buf.len() - values) as u32);
                buf[..HEADER].copy_from_slice(&h);
                out.push((rows as u64, buf));
            },
        )
        .map_err(|e| c.error(e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded xorshift64 generator (reproducible inputs).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// `newer_rows` picks exactly the rows `Tick::is_newer_than` picks, in
    /// order, for lengths that are not a multiple of the block, changes
    /// sparse and dense, and ticks that wrapped around `u32`.
    #[test]
    fn newer_rows_agrees_with_bevy() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for (len, now, window, dense) in [
            (0usize, 100u32, 10u32, 2u64),
            (1, 100, 10, 2),
            (31, 5, 20, 3),
            (33, u32::MAX - 3, 50, 100),
            (1000, 7, 40, 2),
            (4097, 1_000_000, 500, 50),
        ] {
            let since = Tick::new(now.wrapping_sub(window));
            let now = Tick::new(now);
            let ticks: Vec<std::cell::UnsafeCell<Tick>> = (0..len)
                .map(|_| {
                    let r = next();
                    let age = if r.is_multiple_of(dense) {
                        (r >> 8) as u32 % window
                    } else {
                        window + (r >> 8) as u32 % 1_000_000
                    };
                    std::cell::UnsafeCell::new(Tick::new(now.get().wrapping_sub(age)))
                })
                .collect();
            let want: Vec<u32> = ticks
                .iter()
                .enumerate()
                // SAFETY: the test owns the ticks; nothing else refers to them.
                .filter(|(_, t)| unsafe { *t.get() }.is_newer_than(since, now))
                .map(|(i, _)| i as u32)
                .collect();
            let mut got = Vec::new();
            newer_rows(&ticks, since, now, &mut got);
            assert_eq!(got, want, "len {len}, now {now:?}");
        }
    }

    /// Uids of every kind (ascending, descending, far apart, the extremes of
    /// `u64`) come back from packed chunks exactly and in order; chunks are
    /// cut near the target size and count their uids; a damaged chunk is
    /// refused, not read short.
    #[test]
    fn packed_uids_round_trip() {
        use crate::format::parse;
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let mut uids: Vec<u64> = (2..5_000).collect();
        uids.extend((0..3_000).map(|i| 900_000 - 7 * i));
        uids.extend((0..3_000).map(|_| next()));
        uids.extend([0, u64::MAX, 1, u64::MAX - 1, 0, 1 << 63, (1 << 63) - 1]);
        for target in [64, 1_000, 1 << 20] {
            let mut out = Vec::new();
            uid_chunks(uids.iter().copied(), (4, 100), target, &mut out);
            let mut back = Vec::new();
            let mut start = 100;
            for (rows, bytes) in &out {
                assert!(bytes.len() <= HEADER + target.max(PACKED_UID_MAX) + PACKED_UID_MAX);
                let chunk = parse(bytes).unwrap();
                assert_eq!(chunk.layout, Layout::Uids { group: 4, start });
                assert_eq!(u64::from(chunk.rows), *rows);
                let got: Vec<u64> = chunk.uids().collect();
                assert_eq!(got.len() as u64, *rows);
                back.extend(got);
                start += chunk.rows;
            }
            assert_eq!(back, uids, "target {target}");
        }
        // Ascending uids take one byte each.
        let mut out = Vec::new();
        uid_chunks(2..10_002, (0, 0), 1 << 20, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.len(), HEADER + 10_000);

        let good = &out[0].1;
        let mut cut = good[..good.len() - 1].to_vec();
        assert!(
            parse(&cut)
                .unwrap_err()
                .contains("claims 10000 uids but holds 9999")
        );
        cut.push(0x80);
        assert!(parse(&cut).unwrap_err().contains("cut short"));
        let mut long = good[..HEADER].to_vec();
        long[12..16].copy_from_slice(&1u32.to_le_bytes());
        long.extend([0xff; 10]);
        long.push(0);
        assert!(parse(&long).unwrap_err().contains("longer than 10 bytes"));
        let mut extra = good.clone();
        extra.push(4);
        assert!(parse(&extra).unwrap_err().contains("holds 10001"));
    }

    /// A keyed chunk of packed uids splits into its values and its uids
    /// exactly; a wrong length of uids is refused.
    #[test]
    fn packed_keyed_chunks_split() {
        use crate::format::parse;
        let uids = [9_000_000_000u64, 7, 7, u64::MAX];
        let mut buf = vec![0; HEADER];
        buf.extend_from_slice(b"values");
        let mut prev = 0;
        for &u in &uids {
            pack_uid(&mut buf, prev, u);
            prev = u;
        }
        let uid_bytes = (buf.len() - HEADER - 6) as u32;
        let mut h = Vec::new();
        packed_keyed_header(&mut h, 4, uid_bytes);
        buf[..HEADER].copy_from_slice(&h);
        let chunk = parse(&buf).unwrap();
        assert_eq!(chunk.layout, Layout::Keyed);
        assert_eq!(chunk.payload, b"values");
        assert_eq!(chunk.uids().collect::<Vec<_>>(), uids);

        let mut more = buf.clone();
        more[8..12].copy_from_slice(&(uid_bytes + 1).to_le_bytes());
        assert!(
            parse(&more)
                .unwrap_err()
                .contains("claims 4 uids but holds 5")
        );
        let mut long = buf.clone();
        long[8..12].copy_from_slice(&10_000u32.to_le_bytes());
        assert!(parse(&long).unwrap_err().contains("10000 bytes of uids"));
        let mut group = buf;
        group[4] = 1;
        assert!(parse(&group).unwrap_err().contains("must be zero"));
    }
}
