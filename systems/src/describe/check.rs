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
