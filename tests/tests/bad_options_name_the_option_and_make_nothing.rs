//! A bad value to any option of the demos and benchmarks (negative, zero,
//! out of range, a unit not known) is a one-line usage error that names the
//! option and what it expects, also when the value looks like a negative
//! number (`--reps -1`, which clap alone takes for an unknown flag); a
//! `--dir` that does not exist is named and never created.

use dizzy_tests::dizzy;

/// Runs `dizzy args`, which must fail with one line on stderr, nothing on
/// stdout and exit status `code`; returns the line.
fn fails(args: &[&str], code: i32) -> String {
    let out = dizzy().args(args).output().expect("run dizzy");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "dizzy {args:?}: {err}");
    assert!(out.stdout.is_empty(), "dizzy {args:?}: nothing on stdout");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[test]
fn negative_and_out_of_range_values_name_their_option() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["bench", "snapshot", "--changed", "-0.1"],
            "--changed",
            "fraction from 0 to 1",
        ),
        (
            &["bench", "snapshot", "--changed", "1.5"],
            "--changed",
            "fraction from 0 to 1",
        ),
        (
            &["bench", "snapshot", "--reps", "-1"],
            "--reps",
            "at least 1",
        ),
        (
            &["bench", "snapshot", "--reps", "0"],
            "--reps",
            "at least 1",
        ),
        (
            &["bench", "snapshot", "--entities", "-5"],
            "--entities",
            "number of entities",
        ),
        (
            &["bench", "snapshot", "--chunk-bytes", "0"],
            "--chunk-bytes",
            "at least 64",
        ),
        (
            &["bench", "snapshot", "--chunk-bytes", "-64"],
            "--chunk-bytes",
            "at least 64",
        ),
        (
            &["bench", "hierarchy", "--reps", "-2"],
            "--reps",
            "at least 1",
        ),
        (
            &["bench", "hierarchy", "--children", "-1"],
            "--children",
            "number",
        ),
        (
            &[
                "bench",
                "replicate",
                "--to",
                "file:///nowhere",
                "--changed",
                "-1",
            ],
            "--changed",
            "fraction from 0 to 1",
        ),
        (
            &[
                "bench",
                "replicate",
                "--to",
                "file:///nowhere",
                "--reps",
                "0",
            ],
            "--reps",
            "at least 1",
        ),
        (
            &["demo", "dedupe", ".", "--batch", "-1"],
            "--batch",
            "at least 1",
        ),
        (
            &["demo", "dedupe", ".", "--snapshot-every", "-2s"],
            "--snapshot-every",
            "duration of at least 1ms",
        ),
        (
            &["demo", "dedupe", ".", "--snapshot-every", "3d"],
            "--snapshot-every",
            "in ms, s or m",
        ),
        (
            &["demo", "particles", "--replicate-give-up", "-1"],
            "--replicate-give-up",
            "seconds, 0 or more",
        ),
        (
            &["demo", "particles", "--replicate-give-up", "inf"],
            "--replicate-give-up",
            "seconds, 0 or more",
        ),
        (
            &["demo", "particles", "--ticks", "-1"],
            "--ticks",
            "whole number",
        ),
        (
            &["demo", "particles", "--changed", "-0.5"],
            "--changed",
            "fraction from 0 to 1",
        ),
        (
            &["show", "--limit", "-3"],
            "--limit",
            "expected a whole number, 0 or more",
        ),
        (
            &["show", "--uid", "abc"],
            "--uid",
            "expected a whole number, 0 or more",
        ),
        (
            &["bench", "hierarchy", "--rounds", "-1"],
            "--rounds",
            "whole number",
        ),
        (
            &["compact", "--db", "x.redb", "--keep-last", "0"],
            "--keep-last",
            "at least 1",
        ),
        (
            &["demo", "particles", "--keep-last", "0"],
            "--keep-last",
            "at least 1",
        ),
        (
            &["bench", "snapshot", "--entities", "-1M"],
            "--entities",
            "number of entities",
        ),
        (
            &["bench", "snapshot", "--chunk-bytes", "18446744073709551615"],
            "--chunk-bytes",
            "at most 1073741824",
        ),
        (
            &[
                "bench",
                "replicate",
                "--to",
                "file:///nowhere",
                "--ticks",
                "0",
            ],
            "--ticks",
            "at least 1",
        ),
        (
            &[
                "bench",
                "replicate",
                "--to",
                "file:///nowhere",
                "--entities",
                "0",
            ],
            "--entities",
            "number of entities",
        ),
    ];
    for (args, option, expects) in cases {
        let err = fails(args, 2);
        assert!(err.contains(option), "{args:?}: names {option}: {err}");
        assert!(err.contains(expects), "{args:?}: says {expects:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
}

#[test]
fn a_missing_dir_is_named_and_never_created() {
    let base = tempfile::tempdir().unwrap();
    let file = base.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let missing = base.path().join("typo").join("bench");
    let (m, f) = (missing.to_str().unwrap(), file.to_str().unwrap());
    for args in [
        &[
            "bench",
            "snapshot",
            "--entities",
            "1k",
            "--reps",
            "1",
            "--dir",
            m,
        ][..],
        &[
            "bench",
            "snapshot",
            "--entities",
            "1k,2k",
            "--reps",
            "1",
            "--dir",
            m,
        ],
        &[
            "bench",
            "hierarchy",
            "--children",
            "1k",
            "--parents",
            "10",
            "--dir",
            m,
        ],
        &["bench", "replicate", "--to", "file:///nowhere", "--dir", m],
    ] {
        let err = fails(args, 1);
        assert!(
            err.contains(m) && err.contains("no such directory"),
            "{args:?}: {err}"
        );
        assert!(!base.path().join("typo").exists(), "{args:?} made {m}");
    }
    let err = fails(&["bench", "snapshot", "--entities", "1k", "--dir", f], 1);
    assert!(err.contains(f) && err.contains("not a directory"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x", "the file is untouched");
    // A directory where nothing can be made (/proc): said before a sweep's
    // first size runs, in one line, by the sweep itself.
    for sizes in ["1k", "1k,2k"] {
        let args = [
            "bench",
            "snapshot",
            "--entities",
            sizes,
            "--reps",
            "1",
            "--dir",
            "/proc",
        ];
        let err = fails(&args, 1);
        assert!(
            err.contains("cannot make the benchmark's directory /proc/dizzy-bench-"),
            "{sizes}: {err}"
        );
        // procfs answers "not found" for a directory that is there: the
        // message says what that means.
        assert!(
            err.contains("/proc makes no new directories (the file system answered: "),
            "{sizes}: {err}"
        );
    }
}

/// Every benchmark refuses a size that would not fit in the memory
/// available before it allocates anything, and a bucket URL that is not
/// one before its first run, naming the URL as given.
#[test]
fn every_bench_refuses_what_cannot_work_before_it_starts() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if meminfo.contains("MemAvailable:") {
        for args in [
            &["bench", "snapshot", "--entities", "1000M"][..],
            &["bench", "hierarchy", "--children", "1000M", "--reps", "1"],
            &[
                "bench",
                "replicate",
                "--to",
                "memory:///x",
                "--entities",
                "1000M",
            ],
        ] {
            let err = fails(args, 1);
            assert!(err.contains("GiB of memory"), "{args:?}: {err}");
        }
    }
    for url in ["s3://", "file://relative/dir"] {
        let err = fails(&["bench", "replicate", "--to", url, "--entities", "1k"], 1);
        assert!(err.contains(&format!("`{url}`")), "{err}");
        assert!(err.contains("not a bucket URL"), "{err}");
    }
}

/// A demo refuses, before its `--db` is made, what it could not do: a new
/// particles run of more entities than memory holds (it aborted, leaving
/// an empty file), a `--serve` address other machines could reach (the file
/// was made, then the explorer refused). A missing argument is named.
#[test]
fn a_demo_refuses_before_its_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.redb");
    let db = db.to_str().unwrap();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if meminfo.contains("MemAvailable:") {
        for n in ["18446744073709551615", "10000000000"] {
            let err = fails(&["demo", "particles", "--entities", n, "--db", db], 1);
            assert!(err.contains("GiB of memory"), "{err}");
        }
    }
    for args in [
        &["demo", "particles", "--serve", "8.8.8.8:80", "--db", db][..],
        &["demo", "dedupe", ".", "--serve", "0.0.0.0:0", "--db", db],
    ] {
        let err = fails(args, 2);
        assert!(
            err.contains("--serve") && err.contains("not a loopback address"),
            "{err}"
        );
    }
    assert!(!std::path::Path::new(db).exists(), "no file is made");
    let err = fails(&["demo", "dedupe"], 2);
    assert!(err.contains("<DIR>"), "{err}");
}

/// `--restore-from` a bucket that holds nothing starts a new run and says
/// so on stderr, rather than look like a resume.
#[test]
fn restoring_from_an_empty_bucket_says_it_started_anew() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.redb");
    let url = format!("file://{}/typo", dir.path().display());
    let out = dizzy()
        .args([
            "demo",
            "particles",
            "--entities",
            "100",
            "--ticks",
            "2",
            "--json",
        ])
        .args(["--restore-from", &url, "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&url) && err.contains("started a new run"),
        "{err}"
    );
}
