//! Taking a snapshot (full or delta) or exporting a bundle never changes the
//! live world: maps keyed by `Entity`, sets, options and vectors of
//! references keep their values, their order and their change ticks, in
//! components and resources; and what is saved restores to the same values.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bevy_ecs::entity::{EntityMapper, MapEntities};
use dizzy::prelude::*;
use dizzy::snapshots::{ExportOptions, Selection};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Team(String);

/// Scores by team: a map keyed by entity (the case that was permuted).
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(map_entities)]
struct Scores {
    by_team: BTreeMap<Entity, u32>,
    rivals: BTreeSet<Entity>,
    best: Option<Entity>,
    history: Vec<Entity>,
    seen: HashMap<Entity, String>,
}

impl MapEntities for Scores {
    fn map_entities<M: EntityMapper>(&mut self, m: &mut M) {
        self.by_team = std::mem::take(&mut self.by_team)
            .into_iter()
            .map(|(k, v)| (m.get_mapped(k), v))
            .collect();
        self.rivals = std::mem::take(&mut self.rivals)
            .into_iter()
            .map(|e| m.get_mapped(e))
            .collect();
        self.best.map_entities(m);
        self.history.map_entities(m);
        self.seen = std::mem::take(&mut self.seen)
            .into_iter()
            .map(|(k, v)| (m.get_mapped(k), v))
            .collect();
    }
}

/// The same shape as a resource.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(map_entities)]
struct League {
    by_team: BTreeMap<Entity, u32>,
}

impl MapEntities for League {
    fn map_entities<M: EntityMapper>(&mut self, m: &mut M) {
        self.by_team = std::mem::take(&mut self.by_team)
            .into_iter()
            .map(|(k, v)| (m.get_mapped(k), v))
            .collect();
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Team>("s.team")
        .component::<Scores>("s.scores")
        .resource(
            "s.league",
            League {
                by_team: BTreeMap::new(),
            },
        )
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// Everything a user can see of the world that matters here: values (as
/// team names, in iteration order, including the `HashMap`'s order) and
/// change ticks.
fn observe(rt: &mut Runtime) -> (Vec<String>, Vec<(u32, u32)>, String) {
    let mut q = rt
        .world_mut()
        .query::<(&Scores, bevy_ecs::change_detection::Ref<Scores>)>();
    let world: &World = rt.world();
    let name = |e: &Entity| world.get::<Team>(*e).map_or("?".into(), |t| t.0.clone());
    let mut values = Vec::new();
    let mut ticks = Vec::new();
    for (s, r) in q.iter(world) {
        values.push(format!(
            "{:?} {:?} {:?} {:?} {:?}",
            s.by_team
                .iter()
                .map(|(k, v)| (name(k), *v))
                .collect::<Vec<_>>(),
            s.rivals.iter().map(name).collect::<Vec<_>>(),
            s.best.as_ref().map(name),
            s.history.iter().map(name).collect::<Vec<_>>(),
            s.seen
                .iter()
                .map(|(k, v)| (name(k), v.clone()))
                .collect::<Vec<_>>(),
        ));
        ticks.push((r.added().get(), r.last_changed().get()));
    }
    let league = format!(
        "{:?}",
        world
            .resource::<League>()
            .by_team
            .iter()
            .map(|(k, v)| (name(k), *v))
            .collect::<Vec<_>>()
    );
    (values, ticks, league)
}

fn populate(rt: &mut Runtime) {
    // Spawn teams in an order whose entities do not sort like their uids.
    let mut teams = Vec::new();
    for i in 0..10 {
        teams.push(rt.spawn(Team(format!("t{i}"))));
    }
    let w = rt.world_mut();
    for &e in teams.iter().step_by(3) {
        w.despawn(e);
    }
    let mut again = Vec::new();
    for i in 10..16 {
        again.push(rt.spawn(Team(format!("t{i}"))));
    }
    let live: Vec<Entity> = rt
        .world_mut()
        .query_filtered::<Entity, With<Team>>()
        .iter(rt.world())
        .collect();
    let by_team: BTreeMap<Entity, u32> = live
        .iter()
        .enumerate()
        .map(|(i, &e)| (e, (i as u32 + 1) * 37 % 101))
        .collect();
    let scores = Scores {
        by_team: by_team.clone(),
        rivals: live.iter().rev().take(4).copied().collect(),
        best: live.get(3).copied(),
        history: live.iter().rev().copied().collect(),
        seen: live
            .iter()
            .map(|&e| (e, format!("s{}", e.index())))
            .collect(),
    };
    rt.spawn(scores);
    rt.world_mut().resource_mut::<League>().by_team = by_team;
}

#[test]
fn full_and_delta_snapshots_and_exports_leave_the_world_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.redb");
    let mut rt = app(&db).open().unwrap();
    populate(&mut rt);
    let before = observe(&mut rt);
    rt.snapshot_full().unwrap();
    assert_eq!(
        observe(&mut rt),
        before,
        "a full snapshot changed the world"
    );
    // A delta that holds the map (changed since the full snapshot).
    for mut s in rt
        .world_mut()
        .query::<&mut Scores>()
        .iter_mut(rt.world_mut())
    {
        s.best = None;
    }
    rt.world_mut().resource_mut::<League>().set_changed();
    let before = observe(&mut rt);
    rt.snapshot().unwrap();
    assert_eq!(observe(&mut rt), before, "a delta changed the world");
    let all: Vec<u64> = rt
        .world_mut()
        .query::<&Uid>()
        .iter(rt.world())
        .map(|u| u.get())
        .collect();
    rt.export(&Selection::Uids(all), &ExportOptions::default())
        .unwrap();
    assert_eq!(observe(&mut rt), before, "an export changed the world");
    rt.flush().unwrap();
    let saved = content(&mut rt);
    rt.close().unwrap();

    // What was saved is what the world held. (Maps and sets keyed by
    // `Entity` order by the runtime handle, which a restored world numbers
    // differently: compared by content.)
    let mut again = app(&db).open().unwrap();
    assert_eq!(content(&mut again), saved);
}

/// The values by team name, maps and sets sorted; vectors in their order.
fn content(rt: &mut Runtime) -> Vec<String> {
    let mut q = rt.world_mut().query::<&Scores>();
    let world: &World = rt.world();
    let name = |e: &Entity| world.get::<Team>(*e).map_or("?".into(), |t| t.0.clone());
    let mut out = Vec::new();
    for s in q.iter(world) {
        let mut by_team: Vec<(String, u32)> =
            s.by_team.iter().map(|(k, v)| (name(k), *v)).collect();
        by_team.sort();
        let mut rivals: Vec<String> = s.rivals.iter().map(name).collect();
        rivals.sort();
        let mut seen: Vec<(String, String)> =
            s.seen.iter().map(|(k, v)| (name(k), v.clone())).collect();
        seen.sort();
        out.push(format!(
            "{by_team:?} {rivals:?} {:?} {:?} {seen:?}",
            s.best.as_ref().map(name),
            s.history.iter().map(name).collect::<Vec<_>>()
        ));
    }
    let mut league: Vec<(String, u32)> = world
        .resource::<League>()
        .by_team
        .iter()
        .map(|(k, v)| (name(k), *v))
        .collect();
    league.sort();
    out.push(format!("{league:?}"));
    out
}
