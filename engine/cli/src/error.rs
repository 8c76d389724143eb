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

    /// Prints the message on stderr, on one line (see [`one_line`]),
    /// waiting at most two seconds for stderr to take it: a pipe nobody
    /// reads never keeps a finished command from exiting (the exit code
    /// still tells).
    pub(crate) fn print(&self) {
        use std::io::Write;
        let one_line = one_line(&self.message);
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

/// `message` as one line that cannot drive a terminal: an ASCII control
/// character (newline, tab, carriage return, escape, ...) is written
/// `\xNN`, another control character or one that hides or reorders a line
/// (a bidirectional override, a zero-width space) `\u{N}` (hex):
/// [`dizzy_components::text::push_shown`], the way `demo dedupe` shows
/// paths. A path given on the command line (`--db`)
/// that holds such a character is named in an error as it is, not as a
/// terminal would render it.
pub(crate) fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        dizzy_components::text::push_shown(&mut out, c);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn an_error_line_names_control_characters_instead_of_sending_them() {
        assert_eq!(one_line("plain: text, é"), "plain: text, é");
        assert_eq!(one_line("a\nb"), "a\\x0Ab");
        assert_eq!(one_line("a b"), "a b");
        assert_eq!(one_line("e\u{1b}[31mred\rx\t"), "e\\x1B[31mred\\x0Dx\\x09");
        assert_eq!(one_line("\u{202E}txt.exe\u{85}"), "\\u{202E}txt.exe\\u{85}");
    }
}
