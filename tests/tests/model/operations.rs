//! The operations a case applies: each changes the live world through the
//! engine and the model alike, and says what it did.

use crate::*;

impl Case<'_> {
    pub(crate) fn entity(&self, uid: Option<u64>) -> Entity {
        uid.map_or(Entity::PLACEHOLDER, |u| self.ents[&u])
    }

    /// A live uid, chosen by `r`.
    pub(crate) fn pick(&self, r: u64) -> Option<u64> {
        let n = self.model.entities.len() as u64;
        (n > 0).then(|| {
            *self
                .model
                .entities
                .keys()
                .nth((r % n) as usize)
                .expect("in range")
        })
    }

    /// A reference target: a live uid (maybe the holder itself) or none.
    pub(crate) fn target(&self, r: &mut Rng) -> Option<u64> {
        if r.below(6) == 0 {
            None
        } else {
            self.pick(r.next_u64())
        }
    }

    /// A live uid other than `not`, if any.
    pub(crate) fn other(&self, not: u64, r: &mut Rng) -> Option<u64> {
        let others: Vec<u64> = self
            .model
            .entities
            .keys()
            .copied()
            .filter(|&u| u != not)
            .collect();
        (!others.is_empty()).then(|| others[r.below(others.len() as u64) as usize])
    }

    pub(crate) fn link(&self, r: &mut Rng) -> (Link, MLink) {
        let to = self.target(r);
        let also: Vec<u64> = (0..r.below(3))
            .filter_map(|_| self.pick(r.next_u64()))
            .collect();
        let weight = r.below(256) as u8;
        (
            Link {
                to: self.entity(to),
                also: also.iter().map(|&u| self.ents[&u]).collect(),
                weight,
            },
            MLink { to, also, weight },
        )
    }

    pub(crate) fn spawn(&mut self, seed: u64) -> Result<(), String> {
        let mut r = Rng(seed);
        let mask = r.below(32);
        let l = (mask & 1 != 0).then(|| label(&mut r));
        let p = (mask & 2 != 0).then(|| pos(&mut r));
        let rt = self.rt();
        let e = match (l.clone(), p) {
            (Some(l), Some(p)) => rt.spawn((l, p)),
            (Some(l), None) => rt.spawn(l),
            (None, Some(p)) => rt.spawn(p),
            (None, None) => rt.spawn(()),
        };
        let Some(uid) = rt.world().get::<Uid>(e).map(|u| u.get()) else {
            return fail("Runtime::spawn gave no uid");
        };
        if self.model.entities.contains_key(&uid) {
            return fail(format!("Runtime::spawn reused live uid {uid}"));
        }
        self.ents.insert(uid, e);
        self.model.entities.insert(
            uid,
            MEntity {
                label: l,
                pos: p,
                ..Default::default()
            },
        );
        // The rest is inserted after the spawn; references may point at the
        // new entity itself.
        if mask & 4 != 0 {
            let f = Flag(r.below(1000) as u16);
            self.world().entity_mut(e).insert(f);
            self.model.entities.get_mut(&uid).expect("spawned").flag = Some(f);
        }
        if mask & 8 != 0 {
            let (link, m) = self.link(&mut r);
            self.world().entity_mut(e).insert(link);
            self.model.entities.get_mut(&uid).expect("spawned").link = Some(m);
        }
        if mask & 16 != 0 {
            let t = self.target(&mut r);
            let w = Watch(self.entity(t));
            self.world().entity_mut(e).insert(w);
            self.model.entities.get_mut(&uid).expect("spawned").watch = Some(t);
        }
        self.trace
            .push(format!("spawn uid {uid}: {:?}", self.model.entities[&uid]));
        Ok(())
    }

    pub(crate) fn insert(&mut self, who: u64, what: u8, seed: u64) -> Result<(), String> {
        let Some(uid) = self.pick(who) else {
            self.trace.push("insert: no entity, skipped".into());
            return Ok(());
        };
        let e = self.ents[&uid];
        let mut r = Rng(seed);
        let desc;
        match what {
            0 => {
                let v = label(&mut r);
                desc = format!("{v:?}");
                self.world().entity_mut(e).insert(v.clone());
                self.model_entity(uid).label = Some(v);
            }
            1 => {
                let v = pos(&mut r);
                desc = format!("{v:?}");
                self.world().entity_mut(e).insert(v);
                self.model_entity(uid).pos = Some(v);
            }
            2 => {
                let v = Flag(r.below(1000) as u16);
                desc = format!("{v:?}");
                self.world().entity_mut(e).insert(v);
                self.model_entity(uid).flag = Some(v);
            }
            3 => {
                let (v, m) = self.link(&mut r);
                desc = format!("{m:?}");
                self.world().entity_mut(e).insert(v);
                self.model_entity(uid).link = Some(m);
            }
            _ => {
                let t = self.target(&mut r);
                desc = format!("Watch({t:?})");
                let v = Watch(self.entity(t));
                self.world().entity_mut(e).insert(v);
                self.model_entity(uid).watch = Some(t);
            }
        }
        self.trace.push(format!("insert on uid {uid}: {desc}"));
        Ok(())
    }

    pub(crate) fn model_entity(&mut self, uid: u64) -> &mut MEntity {
        self.model.entities.get_mut(&uid).expect("live uid")
    }

    pub(crate) fn mutate(&mut self, who: u64, what: u8, seed: u64) -> Result<(), String> {
        let Some(uid) = self.pick(who) else {
            self.trace.push("mutate: no entity, skipped".into());
            return Ok(());
        };
        let e = self.ents[&uid];
        let mut r = Rng(seed);
        let how = r.below(4);
        // Targets are chosen before anything is borrowed.
        let t = self.target(&mut r);
        let te = self.entity(t);
        let m = self.model.entities.get_mut(&uid).expect("live uid");
        let world = self.rt.as_mut().expect("open").world_mut();
        let desc = match what {
            0 => match (&mut m.label, world.get_mut::<Label>(e)) {
                (Some(ml), Some(mut wl)) => {
                    match how {
                        0 => {
                            ml.text.push('x');
                            wl.text.push('x');
                        }
                        1 => {
                            ml.tags.push(how as u8);
                            wl.tags.push(how as u8);
                        }
                        _ => {
                            ml.text.clear();
                            wl.text.clear();
                        }
                    }
                    format!("label ({how}) -> {ml:?}")
                }
                (None, None) => "label: absent, skipped".into(),
                _ => {
                    return fail(format!(
                        "uid {uid}: Label present in only one of model and world"
                    ));
                }
            },
            1 => match (&mut m.pos, world.get_mut::<Pos>(e)) {
                (Some(mp), Some(mut wp)) => {
                    match how {
                        0 => {
                            mp.x = mp.x.wrapping_add(7);
                            wp.x = wp.x.wrapping_add(7);
                        }
                        1 => {
                            mp.y = mp.y.wrapping_sub(1);
                            wp.y = wp.y.wrapping_sub(1);
                        }
                        // Marked changed, value unchanged.
                        _ => wp.set_changed(),
                    }
                    format!("pos ({how}) -> {mp:?}")
                }
                (None, None) => "pos: absent, skipped".into(),
                _ => {
                    return fail(format!(
                        "uid {uid}: Pos present in only one of model and world"
                    ));
                }
            },
            2 => match (&mut m.flag, world.get_mut::<Flag>(e)) {
                (Some(mf), Some(mut wf)) => {
                    mf.0 = mf.0.wrapping_add(1);
                    wf.0 = wf.0.wrapping_add(1);
                    format!("flag -> {mf:?}")
                }
                (None, None) => "flag: absent, skipped".into(),
                _ => {
                    return fail(format!(
                        "uid {uid}: Flag present in only one of model and world"
                    ));
                }
            },
            3 => match (&mut m.link, world.get_mut::<Link>(e)) {
                (Some(ml), Some(mut wl)) => {
                    match how {
                        0 => {
                            ml.weight = ml.weight.wrapping_add(1);
                            wl.weight = wl.weight.wrapping_add(1);
                        }
                        1 => {
                            ml.to = t;
                            wl.to = te;
                        }
                        2 => {
                            if let Some(t) = t {
                                ml.also.push(t);
                                wl.also.push(te);
                            }
                        }
                        _ => {
                            ml.also.pop();
                            wl.also.pop();
                        }
                    }
                    format!("link ({how}) -> {ml:?}")
                }
                (None, None) => "link: absent, skipped".into(),
                _ => {
                    return fail(format!(
                        "uid {uid}: Link present in only one of model and world"
                    ));
                }
            },
            _ => match (&mut m.watch, world.get_mut::<Watch>(e)) {
                (Some(mw), Some(mut ww)) => {
                    *mw = t;
                    ww.0 = te;
                    format!("watch -> {mw:?}")
                }
                (None, None) => "watch: absent, skipped".into(),
                _ => {
                    return fail(format!(
                        "uid {uid}: Watch present in only one of model and world"
                    ));
                }
            },
        };
        self.trace
            .push(format!("mutate uid {uid} in place: {desc}"));
        Ok(())
    }

    pub(crate) fn remove(&mut self, who: u64, what: u8) -> Result<(), String> {
        let Some(uid) = self.pick(who) else {
            self.trace.push("remove: no entity, skipped".into());
            return Ok(());
        };
        let e = self.ents[&uid];
        let name = ["Label", "Pos", "Flag", "Link", "Watch"][what as usize % 5];
        self.trace.push(format!("remove {name} from uid {uid}"));
        let m = self.model.entities.get_mut(&uid).expect("live uid");
        let world = self.rt.as_mut().expect("open").world_mut();
        let mut ent = world.entity_mut(e);
        match what {
            0 => {
                m.label = None;
                ent.remove::<Label>();
            }
            1 => {
                m.pos = None;
                ent.remove::<Pos>();
            }
            2 => {
                m.flag = None;
                ent.remove::<Flag>();
            }
            3 => {
                m.link = None;
                ent.remove::<Link>();
            }
            _ => {
                m.watch = None;
                ent.remove::<Watch>();
            }
        }
        Ok(())
    }

    /// Despawns an entity after clearing, retargeting or removing every
    /// reference to it (a dangling reference is an error by default).
    pub(crate) fn despawn(&mut self, who: u64, seed: u64) -> Result<(), String> {
        let Some(victim) = self.pick(who) else {
            self.trace.push("despawn: no entity, skipped".into());
            return Ok(());
        };
        let mut r = Rng(seed);
        let ve = self.ents[&victim];
        let holders: Vec<u64> = self
            .model
            .entities
            .iter()
            .filter(|(u, m)| **u != victim && m.refers_to(victim))
            .map(|(u, _)| *u)
            .collect();
        let mut notes = Vec::new();
        for h in holders {
            let he = self.ents[&h];
            let mode = r.below(3);
            let other = self.other(victim, &mut r);
            let oe = self.entity(other);
            let m = self.model.entities.get_mut(&h).expect("live uid");
            let world = self.rt.as_mut().expect("open").world_mut();
            if m.link
                .as_ref()
                .is_some_and(|l| l.to == Some(victim) || l.also.contains(&victim))
            {
                if mode == 0 {
                    m.link = None;
                    world.entity_mut(he).remove::<Link>();
                    notes.push(format!("remove Link of {h}"));
                } else {
                    let ml = m.link.as_mut().expect("checked");
                    let mut wl = world
                        .get_mut::<Link>(he)
                        .ok_or("model Link missing in world")?;
                    if ml.to == Some(victim) {
                        let (to, te) = if mode == 1 {
                            (None, Entity::PLACEHOLDER)
                        } else {
                            (other, oe)
                        };
                        ml.to = to;
                        wl.to = te;
                    }
                    ml.also.retain(|&u| u != victim);
                    wl.also.retain(|&e| e != ve);
                    notes.push(format!("relink {h} -> {ml:?}"));
                }
            }
            if m.watch == Some(Some(victim)) {
                let world = self.rt.as_mut().expect("open").world_mut();
                match mode {
                    0 => {
                        m.watch = None;
                        world.entity_mut(he).remove::<Watch>();
                        notes.push(format!("remove Watch of {h}"));
                    }
                    1 => {
                        m.watch = Some(None);
                        world.get_mut::<Watch>(he).ok_or("model Watch missing")?.0 =
                            Entity::PLACEHOLDER;
                        notes.push(format!("clear Watch of {h}"));
                    }
                    _ => {
                        m.watch = Some(other);
                        world.get_mut::<Watch>(he).ok_or("model Watch missing")?.0 = oe;
                        notes.push(format!("Watch of {h} -> {other:?}"));
                    }
                }
            }
        }
        if self
            .model
            .score
            .as_ref()
            .is_some_and(|s| s.leader == Some(victim))
        {
            let other = if r.below(2) == 0 {
                None
            } else {
                self.other(victim, &mut r)
            };
            let oe = self.entity(other);
            self.model.score.as_mut().expect("checked").leader = other;
            self.world().resource_mut::<Score>().leader = oe;
            notes.push(format!("resource leader -> {other:?}"));
        }
        // Its children are taken out of its list first (bevy would despawn
        // them with it), and it leaves its parent's list.
        let children = std::mem::take(&mut self.model_entity(victim).children);
        for c in &children {
            let ce = self.ents[c];
            self.world().entity_mut(ce).remove::<ChildOf>();
            self.model_entity(*c).parent = None;
        }
        if !children.is_empty() {
            notes.push(format!("orphan {children:?}"));
        }
        if let Some(p) = self.model.entities[&victim].parent {
            self.model_entity(p).children.retain(|&u| u != victim);
        }
        self.world().despawn(ve);
        self.ents.remove(&victim);
        self.model.entities.remove(&victim);
        self.trace.push(format!(
            "despawn uid {victim} (first: {})",
            notes.join(", ")
        ));
        Ok(())
    }

    pub(crate) fn relink(&mut self, who: u64, seed: u64) -> Result<(), String> {
        let Some(uid) = self.pick(who) else {
            self.trace.push("relink: no entity, skipped".into());
            return Ok(());
        };
        let e = self.ents[&uid];
        let mut r = Rng(seed);
        let t = self.target(&mut r);
        let te = self.entity(t);
        if r.below(2) == 0 {
            let world = self.rt.as_mut().expect("open").world_mut();
            let m = self.model.entities.get_mut(&uid).expect("live uid");
            match (&mut m.link, world.get_mut::<Link>(e)) {
                (Some(ml), Some(mut wl)) => {
                    ml.to = t;
                    wl.to = te;
                }
                (None, None) => {
                    m.link = Some(MLink {
                        to: t,
                        also: Vec::new(),
                        weight: 0,
                    });
                    world.entity_mut(e).insert(Link {
                        to: te,
                        also: Vec::new(),
                        weight: 0,
                    });
                }
                _ => {
                    return fail(format!(
                        "uid {uid}: Link present in only one of model and world"
                    ));
                }
            }
            self.trace
                .push(format!("relink uid {uid}: Link.to -> {t:?}"));
        } else {
            self.world().entity_mut(e).insert(Watch(te));
            self.model_entity(uid).watch = Some(t);
            self.trace.push(format!("relink uid {uid}: Watch -> {t:?}"));
        }
        Ok(())
    }

    /// Whether `maybe` is `of` or one of its descendants.
    fn descends(&self, maybe: u64, of: u64) -> bool {
        let mut at = Some(maybe);
        let mut steps = 0;
        while let Some(u) = at {
            if u == of {
                return true;
            }
            steps += 1;
            if steps > self.model.entities.len() {
                return true;
            }
            at = self.model.entities.get(&u).and_then(|m| m.parent);
        }
        false
    }

    pub(crate) fn adopt(&mut self, who: u64, parent: u64, at: u64) -> Result<(), String> {
        let (Some(child), Some(p)) = (self.pick(who), self.pick(parent)) else {
            self.trace.push("adopt: no entity, skipped".into());
            return Ok(());
        };
        if self.descends(p, child) {
            self.trace
                .push(format!("adopt {child} under {p}: a cycle, skipped"));
            return Ok(());
        }
        let (ce, pe) = (self.ents[&child], self.ents[&p]);
        // Out of its old list (or its place in this one), then in at `index`.
        if let Some(old) = self.model.entities[&child].parent {
            self.model_entity(old).children.retain(|&u| u != child);
        }
        let len = self.model.entities[&p].children.len();
        let index = (at % (len as u64 + 1)) as usize;
        self.world().entity_mut(pe).insert_children(index, &[ce]);
        let m = self.model_entity(p);
        let index = index.min(m.children.len());
        m.children.insert(index, child);
        self.model_entity(child).parent = Some(p);
        self.trace
            .push(format!("adopt {child} under {p} at {index}"));
        Ok(())
    }

    pub(crate) fn orphan(&mut self, who: u64) -> Result<(), String> {
        let Some(child) = self.pick(who) else {
            self.trace.push("orphan: no entity, skipped".into());
            return Ok(());
        };
        let Some(p) = self.model.entities[&child].parent else {
            self.trace
                .push(format!("orphan {child}: no parent, skipped"));
            return Ok(());
        };
        let ce = self.ents[&child];
        self.world().entity_mut(ce).remove::<ChildOf>();
        self.model_entity(p).children.retain(|&u| u != child);
        self.model_entity(child).parent = None;
        self.trace.push(format!("orphan {child} from {p}"));
        Ok(())
    }
}
