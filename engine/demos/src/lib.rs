//! dizzy's demos, written only with the public API: [`dedupe`], a
//! resumable duplicate-file finder, and [`particles`], a deterministic
//! simulation for load.

pub mod dedupe;
pub mod particles;

use dizzy::App;

/// An app that registers every demo's types (no systems), so that the
/// inspection commands can decode the demos' files.
pub fn registry_app() -> App {
    App::new()
        .plugin(dedupe::DedupePlugin::default())
        .plugin(particles::ParticlesPlugin { types_only: true })
}
