//! `dizzy bench hierarchy`: what restoring a bevy hierarchy costs.
//!
//! The world: `parents` parents (`Crate`) and `children` children (`Item`,
//! each with a `ChildOf` to a parent, spread over the parents in turn), all
//! persisted; `rounds` rounds then each move 1% of the children to a random
//! parent, half of them to the front of its list (`insert_children(0, …)`),
//! so that the lists leave the table's order. Each repetition uses a fresh
//! file and reports, as medians (ms):
//!
//! - `restore_ms`: open the file read-only and restore its latest full
//!   snapshot, every list (`Children`) rebuilt in its recorded order;
//! - `spawn_baseline_ms`: plain bevy_ecs building the same hierarchy from
//!   memory: the parents, then `spawn_batch` of every child with its
//!   `ChildOf`, list by list, in list order (no uids, no hooks of dizzy's).
//!
//! Each restore is checked: as many entities, and every parent's list the
//! same children in the same order as the world that was saved.

use std::path::Path;
use std::time::Instant;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use dizzy::{App, SnapshotPolicy};
use dizzy_components::Uid;
use dizzy_demos::particles::mix;

use crate::snapshot::{median, round};

/// What to measure.
#[derive(Clone, Debug)]
pub struct HierarchyBench {
    /// Children (entities with a `ChildOf`).
    pub children: usize,
    /// Parents (at least 1).
    pub parents: usize,
    /// Rounds of moves (1% of the children each) before the snapshot.
    pub rounds: usize,
    /// Repetitions (the median is reported).
    pub reps: usize,
}

impl Default for HierarchyBench {
    fn default() -> Self {
        HierarchyBench {
            children: 1_000_000,
            parents: 10_000,
            rounds: 10,
            reps: 3,
        }
    }
}

/// A parent.
#[derive(Component, Serialize, Deserialize)]
struct Crate(u64);

/// A child.
#[derive(Component, Serialize, Deserialize)]
struct Item(u64);

type BenchError = Box<dyn std::error::Error>;

fn app() -> App {
    App::new()
        .component::<Crate>("bench.crate")
        .component::<Item>("bench.item")
        .component::<ChildOf>("bench.child_of")
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// Every parent's list, by the values of parent and children, sorted by
/// parent.
fn lists(world: &mut World) -> Vec<(u64, Vec<u64>)> {
    let mut q = world.query::<(&Crate, Option<&Children>)>();
    let mut out: Vec<(u64, Vec<u64>)> = q
        .iter(world)
        .map(|(c, kids)| {
            let kids = kids.map_or_else(Vec::new, |k| {
                k.iter()
                    .map(|e| world.get::<Item>(e).map_or(u64::MAX, |i| i.0))
                    .collect()
            });
            (c.0, kids)
        })
        .collect();
    out.sort_unstable();
    out
}

impl HierarchyBench {
    /// Runs the benchmark in `dir` (files are created and removed there) and
    /// returns the JSON report. `progress` is told what runs.
    ///
    /// # Errors
    /// The file cannot be written or restored, or a restore is not the
    /// world that was saved.
    pub fn run(&self, dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<Value, BenchError> {
        let parents = self.parents.max(1);
        let mut restore = Vec::new();
        let mut spawn = Vec::new();
        let mut bytes = 0;
        for rep in 0..self.reps.max(1) {
            progress(&format!("repetition {}", rep + 1));
            let path = dir.join(format!("hierarchy-{rep}.redb"));
            let _ = std::fs::remove_file(&path);
            let mut rt = app().db(&path).open()?;
            let w = rt.world_mut();
            let crates: Vec<Entity> = (0..parents as u64)
                .map(|i| w.spawn(Crate(i)).id())
                .collect();
            let items: Vec<Entity> = w
                .spawn_batch(
                    (0..self.children).map(|i| (Item(i as u64), ChildOf(crates[i % parents]))),
                )
                .collect();
            let mut z = rep as u64;
            for _ in 0..self.rounds {
                for _ in 0..self.children / 100 {
                    z += 1;
                    let r = mix(z);
                    let item = items[(r % items.len() as u64) as usize];
                    let to = crates[((r >> 24) % parents as u64) as usize];
                    if r >> 50 & 1 == 0 {
                        w.entity_mut(to).insert_children(0, &[item]);
                    } else {
                        w.entity_mut(item).insert(ChildOf(to));
                    }
                }
            }
            let saved = lists(w);
            let full = rt.snapshot_full()?;
            rt.close()?;
            bytes = std::fs::metadata(&path).map_or(0, |m| m.len());

            let registry = app().try_registry()?;
            let options = dizzy_snapshots::RestoreOptions {
                snapshot: full,
                ..Default::default()
            };
            let t = Instant::now();
            let store = dizzy_snapshots::Store::open_read_only(&path)?;
            let mut restored = dizzy_snapshots::restore(&store, &registry, &options)?;
            restore.push(t.elapsed().as_secs_f64() * 1e3);
            let w = &mut restored.world;
            let n = w.query::<&Uid>().iter(w).count();
            if n != parents + self.children {
                return Err(format!(
                    "restored {n} entities, expected {}",
                    parents + self.children
                )
                .into());
            }
            if lists(w) != saved {
                return Err("a restored list differs from the saved one".into());
            }
            drop((restored, store));
            let _ = std::fs::remove_file(&path);
            spawn.push(spawn_baseline(&saved));
        }
        let restore = median(restore);
        let spawn = median(spawn);
        Ok(json!({
            "children": self.children,
            "parents": parents,
            "rounds": self.rounds,
            "reps": self.reps.max(1),
            "file_bytes": bytes,
            "restore_ms": round(restore),
            "spawn_baseline_ms": round(spawn),
            "restore_over_spawn_baseline": round(restore / spawn),
        }))
    }
}

/// Plain bevy building `lists` (parent, children in order): the parents,
/// then every child with its `ChildOf` in one batch, list by list.
fn spawn_baseline(lists: &[(u64, Vec<u64>)]) -> f64 {
    let mut world = World::new();
    let t = Instant::now();
    let parents: Vec<Entity> = lists
        .iter()
        .map(|(p, _)| world.spawn(Crate(*p)).id())
        .collect();
    let rows: Vec<(Item, ChildOf)> = lists
        .iter()
        .zip(&parents)
        .flat_map(|((_, kids), &p)| kids.iter().map(move |&k| (Item(k), ChildOf(p))))
        .collect();
    world.spawn_batch(rows);
    world.flush();
    let elapsed = t.elapsed().as_secs_f64() * 1e3;
    drop(world);
    elapsed
}

#[cfg(test)]
mod tests {
    use super::HierarchyBench;

    #[test]
    fn a_small_hierarchy_restores_with_every_list_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let bench = HierarchyBench {
            children: 3_000,
            parents: 30,
            rounds: 5,
            reps: 1,
        };
        let report = bench.run(dir.path(), &mut |_| {}).unwrap();
        assert_eq!(report["children"], 3_000);
        assert!(report["restore_ms"].as_f64().unwrap() > 0.0);
        assert!(report["spawn_baseline_ms"].as_f64().unwrap() > 0.0);
    }
}
