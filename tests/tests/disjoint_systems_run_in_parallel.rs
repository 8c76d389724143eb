//! Two systems over disjoint components run at the same time on bevy's
//! multi-threaded executor: each waits for the other at a rendezvous, which
//! only completes if both are running at once (no timing involved; a
//! sequential executor would leave each waiting alone until the timeout).

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use dizzy::prelude::*;

#[derive(Component, Serialize, Deserialize)]
struct A(u32);
#[derive(Component, Serialize, Deserialize)]
struct B(u32);

#[derive(Resource, Clone, Default)]
struct Rendezvous(Arc<(Mutex<(u32, u32)>, Condvar)>);

impl Rendezvous {
    /// Arrives; waits (bounded) for the other; returns whether it came.
    fn meet(&self) -> bool {
        let (lock, cv) = &*self.0;
        let mut state = lock.lock().unwrap();
        state.0 += 1;
        cv.notify_all();
        let (state, timeout) = cv
            .wait_timeout_while(state, Duration::from_secs(20), |s| s.0 < 2)
            .unwrap();
        let met = !timeout.timed_out() && state.0 >= 2;
        drop(state);
        met
    }

    fn record(&self, met: bool) {
        if met {
            self.0.0.lock().unwrap().1 += 1;
        }
    }
}

fn left(q: Query<&mut A>, r: Res<Rendezvous>) {
    let _ = q;
    r.record(r.meet());
}

fn right(q: Query<&mut B>, r: Res<Rendezvous>) {
    let _ = q;
    r.record(r.meet());
}

#[test]
fn disjoint_systems_meet() {
    let rendezvous = Rendezvous::default();
    let mut rt = App::new()
        .in_memory()
        .component::<A>("t.a")
        .component::<B>("t.b")
        .systems((left, right))
        .open()
        .unwrap();
    rt.world_mut().insert_resource(rendezvous.clone());
    rt.spawn((A(1), B(2)));
    rt.tick().unwrap();
    let met = rendezvous.0.0.lock().unwrap().1;
    assert_eq!(
        met, 2,
        "both systems saw the other arrive while they waited"
    );
}
