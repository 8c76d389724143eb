//! The dedupe pipeline's systems, one per stage: list directories, compare
//! sizes, hash the ends of files whose size is shared, compare those, hash
//! whole files that still collide, and build the duplicate sets. In a tick,
//! the systems that read the disk run first, then those that decide what
//! is read next. Each stage's result is a component (see
//! [`Stage`]), so a run killed anywhere resumes at the stage it reached.

use std::collections::HashMap;
use std::hash::Hash;

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use dizzy_components::CommandsExt;

use super::scan::{self, Entry};
use super::{
    Dedupe, Dir, DuplicateSet, File, HashedThisRun, PartialHash, Phase, RawPath, Settings, Sha256,
    Stage, Unlisted, Unreadable, path_of,
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

/// Lists a batch of directories (in parallel) and spawns what they hold.
pub fn discover(
    mut commands: Commands,
    settings: Res<Settings>,
    dirs: Query<(Entity, &Dir, Option<&RawPath>), With<Unlisted>>,
) {
    let batch: Vec<(Entity, &[u8])> = dirs
        .iter()
        .take(settings.batch)
        .map(|(e, d, raw)| (e, rel(&d.path, raw)))
        .collect();
    if batch.is_empty() {
        return;
    }
    let listed: Vec<(Entity, Result<Vec<Entry>, String>)> = batch
        .par_iter()
        .map(|(e, path)| (*e, scan::list(&settings.root, path)))
        .collect();
    for (dir, result) in listed {
        commands.entity(dir).remove::<Unlisted>();
        let entries = match result {
            Ok(entries) => entries,
            Err(error) => {
                commands.entity(dir).insert(Unreadable { error });
                continue;
            }
        };
        for entry in entries {
            match entry {
                Entry::Dir(bytes) => {
                    let (path, raw) = paths(bytes);
                    let mut e = commands.spawn_caused_by(dir, (Dir { path }, Unlisted));
                    if let Some(raw) = raw {
                        e.insert(raw);
                    }
                }
                Entry::File(bytes, size, modified_ns) => {
                    let (path, raw) = paths(bytes);
                    let file = File {
                        path,
                        size,
                        modified_ns,
                    };
                    let mut e = commands.spawn_caused_by(dir, (file, Stage::Listed));
                    if let Some(raw) = raw {
                        e.insert(raw);
                    }
                }
                Entry::Bad(bytes, error) => {
                    let (path, raw) = paths(bytes);
                    let file = File {
                        path,
                        size: 0,
                        modified_ns: 0,
                    };
                    let mut e =
                        commands.spawn_caused_by(dir, (file, Stage::Done, Unreadable { error }));
                    if let Some(raw) = raw {
                        e.insert(raw);
                    }
                }
            }
        }
    }
}

/// Gives a [`Stage`] to files listed by a run of an earlier build, which
/// did not record one: done if they could not be read, listed otherwise
/// (the pipeline takes them from the start; a hash an earlier build took
/// is taken again, as sizes are compared among all files).
pub fn stage_older_files(
    mut commands: Commands,
    files: Query<(Entity, Has<Unreadable>), (With<File>, Without<Stage>)>,
) {
    for (e, bad) in &files {
        let stage = if bad { Stage::Done } else { Stage::Listed };
        commands.entity(e).insert(stage);
    }
}

/// Entities grouped by a key; what is alone in its group goes to `alone`,
/// the rest to `shared`.
fn split<K: Hash + Eq>(
    commands: &mut Commands,
    items: impl Iterator<Item = (K, Entity)>,
    alone: Stage,
    shared: Stage,
) {
    let mut groups: HashMap<K, Vec<Entity>> = HashMap::new();
    for (k, e) in items {
        groups.entry(k).or_default().push(e);
    }
    for members in groups.into_values() {
        let stage = if members.len() == 1 { alone } else { shared };
        for e in members {
            commands.entity(e).insert(stage);
        }
    }
}

/// Once every directory is listed: files whose size no other file has are
/// done (they have no duplicate); the others have their ends hashed next.
pub fn by_size(
    mut commands: Commands,
    unlisted: Query<(), With<Unlisted>>,
    unstaged: Query<(), (With<File>, Without<Stage>)>,
    files: Query<(Entity, &File, &Stage)>,
) {
    if !unlisted.is_empty()
        || !unstaged.is_empty()
        || !files.iter().any(|(_, _, s)| *s == Stage::Listed)
    {
        return;
    }
    let listed = files
        .iter()
        .filter(|(_, _, s)| **s == Stage::Listed)
        .map(|(e, f, _)| (f.size, e));
    split(&mut commands, listed, Stage::Done, Stage::Partial);
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

/// Hashes the first and last 4 KiB of a batch of files whose size is
/// shared (small files whole), on every core.
pub fn hash_partial(
    mut commands: Commands,
    settings: Res<Settings>,
    mut hashed: ResMut<HashedThisRun>,
    files: Query<(Entity, &File, Option<&RawPath>, &Stage)>,
) {
    let ends = |size: u64| size.min(2 * scan::PARTIAL);
    let batch = take(&settings, Stage::Partial, ends, files.iter());
    if batch.is_empty() {
        return;
    }
    let results: Vec<(Entity, Result<scan::Partial, String>)> = batch
        .par_iter()
        .map(|(e, size, path)| (*e, scan::partial(&scan::join(&settings.root, path), *size)))
        .collect();
    // Files opened and read (not those that could not be).
    hashed.0 += results.iter().filter(|(_, r)| r.is_ok()).count() as u64;
    for (e, r) in results {
        let mut file = commands.entity(e);
        match r {
            Ok(scan::Partial::Whole(digest)) => file.insert((Sha256(digest), Stage::Done)),
            Ok(scan::Partial::Ends(h)) => file.insert((PartialHash(h), Stage::Compare)),
            Err(error) => file.insert((Unreadable { error }, Stage::Done)),
        };
    }
}

/// Once every file of a shared size has its ends hashed: files whose
/// (size, partial hash) no other file has are done; the others are hashed
/// whole next.
pub fn by_partial(
    mut commands: Commands,
    unlisted: Query<(), With<Unlisted>>,
    unstaged: Query<(), (With<File>, Without<Stage>)>,
    files: Query<(Entity, &File, &Stage, Option<&PartialHash>)>,
) {
    let waiting = |s: &Stage| matches!(s, Stage::Listed | Stage::Partial);
    if !unlisted.is_empty()
        || !unstaged.is_empty()
        || files.iter().any(|(_, _, s, _)| waiting(s))
        || !files.iter().any(|(_, _, s, _)| *s == Stage::Compare)
    {
        return;
    }
    let compared = files
        .iter()
        .filter(|(_, _, s, _)| **s == Stage::Compare)
        .filter_map(|(e, f, _, p)| Some(((f.size, p?.0), e)));
    split(&mut commands, compared, Stage::Done, Stage::Full);
}

/// Hashes a batch of whole files whose size and ends are shared, on every
/// core.
pub fn hash_full(
    mut commands: Commands,
    settings: Res<Settings>,
    mut hashed: ResMut<HashedThisRun>,
    files: Query<(Entity, &File, Option<&RawPath>, &Stage)>,
) {
    let batch = take(&settings, Stage::Full, |size| size, files.iter());
    if batch.is_empty() {
        return;
    }
    let results: Vec<(Entity, Result<[u8; 32], String>)> = batch
        .par_iter()
        .map(|(e, size, path)| (*e, scan::full(&scan::join(&settings.root, path), *size)))
        .collect();
    // Files opened and read (not those that could not be).
    hashed.0 += results.iter().filter(|(_, r)| r.is_ok()).count() as u64;
    for (e, r) in results {
        let mut file = commands.entity(e);
        match r {
            Ok(digest) => file.insert((Sha256(digest), Stage::Done)),
            Err(error) => file.insert((Unreadable { error }, Stage::Done)),
        };
    }
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
    let mut by_content: HashMap<([u8; 32], u64), Vec<(&[u8], Entity)>> = HashMap::new();
    for (e, f, raw, h) in &files {
        by_content
            .entry((h.0, f.size))
            .or_default()
            .push((path_of(f, raw), e));
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
