//! dizzy's snapshots beyond one machine: every committed snapshot replicated
//! to object storage in the background, and pulled back into a file on
//! another machine to resume there.
//!
//! The local commit stays the durability point. A commit listener (see
//! `App::on_commit`) hands each committed snapshot to a [`Replication`],
//! which returns at once; its own thread reads the snapshot's rows out of
//! the file ([`dizzy_snapshots::read_raw`]) and uploads them through the
//! [`object_store`] crate — S3 and S3-compatible servers (`s3://`), local
//! directories (`file://`), memory (`memory://`).
//!
//! # The bucket
//!
//! Under a prefix:
//!
//! ```text
//! manifest.json                       the snapshots the prefix holds (JSON)
//! snapshots/00000000000000000042.dzs  snapshot 42: its record and every chunk, checksummed
//! ```
//!
//! A snapshot becomes visible all at once: its object is written whole
//! first, then the manifest that names it (each a single PUT, which object
//! stores make visible whole or not at all). Readers trust only the
//! manifest, and check every object against the size and SHA-256 it
//! records. A writer killed at any moment leaves the previous manifest and
//! the objects it names intact; an object it wrote without naming it is
//! invisible and deleted by the next writer's sweep. Retention
//! (`keep_last`) applies to the manifest, and the objects it lets go are
//! deleted after the manifest that no longer names them.
//!
//! # Falling behind
//!
//! While an upload is in flight, commits go on: the next round sends the
//! newest snapshot's chain (whatever the bucket lacks of it) and one
//! manifest, so a burst of commits is coalesced and a chain superseded by a
//! newer full snapshot is skipped. Network faults are retried with a
//! growing backoff; once they have lasted longer than
//! [`ReplicateOptions::give_up_after`] they are surfaced as an error
//! ([`Replication::status`], [`Replication::flush`], the log) — never a
//! panic, and never a stall of the world. The lag (snapshots and seconds
//! behind) is logged with each round and reported by [`Replication::status`].
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use dizzy_replicate::{Bucket, ReplicateOptions, Replication};
//! use std::time::Duration;
//!
//! let replication = Replication::start("s3://my-bucket/runs/42", ReplicateOptions::default())?;
//! // ... App::new().db("work.redb").on_commit(replication.listener()).open()?, run ...
//! let status = replication.flush(Duration::from_secs(60))?;
//! println!("{} snapshots behind", status.snapshots_behind);
//!
//! // Elsewhere: the newest replicated chain into a new file, to resume from.
//! let pulled = Bucket::open("s3://my-bucket/runs/42")?.pull("work.redb".as_ref(), None)?;
//! println!("resume at tick {}", pulled.tick);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod bucket;
mod error;
mod manifest;
mod object;
mod pull;
mod replication;
#[cfg(test)]
mod tests;

pub use bucket::{Bucket, is_url, read_object, write_object};
pub use error::{BucketError, PullError, ReplicateError, TransferError};
pub use manifest::Replicated;
pub use pull::{Pulled, Restore, Verified, restore_from};
pub use replication::{ReplicateOptions, Replication, Status};
