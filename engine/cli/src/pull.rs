//! `dizzy pull`: the newest replicated chain (or a snapshot's) out of a
//! bucket into a new file — to resume a run on this machine, or to look
//! inside it.

use std::path::PathBuf;

use dizzy_snapshots::SnapshotRef;

use crate::CliError;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bucket URL (`s3://BUCKET/PREFIX`, `file:///DIR`).
    url: String,
    /// The dizzy file to create (it must not exist).
    #[arg(long)]
    db: PathBuf,
    /// Pull this snapshot's chain instead of the newest: an id, `latest`
    /// or `latest~N` (N snapshots before the bucket's newest).
    #[arg(long)]
    snapshot: Option<SnapshotRef>,
    /// Pull every snapshot the bucket holds (its whole history).
    #[arg(long, conflicts_with = "snapshot")]
    all: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let bucket = dizzy_replicate::Bucket::open(&args.url)?;
    let pulled = if args.all {
        bucket.pull_many(&args.db, &[])?
    } else {
        let snapshot = match args.snapshot {
            None => None,
            Some(SnapshotRef::Id(id)) => Some(id),
            Some(r @ SnapshotRef::Latest(_)) => {
                let mut ids: Vec<u64> = bucket.snapshots()?.iter().map(|s| s.id).collect();
                ids.sort_unstable();
                Some(r.pick(&ids).ok_or_else(|| {
                    CliError::new(format!(
                        "{}: holds {} snapshot(s): `{r}` names none",
                        bucket.url(),
                        ids.len()
                    ))
                })?)
            }
        };
        bucket.pull(&args.db, snapshot)?
    };
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "db": pulled.path.display().to_string(),
                "url": bucket.url(),
                "snapshot": pulled.snapshot,
                "tick": pulled.tick,
                "chain": pulled.chain,
                "bytes": pulled.bytes,
            })
        );
    } else {
        outln!(
            "{}: snapshot {} (tick {}) from {}, {} snapshots in its chain, {} bytes",
            pulled.path.display(),
            pulled.snapshot,
            pulled.tick,
            bucket.url(),
            pulled.chain.len(),
            pulled.bytes
        );
    }
    Ok(())
}
