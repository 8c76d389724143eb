//! Every example runs as its `//!` doc says and prints what it claims: the
//! quick script resumes, the plugin's world and resource come back, the
//! migration converts old values, the bundle's references follow their
//! targets, and the binary with its own CLI has its name, about text,
//! subcommand and dizzy's inspection subcommands (and no demo or bench).

use std::path::Path;
use std::process::{Command, Output};

fn run(bin: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

fn stdout_ok(bin: &str, args: &[&str], dir: &Path) -> String {
    let out = run(bin, args, dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{bin} {args:?}: {:?}\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_quick_script_finishes_then_resumes_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_quick_script");
    let sum: u64 = (0..10_000u64).map(|n| n * n).sum();
    let first = stdout_ok(bin, &[], dir.path());
    assert_eq!(first, format!("sum of squares: {sum} after tick 20\n"));
    assert!(
        dir.path().join("squares.redb").exists(),
        "the default file is squares.redb"
    );
    let second = stdout_ok(bin, &["squares.redb"], dir.path());
    let mut lines = second.lines();
    assert!(
        lines.next().unwrap().starts_with("resumed from snapshot "),
        "{second}"
    );
    assert_eq!(
        lines.next(),
        Some(format!("sum of squares: {sum} after tick 20").as_str())
    );
}

#[test]
fn the_plugin_world_and_resource_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_ok(env!("CARGO_BIN_EXE_plugin"), &["p.redb"], dir.path());
    // 100 particles moved 10 times; the fastest (vx = 99) is at x = 990.
    assert_eq!(out, "reopened at tick 10: 1000 moves, farthest x = 990\n");
}

#[test]
fn the_migration_converts_feet_to_metres() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_ok(env!("CARGO_BIN_EXE_migration"), &["peaks.redb"], dir.path());
    assert_eq!(out, "Matterhorn: 4478 m\nMont Blanc: 4808 m\n");
}

#[test]
fn the_bundle_moves_files_with_their_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_ok(env!("CARGO_BIN_EXE_bundle"), &[], dir.path());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("exported 3 entities ("), "{out}");
    // The old-to-new uid of each of the three (the target's first uids were
    // taken, so some are new), and the files found their folder.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("uid ")).count(),
        3,
        "{out}"
    );
    assert_eq!(
        lines.last(),
        Some(&"in the target: photos/a.jpg, photos/b.jpg")
    );
}

#[test]
fn the_own_cli_has_its_name_its_subcommand_and_the_inspection_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_own_cli");
    let help = stdout_ok(bin, &["--help"], dir.path());
    assert!(
        help.starts_with("Squares numbers, resumably; and looks inside its own file\n"),
        "{help}"
    );
    assert!(help.contains("Usage: own_cli <COMMAND>"), "{help}");
    for sub in ["work", "snapshots", "show", "graph", "export"] {
        assert!(
            help.contains(&format!("  {sub} ")),
            "no `{sub}` in:\n{help}"
        );
    }
    for absent in ["demo", "bench", "clap shell"] {
        assert!(!help.contains(absent), "`{absent}` in:\n{help}");
    }
    let version = stdout_ok(bin, &["--version"], dir.path());
    assert_eq!(version, format!("own_cli {}\n", env!("CARGO_PKG_VERSION")));

    assert_eq!(
        stdout_ok(bin, &["work", "--tasks", "250"], dir.path()),
        "done at tick 3\n"
    );
    // The inspection subcommands read the app's own file by default.
    let listed = stdout_ok(bin, &["snapshots", "--json"], dir.path());
    assert!(
        listed.contains("\"tick\":3") || listed.contains("\"tick\": 3"),
        "{listed}"
    );
    let shown = stdout_ok(
        bin,
        &["show", "--with", "squares.square", "--limit", "1", "--json"],
        dir.path(),
    );
    assert!(shown.contains("\"squares.square\""), "{shown}");
}
