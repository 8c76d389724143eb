use std::collections::{BTreeSet, HashMap};

use super::check::{check_dot, check_mermaid, check_svg};
use super::*;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::{ApplyDeferred, IntoScheduleConfigs, ScheduleLabel, SystemKey, SystemSet};

#[derive(Component)]
struct A(u32);
#[derive(Component)]
struct B(u32);
#[derive(Component)]
struct C(u32);
#[derive(Resource, Default)]
struct Counter(u64);

#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
struct Logic;

#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
struct Test;

fn write_a(mut q: Query<&mut A>) {
    for mut a in &mut q {
        a.0 += 1;
    }
}

fn write_b(mut q: Query<&mut B>) {
    for mut b in &mut q {
        b.0 += 1;
    }
}

fn follow(mut q: Query<(&A, &mut C)>) {
    for (a, mut c) in &mut q {
        c.0 = a.0;
    }
}

fn count(mut counter: ResMut<Counter>, q: Query<&B>) {
    counter.0 += q.iter().count() as u64;
}

fn spawn(mut commands: Commands) {
    commands.spawn(A(0));
}

fn everything(world: &mut World) {
    world.insert_resource(Counter(0));
}

fn built(add: impl FnOnce(&mut Schedule)) -> (Schedule, World) {
    let mut world = World::new();
    world.init_resource::<Counter>();
    let mut schedule = Schedule::new(Test);
    add(&mut schedule);
    crate::build(&mut schedule, &mut world, true).expect("schedule builds");
    (schedule, world)
}

fn sample() -> ScheduleDescription {
    let (schedule, world) = built(|s| {
        s.configure_sets(Logic.after(write_b));
        s.add_systems((write_a, write_b, follow.after(write_a), count.in_set(Logic)));
    });
    describe(&schedule, &world, &["test".to_owned()])
}

fn system<'a>(d: &'a ScheduleDescription, name: &str) -> &'a SystemDescription {
    d.systems
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no system {name} in {d:#?}"))
}

fn stage(d: &ScheduleDescription, name: &str) -> usize {
    d.stages
        .iter()
        .position(|s| s.iter().any(|n| n == name))
        .unwrap_or_else(|| panic!("{name} in no stage: {:?}", d.stages))
}

fn has_edge(d: &ScheduleDescription, from: &str, to: &str) -> bool {
    d.edges.iter().any(|e| e.from == from && e.to == to)
}

#[test]
fn systems_access_edges_sets_stages() {
    let d = sample();
    assert_eq!(d.plugins, ["test"]);
    assert_eq!(d.systems.len(), 4, "{d:#?}");

    let a = system(&d, "write_a");
    assert_eq!(a.writes, ["A"]);
    assert!(a.reads.is_empty());
    assert!(!a.exclusive);
    assert_eq!(system(&d, "write_b").writes, ["B"]);
    let f = system(&d, "follow");
    assert_eq!(f.reads, ["A"]);
    assert_eq!(f.writes, ["C"]);
    let c = system(&d, "count");
    assert_eq!(c.reads, ["B"]);
    assert_eq!(c.writes, ["Res<Counter>"]);
    assert_eq!(c.sets, ["Logic"]);
    assert!(a.sets.is_empty());

    assert_eq!(
        d.sets,
        [SetDescription {
            name: "Logic".to_owned(),
            parents: vec![]
        }]
    );
    assert!(has_edge(&d, "write_a", "follow"), "{:?}", d.edges);
    assert!(has_edge(&d, "write_b", "Logic"), "{:?}", d.edges);
    assert_eq!(d.edges.len(), 2, "{:?}", d.edges);

    assert_eq!(stage(&d, "write_a"), stage(&d, "write_b"));
    assert!(stage(&d, "follow") > stage(&d, "write_a"));
    assert!(stage(&d, "count") > stage(&d, "write_b"));
    assert_eq!(d.stages.len(), 2, "{:?}", d.stages);
    assert_eq!(d.stages.iter().map(Vec::len).sum::<usize>(), 4);

    let json = serde_json::to_string(&d).unwrap();
    let back: ScheduleDescription = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}

#[test]
fn conflicting_access_splits_stages() {
    // Ambiguity allowed: the two writers of A are unordered, yet can
    // never run together.
    let mut world = World::new();
    let mut schedule = Schedule::new(Test);
    fn write_a_too(mut q: Query<&mut A>) {
        for mut a in &mut q {
            a.0 *= 2;
        }
    }
    schedule.add_systems((write_a, write_a_too, write_b));
    crate::build(&mut schedule, &mut world, false).unwrap();
    let d = describe(&schedule, &world, &[]);
    assert!(d.edges.is_empty());
    assert_ne!(stage(&d, "write_a"), stage(&d, "write_a_too"));
    assert_eq!(d.stages.iter().map(Vec::len).sum::<usize>(), 3);
}

#[test]
fn sync_points_and_exclusive_systems() {
    let (schedule, world) = built(|s| {
        s.add_systems((spawn, follow.after(spawn), everything.after(follow)));
    });
    let d = describe(&schedule, &world, &[]);
    assert_eq!(d.systems.len(), 4, "{d:#?}");
    let sync = d
        .systems
        .iter()
        .find(|s| s.name.starts_with("apply_deferred (auto sync"))
        .expect("auto sync point");
    assert!(sync.exclusive);
    assert!(has_edge(&d, "spawn", &sync.name), "{:?}", d.edges);
    assert!(has_edge(&d, &sync.name, "follow"), "{:?}", d.edges);
    assert!(has_edge(&d, "spawn", "follow"));
    assert!(has_edge(&d, "follow", "everything"));
    let e = system(&d, "everything");
    assert!(e.exclusive);
    assert_eq!(e.writes, ["*"]);
    assert_eq!(d.stages.len(), 4, "{:?}", d.stages);
    assert!(stage(&d, "spawn") < stage(&d, &sync.name));
    assert!(stage(&d, &sync.name) < stage(&d, "follow"));
}

#[test]
fn nested_sets_and_set_edges() {
    #[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
    enum Phase {
        Input,
        Sim,
    }
    let (schedule, world) = built(|s| {
        s.configure_sets((Phase::Input, Phase::Sim).chain());
        s.configure_sets(Logic.in_set(Phase::Sim));
        s.add_systems((write_a.in_set(Phase::Input), (follow, count).in_set(Logic)));
    });
    let d = describe(&schedule, &world, &[]);
    let logic = d.sets.iter().find(|s| s.name == "Logic").unwrap();
    assert_eq!(logic.parents, ["Sim"]);
    assert!(has_edge(&d, "Input", "Sim"), "{:?}", d.edges);
    assert!(stage(&d, "follow") > stage(&d, "write_a"));
    assert!(stage(&d, "count") > stage(&d, "write_a"));
    assert_eq!(stage(&d, "follow"), stage(&d, "count"));
    check_mermaid(&d.to_mermaid());
    check_dot(&d.to_dot());
    let svg = d.to_svg_linked(&|node| match node {
        crate::DiagramNode::System(name) => Some(format!("#system-{name}")),
        _ => None,
    });
    check_svg(
        &svg,
        &[
            "sys_write_a",
            "sys_follow",
            "sys_count",
            "set_Logic",
            "set_Sim",
        ],
    );
    assert!(svg.contains("<a href=\"#system-follow\">"), "{svg}");
}

/// Builds like [`built`] but also records the edges bevy's build
/// passes really added (system names), from the `ScheduleBuilt` event.
fn built_with_pass_edges(
    ambiguity_is_error: bool,
    add: impl FnOnce(&mut Schedule),
) -> (ScheduleDescription, BTreeSet<(String, String)>) {
    use bevy_ecs::schedule::ScheduleBuilt;
    use std::sync::{Arc, Mutex};
    let mut world = World::new();
    world.init_resource::<Counter>();
    let added = Arc::new(Mutex::new(Vec::new()));
    let sink = added.clone();
    world.add_observer(move |built: On<ScheduleBuilt>| {
        let edges = &built.event().build_metadata.edges_added_by_build_passes;
        sink.lock().unwrap().extend(edges.iter().copied());
    });
    let mut schedule = Schedule::new(Test);
    add(&mut schedule);
    crate::build(&mut schedule, &mut world, ambiguity_is_error).expect("schedule builds");
    let d = describe(&schedule, &world, &[]);
    let names: HashMap<SystemKey, String> = schedule
        .systems_with_access()
        .unwrap()
        .zip(&d.systems)
        .map(|((key, _), s)| (key, s.name.clone()))
        .collect();
    let added = added
        .lock()
        .unwrap()
        .iter()
        .map(|(a, b)| (names[a].clone(), names[b].clone()))
        .collect();
    (d, added)
}

#[test]
fn sync_points_match_bevys_build_pass() {
    fn spawn_more(mut commands: Commands) {
        commands.spawn(B(0));
    }
    fn on(counter: Res<Counter>) -> bool {
        counter.0 < 10
    }
    type Setup = fn(&mut Schedule);
    let cases: [(&str, Setup); 5] = [
        ("nested chain", |s| {
            s.add_systems(((spawn, write_b), follow).chain());
        }),
        ("two sync distances", |s| {
            s.add_systems((spawn, spawn_more, follow, count).chain());
        }),
        ("explicit sync point", |s| {
            s.add_systems((spawn, ApplyDeferred, follow).chain());
        }),
        ("run conditions and sets", |s| {
            s.configure_sets(Logic.after(spawn));
            s.add_systems((spawn, (follow, count).in_set(Logic).run_if(on)));
        }),
        ("no sync needed", |s| {
            s.add_systems((write_a, follow).chain());
        }),
    ];
    for (case, add) in cases {
        let (d, added) = built_with_pass_edges(true, add);
        assert!(!d.stages.is_empty(), "{case}: stages not computed: {d:#?}");
        let autos = d
            .systems
            .iter()
            .filter(|s| s.name.starts_with("apply_deferred (auto"))
            .count();
        for (from, to) in &added {
            assert!(
                has_edge(&d, from, to),
                "{case}: missing pass edge {from} -> {to}: {:?}",
                d.edges
            );
        }
        // Every sync edge described is one bevy added (or declared).
        for e in &d.edges {
            if e.from.starts_with("apply_deferred") || e.to.starts_with("apply_deferred") {
                let declared = case == "explicit sync point";
                assert!(
                    declared || added.contains(&(e.from.clone(), e.to.clone())),
                    "{case}: invented edge {} -> {}",
                    e.from,
                    e.to
                );
            }
        }
        assert_eq!(
            d.stages.iter().map(Vec::len).sum::<usize>(),
            d.systems.len(),
            "{case}"
        );
        if case == "no sync needed" {
            assert_eq!(autos, 0);
            assert!(added.is_empty());
        }
        if case == "two sync distances" {
            assert_eq!(autos, 2, "{d:#?}");
        }
        if case == "run conditions and sets" {
            assert_eq!(system(&d, "follow").sets, ["Logic"]);
            assert_eq!(d.sets.len(), 1, "{:?}", d.sets);
            assert!(has_edge(&d, "spawn", "Logic"));
            assert_eq!(stage(&d, "follow"), stage(&d, "count"));
        }
    }
}

#[test]
fn uninitialized_schedule_gives_plugins_only() {
    let world = World::new();
    let mut schedule = Schedule::new(Test);
    schedule.add_systems(write_a);
    let d = describe(&schedule, &world, &["p".to_owned()]);
    assert_eq!(d.plugins, ["p"]);
    assert!(d.systems.is_empty());
}

#[test]
fn mermaid_is_well_formed() {
    let d = sample();
    let text = d.to_mermaid();
    check_mermaid(&text);
    assert!(text.contains("c_A[(\"A\")]"), "{text}");
    assert!(
        text.contains("r_Counter{{\"Res#lt;Counter#gt;\"}}"),
        "{text}"
    );
    assert!(text.contains("subgraph set_Logic [\"Logic\"]"), "{text}");
    assert!(text.contains("sys_write_a --> sys_follow"), "{text}");
    assert!(text.contains("sys_write_b --> set_Logic"), "{text}");
    assert!(text.contains("c_A -.->|reads| sys_follow"), "{text}");
    assert!(text.contains("sys_follow ==>|writes| c_C"), "{text}");
}

#[test]
fn dot_is_valid() {
    let d = sample();
    let text = d.to_dot();
    assert!(text.contains("subgraph \"cluster_set_Logic\""), "{text}");
    assert!(text.contains("style=dashed"));
    assert!(text.contains("style=bold"));
    check_dot(&text);
}

#[test]
fn renderings_escape_awkward_names() {
    let d = ScheduleDescription {
        plugins: vec!["p\nq".to_owned()],
        systems: vec![
            SystemDescription {
                name: "gen::<\"x\">#1 \\ end".to_owned(),
                sets: vec!["Set \"S\"".to_owned(), "Other".to_owned()],
                reads: vec!["Res<Map<K, V>>".to_owned(), "* except A, B".to_owned()],
                writes: vec!["end".to_owned()],
                exclusive: false,
                creates: vec!["a \"created\" <thing>".to_owned()],
                version: 1,
                path: String::new(),
            },
            SystemDescription {
                name: "end".to_owned(),
                exclusive: true,
                writes: vec!["*".to_owned()],
                ..SystemDescription::default()
            },
        ],
        sets: vec![
            SetDescription {
                name: "Set \"S\"".to_owned(),
                parents: vec!["Other".to_owned()],
            },
            SetDescription {
                name: "Other".to_owned(),
                parents: vec![],
            },
            SetDescription {
                name: "Empty".to_owned(),
                parents: vec![],
            },
        ],
        edges: vec![
            Edge {
                from: "gen::<\"x\">#1 \\ end".to_owned(),
                to: "end".to_owned(),
            },
            Edge {
                from: "Empty".to_owned(),
                to: "Other".to_owned(),
            },
        ],
        stages: vec![
            vec!["gen::<\"x\">#1 \\ end".to_owned()],
            vec!["end".to_owned()],
        ],
        ..ScheduleDescription::default()
    };
    check_mermaid(&d.to_mermaid());
    check_dot(&d.to_dot());
    check_svg(&d.to_svg(), &["sys_end"]);
}

#[test]
fn declarations_of_systems_the_schedule_lacks_are_named() {
    use crate::notes::NamedSystem;
    let mut world = World::new();
    let mut schedule = Schedule::new(Test);
    schedule.add_systems(write_a);
    let mut notes = CodeNotes::default();
    notes.versions.insert(write_a.system_name(), 2);
    notes.versions.insert(write_b.system_name(), 3);
    world.insert_resource(notes);
    crate::build(&mut schedule, &mut world, false).unwrap();
    assert_eq!(
        declared_but_absent(&schedule, &world),
        [write_b.system_name()]
    );
}
