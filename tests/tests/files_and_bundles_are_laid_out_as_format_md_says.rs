//! docs/FORMAT.md is the truth about the bytes: a tiny deterministic world
//! is written to a file and to a bundle, and a reader written here from
//! FORMAT.md alone (redb tables by name and type, the record's fields in
//! order, the codec's varints, the 16-byte chunk header with its zero
//! bytes, keyed chunks, resource uid 0, the bundle header and body order)
//! decodes every byte of them, with nothing left over.

use std::collections::{BTreeMap, BTreeSet};

use dizzy::prelude::*;
use dizzy::{ExportOptions, Selection};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

#[derive(Component, Serialize, Deserialize)]
struct Level(u32);

#[derive(Component, Serialize, Deserialize)]
struct Parent {
    #[entities]
    of: Entity,
}

#[derive(Resource, Serialize, Deserialize)]
struct Seed(u64);

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("dizzy.meta");
const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("dizzy.snapshots");
const CHUNKS: TableDefinition<(u64, &str, u32), &[u8]> = TableDefinition::new("dizzy.chunks");

/// The codec as FORMAT.md names it: bincode 2.0.1, standard config
/// (little endian, variable-length integers).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.at + n <= self.bytes.len(), "read past the end");
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        s
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    /// A varint: below 251 one byte, else 251/252/253 then u16/u32/u64 LE.
    fn varint(&mut self) -> u64 {
        match self.u8() {
            b @ 0..=250 => u64::from(b),
            251 => u64::from(u16::from_le_bytes(self.take(2).try_into().unwrap())),
            252 => u64::from(u32::from_le_bytes(self.take(4).try_into().unwrap())),
            253 => u64::from_le_bytes(self.take(8).try_into().unwrap()),
            b => panic!("varint tag {b}"),
        }
    }
    fn string(&mut self) -> String {
        let n = self.varint() as usize;
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
    fn bool(&mut self) -> bool {
        match self.u8() {
            0 => false,
            1 => true,
            b => panic!("bool {b}"),
        }
    }
    fn option<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        match self.u8() {
            0 => None,
            1 => Some(f(self)),
            b => panic!("option tag {b}"),
        }
    }
    fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.varint();
        (0..n).map(|_| f(self)).collect()
    }
    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

#[derive(Debug)]
struct Schema {
    name: String,
    version: u64,
    kind: u64,
    shape: Option<String>,
}

#[derive(Debug)]
struct Column {
    name: String,
    chunks: u64,
    rows: u64,
    bytes: u64,
    has_refs: bool,
}

fn schema(r: &mut Reader) -> Schema {
    let name = r.string();
    let version = r.varint();
    let kind = r.varint();
    let _type_name = r.string();
    let shape = r.option(Reader::string);
    Schema {
        name,
        version,
        kind,
        shape,
    }
}

/// The 16-byte chunk header: (layout, group, first, rows); its zero bytes
/// are checked here.
fn header(chunk: &[u8]) -> (u8, u32, u32, u32) {
    let u32_at = |i: usize| u32::from_le_bytes(chunk[i..i + 4].try_into().unwrap());
    assert_eq!(
        &chunk[1..4],
        &[0, 0, 0],
        "bytes 1..4 of a chunk header are zero"
    );
    (chunk[0], u32_at(4), u32_at(8), u32_at(12))
}

/// A keyed chunk's values and uids.
fn keyed(chunk: &[u8]) -> (&[u8], Vec<u64>) {
    let (layout, group, first, rows) = header(chunk);
    assert_eq!((layout, group, first), (1, 0, 0), "a keyed chunk");
    let body = &chunk[16..];
    let (values, uids) = body.split_at(body.len() - 8 * rows as usize);
    let uids = uids
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (values, uids)
}

fn app(path: &std::path::Path) -> App {
    App::new()
        .db(path)
        .component::<Level>("golden.level")
        .component::<Parent>("golden.parent")
        .resource("golden.seed", Seed(7))
        .snapshot_policy(SnapshotPolicy::OFF)
}

#[test]
fn a_file_decodes_as_format_md_describes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("golden.redb");
    let mut run = app(&path).open().unwrap();
    let a = run.spawn(Level(1));
    run.spawn((Level(300), Parent { of: a }));
    let uid = |w: &World, e: Entity| w.get::<Uid>(e).unwrap().get();
    let uid_a = uid(run.world(), a);
    assert_eq!(uid_a, 2, "the first uid allocated (0 and 1 never are)");
    run.close().unwrap();

    let db = redb::Database::open(&path).unwrap();
    let tx = db.begin_read().unwrap();

    // dizzy.meta: exactly `format` (u32 LE 3) and `codec`.
    let meta = tx.open_table(META).unwrap();
    let keys: BTreeMap<String, Vec<u8>> = meta
        .iter()
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.value().to_owned(), v.value().to_vec())
        })
        .collect();
    assert_eq!(
        keys,
        BTreeMap::from([
            ("codec".to_owned(), b"bincode-2.0.1-standard".to_vec()),
            ("format".to_owned(), 3u32.to_le_bytes().to_vec()),
        ])
    );

    // dizzy.snapshots: one record, 0xff 0x03, then the fields in order.
    let records = tx.open_table(SNAPSHOTS).unwrap();
    let all: Vec<(u64, Vec<u8>)> = records
        .iter()
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.value(), v.value().to_vec())
        })
        .collect();
    assert_eq!(all.len(), 1);
    let (id, record) = &all[0];
    assert_eq!(&record[..2], &[0xff, 3]);
    let mut r = Reader::new(&record[2..]);
    assert_eq!(r.varint(), *id, "id");
    assert_eq!(r.varint(), 0, "kind: full");
    assert_eq!(r.option(Reader::varint), None, "base");
    assert_eq!(r.varint(), 0, "tick: none ran");
    assert!(r.varint() > 1_700_000_000_000, "unix_ms");
    assert_eq!(r.varint(), 2, "entities");
    let bytes = r.varint();
    assert_eq!(r.varint(), 4, "uid_next: after uids 2 and 3");
    let schemas = r.list(schema);
    let columns = r.list(|r| Column {
        name: r.string(),
        chunks: r.varint(),
        rows: r.varint(),
        bytes: r.varint(),
        has_refs: r.bool(),
    });
    let groups = r.list(|r| (r.list(Reader::string), r.varint()));
    let removed = r.list(Reader::string);
    let app_json = r.string();
    assert!(r.done(), "the record has bytes after its last field");

    let by_name: BTreeMap<&str, &Schema> = schemas.iter().map(|s| (s.name.as_str(), s)).collect();
    assert_eq!(by_name["golden.level"].kind, 0);
    assert_eq!(by_name["golden.level"].version, 1);
    assert_eq!(by_name["golden.seed"].kind, 1, "a resource");
    assert!(
        by_name["golden.parent"].shape.is_some(),
        "format 2 records carry shapes"
    );
    assert!(removed.is_empty());
    assert!(serde_json::from_str::<serde_json::Value>(&app_json).is_ok());
    let mut group_rows: Vec<(Vec<String>, u64)> = groups.clone();
    group_rows.sort();
    assert_eq!(
        group_rows,
        vec![
            (vec!["golden.level".to_owned()], 1),
            (
                vec!["golden.level".to_owned(), "golden.parent".to_owned()],
                1
            ),
        ]
    );

    // dizzy.chunks: exactly the chunks the record announces, with its sizes.
    let chunks = tx.open_table(CHUNKS).unwrap();
    let mut stored: BTreeMap<(String, u32), Vec<u8>> = BTreeMap::new();
    for row in chunks.iter().unwrap() {
        let (k, v) = row.unwrap();
        let (snap, column, n) = k.value();
        assert_eq!(snap, *id);
        stored.insert((column.to_owned(), n), v.value().to_vec());
    }
    let announced: BTreeSet<(String, u32)> = columns
        .iter()
        .flat_map(|c| (0..c.chunks as u32).map(move |n| (c.name.clone(), n)))
        .collect();
    assert_eq!(stored.keys().cloned().collect::<BTreeSet<_>>(), announced);
    for c in &columns {
        let size: usize = (0..c.chunks as u32)
            .map(|n| stored[&(c.name.clone(), n)].len())
            .sum();
        assert_eq!(size as u64, c.bytes, "{}: bytes", c.name);
        let rows: u64 = (0..c.chunks as u32)
            .map(|n| u64::from(header(&stored[&(c.name.clone(), n)]).3))
            .sum();
        assert_eq!(rows, c.rows, "{}: rows", c.name);
    }
    assert_eq!(
        columns.iter().map(|c| c.bytes).sum::<u64>(),
        bytes,
        "the record's bytes are its chunks'"
    );
    let column = |name: &str| columns.iter().find(|c| c.name == name).unwrap();
    assert!(column("golden.parent").has_refs);
    assert!(!column("golden.level").has_refs);

    // Each group: `@uid` (layout 3, packed) and its components' values (layout 0),
    // in the group's rows; values decode with the codec, one after the
    // other, to exactly the chunk's end.
    let mut level_by_uid = BTreeMap::new();
    let mut parent_by_uid = BTreeMap::new();
    for ((name, _), chunk) in &stored {
        let (layout, group, first, _rows) = header(chunk);
        match name.as_str() {
            "@uid" => assert_eq!(layout, 3),
            "golden.level" | "golden.parent" => assert_eq!(layout, 0),
            _ => {}
        }
        if layout == 1 {
            assert_eq!(
                (group, first),
                (0, 0),
                "{name}: keyed chunks have zero group and row"
            );
        }
        if name.starts_with("@res/") || name == "@detect" || name.starts_with("@ages/") {
            let (values, uids) = keyed(chunk);
            assert_eq!(uids, vec![0], "{name}: one value, uid 0");
            if name == "@res/golden.seed" {
                assert_eq!(values, &[7], "Seed(7) as a varint");
            }
        }
        assert_eq!(first, 0, "{name}: one chunk per group here");
    }
    for (g, (components, rows)) in groups.iter().enumerate() {
        let uids_chunk = stored
            .values()
            .find(|c| header(c).0 == 3 && header(c).1 == g as u32)
            .unwrap();
        assert_eq!(header(uids_chunk), (3, g as u32, 0, *rows as u32));
        let uids = dizzy_tests::unpack_uids(&uids_chunk[16..]);
        assert_eq!(uids.len(), *rows as usize, "uids only");
        let uid = uids[0];
        for component in components {
            let chunk = stored
                .iter()
                .filter(|((n, _), _)| n == component)
                .map(|(_, c)| c)
                .find(|c| header(c).1 == g as u32)
                .unwrap();
            assert_eq!(header(chunk), (0, g as u32, 0, *rows as u32));
            let mut values = Reader::new(&chunk[16..]);
            let v = values.varint();
            assert!(values.done(), "{component}: leftover bytes");
            match component.as_str() {
                "golden.level" => level_by_uid.insert(uid, v),
                _ => parent_by_uid.insert(uid, v),
            };
        }
    }
    // Level(300) is the varint 251, then 300 as u16 LE; the reference to
    // `a` is `a`'s uid.
    assert_eq!(level_by_uid, BTreeMap::from([(2, 1), (3, 300)]));
    assert_eq!(parent_by_uid, BTreeMap::from([(3, uid_a)]));
}

#[test]
fn a_bundle_decodes_as_format_md_describes() {
    let mut run = App::new()
        .in_memory()
        .component::<Level>("golden.level")
        .component::<Parent>("golden.parent")
        .open()
        .unwrap();
    let a = run.spawn(Level(1));
    run.spawn((Level(300), Parent { of: a }));
    let options = ExportOptions {
        source: "golden".into(),
        ..ExportOptions::default()
    };
    let bundle = run
        .export(&Selection::With("golden.parent".into()), &options)
        .unwrap()
        .bytes;

    // Header: magic, version, codec name, body length; the trailer
    // (checksum) is what follows the body.
    let mut r = Reader::new(&bundle);
    assert_eq!(r.take(8), b"DIZZYBDL");
    let version = u32::from_le_bytes(r.take(4).try_into().unwrap());
    assert_eq!(version, dizzy::snapshots::BUNDLE_VERSION);
    let n = u32::from_le_bytes(r.take(4).try_into().unwrap()) as usize;
    assert!(n <= 64);
    assert_eq!(r.take(n), b"bincode-2.0.1-standard");
    let body_len = u64::from_le_bytes(r.take(8).try_into().unwrap()) as usize;
    let body_start = r.at;
    assert!(
        body_start + body_len < bundle.len(),
        "a trailer follows the body"
    );

    // The body, in FORMAT.md's order: schemas, uids, columns, source.
    let mut b = Reader::new(&bundle[body_start..body_start + body_len]);
    let schemas = b.list(schema);
    let mut uids = b.list(Reader::varint);
    let columns = b.list(|r| {
        let name = r.string();
        let len = r.varint() as usize;
        (name, r.take(len).to_vec())
    });
    let source = b.string();
    assert!(b.done(), "the body has bytes after its last field");

    assert_eq!(source, "golden");
    uids.sort();
    assert_eq!(
        uids,
        vec![2, 3],
        "the selection and, by the closure, its parent"
    );
    let mut names: Vec<&str> = schemas.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["golden.level", "golden.parent"]);
    let columns: BTreeMap<String, Vec<u8>> = columns.into_iter().collect();
    let (values, owners) = keyed(&columns["golden.level"]);
    let mut levels = Reader::new(values);
    let decoded: Vec<u64> = owners.iter().map(|_| levels.varint()).collect();
    assert!(levels.done());
    let levels: BTreeMap<u64, u64> = owners.into_iter().zip(decoded).collect();
    assert_eq!(levels, BTreeMap::from([(2, 1), (3, 300)]));
    let (values, owners) = keyed(&columns["golden.parent"]);
    assert_eq!(
        (values, owners),
        (&[2u8][..], vec![3]),
        "3's parent is uid 2"
    );
}
