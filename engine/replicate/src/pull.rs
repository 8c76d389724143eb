//! Reading a bucket: the snapshots its manifest names, a chain pulled into
//! a new local file (to resume elsewhere, or to inspect), every object
//! checked.

use std::path::{Path, PathBuf};

use dizzy_snapshots::{RawSnapshot, Store, write_raw};
use futures_util::StreamExt;
use futures_util::stream;

use crate::bucket::Bucket;
use crate::error::PullError;
use crate::manifest::{MANIFEST, Manifest, Replicated, SNAPSHOTS_DIR, id_of, object_name};
use crate::object;

/// Objects fetched at the same time.
const PARALLEL: usize = 4;
/// Times a pull starts over when retention removed an object between the
/// manifest and the object being read.
const ATTEMPTS: usize = 3;

/// A chain pulled into a file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pulled {
    /// The file written.
    pub path: PathBuf,
    /// The snapshot it resumes at (the chain's last).
    pub snapshot: u64,
    /// That snapshot's tick.
    pub tick: u64,
    /// The chain: its full snapshot first.
    pub chain: Vec<u64>,
    /// Bytes fetched.
    pub bytes: u64,
}

/// Which chains a pull fetches.
enum Targets {
    /// The newest snapshot's.
    Newest,
    /// Every snapshot's.
    All,
    /// These snapshots'.
    Chains(Vec<u64>),
}

/// What [`Bucket::verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// Snapshots the manifest names, every one fetched and checked.
    pub snapshots: usize,
    /// Bytes fetched.
    pub bytes: u64,
    /// Snapshot objects the manifest does not name (left by a writer
    /// killed between an upload and its manifest; invisible to readers and
    /// deleted by the writer's next sweep).
    pub unnamed: Vec<String>,
}

/// What [`restore_from`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restore {
    /// The file was missing (or held no snapshot): the chain was pulled.
    Pulled(Pulled),
    /// The file holds snapshots as new as the bucket's (or the bucket could
    /// not be read: the reason): it is used as it is.
    Local {
        /// The file's newest snapshot.
        newest: u64,
        /// Why the bucket was not compared, if it was not.
        unchecked: Option<String>,
    },
    /// Neither the file nor the bucket holds a snapshot: a new run.
    Fresh,
}

impl Bucket {
    async fn manifest(&self) -> Result<Manifest, PullError> {
        match self.get(MANIFEST).await {
            Ok(Some(bytes)) => Manifest::parse(&bytes).map_err(|reason| PullError::Manifest {
                url: self.url().to_owned(),
                reason,
            }),
            Ok(None) => Err(PullError::Empty {
                url: self.url().to_owned(),
            }),
            Err(source) => Err(PullError::Fetch {
                url: self.url().to_owned(),
                object: MANIFEST.to_owned(),
                source: Box::new(source),
            }),
        }
    }

    /// Fetches and checks one snapshot object against its manifest entry.
    /// `Ok(None)`: the object is gone (retention, meanwhile).
    async fn fetch(&self, entry: &Replicated) -> Result<Option<RawSnapshot>, PullError> {
        let name = object_name(entry.id);
        let corrupt = |reason: String| PullError::Corrupt {
            url: self.url().to_owned(),
            object: name.clone(),
            reason,
        };
        let bytes = match self.get(&name).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(source) => {
                return Err(PullError::Fetch {
                    url: self.url().to_owned(),
                    object: name.clone(),
                    source: Box::new(source),
                });
            }
        };
        if bytes.len() as u64 != entry.size {
            return Err(corrupt(format!(
                "{} bytes, but the manifest names {} bytes (truncated or replaced)",
                bytes.len(),
                entry.size
            )));
        }
        let sha256 = object::sha256_hex(&bytes);
        if sha256 != entry.sha256 {
            return Err(corrupt(format!(
                "its SHA-256 is {sha256}, but the manifest names {} (its {} bytes were changed)",
                entry.sha256, entry.size
            )));
        }
        let raw = object::decode(&bytes).map_err(corrupt)?;
        drop(bytes);
        let meta = raw.meta().map_err(corrupt)?;
        let mut differs = entry.differences(&meta);
        if raw.id != entry.id && differs.is_empty() {
            differs.push(format!(
                "id: {} in the manifest, {} in the object's frame",
                entry.id, raw.id
            ));
        }
        if !differs.is_empty() {
            return Err(corrupt(format!(
                "does not hold the snapshot the manifest describes ({})",
                differs.join("; ")
            )));
        }
        Ok(Some(raw))
    }

    async fn fetch_owned(
        &self,
        entry: Replicated,
    ) -> (Replicated, Result<Option<RawSnapshot>, PullError>) {
        let fetched = self.fetch(&entry).await;
        (entry, fetched)
    }

    /// The snapshots the bucket holds, oldest first, from its manifest.
    ///
    /// # Errors
    /// No manifest ([`PullError::Empty`]), a damaged one, or a failure of
    /// the store.
    pub fn snapshots(&self) -> Result<Vec<Replicated>, PullError> {
        self.block_on(self.manifest()).map(|m| m.snapshots)
    }

    /// Pulls the chain of `snapshot` (the newest if `None`) — its full
    /// snapshot and deltas — into a new dizzy file at `dest`, every object
    /// checked against the manifest. The file appears complete or not at
    /// all (it is written under a temporary name beside `dest`).
    ///
    /// # Errors
    /// `dest` exists ([`PullError::Exists`]), the bucket is empty, the
    /// snapshot is not there, an object is damaged, or a failure of the
    /// store or the file.
    pub fn pull(&self, dest: &Path, snapshot: Option<u64>) -> Result<Pulled, PullError> {
        let targets = match snapshot {
            Some(id) => Targets::Chains(vec![id]),
            None => Targets::Newest,
        };
        self.pull_targets(dest, &targets)
    }

    /// Pulls the chains of `snapshots` into a new file at `dest`, as
    /// [`Bucket::pull`] does; every snapshot the bucket holds if
    /// `snapshots` is empty (to inspect its whole history).
    ///
    /// # Errors
    /// As [`Bucket::pull`].
    pub fn pull_many(&self, dest: &Path, snapshots: &[u64]) -> Result<Pulled, PullError> {
        let targets = if snapshots.is_empty() {
            Targets::All
        } else {
            Targets::Chains(snapshots.to_vec())
        };
        self.pull_targets(dest, &targets)
    }

    fn pull_targets(&self, dest: &Path, targets: &Targets) -> Result<Pulled, PullError> {
        if dest.exists() {
            return Err(PullError::Exists {
                path: dest.to_owned(),
            });
        }
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(PullError::Io {
                path: dest.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("directory {} does not exist", dir.display()),
                ),
            });
        }
        // A short name of its own: `dest`'s name may be as long as the file
        // system allows.
        let tmp = dest.with_file_name(format!(".dizzy-{}.pulling", std::process::id()));
        dizzy_snapshots::remove_temporaries_of_dead_processes(&tmp, ".pulling");
        let _ = std::fs::remove_file(&tmp);
        let pulled = Store::open(&tmp)
            .map_err(PullError::from)
            .and_then(|store| self.pull_into(&store, targets));
        let linked = pulled.and_then(|mut p| {
            let io = |source| PullError::Io {
                path: dest.to_owned(),
                source,
            };
            match std::fs::hard_link(&tmp, dest) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(PullError::Exists {
                    path: dest.to_owned(),
                }),
                Err(_) => std::fs::rename(&tmp, dest).map_err(io),
                Ok(()) => Ok(()),
            }?;
            p.path = dest.to_owned();
            Ok(p)
        });
        let _ = std::fs::remove_file(&tmp);
        linked
    }

    /// Inserts the chains of `targets` into `store` (which must hold none
    /// of their ids), one transaction per snapshot.
    fn pull_into(&self, store: &Store, targets: &Targets) -> Result<Pulled, PullError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.block_on(self.pull_once(store, targets)) {
                Err(PullError::NoSnapshot { .. })
                    if attempt < ATTEMPTS && !matches!(targets, Targets::Chains(_)) =>
                {
                    tracing::debug!("{}: an object went away meanwhile; again", self.url());
                }
                other => return other,
            }
        }
    }

    async fn pull_once(&self, store: &Store, targets: &Targets) -> Result<Pulled, PullError> {
        let manifest = self.manifest().await?;
        let no = |reason: String| PullError::NoSnapshot {
            url: self.url().to_owned(),
            reason,
        };
        let newest = manifest.newest().ok_or_else(|| PullError::Empty {
            url: self.url().to_owned(),
        })?;
        let ids: Vec<u64> = match targets {
            Targets::Newest => vec![newest.id],
            Targets::All => manifest.snapshots.iter().map(|s| s.id).collect(),
            Targets::Chains(ids) => ids.clone(),
        };
        let mut wanted = std::collections::BTreeMap::new();
        for &id in &ids {
            for entry in manifest.chain(id).map_err(no)? {
                wanted.insert(entry.id, entry.clone());
            }
        }
        // Ids already inserted (an attempt that started over).
        let have: std::collections::BTreeSet<u64> =
            store.snapshots()?.iter().map(|m| m.id).collect();
        let todo: Vec<Replicated> = wanted
            .values()
            .filter(|e| !have.contains(&e.id))
            .cloned()
            .collect();
        let mut fetches = stream::iter(todo)
            .map(|e| self.fetch_owned(e))
            .buffered(PARALLEL);
        let mut bytes = 0;
        while let Some((entry, fetched)) = fetches.next().await {
            let raw = fetched?.ok_or_else(|| {
                no(format!(
                    "snapshot {} is in the manifest, but its object `{}` is missing from the bucket (deleted, or removed by a newer writer while this pull read it)",
                    entry.id,
                    object_name(entry.id)
                ))
            })?;
            bytes += entry.size;
            write_raw(store, std::slice::from_ref(&raw))?;
        }
        let last_id = ids.iter().copied().max().unwrap_or(newest.id);
        let last = manifest.chain(last_id).map_err(no)?;
        let tip = last
            .last()
            .ok_or_else(|| no(format!("no snapshot {last_id}")))?;
        Ok(Pulled {
            path: store.path().to_owned(),
            snapshot: tip.id,
            tick: tip.tick,
            chain: last.iter().map(|e| e.id).collect(),
            bytes,
        })
    }

    /// Fetches every object the manifest names and checks it (size,
    /// checksum, framing, record); lists the snapshot objects it does not
    /// name.
    ///
    /// # Errors
    /// The first object that is missing or damaged, or a failure of the
    /// store.
    pub fn verify(&self) -> Result<Verified, PullError> {
        self.block_on(async {
            let manifest = self.manifest().await?;
            let mut bytes = 0;
            for entry in &manifest.snapshots {
                if self.fetch(entry).await?.is_none() {
                    return Err(PullError::Corrupt {
                        url: self.url().to_owned(),
                        object: object_name(entry.id),
                        reason: "named by the manifest, but missing".into(),
                    });
                }
                bytes += entry.size;
            }
            let listed = self
                .list(SNAPSHOTS_DIR)
                .await
                .map_err(|source| PullError::Fetch {
                    url: self.url().to_owned(),
                    object: format!("{SNAPSHOTS_DIR}/"),
                    source: Box::new(source),
                })?;
            let unnamed = listed
                .into_iter()
                .filter(|n| id_of(n).is_none_or(|id| manifest.get(id).is_none()))
                .map(|n| format!("{SNAPSHOTS_DIR}/{n}"))
                .collect();
            Ok(Verified {
                snapshots: manifest.snapshots.len(),
                bytes,
                unnamed,
            })
        })
    }
}

/// Prepares `db` to resume from the bucket at `url`: a missing file (or one
/// without snapshots) gets the chain of `snapshot` (the newest if `None`)
/// pulled into it; a file with snapshots at least as new as the bucket's is
/// kept as it is. An empty bucket and no file: a fresh start.
///
/// # Errors
/// The file holds older snapshots than the bucket ([`PullError::Behind`]:
/// resuming from it would fork the bucket's history), or a pull failed.
pub fn restore_from(url: &str, db: &Path, snapshot: Option<u64>) -> Result<Restore, PullError> {
    let bucket = Bucket::open(url)?;
    let local = if db.exists() {
        Store::open_to_read(db)?.latest()?
    } else {
        None
    };
    let Some(newest) = local else {
        let pulled = if db.exists() {
            // A dizzy file without a snapshot: fill it in one transaction.
            let store = Store::open(db)?;
            bucket.pull_into_empty(&store, snapshot)
        } else {
            bucket.pull(db, snapshot)
        };
        return match pulled {
            Ok(p) => {
                tracing::info!(
                    "{}: pulled snapshot {} (tick {}) from {} ({} snapshots, {} bytes)",
                    db.display(),
                    p.snapshot,
                    p.tick,
                    bucket.url(),
                    p.chain.len(),
                    p.bytes
                );
                Ok(Restore::Pulled(p))
            }
            Err(PullError::Empty { .. }) if snapshot.is_none() => Ok(Restore::Fresh),
            Err(e) => Err(e),
        };
    };
    match bucket.snapshots() {
        Ok(list) => match list.last() {
            Some(b) if b.id > newest.id => Err(PullError::Behind {
                path: db.to_owned(),
                url: bucket.url().to_owned(),
                local: newest.id,
                bucket: b.id,
            }),
            _ => Ok(Restore::Local {
                newest: newest.id,
                unchecked: None,
            }),
        },
        Err(PullError::Empty { .. }) => Ok(Restore::Local {
            newest: newest.id,
            unchecked: None,
        }),
        Err(e) => {
            tracing::warn!(
                "{}: resuming from the file; the bucket could not be compared: {e}",
                db.display()
            );
            Ok(Restore::Local {
                newest: newest.id,
                unchecked: Some(e.to_string()),
            })
        }
    }
}

impl Bucket {
    /// Pulls into an existing file without snapshots, all in one transaction.
    fn pull_into_empty(&self, store: &Store, snapshot: Option<u64>) -> Result<Pulled, PullError> {
        self.block_on(async {
            let manifest = self.manifest().await?;
            let target = match snapshot.or(manifest.newest().map(|n| n.id)) {
                Some(t) => t,
                None => {
                    return Err(PullError::Empty {
                        url: self.url().to_owned(),
                    });
                }
            };
            let no = |reason: String| PullError::NoSnapshot {
                url: self.url().to_owned(),
                reason,
            };
            let chain = manifest.chain(target).map_err(no)?;
            let mut raws = Vec::with_capacity(chain.len());
            let mut bytes = 0;
            for entry in &chain {
                let raw = self
                    .fetch(entry)
                    .await?
                    .ok_or_else(|| no(format!("snapshot {} went away", entry.id)))?;
                bytes += entry.size;
                raws.push(raw);
            }
            write_raw(store, &raws)?;
            let last = chain
                .last()
                .ok_or_else(|| no(format!("no snapshot {target}")))?;
            Ok(Pulled {
                path: store.path().to_owned(),
                snapshot: last.id,
                tick: last.tick,
                chain: chain.iter().map(|e| e.id).collect(),
                bytes,
            })
        })
    }
}
