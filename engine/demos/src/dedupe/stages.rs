//! The dedupe pipeline's systems, one per stage: list directories, compare
//! sizes, hash the ends of files whose size is shared, compare those, hash
//! whole files that still collide, and build the duplicate sets. In a tick,
//! the systems that read the disk run first, then those that decide what
//! is read next. Each stage's result is a component (see
//! [`Stage`]), so a run killed anywhere resumes at the stage it reached.

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use dizzy_components::CommandsExt;

use super::hash;
use super::scan::{self, Entry};
use super::{
    Dedupe, Dir, DuplicateSet, File, HashedThisRun, OwnFiles, PartialHash, Phase, RawPath,
    Settings, Sha256, Stage, StopHashing, Unlisted, Unreadable, path_of,
};

/// The path of an entity as bytes: its raw path if it has one, else its
/// (UTF-8) display path.
fn rel<'a>(path: &'a str, raw: Option<&'a RawPath>) -> &'a [u8] {
    raw.map_or(path.as_bytes(), |r| &r.0)
}

/// The display path and, if it is not UTF-8, the raw path of `bytes`.
fn paths(bytes: Vec<u8>) -> (String, Option<RawPath>) {
    match String::from_utf8(bytes) {
        Ok(s) => (s, None),
        Err(e) => {
            let bytes = e.into_bytes();
            (scan::display(&bytes), Some(RawPath(bytes)))
        }
    }
}

/// What a listed directory holds, as the bundles to spawn: in batches, one
/// per kind (by name within each); a path that is not UTF-8 (rare) keeps
/// its bytes in a `RawPath`, spawned on its own.
#[derive(Default)]
struct Listing {
    dirs: Vec<(Dir, Unlisted)>,
    files: Vec<(File, Stage)>,
    bad: Vec<(File, Stage, Unreadable)>,
    raw_dirs: Vec<(Dir, Unlisted, RawPath)>,
    raw_files: Vec<((File, Stage), RawPath)>,
    raw_bad: Vec<((File, Stage, Unreadable), RawPath)>,
}

impl Listing {
    /// The bundles of `entries` (a big listing made on every core).
    fn of(entries: Vec<Entry>) -> Listing {
        if entries.len() > 1024 {
            return entries
                .into_par_iter()
                .fold(Listing::default, |mut l, e| {
                    l.push(e);
                    l
                })
                .reduce(Listing::default, Listing::then);
        }
        let mut out = Listing::default();
        for entry in entries {
            out.push(entry);
        }
        out
    }

    /// `self`, then `next` (each kind in order).
    fn then(mut self, mut next: Listing) -> Listing {
        self.dirs.append(&mut next.dirs);
        self.files.append(&mut next.files);
        self.bad.append(&mut next.bad);
        self.raw_dirs.append(&mut next.raw_dirs);
        self.raw_files.append(&mut next.raw_files);
        self.raw_bad.append(&mut next.raw_bad);
        self
    }

    /// Adds the bundle of one entry.
    fn push(&mut self, entry: Entry) {
        match entry {
            Entry::Dir(bytes) => match paths(bytes) {
                (path, None) => self.dirs.push((Dir { path }, Unlisted)),
                (path, Some(raw)) => self.raw_dirs.push((Dir { path }, Unlisted, raw)),
            },
            Entry::File(bytes, seen) => {
                let (path, raw) = paths(bytes);
                let file = File {
                    path,
                    size: seen.size,
                    modified_ns: seen.modified_ns,
                    changed_ns: seen.changed_ns,
                    inode: seen.inode,
                };
                match raw {
                    None => self.files.push((file, Stage::Listed)),
                    Some(raw) => self.raw_files.push(((file, Stage::Listed), raw)),
                }
            }
            Entry::Bad(bytes, error) => {
                let (path, raw) = paths(bytes);
                let file = File {
                    path,
                    size: 0,
                    modified_ns: 0,
                    changed_ns: 0,
                    inode: 0,
                };
                let bundle = (file, Stage::Done, Unreadable { error });
                match raw {
                    None => self.bad.push(bundle),
                    Some(raw) => self.raw_bad.push((bundle, raw)),
                }
            }
        }
    }
}

/// Lists a batch of directories (in parallel) and spawns what they hold.
pub fn discover(
    mut commands: Commands,
    settings: Res<Settings>,
    own: Option<Res<OwnFiles>>,
    dirs: Query<(Entity, &Dir, Option<&RawPath>), With<Unlisted>>,
) {
    let own: &[Vec<u8>] = own.as_deref().map_or(&[], |o| &o.0);
    let batch: Vec<(Entity, &[u8])> = dirs
        .iter()
        .take(settings.batch)
        .map(|(e, d, raw)| (e, rel(&d.path, raw)))
        .collect();
    if batch.is_empty() {
        return;
    }
    // Listed and made into bundles on every core.
    let listed: Vec<(Entity, Result<Listing, String>)> = batch
        .par_iter()
        .map(|(e, path)| {
            let listed = scan::list(&settings.root, path).map(|mut entries| {
                entries.retain(|entry| !own.iter().any(|p| p.as_slice() == entry.path()));
                Listing::of(entries)
            });
            (*e, listed)
        })
        .collect();
    for (dir, result) in listed {
        commands.entity(dir).remove::<Unlisted>();
        let l = match result {
            Ok(listing) => listing,
            Err(error) => {
                commands.entity(dir).insert(Unreadable { error });
                continue;
            }
        };
        // No command for what the directory does not hold (most hold no
        // directory, or no file that cannot be read).
        if !l.dirs.is_empty() {
            commands.spawn_batch_caused_by(dir, l.dirs);
        }
        if !l.files.is_empty() {
            commands.spawn_batch_caused_by(dir, l.files);
        }
        if !l.bad.is_empty() {
            commands.spawn_batch_caused_by(dir, l.bad);
        }
        for bundle in l.raw_dirs {
            commands.spawn_caused_by(dir, bundle);
        }
        for bundle in l.raw_files {
            commands.spawn_caused_by(dir, bundle);
        }
        for bundle in l.raw_bad {
            commands.spawn_caused_by(dir, bundle);
        }
    }
}

/// Brings files of a run of an earlier build into this build's pipeline.
/// Files without a [`Stage`] (recorded before there was one) get one: done
/// if they could not be read, listed otherwise (the pipeline takes them
/// from the start; a hash an earlier build took is taken again, as sizes
/// are compared among all files). Small files (at most 8 KiB) that an
/// earlier build hashed whole with SHA-256 and set aside as done, without
/// a partial hash, have their partial hash taken (they are compared with
/// the small files this build hashes); their SHA-256, correct, stays.
pub fn stage_older_files(
    mut commands: Commands,
    files: Query<(Entity, Has<Unreadable>), (With<File>, Without<Stage>)>,
    mut small: Query<
        (&File, &mut Stage),
        (With<Sha256>, Without<PartialHash>, Without<Unreadable>),
    >,
) {
    for (e, bad) in &files {
        let stage = if bad { Stage::Done } else { Stage::Listed };
        commands.entity(e).insert(stage);
    }
    for (f, mut stage) in &mut small {
        if f.size <= 2 * hash::PARTIAL && *stage == Stage::Done {
            *stage = Stage::Partial;
        }
    }
}

/// Sets the stage of the files at `from` by a key: a file whose key no
/// other such file has goes to `alone`, the others to `shared`. In place
/// (no command per file), in O(n log n): the keys are sorted once with
/// their place in the query's order, which the second pass follows.
fn split<K: Ord>(
    files: &mut Query<(&File, Option<&PartialHash>, &mut Stage)>,
    from: Stage,
    key: impl Fn(&File, Option<&PartialHash>) -> Option<K>,
    alone: Stage,
    shared: Stage,
) {
    // (key, place among the files at `from` that have a key).
    let mut keys: Vec<(K, usize)> = Vec::with_capacity(files.iter().len());
    keys.extend(
        files
            .iter()
            .filter(|(_, _, s)| **s == from)
            .filter_map(|(f, p, _)| key(f, p))
            .enumerate()
            .map(|(i, k)| (k, i)),
    );
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut is_shared = vec![false; keys.len()];
    for run in keys.chunk_by(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            for (_, i) in run {
                is_shared[*i] = true;
            }
        }
    }
    // The same files in the same order: the query's archetypes did not
    // change in between.
    let mut place = 0;
    for (f, p, mut s) in files.iter_mut() {
        if *s == from && key(f, p).is_some() {
            *s = if is_shared[place] { shared } else { alone };
            place += 1;
        }
    }
}

/// Once every directory is listed: files whose size no other file has are
/// done (they have no duplicate); the others have their ends hashed next.
pub fn by_size(
    unlisted: Query<(), With<Unlisted>>,
    unstaged: Query<(), (With<File>, Without<Stage>)>,
    mut files: Query<(&File, Option<&PartialHash>, &mut Stage)>,
) {
    if !unlisted.is_empty()
        || !unstaged.is_empty()
        || !files.iter().any(|(_, _, s)| *s == Stage::Listed)
    {
        return;
    }
    let size = |f: &File, _: Option<&PartialHash>| Some(f.size);
    split(&mut files, Stage::Listed, size, Stage::Done, Stage::Partial);
}

/// The files of `stage` to read this tick: at most `batch` files and
/// `batch_bytes` bytes (a bigger file still goes alone).
fn take<'a>(
    settings: &Settings,
    stage: Stage,
    bytes_of: impl Fn(u64) -> u64,
    files: impl Iterator<Item = (Entity, &'a File, Option<&'a RawPath>, &'a Stage)>,
) -> Vec<(Entity, u64, &'a [u8])> {
    let mut bytes = 0u64;
    files
        .filter(|f| *f.3 == stage)
        .take(settings.batch)
        .take_while(|(_, f, _, _)| {
            let first = bytes == 0;
            bytes += bytes_of(f.size);
            first || bytes <= settings.batch_bytes
        })
        .map(|(e, f, raw, _)| (e, f.size, rel(&f.path, raw)))
        .collect()
}

/// Whether the file `e`, just read, is still as it was listed (`now`: what
/// its open file says after the read): its size, modification and change
/// times and inode. One that moved changed since it was listed — a write,
/// a rename onto its path — so its hash may not be the content it was
/// listed with, or the one an earlier stage hashed (found by a fresh
/// tester: a file rewritten between its partial and its full hash took
/// the place of another file's duplicate). A file of a run before the
/// times were recorded is taken as it is.
fn as_listed(
    files: &Query<(Entity, &File, Option<&RawPath>, &Stage)>,
    e: Entity,
    now: Option<scan::Seen>,
) -> Result<(), String> {
    let (Ok((_, listed, _, _)), Some(now)) = (files.get(e), now) else {
        return Ok(());
    };
    match listed.as_listed() {
        Some(then) if then != now => Err(
            "changed since it was listed (its modification or change time, or its inode, moved)"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// Hashes the first and last 4 KiB of a batch of files whose size is
/// shared (small files whole), on every core.
///
/// A partial hash only sorts out which files may be equal, so it is not
/// checked against what the file was when listed (that would be one more
/// `statx` a file, a sixth of the demo's system calls): a file that
/// changed since it was listed is found by [`hash_full`] if its ends
/// match another file's, and by the report's check of every file of a
/// duplicate set; one whose ends match no other file's has no duplicate
/// in what was read, whatever it was listed with.
pub fn hash_partial(
    mut commands: Commands,
    settings: Res<Settings>,
    mut reads: ResMut<HashedThisRun>,
    files: Query<(Entity, &File, Option<&RawPath>, &Stage)>,
) {
    let ends = |size: u64| size.min(2 * hash::PARTIAL);
    let batch = take(&settings, Stage::Partial, ends, files.iter());
    if batch.is_empty() {
        return;
    }
    let results = scan::read_batch(&settings.root, &batch, |f, size| hash::partial_of(&f, size));
    // Files opened and read (not those that could not be).
    reads.0 += results.iter().filter(|(_, r)| r.is_ok()).count() as u64;
    let mut hashed = Vec::new();
    let mut bad = Vec::new();
    for (e, r) in results {
        match r {
            Ok(h) => hashed.push((e, (PartialHash(h), Stage::Compare))),
            Err(error) => bad.push((e, (Unreadable { error }, Stage::Done))),
        }
    }
    // One command per outcome: bevy moves the files to their new
    // archetype together.
    commands.insert_batch(hashed);
    commands.insert_batch(bad);
}

/// Once every file of a shared size has its ends hashed: files whose
/// (size, partial hash) no other file has are done; the others are hashed
/// whole next.
pub fn by_partial(
    unlisted: Query<(), With<Unlisted>>,
    unstaged: Query<(), (With<File>, Without<Stage>)>,
    mut files: Query<(&File, Option<&PartialHash>, &mut Stage)>,
) {
    let waiting = |s: &Stage| matches!(s, Stage::Listed | Stage::Partial);
    if !unlisted.is_empty()
        || !unstaged.is_empty()
        || files.iter().any(|(_, _, s)| waiting(s))
        || !files.iter().any(|(_, _, s)| *s == Stage::Compare)
    {
        return;
    }
    let key = |f: &File, p: Option<&PartialHash>| Some((f.size, p?.0));
    split(&mut files, Stage::Compare, key, Stage::Done, Stage::Full);
}

/// Hashes a batch of whole files whose size and ends are shared, on every
/// core.
/// A file whose hash a stop interrupts keeps its stage: it is hashed
/// again, whole, by the next tick or the next run ([`StopHashing`]).
pub fn hash_full(
    mut commands: Commands,
    settings: Res<Settings>,
    stopping: Option<Res<StopHashing>>,
    mut hashed: ResMut<HashedThisRun>,
    files: Query<(Entity, &File, Option<&RawPath>, &Stage)>,
) {
    let batch = take(&settings, Stage::Full, |size| size, files.iter());
    if batch.is_empty() {
        return;
    }
    let stop = stopping.map(|s| s.0.clone());
    let stop = || stop.as_ref().is_some_and(dizzy::StopHandle::is_requested);
    let results = scan::read_batch(&settings.root, &batch, |f, size| {
        let digest = hash::full_until(&f, size, &stop)?;
        Ok((digest, scan::Seen::of_file(&f)))
    });
    // Files opened and read to their end (not those that could not be).
    hashed.0 += results
        .iter()
        .filter(|(_, r)| matches!(r, Ok((Some(_), _))))
        .count() as u64;
    let mut done = Vec::new();
    let mut bad = Vec::new();
    for (e, r) in results {
        let checked = r.and_then(|(digest, now)| match digest {
            Some(d) => as_listed(&files, e, now).map(|()| Some(d)),
            None => Ok(None),
        });
        match checked {
            Ok(Some(digest)) => done.push((e, (Sha256(digest), Stage::Done))),
            Ok(None) => {}
            Err(error) => bad.push((e, (Unreadable { error }, Stage::Done))),
        }
    }
    commands.insert_batch(done);
    commands.insert_batch(bad);
}

/// When every file is done, groups equal contents into duplicate sets.
pub fn group(
    mut commands: Commands,
    mut state: ResMut<Dedupe>,
    unlisted: Query<(), With<Unlisted>>,
    unstaged: Query<(), (With<File>, Without<Stage>)>,
    stages: Query<&Stage>,
    files: Query<(Entity, &File, Option<&RawPath>, &Sha256), Without<Unreadable>>,
) {
    if state.phase == Phase::Done
        || !unlisted.is_empty()
        || !unstaged.is_empty()
        || stages.iter().any(|s| *s != Stage::Done)
    {
        return;
    }
    // Sorted by content, then by path: equal contents are neighbours.
    let mut by_content: Vec<(([u8; 32], u64), &[u8], Entity)> = files
        .iter()
        .map(|(e, f, raw, h)| ((h.0, f.size), path_of(f, raw), e))
        .collect();
    by_content.sort_unstable();
    for members in by_content.chunk_by(|a, b| a.0 == b.0) {
        if members.len() < 2 {
            continue;
        }
        let (sha256, size) = members[0].0;
        // Caused by its first file (every set has two or more).
        let set = DuplicateSet {
            sha256,
            size,
            files: members.iter().map(|m| m.2).collect(),
        };
        commands.spawn_caused_by(members[0].2, set);
    }
    state.phase = Phase::Done;
}
