//! A deterministic particle simulation, for load: every tick three systems
//! (over disjoint components, so they run at the same time) each update
//! about `changed` of the entities, chosen by a seeded hash of (uid, tick).
//! Killed and run again, it resumes from its last snapshot and ends in the
//! same state as an uninterrupted run (the checksum says so).

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use dizzy_components::{Uid, Uids};
use dizzy_systems::{Plugin, Setup};

use dizzy::TickCount;

/// Where a particle is.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Position(pub [f32; 3]);

/// How it moves.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Velocity(pub [f32; 3]);

/// Its name (a heap-allocated string, as real data has).
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Label(pub String);

/// The simulation's parameters (persisted: a resumed run uses the same).
#[derive(Resource, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Seed of every random choice.
    pub seed: u64,
    /// Fraction of the entities each system updates per tick.
    pub changed: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            changed: 0.01,
        }
    }
}

/// The particles plugin: three components, the parameters, three systems.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParticlesPlugin {
    /// Without systems (only the types, to inspect a file).
    pub types_only: bool,
}

impl Plugin for ParticlesPlugin {
    fn build(&self, app: &mut Setup) {
        app.component::<Position>("particles.position")
            .component::<Velocity>("particles.velocity")
            .component::<Label>("particles.label")
            .archetype::<(Position, Velocity, Label)>()
            .resource("particles.params", Params::default());
        if !self.types_only {
            app.add_systems((drift, steer, relabel));
        }
    }
}

/// splitmix64.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether system `salt` updates the entity with `uid` at `tick`, and the
/// random bits it uses if so.
#[inline]
pub fn pick(p: &Params, uid: u64, tick: u64, salt: u64) -> Option<u64> {
    let h = mix(p.seed ^ mix(uid ^ mix(tick.wrapping_mul(4).wrapping_add(salt))));
    let threshold = (p.changed.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
    (h < threshold || p.changed >= 1.0).then(|| mix(h))
}

fn unit(bits: u64, shift: u32) -> f32 {
    ((bits >> shift) & 0xffff) as f32 / 65_536.0 - 0.5
}

/// Gives the chosen particles a random displacement.
pub fn drift(p: Res<Params>, tick: Res<TickCount>, mut q: Query<(&Uid, &mut Position)>) {
    for (uid, mut pos) in &mut q {
        if let Some(bits) = pick(&p, uid.get(), tick.0, 1) {
            pos.0[0] += unit(bits, 0);
            pos.0[1] += unit(bits, 16);
            pos.0[2] += unit(bits, 32);
        }
    }
}

/// Gives the chosen particles a random push.
pub fn steer(p: Res<Params>, tick: Res<TickCount>, mut q: Query<(&Uid, &mut Velocity)>) {
    for (uid, mut vel) in &mut q {
        if let Some(bits) = pick(&p, uid.get(), tick.0, 2) {
            vel.0[0] += unit(bits, 0) * 0.1;
            vel.0[1] += unit(bits, 16) * 0.1;
            vel.0[2] += unit(bits, 32) * 0.1;
        }
    }
}

/// Renames the chosen particles.
pub fn relabel(p: Res<Params>, tick: Res<TickCount>, mut q: Query<(&Uid, &mut Label)>) {
    for (uid, mut label) in &mut q {
        if pick(&p, uid.get(), tick.0, 3).is_some() {
            label.0 = format!("p{}-t{}", uid.get(), tick.0);
        }
    }
}

/// The initial particles: `n` rows of seeded values.
pub fn initial(n: usize, seed: u64) -> Vec<(Position, Velocity, Label)> {
    (0..n as u64)
        .map(|i| {
            let b = mix(seed ^ mix(i));
            let c = mix(b);
            (
                Position([unit(b, 0) * 100.0, unit(b, 16) * 100.0, unit(b, 32) * 100.0]),
                Velocity([unit(c, 0), unit(c, 16), unit(c, 32)]),
                Label(format!("p-{i}")),
            )
        })
        .collect()
}

/// Spawns the initial particles with fresh uids.
pub fn populate(world: &mut World, n: usize, seed: u64) {
    let rows = initial(n, seed);
    let uids = world.resource_mut::<Uids>().allocate_many(n);
    world.spawn_batch(
        uids.into_iter()
            .zip(rows)
            .map(|(u, (p, v, l))| (u, p, v, l)),
    );
}

/// SHA-256 (hex) of every particle's uid and component values, in uid order.
pub fn checksum(world: &mut World) -> String {
    let mut rows: Vec<(u64, [f32; 3], [f32; 3], String)> = world
        .query::<(&Uid, &Position, &Velocity, &Label)>()
        .iter(world)
        .map(|(u, p, v, l)| (u.get(), p.0, v.0, l.0.clone()))
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    let mut h = Sha256::new();
    for (u, p, v, l) in rows {
        h.update(u.to_le_bytes());
        for x in p.iter().chain(v.iter()) {
            h.update(x.to_bits().to_le_bytes());
        }
        h.update((l.len() as u64).to_le_bytes());
        h.update(l.as_bytes());
    }
    super::dedupe::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_chooses_about_the_fraction() {
        let p = Params {
            seed: 7,
            changed: 0.1,
        };
        let n = (0..100_000u64)
            .filter(|&u| pick(&p, u, 3, 1).is_some())
            .count();
        assert!((9_000..11_000).contains(&n), "{n}");
        let all = Params {
            seed: 7,
            changed: 1.0,
        };
        assert!((0..1000u64).all(|u| pick(&all, u, 3, 1).is_some()));
    }
}
