//! The report of a finished run: its duplicate sets, each file checked
//! again first, and what the check found recorded in the world, so that
//! the file answers as the report does.

use bevy_ecs::prelude::*;

use super::scan;
use super::{
    ChangedSinceListed, DuplicateSet, File, HashedThisRun, Name, RawPath, Report, SetReport,
    Settings, Unreadable, display, hex, path_of,
};

/// Whether `file`, in its directory, still holds content of `size` bytes
/// hashing to `sha256`: trusted when its size, modification and change
/// times and inode are those it was `listed` with, hashed again (`read`)
/// otherwise. Its directory is opened without following a symlink on its
/// path (as the pipeline does). A file gone, not a regular file, cut or
/// grown, or under a path that moved ([`scan::is_a_move`]) changed; one
/// that cannot be looked at or read now (a directory without permission,
/// an I/O error) is [`Check::Unreadable`].
fn still_holds(
    file: Result<scan::InDir<'_>, &scan::ReadError>,
    listed: &File,
    size: u64,
    sha256: &[u8; 32],
) -> (Check, bool) {
    let not_read = |moved: bool, message: String| match moved {
        true => Check::Changed,
        false => Check::Unreadable(message),
    };
    let file = match file {
        Ok(file) => file,
        Err(e) => return (not_read(e.moved, e.message.clone()), false),
    };
    let now = match file.look() {
        Ok(Some(now)) => now,
        // Not a regular file any more.
        Ok(None) => return (Check::Changed, false),
        Err(e) => return (not_read(scan::is_a_move(&e), e.to_string()), false),
    };
    if now.size != size {
        return (Check::Changed, false);
    }
    if listed.as_listed() == Some(now) {
        return (Check::Same, false);
    }
    let check = match file.sha256(size) {
        // The same content, and the file did not move during the read: it
        // is listed as it is now, so the next report trusts it unread.
        Ok((digest, after)) if &digest == sha256 => match after {
            Some(after) if after == now => Check::Verified(now),
            _ => Check::Same,
        },
        Ok(_) => Check::Changed,
        Err(e) => not_read(e.moved, e.message),
    };
    (check, true)
}

/// What a check of a set's file found.
enum Check {
    /// As listed.
    Same,
    /// Read again: the same content, the file now as given.
    Verified(scan::Seen),
    /// Another content, or gone.
    Changed,
    /// Not known: it could not be looked at or read now (the error).
    Unreadable(String),
}

/// What a check of the sets' files found that the world does not record.
#[derive(Default)]
struct Checked {
    /// Files read.
    reads: u64,
    /// Files that could not be checked, with the error: out of this
    /// report's sets, but left in their sets in the world, unmarked, to be
    /// checked again by the next report.
    unchecked: std::collections::HashMap<Entity, String>,
}

/// Checks the files again (see [`report`]) and records what changed:
/// [`ChangedSinceListed`] on each, out of its duplicate set, and a set
/// left with fewer than two files despawned.
fn check_again(world: &mut World, root: &std::path::Path) -> Checked {
    // Members of the sets: their content, checked (hashed again when their
    // size, times or inode moved), on every core, each directory opened
    // once for the members it holds.
    let mut sets = world.query::<(Entity, &DuplicateSet)>();
    let read: &World = world;
    let sets: Vec<(Entity, &DuplicateSet)> = sets.iter(read).collect();
    // (place of its set, file), the set's size, the file's path.
    let members: Vec<((usize, Entity), u64, &[u8])> = sets
        .iter()
        .enumerate()
        .flat_map(|(i, (_, s))| s.files.iter().map(move |&e| (i, e, s.size)))
        .filter_map(|(i, e, size)| {
            let f = read.get::<File>(e)?;
            Some(((i, e), size, path_of(f, read.get::<RawPath>(e))))
        })
        .collect();
    let checked = scan::in_dirs(root, &members, |file, (i, e), size| {
        match read.get::<File>(e) {
            Some(listed) => still_holds(file, listed, size, &sets[i].1.sha256),
            None => (Check::Same, false),
        }
    });
    let mut found = Checked {
        reads: checked.iter().filter(|(_, (_, r))| *r).count() as u64,
        unchecked: Default::default(),
    };
    // What changed, by set (in the order of the sets).
    let mut gone: Vec<Vec<Entity>> = vec![Vec::new(); sets.len()];
    let mut verified = Vec::new();
    for ((i, e), (check, _)) in checked {
        match check {
            Check::Same => {}
            Check::Verified(now) => verified.push((e, now)),
            Check::Changed => gone[i].push(e),
            Check::Unreadable(error) => {
                found.unchecked.insert(e, error);
            }
        }
    }
    let sets: Vec<Entity> = sets.into_iter().map(|(set, _)| set).collect();
    for (file, now) in verified {
        if let Some(mut f) = world.get_mut::<File>(file) {
            f.modified_ns = now.modified_ns;
            f.changed_ns = now.changed_ns;
            f.inode = now.inode;
        }
    }
    for (set, gone) in sets.into_iter().zip(gone) {
        if gone.is_empty() {
            continue;
        }
        for &file in &gone {
            world.entity_mut(file).insert(ChangedSinceListed);
        }
        let mut set = world.entity_mut(set);
        let left = set.get_mut::<DuplicateSet>().map_or(0, |mut s| {
            s.files.retain(|f| !gone.contains(f));
            s.files.len()
        });
        if left < 2 {
            set.despawn();
        }
    }
    found
}

/// Builds the report from the world. When the run knows its root (it has
/// [`Settings`]), every file of a duplicate set is checked again first:
/// its size, modification and change times and inode, and its content
/// hashed again if they moved — a resumed run may hold hashes taken before
/// the files changed, and a duplicate finder's output is used to delete
/// files. What changed is left out of the sets and counted in
/// [`Report::changed`], and recorded in the world ([`ChangedSinceListed`],
/// the sets without those files, a set left with one file despawned), so
/// that the run's next snapshot, and what `dizzy show` and `export-table`
/// print from it, answer as the report does. (A file that changed before
/// it was hashed whole is found by that hash: unreadable, "changed since
/// it was listed".) A file that cannot be checked now — its directory
/// without permission, an I/O error — is left out of this report's sets
/// and named unreadable, "not checked again: " and the error, but nothing
/// is recorded: the file keeps it in its set, and the next report checks it
/// again.
pub fn report(world: &mut World) -> Report {
    let root = world.get_resource::<Settings>().map(|s| s.root.clone());
    let started = std::time::Instant::now();
    let checked = root
        .as_deref()
        .map_or_else(Checked::default, |r| check_again(world, r));
    tracing::debug!("dedupe: files checked again in {:?}", started.elapsed());
    let mut files = 0;
    let mut bytes = 0;
    let mut unreadable = Vec::new();
    // Directories that could not be listed: what they hold is not in the
    // sets (named with a trailing `/`).
    for (d, raw, bad) in world
        .query::<(&super::Dir, Option<&RawPath>, &Unreadable)>()
        .iter(world)
    {
        let mut path = raw.map_or(d.path.as_bytes(), |r| &r.0).to_vec();
        path.push(b'/');
        unreadable.push((path, bad.error.clone()));
    }
    let mut changed: Vec<Vec<u8>> = Vec::new();
    for (f, raw, bad, moved) in world
        .query::<(
            &File,
            Option<&RawPath>,
            Option<&Unreadable>,
            Has<ChangedSinceListed>,
        )>()
        .iter(world)
    {
        files += 1;
        bytes += f.size;
        if let Some(bad) = bad {
            unreadable.push((path_of(f, raw).to_vec(), bad.error.clone()));
        }
        if moved {
            changed.push(path_of(f, raw).to_vec());
        }
    }
    for (e, error) in &checked.unchecked {
        if let Some(f) = world.get::<File>(*e) {
            let path = path_of(f, world.get::<RawPath>(*e)).to_vec();
            unreadable.push((path, format!("not checked again: {error}")));
        }
    }
    unreadable.sort();
    changed.sort();
    let mut query = world.query::<&DuplicateSet>();
    let world: &World = world;
    let mut sets: Vec<SetReport> = query
        .iter(world)
        .filter_map(|s| {
            let mut paths: Vec<&[u8]> = s
                .files
                .iter()
                .filter(|e| !checked.unchecked.contains_key(e))
                .filter_map(|&e| Some(path_of(world.get::<File>(e)?, world.get::<RawPath>(e))))
                .collect();
            paths.sort();
            (paths.len() > 1).then(|| SetReport {
                sha256: hex(&s.sha256),
                size: s.size,
                names: paths.iter().map(|p| Name::of(p)).collect(),
                paths: paths.into_iter().map(display).collect(),
            })
        })
        .collect();
    sets.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    Report {
        files,
        bytes,
        unreadable: unreadable.len() as u64,
        unreadable_names: unreadable.iter().map(|(p, _)| Name::of(p)).collect(),
        unreadable_files: unreadable
            .into_iter()
            .map(|(p, e)| (display(&p), e))
            .collect(),
        duplicate_sets: sets,
        changed: changed.len() as u64,
        changed_files: changed.iter().map(|p| display(p)).collect(),
        changed_names: changed.iter().map(|p| Name::of(p)).collect(),
        resumed_from_snapshot: None,
        hashed_this_run: world.get_resource::<HashedThisRun>().map_or(0, |h| h.0) + checked.reads,
        snapshot: None,
    }
}
