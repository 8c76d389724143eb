//! A resumed run ends in exactly the world an uninterrupted run ends in,
//! compared by uid (not up to a renaming): for seeded, deterministic
//! schedules of systems written the way bevy users write them — spawns of
//! several shapes from several systems and from an observer, inserts,
//! removals and despawns through `Commands`, `Added`/`Changed` readers
//! before and after the writers, order-dependent readers (first K in uid
//! order), a seeded generator kept in a resource — resumed from *every*
//! snapshot (full and delta), and after random SIGKILLs of a child process.
//! Also the smallest case of uids that depended on the process's history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dizzy::prelude::*;
use dizzy_tests::Rng;

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct A(u64);
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct B(u64);
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct C(String);
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Link(#[entities] Entity);

/// The seeded generator, persisted.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        let mut r = Rng(self.0);
        let v = r.below(n);
        self.0 = r.0;
        v
    }
}

/// What the readers saw, persisted.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
struct Seen {
    added_a: Vec<u64>,
    changed_b_early: Vec<u64>,
    changed_b_late: Vec<u64>,
    first_k: Vec<u64>,
    removed_c: u64,
    /// What a `RemovedComponents` reader that runs first saw: per tick, the
    /// uids (or "gone") that lost `C`, then those that lost `A`.
    removed: Vec<String>,
    /// What an observer of `Add<C>` (`Setup::add_observer`) saw of
    /// `Changed<B>` at each trigger: how many, then their uids.
    observed_b: Vec<u64>,
}

#[derive(bevy_ecs::schedule::SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
struct Spawning;

/// Which systems a seeded pipeline has, and in which order.
#[derive(Clone, Copy, Debug)]
struct Plan {
    seed: u64,
    observer: bool,
    second_spawner: bool,
    early_reader: bool,
}

impl Plan {
    fn of(seed: u64) -> Plan {
        let mut r = Rng(seed);
        Plan {
            seed,
            observer: r.below(2) == 0,
            second_spawner: r.below(2) == 0,
            early_reader: r.below(3) != 0,
        }
    }
}

fn sorted_by_uid<'a, T>(items: impl Iterator<Item = (&'a Uid, T)>) -> Vec<(u64, T)> {
    let mut v: Vec<(u64, T)> = items.map(|(u, t)| (u.get(), t)).collect();
    v.sort_by_key(|x| x.0);
    v
}

fn spawn_shapes(mut c: Commands, mut g: ResMut<Gen>, a: Query<(Entity, &Uid), With<A>>) {
    let targets: Vec<(u64, Entity)> = sorted_by_uid(a.iter().map(|(e, u)| (u, e)));
    for _ in 0..g.next(4) {
        let n = g.next(1000);
        match g.next(4) {
            0 => {
                c.spawn(A(n));
            }
            1 => {
                c.spawn((A(n), B(n * 2)));
            }
            2 => {
                c.spawn((B(n), C(format!("c{n}"))));
            }
            _ => {
                let link = if targets.is_empty() {
                    Entity::PLACEHOLDER
                } else {
                    targets[g.next(targets.len() as u64) as usize].1
                };
                c.spawn((A(n), B(n), C(format!("l{n}")), Link(link)));
            }
        }
    }
}

/// An observer whose `Changed<B>` compares with its own last run, which a
/// resume gives back.
fn watch_c(_: On<Add<C>>, changed: Query<&Uid, Changed<B>>, mut seen: ResMut<Seen>) {
    let mut v: Vec<u64> = changed.iter().map(|u| u.get()).collect();
    v.sort_unstable();
    seen.observed_b.push(v.len() as u64);
    seen.observed_b.extend(v);
}

fn spawn_more(mut c: Commands, mut g: ResMut<Gen>) {
    if g.next(3) == 0 {
        let n = g.next(100);
        c.spawn(B(n + 5000));
        c.spawn(A(n + 5000));
    }
}

fn mutate(mut g: ResMut<Gen>, mut q: Query<(&Uid, &mut B)>) {
    let mut all: Vec<(u64, Mut<B>)> = q.iter_mut().map(|(u, b)| (u.get(), b)).collect();
    all.sort_by_key(|x| x.0);
    for (_, b) in all.iter_mut() {
        if g.next(4) == 0 {
            b.0 += 1;
        }
    }
}

fn read_added(mut seen: ResMut<Seen>, q: Query<&Uid, Added<A>>) {
    let mut v: Vec<u64> = q.iter().map(|u| u.get()).collect();
    v.sort_unstable();
    seen.added_a.extend(v);
}

fn read_changed_early(mut seen: ResMut<Seen>, q: Query<&Uid, Changed<B>>) {
    let mut v: Vec<u64> = q.iter().map(|u| u.get()).collect();
    v.sort_unstable();
    seen.changed_b_early.extend(v);
}

fn read_changed_late(mut seen: ResMut<Seen>, q: Query<&Uid, Changed<B>>) {
    let mut v: Vec<u64> = q.iter().map(|u| u.get()).collect();
    v.sort_unstable();
    seen.changed_b_late.extend(v);
}

fn first_k(mut seen: ResMut<Seen>, q: Query<(&Uid, &B)>) {
    let sum: u64 = sorted_by_uid(q.iter())
        .into_iter()
        .take(5)
        .map(|(u, b)| u * 31 + b.0)
        .sum();
    seen.first_k.push(sum);
}

fn read_removed(
    mut seen: ResMut<Seen>,
    mut c: RemovedComponents<C>,
    mut a: RemovedComponents<A>,
    uids: Query<&Uid>,
) {
    let name = |e: Entity| {
        uids.get(e)
            .map_or("gone".to_owned(), |u| u.get().to_string())
    };
    let c: Vec<String> = c.read().map(name).collect();
    let a: Vec<String> = a.read().map(name).collect();
    seen.removed.push(format!("{c:?} {a:?}"));
}

fn remove_some(
    mut c: Commands,
    mut g: ResMut<Gen>,
    with_c: Query<(Entity, &Uid), With<C>>,
    only_a: Query<(Entity, &Uid), (With<A>, Without<B>)>,
) {
    for (_, e) in sorted_by_uid(with_c.iter().map(|(e, u)| (u, e))) {
        if g.next(5) == 0 {
            c.entity(e).remove::<C>();
        }
    }
    for (_, e) in sorted_by_uid(only_a.iter().map(|(e, u)| (u, e))) {
        if g.next(6) == 0 {
            c.entity(e).despawn();
        }
    }
}

fn app(db: &Path, plan: Plan) -> App {
    let mut app = App::new()
        .db(db)
        .component::<A>("r.a")
        .component::<B>("r.b")
        .component::<C>("r.c")
        .component::<Link>("r.link")
        .resource("r.gen", Gen(plan.seed))
        .resource("r.seen", Seen::default())
        .refs(RefPolicy::Drop)
        .snapshot_policy(SnapshotPolicy::EVERY_TICK);
    app = if plan.second_spawner {
        app.systems((spawn_shapes, spawn_more).chain().in_set(Spawning))
    } else {
        app.systems(spawn_shapes.in_set(Spawning))
    };
    // Before everything: it sees at the next tick what `remove_some`
    // removes at the end of this one.
    app = app.systems(read_removed.before(Spawning));
    if plan.early_reader {
        app = app.systems(read_changed_early.after(Spawning).before(mutate));
    }
    app = app.systems(
        (mutate, read_added, read_changed_late, first_k, remove_some)
            .chain()
            .after(Spawning),
    );
    if plan.observer {
        app = app.plugin(|setup: &mut Setup| {
            setup.on_start(|world: &mut World| {
                world.add_observer(|event: On<Add<C>>, mut c: Commands| {
                    c.spawn((B(77), Link(event.entity)));
                });
            });
            setup.add_observer(watch_c);
        });
    }
    app
}

type Dump = (
    BTreeMap<u64, (Option<A>, Option<B>, Option<C>, Option<u64>)>,
    Gen,
    Seen,
    u64,
);

fn dump(rt: &mut Runtime) -> Dump {
    let mut q = rt
        .world_mut()
        .query::<(&Uid, Option<&A>, Option<&B>, Option<&C>, Option<&Link>)>();
    let world: &World = rt.world();
    let uid_of = |e: Entity| world.get::<Uid>(e).map_or(0, |u| u.get());
    let entities = q
        .iter(world)
        .map(|(u, a, b, c, l)| {
            (
                u.get(),
                (a.cloned(), b.cloned(), c.cloned(), l.map(|l| uid_of(l.0))),
            )
        })
        .collect();
    (
        entities,
        world.resource::<Gen>().clone(),
        world.resource::<Seen>().clone(),
        world.resource::<Uids>().next_raw(),
    )
}

const TICKS: u64 = 24;

fn run_to(db: &Path, plan: Plan, snapshot: Option<u64>) -> Dump {
    let mut a = app(db, plan);
    if let Some(s) = snapshot {
        a = a.at_snapshot(s);
    }
    let mut rt = a.open().unwrap();
    // A snapshot after every tick: wait for each commit.
    while rt.tick_count() < TICKS {
        rt.tick().unwrap();
        rt.flush().unwrap();
    }
    let d = dump(&mut rt);
    rt.close().unwrap();
    d
}

fn differences(a: &Dump, b: &Dump) -> String {
    let mut out = Vec::new();
    for (uid, v) in &a.0 {
        if b.0.get(uid) != Some(v) {
            out.push(format!("uid {uid}: {v:?} vs {:?}", b.0.get(uid)));
        }
    }
    for uid in b.0.keys().filter(|u| !a.0.contains_key(u)) {
        out.push(format!("uid {uid} only in the resumed run"));
    }
    if a.2 != b.2 {
        out.push(format!("seen: {:?}\n   vs {:?}", a.2, b.2));
    }
    if a.1 != b.1 || a.3 != b.3 {
        out.push(format!(
            "gen/uid_next {:?} {} vs {:?} {}",
            a.1, a.3, b.1, b.3
        ));
    }
    out.join("\n")
}

#[test]
fn resuming_from_every_snapshot_ends_in_the_same_world() {
    for seed in [1u64, 2, 3, 4] {
        let plan = Plan::of(seed);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("whole.redb");
        let whole = run_to(&db, plan, None);
        let ids: Vec<(u64, dizzy::SnapshotKind)> = dizzy::Store::open_read_only(&db)
            .unwrap()
            .snapshots()
            .unwrap()
            .iter()
            .map(|m| (m.id, m.kind))
            .collect();
        assert!(ids.len() as u64 >= TICKS, "a snapshot per tick: {ids:?}");
        let mut failed = Vec::new();
        for &(id, kind) in &ids {
            let copy = dir.path().join(format!("from-{id}.redb"));
            std::fs::copy(&db, &copy).unwrap();
            let resumed = run_to(&copy, plan, Some(id));
            if resumed != whole {
                failed.push(format!(
                    "from snapshot {id} ({kind:?}):\n{}",
                    differences(&whole, &resumed)
                ));
            }
            std::fs::remove_file(&copy).unwrap();
        }
        assert!(
            failed.is_empty(),
            "{plan:?}: {} of {} resumes differ:\n{}",
            failed.len(),
            ids.len(),
            failed.join("\n\n")
        );
    }
}

/// Run as a child process by `a_killed_run_resumes_to_the_same_world`.
#[test]
fn child_run() {
    let Ok(db) = std::env::var("DIZZY_RESUME_CHILD_DB") else {
        return;
    };
    let seed: u64 = std::env::var("DIZZY_RESUME_CHILD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut rt = app(Path::new(&db), Plan::of(seed)).open().unwrap();
    // Slow ticks, so that a kill lands at a random moment of the run.
    rt.run_until(|w| {
        std::thread::sleep(std::time::Duration::from_millis(3));
        w.resource::<TickCount>().0 >= TICKS
    })
    .unwrap();
    rt.close().unwrap();
}

fn child(db: &Path, seed: u64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_run", "--nocapture", "--test-threads", "1"])
        .env("DIZZY_RESUME_CHILD_DB", db)
        .env("DIZZY_RESUME_CHILD_SEED", seed.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_killed_run_resumes_to_the_same_world() {
    let seed = 3;
    let plan = Plan::of(seed);
    let dir = tempfile::tempdir().unwrap();
    let whole = run_to(&dir.path().join("whole.redb"), plan, None);
    let mut r = Rng(std::env::var("DIZZY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed));
    println!("kill plan seed {}", r.0);
    for round in 0..4 {
        let db: PathBuf = dir.path().join(format!("killed-{round}.redb"));
        for _ in 0..4 {
            let mut c = child(&db, seed);
            std::thread::sleep(std::time::Duration::from_millis(20 + r.below(150)));
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut c = child(&db, seed);
        assert!(c.wait().unwrap().success(), "the last run finishes");
        let mut rt = app(&db, plan).open().unwrap();
        assert_eq!(rt.tick_count(), TICKS);
        let resumed = dump(&mut rt);
        assert!(
            resumed == whole,
            "round {round}: the killed-and-resumed run differs:\n{}",
            differences(&whole, &resumed)
        );
    }
}

#[test]
fn uids_do_not_depend_on_the_process_history() {
    // One system spawns a B at tick 1, then an A and a B at tick 2.
    fn spawner(mut c: Commands, t: Res<TickCount>) {
        match t.0 {
            1 => {
                c.spawn(B(1));
            }
            2 => {
                c.spawn(A(2));
                c.spawn(B(2));
            }
            _ => {}
        }
    }
    let small = |db: &Path| {
        App::new()
            .db(db)
            .component::<A>("r.a")
            .component::<B>("r.b")
            .systems(spawner)
            .snapshot_policy(SnapshotPolicy::OFF)
    };
    let uids = |rt: &mut Runtime| {
        let w = rt.world_mut();
        let a: Vec<u64> = w
            .query_filtered::<&Uid, With<A>>()
            .iter(w)
            .map(|u| u.get())
            .collect();
        let mut b: Vec<u64> = w
            .query_filtered::<&Uid, With<B>>()
            .iter(w)
            .map(|u| u.get())
            .collect();
        b.sort_unstable();
        (a, b)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut whole = small(&dir.path().join("w.redb")).open().unwrap();
    whole.run_ticks(2).unwrap();
    let expected = uids(&mut whole);
    let db = dir.path().join("r.redb");
    let mut first = small(&db).open().unwrap();
    first.run_ticks(1).unwrap();
    first.close().unwrap();
    let mut again = small(&db).open().unwrap();
    again.run_ticks(1).unwrap();
    assert_eq!(uids(&mut again), expected);
}
