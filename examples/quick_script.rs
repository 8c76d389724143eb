//! The quick script: a resumable pipeline — a component, a system, a file,
//! a loop. Squares 10,000 numbers, 500 per tick; kill it at any moment
//! (Ctrl-C) and run it again: it resumes from its last snapshot without
//! redoing the work saved there.
//!
//! ```sh
//! cargo run -p dizzy-examples --bin quick_script              # squares.redb here
//! cargo run -p dizzy-examples --bin quick_script -- /tmp/sq.redb
//! ```
use dizzy::prelude::*;

/// A number to square, and its square once done.
#[derive(Component, Serialize, Deserialize)]
struct Task {
    n: u64,
}
#[derive(Component, Serialize, Deserialize)]
struct Square(u64);

/// Each tick, the next 500 tasks in uid order (a resumed run picks the same
/// ones as a run that never stopped).
fn work(mut commands: Commands, todo: Query<(Entity, &Uid, &Task), Without<Square>>) {
    for (e, _, t) in todo.iter().sort::<&Uid>().take(500) {
        commands.entity(e).insert(Square(t.n * t.n));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "squares.redb".into());
    let mut run = App::new()
        .db(&path)
        .component::<Task>("squares.task")
        .component::<Square>("squares.square")
        .systems(work)
        .snapshot_every_ticks(5)
        .open()?;
    match run.resumed_from() {
        Some(id) => println!("resumed from snapshot {id} at tick {}", run.tick_count()),
        None => {
            for n in 0..10_000 {
                run.spawn(Task { n });
            }
        }
    }
    run.run_until(|w: &mut World| {
        w.query_filtered::<(), (With<Task>, Without<Square>)>()
            .iter(w)
            .next()
            .is_none()
    })?;
    let sum: u64 = run
        .world_mut()
        .query::<&Square>()
        .iter(run.world())
        .map(|s| s.0)
        .sum();
    println!("sum of squares: {sum} after tick {}", run.tick_count());
    run.close()?;
    Ok(())
}
