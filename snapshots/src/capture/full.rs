//! A full capture: every registered column, straight from bevy's tables,
//! encoded in parallel.

use bevy_ecs::component::StorageType;
use bevy_ecs::entity::Entity;
use bevy_ecs::storage::TableId;
use bevy_ecs::world::World;
use dizzy_components::{Place, RefEncoder, Registry, Rows, Uid, Uids};
use rayon::prelude::*;

use crate::error::CaptureError;
use crate::format::{GroupMeta, HEADER, Layout, SnapshotKind, SnapshotMeta, col};
use crate::kept::Kept;

use bevy_ecs::component::ComponentId;

use super::encode::{
    Col, Columns, Encoded, check_kept, columns, finish, keyed_chunks, sparse_entities, tables_with,
    uid_at, uid_chunks, uids_of, write_kept,
};
use super::{Capturer, ChunkData};

impl Capturer {
    pub(super) fn full(
        &mut self,
        world: &mut World,
        registry: &Registry,
    ) -> Result<(SnapshotMeta, Vec<ChunkData>), CaptureError> {
        self.scanned = None;
        dizzy_components::buffers::capture_started();
        let target = self.settings.chunk_target();
        // Kept values (of types this build does not register) name entities
        // by uid: one whose target is gone is refused or dropped, as the
        // values of registered types are.
        check_kept(world, self.settings.refs)?;
        if let Some((component, schemas)) = world.get_resource::<Kept>().and_then(|k| k.mixed(None))
        {
            return Err(CaptureError::KeptMixed { component, schemas });
        }
        let uid_id = world.register_component::<Uid>();
        let cols = columns(world, registry);

        // Groups: every non-empty table whose rows have a uid.
        let groups: Vec<Group> = tables_with(world, uid_id)
            .map(|(tid, t)| Group {
                table: tid,
                rows: t.entity_count(),
                cols: cols
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.ops.storage() == StorageType::Table && t.has_column(c.id))
                    .map(|(i, _)| i)
                    .collect(),
            })
            .collect();
        let sparse: Vec<(usize, Vec<Entity>)> = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ops.storage() == StorageType::SparseSet)
            .map(|(i, c)| (i, sparse_entities(world, uid_id, c.id)))
            .filter(|(_, e)| !e.is_empty())
            .collect();

        let read: &World = world;
        let encoders: Vec<Option<RefEncoder<'_>>> = cols
            .iter()
            .map(|c| c.encoder(read, self.settings.refs))
            .collect();
        let spans: Vec<Span> = groups
            .iter()
            .map(|g| span_of(read, &cols, &encoders, g, target))
            .collect();
        let tasks = tasks(&groups, &spans, &sparse);
        let results: Vec<Result<(String, Encoded), CaptureError>> = tasks
            .par_iter()
            .map(|task| encode_task(read, &cols, &encoders, uid_id, target, task))
            .collect();
        let has_refs: Vec<bool> = encoders
            .iter()
            .map(|e| e.as_ref().is_some_and(RefEncoder::saw_references))
            .collect();

        let mut out = Columns::default();
        for r in results {
            let (name, chunks) = r?;
            for (rows, bytes) in chunks {
                out.push(&name, rows, bytes);
            }
        }
        for (i, c) in cols.iter().enumerate() {
            if has_refs[i] {
                out.mark_refs(c.reg.name());
            }
        }
        let mut meta = Self::empty_meta(SnapshotKind::Full);
        meta.groups = groups
            .iter()
            .map(|g| GroupMeta {
                components: g
                    .cols
                    .iter()
                    .map(|&i| cols[i].reg.name().to_owned())
                    .collect(),
                rows: u64::from(g.rows),
            })
            .collect();
        self.resources.clear();
        self.encode_resources(world, registry, &mut out, None)?;
        super::order::encode_orders(world, registry, &mut out, None)?;
        if let Some(kept) = world.get_resource::<Kept>() {
            write_kept(kept, world.resource::<Uids>(), target, &mut out, None);
        }
        meta.bytes = out.bytes();
        meta.columns = out.meta;
        Ok((meta, out.chunks))
    }
}

/// One group of a full snapshot: a table whose rows have a uid, and the
/// indices (in the capture's columns) of its registered components.
struct Group {
    table: TableId,
    rows: u32,
    cols: Vec<usize>,
}

/// Rows of one column of one group encoded by one task: at least
/// [`MIN_SPAN`], at most [`MAX_SPAN`] (a task is also a unit of a restore's
/// decoding, which overlaps the spawning of the units before it).
const MIN_SPAN: u32 = 1 << 10;
const MAX_SPAN: u32 = 1 << 18;

/// Rows sampled per place when [`span_of`] estimates a column's bytes per
/// row, and the number of places (spread over the table: values such as
/// names often grow with the row).
const SAMPLE_ROWS: u32 = 128;
const SAMPLE_PLACES: u32 = 8;

/// Rows per task of a group, and the bytes a value of each of its columns
/// takes in the sample (in the order of the group's columns; 0 where not
/// sampled).
struct Span {
    rows: u32,
    widths: Vec<usize>,
}

/// Rows per task of group `g`: as many as fill one chunk of `target` bytes
/// of its widest column (by bytes per row, sampled), so that the chunks of a
/// task fill the pages redb stores them in. redb gives a value larger than
/// a page a run of pages rounded up to a power of two, so a chunk of 620 KB
/// takes 1 MiB of the file: with a fixed span of 65,536 rows, the 1M-entity
/// bench wrote 69 MB of pages for 41 MB of chunks. Every column of a group
/// starts a chunk at each task's first row, which is where a restore cuts
/// its units; a column wider than the sample said is cut into more chunks
/// within the task, which only fills pages less.
fn span_of(
    read: &World,
    cols: &[Col<'_>],
    encoders: &[Option<RefEncoder<'_>>],
    g: &Group,
    target: usize,
) -> Span {
    let rows = g.rows;
    // A group that fits in the smallest span is one task whatever its
    // width: sampling it would encode its values twice.
    if rows <= MIN_SPAN {
        return Span {
            rows: MIN_SPAN,
            widths: vec![0; g.cols.len()],
        };
    }
    let places = if rows <= SAMPLE_ROWS * SAMPLE_PLACES {
        vec![(0, rows)]
    } else {
        (0..SAMPLE_PLACES)
            .map(|i| {
                let a = ((u64::from(rows - SAMPLE_ROWS) * u64::from(i))
                    / u64::from(SAMPLE_PLACES - 1)) as u32;
                (a, a + SAMPLE_ROWS)
            })
            .collect()
    };
    // Uids, packed: a byte or two a row (a column of wider ones is cut
    // into more chunks).
    let mut widest = 1.0f64;
    let mut widths = Vec::with_capacity(g.cols.len());
    let mut out = Vec::new();
    for &ci in &g.cols {
        let c = &cols[ci];
        let mut width = 0.0f64;
        for &(a, b) in &places {
            out.clear();
            let place = Place::Table(g.table, Rows::Range(a, b));
            // A value that fails to encode fails the task that encodes it.
            if let Ok(n) = c.ops.encode(read, place, encoders[ci].as_ref(), &mut out)
                && n > 0
            {
                width = width.max(out.len() as f64 / n as f64);
            }
        }
        widest = widest.max(width);
        // Room for values a little wider than the sample's.
        widths.push((width * 1.15).ceil() as usize);
    }
    // A little room for rows wider than the sample's.
    let fit = (target.saturating_sub(HEADER)) as f64 / (widest * 1.03);
    Span {
        rows: (fit as u32).clamp(MIN_SPAN, MAX_SPAN),
        widths,
    }
}

/// A piece of a full snapshot's encoding, run on any core.
enum Task<'a> {
    /// The uids of rows `a..b` of group `gi` (table `tid`).
    Uids(u32, TableId, u32, u32),
    /// Column `ci`'s values at rows `a..b` of group `gi` (table `tid`), of
    /// about `width` bytes each (0: not known).
    Rows(u32, usize, TableId, u32, u32, usize),
    /// A sparse-set column's values on these entities.
    Sparse(usize, &'a [Entity]),
}

/// Every task of a full snapshot: per group, its span of rows (`spans`,
/// [`span_of`]) of its uids and of each of its columns; each sparse-set
/// column whole.
fn tasks<'a>(
    groups: &[Group],
    spans: &[Span],
    sparse: &'a [(usize, Vec<Entity>)],
) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    for (gi, (g, span)) in groups.iter().zip(spans).enumerate() {
        let gi = gi as u32;
        for start in (0..g.rows).step_by(span.rows as usize) {
            let end = (start + span.rows).min(g.rows);
            tasks.push(Task::Uids(gi, g.table, start, end));
            for (&c, &width) in g.cols.iter().zip(&span.widths) {
                tasks.push(Task::Rows(gi, c, g.table, start, end, width));
            }
        }
    }
    for (i, e) in sparse {
        tasks.push(Task::Sparse(*i, e));
    }
    tasks
}

/// Encodes one task's chunks: the column's name and (rows, bytes) of each.
fn encode_task(
    read: &World,
    cols: &[Col<'_>],
    encoders: &[Option<RefEncoder<'_>>],
    uid_id: ComponentId,
    target: usize,
    task: &Task<'_>,
) -> Result<(String, Encoded), CaptureError> {
    match *task {
        Task::Uids(gi, tid, a, b) => {
            let uids = read
                .storages()
                .tables
                .get(tid)
                .map(|t| uids_of(t, uid_id))
                .unwrap_or(&[]);
            let mut out = Vec::new();
            uid_chunks(
                (a..b).map(|r| uid_at(uids, r as usize)),
                (gi, a),
                target,
                &mut out,
            );
            Ok((col::UID.to_owned(), out))
        }
        Task::Rows(gi, ci, tid, a, b, width) => {
            let c = &cols[ci];
            let mut out = Vec::new();
            let mut at = a;
            c.ops
                .encode_chunked(
                    read,
                    Place::Table(tid, Rows::Range(a, b)),
                    target,
                    HEADER,
                    width,
                    0,
                    encoders[ci].as_ref(),
                    &mut |mut buf, rows| {
                        finish(
                            &mut buf,
                            Layout::Rows {
                                group: gi,
                                start: at,
                            },
                            rows as u32,
                        );
                        at += rows as u32;
                        out.push((rows as u64, buf));
                    },
                )
                .map_err(|e| c.error(e))?;
            Ok((c.reg.name().to_owned(), out))
        }
        Task::Sparse(ci, entities) => {
            let c = &cols[ci];
            let uids: Vec<u64> = entities
                .iter()
                .map(|&e| read.get::<Uid>(e).map_or(0, |u| u.get()))
                .collect();
            Ok((
                c.reg.name().to_owned(),
                keyed_chunks(
                    read,
                    c,
                    Place::Entities(entities),
                    &uids,
                    target,
                    encoders[ci].as_ref(),
                )?,
            ))
        }
    }
}
