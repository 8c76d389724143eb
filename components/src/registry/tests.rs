//! Unit tests of `registry`.

use super::*;
use serde::Deserialize;

#[derive(Component, Serialize, Deserialize)]
struct A(u32);
#[derive(Component, Serialize, Deserialize)]
struct B(u32);
#[derive(Resource, Serialize, Deserialize)]
struct R(u32);

#[test]
fn duplicates_are_rejected() {
    let mut reg = Registry::new();
    reg.component::<A>("a").unwrap();
    assert!(matches!(
        reg.component::<B>("a"),
        Err(RegistryError::DuplicateName { .. })
    ));
    assert!(matches!(
        reg.component::<A>("a2"),
        Err(RegistryError::DuplicateType { .. })
    ));
    assert!(matches!(
        reg.resource::<R>("a"),
        Err(RegistryError::DuplicateName { .. })
    ));
    reg.resource::<R>("r").unwrap();
    assert_eq!(reg.get("r").unwrap().kind(), Kind::Resource);
}

#[test]
fn names_and_versions_are_checked() {
    let mut reg = Registry::new();
    assert!(matches!(
        reg.component::<A>(""),
        Err(RegistryError::InvalidName(_))
    ));
    assert!(matches!(
        reg.component::<A>("@x"),
        Err(RegistryError::InvalidName(_))
    ));
    assert!(matches!(
        reg.component::<A>("dizzy.x"),
        Err(RegistryError::InvalidName(_))
    ));
    assert!(matches!(
        reg.component_version::<A>("a", 0),
        Err(RegistryError::InvalidVersion(_))
    ));
    assert_eq!(reg.component::<Uid>("uid"), Err(RegistryError::BuiltIn));
}

#[derive(Component, Serialize, Deserialize, Debug, PartialEq)]
struct PlaceV3 {
    name: String,
    height_m: f64,
    country: String,
}
#[derive(Serialize, Deserialize)]
struct PlaceV1 {
    name: String,
    height_ft: i32,
}
#[derive(Serialize, Deserialize)]
struct PlaceV2 {
    name: String,
    height_m: f64,
}

#[test]
fn migrations_chain_and_missing_ones_name_the_fields() {
    let mut reg = Registry::new();
    reg.component_version::<PlaceV3>("place", 3).unwrap();
    let v1 = PlaceV1 {
        name: "Mont".into(),
        height_ft: 1000,
    };
    let mut payload = crate::codec::encode(&v1).unwrap();
    payload.extend(
        crate::codec::encode(&PlaceV1 {
            name: "Pic".into(),
            height_ft: 10,
        })
        .unwrap(),
    );
    let shape_v1 = crate::shape::trace::<PlaceV1>();
    let err = reg
        .get("place")
        .unwrap()
        .upgrade(1, shape_v1.as_deref(), &payload, 2)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("version 1") && msg.contains("version 3"),
        "{msg}"
    );
    assert!(
        msg.contains("`height_ft`") && msg.contains("`country`"),
        "{msg}"
    );

    assert!(
        reg.migration::<PlaceV1, PlaceV2>("nope", 1, |o| PlaceV2 {
            name: o.name,
            height_m: 0.0
        })
        .is_err()
    );
    assert!(
        reg.migration::<PlaceV2, PlaceV2>("place", 2, |o| o)
            .is_err(),
        "last step must give the registered type"
    );
    reg.migration::<PlaceV1, PlaceV2>("place", 1, |o| PlaceV2 {
        name: o.name,
        height_m: f64::from(o.height_ft) * 0.3048,
    })
    .unwrap();
    assert!(!reg.get("place").unwrap().migrates_from(1));
    reg.migration::<PlaceV2, PlaceV3>("place", 2, |o| PlaceV3 {
        name: o.name,
        height_m: o.height_m,
        country: "FR".into(),
    })
    .unwrap();
    let r = reg.get("place").unwrap();
    assert!(r.migrates_from(1) && r.migrates_from(3) && !r.migrates_from(4));
    let up = r.upgrade(1, None, &payload, 2).unwrap();
    let (first, used) = crate::codec::decode_prefix::<PlaceV3>(&up).unwrap();
    assert_eq!(
        first,
        PlaceV3 {
            name: "Mont".into(),
            height_m: 304.8,
            country: "FR".into()
        }
    );
    let second: PlaceV3 = crate::codec::decode(&up[used..]).unwrap();
    assert_eq!(second.name, "Pic");
}

#[test]
fn archetypes_need_registered_members() {
    let mut reg = Registry::new();
    reg.component::<A>("a").unwrap();
    assert!(matches!(
        reg.archetype::<(A, B)>(),
        Err(RegistryError::UnregisteredInArchetype { .. })
    ));
    reg.component::<B>("b").unwrap();
    reg.archetype::<(A, B)>().unwrap();
    let (_, order) = reg
        .declared_archetype(&[TypeId::of::<B>(), TypeId::of::<A>()])
        .unwrap();
    assert_eq!(order, vec![1, 0]);
}
