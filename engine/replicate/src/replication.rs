//! Replication: a thread of its own ships committed snapshots to a bucket,
//! behind the local commit. The commit listener only records what was
//! committed and wakes the thread; the thread uploads the newest snapshot's
//! chain (what the bucket lacks of it), then the manifest, so that a burst
//! of commits costs one manifest write and a superseded chain is skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dizzy_snapshots::{Committed, RestoreError, Store};

use crate::bucket::Bucket;
use crate::error::{BucketError, ReplicateError};
use crate::manifest::{MANIFEST, Manifest, Replicated, SNAPSHOTS_DIR, id_of, object_name};
use crate::object;

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
            Ok(status) => tracing::debug!(
                "{}: replication caught up at snapshot {:?}",
                status.url,
                status.replicated
            ),
            Err(e) => tracing::error!("replication did not catch up before the app closed: {e}"),
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
}

/// Why a round did not finish.
enum Failure {
    /// A network fault or a server error: retried with backoff.
    Retry(String),
    /// Refused for good: surfaced at once, no more rounds.
    Fatal(ReplicateError),
    /// The file changed under the round (retention deleted a snapshot it
    /// was about to send): plan again at once.
    Replan,
}

/// What a round achieved.
struct Done {
    /// The newest snapshot now in the bucket.
    replicated: Option<(u64, u64)>,
    uploaded: u64,
    uploaded_bytes: u64,
    manifest_written: bool,
}

/// The replication thread's own state: the bucket's manifest as last read
/// or written, and what it has checked or uploaded.
struct Worker {
    inner: Arc<Inner>,
    manifest: Option<Manifest>,
    /// Snapshots of the bucket found to be the file's own.
    verified: BTreeSet<u64>,
    /// Uploaded, but no manifest names them yet (a failed round).
    unlisted: BTreeMap<u64, Replicated>,
    /// Objects no manifest names were looked for since this thread began.
    swept: bool,
}

impl Worker {
    fn new(inner: Arc<Inner>) -> Self {
        Worker {
            inner,
            manifest: None,
            verified: BTreeSet::new(),
            unlisted: BTreeMap::new(),
            swept: false,
        }
    }

    fn url(&self) -> String {
        self.inner.bucket.url().to_owned()
    }

    fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let (store, keep_last) = {
                let mut s = self.inner.lock();
                loop {
                    let can_work = s.dirty && !s.fatal && s.store.is_some();
                    if can_work {
                        break;
                    }
                    if s.handles == 0 {
                        s.stopped = true;
                        self.inner.changed.notify_all();
                        return;
                    }
                    s = self
                        .inner
                        .changed
                        .wait(s)
                        .unwrap_or_else(|p| p.into_inner());
                }
                s.dirty = false;
                s.working = true;
                let keep = self.inner.options.keep_last.or(s.app_keep_last);
                (s.store.clone(), keep)
            };
            let Some(store) = store else { continue };
            let result = self.round(&store, keep_last);
            drop(store);
            let mut s = self.inner.lock();
            s.working = false;
            let pause = match result {
                Ok(done) => {
                    backoff = Duration::from_millis(100);
                    self.succeeded(&mut s, done);
                    None
                }
                Err(Failure::Replan) => {
                    s.dirty = true;
                    None
                }
                Err(Failure::Fatal(e)) => {
                    tracing::error!("replication stopped: {e}");
                    s.error = Some(e);
                    s.fatal = true;
                    None
                }
                Err(Failure::Retry(why)) => {
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    let give_up = self.failed(&mut s, why, pause);
                    // Closing with the bucket unreachable beyond the bound:
                    // stop trying (the file keeps every snapshot).
                    if give_up && s.handles == 0 {
                        s.stopped = true;
                        self.inner.changed.notify_all();
                        return;
                    }
                    Some(pause)
                }
            };
            self.inner.changed.notify_all();
            drop(s);
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
        }
    }

    fn succeeded(&self, s: &mut State, done: Done) {
        let recovered = s.failing_since.take();
        if matches!(s.error, Some(ReplicateError::Unreachable { .. })) {
            s.error = None;
        }
        s.uploaded += done.uploaded;
        s.uploaded_bytes += done.uploaded_bytes;
        s.manifests += u64::from(done.manifest_written);
        if let Some((id, tick)) = done.replicated {
            s.replicated = Some((id, tick));
            s.pending.retain(|&p, _| p > id);
            let url = self.url();
            let (behind, seconds) = (s.pending.len(), s.seconds_behind());
            if let Some(since) = recovered {
                tracing::info!(
                    "{url}: reachable again after {:.1} s",
                    since.elapsed().as_secs_f64()
                );
            }
            if done.uploaded > 0 {
                tracing::info!(
                    "{url}: replicated snapshot {id} (tick {tick}), {} objects, {} bytes; {behind} snapshots and {seconds:.1} s behind",
                    done.uploaded,
                    done.uploaded_bytes
                );
            }
        }
    }

    /// Records a failed round; returns whether it has failed beyond the bound.
    fn failed(&self, s: &mut State, why: String, pause: Duration) -> bool {
        s.failures += 1;
        s.dirty = true;
        s.note_lag();
        let since = *s.failing_since.get_or_insert_with(Instant::now);
        let seconds = since.elapsed().as_secs_f64();
        let behind = s.pending.len() as u64;
        let url = self.url();
        let beyond = since.elapsed() >= self.inner.options.give_up_after;
        if beyond {
            if s.error.is_none() {
                let e = ReplicateError::Unreachable {
                    url: url.clone(),
                    seconds,
                    snapshots_behind: behind,
                    last: why.clone(),
                };
                tracing::error!("{e}");
                s.error = Some(e);
            } else if let Some(ReplicateError::Unreachable {
                seconds: shown,
                snapshots_behind,
                last,
                ..
            }) = &mut s.error
            {
                *shown = seconds;
                *snapshots_behind = behind;
                last.clone_from(&why);
            }
        }
        tracing::warn!(
            "{url}: replication failed, retrying in {pause:?} ({behind} snapshots and {:.1} s behind): {why}",
            s.seconds_behind()
        );
        beyond
    }

    fn local(&self, e: RestoreError) -> Failure {
        Failure::Fatal(ReplicateError::Local {
            url: self.url(),
            reason: e.to_string(),
        })
    }

    fn store_error(&self, what: &str, e: object_store::Error) -> Failure {
        use object_store::Error as E;
        match e {
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                Failure::Fatal(ReplicateError::Refused {
                    url: self.url(),
                    reason: format!("{what}: {e}"),
                })
            }
            E::NotFound { .. } => Failure::Fatal(ReplicateError::Refused {
                url: self.url(),
                reason: format!("{what}: {e} (does the bucket exist?)"),
            }),
            E::NotSupported { .. } | E::NotImplemented { .. } => {
                Failure::Fatal(ReplicateError::Refused {
                    url: self.url(),
                    reason: format!("{what}: {e}"),
                })
            }
            other => Failure::Retry(format!("{what}: {other}")),
        }
    }

    fn conflict(&self, reason: String) -> Failure {
        Failure::Fatal(ReplicateError::Conflict {
            url: self.url(),
            reason,
        })
    }

    /// The manifest, read from the bucket the first time.
    fn manifest(&mut self) -> Result<Manifest, Failure> {
        if let Some(m) = &self.manifest {
            return Ok(m.clone());
        }
        let bucket = &self.inner.bucket;
        let m = match bucket.block_on(bucket.get(MANIFEST)) {
            Ok(None) => Manifest::empty(),
            Ok(Some(bytes)) => {
                Manifest::parse(&bytes).map_err(|e| self.conflict(format!("{MANIFEST}: {e}")))?
            }
            Err(e) => return Err(self.store_error(MANIFEST, e)),
        };
        self.manifest = Some(m.clone());
        Ok(m)
    }

    /// One round: the chain of the file's newest snapshot, what the bucket
    /// lacks of it uploaded, then one manifest naming it, then the objects
    /// retention let go deleted.
    fn round(&mut self, store: &Store, keep_last: Option<usize>) -> Result<Done, Failure> {
        let manifest = self.manifest()?;
        // The newest record alone, then its chain: a round never decodes the
        // records of the whole history.
        let Some(latest) = store.latest().map_err(|e| self.local(e))? else {
            return Ok(Done {
                replicated: manifest.newest().map(|n| (n.id, n.tick)),
                uploaded: 0,
                uploaded_bytes: 0,
                manifest_written: false,
            });
        };
        let chain = {
            let tx = store.begin_read().map_err(|e| {
                self.local(RestoreError::Storage {
                    path: store.path().to_owned(),
                    source: e.into(),
                })
            })?;
            match dizzy_snapshots::chain(store, &tx, Some(latest.id)) {
                Ok(chain) => chain,
                // Retention deleted it meanwhile: a newer one exists.
                Err(RestoreError::UnknownSnapshot { .. } | RestoreError::BrokenChain { .. }) => {
                    return Err(Failure::Replan);
                }
                Err(e) => return Err(self.local(e)),
            }
        };
        let Some(target) = chain.last() else {
            return Err(Failure::Replan);
        };
        if let Some(newest) = manifest.newest()
            && newest.id > target.id
        {
            return Err(self.conflict(format!(
                "holds snapshot {} (tick {}), newer than the newest of {} ({} at tick {}): another run replicates here, or the file is older than the bucket; replicate to another prefix",
                newest.id,
                newest.tick,
                store.path().display(),
                target.id,
                target.tick
            )));
        }
        // The bucket's history must be the file's: the newest snapshot both
        // hold must be the same snapshot. (The file's newest chain alone
        // may start after everything the bucket holds: another run's file
        // with more snapshots would then write into this prefix.)
        if self.verified.is_empty() && !manifest.snapshots.is_empty() {
            let common = manifest
                .snapshots
                .iter()
                .rev()
                .find_map(|e| store.snapshot(e.id).ok().map(|m| (e, m)));
            match common {
                Some((entry, meta)) if entry.describes(&meta) => {
                    self.verified.insert(entry.id);
                }
                Some((entry, meta)) => {
                    return Err(self.conflict(another_run(entry, &meta, store)));
                }
                None => {
                    return Err(self.conflict(format!(
                        "shares no snapshot with {}: the bucket's snapshots {}..{} are not in the file (another run's, or the file's retention let all of them go), so the bucket cannot be told to hold this run's history; replicate to another prefix",
                        store.path().display(),
                        manifest.snapshots.first().map_or(0, |s| s.id),
                        manifest.snapshots.last().map_or(0, |s| s.id),
                    )));
                }
            }
        }
        for meta in &chain {
            if let Some(entry) = manifest.get(meta.id)
                && !self.verified.contains(&meta.id)
            {
                if !entry.describes(meta) {
                    return Err(self.conflict(another_run(entry, meta, store)));
                }
                self.verified.insert(meta.id);
            }
        }
        let mut done = Done {
            replicated: Some((target.id, target.tick)),
            uploaded: 0,
            uploaded_bytes: 0,
            manifest_written: false,
        };
        if manifest.get(target.id).is_some() {
            self.sweep(&manifest);
            return Ok(done);
        }
        let inner = Arc::clone(&self.inner);
        let bucket = &inner.bucket;
        let mut added = Vec::new();
        for meta in chain.iter().filter(|m| manifest.get(m.id).is_none()) {
            if let Some(entry) = self.unlisted.get(&meta.id)
                && entry.describes(meta)
            {
                added.push(entry.clone());
                continue;
            }
            let raw = match store.read_raw(meta.id) {
                Ok(raw) => raw,
                Err(RestoreError::UnknownSnapshot { .. }) => return Err(Failure::Replan),
                Err(e) => return Err(self.local(e)),
            };
            object::fits(&raw).map_err(|reason| {
                Failure::Fatal(ReplicateError::Local {
                    url: self.url(),
                    reason,
                })
            })?;
            let bytes = object::encode(&raw);
            drop(raw);
            let entry = Replicated::new(meta, &bytes);
            let size = bytes.len() as u64;
            let name = object_name(meta.id);
            if let Err(e) = bucket.block_on(bucket.put(&name, bytes)) {
                // The server may have stored it all the same (the answer
                // was lost): sweep again once a manifest is written.
                self.swept = false;
                return Err(self.store_error(&name, e));
            }
            done.uploaded += 1;
            done.uploaded_bytes += size;
            self.unlisted.insert(meta.id, entry.clone());
            added.push(entry);
        }
        let mut next = manifest.clone();
        next.extend(added.iter().cloned());
        let gone = keep_last.map(|k| next.retain(k)).unwrap_or_default();
        bucket
            .block_on(bucket.put(
                MANIFEST,
                next.to_bytes().map_err(|reason| {
                    Failure::Fatal(ReplicateError::Local {
                        url: self.url(),
                        reason: format!("{MANIFEST}: {reason}"),
                    })
                })?,
            ))
            .map_err(|e| self.store_error(MANIFEST, e))?;
        done.manifest_written = true;
        for entry in &added {
            self.unlisted.remove(&entry.id);
            self.verified.insert(entry.id);
        }
        for id in &gone {
            self.verified.remove(id);
            let name = object_name(*id);
            if let Err(e) = bucket.block_on(bucket.delete(&name)) {
                // Unnamed now: the next sweep removes it.
                tracing::warn!("{}: could not delete {name}: {e}", self.url());
                self.swept = false;
            }
        }
        // Uploaded by a failed round, and no longer needed by the newest
        // chain (a newer full snapshot superseded them): never named.
        let superseded: Vec<u64> = self.unlisted.keys().copied().collect();
        for id in superseded {
            self.unlisted.remove(&id);
            let name = object_name(id);
            if let Err(e) = bucket.block_on(bucket.delete(&name)) {
                tracing::warn!("{}: could not delete {name}: {e}", self.url());
                self.swept = false;
            }
        }
        self.sweep(&next);
        self.manifest = Some(next);
        Ok(done)
    }

    /// Once per thread (and after a failed upload or delete): deletes the snapshot
    /// objects that no manifest names — left by a run killed between an
    /// upload and its manifest, or by a failed delete.
    fn sweep(&mut self, manifest: &Manifest) {
        if self.swept {
            return;
        }
        let bucket = &self.inner.bucket;
        let names = match bucket.block_on(bucket.list(SNAPSHOTS_DIR)) {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!("{}: could not list {SNAPSHOTS_DIR}/: {e}", self.url());
                return;
            }
        };
        let mut clean = true;
        for name in names {
            let Some(id) = id_of(&name) else { continue };
            if manifest.get(id).is_some() || self.unlisted.contains_key(&id) {
                continue;
            }
            let full = format!("{SNAPSHOTS_DIR}/{name}");
            match bucket.block_on(bucket.delete(&full)) {
                Ok(()) => tracing::debug!("{}: deleted unnamed object {full}", self.url()),
                Err(e) => {
                    clean = false;
                    tracing::warn!("{}: could not delete {full}: {e}", self.url());
                }
            }
        }
        self.swept = clean;
    }
}

/// The refusal of a bucket whose snapshot `entry` is not the file's
/// snapshot of the same id.
fn another_run(entry: &Replicated, meta: &dizzy_snapshots::SnapshotMeta, store: &Store) -> String {
    format!(
        "holds a snapshot {} (tick {}) that is not snapshot {} of {} (tick {}): the bucket holds another run; replicate to another prefix",
        entry.id,
        entry.tick,
        meta.id,
        store.path().display(),
        meta.tick
    )
}
