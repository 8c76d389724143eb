//! dizzy's examples, each a binary of this crate (run one with
//! `cargo run -p dizzy-examples --bin NAME`):
//!
//! - `quick_script`: a resumable pipeline in about 30 lines: a component, a
//!   system, a file, a loop; kill it and run it again to resume.
//! - `plugin`: a domain's components, resource and systems as one
//!   [`Plugin`](dizzy::Plugin), with systems ordered and a resource saved.
//! - `migration`: a component whose type changed; the old file is read
//!   through a registered migration.
//! - `bundle`: entities (and what they reference) moved from one world into
//!   another as a bundle, references remapped.
//! - `own_cli`: a binary with dizzy's inspection subcommands (`snapshots`,
//!   `show`, ...) and a subcommand of its own, through `dizzy-cli`.
//!
//! `tests/every_example_runs_as_its_doc_says.rs` runs each one.
