//! The pages' style sheet and script, built into the binary: the explorer
//! works offline and loads nothing from elsewhere.

/// The style sheet.
const STYLE: &str = include_str!("../assets/style.css");
/// The script: refreshes live pages when a snapshot lands, and nothing
/// else (every page works without it).
const SCRIPT: &str = include_str!("../assets/explorer.js");

/// An asset by file name: its content type and bytes. Only these exact
/// names exist; nothing is read from the file system.
pub(crate) fn get(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "style.css" => Some(("text/css; charset=utf-8", STYLE)),
        "explorer.js" => Some(("text/javascript; charset=utf-8", SCRIPT)),
        _ => None,
    }
}
