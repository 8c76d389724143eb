//! The real `dizzy` binary, running the particles demo with a snapshot after
//! every tick, is killed with SIGKILL at random moments (during start-up,
//! a crash repair, a restore, a tick or a commit), again and again on the
//! same file, each run resuming where the previous one's file stands. After
//! every kill the file opens; every snapshot the process reported durable
//! ("committed snapshot N" on stderr) is in it; and the latest snapshot, and
//! a random older one, restore to exactly the world an independent
//! in-process simulation has at that snapshot's tick. Each file's last run
//! goes to the end and must end in the uninterrupted run's state.
//!
//! The plan is seeded: the seed is printed, and `DIZZY_CRASH_SEED=N` replays
//! it (the moments differ a little with the machine's timing). SIGKILL loses
//! no write that reached the kernel; power loss, which can, is covered by the
//! failed-sync cases of `storage_faults_never_lose_a_commit`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use dizzy::Registry;
use dizzy::prelude::*;
use dizzy::snapshots::{RestoreOptions, fuzzing::check_world, restore};
use dizzy_demos::particles::{self, Params, ParticlesPlugin};
use dizzy_tests::{Rng, dizzy};

const ENTITIES: usize = 3_000;
const CHANGED: f64 = 0.05;
const SEED: u64 = 11;
/// Every file's runs end at this tick.
const TICKS: u64 = 300;
/// Kill points per CI run, at least.
const KILLS: usize = 64;
/// Kill points per file before its last run is let finish.
const KILLS_PER_FILE: usize = 8;

/// The world at every tick, computed in this process without a file.
struct Reference {
    rt: Runtime,
    sums: Vec<String>,
}

impl Reference {
    fn new() -> Reference {
        let mut rt = App::new()
            .in_memory()
            .plugin(ParticlesPlugin::default())
            .open()
            .expect("in-memory app");
        let params = Params {
            seed: SEED,
            changed: CHANGED,
        };
        rt.world_mut().insert_resource(params);
        particles::populate(rt.world_mut(), ENTITIES, SEED);
        let first = particles::checksum(rt.world_mut());
        Reference {
            rt,
            sums: vec![first],
        }
    }

    /// The checksum after `tick` ticks.
    fn at(&mut self, tick: u64) -> &str {
        while self.sums.len() as u64 <= tick {
            self.rt.tick().expect("reference tick");
            self.sums.push(particles::checksum(self.rt.world_mut()));
        }
        &self.sums[tick as usize]
    }
}

/// The id in a "...: committed snapshot N" log line.
fn committed_id(line: &str) -> Option<u64> {
    let rest = &line[line.find("committed snapshot ")? + "committed snapshot ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One run of the demo on `db`, with its stderr read line by line.
struct Run {
    child: Child,
    commits: mpsc::Receiver<u64>,
    /// Ids already taken from `commits`.
    seen: Vec<u64>,
    reader: std::thread::JoinHandle<String>,
}

impl Run {
    fn start(db: &Path) -> Run {
        let ticks = TICKS.to_string();
        let entities = ENTITIES.to_string();
        let changed = CHANGED.to_string();
        let seed = SEED.to_string();
        let mut child = dizzy()
            .args(["demo", "particles", "--db"])
            .arg(db)
            .args(["--entities", &entities, "--ticks", &ticks])
            .args(["--changed", &changed, "--seed", &seed])
            .args(["--snapshot-every", "1", "--json"])
            .env("DIZZY_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dizzy");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, commits) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut other = String::new();
            let mut lines = BufReader::new(stderr);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                // A line cut short by the kill reports nothing.
                match committed_id(&line).filter(|_| line.ends_with('\n')) {
                    Some(id) => {
                        let _ = tx.send(id);
                    }
                    None => other.push_str(&line),
                }
                line.clear();
            }
            other
        });
        Run {
            child,
            commits,
            seen: Vec::new(),
            reader,
        }
    }

    /// Waits for `n` more commits (or the end of the process).
    fn wait_commits(&mut self, n: u64) {
        for _ in 0..n {
            match self.commits.recv_timeout(Duration::from_secs(60)) {
                Ok(id) => self.seen.push(id),
                Err(_) => break,
            }
        }
    }

    /// Kills the process (if it still runs) and waits for it; returns the
    /// ids it reported durable, its stdout if it finished by itself, and
    /// its other stderr lines.
    fn end(mut self, kill: bool) -> (Vec<u64>, Option<String>, String) {
        if kill {
            // An error means it had already exited.
            let _ = self.child.kill();
        }
        let status = self.child.wait().expect("wait for dizzy");
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).expect("read stdout");
        }
        let other = self.reader.join().expect("stderr reader");
        let mut ids = std::mem::take(&mut self.seen);
        ids.extend(self.commits.try_iter());
        let finished = status.success().then_some(out);
        if !kill || finished.is_none() {
            assert!(
                kill || status.success(),
                "an uninterrupted run failed ({status}): {other}"
            );
        }
        (ids, finished, other)
    }
}

/// What the checks after each kill counted.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    finished_runs: usize,
    durable_reported: usize,
    snapshots_verified: usize,
    killed_before_any_commit: usize,
    killed_while_creating: usize,
    lost: usize,
}

/// Checks the file left behind: a copy is opened (so that the next run
/// still meets the file exactly as the kill left it, and repairs it itself).
fn check_file(
    db: &Path,
    copy: &Path,
    durable: &BTreeSet<u64>,
    reference: &mut Reference,
    registry: &Registry,
    rng: &mut Rng,
    tally: &mut Tally,
) {
    if !db.exists() {
        // Killed before the file was created: it appears whole or not at
        // all (a half-created file would be refused by the next run).
        assert!(durable.is_empty(), "committed snapshots, but no file");
        tally.killed_before_any_commit += 1;
        tally.killed_while_creating += 1;
        return;
    }
    std::fs::copy(db, copy).expect("copy the file");
    let store = dizzy::Store::open_to_read(copy)
        .unwrap_or_else(|e| panic!("the killed run's file does not open: {e}"));
    let ids: BTreeSet<u64> = store
        .snapshots()
        .unwrap_or_else(|e| panic!("snapshot records unreadable: {e}"))
        .iter()
        .map(|m| m.id)
        .collect();
    let lost: Vec<u64> = durable.difference(&ids).copied().collect();
    tally.lost += lost.len();
    assert!(
        lost.is_empty(),
        "snapshots reported durable but missing: {lost:?} (file has {ids:?})"
    );
    let Some(&latest) = ids.last() else {
        tally.killed_before_any_commit += 1;
        return;
    };
    let older = *ids
        .iter()
        .nth(rng.below(ids.len() as u64) as usize)
        .expect("an id");
    for id in BTreeSet::from([latest, older]) {
        let options = RestoreOptions {
            snapshot: Some(id),
            ..RestoreOptions::default()
        };
        let mut restored = restore(&store, registry, &options)
            .unwrap_or_else(|e| panic!("snapshot {id} does not restore: {e}"));
        check_world(&mut restored.world).expect("a valid world");
        let params = *restored.world.resource::<Params>();
        assert_eq!((params.seed, params.changed), (SEED, CHANGED));
        let tick = restored.meta.tick;
        let got = particles::checksum(&mut restored.world);
        assert_eq!(
            got,
            reference.at(tick),
            "snapshot {id} (tick {tick}) is not the world of tick {tick}"
        );
        tally.snapshots_verified += 1;
    }
}

#[test]
fn kill_at_random_points() {
    let seed = std::env::var("DIZZY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("crash seed: {seed} (DIZZY_CRASH_SEED={seed} replays this plan)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("check.redb");
    let registry = App::new()
        .in_memory()
        .plugin(ParticlesPlugin { types_only: true })
        .registry_owned();
    let mut reference = Reference::new();
    let mut tally = Tally::default();
    let started = std::time::Instant::now();

    let mut file = 0;
    while tally.kills < KILLS {
        file += 1;
        let db = dir.path().join(format!("run-{file}.redb"));
        let mut durable = BTreeSet::new();
        let mut kills_here = 0;
        loop {
            let last = kills_here == KILLS_PER_FILE;
            let mut run = Run::start(&db);
            if !last {
                if !db.exists() && rng.below(2) == 0 {
                    // While the new file is being created.
                    std::thread::sleep(Duration::from_micros(rng.below(40_000)));
                } else if rng.below(3) == 0 {
                    // Anywhere from start-up on: opening, repairing,
                    // restoring, the first ticks.
                    std::thread::sleep(Duration::from_micros(rng.below(150_000)));
                } else {
                    // After a number of commits, at a random moment of the
                    // next tick or commit.
                    run.wait_commits(rng.below(7));
                    std::thread::sleep(Duration::from_micros(rng.below(12_000)));
                }
            }
            let (ids, finished, other) = run.end(!last);
            tally.durable_reported += ids.len();
            durable.extend(ids);
            match finished {
                Some(out) => {
                    // It reached the end by itself: the uninterrupted state.
                    let report: serde_json::Value =
                        serde_json::from_str(&out).expect("one JSON object");
                    assert_eq!(report["ticks"], TICKS, "{report}");
                    assert_eq!(report["checksum"], reference.at(TICKS), "{report}");
                    tally.finished_runs += 1;
                    check_file(
                        &db,
                        &copy,
                        &durable,
                        &mut reference,
                        &registry,
                        &mut rng,
                        &mut tally,
                    );
                    break;
                }
                None => {
                    assert!(!last, "the last run failed: {other}");
                    tally.kills += 1;
                    kills_here += 1;
                    check_file(
                        &db,
                        &copy,
                        &durable,
                        &mut reference,
                        &registry,
                        &mut rng,
                        &mut tally,
                    );
                }
            }
        }
    }
    println!(
        "kill points survived: {} over {file} files ({} runs finished); committed snapshots \
         reported: {}, verified by restore: {}, lost: {}; kills before any commit: {} ({} before \
         the file existed); {:.1} s",
        tally.kills,
        tally.finished_runs,
        tally.durable_reported,
        tally.snapshots_verified,
        tally.lost,
        tally.killed_before_any_commit,
        tally.killed_while_creating,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(tally.lost, 0);
    assert!(tally.kills >= KILLS);
}
