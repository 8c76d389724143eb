//! Replication: a thread of its own ships committed snapshots to a bucket,
//! behind the local commit. The commit listener only records what was
//! committed and wakes the thread; the thread uploads the newest snapshot's
//! chain (what the bucket lacks of it), then the manifest, so that a burst
//! of commits costs one manifest write and a superseded chain is skipped.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dizzy_snapshots::{Committed, Store};

use crate::bucket::Bucket;
use crate::error::{BucketError, ReplicateError};

mod worker;
use worker::Worker;

/// How replication behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicateOptions {
    /// How long the bucket may fail (each failure retried with a growing
    /// backoff, up to 5 s apart) before the failure is surfaced as
    /// [`ReplicateError::Unreachable`] by [`Replication::status`] and
    /// [`Replication::flush`] and logged as an error. Replication keeps
    /// retrying afterwards, and the error clears when the bucket answers.
    /// Closing the app waits at most this long for the bucket.
    pub give_up_after: Duration,
    /// The bucket's retention: keep the newest `k` replicated snapshots and
    /// what their chains need. `None`: the app's own `keep_last` (if any).
    /// Without either, the bucket keeps every replicated snapshot, and the
    /// manifest (about 200 bytes per snapshot, rewritten by every round)
    /// grows with them: long runs want a retention.
    pub keep_last: Option<usize>,
}

impl Default for ReplicateOptions {
    fn default() -> Self {
        ReplicateOptions {
            give_up_after: Duration::from_secs(30),
            keep_last: None,
        }
    }
}

impl ReplicateOptions {
    /// Sets [`ReplicateOptions::give_up_after`].
    pub fn give_up_after(mut self, bound: Duration) -> Self {
        self.give_up_after = bound;
        self
    }

    /// Sets [`ReplicateOptions::keep_last`].
    pub fn keep_last(mut self, k: usize) -> Self {
        self.keep_last = Some(k.max(1));
        self
    }
}

/// Where replication stands: its lag and what it has done.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// The bucket's URL (without credentials).
    pub url: String,
    /// The newest snapshot committed locally that replication was told of.
    pub committed: Option<u64>,
    /// The newest snapshot the bucket holds.
    pub replicated: Option<u64>,
    /// Its tick.
    pub replicated_tick: Option<u64>,
    /// Local snapshots committed and not yet in the bucket (a snapshot
    /// skipped because a newer one made it unnecessary no longer counts).
    pub snapshots_behind: u64,
    /// How long ago the oldest of them was captured, in seconds (0 when
    /// caught up).
    pub seconds_behind: f64,
    /// The most snapshots behind seen so far.
    pub max_snapshots_behind: u64,
    /// The longest lag seen so far, in seconds.
    pub max_seconds_behind: f64,
    /// Snapshot objects uploaded.
    pub uploaded: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Manifests written (each made some snapshots visible at once).
    pub manifests: u64,
    /// Rounds that failed and were retried.
    pub failures: u64,
    /// The error surfaced, if any: the bucket failing for longer than the
    /// bound (cleared when it answers again), or a refusal for good.
    pub error: Option<ReplicateError>,
}

#[derive(Debug, Default)]
struct State {
    /// The file, once a commit (or [`Replication::push`]) named it.
    store: Option<Store>,
    /// The app's retention, as the writer reported it.
    app_keep_last: Option<usize>,
    /// Something was committed since the last round began.
    dirty: bool,
    /// A round is running.
    working: bool,
    /// Committed snapshots not yet in the bucket: id -> capture time (ms).
    pending: BTreeMap<u64, u64>,
    committed: Option<u64>,
    replicated: Option<(u64, u64)>,
    /// Handles and listeners still alive; the thread ends at zero.
    handles: usize,
    failing_since: Option<Instant>,
    /// Why the last round failed, while rounds fail.
    last_failure: Option<String>,
    /// How the wait of the writer's end (at the app's close) ended, when
    /// the bucket had not caught up: what `close()` reports.
    at_close: Option<ReplicateError>,
    error: Option<ReplicateError>,
    /// Refused for good: no more rounds.
    fatal: bool,
    /// The thread ended.
    stopped: bool,
    uploaded: u64,
    uploaded_bytes: u64,
    manifests: u64,
    failures: u64,
    max_behind: u64,
    max_seconds: f64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl State {
    fn seconds_behind(&self) -> f64 {
        self.pending
            .values()
            .min()
            .map_or(0.0, |&t| now_ms().saturating_sub(t) as f64 / 1000.0)
    }

    fn note_lag(&mut self) {
        self.max_behind = self.max_behind.max(self.pending.len() as u64);
        self.max_seconds = self.max_seconds.max(self.seconds_behind());
    }

    fn idle(&self) -> bool {
        self.pending.is_empty() && !self.dirty && !self.working
    }
}

#[derive(Debug)]
struct Inner {
    bucket: Bucket,
    options: ReplicateOptions,
    state: Mutex<State>,
    changed: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn status_of(&self, s: &State) -> Status {
        Status {
            url: self.bucket.url().to_owned(),
            committed: s.committed,
            replicated: s.replicated.map(|(id, _)| id),
            replicated_tick: s.replicated.map(|(_, tick)| tick),
            snapshots_behind: s.pending.len() as u64,
            seconds_behind: s.seconds_behind(),
            max_snapshots_behind: s.max_behind,
            max_seconds_behind: s.max_seconds,
            uploaded: s.uploaded,
            uploaded_bytes: s.uploaded_bytes,
            manifests: s.manifests,
            failures: s.failures,
            error: s.error.clone(),
        }
    }

    /// Waits until everything committed so far is in the bucket, an error
    /// is surfaced, or `timeout` passes.
    fn wait_idle(&self, timeout: Duration) -> Result<Status, ReplicateError> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(e) = &s.error {
                return Err(e.clone());
            }
            if s.idle() || (s.stopped && !s.working) {
                return Ok(self.status_of(&s));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReplicateError::Timeout {
                    url: self.bucket.url().to_owned(),
                    seconds: timeout.as_secs_f64(),
                    snapshots_behind: s.pending.len() as u64,
                    last: s.last_failure.clone(),
                });
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// One handle fewer. The last one waits (at most the bound) for the
    /// thread to ship what is pending and end, so that the file is free
    /// once every handle is gone.
    fn release(&self) {
        let mut s = self.lock();
        s.handles = s.handles.saturating_sub(1);
        self.changed.notify_all();
        if s.handles > 0 {
            return;
        }
        let deadline = Instant::now() + self.options.give_up_after + Duration::from_secs(1);
        while !s.stopped {
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    "{}: replication still busy; it goes on in the background",
                    self.bucket.url()
                );
                return;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// Replication of one app's file to one bucket prefix, running on a thread
/// of its own. Made by [`Replication::start`]; given to the app with
/// `App::replicate_to` (the `dizzy` library's `replicate` feature) or, for
/// any writer, through [`Replication::listener`]. Clones share it; the
/// thread ends when every clone and listener is gone.
///
/// One replication serves one file, and a prefix takes the snapshots of
/// one run at a time: a bucket holding another history is refused
/// ([`ReplicateError::Conflict`]), never overwritten.
#[derive(Debug)]
pub struct Replication {
    inner: Arc<Inner>,
}

impl Clone for Replication {
    fn clone(&self) -> Self {
        self.inner.lock().handles += 1;
        Replication {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Replication {
    fn drop(&mut self) {
        self.inner.release();
    }
}

/// What a listener holds: a handle whose end (the writer stopping, at
/// `Runtime::close` or drop) waits for the bucket to catch up, within the
/// bound, and lets go of the file.
struct Attached {
    replication: Replication,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let inner = &self.replication.inner;
        let bound = inner.options.give_up_after + Duration::from_secs(1);
        match inner.wait_idle(bound) {
            Ok(status) => {
                tracing::debug!(
                    "{}: replication caught up at snapshot {:?}",
                    status.url,
                    status.replicated
                );
                inner.lock().at_close = None;
            }
            Err(e) => {
                tracing::error!("replication did not catch up before the app closed: {e}");
                inner.lock().at_close = Some(e);
            }
        }
        // The file may be opened again by this process: do not keep it.
        inner.lock().store = None;
    }
}

impl Replication {
    /// Starts replicating to `url` (see [`Bucket::open`]); nothing is sent
    /// until the first commit (or [`Replication::push`]).
    ///
    /// # Errors
    /// The URL cannot be opened ([`BucketError`]).
    pub fn start(url: &str, options: ReplicateOptions) -> Result<Replication, BucketError> {
        Ok(Self::to_bucket(Bucket::open(url)?, options))
    }

    /// [`Replication::start`] with a bucket already opened.
    pub fn to_bucket(bucket: Bucket, options: ReplicateOptions) -> Replication {
        let inner = Arc::new(Inner {
            bucket,
            options,
            state: Mutex::new(State {
                handles: 1,
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        let worker = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("dizzy-replicate".into())
            .spawn(move || Worker::new(worker).run());
        if let Err(e) = spawned {
            let mut s = inner.lock();
            s.fatal = true;
            s.stopped = true;
            s.error = Some(ReplicateError::Local {
                url: inner.bucket.url().to_owned(),
                reason: format!("could not start the replication thread: {e}"),
            });
        }
        Replication { inner }
    }

    /// The bucket's URL (without credentials).
    pub fn url(&self) -> &str {
        self.inner.bucket.url()
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        &self.inner.bucket
    }

    /// A commit listener (for `App::on_commit`, or
    /// `Writer::start_with`) that hands each commit to this replication and
    /// returns at once. When the writer drops it (the app closes), it
    /// waits for the bucket to catch up, at most
    /// [`ReplicateOptions::give_up_after`].
    pub fn listener(&self) -> impl Fn(&Committed) + Send + Sync + 'static {
        let attached = Attached {
            replication: self.clone(),
        };
        move |c: &Committed| attached.replication.committed(c)
    }

    fn committed(&self, c: &Committed) {
        let mut s = self.inner.lock();
        s.store = Some(c.store.clone());
        s.app_keep_last = c.keep_last;
        s.pending.insert(c.meta.id, c.meta.unix_ms);
        s.committed = s.committed.max(Some(c.meta.id));
        s.dirty = true;
        s.note_lag();
        self.inner.changed.notify_all();
    }

    /// Asks replication to ship what `store` holds now, without waiting for
    /// a commit: after a restart, the snapshots committed before the kill
    /// that had not reached the bucket yet. Returns at once.
    pub fn push(&self, store: &Store) {
        let latest = store.latest().ok().flatten();
        let mut s = self.inner.lock();
        s.store = Some(store.clone());
        if let Some(m) = latest {
            s.pending.insert(m.id, m.unix_ms);
            s.committed = s.committed.max(Some(m.id));
        }
        s.dirty = true;
        self.inner.changed.notify_all();
    }

    /// Where replication stands now.
    pub fn status(&self) -> Status {
        let s = self.inner.lock();
        self.inner.status_of(&s)
    }

    /// Waits until every snapshot committed so far is in the bucket (or
    /// made unnecessary by a newer one); returns the status then.
    ///
    /// # Errors
    /// The error surfaced ([`ReplicateError::Unreachable`] once the bucket
    /// has failed for longer than the bound, or a refusal), or
    /// [`ReplicateError::Timeout`] when `timeout` passes first.
    pub fn flush(&self, timeout: Duration) -> Result<Status, ReplicateError> {
        self.inner.wait_idle(timeout)
    }

    /// How the app's close ended for this replication: the error of the
    /// wait (at most the bound) for the bucket to catch up when its writer
    /// stopped, or else what [`Replication::flush`] says at once. What
    /// `Runtime::close` reports.
    ///
    /// # Errors
    /// As [`Replication::flush`]; a [`ReplicateError::Timeout`] says how
    /// long the close waited.
    #[doc(hidden)]
    pub fn closed(&self) -> Result<Status, ReplicateError> {
        if let Some(e) = self.inner.lock().at_close.clone() {
            return Err(e);
        }
        self.inner.wait_idle(Duration::ZERO)
    }
}
