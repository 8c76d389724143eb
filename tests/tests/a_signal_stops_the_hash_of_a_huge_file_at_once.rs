//! SIGINT while the dedupe demo hashes a huge file whole: the run stops at
//! once (within one read), saves its progress and leaves the file to be
//! hashed again by the next run, instead of holding the stop until the end
//! of the file — minutes for two files of 64 GiB (sparse here). Before,
//! Ctrl-C waited for the whole hash.

use std::process::Stdio;
use std::time::{Duration, Instant};

use dizzy_tests::dizzy;

#[test]
fn sigint_during_a_huge_hash_stops_the_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    // Same size, same ends (zeros): only a whole hash tells them apart.
    for name in ["a", "b"] {
        std::fs::File::create(tree.join(name))
            .unwrap()
            .set_len(64 << 30)
            .unwrap();
    }
    let db = dir.path().join("d.redb");
    let mut child = dizzy()
        .args(["demo", "dedupe", tree.to_str().unwrap(), "--db"])
        .arg(&db)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Listing the tree and hashing the ends of both files take a few ticks
    // of milliseconds; then both files are hashed whole, for minutes.
    std::thread::sleep(Duration::from_secs(3));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Hang detection, not a speed target: the whole hash of 128 GiB would
    // take minutes.
    let asked = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if asked.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the run did not stop within 60 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut rest).unwrap();
    assert_eq!(code, Some(130), "{rest}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let stopped: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(stopped["stopped"], "interrupted", "{out}");

    // Both files wait for their whole hash; neither is called unreadable.
    let shown = dizzy().args(["show", "--db"]).arg(&db).output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(
        shown.matches("dedupe.stage: \"Full\"").count(),
        2,
        "{shown}"
    );
    assert!(!shown.contains("dedupe.unreadable"), "{shown}");
    assert!(!shown.contains("dedupe.sha256"), "{shown}");
}
