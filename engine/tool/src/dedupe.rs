//! `dizzy demo dedupe`: the flagship, a resumable duplicate-file finder.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dizzy::RunEnd;
use dizzy::SnapshotPolicy;
use dizzy::{App, DEFAULT_DB};
use dizzy_demos::dedupe::{self, Dedupe, DedupePlugin, Dir, Settings, Unlisted};

use dizzy_cli::{CliError, outln};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The directory tree to search (symlinks are not followed).
    dir: PathBuf,
    /// The dizzy file that holds the run.
    #[arg(long, default_value = DEFAULT_DB)]
    db: PathBuf,
    /// Directories listed and files read per tick, at most (and at most
    /// 64 MiB read per tick). Each tick scans the files for its stage, so
    /// fewer, larger ticks cost less; a stop waits for the tick to end.
    #[arg(long, default_value_t = 4096, value_parser = dizzy_cli::parse_at_least_one)]
    batch: usize,
    /// Snapshot every N ticks (`10`) or every duration (`2s`, `500ms`).
    // A value starting with `-` (`-2s`) reaches the parser, which names it.
    #[arg(long, default_value = "2s", value_parser = parse_every, allow_hyphen_values = true)]
    snapshot_every: SnapshotPolicy,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Serve a read-only explorer of the file while the run goes on, at
    /// this address (`127.0.0.1:8740`; port 0: any free port); its URL is
    /// printed on stderr.
    #[arg(long, value_name = "ADDR", value_parser = crate::parse_loopback)]
    serve: Option<std::net::SocketAddr>,
    #[command(flatten)]
    replication: crate::replicate::Args,
}

/// The path of `db` relative to `root` (both resolved), as bytes, when it
/// lies inside the tree.
fn own_file(root: &std::path::Path, db: &std::path::Path) -> Option<Vec<u8>> {
    let db = std::fs::canonicalize(db).ok()?;
    let rel = db.strip_prefix(root).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(rel.as_os_str().as_bytes().to_vec())
    }
    #[cfg(not(unix))]
    {
        Some(rel.to_string_lossy().replace('\\', "/").into_bytes())
    }
}

/// `N` ticks, or a duration with a unit (`ms`, `s`, `m`).
pub(crate) fn parse_every(s: &str) -> Result<SnapshotPolicy, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "`{s}`: expected a number of ticks (10) or a duration of at least 1ms, in ms, s or m (500ms, 2s, 1m)"
        )
    };
    if let Ok(n) = s.parse::<u64>() {
        if n == 0 {
            return Err(bad());
        }
        return Ok(SnapshotPolicy {
            every_ticks: Some(n),
            every: None,
        });
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?);
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    // At least a millisecond, at most what a `Duration` holds.
    let every = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| *d >= Duration::from_millis(1))
        .ok_or_else(bad)?;
    Ok(SnapshotPolicy {
        every_ticks: None,
        every: Some(every),
    })
}

/// A path (the root, `--db`) shown as the demo shows paths ([`dedupe::display`]).
fn shown(path: &std::path::Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        dedupe::display(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        dedupe::display(path.to_string_lossy().as_bytes())
    }
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    // Check the tree before the file is touched.
    let root = std::fs::canonicalize(&args.dir)
        .map_err(|e| CliError::new(format!("{}: {e}", shown(&args.dir))))?;
    if !root.is_dir() {
        return Err(CliError::new(format!(
            "{}: not a directory",
            shown(&args.dir)
        )));
    }
    std::fs::read_dir(&root).map_err(|e| CliError::new(format!("{}: {e}", shown(&args.dir))))?;
    // The root as the file system gives it: two roots that differ only in
    // bytes that are not UTF-8 are two roots.
    let root_str = shown(&root);

    let settings = Settings {
        root: root.clone(),
        batch: args.batch,
        batch_bytes: 64 << 20,
    };
    let app = App::new()
        .db(&args.db)
        .plugin(DedupePlugin {
            settings: Some(settings),
        })
        .snapshot_policy(args.snapshot_every);
    let (app, replicating) =
        crate::replicate::Replicating::attach(&args.replication, &args.db, app)?;
    let mut rt = crate::open_demo(app, "dedupe", &shown(&args.db))?;
    replicating.opened(&rt);
    let _signals = dizzy_cli::on_signals(&rt.stop_handle())?;
    // A signal stops the hashing of a huge file at once, not at its end.
    let stop_hashing = dedupe::StopHashing(rt.stop_handle());
    rt.world_mut().insert_resource(stop_hashing);
    // The database itself, when it lies inside the tree, is not listed.
    if let Some(own) = own_file(&root, &args.db) {
        rt.world_mut().insert_resource(dedupe::OwnFiles(vec![own]));
    }
    let _explorer = crate::serve_explorer(&rt, &args.db, args.serve)?;
    let state = rt.world().resource::<Dedupe>().clone();
    if state.root.is_empty() {
        rt.world_mut().resource_mut::<Dedupe>().root = root_str.clone();
        rt.spawn((
            Dir {
                path: String::new(),
            },
            Unlisted,
        ));
    } else if state.root != root_str {
        return Err(CliError::new(format!(
            "{}: holds a dedupe run of {}, not of {}; use another --db",
            shown(&args.db),
            state.root,
            root_str
        )));
    }

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed} [{bar:30}] {pos}/{len} files done {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let mut last = Instant::now();
    let stop = rt.stop_handle();
    // `run_until`, written out: the last snapshot is queued, then the report
    // is built (its files checked again) while the writer makes that
    // snapshot durable.
    // Once every directory is listed, a snapshot, queued without waiting:
    // a run killed while files are read resumes without listing again, and
    // the writer makes the listing (most of what the file holds) durable
    // while the files are read, not after.
    let mut listed = dedupe::listed(rt.world_mut());
    let end = loop {
        if stop.is_requested() {
            break RunEnd::Interrupted;
        }
        let world = rt.world_mut();
        if let Some(bar) = &bar
            && last.elapsed() >= Duration::from_millis(100)
        {
            last = Instant::now();
            let (files, hashed, dirs) = dedupe::progress(world);
            bar.set_length(files);
            bar.set_position(hashed);
            bar.set_message(if dirs > 0 {
                format!("({dirs} directories to list)")
            } else {
                String::new()
            });
        }
        if dedupe::done(world) {
            break RunEnd::Done;
        }
        rt.tick()?;
        if !listed && dedupe::listed(rt.world_mut()) {
            listed = true;
            rt.snapshot_changes()?;
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = if end == RunEnd::Done {
        rt.snapshot_changes()?;
        Some(dedupe::report(rt.world_mut()))
    } else {
        None
    };
    let snapshot = rt.finish()?.or(rt.resumed_from());
    let Some(mut report) = report else {
        return Err(crate::stopped(
            &rt,
            "interrupted",
            &args.db,
            snapshot,
            args.json,
        ));
    };
    report.resumed_from_snapshot = rt.resumed_from();
    report.snapshot = snapshot;
    rt.close()?;
    let replication = replicating.finish()?;
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        if let Some(r) = replication {
            json["replication"] = r;
        }
        outln!("{json}");
    } else {
        outln!(
            "{} files, {} bytes, {} duplicate sets, {} unreadable ({} file reads by this run{}{})",
            report.files,
            report.bytes,
            report.duplicate_sets.len(),
            report.unreadable,
            report.hashed_this_run,
            if report.changed > 0 {
                format!(", {} changed since listed and left out", report.changed)
            } else {
                String::new()
            },
            report
                .resumed_from_snapshot
                .map_or_else(String::new, |s| format!(", resumed from snapshot {s}"))
        );
        for (path, error) in &report.unreadable_files {
            outln!("unreadable: {path}: {error}");
        }
        for path in &report.changed_files {
            outln!("changed since listed: {path}");
        }
        for set in &report.duplicate_sets {
            outln!("{} {} bytes", set.sha256, set.size);
            for p in &set.paths {
                outln!("  {p}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_every_takes_ticks_or_durations() {
        assert_eq!(parse_every("10").unwrap().every_ticks, Some(10));
        assert_eq!(
            parse_every("2s").unwrap().every,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_every("500ms").unwrap().every,
            Some(Duration::from_millis(500))
        );
        assert!(parse_every("0").is_err());
        let unit = parse_every("2d").unwrap_err();
        assert!(unit.contains("in ms, s or m"), "{unit}");
        assert!(parse_every("fast").is_err());
        for bad in [
            "18446744073709551615s",
            "307445734561825861m",
            "0.0000001s",
            "-1s",
            "nans",
        ] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
