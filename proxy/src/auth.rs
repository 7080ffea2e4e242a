//! Client authentication: who may log in through the proxy, and how.
//!
//! * A **password user** (from the IAM file, or without one the backend
//!   user with the backend password) authenticates with SCRAM-SHA-256.
//! * Any other user over **TLS** is asked for a cleartext password, which
//!   must be an IAM auth token for that user (`iam::TokenVerifier`): the
//!   token is itself a short-lived signature, and TLS keeps it secret.
//! * A password user marked `iam_tokens = true` in the IAM file, over TLS,
//!   is asked for a cleartext password and may send either its password
//!   (checked against its SCRAM verifier) or an IAM auth token for it; over
//!   plain TCP it uses SCRAM like any password user. `sextant dev` marks
//!   its superuser so, so a token made with the dev credentials works.
//! * Any other user over plain TCP gets a mock SCRAM exchange that no
//!   password passes, like PostgreSQL does for unknown users, so the answer
//!   never tells whether the user exists or is an IAM user. IAM tokens are
//!   accepted over TLS only.
//!
//! Every failure ends in the same `28P01 password authentication failed`;
//! the reason (wrong password, which token check, no TLS) goes to the log
//! and to `proxy_auth_failures_total{reason}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::BytesMut;
use ring::rand::SystemRandom;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::BackendCredentials;
use crate::iam::{IamFile, PasswordSecret, TokenVerifier};
use crate::scram::{self, Exchange, Verifier};
use crate::wire;

/// Largest authentication message a client may send: a SCRAM message is
/// well under 1 KiB and an IAM token about 1-2 KiB (more with a session
/// token).
pub const AUTH_MESSAGE_MAX_BYTES: u32 = 16 << 10;
/// Password verifiers derived from plain passwords, cached per user name.
const VERIFIER_CACHE_MAX: usize = 10_000;

/// How a client authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Scram,
    Iam {
        iam_user: String,
        access_key_id: String,
    },
}

/// Why authentication did not succeed.
#[derive(Debug)]
pub enum AuthError {
    /// The client is refused; `reason` is the log and metric label.
    Failed {
        reason: &'static str,
    },
    /// The client went away mid-exchange (psql does this to prompt for a
    /// password): not a failure.
    Disconnected,
    /// The client broke the protocol.
    Protocol(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for AuthError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => AuthError::Disconnected,
            _ => AuthError::Io(e),
        }
    }
}

/// The users and the means to check them.
pub struct Authenticator {
    iam: Option<Arc<IamFile>>,
    tokens: Option<TokenVerifier>,
    backend: BackendCredentials,
    rng: SystemRandom,
    mock_key: [u8; 32],
    derived: Mutex<HashMap<String, Verifier>>,
}

impl Authenticator {
    pub fn new(
        iam: Option<Arc<IamFile>>,
        endpoint_names: Vec<String>,
        clock_skew: std::time::Duration,
        backend: BackendCredentials,
    ) -> Authenticator {
        let rng = SystemRandom::new();
        let mut mock_key = [0u8; 32];
        ring::rand::SecureRandom::fill(&rng, &mut mock_key).expect("system randomness");
        let tokens = iam
            .as_ref()
            .map(|f| TokenVerifier::new(f.clone(), endpoint_names, clock_skew));
        Authenticator {
            iam,
            tokens,
            backend,
            rng,
            mock_key,
            derived: Mutex::new(HashMap::new()),
        }
    }

    /// The rng, for cancel keys.
    pub fn rng(&self) -> &SystemRandom {
        &self.rng
    }

    fn derived(&self, user: &str, password: &str) -> Verifier {
        let mut cache = self.derived.lock().expect("verifier cache lock");
        if let Some(v) = cache.get(user) {
            return v.clone();
        }
        let v = Verifier::from_password(password);
        if cache.len() >= VERIFIER_CACHE_MAX {
            cache.clear();
        }
        cache.insert(user.to_owned(), v.clone());
        v
    }

    /// The SCRAM verifier of a password user.
    fn password_verifier(&self, user: &str) -> Option<Verifier> {
        match &self.iam {
            Some(iam) => {
                let u = iam.password_user(user)?;
                Some(match &u.secret {
                    PasswordSecret::Plain(p) => self.derived(user, p),
                    PasswordSecret::ScramVerifier {
                        iterations,
                        salt,
                        stored_key,
                        server_key,
                    } => Verifier {
                        iterations: *iterations,
                        salt: salt.clone(),
                        stored_key: *stored_key,
                        server_key: *server_key,
                    },
                })
            }
            None if user == self.backend.user => {
                Some(self.derived(user, &self.backend.password.clone()))
            }
            None => None,
        }
    }

    /// Runs the exchange for `user` on `stream` (TLS or not). On success
    /// the caller sends `AuthenticationOk`.
    pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut BytesMut,
        user: &str,
        tls: bool,
    ) -> Result<Method, AuthError> {
        if let (Some(v), Some(tokens), true) = (self.password_verifier(user), &self.tokens, tls) {
            if self.accepts_tokens(user) {
                let secret = self.cleartext(stream, buf).await?;
                if let Ok(ok) = tokens.verify(&secret, user, SystemTime::now()) {
                    return Ok(Method::Iam {
                        iam_user: ok.iam_user,
                        access_key_id: ok.access_key_id,
                    });
                }
                return if v.matches_password(&secret) {
                    Ok(Method::Scram)
                } else {
                    Err(AuthError::Failed {
                        reason: "wrong_password_or_token",
                    })
                };
            }
        }
        if let Some(v) = self.password_verifier(user) {
            return self
                .scram(stream, buf, v, "password")
                .await
                .map(|()| Method::Scram);
        }
        match (&self.tokens, tls) {
            (Some(tokens), true) => {
                let token = self.cleartext(stream, buf).await?;
                match tokens.verify(&token, user, SystemTime::now()) {
                    Ok(v) => Ok(Method::Iam {
                        iam_user: v.iam_user,
                        access_key_id: v.access_key_id,
                    }),
                    Err(r) => Err(AuthError::Failed { reason: r.reason() }),
                }
            }
            (Some(_), false) => {
                let v = Verifier::mock(user, &self.mock_key, &self.rng);
                self.scram(stream, buf, v, "iam_without_tls").await?;
                // A mock verifier's stored key is random: no proof matches.
                Err(AuthError::Failed {
                    reason: "iam_without_tls",
                })
            }
            (None, _) => {
                let v = Verifier::mock(user, &self.mock_key, &self.rng);
                self.scram(stream, buf, v, "unknown_user").await?;
                Err(AuthError::Failed {
                    reason: "unknown_user",
                })
            }
        }
    }

    /// Whether `user` is a password user that also takes IAM tokens.
    fn accepts_tokens(&self, user: &str) -> bool {
        self.iam
            .as_ref()
            .and_then(|iam| iam.password_user(user))
            .is_some_and(|u| u.iam_tokens)
    }

    /// Asks for a cleartext password (only ever over TLS) and reads it.
    async fn cleartext<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut BytesMut,
    ) -> Result<String, AuthError> {
        let mut out = BytesMut::new();
        wire::authentication(&mut out, wire::AUTH_CLEARTEXT, &[]);
        stream.write_all(&out).await?;
        stream.flush().await?;
        let f = read_message(stream, buf).await?;
        if f.tag() != b'p' {
            return Err(AuthError::Protocol("expected a password message".into()));
        }
        let mut body = f.body();
        wire::cstr(&mut body)
            .ok_or_else(|| AuthError::Protocol("malformed password message".into()))
    }

    /// A SCRAM-SHA-256 exchange; a wrong proof fails with `wrong_proof`.
    async fn scram<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        buf: &mut BytesMut,
        verifier: Verifier,
        wrong_proof: &'static str,
    ) -> Result<(), AuthError> {
        let mut out = BytesMut::new();
        let mechanisms = format!("{}\0\0", scram::MECHANISM);
        wire::authentication(&mut out, wire::AUTH_SASL, mechanisms.as_bytes());
        stream.write_all(&out).await?;
        stream.flush().await?;
        let f = read_message(stream, buf).await?;
        if f.tag() != b'p' {
            return Err(AuthError::Protocol("expected SASLInitialResponse".into()));
        }
        let mut body = f.body();
        let mechanism = wire::cstr(&mut body)
            .ok_or_else(|| AuthError::Protocol("malformed SASLInitialResponse".into()))?;
        if mechanism != scram::MECHANISM {
            return Err(AuthError::Failed {
                reason: "scram_mechanism",
            });
        }
        if body.len() < 4 {
            return Err(AuthError::Protocol("malformed SASLInitialResponse".into()));
        }
        let len = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let data = &body[4..];
        if usize::try_from(len).ok() != Some(data.len()) {
            return Err(AuthError::Protocol("SASLInitialResponse length".into()));
        }
        let (exchange, server_first) = Exchange::start(verifier, data, &self.rng)
            .map_err(|e| AuthError::Failed { reason: e.reason() })?;
        out.clear();
        wire::authentication(&mut out, wire::AUTH_SASL_CONTINUE, server_first.as_bytes());
        stream.write_all(&out).await?;
        stream.flush().await?;
        let f = read_message(stream, buf).await?;
        if f.tag() != b'p' {
            return Err(AuthError::Protocol("expected SASLResponse".into()));
        }
        let server_final = exchange.finish(f.body()).map_err(|e| AuthError::Failed {
            reason: match e {
                scram::ScramError::Proof => wrong_proof,
                other => other.reason(),
            },
        })?;
        out.clear();
        wire::authentication(&mut out, wire::AUTH_SASL_FINAL, server_final.as_bytes());
        stream.write_all(&out).await?;
        Ok(())
    }
}

async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<wire::Frame, AuthError> {
    loop {
        match wire::try_frame(buf, AUTH_MESSAGE_MAX_BYTES) {
            Ok(Some(f)) => return Ok(f),
            Ok(None) => {}
            Err(e) => return Err(AuthError::Protocol(e.to_string())),
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(AuthError::Disconnected);
        }
    }
}
