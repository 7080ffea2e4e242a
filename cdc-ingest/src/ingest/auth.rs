//! Who may post events: bearer tokens listed in a file.
//!
//! The file holds one token per line; blank lines and lines starting with
//! `#` are skipped. It is read once at startup. Tokens are compared in
//! constant time, against every listed token, so the time a request takes
//! says nothing about how much of a token it guessed. Without a tokens file
//! the service accepts every request (and says so at startup).

use std::path::{Path, PathBuf};

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

/// How requests are authenticated.
#[derive(Clone)]
pub enum Auth {
    /// Every request is accepted.
    None,
    /// A request needs `Authorization: Bearer <one of these>`.
    Bearer(Vec<Vec<u8>>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Bearer(tokens) => write!(f, "Auth::Bearer({} tokens)", tokens.len()),
        }
    }
}

impl Auth {
    /// Reads a tokens file.
    pub fn from_tokens_file(path: &Path) -> Result<Auth, AuthError> {
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
        Ok(Auth::Bearer(tokens))
    }

    /// Whether a request with this `Authorization` header value may post.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match self {
            Auth::None => true,
            Auth::Bearer(tokens) => {
                let Some(presented) = authorization.and_then(bearer_token) else {
                    return false;
                };
                // Check every token so the time does not depend on which matched.
                tokens
                    .iter()
                    .fold(false, |ok, token| ok | constant_time_eq(token, presented))
            }
        }
    }
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
        let auth = Auth::from_tokens_file(&path).unwrap();
        assert!(auth.allows(Some(b"Bearer abcdefghijklmnop0123")));
        assert!(auth.allows(Some(b"bearer abcdefghijklmnop0123")));
        assert!(!auth.allows(Some(b"Bearer abcdefghijklmnop012")));
        assert!(!auth.allows(Some(b"Basic abcdefghijklmnop0123")));
        assert!(!auth.allows(None));

        std::fs::write(&path, "short\n").unwrap();
        let err = Auth::from_tokens_file(&path).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(Auth::from_tokens_file(&path).is_err());
    }
}
