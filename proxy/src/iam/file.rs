//! The proxy's IAM file (TOML): where the cluster sits (region, account,
//! cluster id), the IAM users with their access keys and policies, and the
//! password (SCRAM) database users. The format is documented, with an
//! example, in the parent module.
//!
//! Everything is validated when the file loads, so a typo fails the proxy's
//! start with the line it is on, instead of surfacing later as a refused
//! login that nobody can explain (the client is never told why).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use toml::Spanned;

use super::policy::{Policy, PolicyError};
use super::IamError;

/// Largest IAM file read; a file with thousands of users and policies fits.
pub const IAM_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// PostgreSQL's longest role name (NAMEDATALEN - 1, `pg_config_manual.h`).
pub const PG_ROLE_NAME_BYTES_MAX: usize = 63;
/// IAM's longest user name ("IAM object quotas" in the IAM user guide).
pub const IAM_USER_NAME_CHARS_MAX: usize = 64;
/// IAM access key ids are 16 to 128 characters (`AccessKey` in the IAM API).
pub const ACCESS_KEY_ID_CHARS: std::ops::RangeInclusive<usize> = 16..=128;
/// PBKDF2 iterations accepted in a SCRAM verifier: PostgreSQL's default is
/// 4096; the upper bound keeps one login from burning seconds of CPU.
pub const SCRAM_ITERATIONS_MAX: u32 = 10_000_000;

/// A secret string: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The proxy's IAM file, loaded once at start (and re-loadable: build a new
/// `TokenVerifier` around the new file).
#[derive(Debug)]
pub struct IamFile {
    region: String,
    account: String,
    cluster_id: String,
    pub(crate) iam_users: Vec<IamUser>,
    /// Access key id -> (index into `iam_users`, index into its keys).
    pub(crate) keys: HashMap<String, (usize, usize)>,
    password_users: HashMap<String, PasswordUser>,
}

/// An IAM user: an identity that signs tokens with its access keys and is
/// allowed to connect by its policies.
#[derive(Debug)]
pub(crate) struct IamUser {
    pub(crate) name: String,
    pub(crate) access_keys: Vec<AccessKey>,
    pub(crate) policies: Vec<Policy>,
}

#[derive(Debug)]
pub(crate) struct AccessKey {
    pub(crate) id: String,
    pub(crate) secret: Secret,
    /// When set, tokens made with this key must carry exactly this
    /// `X-Amz-Security-Token` (temporary credentials).
    pub(crate) session_token: Option<Secret>,
}

/// A password user: SCRAM-SHA-256 authentication against the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordUser {
    pub name: String,
    /// Either the plain password, or a stored verifier in PostgreSQL's format
    /// `SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>`.
    pub secret: PasswordSecret,
    /// Also accepts an IAM auth token for this user over TLS (the proxy
    /// then asks for the password in clear over TLS and takes either); see
    /// the proxy's `auth` module.
    pub iam_tokens: bool,
}

/// How a password user's password is stored in the file.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSecret {
    Plain(String),
    ScramVerifier {
        iterations: u32,
        salt: Vec<u8>,
        stored_key: [u8; 32],
        server_key: [u8; 32],
    },
}

impl fmt::Debug for PasswordSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSecret::Plain(_) => f.write_str("Plain(<redacted>)"),
            PasswordSecret::ScramVerifier { iterations, .. } => f
                .debug_struct("ScramVerifier")
                .field("iterations", iterations)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a SCRAM verifier string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramVerifierError {
    #[error(
        "a SCRAM verifier reads \"SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>\""
    )]
    Shape,
    #[error("iteration count {0:?} is not a number from 1 to {SCRAM_ITERATIONS_MAX}")]
    Iterations(String),
    #[error("{what} is not valid base64")]
    Base64 { what: &'static str },
    #[error("the salt is empty")]
    EmptySalt,
    #[error("{what} is {len} bytes; SCRAM-SHA-256 keys are 32")]
    KeyLength { what: &'static str, len: usize },
}

impl PasswordSecret {
    /// Parses a verifier as PostgreSQL stores it in `pg_authid.rolpassword`
    /// (`scram_build_secret` in `src/common/scram-common.c`).
    pub fn parse_scram_verifier(text: &str) -> Result<PasswordSecret, ScramVerifierError> {
        let rest = text
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or(ScramVerifierError::Shape)?;
        let (iter_salt, keys) = rest.split_once('$').ok_or(ScramVerifierError::Shape)?;
        let (iterations, salt) = iter_salt.split_once(':').ok_or(ScramVerifierError::Shape)?;
        let (stored_key, server_key) = keys.split_once(':').ok_or(ScramVerifierError::Shape)?;
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|n| {
                (1..=SCRAM_ITERATIONS_MAX).contains(n)
                    && iterations.bytes().all(|b| b.is_ascii_digit())
            })
            .ok_or_else(|| ScramVerifierError::Iterations(iterations.to_owned()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64
            .decode(salt)
            .map_err(|_| ScramVerifierError::Base64 { what: "the salt" })?;
        if salt.is_empty() {
            return Err(ScramVerifierError::EmptySalt);
        }
        let key = |text: &str, what: &'static str| -> Result<[u8; 32], ScramVerifierError> {
            let bytes = b64
                .decode(text)
                .map_err(|_| ScramVerifierError::Base64 { what })?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| ScramVerifierError::KeyLength {
                what,
                len: bytes.len(),
            })
        };
        Ok(PasswordSecret::ScramVerifier {
            iterations,
            salt,
            stored_key: key(stored_key, "StoredKey")?,
            server_key: key(server_key, "ServerKey")?,
        })
    }
}

// The file as TOML spells it. Unknown keys are refused (deny_unknown_fields):
// a misspelt `pasword` must not silently leave a user without a secret.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    region: Spanned<String>,
    account: Spanned<String>,
    cluster_id: Spanned<String>,
    #[serde(default)]
    iam_users: Vec<Spanned<RawIamUser>>,
    #[serde(default)]
    password_users: Vec<Spanned<RawPasswordUser>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIamUser {
    name: Spanned<String>,
    #[serde(default)]
    access_keys: Vec<Spanned<RawAccessKey>>,
    #[serde(default)]
    policies: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccessKey {
    id: String,
    secret: String,
    session_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPasswordUser {
    name: Spanned<String>,
    password: Option<String>,
    scram_verifier: Option<String>,
    #[serde(default)]
    iam_tokens: bool,
}

/// Turns byte offsets into 1-based line numbers for error messages.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, offset: usize) -> usize {
        let end = offset.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> IamError {
        IamError::Invalid {
            line: self.of(spanned.span().start),
            message: message.into(),
        }
    }
}

impl IamFile {
    /// Reads and parses the IAM file at `path`.
    pub fn load(path: &Path) -> Result<IamFile, IamError> {
        let in_file = |source: IamError| IamError::InFile {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let read = |source| IamError::Read {
            path: PathBuf::from(path),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > IAM_FILE_BYTES_MAX {
            return Err(in_file(IamError::TooLarge { size_bytes: size }));
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        IamFile::parse(&text).map_err(in_file)
    }

    /// Parses an IAM file's text.
    pub fn parse(text: &str) -> Result<IamFile, IamError> {
        if text.len() as u64 > IAM_FILE_BYTES_MAX {
            return Err(IamError::TooLarge {
                size_bytes: text.len() as u64,
            });
        }
        let raw: RawFile = toml::from_str(text).map_err(|e| IamError::Syntax {
            message: e.to_string(),
        })?;
        let lines = Lines(text);

        let region = raw.region.get_ref();
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(lines.at(
                &raw.region,
                format!("region {region:?} is not a region name like \"us-east-1\""),
            ));
        }
        let account = raw.account.get_ref();
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(lines.at(
                &raw.account,
                format!("account {account:?} is not a 12-digit AWS account id"),
            ));
        }
        let cluster_id = raw.cluster_id.get_ref();
        if cluster_id.is_empty()
            || !cluster_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(lines.at(
                &raw.cluster_id,
                format!(
                    "cluster_id {cluster_id:?} must be non-empty letters, digits, '-', '_' or '.' (it is part of the dbuser ARN)"
                ),
            ));
        }

        let mut iam_users = Vec::with_capacity(raw.iam_users.len());
        let mut keys = HashMap::new();
        let mut names = HashSet::new();
        for user in &raw.iam_users {
            let user_ref = user.get_ref();
            let name = user_ref.name.get_ref();
            if name.is_empty()
                || name.chars().count() > IAM_USER_NAME_CHARS_MAX
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            {
                return Err(lines.at(
                    &user_ref.name,
                    format!(
                        "IAM user name {name:?} must be 1 to {IAM_USER_NAME_CHARS_MAX} letters, digits or +=,.@_-"
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(lines.at(&user_ref.name, format!("IAM user {name:?} is listed twice")));
            }
            let mut access_keys = Vec::with_capacity(user_ref.access_keys.len());
            for key in &user_ref.access_keys {
                let k = key.get_ref();
                if !ACCESS_KEY_ID_CHARS.contains(&k.id.len())
                    || !k.id.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(lines.at(
                        key,
                        format!(
                            "access key id {:?} of IAM user {name:?} must be {} to {} letters or digits",
                            k.id,
                            ACCESS_KEY_ID_CHARS.start(),
                            ACCESS_KEY_ID_CHARS.end()
                        ),
                    ));
                }
                if k.secret.is_empty() {
                    return Err(lines.at(key, format!("access key {:?} has an empty secret", k.id)));
                }
                if k.session_token.as_deref() == Some("") {
                    return Err(lines.at(
                        key,
                        format!(
                            "access key {:?} has an empty session_token (leave it out instead)",
                            k.id
                        ),
                    ));
                }
                let at = (iam_users.len(), access_keys.len());
                if keys.insert(k.id.clone(), at).is_some() {
                    return Err(lines.at(key, format!("access key id {:?} is listed twice", k.id)));
                }
                access_keys.push(AccessKey {
                    id: k.id.clone(),
                    secret: Secret(k.secret.clone()),
                    session_token: k.session_token.clone().map(Secret),
                });
            }
            let mut policies = Vec::with_capacity(user_ref.policies.len());
            for (i, doc) in user_ref.policies.iter().enumerate() {
                let policy = Policy::parse(doc.get_ref()).map_err(|e| {
                    let start = lines.of(doc.span().start);
                    // A `'''` string that opens with a newline starts its
                    // text on the next line; JSON line numbers count from it.
                    let opens_with_newline = text
                        .get(doc.span().start..)
                        .is_some_and(|t| t.starts_with("'''\n") || t.starts_with("\"\"\"\n"));
                    let first = start + usize::from(opens_with_newline);
                    let line = match &e {
                        PolicyError::Json { line, .. } => first + line - 1,
                        _ => start,
                    };
                    IamError::Invalid {
                        line,
                        message: format!("policy {i} of IAM user {name:?}: {e}"),
                    }
                })?;
                policies.push(policy);
            }
            iam_users.push(IamUser {
                name: name.clone(),
                access_keys,
                policies,
            });
        }

        let mut password_users = HashMap::new();
        for user in &raw.password_users {
            let u = user.get_ref();
            let name = u.name.get_ref();
            if name.is_empty() || name.len() > PG_ROLE_NAME_BYTES_MAX || name.contains('\0') {
                return Err(lines.at(
                    &u.name,
                    format!(
                        "password user name {name:?} must be 1 to {PG_ROLE_NAME_BYTES_MAX} bytes without NUL (a PostgreSQL role name)"
                    ),
                ));
            }
            let secret = match (&u.password, &u.scram_verifier) {
                (Some(p), None) if !p.is_empty() => PasswordSecret::Plain(p.clone()),
                (Some(_), None) => {
                    return Err(lines.at(
                        user,
                        format!("password user {name:?} has an empty password"),
                    ))
                }
                (None, Some(v)) => PasswordSecret::parse_scram_verifier(v).map_err(|e| {
                    lines.at(
                        user,
                        format!("scram_verifier of password user {name:?}: {e}"),
                    )
                })?,
                (Some(_), Some(_)) | (None, None) => {
                    return Err(lines.at(
                        user,
                        format!(
                        "password user {name:?} needs exactly one of password or scram_verifier"
                    ),
                    ))
                }
            };
            let entry = PasswordUser {
                name: name.clone(),
                secret,
                iam_tokens: u.iam_tokens,
            };
            if password_users.insert(name.clone(), entry).is_some() {
                return Err(lines.at(&u.name, format!("password user {name:?} is listed twice")));
            }
        }

        Ok(IamFile {
            region: region.clone(),
            account: account.clone(),
            cluster_id: cluster_id.clone(),
            iam_users,
            keys,
            password_users,
        })
    }

    /// A password (SCRAM) database user of this file, if any.
    pub fn password_user(&self, name: &str) -> Option<&PasswordUser> {
        self.password_users.get(name)
    }

    /// The region tokens must be scoped to (and the dbuser ARN's region).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The AWS account id of the dbuser ARN.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The cluster's resource id in the dbuser ARN.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The ARN a policy must allow `rds-db:connect` on for `db_user`.
    pub fn dbuser_arn(&self, db_user: &str) -> String {
        format!(
            "arn:aws:rds-db:{}:{}:dbuser:{}/{}",
            self.region, self.account, self.cluster_id, db_user
        )
    }

    /// The access key with this id and the IAM user that owns it.
    pub(crate) fn access_key(&self, id: &str) -> Option<(&IamUser, &AccessKey)> {
        let &(u, k) = self.keys.get(id)?;
        let user = &self.iam_users[u];
        let key = &user.access_keys[k];
        assert_eq!(key.id, id, "access key index points at key {}", key.id);
        Some((user, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_made_scram_verifier_parses() {
        // From PostgreSQL 15: CREATE ROLE .. PASSWORD 'pencil' with
        // password_encryption = 'scram-sha-256' (tests/iam_file.rs checks
        // its keys against the password).
        let v = "SCRAM-SHA-256$4096:HG+VCGIO+o9PdztvTzHMqw==$PkNYKiULInb2URPa+Ku1Nf36oNulazMsxo/WKiPrsaE=:e8zO8NFJY8ClY14n3kyRu2X7Weha0l+LobpGMnJi6LY=";
        let PasswordSecret::ScramVerifier {
            iterations, salt, ..
        } = PasswordSecret::parse_scram_verifier(v).expect("parse")
        else {
            panic!("not a verifier")
        };
        assert_eq!(iterations, 4096);
        assert_eq!(salt.len(), 16);
    }

    #[test]
    fn bad_scram_verifiers_say_what_is_wrong() {
        let key = "PkNYKiULInb2URPa+Ku1Nf36oNulazMsxo/WKiPrsaE=";
        let cases = [
            ("md5abcdef".to_owned(), ScramVerifierError::Shape),
            (
                format!("SCRAM-SHA-256$4096:c2FsdA==${key}"),
                ScramVerifierError::Shape,
            ),
            (
                format!("SCRAM-SHA-256$0:c2FsdA==${key}:{key}"),
                ScramVerifierError::Iterations("0".into()),
            ),
            (
                format!("SCRAM-SHA-256$+5:c2FsdA==${key}:{key}"),
                ScramVerifierError::Iterations("+5".into()),
            ),
            (
                format!("SCRAM-SHA-256$4096:c2F*dA==${key}:{key}"),
                ScramVerifierError::Base64 { what: "the salt" },
            ),
            (
                format!("SCRAM-SHA-256$4096:${key}:{key}"),
                ScramVerifierError::EmptySalt,
            ),
            (
                format!("SCRAM-SHA-256$4096:c2FsdA==$c2FsdA==:{key}"),
                ScramVerifierError::KeyLength {
                    what: "StoredKey",
                    len: 4,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                PasswordSecret::parse_scram_verifier(&text),
                Err(want),
                "{text}"
            );
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let file = IamFile::parse(
            r#"
region = "us-east-1"
account = "123456789012"
cluster_id = "c1"
[[iam_users]]
name = "alice"
access_keys = [{ id = "AKIAIOSFODNN7EXAMPLE", secret = "topsecretvalue", session_token = "sessiontokenvalue" }]
[[password_users]]
name = "bob"
password = "hunter2hunter2"
"#,
        )
        .expect("parse");
        let debug = format!("{file:?}");
        assert!(debug.contains("AKIAIOSFODNN7EXAMPLE"), "{debug}");
        for secret in ["topsecretvalue", "sessiontokenvalue", "hunter2hunter2"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }
}
