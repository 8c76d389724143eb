//! The `dizzy` binary: the CLI with the built-in demos' types compiled in.

use std::process::ExitCode;

fn main() -> ExitCode {
    dizzy::cli::run(dizzy::demos::registry_app())
}
