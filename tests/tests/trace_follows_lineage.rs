//! `spawn_caused_by` records lineage (`dizzy.caused_by`, and the cause's
//! `dizzy.correlation`), and `dizzy trace` — a binary that does not know the
//! app's types — prints one correlation as a causal tree with the snapshot
//! each entity first appeared in, found from any of its uids or from the
//! correlation id alone (even when the root is gone).

use dizzy::prelude::*;
use dizzy_tests::{dizzy, dizzy_json};
use serde_json::{Value, json};

#[derive(Component, Serialize, Deserialize)]
struct Order {
    n: u32,
}

#[derive(Component, Serialize, Deserialize)]
struct Invoice {
    order: u32,
}

#[derive(Component, Serialize, Deserialize)]
struct Email {
    to: String,
}

/// Marks an order or invoice whose effect was spawned.
#[derive(Component, Serialize, Deserialize)]
struct Handled;

fn bill(mut commands: Commands, orders: Query<(Entity, &Order), Without<Handled>>) {
    for (e, o) in &orders {
        commands.entity(e).insert(Handled);
        commands.spawn_caused_by(e, Invoice { order: o.n });
    }
}

fn mail(mut commands: Commands, invoices: Query<(Entity, &Invoice), Without<Handled>>) {
    for (e, i) in &invoices {
        commands.entity(e).insert(Handled);
        let to = format!("customer-{}", i.order);
        commands.spawn_caused_by(e, Email { to });
    }
}

fn app(db: &std::path::Path) -> App {
    App::new()
        .db(db)
        .component::<Order>("shop.order")
        .component::<Invoice>("shop.invoice")
        .component::<Email>("shop.email")
        .component::<Handled>("shop.handled")
        .systems((bill, mail))
        .refs(RefPolicy::Drop)
        .snapshot_policy(SnapshotPolicy::OFF)
}

/// The uid of the entity with `component` equal to `value`.
fn uid_of(shown: &Value, component: &str, value: Value) -> u64 {
    shown
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[component] == value)
        .and_then(|e| e["uid"].as_u64())
        .unwrap_or_else(|| panic!("no {component} = {value} in {shown}"))
}

#[test]
fn trace_prints_the_causal_tree_of_a_correlation() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("shop.redb");
    let db = db_path.to_str().unwrap();
    let mut rt = app(&db_path).open().unwrap();
    let first = rt.spawn(Order { n: 1 });
    rt.spawn(Order { n: 2 });
    rt.snapshot().unwrap(); // 1: the orders
    rt.run_ticks(1).unwrap();
    rt.snapshot().unwrap(); // 2: their invoices
    rt.run_ticks(1).unwrap();
    rt.snapshot().unwrap(); // 3: the emails
    let gone = rt.world().get::<Uid>(first).unwrap().get();
    rt.world_mut().despawn(first);
    rt.snapshot().unwrap(); // 4: order 1 is gone
    rt.close().unwrap();

    let shown = dizzy_json(&["show", "--db", db, "--snapshot", "3", "--json"]);
    let order = uid_of(&shown, "shop.order", json!({"n": 2}));
    let invoice = uid_of(&shown, "shop.invoice", json!({"order": 2}));
    let email = uid_of(&shown, "shop.email", json!({"to": "customer-2"}));
    assert_eq!(gone, uid_of(&shown, "shop.order", json!({"n": 1})));

    // From any member: the order, its invoice, its email; nothing of order 1.
    for from in [order, invoice, email] {
        let t = dizzy_json(&["trace", "--db", db, &from.to_string(), "--json"]);
        assert_eq!(t["correlation"], order, "the root's uid is the correlation");
        assert_eq!(t["entities"], 3);
        let root = &t["roots"][0];
        assert_eq!(t["roots"].as_array().unwrap().len(), 1);
        assert_eq!(root["uid"], order);
        assert_eq!(root["first_snapshot"], 1);
        assert_eq!(root["caused_by"], Value::Null);
        let inv = &root["children"][0];
        assert_eq!(inv["uid"], invoice);
        assert_eq!(inv["caused_by"], order);
        assert_eq!(inv["first_snapshot"], 2);
        assert_eq!(inv["components"]["shop.invoice"], json!({"order": 2}));
        let mail = &inv["children"][0];
        assert_eq!(mail["uid"], email);
        assert_eq!(mail["first_snapshot"], 3);
        assert_eq!(mail["children"], json!([]));
    }

    // Order 1 is gone at snapshot 4: its correlation id still finds its
    // invoice and email; the invoice's link to its gone cause is dropped
    // (`CausedBy` is `RefPolicy::Drop`), in a delta as in a full snapshot,
    // so it is the root of what is left.
    let t = dizzy_json(&["trace", "--db", db, &gone.to_string(), "--json"]);
    assert_eq!(t["correlation"], gone);
    assert_eq!(t["entities"], 2);
    let root = &t["roots"][0];
    assert_eq!(root["components"]["shop.invoice"], json!({"order": 1}));
    assert_eq!(root["caused_by"], Value::Null);
    assert_eq!(root["first_snapshot"], 2);
    assert_eq!(root["children"][0]["first_snapshot"], 3);

    // The text form: a tree, each line with its first snapshot.
    let out = dizzy()
        .args(["trace", "--db", db, &email.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("correlation {order}")), "{text}");
    assert!(text.contains(&format!("{order} shop.handled")), "{text}");
    assert!(
        text.contains(&format!("└── {invoice} ")) && text.contains("(snapshot 2)"),
        "{text}"
    );
    assert!(text.contains(&format!("    └── {email} ")), "{text}");
}
