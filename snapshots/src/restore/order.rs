//! The order of relationship targets' lists (bevy's `Children`), which a
//! snapshot records beside the relationship component.

use bevy_ecs::world::World;

use crate::error::RestoreError;
use crate::format::SnapshotMeta;

use super::Ctx;

/// Indices into a column's rows, in the order to insert them.
pub(super) type Order = Vec<usize>;

impl Ctx<'_> {
    /// The order in which to insert the rows of relationship `name` (held
    /// by `holders`, by uid) so that every target's list comes out as the
    /// snapshot records it; `None` when the order does not matter.
    pub(super) fn order(
        &self,
        _world: &World,
        _meta: &SnapshotMeta,
        _name: &str,
        _holders: &[u64],
    ) -> Result<Option<Order>, RestoreError> {
        Ok(None)
    }
}
