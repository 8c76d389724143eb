//! A plugin: a domain's components, resource and systems registered as one
//! [`Plugin`], added to an app with one line. Two ordered systems (move,
//! then count) update positions and a saved resource; the app runs 10
//! ticks, closes, and a second app with the same plugin reopens the file
//! and finds the world and the resource where they were.
//!
//! ```sh
//! cargo run -p dizzy-examples --bin plugin              # plugin.redb here
//! cargo run -p dizzy-examples --bin plugin -- /tmp/p.redb
//! ```
use dizzy::prelude::*;

/// Where a particle is, and how it moves.
#[derive(Component, Serialize, Deserialize)]
struct Position(f64, f64);
#[derive(Component, Serialize, Deserialize)]
struct Velocity(f64, f64);

/// How many moves were made, in total (a resource, saved with the world).
#[derive(Resource, Serialize, Deserialize)]
struct Moves(u64);

fn step(mut q: Query<(&mut Position, &Velocity)>) {
    for (mut p, v) in &mut q {
        p.0 += v.0;
        p.1 += v.1;
    }
}

fn count(q: Query<(), With<Velocity>>, mut moves: ResMut<Moves>) {
    moves.0 += q.iter().count() as u64;
}

/// Everything about motion, in one place.
struct Motion;

impl Plugin for Motion {
    fn build(&self, app: &mut Setup) {
        app.component::<Position>("motion.position")
            .component::<Velocity>("motion.velocity")
            .resource("motion.moves", Moves(0))
            // In this order, every tick (`dizzy graph` draws the order).
            .add_systems((step, count).chain());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "plugin.redb".into());
    let _ = std::fs::remove_file(&path);

    let mut run = App::new().db(&path).plugin(Motion).open()?;
    for i in 0..100 {
        run.spawn((Position(0.0, 0.0), Velocity(f64::from(i), 1.0)));
    }
    run.run_ticks(10)?;
    run.close()?;

    let mut again = App::new().db(&path).plugin(Motion).open()?;
    let moves = again.world().resource::<Moves>().0;
    let far = again
        .world_mut()
        .query::<&Position>()
        .iter(again.world())
        .map(|p| p.0)
        .fold(0.0, f64::max);
    println!(
        "reopened at tick {}: {moves} moves, farthest x = {far}",
        again.tick_count()
    );
    Ok(())
}
