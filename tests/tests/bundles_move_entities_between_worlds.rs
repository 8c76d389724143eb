//! Bundles: a selection of entities leaves one world with everything it
//! references and arrives in another; colliding uids follow the conflict
//! policy and references follow their targets' new uids. A truncated,
//! corrupt or hostile bundle is refused and the target is unchanged.

use std::collections::BTreeMap;

use dizzy::prelude::*;
use dizzy::snapshots::{
    ExportOptions, ImportError, OnConflict, RestoreOptions, Selection, Store, restore,
};
use dizzy_demos::dedupe::{DuplicateSet, File};
use dizzy_tests::{dizzy, dizzy_json, file_bytes, make_tree};

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Photo {
    title: String,
    bytes: Vec<u8>,
}

#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Album {
    name: String,
    #[entities]
    photos: Vec<Entity>,
    #[entities]
    cover: Entity,
}

fn app() -> App {
    App::new()
        .in_memory()
        .component::<Photo>("t.photo")
        .component::<Album>("t.album")
}

/// A world with `n` photos in one album, plus unrelated photos.
fn world(n: usize, tag: &str) -> (Runtime, u64) {
    let mut rt = app().open().unwrap();
    let photos: Vec<Entity> = (0..n)
        .map(|i| {
            rt.spawn(Photo {
                title: format!("{tag} {i}"),
                bytes: vec![i as u8; 1000 + i],
            })
        })
        .collect();
    for i in 0..5 {
        rt.spawn(Photo {
            title: format!("{tag} other {i}"),
            bytes: vec![],
        });
    }
    let album = rt.spawn(Album {
        name: format!("{tag} album"),
        photos: photos.clone(),
        cover: photos[0],
    });
    let uid = rt.world().get::<Uid>(album).unwrap().get();
    (rt, uid)
}

fn album_contents(rt: &mut Runtime, uid: u64) -> (String, Vec<String>, String) {
    let e = rt
        .world()
        .resource::<Uids>()
        .entity(uid)
        .expect("the album");
    let album = rt.world().get::<Album>(e).unwrap().clone();
    let title = |e: Entity| {
        rt.world()
            .get::<Photo>(e)
            .map(|p| p.title.clone())
            .unwrap_or_default()
    };
    (
        album.name.clone(),
        album.photos.iter().map(|&p| title(p)).collect(),
        title(album.cover),
    )
}

fn entity_count(rt: &mut Runtime) -> usize {
    rt.world_mut().query::<&Uid>().iter(rt.world()).count()
}

#[test]
fn a_selection_travels_with_its_references_and_remaps_colliding_uids() {
    let (mut from, album) = world(4, "trip");
    let expected = album_contents(&mut from, album);
    let bundle = from
        .export(&Selection::Uids(vec![album]), &ExportOptions::default())
        .unwrap();
    assert_eq!(
        bundle.entities, 5,
        "the album and its four photos, not the others"
    );

    let (mut to, own_album) = world(12, "home");
    let before = album_contents(&mut to, own_album);
    let map = to
        .import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    assert_eq!(map.len(), 5);
    let new_album = map[&album];
    assert_ne!(new_album, album, "the uids were taken: remapped");
    assert_eq!(
        album_contents(&mut to, new_album),
        expected,
        "references follow the new uids"
    );
    assert_eq!(
        album_contents(&mut to, own_album),
        before,
        "the target's own entities are untouched"
    );

    // Importing again with fail refuses, and changes nothing.
    let n = entity_count(&mut to);
    let err = to
        .import(&bundle.bytes, OnConflict::Fail, RefPolicy::Fail)
        .unwrap_err();
    assert!(matches!(err, ImportError::Conflict(_)), "{err}");
    assert_eq!(entity_count(&mut to), n);

    // Skip keeps the existing entities; replace overwrites their components.
    let (mut same, _) = world(4, "trip");
    let m = same
        .import(&bundle.bytes, OnConflict::Skip, RefPolicy::Fail)
        .unwrap();
    assert!(m.iter().all(|(a, b)| a == b));
    assert_eq!(entity_count(&mut same), 10, "nothing new");
    let (mut other, _) = world(4, "else");
    other
        .import(&bundle.bytes, OnConflict::Replace, RefPolicy::Fail)
        .unwrap();
    assert_eq!(album_contents(&mut other, album), expected);
}

#[test]
fn without_the_closure_references_are_cut_by_policy() {
    let (from, album) = world(3, "x");
    let err = from
        .export(
            &Selection::Uids(vec![album]),
            &ExportOptions {
                closure: false,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("t.album"), "{err}");
    let bundle = from
        .export(
            &Selection::Uids(vec![album]),
            &ExportOptions {
                closure: false,
                refs: RefPolicy::Drop,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(bundle.entities, 1);
    let (mut to, _) = world(1, "y");
    let map = to
        .import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    let e = to.world().resource::<Uids>().entity(map[&album]).unwrap();
    let a = to.world().get::<Album>(e).unwrap();
    assert!(a.photos.iter().all(|&p| p == Entity::PLACEHOLDER));
    assert_eq!(a.cover, Entity::PLACEHOLDER);
}

#[test]
fn every_damaged_bundle_is_refused_and_the_target_is_unchanged() {
    let (from, album) = world(2, "small");
    let bytes = from
        .export(&Selection::Uids(vec![album]), &ExportOptions::default())
        .unwrap()
        .bytes;
    let (mut to, own) = world(2, "target");
    let before = (entity_count(&mut to), album_contents(&mut to, own));
    let mut refused = 0;
    let mut check = |damaged: &[u8], what: &str| {
        let r = to.import(damaged, OnConflict::Remap, RefPolicy::Fail);
        assert!(r.is_err(), "{what} was accepted");
        assert_eq!(
            (entity_count(&mut to), album_contents(&mut to, own)),
            before,
            "{what} changed the target"
        );
        refused += 1;
    };
    for cut in 0..bytes.len() {
        check(&bytes[..cut], &format!("truncated at {cut}"));
    }
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            check(&b, &format!("bit {bit:#x} of byte {i} flipped"));
        }
    }
    // Absurd lengths: in the header, and inside a (re-checksummed) body.
    let mut huge = bytes.clone();
    let at = 16 + dizzy_components::codec::CODEC.len();
    huge[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    check(&huge, "a huge body length");
    let mut body = dizzy::snapshots::read_bundle(&bytes).unwrap();
    body.uids.push(1 << 32);
    check(
        &dizzy::snapshots::write_bundle(&body).unwrap(),
        "an invalid uid",
    );
    let mut body = dizzy::snapshots::read_bundle(&bytes).unwrap();
    body.uids.push(body.uids[0]);
    check(
        &dizzy::snapshots::write_bundle(&body).unwrap(),
        "a repeated uid",
    );
    let mut body = dizzy::snapshots::read_bundle(&bytes).unwrap();
    body.columns[0].1.truncate(20);
    check(
        &dizzy::snapshots::write_bundle(&body).unwrap(),
        "a truncated column",
    );
    let mut body = dizzy::snapshots::read_bundle(&bytes).unwrap();
    body.columns.push(("nobody.knows".into(), vec![0; 16]));
    check(
        &dizzy::snapshots::write_bundle(&body).unwrap(),
        "an unregistered component",
    );
    eprintln!("{refused} damaged bundles refused");
}

/// The set's file paths, read from a dedupe file.
fn set_paths(db: &std::path::Path, set_uid: u64) -> Vec<String> {
    let store = Store::open_to_read(db).unwrap();
    let registry = dizzy_demos::registry_app().registry_owned();
    let mut r = restore(&store, &registry, &RestoreOptions::default()).unwrap();
    let e = r.world.resource::<Uids>().entity(set_uid).expect("the set");
    let files = r.world.get::<DuplicateSet>(e).unwrap().files.clone();
    let mut paths: Vec<String> = files
        .iter()
        .map(|&f| r.world.get::<File>(f).unwrap().path.clone())
        .collect();
    paths.sort();
    let _ = r.world.query::<&File>().iter(&r.world).count();
    paths
}

#[test]
fn a_duplicate_set_moves_between_two_dedupe_files_in_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (tree_a, tree_b) = (dir.path().join("a"), dir.path().join("b"));
    make_tree(&tree_a, 60, 2000, 11);
    make_tree(&tree_b, 40, 2000, 12);
    let (db_a, db_b) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
    let report = dizzy_json(&[
        "demo",
        "dedupe",
        tree_a.to_str().unwrap(),
        "--db",
        db_a.to_str().unwrap(),
        "--json",
    ]);
    dizzy_json(&[
        "demo",
        "dedupe",
        tree_b.to_str().unwrap(),
        "--db",
        db_b.to_str().unwrap(),
        "--json",
    ]);
    let want: Vec<String> = report["duplicate_sets"][0]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();

    // Find that set's uid in file A.
    let set_uid = {
        let store = Store::open_to_read(&db_a).unwrap();
        let registry = dizzy_demos::registry_app().registry_owned();
        let mut r = restore(&store, &registry, &RestoreOptions::default()).unwrap();
        let sets: BTreeMap<String, u64> = r
            .world
            .query::<(&Uid, &DuplicateSet)>()
            .iter(&r.world)
            .map(|(u, s)| (dizzy_demos::dedupe::hex(&s.sha256), u.get()))
            .collect();
        sets[report["duplicate_sets"][0]["sha256"].as_str().unwrap()]
    };
    assert_eq!(set_paths(&db_a, set_uid), want);

    let bundle = dir.path().join("set.bundle");
    let exported = dizzy_json(&[
        "export",
        "--db",
        db_a.to_str().unwrap(),
        "--uid",
        &set_uid.to_string(),
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        exported["entities"].as_u64().unwrap() > want.len() as u64,
        "the set, its files and their lineage"
    );
    let snapshots_before = Store::open_to_read(&db_b)
        .unwrap()
        .snapshots()
        .unwrap()
        .len();
    let imported = dizzy_json(&[
        "import",
        "--db",
        db_b.to_str().unwrap(),
        bundle.to_str().unwrap(),
    ]);
    let new_uid = imported["uids"][set_uid.to_string()]
        .as_u64()
        .expect("the old-to-new uid map");
    assert_eq!(
        set_paths(&db_b, new_uid),
        want,
        "the set still references its files"
    );
    assert_eq!(
        Store::open_to_read(&db_b)
            .unwrap()
            .snapshots()
            .unwrap()
            .len(),
        snapshots_before + 1
    );

    // A damaged bundle through the binary: one-line error, file untouched.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let broken = dir.path().join("broken.bundle");
    std::fs::write(&broken, &bytes).unwrap();
    let before = file_bytes(&db_b);
    let out = dizzy()
        .args([
            "import",
            "--db",
            db_b.to_str().unwrap(),
            broken.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.bundle") && err.contains("checksum"),
        "{err}"
    );
    assert!(file_bytes(&db_b) == before, "the target file is unchanged");
}

#[test]
fn a_correlation_can_be_exported() {
    use dizzy::components::CorrelationId;
    let (mut from, _) = world(3, "c");
    let tagged: Vec<Entity> = (0..3)
        .map(|i| {
            from.spawn((
                Photo {
                    title: format!("t{i}"),
                    bytes: vec![],
                },
                CorrelationId(77),
            ))
        })
        .collect();
    from.spawn((
        Photo {
            title: "other".into(),
            bytes: vec![],
        },
        CorrelationId(78),
    ));
    let bundle = from
        .export(&Selection::Correlation(77), &ExportOptions::default())
        .unwrap();
    assert_eq!(bundle.entities, tagged.len());
    let (mut to, _) = world(1, "d");
    let map = to
        .import(&bundle.bytes, OnConflict::Remap, RefPolicy::Fail)
        .unwrap();
    let mut titles: Vec<String> = map
        .values()
        .map(|&u| {
            let e = to.world().resource::<Uids>().entity(u).unwrap();
            assert_eq!(to.world().get::<CorrelationId>(e), Some(&CorrelationId(77)));
            to.world().get::<Photo>(e).unwrap().title.clone()
        })
        .collect();
    titles.sort();
    assert_eq!(titles, ["t0", "t1", "t2"]);
}
