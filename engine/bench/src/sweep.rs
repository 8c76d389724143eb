//! `dizzy bench snapshot --entities 100k,1M,4M,10M`: the benchmark at
//! several sizes (each in a process of its own, so that no size inherits
//! another's heap), as one table, with the targets that compare sizes.

use crate::snapshot::{round, shown_ratio};
use serde_json::{Value, json};

/// Parses a list of sizes: `100k,1M,4M,10M`, `250000` (`k` = 1,000, `M` =
/// 1,000,000, either case); each a whole number of entities, each once.
///
/// # Errors
/// A message naming the item that is not a positive size.
pub fn parse_sizes(s: &str) -> Result<Vec<usize>, String> {
    let sizes: Vec<usize> = s
        .split(',')
        .map(|item| {
            let item = item.trim();
            let bad = || format!("`{item}`: expected a number of entities (100k, 1M, 250000)");
            let (num, scale) = match item.char_indices().last() {
                Some((i, 'k' | 'K')) => (&item[..i], 1_000),
                Some((i, 'm' | 'M')) => (&item[..i], 1_000_000),
                _ => (item, 1),
            };
            let n: f64 = num.trim().parse().map_err(|_| bad())?;
            let n = n * scale as f64;
            // A whole number of entities (1.5M is fine, 1.5 is not).
            if !(n >= 1.0 && n.is_finite() && n <= 1e12 && n.fract() == 0.0) {
                return Err(bad());
            }
            Ok(n as usize)
        })
        .collect::<Result<_, _>>()?;
    let mut seen = std::collections::BTreeSet::new();
    for n in &sizes {
        if !seen.insert(n) {
            return Err(format!("{n} entities given twice"));
        }
    }
    Ok(sizes)
}

/// The columns of the sweep's table, in order.
pub const COLUMNS: [&str; 13] = [
    "full_pause_ms",
    "full_durable_ms",
    "delta_pause_ms",
    "delta_durable_ms",
    "restore_ms",
    "full_restore_ms",
    "spawn_baseline_ms",
    "hecs_save_ms",
    "hecs_restore_ms",
    "fsync_baseline_ms",
    "sorted_iter_ms",
    "rss_peak_bytes",
    "full_bytes",
];

/// Costs that must grow no faster than the world.
const LINEAR: [&str; 4] = [
    "full_pause_ms",
    "full_durable_ms",
    "delta_pause_ms",
    "delta_durable_ms",
];

fn num(report: &Value, key: &str) -> f64 {
    report[key].as_f64().unwrap_or(f64::NAN)
}

fn check(name: String, ratio: f64, limit: f64) -> Value {
    json!({
        "name": name,
        "ratio": shown_ratio(ratio, limit),
        "limit": round(limit),
        "met": ratio <= limit,
    })
}

/// One JSON document from the reports of one size each (as
/// [`crate::SnapshotBench::run`] gives them), sorted by size: `table` (a
/// row per size with [`COLUMNS`]), `targets` (each with its ratio, its
/// limit and whether it was met) and `reports` (every figure of every
/// size).
///
/// Targets: against the base size (1M if measured, else the smallest),
/// every cost in `LINEAR` at a larger size is at most 1.05x its share
/// (10.5x at 10x the entities); `restore_ms / spawn_baseline_ms` no higher
/// than at the base; at every size from the base up, a full snapshot
/// durable no slower than the hecs peer's save, a full restore no slower
/// than its restore, a delta durable at most 1/20 of a full one; at the
/// largest size, the peak resident memory of a full snapshot at most 1.5x
/// the snapshot's bytes above what the process held before it.
pub fn summarize(mut reports: Vec<Value>) -> Value {
    reports.sort_by_key(|r| r["entities"].as_u64().unwrap_or(0));
    let sizes: Vec<f64> = reports.iter().map(|r| num(r, "entities")).collect();
    let base = sizes
        .iter()
        .position(|&n| n == 1e6)
        .unwrap_or(0)
        .min(reports.len().saturating_sub(1));
    let table: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut row = serde_json::Map::new();
            row.insert("entities".into(), r["entities"].clone());
            for c in COLUMNS {
                row.insert(c.into(), r[c].clone());
            }
            Value::Object(row)
        })
        .collect();
    let mut targets = Vec::new();
    if let Some(b) = reports.get(base) {
        let restore_share = num(b, "restore_ms") / num(b, "spawn_baseline_ms");
        for (r, &n) in reports.iter().zip(&sizes).skip(base + 1) {
            let scale = n / sizes[base];
            for m in LINEAR {
                targets.push(check(
                    format!("{m} at {n} <= {:.2}x at {}", 1.05 * scale, sizes[base]),
                    num(r, m) / num(b, m),
                    1.05 * scale,
                ));
            }
            targets.push(check(
                format!(
                    "restore_ms / spawn_baseline_ms at {n} <= at {} ({:.2})",
                    sizes[base], restore_share
                ),
                num(r, "restore_ms") / num(r, "spawn_baseline_ms") / restore_share,
                1.0,
            ));
        }
        for (r, &n) in reports.iter().zip(&sizes).skip(base) {
            for (name, a, b, limit) in [
                (
                    "full_durable_ms <= hecs_save_ms",
                    "full_durable_ms",
                    "hecs_save_ms",
                    1.0,
                ),
                (
                    "full_restore_ms <= hecs_restore_ms",
                    "full_restore_ms",
                    "hecs_restore_ms",
                    1.0,
                ),
                (
                    "delta_durable_ms <= 0.05 * full_durable_ms",
                    "delta_durable_ms",
                    "full_durable_ms",
                    0.05,
                ),
            ] {
                targets.push(check(
                    format!("{name} at {n}"),
                    num(r, a) / num(r, b),
                    limit,
                ));
            }
        }
    }
    if let Some(r) = reports.last() {
        let grown = num(r, "rss_peak_bytes") - num(r, "rss_before_bytes");
        targets.push(check(
            format!(
                "rss_peak_bytes - rss_before_bytes <= 1.5 * full_bytes at {}",
                num(r, "entities")
            ),
            grown / num(r, "full_bytes"),
            1.5,
        ));
    }
    json!({
        // Counts, printed as whole numbers.
        "sizes": sizes.iter().map(|&n| n as u64).collect::<Vec<_>>(),
        "base": sizes.get(base).map(|&n| n as u64),
        "table": table,
        "targets": targets,
        "reports": reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_suffixes() {
        assert_eq!(
            parse_sizes("100k,1M, 4m,250000,1.5M").unwrap(),
            vec![100_000, 1_000_000, 4_000_000, 250_000, 1_500_000]
        );
        for bad in [
            "",
            "0",
            "-1M",
            "1G",
            "ten",
            "1M,,2M",
            "1.5",
            "10k,10k",
            "10k,10000",
        ] {
            assert!(parse_sizes(bad).is_err(), "{bad}");
        }
    }

    fn report(n: u64, scale: f64) -> Value {
        let mut r = json!({ "entities": n });
        for c in COLUMNS {
            r[c] = json!(n as f64 * scale / 1e6);
        }
        r["hecs_save_ms"] = json!(n as f64 * 2.0 / 1e6);
        r["hecs_restore_ms"] = json!(n as f64 * 2.0 / 1e6);
        r["delta_durable_ms"] = json!(n as f64 * 0.01 / 1e6);
        r["rss_before_bytes"] = json!(1_000);
        r
    }

    #[test]
    fn targets_compare_sizes_to_the_base() {
        let linear = summarize(vec![report(4_000_000, 1.0), report(1_000_000, 1.0)]);
        assert_eq!(linear["sizes"], json!([1_000_000, 4_000_000]));
        assert_eq!(linear["base"], json!(1_000_000));
        let targets = linear["targets"].as_array().unwrap();
        assert!(targets.iter().any(|t| {
            t["name"]
                .as_str()
                .unwrap()
                .starts_with("full_pause_ms at 4000000")
        }));
        let failed: Vec<&Value> = targets.iter().filter(|t| t["met"] != true).collect();
        // Every cost grows as the world does and beats the peer: all met.
        assert!(failed.is_empty(), "{failed:?}");

        // A cost that grows 5x for 4x the entities misses its target.
        let mut big = report(4_000_000, 1.0);
        big["full_pause_ms"] = json!(20.0);
        let worse = summarize(vec![report(1_000_000, 1.0), big]);
        let pause = worse["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"].as_str().unwrap().starts_with("full_pause_ms"))
            .unwrap()
            .clone();
        assert_eq!(pause["met"], false);
        assert_eq!(pause["ratio"], 20.0);
    }

    /// A printed ratio never sits on the other side of its limit from
    /// `met` (1.0504 against 1.05 was printed 1.05, `met` false).
    #[test]
    fn a_printed_ratio_agrees_with_met() {
        for (ratio, limit) in [
            (1.0504, 1.05),
            (1.0496, 1.05),
            (1.05, 1.05),
            (0.999_999, 1.0),
            (1.000_01, 1.0),
            (4.204, 4.2),
            (2.0, 1.0),
        ] {
            let t = check("x".into(), ratio, limit);
            let shown = t["ratio"].as_f64().unwrap();
            assert_eq!(t["met"], ratio <= limit, "{t}");
            assert_eq!(shown <= limit, ratio <= limit, "{t}");
        }
        assert_eq!(check("x".into(), 1.234_56, 2.0)["ratio"], 1.23);
    }
}
