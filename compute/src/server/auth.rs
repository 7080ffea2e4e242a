//! SCRAM-SHA-256 secrets for the startup handshake.
//!
//! The database hands out a user's cleartext password
//! ([`Database::check_password`]); SCRAM needs `Hi(password, salt, 4096)`,
//! 4096 rounds of PBKDF2, so the salted form is computed once per user and
//! process and cached, as PostgreSQL stores it in `pg_authid`.
//!
//! An unknown user gets a mock exchange with a random secret, so the reply
//! is the same 28P01 as a wrong password, after the same round trips: the
//! server does not reveal which user names exist (PostgreSQL's
//! `scram_mock_salt` does the same).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramSecret, SCRAM_ITERATIONS};
use ring::rand::{SecureRandom, SystemRandom};

use crate::sql::session::Database;

/// Salt length in bytes; PostgreSQL's `SCRAM_DEFAULT_SALT_LEN`.
const SALT_LEN: usize = 16;

/// Most users whose salted password is cached. Only users the database
/// knows are cached, so this bounds memory even against guessed names.
const CACHED_USERS_MAX: usize = 1024;

struct Salted {
    password: String,
    salt: Vec<u8>,
    salted_password: Vec<u8>,
}

/// Cached SCRAM secrets, per user.
pub(super) struct Verifiers {
    cache: Mutex<HashMap<String, Arc<Salted>>>,
    mock: Salted,
    rng: SystemRandom,
}

impl Verifiers {
    pub(super) fn new() -> Verifiers {
        let rng = SystemRandom::new();
        let salt = random_bytes(&rng, SALT_LEN);
        let mock_password: String = random_bytes(&rng, 24)
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .collect();
        let salted_password = gen_salted_password(&mock_password, &salt, SCRAM_ITERATIONS);
        Verifiers {
            cache: Mutex::new(HashMap::new()),
            mock: Salted {
                password: mock_password,
                salt,
                salted_password,
            },
            rng,
        }
    }

    /// The SCRAM secret for `user`, and whether the user exists. Runs the
    /// PBKDF2 rounds on a cache miss, so call it off the async reactor's hot
    /// path (it takes a few milliseconds once per user).
    pub(super) fn secret(&self, db: &Database, user: &str) -> (ScramSecret, bool) {
        let Some(password) = db.check_password(user) else {
            let m = &self.mock;
            debug_assert!(!m.password.is_empty());
            return (
                ScramSecret::SaltedPassword {
                    salt: m.salt.clone(),
                    salted_password: m.salted_password.clone(),
                },
                false,
            );
        };
        let cached = self
            .cache
            .lock()
            .expect("verifier cache lock")
            .get(user)
            .cloned();
        let salted = match cached {
            Some(s) if s.password == password => s,
            _ => {
                let salt = random_bytes(&self.rng, SALT_LEN);
                let salted_password = gen_salted_password(&password, &salt, SCRAM_ITERATIONS);
                let s = Arc::new(Salted {
                    password,
                    salt,
                    salted_password,
                });
                let mut cache = self.cache.lock().expect("verifier cache lock");
                if cache.len() >= CACHED_USERS_MAX {
                    cache.clear();
                }
                cache.insert(user.to_owned(), s.clone());
                s
            }
        };
        (
            ScramSecret::SaltedPassword {
                salt: salted.salt.clone(),
                salted_password: salted.salted_password.clone(),
            },
            true,
        )
    }

    /// `n` random bytes, for cancel keys.
    pub(super) fn random(&self, n: usize) -> Vec<u8> {
        random_bytes(&self.rng, n)
    }
}

fn random_bytes(rng: &SystemRandom, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rng.fill(&mut b)
        .expect("the system random number generator works");
    b
}

/// Compares two secrets in time independent of where they differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_values() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
