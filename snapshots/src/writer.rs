//! The background writer: one thread owns the commits to the redb file, fed
//! by a crossbeam channel, so that the world never waits for the disk.
//!
//! The engine decides what to send: while a commit is in flight it does not
//! capture new deltas (the changes keep accumulating in bevy's change ticks
//! and the journal, and the next delta holds them all), so the queue never
//! grows without bound. An error of the writer is kept until the engine asks
//! for it ([`Writer::take_error`]); it is never dropped.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use redb::{Database, Durability, ReadableTable};

use crate::capture::{Capture, ChunkData};
use crate::error::WriteError;
use crate::format::{CHUNKS, SNAPSHOTS};
use crate::retention::{Links, prune};
use crate::store::Store;

#[derive(Debug, Default)]
struct State {
    /// Captures sent and not yet committed or failed.
    pending: usize,
    /// The newest committed snapshot.
    committed: Option<u64>,
    /// The first error not yet taken.
    error: Option<WriteError>,
    /// The writer thread ended.
    stopped: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Job {
    Commit(Box<Capture>),
    /// A full snapshot that replaces every other (see [`Writer::squash`]).
    Squash(Box<Capture>),
}

/// What a commit made durable, as told to the writer's listeners (see
/// [`Writer::start_with`]).
#[derive(Debug, Clone)]
pub struct Committed {
    /// The file.
    pub path: PathBuf,
    /// The snapshot's record.
    pub meta: crate::format::SnapshotMeta,
    /// Snapshots the retention policy deleted in the same transaction.
    pub deleted: Vec<u64>,
    /// The file, to read what was committed (for example its raw rows,
    /// [`crate::read_raw`]) from another thread; reads never block commits.
    pub store: Store,
    /// The retention policy the writer applies (`keep_last`), if any.
    pub keep_last: Option<usize>,
}

/// Called on the writer thread after each durable commit, in commit order.
/// A listener must return quickly (hand slow work to a thread of its own):
/// the next commit waits for it.
pub type CommitListener = std::sync::Arc<dyn Fn(&Committed) + Send + Sync>;

/// Commits captures to a dizzy file on a background thread.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    jobs: Option<Sender<Job>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// A wait was given up on by a stop request.
    abandoned: std::sync::atomic::AtomicBool,
}

/// Writes one capture in one write transaction, durably. A delta whose base
/// is not in the file is refused (its base failed to commit).
///
/// # Errors
/// redb failed, the record does not encode, or a delta's base is not in the
/// file ([`WriteError`]); nothing of the capture is committed.
pub fn commit(db: &Database, path: &std::path::Path, capture: &Capture) -> Result<(), WriteError> {
    commit_retaining(db, path, &capture.meta, capture.chunks.iter(), None).map(|_| ())
}

/// A chunk handed to [`commit_retaining`]: by value, its buffer is given
/// back for the next capture ([`dizzy_components::buffers`]) once redb holds
/// its copy; by reference, it stays the caller's.
trait Handed: std::borrow::Borrow<ChunkData> {
    fn inserted(self);
}

impl Handed for ChunkData {
    fn inserted(mut self) {
        dizzy_components::buffers::recycle(std::mem::take(&mut self.bytes));
    }
}

impl Handed for &ChunkData {
    fn inserted(self) {}
}

/// [`commit`], then, in the same transaction, deletes the snapshots that the
/// retention policy (keep the newest `k` and their chains) lets go.
///
/// The writer thread hands the chunks over by value: each leaves memory (or
/// goes back to the capture's buffers) once redb holds its copy, so a full
/// snapshot is not in memory twice over.
fn commit_retaining<C: Handed>(
    db: &Database,
    path: &std::path::Path,
    meta: &crate::format::SnapshotMeta,
    chunks: impl ExactSizeIterator<Item = C>,
    retention: Option<(&mut Links, usize)>,
) -> Result<Vec<u64>, WriteError> {
    let id = meta.id;
    let count = chunks.len();
    let started = std::time::Instant::now();
    let fail = |e: redb::Error| WriteError::Storage {
        path: path.to_owned(),
        snapshot: id,
        source: e,
    };
    let mut tx = db.begin_write().map_err(|e| fail(e.into()))?;
    tx.set_durability(Durability::Immediate)
        .map_err(|e| fail(e.into()))?;
    {
        let mut snapshots = tx.open_table(SNAPSHOTS).map_err(|e| fail(e.into()))?;
        // Checked under the write transaction (redb has one writer at a
        // time, across processes too): a snapshot is never overwritten, and
        // ids only grow. A file another run committed to since this run
        // restored it holds ids this run would reuse.
        if let Some((newest, _)) = snapshots.last().map_err(|e| fail(e.into()))? {
            let newest = newest.value();
            if newest >= id {
                return Err(WriteError::Overtaken {
                    path: path.to_owned(),
                    snapshot: id,
                    newest,
                });
            }
        }
        if let Some(base) = meta.base
            && snapshots.get(base).map_err(|e| fail(e.into()))?.is_none()
        {
            return Err(WriteError::MissingBase {
                path: path.to_owned(),
                snapshot: id,
                base,
            });
        }
        let record = crate::format::encode_meta(meta).map_err(|source| WriteError::Encode {
            path: path.to_owned(),
            snapshot: id,
            source,
        })?;
        snapshots
            .insert(id, record.as_slice())
            .map_err(|e| fail(e.into()))?;
        let mut table = tx.open_table(CHUNKS).map_err(|e| fail(e.into()))?;
        for c in chunks {
            let chunk = c.borrow();
            table
                .insert(
                    (id, chunk.column.as_str(), chunk.index),
                    chunk.bytes.as_slice(),
                )
                .map_err(|e| fail(e.into()))?;
            c.inserted();
        }
    }
    tracing::debug!(
        "snapshot {id}: {} chunks inserted in {:?}",
        count,
        started.elapsed()
    );
    match retention {
        Some((links, k)) => {
            let mut next = links.clone();
            next.insert(id, meta.base);
            let gone = prune(&tx, &mut next, k).map_err(fail)?;
            tx.commit().map_err(|e| fail(e.into()))?;
            if !gone.is_empty() {
                tracing::debug!("{}: retention deleted snapshots {gone:?}", path.display());
            }
            *links = next;
            Ok(gone.into_iter().collect())
        }
        None => {
            tx.commit().map_err(|e| fail(e.into()))?;
            tracing::debug!("snapshot {id}: committed in {:?}", started.elapsed());
            Ok(Vec::new())
        }
    }
}

struct Retention {
    keep_last: usize,
    links: Links,
}

/// Commits the full snapshot `capture` and deletes every other snapshot of
/// the file, in one write transaction: a crash leaves either the file as it
/// was or the squashed one. The retention state follows the file.
fn squash_commit(
    store: &Store,
    db: &Database,
    path: &std::path::Path,
    capture: &mut Capture,
    retention: Option<&mut Retention>,
) -> Result<Vec<u64>, WriteError> {
    let id = capture.meta.id;
    if capture.meta.kind != crate::format::SnapshotKind::Full || capture.meta.base.is_some() {
        return Err(WriteError::Storage {
            path: path.to_owned(),
            snapshot: id,
            source: redb::Error::Corrupted(format!(
                "snapshot {id} is a delta: only a full snapshot can replace the others"
            )),
        });
    }
    let mut links = crate::retention::links(store).map_err(|e| WriteError::Storage {
        path: path.to_owned(),
        snapshot: id,
        source: redb::Error::Corrupted(e.to_string()),
    })?;
    let chunks = std::mem::take(&mut capture.chunks).into_iter();
    let gone = commit_retaining(db, path, &capture.meta, chunks, Some((&mut links, 1)))?;
    if let Some(r) = retention {
        r.links = links;
    }
    Ok(gone)
}

/// Marks the writer stopped and wakes every waiter when the thread ends,
/// however it ends (a panic included), so that no wait lasts forever.
struct Ended {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        if std::thread::panicking() && s.error.is_none() && s.pending > 0 {
            s.error = Some(WriteError::Panicked {
                path: self.path.clone(),
                message: "the thread ended".to_owned(),
            });
        }
        s.stopped = true;
        self.shared.changed.notify_all();
    }
}

/// A panic's message.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    dizzy_components::panic_message(payload).unwrap_or_else(|| "(no message)".to_owned())
}

fn run(
    store: Store,
    db: Arc<Database>,
    path: PathBuf,
    jobs: Receiver<Job>,
    shared: Arc<Shared>,
    mut retention: Option<Retention>,
    listeners: Vec<CommitListener>,
) {
    let _ended = Ended {
        shared: shared.clone(),
        path: path.clone(),
    };
    for job in jobs {
        let (mut capture, squash) = match job {
            Job::Commit(capture) => (capture, false),
            Job::Squash(capture) => (capture, true),
        };
        let id = capture.meta.id;
        // Whatever happens in here (a panic in redb, a listener or a log
        // subscriber) becomes this commit's error: it is recorded and the
        // waiters are woken before anything is logged, so the error reaches
        // the caller whatever the logger does.
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let result = if squash {
                squash_commit(&store, &db, &path, &mut capture, retention.as_mut())
            } else {
                let keep = retention.as_mut().map(|r| (&mut r.links, r.keep_last));
                let chunks = std::mem::take(&mut capture.chunks).into_iter();
                commit_retaining(&db, &path, &capture.meta, chunks, keep)
            };
            if let Ok(deleted) = &result
                && !listeners.is_empty()
            {
                let committed = Committed {
                    path: path.clone(),
                    meta: capture.meta.clone(),
                    deleted: deleted.clone(),
                    store: store.clone(),
                    keep_last: retention.as_ref().map(|r| r.keep_last),
                };
                for listener in &listeners {
                    listener(&committed);
                }
            }
            result
        }));
        drop(capture);
        let result = attempt.unwrap_or_else(|payload| {
            Err(WriteError::Panicked {
                path: path.clone(),
                message: format!("snapshot {id}: {}", panic_text(payload.as_ref())),
            })
        });
        let failed = result.as_ref().err().map(ToString::to_string);
        {
            let mut s = shared.lock();
            s.pending = s.pending.saturating_sub(1);
            match result {
                Ok(_) => s.committed = Some(id),
                Err(e) => {
                    if s.error.is_none() {
                        s.error = Some(e);
                    }
                }
            }
            shared.changed.notify_all();
        }
        // Logging comes last and may not take the thread down: a subscriber
        // that panics (on a full or closed stderr) is contained.
        let _ = std::panic::catch_unwind(|| match &failed {
            None => tracing::info!("{}: committed snapshot {id}", path.display()),
            // The caller gets the error (next tick or flush) and reports it;
            // logged here only for timelines.
            Some(e) => tracing::debug!("{e}"),
        });
    }
}

impl Writer {
    /// Starts the writer thread for `store` (opened read-write). With
    /// `keep_last`, each commit also deletes the snapshots that are neither
    /// among the newest `keep_last` nor needed by their chains.
    ///
    /// # Errors
    /// The store is open read-only, its snapshots cannot be read (with
    /// `keep_last`), or the thread could not start ([`WriteError`]).
    pub fn start(store: &Store, keep_last: Option<usize>) -> Result<Writer, WriteError> {
        Self::start_with(store, keep_last, Vec::new())
    }

    /// [`Writer::start`], with listeners told of every durable commit (on
    /// the writer thread, in commit order; see [`CommitListener`]).
    ///
    /// # Errors
    /// As [`Writer::start`].
    pub fn start_with(
        store: &Store,
        keep_last: Option<usize>,
        listeners: Vec<CommitListener>,
    ) -> Result<Writer, WriteError> {
        let path = store.path().to_owned();
        let db = store
            .database()
            .cloned()
            .ok_or_else(|| WriteError::ReadOnly { path: path.clone() })?;
        let retention = match keep_last {
            Some(k) => Some(Retention {
                keep_last: k.max(1),
                links: crate::retention::links(store).map_err(|e| WriteError::Read {
                    path: path.clone(),
                    source: Box::new(e),
                })?,
            }),
            None => None,
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            let thread_path = path.clone();
            let store = store.clone();
            std::thread::Builder::new()
                .name("dizzy-writer".into())
                .spawn(move || run(store, db, thread_path, rx, shared, retention, listeners))
                .map_err(|_| WriteError::Stopped { path: path.clone() })?
        };
        Ok(Writer {
            path,
            jobs: Some(tx),
            shared,
            thread: Some(thread),
            abandoned: Default::default(),
        })
    }

    /// Queues a capture for commit. Returns at once.
    ///
    /// # Errors
    /// The writer thread has stopped ([`WriteError::Stopped`]).
    pub fn submit(&self, capture: Capture) -> Result<(), WriteError> {
        let stopped = || WriteError::Stopped {
            path: self.path.clone(),
        };
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        self.shared.lock().pending += 1;
        if jobs.send(Job::Commit(Box::new(capture))).is_err() {
            self.shared.lock().pending -= 1;
            return Err(stopped());
        }
        Ok(())
    }

    /// Queues `capture`, a full snapshot, to replace every snapshot of the
    /// file: it is committed and all others are deleted in one write
    /// transaction (after the commits queued before it). Returns at once;
    /// [`Writer::flush`] waits for it.
    pub fn squash(&self, capture: Capture) -> Result<(), WriteError> {
        let stopped = || WriteError::Stopped {
            path: self.path.clone(),
        };
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        self.shared.lock().pending += 1;
        if jobs.send(Job::Squash(Box::new(capture))).is_err() {
            self.shared.lock().pending -= 1;
            return Err(stopped());
        }
        Ok(())
    }

    /// Whether a commit is queued or in flight.
    pub fn busy(&self) -> bool {
        self.shared.lock().pending > 0
    }

    /// The newest committed snapshot id.
    pub fn committed(&self) -> Option<u64> {
        self.shared.lock().committed
    }

    /// Takes the writer's first error since the last call, if any.
    pub fn take_error(&self) -> Option<WriteError> {
        self.shared.lock().error.take()
    }

    /// Waits until everything submitted is committed (or failed); returns
    /// the newest committed snapshot id, or the writer's error. The wait
    /// ends when the writer thread ends, however it ends.
    ///
    /// # Errors
    /// The first commit that failed since the last error was taken, or the
    /// writer thread stopped ([`WriteError`]).
    pub fn flush(&self) -> Result<Option<u64>, WriteError> {
        self.flush_unless(&|| false)
    }

    /// [`Writer::flush`], but a wait also ends when `stop` returns true
    /// (checked at least every 50 ms).
    ///
    /// # Errors
    /// The writer's first error not yet taken; [`WriteError::Interrupted`]
    /// when `stop` ended the wait; [`WriteError::Stopped`] when the thread
    /// ended with captures not committed.
    pub fn flush_unless(&self, stop: &dyn Fn() -> bool) -> Result<Option<u64>, WriteError> {
        let mut s = self.shared.lock();
        while s.pending > 0 && !s.stopped {
            if stop() {
                self.abandoned
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(WriteError::Interrupted {
                    path: self.path.clone(),
                    pending: s.pending,
                });
            }
            s = self
                .shared
                .changed
                .wait_timeout(s, std::time::Duration::from_millis(50))
                .map_or_else(|p| p.into_inner().0, |(s, _)| s);
        }
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        if s.pending > 0 {
            return Err(WriteError::Stopped {
                path: self.path.clone(),
            });
        }
        Ok(s.committed)
    }

    /// Takes no more snapshots: the writer thread commits what is queued,
    /// then closes the file, while the caller goes on; [`Writer::close`]
    /// waits for it.
    pub fn close_queue(&mut self) {
        self.jobs.take();
    }

    /// Commits what is queued, then stops the thread.
    ///
    /// # Errors
    /// As [`Writer::flush`].
    pub fn close(mut self) -> Result<Option<u64>, WriteError> {
        let r = self.flush();
        self.shutdown();
        r
    }

    fn shutdown(&mut self) {
        self.jobs.take();
        // A writer still busy after a stop request is left to finish on its
        // own (the process may exit under it: a commit is atomic).
        let busy = self.abandoned.load(std::sync::atomic::Ordering::Relaxed)
            && self.shared.lock().pending > 0;
        if let Some(t) = self.thread.take()
            && (!busy || t.is_finished())
        {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
