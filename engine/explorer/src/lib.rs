//! dizzy's explorer: a read-only web page over a dizzy file.
//!
//! Every snapshot of a dizzy file records its data, the shapes of its
//! values, the lineage of its entities and the schedule of the app that
//! wrote it. The explorer shows all of it in a browser: the snapshots on a
//! timeline (with a plot of entities and bytes), each snapshot's
//! components with counts and bytes, a paged, sortable and filterable table
//! per component, an entity's page (its components, references as links,
//! the references it receives, its lineage), the differences between two
//! snapshots, and the schedule as a diagram.
//!
//! It serves a saved file ([`Explorer`], or `dizzy serve --db FILE`) or the
//! file a running app is writing ([`serve`]), through the app's own handle:
//! committed snapshots appear as they land while the run goes on, and
//! another process that finds the file in use is told the explorer's
//! address.
//!
//! It is read-only (no request changes the file), bound to loopback unless
//! told otherwise, works offline (its style sheet and script are built in),
//! answers hostile requests with 4xx pages, and bounds what one request
//! makes (rows per page, characters per value).
//!
//! ```no_run
//! use dizzy::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut runtime = App::new().db("work.redb").open()?;
//! let serving = dizzy_explorer::serve(&runtime, "127.0.0.1:0".parse()?)?;
//! eprintln!("explorer at {}", serving.url());
//! runtime.run_ticks(1000)?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod assets;
mod error;
mod live;
mod pages;
mod server;
mod source;

pub use error::ServeError;
pub use live::serve;
pub use server::{DEFAULT_ADDR, Explorer, Serving};
