//! The flagship demo: a resumable duplicate-file finder, built only with the
//! public API, as a user would build it.
//!
//! Directories and regular files are entities (symlinks are neither followed
//! nor counted). Each tick, one system lists a batch of directories and
//! another hashes a batch of files with SHA-256 on every core; the two touch
//! disjoint components, so bevy runs them at the same time. When nothing is
//! left to list or hash, a third system groups files of equal content into
//! duplicate-set entities that reference their member files. Kill it at any
//! moment: the next run resumes from the last snapshot and hashes only what
//! was not hashed before it.
//!
//! Lineage: every file and subdirectory is caused by (`CausedBy`) the
//! directory that listed it, and a duplicate set by the first of its files
//! (by path; `DuplicateSet::files` holds them all), so one run is one
//! correlation rooted at the root directory: `dizzy trace <uid>` shows the
//! directories that led to a duplicate set.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bevy_ecs::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256 as Hasher};

use dizzy_components::CommandsExt;
use dizzy_systems::{Plugin, Setup};

/// A directory, by its path relative to the root ("" for the root).
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Dir {
    /// Path relative to the root, `/`-separated.
    pub path: String,
}

/// Marks a directory that is not listed yet.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unlisted;

/// A regular file.
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// Size in bytes when it was listed.
    pub size: u64,
    /// Modification time when it was listed, in nanoseconds since the
    /// epoch (0: unknown, as in files of runs before it was recorded). The
    /// report checks size and this time again before it lists a file.
    #[serde(default)]
    pub modified_ns: u64,
}

/// A file's SHA-256.
#[derive(Component, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sha256(pub [u8; 32]);

/// A directory or file that could not be read (the error is kept).
#[derive(Component, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// What went wrong.
    pub error: String,
}

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
    /// The root directory, as given (canonicalized).
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

/// Files hashed by this process (not persisted).
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct HashedThisRun(pub u64);

/// The dedupe plugin: its components, its resource and, when it has
/// settings, its three systems (without, it only registers the types, for
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
            .component::<Sha256>("dedupe.sha256")
            .component::<Unreadable>("dedupe.unreadable")
            .component::<DuplicateSet>("dedupe.duplicate_set")
            .resource("dedupe.state", Dedupe::default());
        if let Some(settings) = &self.settings {
            app.transient_resource(settings.clone())
                .transient_resource(HashedThisRun::default())
                .add_systems(((discover, hash), group).chain());
            // What the systems' commands create, for the diagram.
            app.declare(discover)
                .creates::<Dir>()
                .creates::<Unlisted>()
                .creates::<File>()
                .creates::<Unreadable>();
            app.declare(hash)
                .creates::<Sha256>()
                .creates::<Unreadable>();
            app.declare(group).creates::<DuplicateSet>();
        }
    }
}

fn join(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    }
}

enum Entry {
    Dir(String),
    File(String, u64, u64),
    Bad(String, String),
}

/// Lists one directory: subdirectories and regular files, sorted by name;
/// symlinks and other kinds are skipped.
fn list(root: &Path, rel: &str) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(join(root, rel)).map_err(|e| e.to_string())?;
    for entry in rd {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            let shown = name.to_string_lossy().into_owned();
            out.push(Entry::Bad(
                child(rel, &shown),
                "the name is not UTF-8".into(),
            ));
            continue;
        };
        let path = child(rel, name);
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.push(Entry::Dir(path)),
            Ok(t) if t.is_file() => match entry.metadata() {
                Ok(m) => out.push(Entry::File(path, m.len(), modified_ns(&m))),
                Err(e) => out.push(Entry::Bad(path, e.to_string())),
            },
            Ok(_) => {}
            Err(e) => out.push(Entry::Bad(path, e.to_string())),
        }
    }
    out.sort_by(|a, b| key(a).cmp(key(b)));
    Ok(out)
}

fn key(e: &Entry) -> &str {
    match e {
        Entry::Dir(p) | Entry::File(p, _, _) | Entry::Bad(p, _) => p,
    }
}

fn child(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// Lists a batch of directories (in parallel) and spawns what they hold.
pub fn discover(
    mut commands: Commands,
    settings: Res<Settings>,
    dirs: Query<(Entity, &Dir), With<Unlisted>>,
) {
    let batch: Vec<(Entity, &Dir)> = dirs.iter().take(settings.batch).collect();
    if batch.is_empty() {
        return;
    }
    let listed: Vec<(Entity, Result<Vec<Entry>, String>)> = batch
        .par_iter()
        .map(|(e, d)| (*e, list(&settings.root, &d.path)))
        .collect();
    for (dir, result) in listed {
        commands.entity(dir).remove::<Unlisted>();
        match result {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Entry::Dir(path) => {
                            commands.spawn_caused_by(dir, (Dir { path }, Unlisted));
                        }
                        Entry::File(path, size, modified_ns) => {
                            let file = File {
                                path,
                                size,
                                modified_ns,
                            };
                            commands.spawn_caused_by(dir, file);
                        }
                        Entry::Bad(path, error) => {
                            let file = File {
                                path,
                                size: 0,
                                modified_ns: 0,
                            };
                            let bad = (file, Unreadable { error });
                            commands.spawn_caused_by(dir, bad);
                        }
                    }
                }
            }
            Err(error) => {
                commands.entity(dir).insert(Unreadable { error });
            }
        }
    }
}

fn sha256_file(path: &Path) -> Result<[u8; 32], String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Hashes a batch of files on every core.
pub fn hash(
    mut commands: Commands,
    settings: Res<Settings>,
    mut hashed: ResMut<HashedThisRun>,
    files: Query<(Entity, &File), (Without<Sha256>, Without<Unreadable>)>,
) {
    let mut bytes = 0u64;
    let batch: Vec<(Entity, &File)> = files
        .iter()
        .take(settings.batch)
        .take_while(|(_, f)| {
            let first = bytes == 0;
            bytes += f.size;
            first || bytes <= settings.batch_bytes
        })
        .collect();
    if batch.is_empty() {
        return;
    }
    let results: Vec<(Entity, Result<[u8; 32], String>)> = batch
        .par_iter()
        .map(|(e, f)| (*e, sha256_file(&join(&settings.root, &f.path))))
        .collect();
    hashed.0 += results.len() as u64;
    for (e, r) in results {
        match r {
            Ok(digest) => commands.entity(e).insert(Sha256(digest)),
            Err(error) => commands.entity(e).insert(Unreadable { error }),
        };
    }
}

/// When everything is listed and hashed, groups equal contents into
/// duplicate sets.
pub fn group(
    mut commands: Commands,
    mut state: ResMut<Dedupe>,
    unlisted: Query<(), With<Unlisted>>,
    unhashed: Query<(), (With<File>, Without<Sha256>, Without<Unreadable>)>,
    files: Query<(Entity, &File, &Sha256)>,
) {
    if state.phase == Phase::Done || !unlisted.is_empty() || !unhashed.is_empty() {
        return;
    }
    let mut by_content: HashMap<([u8; 32], u64), Vec<(&str, Entity)>> = HashMap::new();
    for (e, f, h) in &files {
        by_content
            .entry((h.0, f.size))
            .or_default()
            .push((&f.path, e));
    }
    let mut sets: Vec<_> = by_content
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .collect();
    sets.sort_by_key(|s| s.0);
    for ((sha256, size), mut members) in sets {
        members.sort();
        // Caused by its first file (every set has two or more).
        let first = members[0].1;
        let set = DuplicateSet {
            sha256,
            size,
            files: members.into_iter().map(|(_, e)| e).collect(),
        };
        commands.spawn_caused_by(first, set);
    }
    state.phase = Phase::Done;
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
    /// Paths relative to the root, sorted.
    pub paths: Vec<String>,
}

/// The result of a run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Regular files seen.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Files that could not be read.
    pub unreadable: u64,
    /// Every content shared by two or more files, by sha256.
    pub duplicate_sets: Vec<SetReport>,
    /// Files of duplicate sets that changed since they were listed (size,
    /// modification time and content checked again at report time), left
    /// out of the sets.
    pub changed: u64,
    /// The snapshot this run resumed from.
    pub resumed_from_snapshot: Option<u64>,
    /// Files hashed by this process.
    pub hashed_this_run: u64,
    /// The last snapshot written (durable).
    pub snapshot: Option<u64>,
}

/// Progress counters: (files seen, files hashed, directories left).
pub fn progress(world: &mut World) -> (u64, u64, u64) {
    let files = world.query_filtered::<(), With<File>>().iter(world).count() as u64;
    let hashed = world
        .query_filtered::<(), (With<File>, With<Sha256>)>()
        .iter(world)
        .count() as u64;
    let left = world
        .query_filtered::<(), With<Unlisted>>()
        .iter(world)
        .count() as u64;
    (files, hashed, left)
}

/// A file's modification time in nanoseconds since the epoch (0 if the
/// file system does not tell).
fn modified_ns(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Whether the file at `path` still holds content of `size` bytes hashing
/// to `sha256`: trusted when its size and modification time are those it
/// was listed with, hashed again otherwise.
fn still_holds(path: &Path, listed: &File, size: u64, sha256: &[u8; 32]) -> bool {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !m.is_file() || m.len() != size {
        return false;
    }
    if listed.modified_ns != 0 && m.len() == listed.size && modified_ns(&m) == listed.modified_ns {
        return true;
    }
    sha256_file(path).is_ok_and(|digest| &digest == sha256)
}

/// Builds the report from the world. Before a file is listed in a
/// duplicate set, its size and modification time are checked again (and
/// its content hashed again if they changed): a resumed run may hold
/// hashes taken before the files changed, and a duplicate finder's output
/// is used to delete files. Files that changed are left out of their sets
/// and counted in [`Report::changed`].
pub fn report(world: &mut World) -> Report {
    let root = world.get_resource::<Settings>().map(|s| s.root.clone());
    let mut changed = 0;
    let mut files = 0;
    let mut bytes = 0;
    let mut unreadable = 0;
    for (f, bad) in world.query::<(&File, Option<&Unreadable>)>().iter(world) {
        files += 1;
        bytes += f.size;
        unreadable += u64::from(bad.is_some());
    }
    let mut sets: Vec<SetReport> = world
        .query::<&DuplicateSet>()
        .iter(world)
        .filter_map(|s| {
            let mut paths: Vec<String> = s
                .files
                .iter()
                .filter_map(|&e| world.get::<File>(e))
                .filter(|f| {
                    let holds = root
                        .as_deref()
                        .is_none_or(|r| still_holds(&join(r, &f.path), f, s.size, &s.sha256));
                    changed += u64::from(!holds);
                    holds
                })
                .map(|f| f.path.clone())
                .collect();
            paths.sort();
            (paths.len() > 1).then(|| SetReport {
                sha256: hex(&s.sha256),
                size: s.size,
                paths,
            })
        })
        .collect();
    sets.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    Report {
        files,
        bytes,
        unreadable,
        duplicate_sets: sets,
        changed,
        resumed_from_snapshot: None,
        hashed_this_run: world.get_resource::<HashedThisRun>().map_or(0, |h| h.0),
        snapshot: None,
    }
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
