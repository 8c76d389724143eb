//! Checks of the renderings, shared by the unit tests and the `dizzy graph`
//! behaviour test (which includes this file by path): a Mermaid flowchart
//! is checked structurally, a DOT graph by rendering it with Graphviz.

use std::collections::HashSet;

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Structural checks of a Mermaid flowchart: balanced subgraphs, valid and
/// unique ids, known node shapes with quoted labels, edges between declared
/// ids only.
pub fn check_mermaid(text: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("flowchart LR"));
    let mut declared = HashSet::new();
    let mut edges = Vec::new();
    let mut depth = 0i32;
    for line in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with("%%") || line.starts_with("classDef ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("subgraph ") {
            let id: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '[')
                .collect();
            assert!(is_id(&id), "bad subgraph id in {line:?}");
            assert!(declared.insert(id), "duplicate id in {line:?}");
            depth += 1;
        } else if line == "end" {
            depth -= 1;
            assert!(depth >= 0, "unbalanced end");
        } else if let Some(rest) = line.strip_prefix("class ") {
            let (ids, _) = rest.split_once(' ').unwrap();
            edges.extend(ids.split(',').map(str::to_owned));
        } else if line.contains("-->") || line.contains("-.->") || line.contains("==>") {
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "edge {line:?}");
            edges.push(parts[0].to_owned());
            edges.push(parts[2].to_owned());
        } else {
            let id: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(is_id(&id), "bad node line {line:?}");
            let rest = &line[id.len()..];
            assert!(
                ["[\"", "[(\"", "[[\"", "{{\""]
                    .iter()
                    .any(|p| rest.starts_with(p)),
                "bad node shape {line:?}"
            );
            assert_eq!(rest.matches('"').count(), 2, "unescaped quote in {line:?}");
            assert!(declared.insert(id), "duplicate id in {line:?}");
        }
    }
    assert_eq!(depth, 0, "unbalanced subgraph/end");
    for id in edges {
        assert!(is_id(&id), "bad id {id:?}");
        assert!(declared.contains(&id), "undeclared id {id:?} in\n{text}");
    }
}

/// Runs `dot -Tsvg` on the text if Graphviz is installed; returns whether
/// it did (the text rendered without a warning).
pub fn check_dot(text: &str) -> bool {
    use std::io::Write;
    use std::process::{Command, Stdio};
    assert!(text.starts_with("digraph schedule {"));
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            println!("note: `dot` not available ({e}); DOT output not validated");
            return false;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "dot failed: {stderr}\n{text}");
    assert!(stderr.trim().is_empty(), "dot warned: {stderr}\n{text}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("<svg"));
    true
}

/// Structural checks of an SVG picture: one `<svg>` root, tags balanced
/// and well nested, attribute values quoted, no script, and `ids` (the
/// diagram ids of nodes that must be drawn) present, each once.
pub fn check_svg(text: &str, ids: &[&str]) {
    let text = text.trim();
    assert!(text.starts_with("<svg "), "not an svg element: {text:.80}");
    assert!(!text.contains("<script"), "a script in the picture");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    let mut seen_ids: Vec<String> = Vec::new();
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>').expect("an unclosed tag");
        let tag = &after[..close];
        rest = &after[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().expect("a closing tag without an opening one");
            assert_eq!(top, name.trim(), "tags cross");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad tag {tag:?}"
        );
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag:?}"
        );
        if let Some(id) = tag.split(" id=\"").nth(1).and_then(|r| r.split('"').next()) {
            seen_ids.push(id.to_owned());
        }
        if !tag.ends_with('/') {
            stack.push(name);
        }
        if stack.is_empty() {
            assert!(rest.trim().is_empty(), "content after the root");
        }
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    for id in ids {
        let n = seen_ids.iter().filter(|s| s == id).count();
        assert_eq!(n, 1, "node {id} drawn {n} times (ids: {seen_ids:?})");
    }
}
