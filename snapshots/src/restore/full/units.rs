//! Where a full restore's units come from, and how they reach the thread
//! that spawns them.
//!
//! A unit is the rows of one group between two places where every column of
//! the group starts a chunk. dizzy writes each column's chunks in row order
//! (group by group), so the units can be read as they are spawned
//! ([`Stream`]): reading the file overlaps spawning, and a chunk's pages are
//! let go once it is decoded. A file whose chunks come in another order (or
//! that is damaged) is read again the way that checks every chunk header
//! before anything is spawned ([`Preloaded`], built by [`Ctx::units`]); the
//! restore starts over on a fresh world to do so ([`Sourced::ReadAgain`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use redb::ReadOnlyTable;

use super::super::{Ctx, Unit, corrupt};
use crate::error::RestoreError;
use crate::format::{CHUNKS, GroupMeta, Layout, parse};
use crate::store::Stored;

/// The rows of one unit: `start..end` of group `group`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rows {
    pub group: usize,
    pub start: usize,
    pub end: usize,
}

/// The chunks of one unit: for each of its group's components (in the
/// group's order), (name index, chunk number, bytes) in row order.
pub(super) struct UnitChunks {
    pub rows: Rows,
    pub columns: Vec<Vec<(usize, u32, Stored)>>,
}

/// Every chunk read and checked up front, handed out unit by unit.
pub(super) struct Preloaded {
    raw: Vec<(usize, u32, Option<Stored>)>,
    units: std::vec::IntoIter<Unit>,
}

impl Preloaded {
    pub(super) fn new(raw: Vec<(usize, u32, Stored)>, units: Vec<Unit>) -> Self {
        Preloaded {
            raw: raw.into_iter().map(|(n, c, s)| (n, c, Some(s))).collect(),
            units: units.into_iter(),
        }
    }

    fn next(&mut self) -> Result<Option<UnitChunks>, Unexpected> {
        let Some(unit) = self.units.next() else {
            return Ok(None);
        };
        let columns = unit
            .columns
            .iter()
            .map(|pieces| {
                pieces
                    .iter()
                    .filter_map(|&p| {
                        let (ni, ci, bytes) = &mut self.raw[p];
                        Some((*ni, *ci, bytes.take()?))
                    })
                    .collect()
            })
            .collect();
        Ok(Some(UnitChunks {
            rows: Rows {
                group: unit.group,
                start: unit.start,
                end: unit.end,
            },
            columns,
        }))
    }
}

/// The chunks read in order as units are asked for. Anything unexpected
/// (a chunk out of row order, a missing or extra chunk, a header that does
/// not parse, a storage error) stops it: the file is then read again as
/// [`Preloaded`], which reports exactly what is wrong, or restores a file
/// whose chunks are in another order.
pub(super) struct Stream {
    table: ReadOnlyTable<(u64, &'static str, u32), &'static [u8]>,
    snap: u64,
    names: Vec<String>,
    /// Chunks the snapshot records for each name, and the next one to read.
    expected: Vec<u32>,
    next: Vec<u32>,
    /// Each group's rows and the name indices of its components.
    groups: Vec<(usize, Vec<usize>)>,
    group: usize,
    at: usize,
}

/// Why a [`Stream`] stopped: the file is to be read again, checked first.
pub(super) struct Unexpected;

impl Stream {
    pub(super) fn new(
        ctx: &Ctx<'_>,
        snap: u64,
        groups: &[GroupMeta],
        names: &[&str],
        expected: Vec<u32>,
    ) -> Result<Self, RestoreError> {
        let table = ctx
            .tx
            .open_table(CHUNKS)
            .map_err(|e| ctx.store.restore_storage(e))?;
        Ok(Stream {
            table,
            snap,
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            next: vec![0; expected.len()],
            expected,
            groups: groups
                .iter()
                .map(|g| {
                    let cols = g
                        .components
                        .iter()
                        .map(|n| names.iter().position(|x| x == n).unwrap_or(usize::MAX))
                        .collect();
                    (g.rows as usize, cols)
                })
                .collect(),
            group: 0,
            at: 0,
        })
    }

    /// The next chunk of name `ni`: (chunk number, bytes, group, first row,
    /// rows).
    fn read(&mut self, ni: usize) -> Result<(u32, Stored, usize, usize, usize), Unexpected> {
        let n = *self.next.get(ni).ok_or(Unexpected)?;
        if n >= self.expected[ni] {
            return Err(Unexpected);
        }
        self.next[ni] += 1;
        let key = (self.snap, self.names[ni].as_str(), n);
        let bytes = crate::store::contain(|| self.table.get(&key))
            .map_err(|_| Unexpected)?
            .map_err(|_| Unexpected)?
            .ok_or(Unexpected)?;
        let bytes = Stored::new(bytes);
        let chunk = parse(&bytes).map_err(|_| Unexpected)?;
        let Layout::Rows { group, start } = chunk.layout else {
            return Err(Unexpected);
        };
        let (group, start, rows) = (group as usize, start as usize, chunk.rows as usize);
        Ok((n, bytes, group, start, rows))
    }

    /// The next unit, or `None` once every group is read (and every chunk
    /// the snapshot records was found, and no other).
    fn next(&mut self) -> Result<Option<UnitChunks>, Unexpected> {
        while self.group < self.groups.len() && self.at >= self.groups[self.group].0 {
            self.group += 1;
            self.at = 0;
        }
        let gi = self.group;
        let Some((rows, width)) = self.groups.get(gi).map(|(r, c)| (*r, c.len())) else {
            return self.finish().map(|()| None);
        };
        let rows_of = |start, end| Rows {
            group: gi,
            start,
            end,
        };
        if width == 0 {
            self.at = rows;
            return Ok(Some(UnitChunks {
                rows: rows_of(0, rows),
                columns: Vec::new(),
            }));
        }
        // Read each column on until all of them start a chunk at one row:
        // the first place after `at` where every column does.
        let start = self.at;
        let mut ends = vec![start; width];
        let mut columns: Vec<Vec<(usize, u32, Stored)>> = (0..width).map(|_| Vec::new()).collect();
        let end = loop {
            let most = ends.iter().copied().max().unwrap_or(start);
            if most > start && ends.iter().all(|&e| e == most) {
                break most;
            }
            for k in 0..width {
                if ends[k] < most || most == start {
                    let ni = self.groups[gi].1[k];
                    let (ci, bytes, group, first, n) = self.read(ni)?;
                    if group != gi || first != ends[k] || first + n > rows {
                        return Err(Unexpected);
                    }
                    ends[k] += n;
                    columns[k].push((ni, ci, bytes));
                }
            }
        };
        self.at = end;
        Ok(Some(UnitChunks {
            rows: rows_of(start, end),
            columns,
        }))
    }

    /// Every recorded chunk was read, and the file holds no more.
    fn finish(&mut self) -> Result<(), Unexpected> {
        for (ni, name) in self.names.iter().enumerate() {
            if self.next[ni] != self.expected[ni] {
                return Err(Unexpected);
            }
            let beyond = (self.snap, name.as_str(), self.expected[ni])
                ..=(self.snap, name.as_str(), u32::MAX);
            let more = crate::store::contain(|| {
                self.table
                    .range(beyond)
                    .map(|mut r| r.next().is_some())
                    .unwrap_or(true)
            })
            .unwrap_or(true);
            if more {
                return Err(Unexpected);
            }
        }
        Ok(())
    }
}

/// Where the units come from.
pub(super) enum Source {
    Preloaded(Preloaded),
    Streamed(Box<Stream>),
}

/// A source behind a lock, numbering the units it hands out; it hands out
/// nothing more once a [`Stream`] stopped or the restore gave up.
pub(super) struct Units {
    state: Mutex<State>,
}

struct State {
    source: Source,
    /// Units handed out.
    claimed: usize,
    /// A stream stopped (see [`Sourced::ReadAgain`]).
    stopped: bool,
    /// The restore failed: decoding more is wasted.
    cancelled: bool,
}

/// How the units were handed out.
pub(crate) enum Sourced {
    /// Every unit, in order.
    Whole,
    /// A stream stopped: restore again from a fresh world, every chunk read
    /// and checked first.
    ReadAgain,
}

impl Units {
    pub(super) fn new(source: Source) -> Self {
        Units {
            state: Mutex::new(State {
                source,
                claimed: 0,
                stopped: false,
                cancelled: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next unit and its number.
    fn claim(&self) -> Option<(usize, UnitChunks)> {
        let mut state = self.state();
        if state.stopped || state.cancelled {
            return None;
        }
        let next = match &mut state.source {
            Source::Preloaded(p) => p.next(),
            Source::Streamed(s) => s.next(),
        };
        match next {
            Ok(Some(unit)) => {
                state.claimed += 1;
                Some((state.claimed - 1, unit))
            }
            Ok(None) => None,
            Err(Unexpected) => {
                state.stopped = true;
                None
            }
        }
    }

    /// How many units were handed out.
    fn claimed(&self) -> usize {
        self.state().claimed
    }

    /// No unit is handed out any more: the restore failed.
    pub(super) fn cancel(&self) {
        self.state().cancelled = true;
    }

    pub(super) fn sourced(&self) -> Sourced {
        if self.state().stopped {
            Sourced::ReadAgain
        } else {
            Sourced::Whole
        }
    }
}

/// Runs `spawn` with `take`, which hands out the decoded units in order:
/// decoders claim units in order on the cores this thread leaves free, and
/// this thread claims and decodes the next unit itself whenever the one it
/// needs is not ready (a pool of one thread cannot deadlock). `waited`:
/// the time this thread waited for decoders, and the units it decoded.
pub(super) fn in_order<D, F>(
    units: &Units,
    decode_unit: &(dyn Fn(&UnitChunks) -> D + Sync),
    waited: &mut (std::time::Duration, usize),
    spawn: F,
) where
    D: Send,
    F: FnOnce(&mut dyn FnMut() -> Option<(Rows, D)>),
{
    let (tx, rx) = crossbeam_channel::unbounded::<(usize, Rows, D)>();
    let decoders = rayon::current_num_threads().saturating_sub(1).max(1);
    rayon::in_place_scope(|scope| {
        for _ in 0..decoders {
            let tx = tx.clone();
            scope.spawn(move |_| {
                while let Some((ui, unit)) = units.claim() {
                    let rows = unit.rows;
                    let decoded = decode_unit(&unit);
                    // The chunk's pages go as soon as its values are out.
                    drop(unit);
                    if tx.send((ui, rows, decoded)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Decoded units, taken in order whatever order they arrive in.
        let mut ready: BTreeMap<usize, (Rows, D)> = BTreeMap::new();
        let mut next = 0;
        let mut take = || loop {
            if let Some(result) = ready.remove(&next) {
                next += 1;
                return Some(result);
            }
            if let Ok((ui, rows, result)) = rx.try_recv() {
                ready.insert(ui, (rows, result));
                continue;
            }
            // Not decoded yet: decode the next unclaimed unit here. Once
            // every unit is claimed, the rest are being decoded by running
            // decoders (a decoder that never started claimed none), so
            // waiting for them cannot deadlock; with none left, the units
            // are all handed out.
            if let Some((ui, unit)) = units.claim() {
                waited.1 += 1;
                let rows = unit.rows;
                ready.insert(ui, (rows, decode_unit(&unit)));
                continue;
            }
            if units.claimed() == next {
                return None;
            }
            let t = std::time::Instant::now();
            let received = rx.recv();
            waited.0 += t.elapsed();
            let (ui, rows, result) = received.ok()?;
            ready.insert(ui, (rows, result));
        };
        spawn(&mut take);
    });
}

impl Ctx<'_> {
    /// Checks every chunk header and cuts each group into units: the rows
    /// between places where every column of the group starts a chunk.
    pub(super) fn units(
        &self,
        snap: u64,
        groups: &[GroupMeta],
        names: &[&str],
        raw: &[(usize, u32, Stored)],
    ) -> Result<Vec<Unit>, RestoreError> {
        // (group, column) -> [(start, rows, raw index)]
        let mut by: BTreeMap<(usize, usize), Vec<(usize, usize, usize)>> = BTreeMap::new();
        for (i, (ni, ci, bytes)) in raw.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, snap, names[*ni], *ci, r);
            let chunk = parse(bytes).map_err(bad)?;
            let Layout::Rows { group, start } = chunk.layout else {
                return Err(bad("not a row chunk".into()));
            };
            let rows = groups
                .get(group as usize)
                .map(|g| g.rows)
                .ok_or_else(|| bad(format!("group {group} does not exist")))?;
            if u64::from(start) + u64::from(chunk.rows) > rows {
                return Err(bad(format!(
                    "rows {start}+{} beyond the group's {rows}",
                    chunk.rows
                )));
            }
            by.entry((group as usize, *ni)).or_default().push((
                start as usize,
                chunk.rows as usize,
                i,
            ));
        }
        let mut units = Vec::new();
        for (gi, g) in groups.iter().enumerate() {
            let rows = g.rows as usize;
            let mut cols = Vec::with_capacity(g.components.len());
            for name in &g.components {
                let ni = names.iter().position(|n| n == name).unwrap_or(usize::MAX);
                let mut pieces = by.remove(&(gi, ni)).unwrap_or_default();
                pieces.sort_unstable();
                let mut at = 0;
                for &(start, n, _) in &pieces {
                    if start != at {
                        return Err(corrupt(
                            self.store,
                            snap,
                            name,
                            0,
                            format!("group {gi}: rows from {start} follow {at} rows"),
                        ));
                    }
                    at += n;
                }
                if at != rows {
                    return Err(corrupt(
                        self.store,
                        snap,
                        name,
                        0,
                        format!("group {gi}: the column covers {at} of its {rows} rows"),
                    ));
                }
                cols.push(pieces);
            }
            if rows == 0 {
                continue;
            }
            // Cut where every column starts a chunk.
            let mut cuts: Vec<usize> = vec![0, rows];
            if let Some(first) = cols.first() {
                cuts.extend(
                    first
                        .iter()
                        .map(|p| p.0)
                        .filter(|s| cols.iter().all(|c| c.iter().any(|p| p.0 == *s))),
                );
            }
            cuts.sort_unstable();
            cuts.dedup();
            for w in cuts.windows(2) {
                let (start, end) = (w[0], w[1]);
                units.push(Unit {
                    group: gi,
                    start,
                    end,
                    columns: cols
                        .iter()
                        .map(|c| {
                            c.iter()
                                .filter(|p| p.0 >= start && p.0 < end)
                                .map(|p| p.2)
                                .collect()
                        })
                        .collect(),
                });
            }
        }
        Ok(units)
    }
}
