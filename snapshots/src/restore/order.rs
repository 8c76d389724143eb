//! The order of relationship targets' lists (bevy's `Children`), which a
//! snapshot records beside the relationship component (`@order/<name>`):
//! a full restore inserts the relationship in that order; after a delta,
//! a list that came out in another order is put right by inserting its
//! entries' relationship again, in order (each moves to the end), past the
//! start it already shares with the recorded list.

use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use dizzy_components::{Relation, UidMap, Uids, codec};

use crate::error::RestoreError;
use crate::format::{Layout, SnapshotMeta, col, parse};

use super::{Ctx, corrupt};

/// Indices into a column's rows, in the order to insert them.
pub(super) type Order = Vec<usize>;

impl Ctx<'_> {
    /// The lists recorded for relationship `name`: (target uid, entries' uids).
    fn recorded_lists(
        &self,
        meta: &SnapshotMeta,
        name: &str,
    ) -> Result<Vec<(u64, Vec<u64>)>, RestoreError> {
        let column = format!("{}{name}", col::ORDER);
        let mut out = Vec::new();
        for (ci, bytes) in self.chunks(meta, &column)?.iter().enumerate() {
            let bad = |r: String| corrupt(self.store, meta.id, &column, ci as u32, r);
            let chunk = parse(bytes).map_err(bad)?;
            if chunk.layout != Layout::Keyed {
                return Err(bad("not a keyed chunk".into()));
            }
            let mut lists = Vec::new();
            codec::decode_rows::<Vec<u64>>(chunk.payload, chunk.rows as usize, |l| lists.push(l))
                .map_err(|e| bad(e.to_string()))?;
            out.extend(chunk.uids().zip(lists));
        }
        Ok(out)
    }

    /// The order in which to insert the rows of relationship `name` (held
    /// by `holders`, by uid) so that every target's list comes out as the
    /// snapshot records it; `None` when the snapshot records no order.
    pub(super) fn order(
        &self,
        meta: &SnapshotMeta,
        name: &str,
        holders: &[u64],
    ) -> Result<Option<Order>, RestoreError> {
        if meta.column(&format!("{}{name}", col::ORDER)).is_none() {
            return Ok(None);
        }
        let lists = self.recorded_lists(meta, name)?;
        Ok(Some(insertion_order(lists, holders)))
    }

    /// Puts every recorded list of `meta` in its recorded order.
    pub(super) fn apply_orders(
        &mut self,
        world: &mut World,
        meta: &SnapshotMeta,
    ) -> Result<(), RestoreError> {
        // Relationship hooks add to lists through commands: apply them first.
        world.flush();
        for c in meta
            .columns
            .iter()
            .filter(|c| c.name.starts_with(col::ORDER))
        {
            let name = &c.name[col::ORDER.len()..];
            let Some(ops) = self.registry.get(name).and_then(|r| r.column()) else {
                // A relationship this build does not register, kept: its
                // lists are kept too, for the next snapshots.
                if self.unknown == crate::Unknown::Keep && self.registry.get(name).is_none() {
                    self.kept.mark_relationship(name);
                    for (target, list) in self.recorded_lists(meta, name)? {
                        self.kept.set_order(name, target, list);
                    }
                }
                continue;
            };
            let Some(relation) = ops
                .component_id(world)
                .and_then(|id| Relation::of(world, id))
            else {
                continue;
            };
            for (target, list) in self.recorded_lists(meta, name)? {
                let (wanted, target): (Vec<Entity>, Option<Entity>) = {
                    let uids = world.resource::<Uids>();
                    (
                        list.iter().filter_map(|&u| uids.entity(u)).collect(),
                        uids.entity(target),
                    )
                };
                let Some(target) = target else { continue };
                let current = relation.list(world, target).unwrap_or_default();
                if current != wanted {
                    ops.rebuild_list(world, &current, &wanted);
                }
            }
        }
        Ok(())
    }
}

/// The order in which to insert the rows of `holders` (uids) so that
/// every recorded list (`lists`: target uid, entries' uids) is built in its
/// order: the lists' rows merged by row, the smallest first, so that rows
/// come in table order wherever the lists allow (after ten rounds of
/// moves, a million children inserted by their places in their lists,
/// which scatters them over the table, took 600–915 ms to insert against
/// 430 ms so); then the rows in no list, in their order. A row listed twice (a
/// hostile file) comes where it is first reached.
fn insertion_order(lists: Vec<(u64, Vec<u64>)>, holders: &[u64]) -> Order {
    let row_of = rows_by_uid(holders);
    // Every list's rows, one after the other; `ends[c]`: where list `c` ends.
    let mut rows: Vec<usize> = Vec::with_capacity(holders.len());
    let mut ends: Vec<usize> = Vec::with_capacity(lists.len());
    for (_, list) in lists {
        rows.extend(list.iter().filter_map(|&u| row_of(u)));
        ends.push(rows.len());
    }
    drop(row_of);
    // Each list's head: (row, where it is in `rows`, where the list ends).
    let mut heads: std::collections::BinaryHeap<std::cmp::Reverse<(usize, usize, usize)>> = ends
        .iter()
        .scan(0, |start, &end| {
            let head = (*start < end).then(|| std::cmp::Reverse((rows[*start], *start, end)));
            *start = end;
            Some(head)
        })
        .flatten()
        .collect();
    let mut placed = vec![false; holders.len()];
    let mut order: Order = Vec::with_capacity(holders.len());
    while let Some(mut head) = heads.peek_mut() {
        let std::cmp::Reverse((row, at, end)) = *head;
        if !std::mem::replace(&mut placed[row], true) {
            order.push(row);
        }
        if at + 1 < end {
            *head = std::cmp::Reverse((rows[at + 1], at + 1, end));
        } else {
            std::collections::binary_heap::PeekMut::pop(head);
        }
    }
    order.extend((0..holders.len()).filter(|&r| !placed[r]));
    order
}

/// The row of each uid of `holders`. The uids a world allocates are
/// sequential, so a vector over their span is the index when it is no more
/// than a few times the rows (a map's random probes cost 160 ms for a
/// million); any other span falls back to a map.
fn rows_by_uid(holders: &[u64]) -> impl Fn(u64) -> Option<usize> {
    let (lo, hi) = holders
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &u| (lo.min(u), hi.max(u)));
    let span = hi.saturating_sub(lo).saturating_add(1);
    let dense = !holders.is_empty() && span <= (holders.len() as u64).saturating_mul(4) + 1024;
    let mut at: Vec<usize> = Vec::new();
    let mut map: UidMap<usize> = UidMap::default();
    if dense {
        at = vec![usize::MAX; span as usize];
        for (row, &uid) in holders.iter().enumerate() {
            at[(uid - lo) as usize] = row;
        }
    } else {
        map.reserve(holders.len());
        for (row, &uid) in holders.iter().enumerate() {
            map.insert(uid, row);
        }
    }
    move |uid: u64| {
        if dense {
            let row = *at.get(usize::try_from(uid.checked_sub(lo)?).ok()?)?;
            (row != usize::MAX).then_some(row)
        } else {
            map.get(&uid).copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::insertion_order;

    /// Checks what `insertion_order` promises: a permutation of the rows;
    /// each list's rows (the holders it names) in list order when no uid is
    /// in two lists; the rows in no list last, in row order.
    fn check(lists: &[(u64, Vec<u64>)], holders: &[u64]) -> Vec<usize> {
        let order = insertion_order(lists.to_vec(), holders);
        let mut seen = vec![false; holders.len()];
        for &r in &order {
            assert!(
                !std::mem::replace(&mut seen[r], true),
                "row {r} twice in {order:?}"
            );
        }
        assert!(seen.iter().all(|&s| s), "not every row in {order:?}");
        let place = |uid: u64| {
            let row = holders.iter().position(|&h| h == uid)?;
            order.iter().position(|&r| r == row)
        };
        let mut listed = std::collections::HashSet::new();
        let once = lists.iter().flat_map(|(_, l)| l).all(|&u| listed.insert(u));
        for (_, list) in lists.iter().filter(|_| once) {
            let places: Vec<usize> = list.iter().filter_map(|&u| place(u)).collect();
            assert!(
                places.is_sorted(),
                "list {list:?} out of order in {order:?}"
            );
        }
        let unlisted: Vec<usize> = (0..holders.len())
            .filter(|&r| !lists.iter().any(|(_, l)| l.contains(&holders[r])))
            .collect();
        assert_eq!(order[order.len() - unlisted.len()..], unlisted[..]);
        order
    }

    #[test]
    fn lists_come_in_their_order_and_unlisted_rows_last() {
        // Two targets (100, 200); uid 9 and 11 are in no list.
        let lists = vec![(100, vec![5, 3, 7]), (200, vec![8, 4, 6])];
        let holders = [9, 7, 6, 5, 4, 3, 8, 11];
        let order = check(&lists, &holders);
        let uids: Vec<u64> = order.iter().map(|&i| holders[i]).collect();
        // Merged by row: the first list's head is row 3, before the
        // second's (row 6); its next rows (5, then 1) still come before 6.
        assert_eq!(uids, [5, 3, 7, 8, 4, 6, 9, 11]);
    }

    #[test]
    fn lists_in_row_order_keep_the_rows_in_place() {
        let holders: Vec<u64> = (10..1010).collect();
        let lists: Vec<(u64, Vec<u64>)> = (0..7)
            .map(|t| (t, holders.iter().copied().filter(|u| u % 7 == t).collect()))
            .collect();
        assert_eq!(check(&lists, &holders), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_uid_listed_twice_or_not_held_is_placed_once_or_skipped() {
        let lists = vec![(1, vec![3, 99, 2]), (2, vec![2, 3, 1])];
        check(&lists, &[1, 2, 3, 4]);
    }

    #[test]
    fn uids_far_apart_are_found_by_the_map() {
        let lists = vec![(1, vec![u64::MAX - 1, 2, 1 << 50]), (3, vec![7, 1 << 40])];
        let holders = [1 << 40, 2, 9, 7, u64::MAX - 1, 1 << 50];
        let order = check(&lists, &holders);
        assert_eq!(order, [3, 0, 4, 1, 5, 2]);
    }

    #[test]
    fn no_lists_keeps_the_rows_in_their_order() {
        assert_eq!(insertion_order(Vec::new(), &[3, 1, 2]), [0, 1, 2]);
        assert_eq!(insertion_order(Vec::new(), &[]), Vec::<usize>::new());
    }

    #[test]
    fn random_lists_are_kept() {
        let mut z = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            z
        };
        for _ in 0..100 {
            let n = next() % 200;
            let holders: Vec<u64> = (0..n).map(|i| i * 7 + 1).collect();
            let mut lists: Vec<(u64, Vec<u64>)> = (0..5).map(|t| (1_000 + t, Vec::new())).collect();
            let mut shuffled = holders.clone();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            for &h in &shuffled {
                if next() % 4 != 0 {
                    lists[(next() % 5) as usize].1.push(h);
                }
            }
            check(&lists, &holders);
        }
    }
}
