//! The persisted types, the plain model they are checked against, and the
//! random operations.

use super::*;

mod operations;

// ---------------------------------------------------------------------------
// The persisted types.

/// Table storage with heap data.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct Label {
    pub(super) text: String,
    pub(super) tags: Vec<u8>,
}

/// Small and `Copy`; the `drift` system moves it on entities with a `Flag`.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub(super) struct Pos {
    pub(super) x: i32,
    pub(super) y: i16,
}

/// Sparse-set storage.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[component(storage = "SparseSet")]
pub(super) struct Flag(pub(super) u16);

/// Table storage with entity references (`to` may be `Entity::PLACEHOLDER`).
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct Link {
    #[entities]
    pub(super) to: Entity,
    #[entities]
    pub(super) also: Vec<Entity>,
    pub(super) weight: u8,
}

/// Sparse-set storage with an entity reference (may be `Entity::PLACEHOLDER`).
/// Its insert hook asserts what it sees — live, on restore and on import
/// alike: the target exists with its uid, and so does the holder.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[component(storage = "SparseSet", on_insert = watch_inserted)]
pub(super) struct Watch(#[entities] pub(super) Entity);

fn watch_inserted(world: bevy_ecs::world::DeferredWorld, ctx: bevy_ecs::lifecycle::HookContext) {
    let Some(w) = world.get::<Watch>(ctx.entity) else {
        panic!("Watch hook: the value is not on its entity");
    };
    let target = w.0;
    if world.get::<Uid>(ctx.entity).is_none() {
        panic!("Watch hook: the holder {} has no uid yet", ctx.entity);
    }
    if target != Entity::PLACEHOLDER && world.get::<Uid>(target).is_none() {
        panic!("Watch hook: the target {target} does not exist or has no uid (a stand-in?)");
    }
}

/// A resource with an entity reference (may be `Entity::PLACEHOLDER`).
#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[component(map_entities)]
pub(super) struct Score {
    pub(super) n: u64,
    pub(super) note: String,
    pub(super) leader: Entity,
}

impl MapEntities for Score {
    fn map_entities<M: EntityMapper>(&mut self, m: &mut M) {
        self.leader = m.get_mapped(self.leader);
    }
}

pub(super) fn initial_score() -> Score {
    Score {
        n: 0,
        note: "start".into(),
        leader: Entity::PLACEHOLDER,
    }
}

/// The one system: flagged positions move one step per tick.
pub(super) fn drift(mut q: Query<&mut Pos, With<Flag>>) {
    for mut p in &mut q {
        p.x = p.x.wrapping_add(1);
    }
}

// ---------------------------------------------------------------------------
// The model.

#[derive(Clone, Debug, PartialEq)]
pub(super) struct MLink {
    pub(super) to: Option<u64>,
    pub(super) also: Vec<u64>,
    pub(super) weight: u8,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub(super) struct MEntity {
    pub(super) label: Option<Label>,
    pub(super) pos: Option<Pos>,
    pub(super) flag: Option<Flag>,
    pub(super) link: Option<MLink>,
    pub(super) watch: Option<Option<u64>>,
    /// `ChildOf`: the parent's uid.
    pub(super) parent: Option<u64>,
    /// `Children` as bevy keeps it: in the order the user gave.
    pub(super) children: Vec<u64>,
}

impl MEntity {
    pub(super) fn refers_to(&self, uid: u64) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.to == Some(uid) || l.also.contains(&uid))
            || self.watch == Some(Some(uid))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct MScore {
    pub(super) n: u64,
    pub(super) note: String,
    pub(super) leader: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub(super) struct State {
    pub(super) entities: BTreeMap<u64, MEntity>,
    pub(super) score: Option<MScore>,
}

/// A world as a model state. References to entities without a uid show as
/// target 0 (and `PLACEHOLDER` inside `Link::also` as 1), so they never match.
pub(super) fn dump(world: &mut World) -> Result<State, String> {
    let stray = world
        .query_filtered::<Entity, (
            Without<Uid>,
            Or<(With<Label>, With<Pos>, With<Flag>, With<Link>, With<Watch>)>,
        )>()
        .iter(world)
        .count();
    if stray > 0 {
        return Err(format!(
            "{stray} entities have persisted components but no uid"
        ));
    }
    let mut q = world.query::<(
        &Uid,
        Option<&Label>,
        Option<&Pos>,
        Option<&Flag>,
        Option<&Link>,
        Option<&Watch>,
        Option<&ChildOf>,
        Option<&Children>,
    )>();
    let world: &World = world;
    let target = |e: Entity| -> Option<u64> {
        (e != Entity::PLACEHOLDER).then(|| world.get::<Uid>(e).map_or(0, |u| u.get()))
    };
    let mut entities = BTreeMap::new();
    let mut rows = 0;
    for (uid, label, pos, flag, link, watch, parent, children) in q.iter(world) {
        rows += 1;
        let m = MEntity {
            label: label.cloned(),
            pos: pos.copied(),
            flag: flag.copied(),
            link: link.map(|l| MLink {
                to: target(l.to),
                also: l.also.iter().map(|&e| target(e).unwrap_or(1)).collect(),
                weight: l.weight,
            }),
            watch: watch.map(|w| target(w.0)),
            parent: parent.map(|p| target(p.parent()).unwrap_or(1)),
            children: children
                .map(|c| c.iter().map(|e| target(e).unwrap_or(1)).collect())
                .unwrap_or_default(),
        };
        entities.insert(uid.get(), m);
    }
    if rows != entities.len() {
        return Err(format!("{rows} entities share {} uids", entities.len()));
    }
    let score = world.get_resource::<Score>().map(|s| MScore {
        n: s.n,
        note: s.note.clone(),
        leader: target(s.leader),
    });
    Ok(State { entities, score })
}

/// What differs between `expected` and `got`, one line per uid.
pub(super) fn diff(expected: &State, got: &State) -> String {
    let mut out = String::new();
    let uids: std::collections::BTreeSet<u64> = expected
        .entities
        .keys()
        .chain(got.entities.keys())
        .copied()
        .collect();
    for uid in uids {
        let (a, b) = (expected.entities.get(&uid), got.entities.get(&uid));
        if a != b {
            out += &format!(
                "  uid {uid}: expected {a:?}\n  {:>w$}  got      {b:?}\n",
                "",
                w = uid.to_string().len() + 4
            );
        }
    }
    if expected.score != got.score {
        out += &format!(
            "  resource: expected {:?}\n            got      {:?}\n",
            expected.score, got.score
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Operations: each carries its own random bits and is interpreted against the
// model state when applied, so that any subsequence is still a valid case
// (which is what shrinking needs).

#[derive(Clone, Debug)]
pub(super) enum Op {
    Spawn(u64),
    Insert(u64, u8, u64),
    Mutate(u64, u8, u64),
    Remove(u64, u8),
    Despawn(u64, u64),
    Relink(u64, u64),
    /// Makes one entity the child of another, at a position in its list.
    Adopt(u64, u64, u64),
    /// Takes an entity out of its parent's list.
    Orphan(u64),
    SetResource(u64),
    MutateResource(u64),
    RemoveResource,
    Tick,
    Snapshot,
    SnapshotFull,
    Flush,
    /// Close and reopen; `Some` reopens at an earlier snapshot (time travel).
    Reopen(Option<u64>),
}

pub(super) fn generate(rng: &mut Rng, cfg: &Config) -> Vec<Op> {
    let n = cfg.ops;
    let mut ops = Vec::with_capacity(n);
    // Spawn first, so that there is something to work on (a larger world
    // makes deltas small against the full snapshot: longer chains).
    for _ in 0..cfg.initial {
        ops.push(Op::Spawn(rng.next_u64()));
    }
    while ops.len() < n {
        let r = rng.below(100);
        let (a, b) = (rng.next_u64(), rng.next_u64());
        let what = rng.below(5) as u8;
        ops.push(match r {
            0..12 => Op::Spawn(a),
            12..26 => Op::Insert(a, what, b),
            26..40 => Op::Mutate(a, what, b),
            40..48 => Op::Remove(a, what),
            48..55 => Op::Despawn(a, b),
            55..62 => Op::Relink(a, b),
            62..65 => Op::SetResource(a),
            65..68 => Op::MutateResource(a),
            68..69 => Op::RemoveResource,
            69..81 => Op::Tick,
            81..89 => Op::Snapshot,
            89..92 => Op::SnapshotFull,
            92..94 => Op::Flush,
            94..95 => Op::Reopen(rng.below(4).eq(&0).then_some(a)),
            95..98 => Op::Adopt(a, b, rng.next_u64()),
            _ => Op::Orphan(a),
        });
    }
    ops
}

pub(super) fn label(r: &mut Rng) -> Label {
    const ALPHABET: &[char] = &['a', 'b', 'z', ' ', 'é', '✓', '0'];
    let len = if r.below(10) == 0 {
        100 + r.below(200)
    } else {
        r.below(8)
    };
    let text = (0..len)
        .map(|_| ALPHABET[r.below(ALPHABET.len() as u64) as usize])
        .collect();
    let tags = (0..r.below(4)).map(|_| r.below(256) as u8).collect();
    Label { text, tags }
}

pub(super) fn pos(r: &mut Rng) -> Pos {
    Pos {
        x: r.next_u64() as i32,
        y: r.next_u64() as i16,
    }
}
