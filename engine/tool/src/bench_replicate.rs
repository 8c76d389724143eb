//! `dizzy bench replicate`: what replication costs a run and how far it
//! lags, measured on the particles load in one process: the same run with
//! and without replication, alternating, medians of the repetitions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dizzy::{App, SnapshotPolicy};
use dizzy_cli::{CliError, outln};
use dizzy_demos::particles::{self, Params, ParticlesPlugin};
use dizzy_replicate::{ReplicateOptions, Replication};
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bucket URL to replicate to (`s3://BUCKET/PREFIX`, `file:///DIR`);
    /// each run writes under a prefix of its own below it.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Particles in the world (`100k`, `1M`, `250000`).
    #[arg(long, default_value = "100k", value_parser = crate::bench::one_size, allow_hyphen_values = true)]
    entities: usize,
    /// Ticks per run, at least 1 (a snapshot after every tick the writer is
    /// free for).
    #[arg(long, default_value_t = 300, value_parser = dizzy_cli::parse_at_least_one)]
    ticks: usize,
    /// Fraction of the particles each system updates per tick (0 to 1).
    #[arg(long, default_value_t = 0.01, value_parser = crate::bench::parse_fraction)]
    changed: f64,
    /// Runs of each kind (without, with replication), alternating; at least 1.
    #[arg(long, default_value_t = 3,
          value_parser = dizzy_cli::parse_at_least_one)]
    reps: usize,
    /// An existing directory for the runs' files, which go in a new
    /// directory inside it, removed afterwards (default: the system's temp
    /// dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object (the default prints it pretty).
    #[arg(long)]
    json: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The `q` quantile of `v` (sorted in place).
fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One run of the particles load; with `to`, replicating there.
fn one_run(args: &Args, file: &Path, to: Option<&str>) -> Result<Value, CliError> {
    let commits: Arc<Mutex<Vec<f64>>> = Arc::default();
    let seen = commits.clone();
    let mut app = App::new()
        .db(file)
        .plugin(ParticlesPlugin::default())
        .snapshot_policy(SnapshotPolicy::EVERY_TICK)
        .on_commit(move |c| {
            let latency = now_ms().saturating_sub(c.meta.unix_ms) as f64;
            if let Ok(mut v) = seen.lock() {
                v.push(latency);
            }
        });
    let replication = to
        .map(|url| Replication::start(url, ReplicateOptions::default()))
        .transpose()?;
    if let Some(r) = &replication {
        app = app.replicate_to(r);
    }
    let mut rt = app.open()?;
    let params = Params {
        seed: 1,
        changed: args.changed,
    };
    rt.world_mut().insert_resource(params);
    particles::populate(rt.world_mut(), args.entities, params.seed);
    // The first (full) snapshot, outside the measured ticks.
    rt.snapshot_full()?;
    rt.flush()?;
    if let Some(r) = &replication {
        r.flush(Duration::from_secs(120))?;
    }
    let mut ticks = Vec::with_capacity(args.ticks.min(1 << 20));
    let mut behind = Vec::new();
    let mut seconds = Vec::new();
    let started = Instant::now();
    for _ in 0..args.ticks {
        let t = Instant::now();
        rt.tick()?;
        ticks.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some(r) = &replication {
            let s = r.status();
            behind.push(s.snapshots_behind as f64);
            seconds.push(s.seconds_behind);
        }
    }
    let run_s = started.elapsed().as_secs_f64();
    rt.flush()?;
    let local_done = started.elapsed().as_secs_f64();
    let caught_up = match &replication {
        Some(r) => Some(r.flush(Duration::from_secs(300))?),
        None => None,
    };
    let all_done = started.elapsed().as_secs_f64();
    drop(rt);
    let mut commits = commits.lock().map(|v| v.clone()).unwrap_or_default();
    let snapshots = commits.len().saturating_sub(1);
    let mut report = json!({
        "tick_ms_mean": round2(mean(&ticks)),
        "tick_ms_p50": round2(quantile(&mut ticks, 0.5)),
        "tick_ms_p95": round2(quantile(&mut ticks, 0.95)),
        "tick_ms_max": round2(quantile(&mut ticks, 1.0)),
        "ticks_per_s": round2(args.ticks as f64 / run_s),
        "snapshots": snapshots,
        "snapshots_per_s": round2(snapshots as f64 / run_s),
        "commit_ms_mean": round2(mean(&commits)),
        "commit_ms_p95": round2(quantile(&mut commits, 0.95)),
        "local_durable_s": round2(local_done),
    });
    if let Some(s) = caught_up {
        report["lag_snapshots_mean"] = json!(round2(mean(&behind)));
        // The lag sampled after each tick (p95), and the most the
        // replication itself saw, which also covers the samples (read a
        // moment later than its own figure: a sample may exceed it).
        let (p95_behind, p95_s) = (quantile(&mut behind, 0.95), quantile(&mut seconds, 0.95));
        report["lag_snapshots_p95"] = json!(p95_behind as u64);
        report["lag_snapshots_max"] = json!(s.max_snapshots_behind.max(p95_behind as u64));
        report["lag_s_p95"] = json!(round2(p95_s));
        report["lag_s_max"] = json!(round2(
            s.max_seconds_behind.max(quantile(&mut seconds, 1.0))
        ));
        report["catch_up_ms"] = json!(((all_done - local_done) * 1000.0).round());
        report["uploaded"] = json!(s.uploaded);
        report["uploaded_bytes"] = json!(s.uploaded_bytes);
        report["manifests"] = json!(s.manifests);
        report["failures"] = json!(s.failures);
    }
    Ok(report)
}

/// Per key, the median over the runs.
fn medians(runs: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(Value::Object(first)) = runs.first() {
        for key in first.keys() {
            let mut v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
            let median = quantile(&mut v, 0.5);
            // A count stays a whole number (the median is one of the runs').
            let counts = runs.iter().all(|r| r[key].is_u64());
            out.insert(
                key.clone(),
                if counts {
                    json!(median as u64)
                } else {
                    json!(round2(median))
                },
            );
        }
    }
    Value::Object(out)
}

pub(crate) fn run(args: Args) -> Result<(), CliError> {
    // The URL is checked before the first run, not after it.
    let to = dizzy_replicate::Bucket::open(&args.to)?.url().to_owned();
    crate::bench_dir::check_fits(args.entities, crate::particles::BYTES_PER_ENTITY)?;
    let bench_dir = crate::bench_dir::BenchDir::new(args.dir.as_deref(), "replicate")?;
    let dir = bench_dir.path();
    let stamp = now_ms();
    let result = (|| {
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for rep in 0..args.reps {
            eprintln!(
                "bench: run {} of {} without replication",
                rep + 1,
                args.reps
            );
            let file = dir.join(format!("off-{rep}.redb"));
            without.push(one_run(&args, &file, None)?);
            let _ = std::fs::remove_file(&file);
            eprintln!("bench: run {} of {} with replication", rep + 1, args.reps);
            let url = format!("{}/bench-{stamp}-{rep}", args.to.trim_end_matches('/'));
            let file = dir.join(format!("on-{rep}.redb"));
            with.push(one_run(&args, &file, Some(&url))?);
            let _ = std::fs::remove_file(&file);
        }
        Ok::<_, CliError>((without, with))
    })();
    drop(bench_dir);
    let (without, with) = result?;
    let (off, on) = (medians(&without), medians(&with));
    let ratio = |key: &str| match (on[key].as_f64(), off[key].as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => json!(round2(a / b)),
        _ => Value::Null,
    };
    let report = json!({
        "entities": args.entities,
        "ticks": args.ticks,
        "changed": args.changed,
        "reps": args.reps,
        "to": to,
        "without_replication": off,
        "with_replication": on,
        "tick_ms_mean_ratio": ratio("tick_ms_mean"),
        "snapshots_ratio": ratio("snapshots"),
        "runs_without": without,
        "runs_with": with,
    });
    if args.json {
        outln!("{report}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
