//! The one error type of a subcommand, and its exit code.

/// A subcommand failed: printed on one line, without a backtrace, with an
/// exit code (1, or 128 + a signal's number for a run a signal stopped).
#[derive(Debug)]
pub struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    /// An error with exit code 1.
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 1,
        }
    }

    /// A run that a stop request ended, its progress saved: exit code 128 +
    /// the signal's number when `signal` is one (130 for SIGINT, 143 for
    /// SIGTERM), else 130.
    pub fn stopped(message: impl Into<String>, signal: Option<usize>) -> Self {
        let code = match signal {
            Some(s) if (1..=64).contains(&s) => 128 + s as u8,
            _ => 130,
        };
        CliError {
            message: message.into(),
            code,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// Prints the message on stderr, on one line, waiting at most two
    /// seconds for stderr to take it: a pipe nobody reads never keeps a
    /// finished command from exiting (the exit code still tells).
    pub(crate) fn print(&self) {
        use std::io::Write;
        let one_line = self.message.replace('\n', " ");
        let line = if self.code == 1 {
            format!("error: {one_line}\n")
        } else if one_line.starts_with("stopped") {
            format!("{one_line}\n")
        } else {
            format!("stopped: {one_line}\n")
        };
        let (done, written) = std::sync::mpsc::channel();
        // Not `eprintln!`: an unwritable stderr (full, closed) must not
        // turn an error into a panic.
        let printer = std::thread::Builder::new().spawn(move || {
            let _ = std::io::stderr().write_all(line.as_bytes());
            let _ = done.send(());
        });
        if printer.is_ok() {
            let _ = written.recv_timeout(std::time::Duration::from_secs(2));
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError::new(e.to_string())
    }
}
