//! `dizzy demo particles`: a deterministic simulation under snapshot load.

use std::path::PathBuf;

use dizzy::RunEnd;
use dizzy::SnapshotPolicy;
use dizzy::{App, DEFAULT_DB};
use dizzy_demos::particles::{self, Params, ParticlesPlugin};

use crate::dedupe::parse_every;
use crate::replicate::Replicating;
use dizzy_cli::{CliError, outln};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Number of particles (for a new file).
    #[arg(long, default_value_t = 100_000)]
    entities: usize,
    /// Run until this tick (counted from the start of the file).
    #[arg(long, default_value_t = 100)]
    ticks: u64,
    /// Fraction of the particles each of the three systems updates per tick
    /// (0 to 1).
    #[arg(long, value_parser = crate::bench::parse_fraction)]
    changed: Option<f64>,
    /// Seed of every random choice.
    #[arg(long)]
    seed: Option<u64>,
    /// The dizzy file.
    #[arg(long, default_value = DEFAULT_DB)]
    db: PathBuf,
    /// Snapshot every N ticks (`1`) or every duration (`2s`).
    #[arg(long, default_value = "1", value_parser = parse_every, allow_hyphen_values = true)]
    snapshot_every: SnapshotPolicy,
    /// Keep only the newest K snapshots (and what their chains need); K at
    /// least 1.
    #[arg(long, value_parser = dizzy_cli::parse_at_least_one)]
    keep_last: Option<usize>,
    /// Resume from this snapshot instead of the latest: an id, `latest` or
    /// `latest~N`.
    #[arg(long)]
    snapshot: Option<dizzy::snapshots::SnapshotRef>,
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

/// What a particle costs a run's process at its peak, about: measured as
/// the maximum RSS of `dizzy bench replicate --entities 1000000 --ticks 30`
/// (`/usr/bin/time -v`, build of 2026-12-04), 354 bytes; this is that, plus
/// a third.
pub(crate) const BYTES_PER_ENTITY: u64 = 480;

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    // A new run populates `--entities`: refused before the file is made
    // when they would not fit in memory.
    if std::fs::symlink_metadata(&args.db).is_err() {
        crate::bench_dir::check_fits(args.entities, BYTES_PER_ENTITY)?;
    }
    let mut app = App::new()
        .db(&args.db)
        .plugin(ParticlesPlugin::default())
        .snapshot_policy(args.snapshot_every);
    if let Some(k) = args.keep_last {
        app = app.keep_last(k);
    }
    if let Some(at) = args.snapshot {
        let id = match at {
            dizzy::snapshots::SnapshotRef::Id(id) => id,
            // `latest~N` names a snapshot of the file as it is now.
            other => other.resolve(&dizzy::Store::open_to_read(&args.db)?)?,
        };
        app = app.at_snapshot(id);
    }
    let (app, replicating) = Replicating::attach(&args.replication, &args.db, app)?;
    let mut rt = crate::open_demo(app, "particles", &args.db.display().to_string())?;
    replicating.opened(&rt);
    let _signals = dizzy_cli::on_signals(&rt.stop_handle())?;
    let _explorer = crate::serve_explorer(&rt, &args.db, args.serve)?;
    let wanted = Params {
        seed: args.seed.unwrap_or(Params::default().seed),
        changed: args.changed.unwrap_or(Params::default().changed),
    };
    if rt.resumed_from().is_none() {
        rt.world_mut().insert_resource(wanted);
        particles::populate(rt.world_mut(), args.entities, wanted.seed);
    } else {
        let stored = *rt.world().resource::<Params>();
        if args.seed.is_some_and(|s| s != stored.seed)
            || args.changed.is_some_and(|c| c != stored.changed)
        {
            return Err(CliError::new(format!(
                "{}: holds a run with --seed {} --changed {}; use another --db for other parameters",
                args.db.display(),
                stored.seed,
                stored.changed
            )));
        }
    }
    let target = args.ticks;
    let (started, from_tick) = (std::time::Instant::now(), rt.tick_count());
    let end = rt.run_until(|w| w.resource::<dizzy::TickCount>().0 >= target)?;
    let snapshot = rt.flush()?.or(rt.resumed_from());
    let run_ms = started.elapsed().as_secs_f64() * 1e3;
    let ticks_run = rt.tick_count() - from_tick;
    if end == RunEnd::Interrupted {
        let what = format!("interrupted at tick {}", rt.tick_count());
        return Err(crate::stopped(&rt, &what, &args.db, snapshot, args.json));
    }
    let checksum = particles::checksum(rt.world_mut());
    let entities = rt.world().resource::<dizzy::Uids>().len();
    let mut report = serde_json::json!({
        "ticks": rt.tick_count(),
        "checksum": checksum,
        "entities": entities,
        "resumed_from_snapshot": rt.resumed_from(),
        "snapshot": snapshot,
        "ticks_this_run": ticks_run,
        "run_ms": (run_ms * 10.0).round() / 10.0,
    });
    // `close` snapshots what changed since the last snapshot (the last
    // ticks, when no automatic snapshot was due at the end): the report
    // names the snapshot the file ends with.
    if let Some(id) = rt.close()? {
        report["snapshot"] = id.into();
    }
    if let Some(replication) = replicating.finish()? {
        report["replication"] = replication;
    }
    if args.json {
        outln!("{report}");
    } else {
        outln!(
            "tick {} with {entities} particles, checksum {checksum}{}",
            report["ticks"],
            rt_resumed(&report)
        );
    }
    Ok(())
}

fn rt_resumed(report: &serde_json::Value) -> String {
    report["resumed_from_snapshot"]
        .as_u64()
        .map_or_else(String::new, |s| format!(" (resumed from snapshot {s})"))
}
