//! The flagship demo: a resumable duplicate-file finder, built only with the
//! public API, as a user would build it.
//!
//! Directories and regular files are entities (symlinks are neither followed
//! nor counted). It works as jdupes and fclones do, as a pipeline of
//! systems over components that record each file's [`Stage`]:
//!
//! 1. `discover` lists a batch of directories per tick (in parallel);
//! 2. `by_size`, once everything is listed, sets aside every file whose
//!    size no other file has (it cannot have a duplicate);
//! 3. `hash_partial` hashes the first and last 4 KiB of the others (a
//!    file of at most 8 KiB whole, with the fast XXH3), a batch per tick
//!    on every core;
//! 4. `by_partial` sets aside the files whose (size, [`PartialHash`]) no
//!    other file has;
//! 5. `hash_full` computes the [`Sha256`] of what still collides;
//! 6. `group` makes duplicate-set entities of files of equal content,
//!    referencing their member files.
//!
//! The duplicate sets are exactly those of `sha256sum` over every regular
//! file: empty files are one content; hard links are separate paths to the
//! same content, so they are duplicates of each other (as `sha256sum` and
//! `jdupes -H` say); files that cannot be read are left out and counted.
//! Paths are kept as the file system gives them: a name that is not UTF-8
//! keeps its bytes in [`RawPath`], and its `path` is only for display.
//!
//! Kill it at any moment: the next run resumes from the last snapshot, at
//! the stage each file had reached, and reads again only what was not read
//! before it.
//!
//! Lineage: every file and subdirectory is caused by (`CausedBy`) the
//! directory that listed it, and a duplicate set by the first of its files
//! (by path; `DuplicateSet::files` holds them all), so one run is one
//! correlation rooted at the root directory: `dizzy trace <uid>` shows the
//! directories that led to a duplicate set.

mod hash;
mod report;
mod scan;
mod stages;

use std::path::PathBuf;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use dizzy_systems::{Plugin, Setup};

pub use report::report;
pub use scan::display;
pub use stages::{
    by_partial, by_size, discover, group, hash_full, hash_partial, stage_older_files,
};

/// A directory, by its path relative to the root ("" for the root).
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Dir {
    /// Path relative to the root, `/`-separated; if it is not UTF-8, a
    /// display of it (see [`display`]) and the path is in [`RawPath`].
    pub path: String,
}

/// The bytes of a path that is not UTF-8, exactly as the file system gave
/// them (relative to the root, `/`-separated), on the [`Dir`] or [`File`]
/// whose `path` only displays it.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RawPath(pub Vec<u8>);

/// Marks a directory that is not listed yet.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unlisted;

/// A regular file.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Path relative to the root, `/`-separated; if it is not UTF-8, a
    /// display of it (see [`display`]) and the path is in [`RawPath`].
    pub path: String,
    /// Size in bytes when it was listed.
    pub size: u64,
    /// Modification time when it was listed, in nanoseconds since the
    /// epoch (0: unknown, as in files of runs before it was recorded).
    #[serde(default)]
    pub modified_ns: u64,
    /// Status change time (`ctime`) when it was listed, in nanoseconds
    /// since the epoch (0: unknown). A write, a rename onto this path and
    /// setting the modification time back all change it.
    #[serde(default)]
    pub changed_ns: u64,
    /// Inode number when it was listed (0: unknown). Another file moved
    /// onto this path has another.
    ///
    /// The report trusts a file's hash only if its size, both times and its
    /// inode are what they were when it was listed; otherwise it hashes the
    /// file again.
    #[serde(default)]
    pub inode: u64,
}

impl File {
    /// What the file was when it was listed (`None`: a file of a run
    /// before the times and inode were recorded, which only its content
    /// can vouch for).
    pub(crate) fn as_listed(&self) -> Option<scan::Seen> {
        (self.modified_ns != 0 && self.inode != 0).then_some(scan::Seen {
            size: self.size,
            modified_ns: self.modified_ns,
            changed_ns: self.changed_ns,
            inode: self.inode,
        })
    }
}

/// Where a file is in the pipeline: what happens to it next.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Listed; its size is compared with the others' once everything is
    /// listed.
    Listed,
    /// Another file has its size: its ends are hashed next.
    Partial,
    /// Its [`PartialHash`] is known and is compared with the others'.
    Compare,
    /// Another file has its size and partial hash: it is hashed whole next.
    Full,
    /// Nothing left to do: it has a [`Sha256`], or no duplicate (its size
    /// or partial hash is its own), or it is [`Unreadable`].
    Done,
}

/// The partial hash of a file whose size another file has: for a file of
/// more than 8 KiB, a hash of its first and last 4 KiB (the first 8 bytes
/// of their SHA-256); for a smaller one, the XXH3 (64 bits) of all of it.
/// Files whose size and partial hash are shared get their [`Sha256`].
/// Stored in a sparse set, as bevy advises for a component added to many
/// entities one batch at a time: adding it moves no table row.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[component(storage = "SparseSet")]
pub struct PartialHash(pub u64);

/// A file's SHA-256 (of files whose size and partial hash another file
/// has: those that may have a duplicate). Stored in a sparse set, as
/// [`PartialHash`].
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[component(storage = "SparseSet")]
pub struct Sha256(pub [u8; 32]);

/// A directory or file that could not be read (the error is kept).
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// What went wrong.
    pub error: String,
}

/// A file whose content or listing moved since it was listed, found by
/// the report's check (see [`report`]): left out of its duplicate set (a
/// set left with fewer than two files is despawned) and named in
/// [`Report::changed_files`] by that report and every later one. A run
/// answers for the tree as it was listed; for the tree as it is now, use a
/// new `--db`.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[component(storage = "SparseSet")]
pub struct ChangedSinceListed;

/// Files that share one content.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DuplicateSet {
    /// The content's SHA-256.
    pub sha256: [u8; 32],
    /// The content's size.
    pub size: u64,
    /// The member files, by path.
    #[entities]
    pub files: Vec<Entity>,
}

/// Where the run is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Listing and hashing.
    #[default]
    Scanning,
    /// Duplicate sets are built.
    Done,
}

/// The persisted state of a run.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Dedupe {
    /// The root directory, canonicalized, as [`display`] shows it.
    pub root: String,
    /// Where the run is.
    pub phase: Phase,
}

/// Settings of this process (not persisted).
#[derive(Resource, Clone, Debug)]
pub struct Settings {
    /// The root directory.
    pub root: PathBuf,
    /// Directories listed and files hashed per tick, at most.
    pub batch: usize,
    /// Bytes hashed per tick, at most (a bigger file still goes alone).
    pub batch_bytes: u64,
}

/// Files read by this process, for a partial or a full hash (not
/// persisted).
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct HashedThisRun(pub u64);

/// Paths, relative to the root and as bytes, that the run does not list:
/// the `dizzy` binary puts its own database here when it lies inside the
/// tree (a run from inside the tree would count it, a file that changes
/// with every snapshot). Not persisted.
#[derive(Resource, Clone, Debug, Default)]
pub struct OwnFiles(pub Vec<Vec<u8>>);

/// While present (the `dizzy` binary inserts it with the run's
/// [`dizzy::StopHandle`]), a stop requested while a file is hashed whole is
/// heeded within one read of 128 KiB: the file keeps its stage and is
/// hashed again, whole, by the next run, instead of holding the stop until
/// the end of a file of any size. Not persisted.
#[derive(Resource, Clone, Debug)]
pub struct StopHashing(pub dizzy::StopHandle);

/// The dedupe plugin: its components, its resource and, when it has
/// settings, its six systems (without, it only registers the types, for
/// inspecting a file).
#[derive(Debug, Default)]
pub struct DedupePlugin {
    /// The process settings.
    pub settings: Option<Settings>,
}

impl Plugin for DedupePlugin {
    fn build(&self, app: &mut Setup) {
        app.component::<Dir>("dedupe.dir")
            .component::<Unlisted>("dedupe.unlisted")
            .component::<File>("dedupe.file")
            .component::<RawPath>("dedupe.raw_path")
            .component::<Stage>("dedupe.stage")
            .component::<PartialHash>("dedupe.partial_hash")
            .component::<Sha256>("dedupe.sha256")
            .component::<Unreadable>("dedupe.unreadable")
            .component::<DuplicateSet>("dedupe.duplicate_set")
            .component::<ChangedSinceListed>("dedupe.changed_since_listed")
            .resource("dedupe.state", Dedupe::default());
        if let Some(settings) = &self.settings {
            app.transient_resource(settings.clone())
                .transient_resource(HashedThisRun::default())
                .add_systems(
                    (
                        // Reading the disk: listing and hashing touch
                        // disjoint data, so bevy runs them at once.
                        (discover, (hash_partial, hash_full).chain()),
                        // Deciding: each runs only when its stage is
                        // complete, so they never act in the same tick;
                        // by_size and by_partial set stages in place.
                        (stage_older_files, by_size, by_partial, group).chain(),
                    )
                        .chain(),
                );
            // What the systems' commands create, for the diagram.
            app.declare(discover)
                .creates::<Dir>()
                .creates::<Unlisted>()
                .creates::<File>()
                .creates::<RawPath>()
                .creates::<Stage>()
                .creates::<Unreadable>();
            app.declare(hash_partial)
                .creates::<PartialHash>()
                .creates::<Sha256>()
                .creates::<Unreadable>();
            app.declare(hash_full)
                .creates::<Sha256>()
                .creates::<Unreadable>();
            app.declare(stage_older_files).creates::<Stage>();
            app.declare(by_size).creates::<Stage>();
            app.declare(by_partial).creates::<Stage>();
            app.declare(group).creates::<DuplicateSet>();
        }
    }
}

/// The path of a file as bytes: exactly what the file system gave.
pub fn path_of<'a>(file: &'a File, raw: Option<&'a RawPath>) -> &'a [u8] {
    raw.map_or(file.path.as_bytes(), |r| &r.0)
}

/// Whether the run is finished.
pub fn done(world: &World) -> bool {
    world
        .get_resource::<Dedupe>()
        .is_some_and(|d| d.phase == Phase::Done)
}

/// One duplicate set, as reported.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SetReport {
    /// Hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Paths relative to the root, sorted by their bytes, for display: one
    /// line each and unambiguous (bytes that are not UTF-8 as `\xNN`, a
    /// backslash as `\\`, see [`display`]). Text for people: a program
    /// that opens or deletes the files reads [`SetReport::names`].
    pub paths: Vec<String>,
    /// The same paths, in the same order, exactly as the file system gives
    /// them: `{"text": "…"}` where the name is UTF-8 (a newline in it is
    /// a newline), else `{"bytes": [..]}`, its bytes (as ripgrep's JSON
    /// gives paths).
    pub names: Vec<Name>,
}

/// A path exactly as the file system gives it (see [`SetReport::names`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Name {
    /// A name that is UTF-8.
    Text(String),
    /// A name that is not: its bytes.
    Bytes(Vec<u8>),
}

impl Name {
    /// The name of `path`'s bytes.
    pub fn of(path: &[u8]) -> Name {
        match std::str::from_utf8(path) {
            Ok(text) => Name::Text(text.to_owned()),
            Err(_) => Name::Bytes(path.to_vec()),
        }
    }
}

/// The result of a run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Regular files seen.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Files and directories that could not be read (left out of the
    /// duplicate sets, with everything an unreadable directory holds). A
    /// file whose size no other file has is never opened, so it is never
    /// found unreadable. A file of a set that the report could not check
    /// again (no permission on its directory now, an I/O error) is one of
    /// them, "not checked again: " and the error, for this report only: it
    /// stays in its set in the database file, and the next report checks it
    /// again.
    pub unreadable: u64,
    /// Their paths (for display, as in [`SetReport::paths`]; a directory's
    /// ends with `/`) and errors, sorted by path.
    pub unreadable_files: Vec<(String, String)>,
    /// The same paths, in the same order, exactly as the file system gives
    /// them (as [`SetReport::names`]; a directory's ends with `/`).
    pub unreadable_names: Vec<Name>,
    /// Every content shared by two or more files, by sha256.
    pub duplicate_sets: Vec<SetReport>,
    /// Files of duplicate sets that changed since they were listed, found
    /// when a report checked them again ([`ChangedSinceListed`]: their
    /// size, times or inode moved, and their content with them), left out
    /// of the sets. (A file that changed before it was hashed whole is
    /// unreadable, "changed since it was listed".) The check is of
    /// metadata, as `make` and `rsync` check: a write that moves none of
    /// them is not seen — on Linux, a write through a shared writable
    /// memory map to a page already dirty (the time is set when the page
    /// is first written after the kernel wrote it back) — until the file's
    /// times move; to hash every file again, use a new database file.
    pub changed: u64,
    /// Their paths (for display, as in [`SetReport::paths`]), sorted by
    /// their bytes.
    pub changed_files: Vec<String>,
    /// The same paths, in the same order, exactly as the file system gives
    /// them (as [`SetReport::names`]).
    pub changed_names: Vec<Name>,
    /// The snapshot this run resumed from.
    pub resumed_from_snapshot: Option<u64>,
    /// File reads by this process: for a partial or a full hash, or to
    /// check again, at report time, a file whose modification time changed
    /// (a file hashed at its ends and then whole counts twice).
    pub hashed_this_run: u64,
    /// The last snapshot written (durable).
    pub snapshot: Option<u64>,
}

/// Whether every directory is listed (none is [`Unlisted`]): from then on
/// the run only reads files.
pub fn listed(world: &mut World) -> bool {
    world
        .query_filtered::<(), With<Unlisted>>()
        .iter(world)
        .next()
        .is_none()
}

/// Progress counters: (files seen, files done, directories left).
pub fn progress(world: &mut World) -> (u64, u64, u64) {
    let mut files = 0;
    let mut done = 0;
    for stage in world.query_filtered::<&Stage, With<File>>().iter(world) {
        files += 1;
        done += u64::from(*stage == Stage::Done);
    }
    let left = world
        .query_filtered::<(), With<Unlisted>>()
        .iter(world)
        .count() as u64;
    (files, done, left)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
