//! Type-erased operations on one registered resource: a resource is persisted
//! as a single value, with its entity references stored as uids like a
//! component's.

use std::marker::PhantomData;

use bevy_ecs::change_detection::Tick;
use bevy_ecs::component::ComponentId;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, CodecError};
use crate::column::{RefEncoder, ValueError};
use crate::refs::{Dangling, RefPolicy, Resolver};

/// Type-erased operations on one registered resource type.
pub trait ResourceOps: Send + Sync + 'static {
    /// The Rust type's name, for messages.
    fn type_name(&self) -> &'static str;
    /// Registers the type in `world`; returns its id.
    fn install(&self, world: &mut World) -> ComponentId;
    /// Whether the resource exists and changed after `since` (as seen at `now`).
    fn changed(&self, world: &World, since: Tick, now: Tick) -> bool;
    /// Whether the resource exists.
    fn exists(&self, world: &World) -> bool;
    /// Encodes the resource, references as uids (through a copy: the world
    /// is only read); `Ok(false)` if absent.
    ///
    /// # Errors
    /// Its `Serialize` failed, or a reference dangles under `RefPolicy::Fail`.
    fn encode(
        &self,
        world: &World,
        policy: RefPolicy,
        out: &mut Vec<u8>,
    ) -> Result<bool, ValueError>;
    /// Decodes the resource from all of `payload` and inserts it.
    ///
    /// # Errors
    /// The payload is not a value of the type (or has bytes left over), or
    /// a reference does not resolve under the resolver's policy.
    fn decode_insert(
        &self,
        world: &mut World,
        payload: &[u8],
        resolver: &mut Resolver<'_>,
    ) -> Result<(), ValueError>;
    /// Removes the resource.
    fn remove(&self, world: &mut World);
    /// Decodes the resource from all of `payload` as JSON.
    ///
    /// # Errors
    /// The payload is not a value of the type, or has bytes left over.
    fn to_json(&self, payload: &[u8]) -> Result<serde_json::Value, CodecError>;
    /// The value of `payload`, decoded as this type, as its serialization
    /// reads ([`crate::shape::value_trail`]); `None` if it does not decode.
    fn first_trail(&self, payload: &[u8]) -> Option<String>;
}

/// The [`ResourceOps`] of `R`.
pub struct TypedResource<R>(PhantomData<fn() -> R>);

impl<R> Default for TypedResource<R> {
    fn default() -> Self {
        TypedResource(PhantomData)
    }
}

impl<R> std::fmt::Debug for TypedResource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TypedResource<{}>", std::any::type_name::<R>())
    }
}

impl<R: Resource + Serialize + DeserializeOwned> ResourceOps for TypedResource<R> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<R>()
    }

    fn install(&self, world: &mut World) -> ComponentId {
        world.register_component::<R>()
    }

    fn changed(&self, world: &World, since: Tick, now: Tick) -> bool {
        world.get_resource_ref::<R>().is_some_and(|r| {
            bevy_ecs::change_detection::DetectChanges::last_changed(&r).is_newer_than(since, now)
        })
    }

    fn exists(&self, world: &World) -> bool {
        world.contains_resource::<R>()
    }

    fn encode(
        &self,
        world: &World,
        policy: RefPolicy,
        out: &mut Vec<u8>,
    ) -> Result<bool, ValueError> {
        let Some(value) = world.get_resource::<R>() else {
            return Ok(false);
        };
        let mut copy: R = codec::decode(&codec::encode(value)?)?;
        let encoder = RefEncoder::new(world, policy);
        let mut mapper = encoder.mapper();
        R::map_entities(&mut copy, &mut mapper);
        if let Some(target) = mapper.dangling() {
            return Err(ValueError::Dangling(Dangling { holder: 0, target }));
        }
        codec::encode_into(&copy, out)?;
        Ok(true)
    }

    fn decode_insert(
        &self,
        world: &mut World,
        payload: &[u8],
        resolver: &mut Resolver<'_>,
    ) -> Result<(), ValueError> {
        let mut value: R = codec::decode(payload)?;
        R::map_entities(&mut value, resolver);
        if let Some(d) = resolver.dangling() {
            return Err(ValueError::Dangling(d));
        }
        world.insert_resource(value);
        Ok(())
    }

    fn remove(&self, world: &mut World) {
        world.remove_resource::<R>();
    }

    fn to_json(&self, payload: &[u8]) -> Result<serde_json::Value, CodecError> {
        crate::json::stored_json(codec::decode::<R>(payload)?)
    }

    fn first_trail(&self, payload: &[u8]) -> Option<String> {
        crate::shape::value_trail(&codec::decode_prefix::<R>(payload).ok()?.0)
    }
}
