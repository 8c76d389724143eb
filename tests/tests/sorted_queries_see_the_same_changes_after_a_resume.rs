//! The README's recipe for a stable order, `query.iter().sort::<&Uid>()`,
//! on a query with `Added<T>`: bevy filters a sorted query with the world's
//! last change tick (not the system's), so a resume must give that tick back
//! too. Found by a fresh tester: after a resume the sorted iterator handed
//! back orders the system had shipped in the tick before the snapshot
//! (shipping them twice), and entities the query does not match.

use std::path::Path;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Order(u32);

#[derive(Component, Serialize, Deserialize, Clone, Debug)]
struct Shipped(u64);

/// Every uid shipped, in the order shipped.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
struct Log(Vec<u64>);

fn take_orders(mut commands: Commands, tick: Res<TickCount>) {
    for i in 0..3 {
        commands.spawn(Order(tick.0 as u32 * 10 + i));
    }
}

fn ship(
    mut commands: Commands,
    new: Query<(Entity, &Uid), Added<Order>>,
    mut matched: Query<&Order, Added<Order>>,
    mut log: ResMut<Log>,
) {
    for (e, uid) in new.iter().sort::<&Uid>() {
        // Every entity the sorted iterator yields matches the query.
        assert!(
            matched.get_mut(e).is_ok(),
            "uid {} does not match",
            uid.get()
        );
        log.0.push(uid.get());
        commands.entity(e).insert(Shipped(uid.get()));
    }
}

fn app(db: &Path) -> App {
    App::new()
        .db(db)
        .component::<Order>("shop.order")
        .component::<Shipped>("shop.shipped")
        .resource::<Log>("shop.log", Log::default())
        .systems((take_orders, ship).chain())
        .snapshot_every_ticks(1)
}

fn log_after(db: &Path, stops: &[u64]) -> Vec<u64> {
    let mut done = 0;
    for &until in stops {
        let mut rt = app(db).open().unwrap();
        rt.run_ticks(until - done).unwrap();
        done = until;
        rt.close().unwrap();
    }
    let rt = app(db).open().unwrap();
    let log = rt.world().resource::<Log>().0.clone();
    rt.close().unwrap();
    log
}

#[test]
fn a_sorted_added_query_ships_each_order_once_across_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let straight = log_after(&dir.path().join("a.redb"), &[6]);
    assert_eq!(straight.len(), 18, "{straight:?}");
    for stops in [&[1, 6][..], &[2, 6], &[1, 2, 3, 4, 5, 6]] {
        let name = format!("b{stops:?}.redb").replace(['[', ']', ',', ' '], "_");
        let resumed = log_after(&dir.path().join(name), stops);
        assert_eq!(resumed, straight, "stopped after ticks {stops:?}");
    }
}
