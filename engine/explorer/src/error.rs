//! The explorer's errors: starting it ([`ServeError`]) and answering one
//! request (a status and a one-line message, shown as a page).

use std::net::SocketAddr;

/// Starting an explorer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address is not a loopback address and serving other machines
    /// was not asked for.
    #[error(
        "{addr}: not a loopback address; the explorer has no authentication, so serving other machines must be asked for explicitly (--allow-remote, Explorer::allow_remote)"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The app has no file (an in-memory app): there is nothing to explore.
    #[error("the app has no file (it runs in memory): there is nothing to explore")]
    NoFile,
    /// The server's thread or runtime could not be started.
    #[error("cannot start the explorer's server: {0}")]
    Start(std::io::Error),
    /// The file could not be opened.
    #[error(transparent)]
    Open(#[from] dizzy_snapshots::StoreOpenError),
}

/// A request that gets no page: its status and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl PageError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        PageError {
            status: 400,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        PageError {
            status: 404,
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        PageError {
            status: 500,
            message: message.into(),
        }
    }

    pub(crate) fn busy() -> Self {
        PageError {
            status: 503,
            message: "the explorer is busy; try again".into(),
        }
    }
}
