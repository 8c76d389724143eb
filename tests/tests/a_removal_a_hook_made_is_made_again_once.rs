//! A despawn made again by a restore runs the hooks it ran: a relationship
//! target's hook takes the relationship off its sources, bevy's
//! `linked_spawn` despawns the children. When the snapshot's record also
//! holds those removals (the source despawned or its relationship removed
//! after its target went), each is made once, as in the run that never
//! stopped. Before, a target despawned and then its source, in one batch of
//! commands, made `RemovedComponents<R>` readers of the next tick see the
//! source's removal twice after a resume (found by a fresh tester, bees
//! visiting flowers).
//!
//! Covered: a custom relationship and bevy's `ChildOf`, the target
//! despawned before or after its sources, the sources despawned or their
//! relationship removed, by the last system's commands and between ticks
//! (`world_mut()` before `close()`), resumed from a full snapshot and from
//! a delta; compared with the run that never stopped, reader by reader.

use std::path::Path;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
struct Flower;

#[derive(Component, Serialize, Deserialize)]
#[relationship(relationship_target = Visitors)]
struct Visiting(Entity);

#[derive(Component)]
#[relationship_target(relationship = Visiting)]
struct Visitors(Vec<Entity>);

#[derive(Component, Serialize, Deserialize)]
struct Bee;

#[derive(Component, Serialize, Deserialize)]
struct Hive;

/// What each reader saw, tick by tick: `(tick, component, uid)`.
#[derive(Resource, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Seen(Vec<(u64, String, u64)>);

#[derive(Resource, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
struct Tick(u64);

/// Which removals the scenario makes, and when.
#[derive(Resource, Clone, Copy, Debug)]
struct Scenario {
    order: Order,
    between_ticks: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Order {
    /// The flower, then its visitors (despawned).
    TargetThenSources,
    /// The flower, then its visitors' relationship (removed).
    TargetThenRelationship,
    /// The visitors, then the flower.
    SourcesThenTarget,
    /// The hive (its bees go with it: `linked_spawn`), then each bee.
    ParentThenChildren,
    /// Each bee's `ChildOf` removed, then the hive.
    DetachThenParent,
}

/// The tick at which the scenario's removals are made.
const AT: u64 = 2;

fn readers(
    mut visiting: RemovedComponents<Visiting>,
    mut flower: RemovedComponents<Flower>,
    mut child_of: RemovedComponents<ChildOf>,
    mut bee: RemovedComponents<Bee>,
    uids: Query<&Uid>,
    mut tick: ResMut<Tick>,
    mut seen: ResMut<Seen>,
) {
    tick.0 += 1;
    let t = tick.0;
    let mut note = |name: &str, e: Entity| {
        // A despawned entity's uid is gone with it; its id is not the same
        // across a resume, so it is noted as 0.
        let uid = uids.get(e).map_or(0, |u| u.get());
        seen.0.push((t, name.to_owned(), uid));
    };
    for e in visiting.read() {
        note("visiting", e);
    }
    for e in flower.read() {
        note("flower", e);
    }
    for e in child_of.read() {
        note("child_of", e);
    }
    for e in bee.read() {
        note("bee", e);
    }
}

/// The entities of `q` in uid order.
fn by_uid<F: bevy_ecs::query::QueryFilter>(q: &Query<(Entity, &Uid), F>) -> Vec<Entity> {
    q.iter().sort::<&Uid>().map(|(e, _)| e).collect()
}

fn remover(
    mut commands: Commands,
    scenario: Res<Scenario>,
    tick: Res<Tick>,
    flowers: Query<(Entity, &Uid), With<Flower>>,
    visitors: Query<(Entity, &Uid), With<Visiting>>,
    hives: Query<(Entity, &Uid), With<Hive>>,
    bees: Query<(Entity, &Uid), With<Bee>>,
) {
    if scenario.between_ticks || tick.0 != AT {
        return;
    }
    // In uid order: a query's order is not kept by a resume.
    let flowers = by_uid(&flowers);
    let visitors = by_uid(&visitors);
    let hives = by_uid(&hives);
    let bees = by_uid(&bees);
    make(scenario.order, &mut |op| match op {
        Op::Despawn(set) => {
            for &e in pick(set, &flowers, &visitors, &hives, &bees) {
                commands.entity(e).try_despawn();
            }
        }
        Op::RemoveVisiting => {
            for &e in &visitors {
                commands.entity(e).try_remove::<Visiting>();
            }
        }
        Op::RemoveChildOf => {
            for &e in &bees {
                commands.entity(e).try_remove::<ChildOf>();
            }
        }
    });
}

#[derive(Clone, Copy)]
enum Set {
    Flowers,
    Visitors,
    Hives,
    Bees,
}

enum Op {
    Despawn(Set),
    RemoveVisiting,
    RemoveChildOf,
}

fn pick<'a>(
    set: Set,
    flowers: &'a [Entity],
    visitors: &'a [Entity],
    hives: &'a [Entity],
    bees: &'a [Entity],
) -> &'a [Entity] {
    match set {
        Set::Flowers => flowers,
        Set::Visitors => visitors,
        Set::Hives => hives,
        Set::Bees => bees,
    }
}

/// The operations of `order`, in order.
fn make(order: Order, op: &mut dyn FnMut(Op)) {
    match order {
        Order::TargetThenSources => {
            op(Op::Despawn(Set::Flowers));
            op(Op::Despawn(Set::Visitors));
        }
        Order::TargetThenRelationship => {
            op(Op::Despawn(Set::Flowers));
            op(Op::RemoveVisiting);
        }
        Order::SourcesThenTarget => {
            op(Op::Despawn(Set::Visitors));
            op(Op::Despawn(Set::Flowers));
        }
        Order::ParentThenChildren => {
            op(Op::Despawn(Set::Hives));
            op(Op::Despawn(Set::Bees));
        }
        Order::DetachThenParent => {
            op(Op::RemoveChildOf);
            op(Op::Despawn(Set::Hives));
        }
    }
}

fn app(db: &Path, scenario: Scenario, max_chain: u32) -> App {
    let mut app = App::new()
        .db(db)
        .component::<Flower>("bees.flower")
        .component::<Visiting>("bees.visiting")
        .component::<Bee>("bees.bee")
        .component::<Hive>("bees.hive")
        .component::<ChildOf>("bees.child_of")
        .resource("bees.seen", Seen::default())
        .resource("bees.tick", Tick::default())
        .systems((readers, remover).chain())
        .capture_settings(dizzy::CaptureSettings {
            max_chain,
            ..Default::default()
        });
    app.setup().transient_resource(scenario);
    app
}

/// The world of every run: two flowers with two visitors each (one of
/// them also a bee of the hive), and a hive with three bees.
fn populate(run: &mut dizzy::Runtime) {
    let hive = run.spawn(Hive);
    for _ in 0..2 {
        let flower = run.spawn(Flower);
        run.spawn(Visiting(flower));
        run.spawn((Visiting(flower), Bee, ChildOf(hive)));
    }
    run.spawn((Bee, ChildOf(hive)));
}

/// Between ticks, the same operations through `world_mut()`.
fn between(run: &mut dizzy::Runtime, order: Order) {
    let world = run.world_mut();
    let of = |world: &mut World, f: fn(&EntityRef) -> bool| -> Vec<Entity> {
        let mut v: Vec<(u64, Entity)> = world
            .query::<EntityRef>()
            .iter(world)
            .filter(|e| f(e))
            .filter_map(|e| Some((e.get::<Uid>()?.get(), e.id())))
            .collect();
        v.sort();
        v.into_iter().map(|(_, e)| e).collect()
    };
    let flowers = of(world, |e| e.contains::<Flower>());
    let visitors = of(world, |e| e.contains::<Visiting>());
    let hives = of(world, |e| e.contains::<Hive>());
    let bees = of(world, |e| e.contains::<Bee>());
    make(order, &mut |op| match op {
        Op::Despawn(set) => {
            for &e in pick(set, &flowers, &visitors, &hives, &bees) {
                if let Ok(e) = world.get_entity_mut(e) {
                    e.despawn();
                }
            }
        }
        Op::RemoveVisiting => {
            for &e in &visitors {
                if let Ok(mut e) = world.get_entity_mut(e) {
                    e.remove::<Visiting>();
                }
            }
        }
        Op::RemoveChildOf => {
            for &e in &bees {
                if let Ok(mut e) = world.get_entity_mut(e) {
                    e.remove::<ChildOf>();
                }
            }
        }
    });
    world.flush();
}

/// What the readers saw in `ticks` ticks, the run closed and resumed after
/// tick `stop` (never, when `None`).
fn seen(db: &Path, scenario: Scenario, max_chain: u32, stop: Option<u64>, ticks: u64) -> Seen {
    let mut run = app(db, scenario, max_chain).open().unwrap();
    populate(&mut run);
    let mut done = 0;
    while done < ticks {
        run.run_ticks(1).unwrap();
        done += 1;
        if scenario.between_ticks && done == AT {
            between(&mut run, scenario.order);
        }
        if Some(done) == stop {
            run.close().unwrap();
            run = app(db, scenario, max_chain).open().unwrap();
        }
    }
    let out = run.world().resource::<Seen>().clone();
    run.close().unwrap();
    out
}

#[test]
fn a_removal_a_hook_made_is_seen_once_after_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let orders = [
        Order::TargetThenSources,
        Order::TargetThenRelationship,
        Order::SourcesThenTarget,
        Order::ParentThenChildren,
        Order::DetachThenParent,
    ];
    let mut n = 0;
    for order in orders {
        for between_ticks in [false, true] {
            let scenario = Scenario {
                order,
                between_ticks,
            };
            let reference = seen(
                &dir.path().join(format!("ref-{n}.redb")),
                scenario,
                0,
                None,
                5,
            );
            assert!(
                !reference.0.is_empty(),
                "{scenario:?}: the readers see the removals"
            );
            for max_chain in [0, 100] {
                for stop in [AT - 1, AT, AT + 1] {
                    n += 1;
                    let db = dir.path().join(format!("run-{n}.redb"));
                    let resumed = seen(&db, scenario, max_chain, Some(stop), 5);
                    assert_eq!(
                        resumed,
                        reference,
                        "{scenario:?}, {} snapshots, closed after tick {stop}",
                        if max_chain == 0 { "full" } else { "delta" }
                    );
                }
            }
        }
    }
}
