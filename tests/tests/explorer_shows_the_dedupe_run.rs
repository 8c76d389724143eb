//! The explorer, driven in a real browser (headless Chromium through
//! WebDriver) over the dedupe demo's file, shows what the command line
//! shows: the timeline lists the file's snapshots, the table of
//! `dedupe.duplicate_set` holds the same sets as `dizzy show --json`, a
//! diff shows what `dizzy diff` shows, the schedule diagram renders with
//! its systems linked to their components, and a reference from a set
//! leads to a file's page. A screenshot of each page lands in
//! `target/explorer-screenshots/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use dizzy_tests::browser::{Browser, Served};
use dizzy_tests::{dizzy_bin, dizzy_json, dizzy_ok, make_tree};

/// A dedupe run over a generated tree, snapshotting every tick (so the
/// file holds several snapshots, deltas among them).
fn dedupe_run(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    make_tree(&tree, 120, 3000, 15);
    let db = dir.join("dedupe.redb");
    dizzy_ok(&[
        "demo",
        "dedupe",
        tree.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--batch",
        "16",
        "--snapshot-every",
        "1",
        "--json",
    ]);
    db
}

fn serve(db: &Path) -> Served {
    let mut c = Command::new(dizzy_bin());
    c.args([
        "serve",
        "--db",
        db.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
    ]);
    Served::start(c)
}

#[test]
fn the_explorer_shows_what_the_command_line_shows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dedupe_run(dir.path());
    let path = db.to_str().unwrap();
    let served = serve(&db);
    let url = served.url.clone();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let browser = Browser::start();

    // The timeline lists every snapshot, newest first.
    browser.goto(&url);
    let listed: Vec<u64> = browser
        .find_all("#snapshots tbody tr")
        .iter()
        .map(|r| browser.attr(r, "data-id").unwrap().parse().unwrap())
        .collect();
    let snapshots = dizzy_json(&["snapshots", "--db", path, "--json"]);
    let mut ids: Vec<u64> = snapshots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert!(ids.len() >= 2, "a run of several snapshots: {ids:?}");
    ids.reverse();
    assert_eq!(listed, ids);
    assert_eq!(browser.find_all("svg.plot").len(), 2, "entities and bytes");
    browser.screenshot("timeline");

    // A snapshot's components, with the counts `dizzy stats` gives.
    browser.goto(&format!("{url}snapshots/latest"));
    let stats = dizzy_json(&["stats", "--db", path, "--snapshot", "latest", "--json"]);
    let components = stats[0]["components"].as_object().unwrap();
    for row in browser.find_all("#components tbody tr[data-component]") {
        let name = browser.attr(&row, "data-component").unwrap();
        let cells = browser.find_all_in(Some(&row), "td");
        let entities: u64 = browser.text(&cells[1]).parse().unwrap();
        let bytes: u64 = browser.text(&cells[3]).parse().unwrap();
        assert_eq!(entities, components[&name]["entities"], "{name}");
        assert_eq!(bytes, components[&name]["bytes"], "{name}");
    }
    browser.screenshot("snapshot");

    // The table of duplicate sets holds the sets `show --json` shows.
    let shown = dizzy_json(&[
        "show",
        "--db",
        path,
        "--with",
        "dedupe.duplicate_set",
        "--json",
    ]);
    let expected: BTreeMap<u64, Value> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["uid"].as_u64().unwrap(),
                e["dedupe.duplicate_set"].clone(),
            )
        })
        .collect();
    assert!(
        expected.len() >= 5,
        "the tree has duplicates: {}",
        expected.len()
    );
    browser.goto(&format!(
        "{url}snapshots/latest/components/dedupe.duplicate_set?size=500"
    ));
    let mut seen: BTreeMap<u64, Value> = BTreeMap::new();
    for row in browser.find_all("#rows tbody tr") {
        let uid: u64 = browser.attr(&row, "data-uid").unwrap().parse().unwrap();
        let mut value = serde_json::Map::new();
        for cell in browser.find_all_in(Some(&row), "td[data-field]") {
            let field = browser.attr(&cell, "data-field").unwrap();
            let text = browser.text(&cell);
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("uid {uid} {field}: {e}: {text}"));
            value.insert(field, v);
        }
        seen.insert(uid, Value::Object(value));
    }
    assert_eq!(seen, expected);
    browser.screenshot("duplicate-sets");

    // Sorted by size, largest first: the same sets in that order.
    browser.goto(&format!(
        "{url}snapshots/latest/components/dedupe.duplicate_set?size=500&sort=size&desc=1"
    ));
    let sizes: Vec<u64> = browser
        .find_all("#rows td[data-field=size]")
        .iter()
        .map(|c| browser.text(c).parse().unwrap())
        .collect();
    assert_eq!(sizes.len(), expected.len());
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");

    // A diff between the first and the last snapshot shows `dizzy diff`.
    let (first, last) = (ids[ids.len() - 1], ids[0]);
    let cli = dizzy_json(&["diff", "--db", path, &first.to_string(), "latest", "--json"]);
    assert_eq!(cli["to"], last);
    browser.goto(&format!("{url}diff?a={first}&b=latest&limit=5000"));
    for kind in ["spawned", "despawned", "added", "removed", "changed"] {
        let count: usize = browser
            .text(&browser.find(&format!("#{kind}-count")))
            .parse()
            .unwrap();
        assert_eq!(count, cli[kind].as_array().unwrap().len(), "{kind}");
    }
    let spawned: Vec<u64> = browser
        .find_all("tr.spawned")
        .iter()
        .map(|r| browser.attr(r, "data-uid").unwrap().parse().unwrap())
        .collect();
    let cli_spawned: Vec<u64> = cli["spawned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_u64().unwrap())
        .collect();
    assert_eq!(spawned, cli_spawned);
    let changed: Vec<(u64, String)> = browser
        .find_all("tr.changed[data-component]")
        .iter()
        .map(|r| {
            (
                browser.attr(r, "data-uid").unwrap().parse().unwrap(),
                browser.attr(r, "data-component").unwrap(),
            )
        })
        .collect();
    let cli_changed: Vec<(u64, String)> = cli["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["uid"].as_u64().unwrap(),
                c["component"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(changed, cli_changed);
    browser.screenshot("diff");

    // The schedule diagram renders: the pipeline's systems are drawn (with
    // a size on screen), and a system's data links to its component's table.
    browser.goto(&format!("{url}snapshots/latest/schedule"));
    for system in [
        "sys_discover",
        "sys_by_size",
        "sys_hash_partial",
        "sys_by_partial",
        "sys_hash_full",
        "sys_group",
    ] {
        let size = browser.script(
            "const e = document.getElementById(arguments[0]); if (!e) return null; const b = e.getBBox(); return [b.width, b.height];",
            serde_json::json!([system]),
        );
        let (w, h) = (
            size[0].as_f64().unwrap_or(0.0),
            size[1].as_f64().unwrap_or(0.0),
        );
        assert!(w > 20.0 && h > 10.0, "{system} drawn at {size}");
    }
    let href = browser.script(
        "const g = document.getElementById('c_dedupe_sha256'); return g && g.parentElement.getAttribute('href');",
        serde_json::json!([]),
    );
    assert!(
        href.as_str()
            .is_some_and(|h| h.ends_with("/components/dedupe.sha256")),
        "{href}"
    );
    browser.screenshot("schedule");
    drop(browser);
    assert_eq!(
        served.stop(),
        Some(0),
        "dizzy serve ends cleanly on SIGTERM"
    );
}

#[test]
fn a_reference_from_a_duplicate_set_leads_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dedupe_run(dir.path());
    let served = serve(&db);
    let browser = Browser::start();
    browser.goto(&format!(
        "{}snapshots/latest/components/dedupe.duplicate_set",
        served.url
    ));
    let rows = browser.find_all("#rows tbody tr");
    assert!(
        !rows.is_empty(),
        "no duplicate set listed: {}",
        browser.script("return document.body.innerText", serde_json::json!([]))
    );
    let files_cell = browser.find_all_in(Some(&rows[0]), "td[data-field=files]");
    let links = browser.find_all_in(files_cell.first(), "a.ref");
    if links.is_empty() {
        let note = browser
            .find_all("#refs-unlocated")
            .first()
            .map(|n| browser.text(n))
            .unwrap_or_default();
        browser.screenshot("duplicate-sets-without-references");
        panic!(
            "the set's `files` are shown without links: dizzy_components::shape::references \
             located no entity reference in the recorded shape (the page says: {note:?})"
        );
    }
    let set = browser.attr(&rows[0], "data-uid").unwrap();
    let target: u64 = browser
        .attr(&links[0], "data-uid")
        .unwrap()
        .parse()
        .unwrap();
    browser.click(&links[0]);
    assert!(
        browser.url().ends_with(&format!("/entities/{target}")),
        "{}",
        browser.url()
    );
    let components: Vec<String> = browser
        .find_all("#components tr[data-component]")
        .iter()
        .map(|r| browser.attr(r, "data-component").unwrap())
        .collect();
    assert!(
        components.iter().any(|c| c == "dedupe.file"),
        "a file's page: {components:?}"
    );
    // The file's page lists the set among the entities that refer to it.
    let referrers: Vec<String> = browser
        .find_all("#incoming tr[data-uid]")
        .iter()
        .map(|r| browser.attr(r, "data-uid").unwrap())
        .collect();
    assert!(referrers.contains(&set), "set {set} among {referrers:?}");
    // ...and its lineage, the file itself marked.
    let focus = browser.find("#lineage li.focus");
    assert_eq!(browser.attr(&focus, "data-uid"), Some(target.to_string()));
    browser.screenshot("file-entity");
}
