//! `dizzy snapshots`: list the snapshots in a file.

use std::path::PathBuf;

use crate::CliError;

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The dizzy file, or a bucket URL (`s3://BUCKET/PREFIX`) of
    /// replicated snapshots.
    #[arg(long)]
    db: PathBuf,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompactArgs {
    /// The dizzy file.
    #[arg(long)]
    db: PathBuf,
    /// Keep the newest K snapshots (and what their delta chains need); K
    /// at least 1.
    #[arg(long, value_parser = crate::parse_at_least_one)]
    keep_last: Option<usize>,
    /// First write the latest state as one full snapshot that replaces all
    /// the others (one transaction), so that exactly one is left. The file
    /// is restored with this program's types; components it does not
    /// register are kept byte for byte.
    #[arg(long)]
    squash: bool,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn list(args: ListArgs) -> Result<(), CliError> {
    let ListArgs { db, json } = args;
    let snapshots = rows(&db)?;
    if json {
        let rows: Vec<serde_json::Value> = snapshots
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id,
                    "tick": m.tick,
                    "kind": m.kind,
                    "base": m.base,
                    "time_unix_ms": m.unix_ms,
                    "entities": m.entities,
                    "bytes": m.bytes,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    outln!(
        "{:>6} {:>10} {:<6} {:>6} {:<24} {:>10} {:>12}",
        "id",
        "tick",
        "kind",
        "base",
        "time (UTC)",
        "entities",
        "bytes"
    );
    for m in &snapshots {
        outln!(
            "{:>6} {:>10} {:<6} {:>6} {:<24} {:>10} {:>12}",
            m.id,
            m.tick,
            m.kind,
            m.base.map_or_else(|| "-".to_owned(), |b| b.to_string()),
            utc(m.unix_ms),
            m.entities,
            m.bytes
        );
    }
    Ok(())
}

/// The fields of a snapshot that `dizzy snapshots` lists.
struct Row {
    id: u64,
    tick: u64,
    kind: &'static str,
    base: Option<u64>,
    unix_ms: u64,
    entities: u64,
    bytes: u64,
}

fn rows(db: &std::path::Path) -> Result<Vec<Row>, CliError> {
    #[cfg(feature = "replicate")]
    if crate::remote::is_url(db) {
        return Ok(crate::remote::list(db)?
            .into_iter()
            .map(|s| Row {
                id: s.id,
                tick: s.tick,
                kind: if s.is_full() { "full" } else { "delta" },
                base: s.base,
                unix_ms: s.unix_ms,
                entities: s.entities,
                bytes: s.bytes,
            })
            .collect());
    }
    let store = crate::remote::open(db, &[], true)?;
    Ok(store
        .snapshots()?
        .into_iter()
        .map(|m| Row {
            id: m.id,
            tick: m.tick,
            kind: m.kind.as_str(),
            base: m.base,
            unix_ms: m.unix_ms,
            entities: m.entities,
            bytes: m.bytes,
        })
        .collect())
}

pub(crate) fn compact(args: CompactArgs, app: dizzy::App) -> Result<(), CliError> {
    let CompactArgs {
        db,
        keep_last,
        squash,
        json,
    } = args;
    let db = db.as_path();
    if !db.exists() {
        return Err(CliError::new(match std::fs::read_link(db) {
            Ok(target) => format!(
                "{}: is a symbolic link to {}, which does not exist",
                db.display(),
                target.display()
            ),
            Err(_) => format!("{}: no such file", db.display()),
        }));
    }
    // The size before anything: a squash grows the file before the
    // compaction shrinks it.
    let bytes_before = std::fs::metadata(db).map(|m| m.len()).ok();
    let squashed = if squash {
        let before = dizzy::Store::open_to_read(db)?.snapshot_count()?;
        let mut rt = app
            .db(db)
            .unknown_components(dizzy::Unknown::Keep)
            .as_tool()
            .snapshot_policy(dizzy::SnapshotPolicy::OFF)
            .open()?;
        let id = rt.squash()?;
        rt.close()?;
        id.map(|id| (id, before))
    } else {
        None
    };
    let mut c = dizzy_snapshots::compact(db, keep_last)?;
    if let Some(bytes) = bytes_before.filter(|_| squashed.is_some()) {
        c.bytes_before = bytes;
    }
    // The squash deleted every snapshot there was.
    if let Some((_, before)) = squashed {
        c.deleted += usize::try_from(before).unwrap_or(usize::MAX);
    }
    let squashed = squashed.map(|(id, _)| id);
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "squashed": squashed,
                "deleted": c.deleted,
                "snapshots": c.snapshots,
                "bytes_before": c.bytes_before,
                "bytes_after": c.bytes_after,
                "live_bytes": c.live_bytes,
            })
        );
    } else {
        if let Some(id) = squashed {
            outln!(
                "{}: squashed into snapshot {id} (every other snapshot deleted)",
                db.display()
            );
        }
        outln!(
            "{}: {} snapshots deleted, {} kept; {} -> {} bytes ({} bytes of snapshot data)",
            db.display(),
            c.deleted,
            c.snapshots,
            c.bytes_before,
            c.bytes_after,
            c.live_bytes
        );
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, from milliseconds since the epoch.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(super::utc(1_795_000_000_123), "2026-11-18 11:06:40.123");
    }
}
