//! Replication and pulls against a local directory and a store that fails
//! on purpose (the S3 server tests are in `tests/tests/`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use dizzy_snapshots::{
    Capture, ChunkData, ColumnMeta, CommitListener, SnapshotKind, SnapshotMeta, Store, Writer,
};
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::{
    Bucket, PullError, ReplicateError, ReplicateOptions, Replication, Restore, restore_from,
};

/// A snapshot of made-up chunks: replication copies bytes, whatever they hold.
fn capture(id: u64, base: Option<u64>, salt: &str) -> Capture {
    let columns = [("@uid", 2u32), ("demo.value", 1)];
    let chunks = columns
        .iter()
        .flat_map(|(name, n)| {
            (0..*n).map(move |index| ChunkData {
                column: (*name).to_owned(),
                index,
                bytes: format!("{salt}: {name}/{index} of snapshot {id}").into_bytes(),
            })
        })
        .collect();
    Capture {
        meta: SnapshotMeta {
            id,
            kind: if base.is_some() {
                SnapshotKind::Delta
            } else {
                SnapshotKind::Full
            },
            base,
            tick: id * 10,
            unix_ms: 1_700_000_000_000 + id + salt.len() as u64,
            entities: 3,
            bytes: 64,
            uid_next: 4,
            schemas: Vec::new(),
            columns: columns
                .iter()
                .map(|(name, chunks)| ColumnMeta {
                    name: (*name).to_owned(),
                    chunks: *chunks,
                    rows: 3,
                    bytes: 32,
                    has_refs: false,
                })
                .collect(),
            groups: Vec::new(),
            removed_resources: Vec::new(),
            app: String::new(),
        },
        chunks,
    }
}

/// Commits `snapshots` ((id, base)) through a writer that replicates,
/// waiting for each to reach the bucket.
fn run(
    path: &std::path::Path,
    replication: &Replication,
    keep_last: Option<usize>,
    snapshots: &[(u64, Option<u64>)],
    salt: &str,
) -> Store {
    let store = Store::open(path).unwrap();
    let listener: CommitListener = Arc::new(replication.listener());
    let writer = Writer::start_with(&store, keep_last, vec![listener]).unwrap();
    for &(id, base) in snapshots {
        writer.submit(capture(id, base, salt)).unwrap();
        writer.flush().unwrap();
        // Replication ships asynchronously and may skip a snapshot a newer
        // full one makes unnecessary: waited for here, every commit reaches
        // the bucket (a loaded machine made the test flaky without it).
        // (A refusal, such as a bucket held by another run, is the
        // caller's to check with its own flush.)
        let _ = replication.flush(Duration::from_secs(10));
    }
    writer.close().unwrap();
    store
}

fn dir_url(dir: &std::path::Path) -> String {
    format!("file://{}", dir.display())
}

fn quick() -> ReplicateOptions {
    ReplicateOptions::default().give_up_after(Duration::from_millis(400))
}

#[test]
fn commits_reach_the_bucket_and_pull_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir_url(&dir.path().join("bucket/run"));
    let replication = Replication::start(&url, quick()).unwrap();
    let chain = [
        (1, None),
        (2, Some(1)),
        (3, Some(2)),
        (4, None),
        (5, Some(4)),
    ];
    let local = run(&dir.path().join("a.redb"), &replication, None, &chain, "a");
    let status = replication.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(status.replicated, Some(5));
    assert_eq!(status.replicated_tick, Some(50));
    assert_eq!(status.snapshots_behind, 0);
    assert_eq!(status.committed, Some(5));
    assert!(status.error.is_none());

    let bucket = Bucket::open(&url).unwrap();
    let ids: Vec<u64> = bucket.snapshots().unwrap().iter().map(|s| s.id).collect();
    // Every commit was waited for, so none was coalesced away.
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let checked = bucket.verify().unwrap();
    assert_eq!(checked.snapshots, 5);
    assert!(checked.unnamed.is_empty(), "{:?}", checked.unnamed);

    let copy = dir.path().join("elsewhere/b.redb");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    // What killed pulls left: a process that is gone (no pid reaches
    // 4194304999), and one that lives (pid 1) whose file stays.
    let dead = dir.path().join("elsewhere/.dizzy-4194304999.pulling");
    let alive = dir.path().join("elsewhere/.dizzy-1.pulling");
    std::fs::write(&dead, b"half a pull").unwrap();
    std::fs::write(&alive, b"a pull going on").unwrap();
    let pulled = bucket.pull(&copy, None).unwrap();
    assert!(!dead.exists(), "the temporary of a dead pull is removed");
    assert!(alive.exists(), "the temporary of a live pull is kept");
    assert_eq!((pulled.snapshot, pulled.tick), (5, 50));
    assert_eq!(pulled.chain, [4, 5]);
    let b = Store::open_to_read(&copy).unwrap();
    for id in [4, 5] {
        assert_eq!(b.read_raw(id).unwrap(), local.read_raw(id).unwrap());
    }
    assert_eq!(b.snapshots().unwrap().len(), 2);
    // An older snapshot's chain, on request.
    let old = dir.path().join("elsewhere/old.redb");
    assert_eq!(bucket.pull(&old, Some(3)).unwrap().chain, [1, 2, 3]);
    assert!(matches!(
        bucket.pull(&old, None),
        Err(PullError::Exists { .. })
    ));
    // The whole history, to inspect it.
    let all = dir.path().join("elsewhere/all.redb");
    let pulled = bucket.pull_many(&all, &[]).unwrap();
    assert_eq!(pulled.snapshot, 5);
    let every = Store::open_to_read(&all).unwrap().snapshots().unwrap();
    assert_eq!(
        every.iter().map(|m| m.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let some = dir.path().join("elsewhere/some.redb");
    bucket.pull_many(&some, &[2, 4]).unwrap();
    let ids: Vec<u64> = Store::open_to_read(&some)
        .unwrap()
        .snapshots()
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [1, 2, 4]);
    let none = dir.path().join("elsewhere/none.redb");
    let e = bucket.pull(&none, Some(9)).unwrap_err();
    assert!(e.to_string().contains("holds no snapshot 9"), "{e}");
    assert!(!none.exists());
}

#[test]
fn retention_applies_to_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir_url(&dir.path().join("bucket"));
    let replication = Replication::start(&url, quick()).unwrap();
    let chain = [
        (1, None),
        (2, Some(1)),
        (3, None),
        (4, Some(3)),
        (5, None),
        (6, Some(5)),
    ];
    run(
        &dir.path().join("a.redb"),
        &replication,
        Some(2),
        &chain,
        "a",
    );
    replication.flush(Duration::from_secs(10)).unwrap();
    let bucket = Bucket::open(&url).unwrap();
    let ids: Vec<u64> = bucket.snapshots().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [5, 6]);
    // The objects retention let go are deleted, not just unnamed.
    let verified = bucket.verify().unwrap();
    assert!(verified.unnamed.is_empty(), "{:?}", verified.unnamed);
    let objects = std::fs::read_dir(dir.path().join("bucket/snapshots"))
        .unwrap()
        .count();
    assert_eq!(objects, 2);
}

#[test]
fn a_bucket_holding_another_run_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir_url(&dir.path().join("bucket"));
    let first = Replication::start(&url, quick()).unwrap();
    run(
        &dir.path().join("a.redb"),
        &first,
        None,
        &[(1, None), (2, Some(1))],
        "a",
    );
    first.flush(Duration::from_secs(10)).unwrap();
    let before = std::fs::read(dir.path().join("bucket/manifest.json")).unwrap();

    // Another run with the same snapshot ids.
    let second = Replication::start(&url, quick()).unwrap();
    run(
        &dir.path().join("b.redb"),
        &second,
        None,
        &[(1, None), (2, Some(1)), (3, Some(2))],
        "another",
    );
    let e = second.flush(Duration::from_secs(10)).unwrap_err();
    assert!(matches!(e, ReplicateError::Conflict { .. }), "{e}");
    assert!(e.to_string().contains("another run"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("bucket/manifest.json")).unwrap(),
        before
    );

    // A file older than the bucket is refused too.
    let third = Replication::start(&url, quick()).unwrap();
    let raw = Store::open_to_read(dir.path().join("a.redb"))
        .unwrap()
        .read_raw(1)
        .unwrap();
    let older = Store::open(dir.path().join("c.redb")).unwrap();
    dizzy_snapshots::write_raw(&older, &[raw]).unwrap();
    third.push(&older);
    let e = third.flush(Duration::from_secs(10)).unwrap_err();
    assert!(e.to_string().contains("newer than the newest"), "{e}");

    // Another run whose newest chain starts after everything the bucket
    // holds (found by a fresh tester: it was accepted, and two runs'
    // histories became one timeline).
    let fourth = Replication::start(&url, quick()).unwrap();
    let longer = Store::open(dir.path().join("d.redb")).unwrap();
    let writer = Writer::start_with(&longer, None, Vec::new()).unwrap();
    for (id, base) in [(1, None), (2, Some(1)), (3, None), (4, Some(3))] {
        writer.submit(capture(id, base, "fourth")).unwrap();
    }
    writer.flush().unwrap();
    writer.close().unwrap();
    fourth.push(&longer);
    let e = fourth.flush(Duration::from_secs(10)).unwrap_err();
    assert!(matches!(e, ReplicateError::Conflict { .. }), "{e}");
    assert!(e.to_string().contains("another run"), "{e}");

    // A file that shares no snapshot with the bucket cannot be told to be
    // this run's: refused.
    let fifth = Replication::start(&url, quick()).unwrap();
    let apart = Store::open(dir.path().join("e.redb")).unwrap();
    let writer = Writer::start_with(&apart, None, Vec::new()).unwrap();
    writer.submit(capture(7, None, "fifth")).unwrap();
    writer.flush().unwrap();
    writer.close().unwrap();
    fifth.push(&apart);
    let e = fifth.flush(Duration::from_secs(10)).unwrap_err();
    assert!(e.to_string().contains("shares no snapshot"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("bucket/manifest.json")).unwrap(),
        before,
        "the bucket is left alone"
    );
}

/// A store over a local directory that fails while told to.
#[derive(Debug)]
struct Flaky {
    inner: LocalFileSystem,
    /// Every request fails.
    down: AtomicBool,
    /// Writes of the manifest fail.
    no_manifest: AtomicBool,
    puts: AtomicUsize,
}

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Flaky")
    }
}

fn refused(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "Flaky",
        source: format!("{what}: connection refused (on purpose)").into(),
    }
}

impl Flaky {
    fn check(&self, what: &str) -> object_store::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(refused(what));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check("put")?;
        if self.no_manifest.load(Ordering::SeqCst) && location.as_ref().ends_with("manifest.json") {
            return Err(refused("put manifest"));
        }
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check("put")?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check("get")?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.check("list")?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.check("copy")?;
        self.inner.copy_opts(from, to, options).await
    }
}

fn flaky(dir: &std::path::Path) -> (Arc<Flaky>, Bucket) {
    std::fs::create_dir_all(dir).unwrap();
    let store = Arc::new(Flaky {
        inner: LocalFileSystem::new_with_prefix(dir).unwrap(),
        down: AtomicBool::new(false),
        no_manifest: AtomicBool::new(false),
        puts: AtomicUsize::new(0),
    });
    let bucket = Bucket::with_store(store.clone(), "run", "flaky://bucket/run").unwrap();
    (store, bucket)
}

#[test]
fn faults_are_retried_then_surfaced_after_the_bound_and_clear_when_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, bucket) = flaky(&dir.path().join("bucket"));
    store.down.store(true, Ordering::SeqCst);
    let replication = Replication::to_bucket(bucket.clone(), quick());
    let file = Store::open(dir.path().join("a.redb")).unwrap();
    let listener: CommitListener = Arc::new(replication.listener());
    let writer = Writer::start_with(&file, None, vec![listener]).unwrap();
    for (id, base) in [(1, None), (2, Some(1)), (3, Some(2))] {
        writer.submit(capture(id, base, "a")).unwrap();
    }
    // The local commits never wait for the bucket.
    assert_eq!(writer.flush().unwrap(), Some(3));
    let e = replication.flush(Duration::from_secs(10)).unwrap_err();
    match &e {
        ReplicateError::Unreachable {
            url,
            snapshots_behind,
            last,
            ..
        } => {
            assert_eq!(url, "flaky://bucket/run");
            assert!(*snapshots_behind >= 1);
            assert!(last.contains("connection refused"), "{last}");
        }
        other => panic!("expected Unreachable, got {other}"),
    }
    let lagging = replication.status();
    assert!(lagging.failures >= 2, "{lagging:?}");
    assert!(lagging.snapshots_behind >= 1);
    assert_eq!(lagging.replicated, None);

    // The bucket comes back: replication catches up and the error clears.
    store.down.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        match replication.flush(Duration::from_millis(500)) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => continue,
            Err(e) => panic!("never caught up: {e}"),
        }
    };
    assert_eq!(status.replicated, Some(3));
    assert_eq!(status.snapshots_behind, 0);
    assert!(status.error.is_none());
    assert!(status.max_snapshots_behind >= 1);
    writer.close().unwrap();
    let ids: Vec<u64> = bucket.snapshots().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn an_object_without_its_manifest_stays_invisible_and_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    let (store, bucket) = flaky(&dir.path().join("bucket"));
    let path = dir.path().join("a.redb");
    {
        let replication = Replication::to_bucket(bucket.clone(), quick());
        run(&path, &replication, None, &[(1, None)], "a");
        replication.flush(Duration::from_secs(10)).unwrap();
        // The next snapshot's object is written, its manifest never is
        // (as if the process died between the two).
        store.no_manifest.store(true, Ordering::SeqCst);
        let file = Store::open(&path).unwrap();
        let listener: CommitListener = Arc::new(replication.listener());
        let writer = Writer::start_with(&file, None, vec![listener]).unwrap();
        writer.submit(capture(2, Some(1), "a")).unwrap();
        writer.flush().unwrap();
        assert!(replication.flush(Duration::from_secs(5)).is_err());
        drop(writer);
    }
    let seen = bucket.verify().unwrap();
    assert_eq!(seen.snapshots, 1);
    assert_eq!(seen.unnamed, ["snapshots/00000000000000000002.dzs"]);
    assert_eq!(bucket.snapshots().unwrap().len(), 1);

    // The next writer ships snapshot 2 and nothing unnamed is left.
    store.no_manifest.store(false, Ordering::SeqCst);
    let replication = Replication::to_bucket(bucket.clone(), quick());
    let file = Store::open(&path).unwrap();
    replication.push(&file);
    let status = replication.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(status.replicated, Some(2));
    let seen = bucket.verify().unwrap();
    assert_eq!(seen.snapshots, 2);
    assert!(seen.unnamed.is_empty(), "{:?}", seen.unnamed);
}

#[test]
fn damaged_objects_and_manifests_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    let url = dir_url(&root);
    let replication = Replication::start(&url, quick()).unwrap();
    run(
        &dir.path().join("a.redb"),
        &replication,
        None,
        &[(1, None), (2, Some(1))],
        "a",
    );
    replication.flush(Duration::from_secs(10)).unwrap();
    let bucket = Bucket::open(&url).unwrap();
    let object = root.join("snapshots/00000000000000000002.dzs");
    let mut bytes = std::fs::read(&object).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 1;
    std::fs::write(&object, &bytes).unwrap();
    let dest = dir.path().join("b.redb");
    let e = bucket.pull(&dest, None).unwrap_err();
    assert!(matches!(e, PullError::Corrupt { .. }), "{e}");
    assert!(
        e.to_string().contains("snapshots/00000000000000000002.dzs"),
        "{e}"
    );
    // Same size, other bytes: the message says the content differs.
    assert!(e.to_string().contains("its SHA-256 is"), "{e}");
    assert!(!e.to_string().contains("bytes, but"), "{e}");
    assert!(!dest.exists());
    assert!(bucket.verify().is_err());
    // The older chain is intact and still pulls.
    assert_eq!(bucket.pull(&dest, Some(1)).unwrap().chain, [1]);

    std::fs::write(root.join("manifest.json"), b"{\"dizzy_replica\": 1,").unwrap();
    let e = bucket.snapshots().unwrap_err();
    assert!(
        e.to_string()
            .contains("manifest.json: not a dizzy replica manifest"),
        "{e}"
    );
    let empty = Bucket::open(&dir_url(&dir.path().join("nothing"))).unwrap();
    assert!(matches!(empty.snapshots(), Err(PullError::Empty { .. })));
}

#[test]
fn restore_from_pulls_into_a_missing_file_and_keeps_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir_url(&dir.path().join("bucket"));
    let fresh = dir.path().join("fresh.redb");
    assert_eq!(restore_from(&url, &fresh, None).unwrap(), Restore::Fresh);
    assert!(!fresh.exists());

    let replication = Replication::start(&url, quick()).unwrap();
    let a = dir.path().join("a.redb");
    run(&a, &replication, None, &[(1, None), (2, Some(1))], "a");
    replication.flush(Duration::from_secs(10)).unwrap();
    drop(replication);

    match restore_from(&url, &fresh, None).unwrap() {
        Restore::Pulled(p) => assert_eq!((p.snapshot, p.chain), (2, vec![1, 2])),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        restore_from(&url, &a, None).unwrap(),
        Restore::Local { newest: 2, .. }
    ));
    // A file behind the bucket is refused, and left as it was.
    let behind = dir.path().join("behind.redb");
    Bucket::open(&url).unwrap().pull(&behind, Some(1)).unwrap();
    let e = restore_from(&url, &behind, None).unwrap_err();
    assert!(
        matches!(
            e,
            PullError::Behind {
                local: 1,
                bucket: 2,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        Store::open_to_read(&behind)
            .unwrap()
            .snapshots()
            .unwrap()
            .len(),
        1
    );
}
