//! What `show`, `trace` and `diff` print of a value never holds a character
//! a terminal acts on: a string that holds the C1 control that starts an
//! escape sequence (U+009B), ESC, DEL, a bidirectional override or a line
//! separator is printed with those as JSON `\uXXXX` escapes, in text and in
//! JSON, and the JSON still reads back as the same value.

use std::path::Path;

use dizzy::prelude::*;
use dizzy_tests::dizzy_ok;
use serde_json::Value;

#[derive(Component, Serialize, Deserialize)]
struct Label(String);

const EVIL: &str = "a\u{9b}2J\u{1b}[31m\u{7f}\u{202e}gnp.exe\u{2028}z";

fn risky(c: char) -> bool {
    matches!(c, '\u{9b}' | '\u{1b}' | '\u{7f}' | '\u{202e}' | '\u{2028}')
}

fn write(db: &Path) {
    let mut run = App::new()
        .db(db)
        .component::<Label>("lab.label")
        .open()
        .unwrap();
    let first = run.spawn(Label("plain".into()));
    run.snapshot_full().unwrap();
    run.world_mut().get_mut::<Label>(first).unwrap().0 = EVIL.into();
    run.spawn(Label(EVIL.into()));
    run.close().unwrap();
}

#[test]
fn show_trace_and_diff_escape_what_a_terminal_acts_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.redb");
    write(&db);
    let db = db.to_str().unwrap();
    let outputs = [
        dizzy_ok(&["show", "--db", db]),
        dizzy_ok(&["show", "--db", db, "--json"]),
        dizzy_ok(&["diff", "--db", db, "1", "2"]),
        dizzy_ok(&["diff", "--db", db, "1", "2", "--json"]),
        dizzy_ok(&["trace", "--db", db, "2"]),
        dizzy_ok(&["trace", "--db", db, "2", "--json"]),
    ];
    for out in &outputs {
        assert!(!out.chars().any(risky), "{out:?}");
    }
    assert!(
        outputs[0].contains(r"\u009b2J\u001b[31m\u007f\u202egnp.exe\u2028z"),
        "{}",
        outputs[0]
    );
    // The JSON reads back as the very string.
    let shown: Value = serde_json::from_str(&outputs[1]).unwrap();
    let labels: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["lab.label"].as_str())
        .collect();
    assert_eq!(labels, [EVIL, EVIL]);
    let diff: Value = serde_json::from_str(&outputs[3]).unwrap();
    assert!(diff.to_string().contains("gnp.exe"), "{diff}");
}
