//! Snapshots beyond one machine (feature `replicate`): an app replicates
//! its committed snapshots to object storage and resumes from a bucket on
//! another machine. See [`dizzy_replicate`].

use dizzy_replicate::{BucketError, PullError, ReplicateOptions, Replication};

use crate::app::App;

impl App {
    /// Ships every committed snapshot to `url` (`s3://BUCKET/PREFIX`,
    /// `file:///DIR`) in the background; the world never waits for the
    /// network. Closing the runtime waits for the bucket to catch up, at
    /// most [`ReplicateOptions::give_up_after`]. Use
    /// [`App::replicate_to`] to watch the lag or set options.
    ///
    /// ```no_run
    /// # use dizzy::prelude::*;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut run = App::new()
    ///     .db("work.redb")
    ///     .restore_from("s3://my-bucket/work")?   // an empty directory resumes from the bucket
    ///     .replicate("s3://my-bucket/work")?
    ///     .open()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The URL cannot be opened ([`BucketError`]); nothing is sent yet.
    pub fn replicate(self, url: &str) -> Result<App, BucketError> {
        let replication = Replication::start(url, ReplicateOptions::default())?;
        Ok(self.replicate_to(&replication))
    }

    /// Hands every committed snapshot to `replication` (see
    /// [`Replication::status`] for its lag, [`Replication::flush`] to wait
    /// for the bucket).
    pub fn replicate_to(self, replication: &Replication) -> App {
        let mut app = self.on_commit(replication.listener());
        // The listener, dropped when the writer closes, waits for the
        // bucket (at most the bound); `close()` then asks how that ended.
        let replication = replication.clone();
        app.close_checks.push(std::sync::Arc::new(move || {
            replication.closed().map(drop).map_err(|e| e.to_string())
        }));
        app
    }

    /// Prepares the app's file to resume from the bucket at `url`: if the
    /// file is missing (a new machine, an empty directory), the newest
    /// replicated chain — or the chain of [`App::at_snapshot`]'s snapshot —
    /// is pulled into it, and [`App::open`] resumes at its tick. A file with
    /// snapshots as new as the bucket's is used as it is; with an empty
    /// bucket and no file, the app starts fresh. Call it after [`App::db`].
    ///
    /// # Errors
    /// The app has no file, the file holds older snapshots than the bucket
    /// ([`PullError::Behind`]), or the pull failed; no file is created then.
    pub fn restore_from(self, url: &str) -> Result<App, PullError> {
        let db = self.db.clone().ok_or(PullError::NoFile)?;
        if self.store.is_some() {
            return Err(PullError::Exists { path: db });
        }
        dizzy_replicate::restore_from(url, &db, self.snapshot)?;
        Ok(self)
    }
}
