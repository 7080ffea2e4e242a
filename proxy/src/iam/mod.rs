//! TEMPORARY placeholder of the IAM module's API (/work/notes/iam-api.md) so
//! the proxy builds before branch `iam` lands; dropped at merge. It parses
//! only what the proxy's own tests need (region, account, cluster_id,
//! `[[password_user]] name/password`) and rejects every token.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("failed to read the IAM file: {0}")]
    Read(#[from] std::io::Error),
    #[error("bad IAM file: {0}")]
    Parse(String),
    #[error("token generation is not available in the placeholder")]
    Unavailable,
}

#[derive(serde::Deserialize)]
struct Raw {
    #[serde(default)]
    region: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    cluster_id: String,
    #[serde(default)]
    password_user: Vec<RawUser>,
}

#[derive(serde::Deserialize)]
struct RawUser {
    name: String,
    password: String,
}

pub struct IamFile {
    region: String,
    account: String,
    cluster_id: String,
    users: Vec<PasswordUser>,
}

impl IamFile {
    pub fn load(path: &Path) -> Result<IamFile, IamError> {
        IamFile::parse(&std::fs::read_to_string(path)?)
    }
    pub fn parse(text: &str) -> Result<IamFile, IamError> {
        let raw: Raw = toml::from_str(text).map_err(|e| IamError::Parse(e.to_string()))?;
        Ok(IamFile {
            region: raw.region,
            account: raw.account,
            cluster_id: raw.cluster_id,
            users: raw
                .password_user
                .into_iter()
                .map(|u| PasswordUser {
                    name: u.name,
                    secret: PasswordSecret::Plain(u.password),
                })
                .collect(),
        })
    }
    pub fn password_user(&self, name: &str) -> Option<&PasswordUser> {
        self.users.iter().find(|u| u.name == name)
    }
    pub fn region(&self) -> &str {
        &self.region
    }
    pub fn account(&self) -> &str {
        &self.account
    }
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }
}

pub struct PasswordUser {
    pub name: String,
    pub secret: PasswordSecret,
}

pub enum PasswordSecret {
    Plain(String),
    ScramVerifier {
        iterations: u32,
        salt: Vec<u8>,
        stored_key: [u8; 32],
        server_key: [u8; 32],
    },
}

pub struct TokenVerifier {
    _iam: Arc<IamFile>,
}

impl TokenVerifier {
    pub fn new(iam: Arc<IamFile>, _endpoints: Vec<String>, _skew: Duration) -> TokenVerifier {
        TokenVerifier { _iam: iam }
    }
    pub fn verify(
        &self,
        _token: &str,
        _startup_user: &str,
        _now: SystemTime,
    ) -> Result<Verified, Rejection> {
        Err(Rejection::UnknownKey)
    }
}

pub struct Verified {
    pub iam_user: String,
    pub access_key_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Malformed,
    Algorithm,
    SignedHeaders,
    CredentialScope,
    UserMismatch,
    Endpoint,
    Expired,
    FutureDated,
    UnknownKey,
    Signature,
    PolicyDenied,
}

impl Rejection {
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::Algorithm => "algorithm",
            Rejection::SignedHeaders => "signed_headers",
            Rejection::CredentialScope => "credential_scope",
            Rejection::UserMismatch => "user_mismatch",
            Rejection::Endpoint => "endpoint",
            Rejection::Expired => "expired",
            Rejection::FutureDated => "future_dated",
            Rejection::UnknownKey => "unknown_key",
            Rejection::Signature => "signature",
            Rejection::PolicyDenied => "policy_denied",
        }
    }
}

pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Credentials {
    pub fn from_env() -> Result<Credentials, IamError> {
        Err(IamError::Unavailable)
    }
}

pub fn generate_token(
    _host: &str,
    _port: u16,
    _user: &str,
    _region: &str,
    _creds: &Credentials,
    _now: SystemTime,
) -> Result<String, IamError> {
    Err(IamError::Unavailable)
}
