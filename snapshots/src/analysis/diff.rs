//! What changed between two snapshots.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::inspect::Inspection;

/// A component of one entity that was added, removed or whose value
/// differs (`None`: the value is absent or was not decoded).
#[derive(Clone, Debug, PartialEq)]
pub struct Change<'a> {
    /// The entity.
    pub uid: u64,
    /// The component's stable name.
    pub component: &'a str,
    /// The value in the earlier snapshot.
    pub old: Option<&'a Value>,
    /// The value in the later snapshot.
    pub new: Option<&'a Value>,
}

/// A resource whose value differs, appeared or disappeared (`None`: absent
/// or not decoded).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceChange<'a> {
    /// The resource's stable name.
    pub resource: &'a str,
    /// The value in the earlier snapshot.
    pub old: Option<&'a Value>,
    /// The value in the later snapshot.
    pub new: Option<&'a Value>,
}

/// The differences from one snapshot to another, by uid order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff<'a> {
    /// Entities of the later snapshot that the earlier one lacks.
    pub spawned: Vec<u64>,
    /// Entities of the earlier snapshot that the later one lacks.
    pub despawned: Vec<u64>,
    /// Components entities of both gained (`new` set).
    pub added: Vec<Change<'a>>,
    /// Components entities of both lost (`old` set).
    pub removed: Vec<Change<'a>>,
    /// Components whose value differs (`old` and `new`).
    pub changed: Vec<Change<'a>>,
    /// Resources whose value differs, appeared or disappeared.
    pub resources: Vec<ResourceChange<'a>>,
}

/// The differences from `a` (the earlier snapshot) to `b`. Values that were
/// not decoded compare equal to each other.
pub fn diff<'a>(a: &'a Inspection, b: &'a Inspection) -> Diff<'a> {
    let mut d = Diff {
        spawned: b
            .entities
            .keys()
            .filter(|u| !a.entities.contains_key(u))
            .copied()
            .collect(),
        despawned: a
            .entities
            .keys()
            .filter(|u| !b.entities.contains_key(u))
            .copied()
            .collect(),
        ..Diff::default()
    };
    for (&uid, old) in &a.entities {
        let Some(new) = b.entities.get(&uid) else {
            continue;
        };
        for (name, before) in old {
            match new.get(name) {
                None => d.removed.push(Change {
                    uid,
                    component: name,
                    old: before.as_ref(),
                    new: None,
                }),
                Some(after) if !same(after.as_ref(), before.as_ref()) => d.changed.push(Change {
                    uid,
                    component: name,
                    old: before.as_ref(),
                    new: after.as_ref(),
                }),
                Some(_) => {}
            }
        }
        for (name, after) in new {
            if !old.contains_key(name) {
                d.added.push(Change {
                    uid,
                    component: name,
                    old: None,
                    new: after.as_ref(),
                });
            }
        }
    }
    let names: BTreeSet<&String> = a.resources.keys().chain(b.resources.keys()).collect();
    for name in names {
        let (old, new) = (a.resources.get(name), b.resources.get(name));
        let differ = match (old, new) {
            (Some(o), Some(n)) => !same(o.as_ref(), n.as_ref()),
            _ => old.is_some() != new.is_some(),
        };
        if differ {
            d.resources.push(ResourceChange {
                resource: name,
                old: old.and_then(Option::as_ref),
                new: new.and_then(Option::as_ref),
            });
        }
    }
    d
}

/// Two values (`None`: not decoded) are the same, floats by their bits:
/// a value rewritten from `0.0` to `-0.0` changed.
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => dizzy_components::json::identical(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::format::{SnapshotKind, SnapshotMeta};
    use crate::inspect::Components;

    fn inspection(id: u64, entities: &[(u64, &[(&str, Value)])]) -> Inspection {
        Inspection {
            meta: SnapshotMeta {
                id,
                kind: SnapshotKind::Full,
                base: None,
                tick: id,
                unix_ms: 0,
                entities: entities.len() as u64,
                bytes: 0,
                uid_next: 100,
                schemas: Vec::new(),
                columns: Vec::new(),
                groups: Vec::new(),
                removed_resources: Vec::new(),
                app: String::new(),
            },
            chain: vec![id],
            entities: entities
                .iter()
                .map(|(uid, c)| {
                    let c: Components = c
                        .iter()
                        .map(|(n, v)| ((*n).to_owned(), Some(v.clone())))
                        .collect();
                    (*uid, c)
                })
                .collect(),
            resources: BTreeMap::new(),
            undecodable: BTreeMap::new(),
            earlier_schemas: Vec::new(),
        }
    }

    #[test]
    fn spawns_despawns_and_component_changes() {
        let a = inspection(
            1,
            &[
                (2, &[("name", json!("a")), ("tag", json!(1))]),
                (3, &[("name", json!("b"))]),
            ],
        );
        let b = inspection(
            2,
            &[
                (2, &[("name", json!("a2")), ("link", json!(4))]),
                (4, &[("name", json!("c"))]),
            ],
        );
        let d = diff(&a, &b);
        assert_eq!(d.spawned, [4]);
        assert_eq!(d.despawned, [3]);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].component, "link");
        assert_eq!(d.added[0].new, Some(&json!(4)));
        assert_eq!(d.removed[0].component, "tag");
        assert_eq!(d.removed[0].old, Some(&json!(1)));
        assert_eq!(d.changed[0].old, Some(&json!("a")));
        assert_eq!(d.changed[0].new, Some(&json!("a2")));
        assert!(diff(&a, &a).changed.is_empty());
    }

    /// A value rewritten with other bits changed, even where `==` on
    /// numbers holds: `0.0` to `-0.0`, a NaN to `-NaN` or to one with a
    /// payload.
    #[test]
    fn floats_compare_by_their_bits() {
        use dizzy_components::json::float;
        let values = [
            float(0.0),
            float(-0.0),
            float(f64::NAN),
            float(-f64::NAN),
            float(f64::from_bits(0x7ff8_0000_0000_0001)),
        ];
        for (i, x) in values.iter().enumerate() {
            for (j, y) in values.iter().enumerate() {
                let a = inspection(1, &[(2, &[("v", json!({"x": x.clone()}))])]);
                let b = inspection(2, &[(2, &[("v", json!({"x": y.clone()}))])]);
                assert_eq!(
                    diff(&a, &b).changed.len(),
                    usize::from(i != j),
                    "{x} -> {y}"
                );
            }
        }
    }
}
