//! A running app serves the explorer over its own file (`dizzy demo
//! particles --serve`): in a real browser the timeline shows new snapshots
//! as they land, without being reloaded by hand; meanwhile another process
//! that opens the file is refused with the one-line message naming the
//! explorer's address; when the run ends the note beside the file is gone
//! and the file opens again.

use std::process::Command;
use std::time::Duration;

use dizzy_tests::browser::{Browser, Served, get};
use dizzy_tests::{dizzy, dizzy_bin, dizzy_json};

#[test]
fn new_snapshots_appear_while_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("particles.redb");
    let path = db.to_str().unwrap();
    let mut c = Command::new(dizzy_bin());
    c.args([
        "demo",
        "particles",
        "--entities",
        "3000",
        "--ticks",
        "100000000",
        "--snapshot-every",
        "400ms",
        "--keep-last",
        "3",
        "--db",
        path,
        "--serve",
        "127.0.0.1:0",
    ]);
    let served = Served::start(c);
    let url = served.url.clone();

    // Another process is told where to look.
    let refused = dizzy().args(["snapshots", "--db", path]).output().unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("in use by another process"), "{message}");
    assert!(message.contains(&url), "{message} names {url}");

    let browser = Browser::start();
    let rows = |b: &Browser| b.find_all("#snapshots tbody tr").len();
    browser.wait_until(Duration::from_secs(30), "a first snapshot", |b| {
        b.goto(&url);
        rows(b) >= 1
    });
    // The ids of the listed snapshots, read in one script: the page reloads
    // itself at any moment, so a row found by one WebDriver call can be
    // gone by the next.
    let listed = |b: &Browser| -> Vec<u64> {
        b.script(
            "return [...document.querySelectorAll('#snapshots tbody tr')]\
             .map(r => r.getAttribute('data-id'));",
            serde_json::json!([]),
        )
        .as_array()
        .map(|ids| {
            ids.iter()
                .map(|id| {
                    id.as_str()
                        .and_then(|id| id.parse().ok())
                        .unwrap_or_else(|| panic!("a row without its snapshot id: {id}"))
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let newest = |b: &Browser| -> u64 { listed(b).first().copied().unwrap_or(0) };
    let before = newest(&browser);
    browser.screenshot("live-before");
    // The page reloads itself when a snapshot lands (retention deletes the
    // older ones meanwhile: the list follows both).
    browser.wait_until(Duration::from_secs(30), "new snapshots on the page", |b| {
        newest(b) >= before + 2
    });
    let ids = listed(&browser);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    browser.screenshot("live-after");

    // A table of the running world, at its newest snapshot.
    let (status, body) = get(
        &url,
        "/snapshots/latest/components/particles.position?size=5",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("3000 entities have it"),
        "{}",
        &body[..body.len().min(2000)]
    );
    drop(browser);

    // SIGTERM: the run saves and ends; the note goes with it.
    assert_eq!(served.stop(), Some(143));
    let note = dir.path().join(".particles.redb.explorer");
    assert!(!note.exists(), "the note outlived the run");
    let list = dizzy_json(&["snapshots", "--db", path, "--json"]);
    assert!(!list.as_array().unwrap().is_empty(), "{list}");
}
