//! The replication thread: each round reads what the file committed,
//! uploads what the bucket lacks of the newest snapshot's chain, then
//! writes the manifest; faults are retried with backoff.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dizzy_snapshots::{RestoreError, Store};

use crate::error::ReplicateError;
use crate::manifest::{MANIFEST, Manifest, Replicated, SNAPSHOTS_DIR, id_of, object_name};
use crate::object;

use super::{Inner, State};

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
pub(super) struct Worker {
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
    pub(super) fn new(inner: Arc<Inner>) -> Self {
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

    pub(super) fn run(mut self) {
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
        s.last_failure = None;
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
        s.last_failure = Some(why.clone());
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
            // A local file system's refusal that no retry can change (a
            // `file://` URL below a regular file, read-only media).
            other if permanent_io(&other) => Failure::Fatal(ReplicateError::Refused {
                url: self.url(),
                reason: format!("{what}: {other}"),
            }),
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

/// Whether `e` is caused by an I/O error that stays whatever the wait: a
/// path through a regular file or onto a directory, read-only media, no
/// permission.
fn permanent_io(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                K::NotADirectory | K::IsADirectory | K::ReadOnlyFilesystem | K::PermissionDenied
            )
        {
            return true;
        }
        cause = c.source();
    }
    false
}
