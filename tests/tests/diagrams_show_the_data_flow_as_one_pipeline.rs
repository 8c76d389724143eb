//! The schedule diagram shows what systems create through `Commands`: the
//! dedupe demo's recorded schedule is one connected graph with a path from
//! directories to duplicate sets, a user's two-stage pipeline (readings →
//! heat index → risk) is one chain, nodes carry stable names, sync points
//! are drawn only with `--sync`, and every drawing has a legend.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use dizzy::prelude::*;
use dizzy::systems::ScheduleDescription;
use dizzy_tests::{dizzy_ok, make_tree};

/// The renderings' checks, shared with `dizzy-systems`' unit tests.
#[path = "../../systems/src/describe/check.rs"]
mod check;

/// The data-flow graph of a schedule: data → system for what a system
/// reads, system → data for what it writes or creates (sync points left
/// out). Nodes are `sys:NAME` and `data:NAME`.
fn flow(d: &ScheduleDescription) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &d.without_sync_points().systems {
        let sys = format!("sys:{}", s.name);
        g.entry(sys.clone()).or_default();
        for r in &s.reads {
            g.entry(format!("data:{r}"))
                .or_default()
                .insert(sys.clone());
        }
        for w in s.writes.iter().chain(&s.creates) {
            g.entry(sys.clone())
                .or_default()
                .insert(format!("data:{w}"));
            g.entry(format!("data:{w}")).or_default();
        }
    }
    g
}

/// Whether `to` can be reached from `from` along the data flow.
fn path(g: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut came: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut out = vec![to.to_owned()];
            let mut at = to;
            while let Some(&prev) = came.get(at) {
                out.push(prev.to_owned());
                at = prev;
            }
            out.reverse();
            return Some(out);
        }
        for next in g.get(at).into_iter().flatten() {
            if next != from && !came.contains_key(next.as_str()) {
                came.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

/// The number of connected pieces, ignoring direction.
fn pieces(g: &BTreeMap<String, BTreeSet<String>>) -> usize {
    let mut undirected: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, bs) in g {
        undirected.entry(a).or_default();
        for b in bs {
            undirected.entry(a).or_default().insert(b);
            undirected.entry(b).or_default().insert(a);
        }
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut count = 0;
    for &start in undirected.keys() {
        if !seen.insert(start) {
            continue;
        }
        count += 1;
        let mut stack = vec![start];
        while let Some(at) = stack.pop() {
            for &next in &undirected[at] {
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
    }
    count
}

#[test]
fn the_dedupe_diagram_runs_from_directories_to_duplicate_sets() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    make_tree(&tree, 12, 200, 5);
    let db_path = dir.path().join("d.redb");
    let db = db_path.to_str().unwrap();
    dizzy_ok(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db,
        "--json",
    ]);

    let json = dizzy_ok(&["graph", "--db", db, "--format", "json"]);
    let d: ScheduleDescription = serde_json::from_str(&json).unwrap();
    assert!(d.identifies_code, "the file records the code that wrote it");
    let g = flow(&d);
    // directories → … → files → … → hashes → … → duplicate sets (whatever
    // systems lie between).
    for (from, to) in [
        ("data:dedupe.dir", "data:dedupe.file"),
        ("data:dedupe.file", "data:dedupe.sha256"),
        ("data:dedupe.sha256", "data:dedupe.duplicate_set"),
    ] {
        assert!(
            path(&g, from, to).is_some(),
            "no path {from} -> {to} in {g:#?}"
        );
    }
    assert_eq!(pieces(&g), 1, "one connected pipeline: {g:#?}");

    // Drawn with stable names, a legend, and no sync points unless asked.
    let mermaid = dizzy_ok(&["graph", "--db", db]);
    check::check_mermaid(&mermaid);
    for line in [
        "c_dedupe_file[(\"dedupe.file\")]",
        "==>|creates| c_dedupe_duplicate_set",
        "subgraph legend [\"legend\"]",
    ] {
        assert!(mermaid.contains(line), "{line:?} in\n{mermaid}");
    }
    assert!(!mermaid.contains("apply_deferred"), "{mermaid}");
    let syncs = d
        .systems
        .iter()
        .filter(|s| s.name.starts_with("apply_deferred (auto sync"))
        .count();
    let with_sync = dizzy_ok(&["graph", "--db", db, "--sync"]);
    check::check_mermaid(&with_sync);
    assert_eq!(
        with_sync.matches("[\"apply_deferred (auto sync").count(),
        syncs,
        "every recorded sync point is a node with --sync:\n{with_sync}"
    );
    assert!(syncs > 0, "the demo's commands are applied at a sync point");

    let dot = dizzy_ok(&["graph", "--db", db, "--format", "dot"]);
    assert!(dot.contains("cluster_legend") && dot.contains("label=\"creates\""));
    assert!(check::check_dot(&dot), "`dot` renders it");
    let svg = dizzy_ok(&["graph", "--db", db, "--format", "svg"]);
    check::check_svg(&svg, &["sys_discover", "c_dedupe_duplicate_set"]);
    assert!(svg.contains("class=\"legend\"") && svg.contains("class=\"creates\""));
}

// A user's pipeline: readings get a heat index, heat indices a risk level;
// each stage hands on by inserting a component through `Commands`.

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Reading {
    celsius: f64,
    humidity: f64,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct HeatIndex(f64);

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
enum Risk {
    Low,
    High,
}

fn heat_index(mut commands: Commands, readings: Query<(Entity, &Reading), Without<HeatIndex>>) {
    for (e, r) in &readings {
        commands
            .entity(e)
            .insert(HeatIndex(r.celsius + 0.1 * r.humidity));
    }
}

fn risk(mut commands: Commands, indices: Query<(Entity, &HeatIndex), Without<Risk>>) {
    for (e, h) in &indices {
        let level = if h.0 > 35.0 { Risk::High } else { Risk::Low };
        commands.entity(e).insert(level);
    }
}

fn weather(declared: bool) -> impl Fn(&mut Setup) + Send + Sync + 'static {
    move |app: &mut Setup| {
        app.component::<Reading>("weather.reading")
            .component::<HeatIndex>("weather.heat_index")
            .component::<Risk>("weather.risk")
            .add_systems((heat_index, risk).chain());
        if declared {
            app.declare(heat_index).creates::<HeatIndex>();
            app.declare(risk).creates::<Risk>();
        }
    }
}

#[test]
fn a_two_stage_pipeline_is_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("weather.redb");
    let mut rt = App::new()
        .db(&db)
        .plugin(weather(true))
        .snapshot_every_ticks(1)
        .open()
        .unwrap();
    for (celsius, humidity) in [(20.0, 40.0), (33.0, 80.0)] {
        rt.spawn(Reading { celsius, humidity });
    }
    rt.run_ticks(2).unwrap();
    let world = rt.world_mut();
    let mut risks: Vec<Risk> = world.query::<&Risk>().iter(world).cloned().collect();
    risks.sort_by_key(|r| *r == Risk::High);
    assert_eq!(risks, [Risk::Low, Risk::High]);
    rt.close().unwrap();

    // From the file alone, as any user of `dizzy graph` reads it.
    let json = dizzy_ok(&["graph", "--db", db.to_str().unwrap(), "--format", "json"]);
    let d: ScheduleDescription = serde_json::from_str(&json).unwrap();
    let g = flow(&d);
    assert_eq!(
        path(&g, "data:weather.reading", "data:weather.risk"),
        Some(
            [
                "data:weather.reading",
                "sys:heat_index",
                "data:weather.heat_index",
                "sys:risk",
                "data:weather.risk",
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(pieces(&g), 1, "{g:#?}");
    let mermaid = dizzy_ok(&["graph", "--db", db.to_str().unwrap()]);
    for line in [
        "c_weather_reading -.->|reads| sys_heat_index",
        "sys_heat_index ==>|creates| c_weather_heat_index",
        "c_weather_heat_index -.->|reads| sys_risk",
        "sys_risk ==>|creates| c_weather_risk",
    ] {
        assert!(mermaid.contains(line), "{line:?} in\n{mermaid}");
    }

    // Without the declarations, bevy's access alone gives two islands:
    // what the diagram showed before.
    let undeclared = App::new()
        .in_memory()
        .plugin(weather(false))
        .open()
        .unwrap()
        .describe();
    let g = flow(&undeclared);
    assert_eq!(path(&g, "data:weather.reading", "data:weather.risk"), None);
    assert_eq!(pieces(&g), 2, "{g:#?}");
}
