//! `--replicate URL` and `--restore-from URL` for the demos: the run's
//! snapshots shipped to a bucket as they commit, and a run started in an
//! empty directory resumed from the bucket.

use std::time::Duration;

use dizzy::{App, Runtime};
use dizzy_cli::CliError;
use dizzy_replicate::{ReplicateOptions, Replication, Status};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// Replicate every committed snapshot to this bucket URL
    /// (`s3://BUCKET/PREFIX`, `file:///DIR`); credentials come from the
    /// environment (`AWS_ACCESS_KEY_ID`, … and `AWS_ENDPOINT_URL` for an
    /// S3-compatible server).
    #[arg(long, value_name = "URL")]
    replicate: Option<String>,
    /// If the file is missing, resume from the snapshots replicated to this
    /// bucket URL (a new machine, an empty directory).
    #[arg(long, value_name = "URL")]
    restore_from: Option<String>,
    /// How long the bucket may fail before replication reports an error
    /// (seconds).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    replicate_give_up: Duration,
}

/// A number of seconds, 0 or more (`30`, `0.5`).
fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("`{s}`: expected a number of seconds, 0 or more (30, 0.5)"))
}

/// A demo's replication, if it asked for one.
pub(crate) struct Replicating {
    replication: Option<Replication>,
    bound: Duration,
    /// `--restore-from`, with whether the file was missing before the open.
    restore_from: Option<(String, bool)>,
}

impl Replicating {
    /// Prepares `app`: pulls from `--restore-from` if its file is missing,
    /// and hands its commits to `--replicate`.
    pub(crate) fn attach(
        args: &Args,
        db: &std::path::Path,
        mut app: App,
    ) -> Result<(App, Replicating), CliError> {
        let restore_from = args
            .restore_from
            .clone()
            .map(|url| (url, std::fs::symlink_metadata(db).is_err()));
        if let Some(url) = &args.restore_from {
            app = app.restore_from(url)?;
        }
        let bound = args.replicate_give_up;
        let replication = args
            .replicate
            .as_deref()
            .map(|url| Replication::start(url, ReplicateOptions::default().give_up_after(bound)))
            .transpose()?;
        if let Some(r) = &replication {
            app = app.replicate_to(r);
        }
        Ok((
            app,
            Replicating {
                replication,
                bound,
                restore_from,
            },
        ))
    }

    /// After the app opened: ships what a killed run committed and never
    /// replicated.
    pub(crate) fn opened(&self, rt: &Runtime) {
        // A bucket that held nothing to restore from (a new run's first
        // start, or a mistyped URL): say so, rather than look resumed.
        if let Some((url, true)) = &self.restore_from
            && rt.resumed_from().is_none()
        {
            eprintln!(
                "{url}: holds no replicated snapshot; started a new run (check the bucket and prefix if you meant to resume)"
            );
        }
        if let (Some(r), Some(store)) = (&self.replication, rt.store()) {
            r.push(store);
        }
    }

    /// After the runtime closed (which waits for the bucket): the
    /// replication's figures as JSON, or its error.
    pub(crate) fn finish(&self) -> Result<Option<serde_json::Value>, CliError> {
        let Some(r) = &self.replication else {
            return Ok(None);
        };
        let status = r.flush(self.bound + Duration::from_secs(1)).map_err(|e| {
            CliError::new(format!(
                "the run is saved locally, but its replication failed: {e}"
            ))
        })?;
        Ok(Some(status_json(&status)))
    }
}

/// A replication status as one JSON object.
pub(crate) fn status_json(s: &Status) -> serde_json::Value {
    serde_json::json!({
        "url": s.url,
        "replicated": s.replicated,
        "replicated_tick": s.replicated_tick,
        "snapshots_behind": s.snapshots_behind,
        "seconds_behind": s.seconds_behind,
        "max_snapshots_behind": s.max_snapshots_behind,
        "max_seconds_behind": s.max_seconds_behind,
        "uploaded": s.uploaded,
        "uploaded_bytes": s.uploaded_bytes,
        "manifests": s.manifests,
        "failures": s.failures,
    })
}
