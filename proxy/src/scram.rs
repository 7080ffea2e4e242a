//! SCRAM-SHA-256, the server side (RFC 5802, RFC 7677), as PostgreSQL
//! speaks it: password users authenticate against the proxy this way.
//!
//! No channel binding is offered (the mechanism list is `SCRAM-SHA-256`
//! only), so a client sends the GS2 header `n,,` or `y,,`; `p=` is refused.
//! A user the proxy does not know gets a mock exchange with a salt derived
//! from its name, like PostgreSQL's `scram_mock_salt`, so the answer does
//! not tell whether the user exists.
//!
//! Built on `ring` (HMAC-SHA-256, SHA-256, PBKDF2); secrets are compared in
//! constant time.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::{digest, hmac, rand::SecureRandom};

/// The one mechanism offered.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// Server nonce bytes (PostgreSQL uses 18).
const SERVER_NONCE_BYTES: usize = 18;
/// Iterations for verifiers the proxy derives itself (PostgreSQL's default).
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Bounds on a client message: PostgreSQL's SCRAM messages are well under
/// 1 KiB; the bound stops pathological input early.
pub const CLIENT_MESSAGE_MAX_BYTES: usize = 4096;

/// Why an exchange failed; `reason()` is the log and metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    /// The client's message does not parse.
    #[error("malformed SCRAM message")]
    Malformed,
    /// The client asked for channel binding, which was not offered.
    #[error("channel binding requested but not offered")]
    ChannelBinding,
    /// The final message's nonce is not the one the server issued.
    #[error("nonce mismatch")]
    Nonce,
    /// The proof does not match: wrong password (or unknown user).
    #[error("wrong password")]
    Proof,
}

impl ScramError {
    /// Log and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            ScramError::Malformed => "scram_malformed",
            ScramError::ChannelBinding => "scram_channel_binding",
            ScramError::Nonce => "scram_nonce",
            ScramError::Proof => "password",
        }
    }
}

/// Compares secrets without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A stored SCRAM verifier (what PostgreSQL keeps in `pg_authid`).
#[derive(Clone)]
pub struct Verifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Derives a verifier from a plain password (SASLprep-normalised the
    /// way libpq does it, through postgres-protocol) with a fresh salt.
    pub fn from_password(password: &str) -> Verifier {
        let text = postgres_protocol::password::scram_sha_256(password.as_bytes());
        Verifier::parse(&text).expect("postgres-protocol makes well-formed verifiers")
    }

    /// Whether `password`, sent in clear (over TLS), is the one this
    /// verifier was made from: SaltedPassword by PBKDF2, ClientKey, and its
    /// hash compared with StoredKey in constant time (RFC 5802 §3).
    pub fn matches_password(&self, password: &str) -> bool {
        let Some(iterations) = std::num::NonZeroU32::new(self.iterations) else {
            return false;
        };
        let mut salted = [0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &self.salt,
            password.as_bytes(),
            &mut salted,
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        let stored = digest::digest(&digest::SHA256, client_key.as_ref());
        constant_time_eq(stored.as_ref(), &self.stored_key)
    }

    /// Parses PostgreSQL's format
    /// `SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>`.
    pub fn parse(text: &str) -> Option<Verifier> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (iter_salt, keys) = rest.split_once('$')?;
        let (iter, salt) = iter_salt.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iter.parse().ok().filter(|&i| i > 0)?;
        Some(Verifier {
            iterations,
            salt: B64.decode(salt).ok()?,
            stored_key: B64.decode(stored).ok()?.try_into().ok()?,
            server_key: B64.decode(server).ok()?.try_into().ok()?,
        })
    }

    /// A verifier no password matches, with a salt that depends only on the
    /// user name and a per-process key, so repeated attempts for one unknown
    /// user see the same salt as they would for a real one.
    pub fn mock(user: &str, mock_key: &[u8; 32], rng: &dyn SecureRandom) -> Verifier {
        let key = hmac::Key::new(hmac::HMAC_SHA256, mock_key);
        let salt = hmac::sign(&key, user.as_bytes()).as_ref()[..16].to_vec();
        let mut stored_key = [0u8; 32];
        let mut server_key = [0u8; 32];
        rng.fill(&mut stored_key).expect("system randomness");
        rng.fill(&mut server_key).expect("system randomness");
        Verifier {
            iterations: DEFAULT_ITERATIONS,
            salt,
            stored_key,
            server_key,
        }
    }
}

/// A server exchange after the client's first message.
pub struct Exchange {
    verifier: Verifier,
    gs2_header: String,
    nonce: String,
    client_first_bare: String,
    server_first: String,
}

fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

impl Exchange {
    /// Takes the client-first-message; returns the exchange and the
    /// server-first-message to send.
    pub fn start(
        verifier: Verifier,
        client_first: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<(Exchange, String), ScramError> {
        if client_first.len() > CLIENT_MESSAGE_MAX_BYTES {
            return Err(ScramError::Malformed);
        }
        let text = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed)?;
        // gs2-header = cbind-flag "," [authzid] ","
        let (flag, rest) = text.split_once(',').ok_or(ScramError::Malformed)?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed),
        }
        let (authzid, bare) = rest.split_once(',').ok_or(ScramError::Malformed)?;
        if !authzid.is_empty() {
            // PostgreSQL does not support authorization identities either.
            return Err(ScramError::Malformed);
        }
        let gs2_header = format!("{flag},,");
        // client-first-message-bare = [reserved-mext ","] username "," nonce
        let mut client_nonce = None;
        for attr in bare.split(',') {
            if attr.starts_with("m=") {
                return Err(ScramError::Malformed);
            }
            if let Some(n) = attr.strip_prefix("r=") {
                client_nonce = Some(n);
            }
        }
        let client_nonce = client_nonce
            .filter(|n| !n.is_empty() && n.bytes().all(|c| (0x21..=0x7e).contains(&c) && c != b','))
            .ok_or(ScramError::Malformed)?;
        let mut raw = [0u8; SERVER_NONCE_BYTES];
        rng.fill(&mut raw).expect("system randomness");
        let nonce = format!("{client_nonce}{}", b64(&raw));
        let server_first = format!(
            "r={nonce},s={},i={}",
            b64(&verifier.salt),
            verifier.iterations
        );
        Ok((
            Exchange {
                verifier,
                gs2_header,
                nonce,
                client_first_bare: bare.to_owned(),
                server_first: server_first.clone(),
            },
            server_first,
        ))
    }

    /// Takes the client-final-message; on a correct proof returns the
    /// server-final-message (`v=...`) to send.
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        if client_final.len() > CLIENT_MESSAGE_MAX_BYTES {
            return Err(ScramError::Malformed);
        }
        let text = std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed)?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or(ScramError::Malformed)?;
        let mut parts = without_proof.split(',');
        let cbind = parts
            .next()
            .and_then(|p| p.strip_prefix("c="))
            .ok_or(ScramError::Malformed)?;
        let nonce = parts
            .next()
            .and_then(|p| p.strip_prefix("r="))
            .ok_or(ScramError::Malformed)?;
        let cbind = B64.decode(cbind).map_err(|_| ScramError::Malformed)?;
        if cbind != self.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBinding);
        }
        if nonce != self.nonce {
            return Err(ScramError::Nonce);
        }
        let proof = B64.decode(proof).map_err(|_| ScramError::Malformed)?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed);
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let stored = hmac::Key::new(hmac::HMAC_SHA256, &self.verifier.stored_key);
        let client_signature = hmac::sign(&stored, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(client_signature.as_ref())
            .map(|(p, s)| p ^ s)
            .collect();
        let computed = digest::digest(&digest::SHA256, &client_key);
        if !constant_time_eq(computed.as_ref(), &self.verifier.stored_key) {
            return Err(ScramError::Proof);
        }
        let server = hmac::Key::new(hmac::HMAC_SHA256, &self.verifier.server_key);
        let server_signature = hmac::sign(&server, auth_message.as_bytes());
        Ok(format!("v={}", b64(server_signature.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    use ring::rand::SystemRandom;

    #[test]
    fn a_cleartext_password_is_checked_against_the_verifier() {
        let v = Verifier::from_password("pencil");
        assert!(v.matches_password("pencil"));
        assert!(!v.matches_password("pencil "));
        assert!(!v.matches_password(""));
        // A verifier made by PostgreSQL 15 for "pencil" (pg_authid).
        let pg = Verifier::parse(
            "SCRAM-SHA-256$4096:HG+VCGIO+o9PdztvTzHMqw==$PkNYKiULInb2URPa+Ku1Nf36oNulazMsxo/WKiPrsaE=:e8zO8NFJY8ClY14n3kyRu2X7Weha0l+LobpGMnJi6LY=",
        )
        .unwrap();
        assert!(pg.matches_password("pencil"));
        assert!(!pg.matches_password("not pencil"));
    }

    fn run(verifier: Verifier, password: &str) -> Result<(), ScramError> {
        let rng = SystemRandom::new();
        let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let (ex, server_first) = Exchange::start(verifier, client.message(), &rng)?;
        client.update(server_first.as_bytes()).unwrap();
        let server_final = ex.finish(client.message())?;
        client
            .finish(server_final.as_bytes())
            .expect("the client accepts the server's signature");
        Ok(())
    }

    #[test]
    fn the_right_password_passes_and_the_client_verifies_the_server() {
        run(Verifier::from_password("s3cret"), "s3cret").unwrap();
    }

    #[test]
    fn a_wrong_password_fails_on_the_proof() {
        assert_eq!(
            run(Verifier::from_password("s3cret"), "guess"),
            Err(ScramError::Proof)
        );
    }

    #[test]
    fn postgres_verifier_text_parses_and_authenticates() {
        // Made by PostgreSQL 15: SET password_encryption = 'scram-sha-256';
        // the verifier postgres-protocol derives has the same format.
        let text = postgres_protocol::password::scram_sha_256(b"pencil");
        let v = Verifier::parse(&text).unwrap();
        assert_eq!(v.iterations, 4096);
        assert_eq!(v.salt.len(), 16);
        run(v, "pencil").unwrap();
        assert!(Verifier::parse("SCRAM-SHA-256$0:AAAA$AA==:AA==").is_none());
        assert!(Verifier::parse("md5abc").is_none());
    }

    #[test]
    fn a_mock_verifier_never_authenticates_and_keeps_its_salt() {
        let rng = SystemRandom::new();
        let key = [7u8; 32];
        let a = Verifier::mock("nobody", &key, &rng);
        let b = Verifier::mock("nobody", &key, &rng);
        assert_eq!(a.salt, b.salt);
        assert_ne!(a.salt, Verifier::mock("other", &key, &rng).salt);
        assert_eq!(run(a, ""), Err(ScramError::Proof));
    }

    #[test]
    fn channel_binding_and_bad_messages_are_refused() {
        let rng = SystemRandom::new();
        let v = || Verifier::from_password("x");
        assert_eq!(
            Exchange::start(v(), b"p=tls-server-end-point,,n=,r=abc", &rng).err(),
            Some(ScramError::ChannelBinding)
        );
        assert_eq!(
            Exchange::start(v(), b"n,,n=,", &rng).err(),
            Some(ScramError::Malformed)
        );
        let (ex, _) = Exchange::start(v(), b"n,,n=,r=abc", &rng).unwrap();
        assert_eq!(
            ex.finish(b"c=biws,r=abcWRONG,p=AAAA").err(),
            Some(ScramError::Nonce)
        );
    }
}
