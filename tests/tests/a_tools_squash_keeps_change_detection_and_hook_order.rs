//! `dizzy compact --squash` rewrites an app's file as one full snapshot,
//! with the `dizzy` binary's code: a tool that does not register the app's
//! types (it keeps their values byte for byte) and has none of its
//! systems. Found by a fresh tester (a hospital bed board):
//! - after the squash every restored value was `Added`/`Changed` again,
//!   because the snapshot recorded the tool's systems, not the app's; a
//!   tool now records the file's systems where its snapshot left them;
//! - a hook of a value that holds a reference (a nurse's assignment) found
//!   the entity it names without its reference-free components: the kept
//!   values came back as keyed rows in name order. Reference-free values
//!   now always go in first.

use std::path::Path;
use std::sync::Mutex;

use dizzy::bevy_ecs::lifecycle::HookContext;
use dizzy::bevy_ecs::world::DeferredWorld;
use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Nurse;

/// Named so that it sorts before `ward.nurse`.
#[derive(Component, Serialize, Deserialize, Clone, Debug)]
#[component(on_add = assigned)]
struct Assigned(#[entities] Entity);

#[derive(Resource, MapEntities, Serialize, Deserialize, Clone, Debug)]
struct Charge(#[entities] Entity);

#[derive(Resource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
struct Seen(Vec<(u64, usize)>);

/// Whether each hook found the charge nurse a `Nurse`.
static FOUND: Mutex<Vec<bool>> = Mutex::new(Vec::new());

fn assigned(world: DeferredWorld, ctx: HookContext) {
    let nurse = world.get::<Assigned>(ctx.entity).map(|a| a.0);
    let charge = world.resource::<Charge>().0;
    FOUND.lock().unwrap().push(
        nurse.is_some_and(|n| world.get::<Nurse>(n).is_some())
            && world.get::<Nurse>(charge).is_some(),
    );
}

fn reader(t: Res<TickCount>, added: Query<(), Added<Nurse>>, mut seen: ResMut<Seen>) {
    seen.0.push((t.0, added.iter().count()));
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Nurse>("ward.nurse")
        .component::<Assigned>("ward.assigned")
        .resource("ward.charge", Charge(Entity::PLACEHOLDER))
        .resource("ward.seen", Seen::default())
        .systems(reader)
}

fn run(db: &Path, squash: bool) -> Seen {
    {
        let mut rt = app(db).open().unwrap();
        let first = rt.spawn(Nurse);
        rt.spawn(Nurse);
        rt.world_mut().resource_mut::<Charge>().0 = first;
        rt.spawn(Assigned(first));
        rt.run_ticks(2).unwrap();
        rt.close().unwrap();
    }
    if squash {
        dizzy_tests::squash_without_the_apps_types(db);
    }
    let mut rt = app(db).open().unwrap();
    rt.tick().unwrap();
    let seen = rt.world().resource::<Seen>().clone();
    rt.close().unwrap();
    seen
}

#[test]
fn a_squashed_file_resumes_as_the_file_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let plain = run(&dir.path().join("plain.redb"), false);
    assert_eq!(plain.0, [(1, 2), (2, 0), (3, 0)]);
    FOUND.lock().unwrap().clear();
    let squashed = run(&dir.path().join("squashed.redb"), true);
    assert_eq!(squashed, plain, "a resume after the tool's squash");
    let found = std::mem::take(&mut *FOUND.lock().unwrap());
    assert!(found.len() >= 2, "{found:?}");
    assert!(
        found.iter().all(|&f| f),
        "hooks found the nurses: {found:?}"
    );
}
