//! Errors: what fails at start ([`ConfigError`], [`StartError`]), and what a
//! client is told ([`ClientError`]).
//!
//! A client error's text is written for the client and says nothing it
//! should not learn: an authentication failure reads the same whichever
//! check failed (the log and the `proxy_auth_failures_total{reason}` metric
//! say which). SQLSTATEs are chosen in one exhaustive `match`.

use std::path::PathBuf;

/// SQLSTATE codes the proxy sends
/// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
pub mod sqlstate {
    /// `invalid_password`: wrong password or token.
    pub const INVALID_PASSWORD: &str = "28P01";
    /// `invalid_authorization_specification`: refused before any password.
    pub const INVALID_AUTHORIZATION: &str = "28000";
    /// `protocol_violation`.
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    /// `connection_failure`.
    pub const CONNECTION_FAILURE: &str = "08006";
    /// `feature_not_supported`.
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    /// `too_many_connections`.
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    /// `serialization_failure`: the retry-the-transaction code.
    pub const SERIALIZATION_FAILURE: &str = "40001";
    /// `cannot_connect_now`.
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    /// `idle_session_timeout`.
    pub const IDLE_SESSION_TIMEOUT: &str = "57P05";
    /// `admin_shutdown`.
    pub const ADMIN_SHUTDOWN: &str = "57P01";
}

/// A setting is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is out of range or inconsistent.
    #[error("invalid proxy setting {setting}: {why}")]
    Invalid { setting: &'static str, why: String },
    /// The cluster file cannot be read or parsed.
    #[error("cluster file {path}: {why}")]
    ClusterFile { path: PathBuf, why: String },
}

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// A listener cannot be bound.
    #[error("failed to listen on {what}: {source}")]
    Listen {
        what: &'static str,
        source: std::io::Error,
    },
}

/// What a client is told when the proxy itself fails its request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// Wrong password or token, unknown user, or policy denial: one answer.
    AuthFailed { user: String },
    /// The connection did not negotiate TLS and the proxy requires it.
    TlsRequired,
    /// The client broke the protocol.
    Protocol(String),
    /// The startup message asks for something the proxy does not relay.
    Unsupported(String),
    /// Over `max_connections`.
    TooManyConnections,
    /// No writer (or reader) within the hold timeout.
    NoBackend { endpoint: &'static str },
    /// The proxy could not open its backend session.
    BackendUnavailable,
    /// The writer failed over while this transaction was open.
    TransactionFailedOver,
    /// Idle past `idle_timeout`.
    IdleTimeout,
    /// The proxy is shutting down.
    Shutdown,
}

impl ClientError {
    /// The SQLSTATE.
    pub fn sqlstate(&self) -> &'static str {
        use sqlstate::*;
        match self {
            ClientError::AuthFailed { .. } => INVALID_PASSWORD,
            ClientError::TlsRequired => INVALID_AUTHORIZATION,
            ClientError::Protocol(_) => PROTOCOL_VIOLATION,
            ClientError::Unsupported(_) => FEATURE_NOT_SUPPORTED,
            ClientError::TooManyConnections => TOO_MANY_CONNECTIONS,
            ClientError::NoBackend { .. } => CANNOT_CONNECT_NOW,
            ClientError::BackendUnavailable => CONNECTION_FAILURE,
            ClientError::TransactionFailedOver => SERIALIZATION_FAILURE,
            ClientError::IdleTimeout => IDLE_SESSION_TIMEOUT,
            ClientError::Shutdown => ADMIN_SHUTDOWN,
        }
    }

    /// The message, safe to show the client.
    pub fn client_message(&self) -> String {
        match self {
            ClientError::AuthFailed { user } => {
                format!("password authentication failed for user \"{user}\"")
            }
            ClientError::TlsRequired => "this server accepts TLS connections only".into(),
            ClientError::Protocol(what) => format!("protocol violation: {what}"),
            ClientError::Unsupported(what) => format!("not supported through the proxy: {what}"),
            ClientError::TooManyConnections => "sorry, too many clients already".into(),
            ClientError::NoBackend { endpoint } => {
                format!("no {endpoint} is available right now; try again")
            }
            ClientError::BackendUnavailable => {
                "the proxy could not open a session on the database; try again".into()
            }
            ClientError::TransactionFailedOver => {
                "the writer failed over while this transaction was open; it was rolled back \
                 (if it was committing, it may have committed): retry the transaction"
                    .into()
            }
            ClientError::IdleTimeout => "terminating connection due to idle-session timeout".into(),
            ClientError::Shutdown => "terminating connection: the proxy is shutting down".into(),
        }
    }
}
