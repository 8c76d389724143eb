//! One error type per fallible operation; each message names the file,
//! snapshot, component or uid involved.

use std::path::PathBuf;

/// Opening a dizzy file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreOpenError {
    /// The path is a directory.
    #[error("{path}: is a directory, not a dizzy file")]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// The path is not a regular file (a device, a named pipe, a socket).
    #[error("{path}: is {kind}, not a dizzy file (a dizzy file is a regular file)")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is (`a character device`, `a named pipe`, ...).
        kind: &'static str,
    },
    /// The path cannot name a file: it ends in `/`, or a part of it that
    /// must be a directory is a file.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Which part, and what it is.
        reason: String,
    },
    /// The file is empty.
    #[error("{path}: is an empty file (0 bytes), not a dizzy file; remove it to start a new one")]
    Empty {
        /// The path.
        path: PathBuf,
    },
    /// The file does not exist (read-only opens).
    #[error("{path}: no such file")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// The path is a symbolic link to a file that does not exist.
    #[error("{path}: is a symbolic link to {target}, which does not exist")]
    DanglingLink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// The file was not closed cleanly and needs a repair (a read-write
    /// open), but cannot be opened for writing here.
    #[error(
        "{path}: was not closed cleanly and needs a repair, which needs write access ({reason}); copy it somewhere writable and open the copy (every committed snapshot is in it), or make the file writable"
    )]
    NeedsRepairReadOnly {
        /// The path.
        path: PathBuf,
        /// Why it cannot be written.
        reason: String,
    },
    /// The file is not a redb database.
    #[error("{path}: not a dizzy file ({reason})")]
    NotRedb {
        /// The path.
        path: PathBuf,
        /// Why: not a redb database (and what redb said), or an old redb
        /// file format.
        reason: String,
    },
    /// A redb database, but written by another program.
    #[error("{path}: a redb database, but not a dizzy file (it has no dizzy metadata)")]
    NotDizzy {
        /// The path.
        path: PathBuf,
    },
    /// The file was not closed cleanly (a crash) and can only be opened
    /// read-write, which repairs it.
    #[error("{path}: was not closed cleanly and needs a repair (open it read-write)")]
    NeedsRepair {
        /// The path.
        path: PathBuf,
    },
    /// Another process has the file open.
    #[error("{path}: is in use by another process{}", explorer.as_ref().map_or_else(String::new, |url| format!(", which serves its explorer at {url} (open that to look at it)")))]
    Locked {
        /// The path.
        path: PathBuf,
        /// The address of the explorer the holding process serves over the
        /// file, if it announced one (see [`served`](crate::served)).
        explorer: Option<String>,
    },
    /// Written by a newer dizzy.
    #[error("{path}: written in dizzy format {found}; this build reads formats up to {supported}")]
    NewerFormat {
        /// The path.
        path: PathBuf,
        /// The file's format version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// Encoded with a codec this build does not have.
    #[error("{path}: encoded with codec `{found}`; this build has `{supported}`")]
    UnknownCodec {
        /// The path.
        path: PathBuf,
        /// The file's codec.
        found: String,
        /// This build's codec.
        supported: &'static str,
    },
    /// An existing file that a read-write open ([`Store::open`](crate::Store::open))
    /// may not write: no write permission, or read-only media. Reading it
    /// ([`Store::open_to_read`](crate::Store::open_to_read)) needs none.
    #[error(
        "{path}: cannot be opened for writing ({source}); make it writable or use another file (reading it needs no write access)"
    )]
    NotWritable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// redb failed.
    #[error("{path}: storage error: {source}")]
    Storage {
        /// The path.
        path: PathBuf,
        /// redb's error.
        source: redb::Error,
    },
    /// The file's pages were changed outside redb (its reader gave up).
    #[error("{path}: the file is damaged ({reason})")]
    Damaged {
        /// The path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// Capturing a snapshot from the world failed; the world is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// A component references an entity that is not persisted.
    #[error(
        "{} references an entity (runtime handle {target:#x}) that has no uid: it was despawned, or never had a persisted component; the snapshot is not written (the file keeps the ones before), use RefPolicy::Drop to save such references as Entity::PLACEHOLDER",
        holder_of(component, *holder)
    )]
    Dangling {
        /// The component's stable name.
        component: String,
        /// The uid holding the reference (0 for a resource).
        holder: u64,
        /// The runtime bits of the target entity.
        target: u64,
    },
    /// Two live entities hold one uid: a `Uid` was inserted by hand on an
    /// entity while another held it.
    #[error(
        "two live entities hold uid {uid} (a `Uid` inserted by hand on one while the other held it): a uid names one entity, and the world hands them out (`Uids::allocate`, or the `Uid` every registered component requires); the snapshot is not written (the file keeps the ones before)"
    )]
    SharedUid {
        /// The uid.
        uid: u64,
    },
    /// Values of a type this build does not register (kept from the file)
    /// are stored at two schemas, which only a build that registers the
    /// type can bring to one.
    #[error(
        "values of `{component}`, a type this build does not register, are stored at {schemas}: this build cannot bring them to one (only a build that registers the type upgrades its values), and a snapshot holding both under one schema would not decode; the snapshot is not written (the file keeps the ones before). Squash, import or export with the app that registers `{component}`, or once it has written a full snapshot"
    )]
    KeptMixed {
        /// The component's stable name.
        component: String,
        /// The two schemas, "version 1 and version 2".
        schemas: String,
    },
    /// A tool (a build of other code than the file's) restored values with
    /// fields its type does not read: a snapshot it wrote would lose them.
    #[error(
        "`{component}` is stored with field(s) `{fields}` that this build's type does not read (it is older than the code that wrote the file): a snapshot written by this tool would lose them from every value it writes; the snapshot is not written (the file keeps the ones before). Use a build of the file's current code"
    )]
    FieldsNotRead {
        /// The component's (or resource's) stable name.
        component: String,
        /// The fields, `Struct.field`.
        fields: String,
    },
    /// A value could not be encoded.
    #[error("component `{component}`: {source}")]
    Codec {
        /// The component's stable name.
        component: String,
        /// The codec's error.
        source: dizzy_components::CodecError,
    },
    /// User code (a type's `Serialize` or `Deserialize`, a `map_entities`)
    /// panicked while the snapshot was encoded; the world is as it was.
    #[error(
        "a value's `Serialize` (or `Deserialize`, `map_entities`) panicked while a snapshot was captured: {message}"
    )]
    Panicked {
        /// The panic's message.
        message: String,
    },
}

/// Writing to the file failed; earlier snapshots are intact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// redb failed.
    #[error("{path}: could not commit snapshot {snapshot}: {source}")]
    Storage {
        /// The path.
        path: PathBuf,
        /// The snapshot that was being written.
        snapshot: u64,
        /// redb's error.
        source: redb::Error,
    },
    /// A delta's base snapshot is not in the file (its commit failed).
    #[error("{path}: snapshot {snapshot} is a delta on snapshot {base}, which was never committed")]
    MissingBase {
        /// The path.
        path: PathBuf,
        /// The delta.
        snapshot: u64,
        /// Its base.
        base: u64,
    },
    /// The writer thread is gone (it panicked or was shut down).
    #[error("{path}: the snapshot writer stopped")]
    Stopped {
        /// The path.
        path: PathBuf,
    },
    /// The store was opened read-only: nothing can be written to it.
    #[error("{path}: is open read-only; snapshots cannot be written to it")]
    ReadOnly {
        /// The path.
        path: PathBuf,
    },
    /// A snapshot's record could not be encoded with the codec.
    #[error("{path}: could not encode the record of snapshot {snapshot}: {source}")]
    Encode {
        /// The path.
        path: PathBuf,
        /// The snapshot whose record it is.
        snapshot: u64,
        /// The codec's error.
        source: dizzy_components::CodecError,
    },
    /// The file's snapshots could not be read when the writer started
    /// (retention needs to know their chains).
    #[error("{path}: reading the snapshots for retention: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// What went wrong reading them.
        source: Box<RestoreError>,
    },
    /// The writer thread panicked (in a commit, a commit listener or a
    /// log subscriber); what it had not committed is not in the file.
    #[error("{path}: the snapshot writer panicked: {message}")]
    Panicked {
        /// The path.
        path: PathBuf,
        /// The panic's message.
        message: String,
    },
    /// The file holds a snapshot with this id or a newer one: another run
    /// committed to it since this run restored it. Nothing was overwritten.
    #[error(
        "{path}: snapshot {snapshot} was not committed: the file already holds snapshot {newest} (another run wrote to it since this run opened it); open it again to resume from there"
    )]
    Overtaken {
        /// The path.
        path: PathBuf,
        /// The snapshot this run tried to commit.
        snapshot: u64,
        /// The newest snapshot the file holds.
        newest: u64,
    },
    /// A stop was requested while waiting for the writer, which had not
    /// finished: snapshots not yet reported committed may be lost.
    #[error(
        "{path}: stopped while waiting for the snapshot writer ({pending} snapshot(s) not yet committed)"
    )]
    Interrupted {
        /// The path.
        path: PathBuf,
        /// Snapshots queued or in flight.
        pending: usize,
    },
}

/// Reading a snapshot or rebuilding a world from it failed; no world is
/// returned, and the file is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The file holds no snapshot.
    #[error("{path}: holds no snapshot")]
    NoSnapshot {
        /// The path.
        path: PathBuf,
    },
    /// No snapshot with this id: never written, or deleted by retention
    /// (`keep_last`) or `compact` (ids are never reused).
    #[error("{path}: no snapshot {id} ({})", held_ids(.held, .ids))]
    UnknownSnapshot {
        /// The path.
        path: PathBuf,
        /// The id asked for.
        id: u64,
        /// How many snapshots the file holds.
        held: u64,
        /// The oldest and the newest snapshot id the file holds, if any.
        ids: Option<(u64, u64)>,
    },
    /// `latest~N` with N snapshots or fewer in the file.
    #[error("{path}: no snapshot {wanted} (the file holds {held} snapshots)")]
    TooFewSnapshots {
        /// The path.
        path: PathBuf,
        /// The snapshot asked for, as written (`latest~5`).
        wanted: String,
        /// How many snapshots the file holds.
        held: usize,
    },
    /// A delta's base is missing.
    #[error("{path}: snapshot {id} is a delta on snapshot {base}, which is missing")]
    BrokenChain {
        /// The path.
        path: PathBuf,
        /// The delta.
        id: u64,
        /// Its missing base.
        base: u64,
    },
    /// The file holds a component this build does not register.
    #[error(
        "{path}: snapshot {snapshot} holds {kind} `{name}`, which this build does not register (register it, or open with `App::unknown_components(Unknown::Skip)` to leave its values out, or `Unknown::Keep` to carry them to the next snapshots)"
    )]
    Unregistered {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// Component or resource.
        kind: dizzy_components::Kind,
        /// Its stable name.
        name: String,
    },
    /// The stored schema version differs from the registered one.
    #[error(
        "{path}: snapshot {snapshot} holds `{name}` version {stored}; this build registers version {current} and no migration between them{fields}"
    )]
    VersionMismatch {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// Stable name.
        name: String,
        /// Version in the file.
        stored: u32,
        /// Version registered.
        current: u32,
        /// The fields that differ, as a note (may be empty).
        fields: String,
    },
    /// An unregistered component cannot be kept: its shape is not recorded.
    #[error(
        "{path}: snapshot {snapshot} holds `{name}`, which this build does not register and cannot keep: the file records no shape for it, so its values cannot be told apart (its type's `Deserialize` refuses every value the shape tracer makes up, or the file was written before format 2); open it with a build that registers the type"
    )]
    Unkeepable {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// Stable name.
        name: String,
    },
    /// Registered as a component but stored as a resource, or the reverse.
    #[error("{path}: `{name}` is a {stored} in snapshot {snapshot} but registered as a {current}")]
    KindMismatch {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// Stable name.
        name: String,
        /// Kind in the file.
        stored: dizzy_components::Kind,
        /// Kind registered.
        current: dizzy_components::Kind,
    },
    /// Data that does not decode.
    #[error("{path}: snapshot {snapshot}, column `{column}`, chunk {chunk}: corrupt: {reason}")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// The column.
        column: String,
        /// The chunk number.
        chunk: u32,
        /// What is wrong.
        reason: String,
    },
    /// A reference to an entity that is not in the snapshot.
    #[error(
        "{path}: snapshot {snapshot}: `{component}` of uid {holder} references uid {target}, which is not in the snapshot"
    )]
    Dangling {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// The component's stable name.
        component: String,
        /// The referencing uid.
        holder: u64,
        /// The missing uid.
        target: u64,
    },
    /// redb failed.
    #[error("{path}: storage error: {source}")]
    Storage {
        /// The path.
        path: PathBuf,
        /// redb's error.
        source: redb::Error,
    },
    /// The file's pages were changed outside redb (its reader gave up).
    #[error("{path}: the file is damaged ({reason})")]
    Damaged {
        /// The path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Values stored with another shape or version that this build cannot
    /// read as its type (the file is fine; the build's type changed).
    #[error("{path}: snapshot {snapshot}: {source}")]
    Incompatible {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// What cannot be read, and the fix.
        source: dizzy_components::UpgradeError,
    },
    /// User code — a type's `Deserialize`, a component hook or an observer —
    /// panicked while the world was restored; the file is fine.
    #[error(
        "{path}: snapshot {snapshot}: `{component}`: {what} panicked while restoring: {message}"
    )]
    Panicked {
        /// The path.
        path: PathBuf,
        /// The snapshot.
        snapshot: u64,
        /// The component's or resource's stable name.
        component: String,
        /// What ran: its Rust type's `Deserialize`, or a hook or observer.
        what: String,
        /// The panic's message.
        message: String,
    },
}

/// What a file holds, for [`RestoreError::UnknownSnapshot`].
fn held_ids(held: &u64, ids: &Option<(u64, u64)>) -> String {
    match (*held, *ids) {
        (0, _) | (_, None) => "the file holds no snapshot".into(),
        (1, Some((id, _))) => format!("the file holds one snapshot, {id}"),
        (n, Some((oldest, newest))) => format!(
            "the file holds {n} snapshots, {oldest} to {newest}; ids are never reused, and \
             one deleted by retention (`keep_last`) or `compact` is gone"
        ),
    }
}

/// "component `name` of uid N", or "resource `name`" (holder 0).
fn holder_of(name: &str, holder: u64) -> String {
    if holder == 0 {
        format!("resource `{name}`")
    } else {
        format!("component `{name}` of uid {holder}")
    }
}
