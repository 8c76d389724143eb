//! Bucket URLs where a file or a bundle is expected: `--db s3://BUCKET/PREFIX`
//! reads the snapshots replicated there (pulled into a temporary file,
//! read-only), `-o s3://…/x.bundle` and `import s3://…/x.bundle` move
//! bundles through a bucket. Builds without the `replicate` feature refuse
//! URLs with a clear error.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use dizzy_snapshots::{SnapshotRef, Store};

use crate::CliError;

/// Whether `path` is a URL (`s3://…`, `file://…`) rather than a local path.
pub(crate) fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|p| {
        p.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    })
}

/// A store to read: the file itself, or a temporary copy of what a bucket
/// holds (removed when this is dropped).
pub(crate) struct Opened {
    store: Store,
    _pulled: Option<Scratch>,
}

impl Deref for Opened {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// A temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg_attr(not(feature = "replicate"), allow(dead_code))]
impl Scratch {
    fn new() -> Result<Scratch, CliError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("dizzy-pull-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::new(format!("{}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }
}

/// Opens `db` to read it; a bucket URL is pulled first: the chains of
/// `snapshots` (the newest if empty; every snapshot if one is named
/// `latest~N`), or every snapshot with `all`.
pub(crate) fn open(db: &Path, snapshots: &[SnapshotRef], all: bool) -> Result<Opened, CliError> {
    if !is_url(db) {
        return Ok(Opened {
            store: Store::open_to_read(db)?,
            _pulled: None,
        });
    }
    let all = all
        || snapshots
            .iter()
            .any(|s| matches!(s, SnapshotRef::Latest(n) if *n > 0));
    let ids: Vec<u64> = snapshots
        .iter()
        .filter_map(|s| match s {
            SnapshotRef::Id(id) => Some(*id),
            SnapshotRef::Latest(_) => None,
        })
        .collect();
    pull_to_read(db, &ids, all)
}

#[cfg(feature = "replicate")]
fn pull_to_read(db: &Path, snapshots: &[u64], all: bool) -> Result<Opened, CliError> {
    let url = db.to_string_lossy();
    let bucket = dizzy_replicate::Bucket::open(&url)?;
    let scratch = Scratch::new()?;
    let file = scratch.0.join("pulled.redb");
    if all {
        bucket.pull_many(&file, &[])?;
    } else if snapshots.is_empty() {
        bucket.pull(&file, None)?;
    } else {
        bucket.pull_many(&file, snapshots)?;
    }
    Ok(Opened {
        store: Store::open_read_only(&file)?,
        _pulled: Some(scratch),
    })
}

#[cfg(not(feature = "replicate"))]
fn pull_to_read(db: &Path, _: &[u64], _: bool) -> Result<Opened, CliError> {
    Err(no_replication(db))
}

#[cfg(not(feature = "replicate"))]
fn no_replication(url: &Path) -> CliError {
    CliError::new(format!(
        "{}: this build reads no bucket URLs (build dizzy-cli with its `replicate` feature)",
        url.display()
    ))
}

/// The bytes of a bundle: a file, or an object at a URL.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    if is_url(path) {
        #[cfg(feature = "replicate")]
        return Ok(dizzy_replicate::read_object(&path.to_string_lossy())?);
        #[cfg(not(feature = "replicate"))]
        return Err(no_replication(path));
    }
    // A regular file of a plausible size whose header holds, before the
    // rest is read (`/dev/zero` or a huge file that is not a bundle costs
    // nothing); errors name the file.
    dizzy_snapshots::read_bundle_file(path, MAX_BUNDLE_BYTES).map_err(|e| match e {
        dizzy_snapshots::ImportError::File { .. } => CliError::new(e.to_string()),
        other => CliError::new(format!("{}: {other}", path.display())),
    })
}

/// The largest bundle file `import` reads (16 GiB): anything larger is not
/// a plausible bundle here.
const MAX_BUNDLE_BYTES: u64 = 16 << 30;

/// Writes a bundle whole: a file (see [`crate::output::write_file`]), or an
/// object at a URL (one PUT).
pub(crate) fn write(path: &Path, bytes: Vec<u8>) -> Result<(), CliError> {
    if is_url(path) {
        #[cfg(feature = "replicate")]
        return Ok(dizzy_replicate::write_object(
            &path.to_string_lossy(),
            bytes,
        )?);
        #[cfg(not(feature = "replicate"))]
        return Err(no_replication(path));
    }
    crate::output::write_file(path, |out| std::io::Write::write_all(out, &bytes))
}

/// The snapshots a bucket's manifest names, as `dizzy snapshots` lists them.
#[cfg(feature = "replicate")]
pub(crate) fn list(url: &Path) -> Result<Vec<dizzy_replicate::Replicated>, CliError> {
    let bucket = dizzy_replicate::Bucket::open(&url.to_string_lossy())?;
    Ok(bucket.snapshots()?)
}
