//! A full snapshot's rows are read as they are spawned, chunk after chunk
//! in the order dizzy writes them. A file whose chunks are numbered in
//! another order (a valid file: each chunk says which rows it holds) comes
//! back exactly as the file in dizzy's order does: the same entities, values,
//! query order and `Children` order. A chunk that is missing is an error
//! that names its column, as before.

use dizzy::bevy_ecs::hierarchy::{ChildOf, Children};
use dizzy::prelude::*;
use dizzy::snapshots::CaptureSettings;
use dizzy::snapshots::fuzzing::{self, Raw};
use dizzy_tests::Rng;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Plant {
    name: String,
    height: f32,
}

#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
struct Water(u32);

#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
struct Bed(u16);

fn app() -> App {
    App::new()
        .component::<Plant>("greenhouse.plant")
        .component::<Water>("greenhouse.water")
        .component::<Bed>("greenhouse.bed")
        .component::<ChildOf>("greenhouse.child_of")
        .snapshot_policy(SnapshotPolicy::OFF)
        // Small chunks: every column of a group is cut into many, each at
        // its own rows (names grow longer as the rows go on).
        .capture_settings(CaptureSettings {
            chunk_bytes: 300,
            ..Default::default()
        })
}

/// A greenhouse: beds, plants in beds (`ChildOf`), some watered, some
/// loose; three groups with columns chunked at different rows.
fn written() -> Raw {
    let store = fuzzing::memory_store("greenhouse").unwrap();
    let mut rt = app().store(store.clone()).open().unwrap();
    let mut rng = Rng(0x9ee7);
    let beds: Vec<Entity> = (0..7).map(|i| rt.world_mut().spawn(Bed(i)).id()).collect();
    for i in 0..1_500u32 {
        let plant = Plant {
            name: "x".repeat(1 + (i as usize / 40)) + &i.to_string(),
            height: i as f32 * 0.25,
        };
        let w = rt.world_mut();
        match i % 3 {
            0 => w.spawn(plant),
            1 => w.spawn((plant, Water(i * 3))),
            _ => w.spawn((plant, Water(i), ChildOf(beds[rng.below(7) as usize]))),
        };
    }
    rt.snapshot_full().unwrap();
    rt.close().unwrap();
    let raw = fuzzing::read_raw(&store).unwrap();
    assert_eq!(raw.records.len(), 1, "one snapshot: the full one");
    raw
}

/// Every entity in query order: uid, plant, water, bed, parent's uid; then
/// each bed's children by uid, in their order.
type Contents = (
    Vec<(u64, Option<Plant>, Option<Water>, Option<Bed>, Option<u64>)>,
    Vec<(u64, Vec<u64>)>,
);

fn contents(world: &mut World) -> Contents {
    let uid_of = |w: &World, e: Entity| w.get::<Uid>(e).map(|u| u.get());
    let mut q = world.query::<(
        Entity,
        &Uid,
        Option<&Plant>,
        Option<&Water>,
        Option<&Bed>,
        Option<&ChildOf>,
    )>();
    let rows = q
        .iter(world)
        .map(|(_, u, p, w, b, c)| {
            (
                u.get(),
                p.cloned(),
                w.copied(),
                b.copied(),
                c.and_then(|c| uid_of(world, c.parent())),
            )
        })
        .collect();
    let mut lists = world.query::<(&Uid, &Children)>();
    let mut lists: Vec<(u64, Vec<u64>)> = lists
        .iter(world)
        .map(|(u, c)| (u.get(), c.iter().filter_map(|e| uid_of(world, e)).collect()))
        .collect();
    lists.sort();
    (rows, lists)
}

fn open(raw: &Raw) -> Result<Contents, String> {
    let store = fuzzing::memory_store("greenhouse").unwrap();
    fuzzing::write_raw(&store, raw).unwrap();
    let mut rt = app().store(store).open().map_err(|e| e.to_string())?;
    fuzzing::check_world(rt.world_mut())?;
    Ok(contents(rt.world_mut()))
}

/// The chunks of column `name` of the full snapshot, renumbered by `order`
/// (the new number of the chunk numbered `i` is `order[i]`).
fn renumbered(raw: &Raw, name: &str, order: &mut dyn FnMut(usize) -> Vec<u32>) -> Raw {
    let full = raw.records[0].0;
    let mut out = raw.clone();
    let mine: Vec<usize> = out
        .chunks
        .iter()
        .enumerate()
        .filter(|(_, ((id, col, _), _))| *id == full && col == name)
        .map(|(i, _)| i)
        .collect();
    let numbers = order(mine.len());
    for (k, &i) in mine.iter().enumerate() {
        out.chunks[i].0.2 = numbers[k];
    }
    out
}

fn row_columns(raw: &Raw) -> Vec<String> {
    let full = raw.records[0].0;
    let mut names: Vec<String> = raw
        .chunks
        .iter()
        .filter(|((id, col, n), _)| *id == full && !col.starts_with('@') && *n > 0)
        .map(|((_, col, _), _)| col.clone())
        .collect();
    names.dedup();
    names
}

#[test]
fn chunks_numbered_in_any_order_restore_the_same_world() {
    let raw = written();
    let expected = open(&raw).unwrap();
    assert_eq!(expected.0.len(), 1_507);
    assert_eq!(expected.1.len(), 7);
    let names = row_columns(&raw);
    for name in [
        "greenhouse.plant",
        "greenhouse.water",
        "greenhouse.child_of",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{names:?}: {name} in chunks"
        );
    }
    let mut rng = Rng(0x0dd);
    for name in &names {
        let reversed = renumbered(&raw, name, &mut |n| (0..n as u32).rev().collect());
        assert_eq!(open(&reversed).unwrap(), expected, "{name} reversed");
        let swapped = renumbered(&raw, name, &mut |n| {
            let mut v: Vec<u32> = (0..n as u32).collect();
            v.swap(1, n - 1);
            v
        });
        assert_eq!(open(&swapped).unwrap(), expected, "{name}: two swapped");
        let shuffled = renumbered(&raw, name, &mut |n| {
            let mut v: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                v.swap(i, rng.below(i as u64 + 1) as usize);
            }
            v
        });
        assert_eq!(open(&shuffled).unwrap(), expected, "{name} shuffled");
    }
}

#[test]
fn a_missing_chunk_is_an_error_naming_its_column() {
    let raw = written();
    let full = raw.records[0].0;
    for name in row_columns(&raw) {
        let count = raw
            .chunks
            .iter()
            .filter(|((id, col, _), _)| *id == full && *col == name)
            .count() as u32;
        // The first, the second, the last.
        for at in [0, 1, count - 1] {
            let mut broken = raw.clone();
            // Chunk `at` goes; the ones after it move down one number.
            broken
                .chunks
                .retain(|((id, col, n), _)| !(*id == full && *col == name && *n == at));
            for ((id, col, n), _) in &mut broken.chunks {
                if *id == full && *col == name && *n > at {
                    *n -= 1;
                }
            }
            match open(&broken) {
                Ok(_) => panic!("{name} without chunk {at} restored"),
                Err(e) => assert!(e.contains(&name), "{name}, chunk {at}: {e}"),
            }
        }
    }
}
