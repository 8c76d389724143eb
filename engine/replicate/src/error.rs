//! One error type per operation; each message names the bucket URL, the
//! object, the file or the snapshot involved. Credentials never appear:
//! URLs are shown without user information or query.

use std::path::PathBuf;

/// A bucket URL could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BucketError {
    /// The text is not a URL this build understands.
    #[error(
        "`{url}`: {reason} (expected s3://BUCKET/PREFIX, file:///ABSOLUTE/DIR or memory:///PREFIX)"
    )]
    Url {
        /// The URL as given (without credentials).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The object store client could not be built (a missing region, a bad
    /// endpoint setting in the environment…).
    #[error("{url}: {source}")]
    Client {
        /// The URL.
        url: String,
        /// The client's error.
        source: Box<object_store::Error>,
    },
    /// The thread that drives the client could not start.
    #[error("{url}: could not start the object storage client: {source}")]
    Runtime {
        /// The URL.
        url: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Replication fell behind for good or was refused; the local file is
/// unaffected (it stays the durability point).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicateError {
    /// The bucket could not be reached for longer than the bound
    /// ([`ReplicateOptions::give_up_after`](crate::ReplicateOptions::give_up_after));
    /// replication keeps retrying in the background.
    #[error(
        "{url}: unreachable for {seconds:.1} s ({snapshots_behind} snapshots behind, still retrying): {last}"
    )]
    Unreachable {
        /// The bucket URL.
        url: String,
        /// How long it has been failing.
        seconds: f64,
        /// Local snapshots not yet in the bucket.
        snapshots_behind: u64,
        /// The last failure.
        last: String,
    },
    /// The bucket holds snapshots of another run (or a newer state of this
    /// one): replicating would mix two histories, so nothing is written.
    #[error("{url}: {reason}")]
    Conflict {
        /// The bucket URL.
        url: String,
        /// What differs.
        reason: String,
    },
    /// The object store refused for good (credentials, permissions).
    #[error("{url}: refused: {reason}")]
    Refused {
        /// The bucket URL.
        url: String,
        /// The store's answer.
        reason: String,
    },
    /// The local file could not be read.
    #[error("{url}: cannot read the local file: {reason}")]
    Local {
        /// The bucket URL.
        url: String,
        /// The file's error.
        reason: String,
    },
    /// [`Replication::flush`](crate::Replication::flush) waited its whole
    /// timeout and the bucket is still behind.
    #[error(
        "{url}: still {snapshots_behind} snapshots behind after waiting {seconds:.1} s{}",
        last.as_ref().map(|l| format!(" (its last attempt failed: {l})")).unwrap_or_default()
    )]
    Timeout {
        /// The bucket URL.
        url: String,
        /// How long it waited.
        seconds: f64,
        /// Local snapshots not yet in the bucket.
        snapshots_behind: u64,
        /// Why the last attempt failed, when attempts were failing.
        last: Option<String>,
    },
}

/// Pulling snapshots out of a bucket into a file failed; no file was
/// created (at most a temporary one beside it, removed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The URL could not be opened.
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// The bucket holds no replicated snapshot under this prefix.
    #[error(
        "{url}: holds no replicated snapshot (no manifest.json under this prefix, or no such bucket: check the bucket and prefix names)"
    )]
    Empty {
        /// The bucket URL.
        url: String,
    },
    /// The manifest is damaged, or of a newer format.
    #[error("{url}: manifest.json: {reason}")]
    Manifest {
        /// The bucket URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The snapshot asked for is not in the bucket (or its chain is broken).
    #[error("{url}: {reason}")]
    NoSnapshot {
        /// The bucket URL.
        url: String,
        /// Which snapshot, and what is missing.
        reason: String,
    },
    /// An object could not be read.
    #[error("{url}: {object}: {source}")]
    Fetch {
        /// The bucket URL.
        url: String,
        /// The object's name under the prefix.
        object: String,
        /// The store's error.
        source: Box<object_store::Error>,
    },
    /// An object is damaged or does not match the manifest.
    #[error("{url}: {object}: {reason}")]
    Corrupt {
        /// The bucket URL.
        url: String,
        /// The object's name under the prefix.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// The target file exists already.
    #[error("{path}: exists already; pull into a new file (or move this one away)")]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// The local file holds older snapshots than the bucket: resuming from
    /// it would fork the history the bucket holds.
    #[error(
        "{path}: holds snapshots up to {local}, and {url} holds snapshots up to {bucket}: move the file away to resume from the bucket"
    )]
    Behind {
        /// The local file.
        path: PathBuf,
        /// The bucket URL.
        url: String,
        /// The file's newest snapshot.
        local: u64,
        /// The bucket's newest snapshot.
        bucket: u64,
    },
    /// An app without a file has nowhere to pull into.
    #[error("the app has no file (in_memory): set one with App::db before App::restore_from")]
    NoFile,
    /// The target file could not be created or read.
    #[error(transparent)]
    Open(#[from] dizzy_snapshots::StoreOpenError),
    /// The local file could not be read.
    #[error(transparent)]
    Read(#[from] dizzy_snapshots::RestoreError),
    /// The snapshots could not be written into the target file.
    #[error(transparent)]
    Insert(#[from] dizzy_snapshots::InsertRawError),
    /// The file could not be moved into place.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Reading or writing one whole object (a bundle) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The URL could not be opened.
    #[error(transparent)]
    Bucket(#[from] BucketError),
    /// No object at this URL.
    #[error("{url}: no such object")]
    Missing {
        /// The object's URL.
        url: String,
    },
    /// An object exists at this URL already (writes make new objects only).
    #[error("{url}: exists already; write to a new object name (an object is never replaced)")]
    Exists {
        /// The object's URL.
        url: String,
    },
    /// The object store failed.
    #[error("{url}: {source}")]
    Store {
        /// The object's URL.
        url: String,
        /// The store's error.
        source: Box<object_store::Error>,
    },
}
