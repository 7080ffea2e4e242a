//! IAM authentication: the proxy's IAM file, the verification of RDS IAM
//! auth tokens (SigV4 presigned `connect` URLs), policy evaluation, and
//! token generation for `sextant token`.
//!
//! The proxy authenticates like Amazon RDS does, but it is its own IAM: the
//! identities, their secrets and their policies live in one TOML file that
//! the proxy loads at start ([`IamFile::load`]). A client's password is
//! either an IAM auth token, which [`TokenVerifier::verify`] checks, or,
//! for a user listed under `password_users`, a password checked with
//! SCRAM-SHA-256 by the proxy's wire code.
//!
//! # The IAM file
//!
//! ```toml
//! # Where the "cluster" is: tokens must be scoped to this region, and
//! # policies are evaluated against
//! # arn:aws:rds-db:REGION:ACCOUNT:dbuser:CLUSTER_ID/DB_USER.
//! region = "us-east-1"
//! account = "123456789012"         # 12 digits
//! cluster_id = "cluster-SEXTANTDEV" # letters, digits, - _ .
//!
//! # IAM users: identities that sign tokens with their access keys.
//! [[iam_users]]
//! name = "alice"                    # 1-64 of letters, digits, +=,.@_-
//! access_keys = [
//!   { id = "AKIAIOSFODNN7EXAMPLE", secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
//!   # Temporary credentials: tokens must carry this X-Amz-Security-Token.
//!   { id = "ASIAQEXAMPLEEXAMPLE7", secret = "...", session_token = "IQoJb3JpZ2luX2Vj..." },
//! ]
//! # IAM JSON policy documents, one string each.
//! policies = ['''
//! {
//!   "Version": "2012-10-17",
//!   "Statement": [
//!     { "Effect": "Allow", "Action": "rds-db:connect",
//!       "Resource": "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-SEXTANTDEV/*" },
//!     { "Effect": "Deny", "Action": "rds-db:*",
//!       "Resource": ["arn:aws:rds-db:*:*:dbuser:*/postgres"] }
//!   ]
//! }
//! ''']
//!
//! # Password users: database users that log in with SCRAM-SHA-256.
//! [[password_users]]
//! name = "reporting"                # a PostgreSQL role name, 1-63 bytes
//! password = "correct horse battery staple"
//! iam_tokens = true                 # over TLS, an IAM token works too
//!
//! [[password_users]]
//! name = "etl"                      # a verifier as pg_authid stores it
//! scram_verifier = "SCRAM-SHA-256$4096:HG+VCGIO+o9PdztvTzHMqw==$PkNYKiULInb2URPa+Ku1Nf36oNulazMsxo/WKiPrsaE=:e8zO8NFJY8ClY14n3kyRu2X7Weha0l+LobpGMnJi6LY="
//! ```
//!
//! Policies support `Version`, `Id` and `Statement` with `Sid`, `Effect`,
//! `Action` and `Resource` (string or list), `*` and `?` wildcards as IAM
//! matches them (see [`policy`]), and explicit `Deny` winning over `Allow`.
//! `Condition`, `NotAction`, `NotResource`, `Principal`, `NotPrincipal` and
//! policy variables are refused at load time, naming the key: ignoring them
//! would grant more than their author meant. Unknown TOML keys, duplicate
//! users or key ids, bad names, and bad verifiers are refused too; every
//! error names the line it is on.
//!
//! # Tokens
//!
//! See [`token`] for what a token is and every check, in order. The
//! signature is recomputed with the `aws-sigv4` crate (the signer of the
//! AWS Rust SDK, whose RDS auth-token generator uses it the same way) in
//! presigned-query mode, and compared in constant time. Tokens made by
//! boto3 are among the test vectors (`proxy/tests/data/iam/`).
//!
//! The IAM file holds secrets: the proxy never logs them, and `Debug`
//! output redacts them.

mod file;
pub mod policy;
pub mod token;

use std::path::PathBuf;

pub use file::{
    IamFile, PasswordSecret, PasswordUser, ScramVerifierError, IAM_FILE_BYTES_MAX,
    PG_ROLE_NAME_BYTES_MAX,
};
pub use token::{
    generate_token, Credentials, Rejection, TokenVerifier, Verified, CLOCK_SKEW_MAX,
    TOKEN_EXPIRES_MAX,
};

/// Why the IAM file could not be loaded, or a token could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        source: Box<IamError>,
    },
    #[error("the IAM file is {size_bytes} bytes; at most {IAM_FILE_BYTES_MAX} are read")]
    TooLarge { size_bytes: u64 },
    /// Not TOML, or a key or type the format does not have (toml's message
    /// names the line and column).
    #[error("{message}")]
    Syntax { message: String },
    /// Valid TOML with a value the proxy refuses.
    #[error("line {line}: {message}")]
    Invalid { line: usize, message: String },
    #[error("environment variable {name} is not set")]
    MissingEnv { name: &'static str },
    #[error("cannot make a token: {message}")]
    TokenInput { message: String },
    #[error("signing the token failed: {message}")]
    Signing { message: String },
}
