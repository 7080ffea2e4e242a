//! The one error type of the harness.
//!
//! Tests mostly `.expect()` these, so every variant carries enough context to
//! read the failure without a debugger: the action that failed, and for the
//! CLI the command line and what it printed on stderr.

use std::path::PathBuf;
use std::time::Duration;

/// Result of a harness operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a harness operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable Docker engine: the CLI is missing or the daemon does not
    /// answer. Container tests fail on this rather than skip.
    #[error(
        "container tests need a running Docker engine and the `docker` CLI, and {reason}; \
         start the Docker daemon (or point DOCKER_HOST at one): these tests fail, they never skip"
    )]
    DockerUnavailable {
        /// What the probe saw.
        reason: String,
    },

    /// A `docker` CLI command exited unsuccessfully.
    #[error("failed to {action}: `{command}` {status}: {stderr}")]
    Command {
        /// What the harness was doing, as verb plus object.
        action: String,
        /// The command line that was run.
        command: String,
        /// How it ended.
        status: String,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },

    /// A testcontainers call failed.
    #[error("failed to {action}: {source}")]
    Testcontainers {
        /// What the harness was doing, as verb plus object.
        action: String,
        /// The testcontainers error.
        #[source]
        source: testcontainers::TestcontainersError,
    },

    /// A local I/O operation failed.
    #[error("failed to {action}: {source}")]
    Io {
        /// What the harness was doing, as verb plus object.
        action: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The shared libraries of the binary could not be listed.
    #[error("failed to list the shared libraries of {}: {reason}", binary.display())]
    Ldd {
        /// The binary that `ldd` was run on.
        binary: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// Something did not happen in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the harness waited.
        waited: Duration,
    },
}

impl Error {
    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let action = action.into();
        move |source| Error::Io { action, source }
    }

    pub(crate) fn tc(
        action: impl Into<String>,
    ) -> impl FnOnce(testcontainers::TestcontainersError) -> Error {
        let action = action.into();
        move |source| Error::Testcontainers { action, source }
    }
}
