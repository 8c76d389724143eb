//! A system's access, by component and resource name.

use std::collections::HashMap;

use bevy_ecs::component::ComponentId;
use bevy_ecs::query::{FilteredAccess, InvertibleComponentIdSet};
use bevy_ecs::resource::IS_RESOURCE;
use bevy_ecs::system::SystemAccess;

/// What one piece of access is about.
pub(super) enum Target {
    /// One component, or (`true`) one resource.
    One(ComponentId, bool),
    /// Every component except these; (`true`) every resource.
    All(Vec<ComponentId>, bool),
}

impl Target {
    pub(super) fn name(&self, names: &HashMap<ComponentId, &String>) -> String {
        let name_of = |id: &ComponentId| {
            names
                .get(id)
                .map_or_else(|| format!("{id:?}"), |n| (*n).clone())
        };
        let (base, resource) = match self {
            Target::One(id, resource) => (name_of(id), *resource),
            Target::All(except, resource) if except.is_empty() => ("*".to_owned(), *resource),
            Target::All(except, resource) => {
                let except: Vec<String> = except.iter().map(name_of).collect();
                (format!("* except {}", except.join(", ")), *resource)
            }
        };
        if resource {
            format!("Res<{base}>")
        } else {
            base
        }
    }
}

/// The components and resources a system accesses, each with whether it
/// is written.
pub(super) fn access_targets(access: &SystemAccess) -> Vec<(Target, bool)> {
    let mut out = Vec::new();
    match access {
        SystemAccess::None => {}
        SystemAccess::Exclusive => out.push((Target::All(Vec::new(), false), true)),
        SystemAccess::Shared(set) => {
            for filtered in set.filtered_accesses() {
                add_targets(filtered, &mut out);
            }
        }
    }
    out
}

fn add_targets(filtered: &FilteredAccess, out: &mut Vec<(Target, bool)>) {
    // `Res`/`ResMut` (resources are components on an entity) filter on the
    // resource marker.
    let resource = !filtered.filter_sets().is_empty()
        && filtered
            .filter_sets()
            .iter()
            .all(|f| f.with().contains(IS_RESOURCE));
    let access = filtered.access();
    let writes = access.writes();
    match access.reads() {
        InvertibleComponentIdSet::Included(reads) => {
            for id in reads.iter() {
                out.push((Target::One(id, resource), writes.contains(id)));
            }
        }
        InvertibleComponentIdSet::Excluded(except) => {
            let except: Vec<ComponentId> = except.iter().collect();
            match writes {
                InvertibleComponentIdSet::Included(written) => {
                    out.push((Target::All(except, resource), false));
                    for id in written.iter() {
                        out.push((Target::One(id, resource), true));
                    }
                }
                InvertibleComponentIdSet::Excluded(not_written) => {
                    out.push((Target::All(not_written.iter().collect(), resource), true));
                    // Read but not written: the difference of the exclusions.
                    for id in not_written.iter() {
                        if !except.contains(&id) {
                            out.push((Target::One(id, resource), false));
                        }
                    }
                }
            }
        }
    }
}
