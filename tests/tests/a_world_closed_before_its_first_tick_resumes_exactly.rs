//! A world that never ran a tick: everything in it is new, to systems (they
//! never ran) and to bevy's sorted iterators, which compare with the
//! world's own last change tick (still the world's first). Closed before
//! its first tick, once or several times, with edits in between, and
//! reopened, its first ticks see what a run that never stopped sees
//! (found by a user whose seeding code closed the run before ticking).

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
struct Seedling(u32);
#[derive(Component, Serialize, Deserialize)]
#[component(storage = "SparseSet")]
struct Tag(u32);
#[derive(Resource, Serialize, Deserialize, Default)]
struct Log(Vec<String>);

fn unsorted(q: Query<&Uid, Added<Seedling>>, mut log: ResMut<Log>) {
    log.0.push(format!("unsorted added {}", q.iter().count()));
}

fn sorted(q: Query<&Uid, Added<Seedling>>, tags: Query<&Uid, Added<Tag>>, mut log: ResMut<Log>) {
    let seeds: Vec<u64> = q.iter().sort::<&Uid>().map(|u| u.get()).collect();
    let tags: Vec<u64> = tags.iter().sort::<&Uid>().map(|u| u.get()).collect();
    log.0.push(format!("sorted added {seeds:?} tags {tags:?}"));
}

fn sorted_ref(q: Query<(&Uid, Ref<Seedling>)>, mut log: ResMut<Log>) {
    let n = q
        .iter()
        .sort::<&Uid>()
        .filter(|(_, r)| r.is_added())
        .count();
    log.0.push(format!("sorted is_added {n}"));
}

fn grow(mut q: Query<&mut Seedling>, tick: Res<TickCount>) {
    for mut s in &mut q {
        if (s.0 as u64 + tick.0).is_multiple_of(2) {
            s.0 += 10;
        }
    }
}

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Seedling>("t.seedling")
        .component::<Tag>("t.tag")
        .resource("t.log", Log::default())
        .systems((unsorted, sorted, sorted_ref, grow).chain())
}

/// Spawns, then makes `edits` more spawns, closing and reopening before
/// each of the first `closes` of them, then runs 3 ticks.
fn log_of(dir: &std::path::Path, closes: usize, edits: usize) -> Vec<String> {
    let path = dir.join(format!("run-{closes}-{edits}.redb"));
    let mut run = app(&path).open().unwrap();
    for i in 0..3 {
        run.spawn(Seedling(i));
    }
    run.spawn((Seedling(7), Tag(1)));
    for i in 0..edits {
        if i < closes {
            run.close().unwrap();
            run = app(&path).open().unwrap();
        }
        run.spawn(Seedling(100 + i as u32));
    }
    run.run_ticks(3).unwrap();
    let log = std::mem::take(&mut run.world_mut().resource_mut::<Log>().0);
    run.close().unwrap();
    log
}

#[test]
fn closing_before_the_first_tick_changes_nothing_the_first_ticks_see() {
    let dir = tempfile::tempdir().unwrap();
    for edits in [1, 2] {
        let want = log_of(dir.path(), 0, edits);
        assert!(
            want.contains(&format!("sorted is_added {}", 4 + edits)),
            "every value is new at the first tick: {want:?}"
        );
        assert!(!want[1].ends_with("tags []"), "{want:?}");
        for closes in 1..=edits {
            let got = log_of(dir.path(), closes, edits);
            assert_eq!(got, want, "closed {closes} times before the first tick");
        }
    }
}
