//! Two systems that write the same component with no order between them are
//! refused when the app opens (a resumed run could differ from an
//! uninterrupted one); ordering them, or opting out, is accepted.

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
struct Counter(u64);

fn double(mut q: Query<&mut Counter>) {
    for mut c in &mut q {
        c.0 *= 2;
    }
}

fn increment(mut q: Query<&mut Counter>) {
    for mut c in &mut q {
        c.0 += 1;
    }
}

fn app() -> App {
    App::new().in_memory().component::<Counter>("t.counter")
}

#[test]
fn conflicting_unordered_systems_are_an_error() {
    let err = app().systems((double, increment)).open().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("double") && msg.contains("increment"), "{msg}");
}

#[test]
fn ordering_resolves_the_ambiguity() {
    let mut rt = app().systems((double, increment).chain()).open().unwrap();
    let e = rt.spawn(Counter(1));
    rt.run_ticks(2).unwrap();
    assert_eq!(rt.world().get::<Counter>(e).unwrap().0, 7);
}

#[test]
fn opting_out_is_allowed() {
    let mut app = app().systems((double, increment));
    app.setup().allow_ambiguities();
    assert!(app.open().is_ok());
}
