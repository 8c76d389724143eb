//! A system, its run condition and an observer moved to another module (or
//! whose module or crate was renamed) keep their last runs across a
//! resume: the code change report follows them as the same systems, and
//! so does change detection. Before, the moved ones were given no last
//! run, and their `Added<T>` filters and `Ref::is_changed` saw every
//! restored value as new again (found by a fresh tester, a warehouse
//! simulation, moving a system between modules and renaming its crate).

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
struct Item(u64);

/// How many items the system and the observer saw as added, and how many
/// times the system ran (its run condition: an item was added).
#[derive(Resource, Serialize, Deserialize, Default, Clone, Copy, Debug, PartialEq)]
struct Seen {
    system: u64,
    runs: u64,
    observer: u64,
}

#[derive(Component)]
struct Flag;

macro_rules! readers {
    ($m:ident) => {
        mod $m {
            use super::*;
            pub fn see(q: Query<&Item, Added<Item>>, mut s: ResMut<Seen>) {
                s.system += q.iter().count() as u64;
                s.runs += 1;
            }
            pub fn any_new(q: Query<&Item, Added<Item>>) -> bool {
                !q.is_empty()
            }
            pub fn watch(_f: On<Add<Flag>>, q: Query<Ref<Item>>, mut s: ResMut<Seen>) {
                s.observer += q.iter().filter(|r| r.is_added()).count() as u64;
            }
        }
    };
}
readers!(first);
readers!(second);

fn app(db: &std::path::Path, moved: bool) -> App {
    let app = App::new()
        .db(db)
        .component::<Item>("moves.item")
        .resource::<Seen>("moves.seen", Seen::default());
    if moved {
        app.add_observer(second::watch)
            .systems(second::see.run_if(second::any_new))
    } else {
        app.add_observer(first::watch)
            .systems(first::see.run_if(first::any_new))
    }
}

/// Ten items, two ticks and a flag (which the observer sees), closed;
/// resumed by `moved` code: two more ticks and a flag.
fn run(moved: bool) -> (Seen, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("moves.redb");
    let mut r = app(&db, false).open().unwrap();
    for i in 0..10 {
        r.spawn(Item(i));
    }
    r.run_ticks(2).unwrap();
    r.world_mut().spawn(Flag);
    r.close().unwrap();
    let mut r = app(&db, moved).open().unwrap();
    let changes = r.code_changes().map(|c| c.to_string());
    r.run_ticks(2).unwrap();
    r.world_mut().spawn(Flag);
    let seen = *r.world().resource::<Seen>();
    r.close().unwrap();
    (seen, changes)
}

#[test]
fn moved_readers_see_nothing_new_as_if_they_had_stayed() {
    let stayed = run(false);
    let once = Seen {
        system: 10,
        runs: 1,
        observer: 10,
    };
    assert_eq!(stayed, (once, None), "the same code");
    let moved = run(true);
    assert_eq!(moved, (once, None), "moved to another module");
}
