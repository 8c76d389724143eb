//! A note beside a dizzy file saying that the process holding it serves an
//! explorer over it, and where: another process that finds the file in use
//! is told the way in instead of only "in use".
//!
//! The note is `.<file name>.explorer` in the file's directory, a JSON
//! object `{"url", "pid", "started"}` written whole (under a temporary name,
//! then renamed). It is believed only while the process it names is alive
//! and is the same process (its start time, from `/proc`, matches): a note
//! left by a killed process, or by a process whose id was reused, says
//! nothing. Where `/proc` does not exist no note is believed.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The note's contents.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Note {
    url: String,
    pid: u32,
    started: u64,
}

/// Notes larger than this are not read (they are not ours).
const MAX_NOTE: u64 = 4096;

/// Where the note of the dizzy file `db` goes.
pub fn note_path(db: &Path) -> PathBuf {
    let name = db.file_name().unwrap_or_default().to_string_lossy();
    db.with_file_name(format!(".{name}.explorer"))
}

/// The start time of process `pid` (clock ticks after boot, field 22 of
/// `/proc/<pid>/stat`), if it lives.
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The explorer address a live process announced for `db`, if any (see
/// the module documentation for when a note is believed).
pub fn announced(db: &Path) -> Option<String> {
    let path = note_path(db);
    let meta = std::fs::metadata(&path).ok()?;
    if meta.len() > MAX_NOTE {
        return None;
    }
    let note: Note = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    (started(note.pid)? == note.started).then_some(note.url)
}

/// A note announcing an explorer; removed when dropped (unless another
/// process has replaced it meanwhile).
#[derive(Debug)]
pub struct Announcement {
    path: PathBuf,
    note: Note,
}

/// Writes the note saying that this process serves an explorer over `db`
/// at `url`; the note lasts as long as the returned [`Announcement`].
///
/// # Errors
/// The I/O error when the note cannot be written beside `db` (a read-only
/// directory, for example), or when `/proc` does not tell this process's
/// start time (the note could not be told from a stale one).
pub fn announce(db: &Path, url: &str) -> io::Result<Announcement> {
    let pid = std::process::id();
    let started = started(pid).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "/proc does not tell this process's start time",
        )
    })?;
    let note = Note {
        url: url.to_owned(),
        pid,
        started,
    };
    let path = note_path(db);
    let tmp = path.with_file_name(format!(
        "{}.{pid}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let bytes = serde_json::to_vec(&note).map_err(io::Error::other)?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
    Ok(Announcement { path, note })
}

impl Announcement {
    /// The address announced.
    pub fn url(&self) -> &str {
        &self.note.url
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        let ours = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Note>(&b).ok())
            .is_some_and(|n| n == self.note);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_believed_while_its_process_lives() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.redb");
        assert_eq!(announced(&db), None);
        let a = announce(&db, "http://127.0.0.1:4000/").unwrap();
        assert_eq!(announced(&db).as_deref(), Some("http://127.0.0.1:4000/"));
        assert_eq!(a.url(), "http://127.0.0.1:4000/");
        drop(a);
        assert_eq!(announced(&db), None);
        assert!(!note_path(&db).exists());
    }

    #[test]
    fn stale_notes_say_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.redb");
        // This process's id with another start time: a reused id.
        let me = std::process::id();
        let stale = |pid: u32, started: u64| {
            let note = Note {
                url: "http://127.0.0.1:1/".into(),
                pid,
                started,
            };
            std::fs::write(note_path(&db), serde_json::to_vec(&note).unwrap()).unwrap();
        };
        stale(me, super::started(me).unwrap() + 1);
        assert_eq!(announced(&db), None);
        // A process that does not exist.
        stale(u32::MAX - 1, 0);
        assert_eq!(announced(&db), None);
        std::fs::write(note_path(&db), b"not json").unwrap();
        assert_eq!(announced(&db), None);
        // A note another process replaced is not removed by the first.
        let a = announce(&db, "http://127.0.0.1:2/").unwrap();
        let b = announce(&db, "http://127.0.0.1:3/").unwrap();
        drop(a);
        assert_eq!(announced(&db).as_deref(), Some("http://127.0.0.1:3/"));
        drop(b);
    }
}
