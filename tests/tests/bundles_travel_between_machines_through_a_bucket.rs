//! "Send me those photos" between two machines that share nothing but a
//! bucket: a bundle exported from one directory straight to an S3 object
//! and imported from it into a file in another directory arrives whole —
//! the same entities with the same values and references; a missing or
//! damaged object is a one-line error that names it, and the target file
//! is unchanged.

use std::process::Output;

use dizzy_tests::s3::S3;
use dizzy_tests::{dizzy, file_bytes, make_tree};

fn run(s3: &S3, args: &[&str]) -> Output {
    let mut cmd = dizzy();
    s3.env(&mut cmd).args(args);
    cmd.output().expect("run dizzy")
}

fn ok(s3: &S3, args: &[&str]) -> serde_json::Value {
    let out = run(s3, args);
    assert!(
        out.status.success(),
        "dizzy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("dizzy {args:?}: {e}"))
}

#[test]
fn a_bundle_moves_between_two_directories_through_the_bucket() {
    let Some(s3) = S3::get("bundles_travel_between_machines_through_a_bucket") else {
        return;
    };
    let here = tempfile::tempdir().unwrap();
    let (machine_a, machine_b) = (here.path().join("a"), here.path().join("b"));
    std::fs::create_dir_all(&machine_b).unwrap();
    let tree = machine_a.join("photos");
    make_tree(&tree, 50, 3000, 21);
    let db_a = machine_a.join("dedupe.redb");
    let db_b = machine_b.join("received.redb");
    ok(
        &s3,
        &[
            "demo",
            "dedupe",
            tree.to_str().unwrap(),
            "--db",
            db_a.to_str().unwrap(),
            "--json",
        ],
    );
    let sets_a = ok(
        &s3,
        &[
            "show",
            "--db",
            db_a.to_str().unwrap(),
            "--with",
            "dedupe.duplicate_set",
            "--json",
        ],
    );
    assert!(
        !sets_a.as_array().unwrap().is_empty(),
        "the tree has duplicates"
    );

    let object = format!("{}/photos.bundle", s3.url("bundles"));
    let exported = ok(
        &s3,
        &[
            "export",
            "--db",
            db_a.to_str().unwrap(),
            "--with",
            "dedupe.duplicate_set",
            "-o",
            &object,
        ],
    );
    assert_eq!(exported["bundle"], object);
    let imported = ok(&s3, &["import", "--db", db_b.to_str().unwrap(), &object]);
    assert_eq!(imported["imported"], exported["entities"]);

    // Machine B's file holds the same sets, referencing the same files
    // (an empty file keeps the bundle's uids).
    let sets_b = ok(
        &s3,
        &[
            "show",
            "--db",
            db_b.to_str().unwrap(),
            "--with",
            "dedupe.duplicate_set",
            "--json",
        ],
    );
    assert_eq!(sets_b, sets_a);
    let files = |db: &std::path::Path| {
        ok(
            &s3,
            &[
                "show",
                "--db",
                db.to_str().unwrap(),
                "--with",
                "dedupe.file",
                "--json",
            ],
        )
    };
    let (files_a, files_b) = (files(&db_a), files(&db_b));
    let referenced: Vec<u64> = sets_b
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["dedupe.duplicate_set"]["files"]
                .as_array()
                .unwrap()
                .clone()
        })
        .map(|u| u.as_u64().unwrap())
        .collect();
    for uid in referenced {
        let find = |all: &serde_json::Value| {
            all.as_array()
                .unwrap()
                .iter()
                .find(|f| f["uid"] == uid)
                .cloned()
        };
        let arrived = find(&files_b).unwrap_or_else(|| panic!("file {uid} did not arrive"));
        assert_eq!(Some(arrived), find(&files_a));
    }

    // A missing object: a clear error naming it, the file untouched.
    let before = file_bytes(&db_b);
    let missing = format!("{}/none.bundle", s3.url("bundles"));
    let out = run(&s3, &["import", "--db", db_b.to_str().unwrap(), &missing]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&missing) && err.contains("no such object") && err.lines().count() == 1,
        "{err}"
    );
    // A damaged object: refused by the bundle's checksum.
    let server_file = s3
        .own
        .as_ref()
        .map(|s| s.root().to_owned())
        .or_else(|| std::env::var_os("DIZZY_TEST_S3_ROOT").map(Into::into));
    if let Some(root) = server_file {
        let key = object.strip_prefix("s3://").unwrap();
        let path = root.join(key);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let out = run(&s3, &["import", "--db", db_b.to_str().unwrap(), &object]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("photos.bundle") && err.contains("checksum"),
            "{err}"
        );
    }
    assert!(file_bytes(&db_b) == before, "the target file is unchanged");
}
