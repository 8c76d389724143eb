//! Built-in demos, written only with the public API.

pub mod dedupe;

use crate::App;

/// An app that registers every demo's types (no systems), so that the
/// inspection commands can decode the demos' files.
pub fn registry_app() -> App {
    App::new().plugin(dedupe::DedupePlugin::default())
}
