//! Who may post events: bearer tokens listed in a file, or AWS SigV4
//! signatures checked against the proxy's IAM file ([`super::iam`]).
//!
//! The tokens file holds one token per line; blank lines and lines
//! starting with `#` are skipped. Both files are read once at startup.
//! Tokens are compared in constant time, against every listed token, so
//! the time a request takes says nothing about how much of a token it
//! guessed. With neither file the service accepts every request (and says
//! so at startup).

use std::path::{Path, PathBuf};

use super::iam::{IamFile, IamFileError};

/// Shortest token accepted in the file: anything shorter is guessable.
pub const TOKEN_BYTES_MIN: usize = 16;
/// Longest token accepted in the file or a header.
pub const TOKEN_BYTES_MAX: usize = 4096;
/// Most tokens in one file (each is compared on every request).
pub const TOKENS_MAX: usize = 1024;

/// Why the tokens file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// It could not be read.
    #[error("failed to read tokens file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The IAM file was refused.
    #[error(transparent)]
    Iam(#[from] IamFileError),
    /// A line is not an acceptable token.
    #[error("tokens file {path} line {line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// How requests are authenticated: bearer tokens, SigV4 signatures
/// against the IAM file, both, or (with neither configured) not at all.
#[derive(Default)]
pub struct Auth {
    tokens: Option<Vec<Vec<u8>>>,
    iam: Option<IamFile>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.tokens.as_ref().map(Vec::len))
            .field("iam", &self.iam)
            .finish()
    }
}

/// What the `Authorization` header alone decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precheck {
    /// Authenticated (a known token, or no auth configured).
    Allowed,
    /// A SigV4 signature, to verify once the body is read.
    NeedsSignature,
    /// Refused (401).
    Refused,
}

impl Auth {
    /// No authentication: every request is accepted.
    pub fn open() -> Auth {
        Auth::default()
    }

    /// Bearer tokens from `tokens_file` and/or signatures against
    /// `iam_file`.
    pub fn load(tokens_file: Option<&Path>, iam_file: Option<&Path>) -> Result<Auth, AuthError> {
        Ok(Auth {
            tokens: tokens_file.map(read_tokens).transpose()?,
            iam: iam_file.map(IamFile::load).transpose()?,
        })
    }

    /// Whether every request is accepted.
    pub fn is_open(&self) -> bool {
        self.tokens.is_none() && self.iam.is_none()
    }

    /// The IAM file, when signatures are accepted.
    pub fn iam(&self) -> Option<&IamFile> {
        self.iam.as_ref()
    }

    /// Decides what it can from the `Authorization` header.
    pub fn precheck(&self, authorization: Option<&[u8]>) -> Precheck {
        if self.is_open() {
            return Precheck::Allowed;
        }
        let Some(header) = authorization else {
            return Precheck::Refused;
        };
        if header.starts_with(b"AWS4-HMAC-SHA256 ") {
            return if self.iam.is_some() {
                Precheck::NeedsSignature
            } else {
                Precheck::Refused
            };
        }
        match (&self.tokens, bearer_token(header)) {
            // Check every token so the time does not depend on which matched.
            (Some(tokens), Some(presented)) => {
                if tokens
                    .iter()
                    .fold(false, |ok, token| ok | constant_time_eq(token, presented))
                {
                    Precheck::Allowed
                } else {
                    Precheck::Refused
                }
            }
            _ => Precheck::Refused,
        }
    }
}

fn read_tokens(path: &Path) -> Result<Vec<Vec<u8>>, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |line: usize, message: &str| AuthError::Invalid {
        path: path.to_owned(),
        line,
        message: message.to_owned(),
    };
    let mut tokens = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        if token.len() < TOKEN_BYTES_MIN || token.len() > TOKEN_BYTES_MAX {
            return Err(invalid(
                i + 1,
                &format!("a token must be {TOKEN_BYTES_MIN} to {TOKEN_BYTES_MAX} bytes"),
            ));
        }
        if token.chars().any(char::is_whitespace) {
            return Err(invalid(i + 1, "a token may not contain spaces"));
        }
        tokens.push(token.as_bytes().to_vec());
    }
    if tokens.is_empty() {
        return Err(invalid(0, "no tokens: every request would be refused"));
    }
    if tokens.len() > TOKENS_MAX {
        return Err(invalid(0, &format!("more than {TOKENS_MAX} tokens")));
    }
    Ok(tokens)
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750).
fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") || rest.len() > TOKEN_BYTES_MAX {
        return None;
    }
    Some(rest.trim_ascii())
}

/// Equality whose time depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_is_parsed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# producers\n\nabcdefghijklmnop0123\n").unwrap();
        let auth = Auth::load(Some(&path), None).unwrap();
        let allowed = |h: &[u8]| auth.precheck(Some(h)) == Precheck::Allowed;
        assert!(allowed(b"Bearer abcdefghijklmnop0123"));
        assert!(allowed(b"bearer abcdefghijklmnop0123"));
        assert!(!allowed(b"Bearer abcdefghijklmnop012"));
        assert!(!allowed(b"Basic abcdefghijklmnop0123"));
        assert!(!allowed(b"AWS4-HMAC-SHA256 Credential=x"));
        assert_eq!(auth.precheck(None), Precheck::Refused);
        assert_eq!(Auth::open().precheck(None), Precheck::Allowed);

        std::fs::write(&path, "short\n").unwrap();
        let err = Auth::load(Some(&path), None).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(Auth::load(Some(&path), None).is_err());
    }
}
