//! Cancel requests. Each client session gets the proxy's own
//! `BackendKeyData` (a random process id and secret); the registry maps it
//! to the backend connection the session is on now (which changes when the
//! session is re-attached after a failover). A `CancelRequest` that matches
//! is sent on to that backend with the backend's own key; one that does not
//! match is dropped silently, as PostgreSQL does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use ring::rand::SecureRandom;
use tokio::io::AsyncWriteExt;

use crate::wire;

/// Where to send a session's cancel request now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendKey {
    pub addr: String,
    pub process_id: i32,
    pub secret_key: i32,
}

/// The backend a session is attached to, `None` while detached.
pub type Slot = Arc<Mutex<Option<BackendKey>>>;

struct Entry {
    secret_key: i32,
    slot: Slot,
}

/// The proxy's cancel keys.
#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<i32, Entry>>,
}

/// Removes a session's key when the session ends.
pub struct Registration {
    registry: Arc<CancelRegistry>,
    pub process_id: i32,
    pub secret_key: i32,
    pub slot: Slot,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = self
            .registry
            .sessions
            .lock()
            .expect("cancel registry lock")
            .remove(&self.process_id);
        assert!(
            removed.is_some(),
            "cancel key {} registered",
            self.process_id
        );
    }
}

impl CancelRegistry {
    /// A fresh random key for a new session.
    pub fn register(self: &Arc<Self>, rng: &dyn SecureRandom) -> Registration {
        let slot: Slot = Arc::new(Mutex::new(None));
        let mut sessions = self.sessions.lock().expect("cancel registry lock");
        loop {
            let mut raw = [0u8; 8];
            rng.fill(&mut raw).expect("system randomness");
            // Positive process ids, like real ones; clients print them.
            let process_id = i32::from_be_bytes([raw[0] & 0x7f, raw[1], raw[2], raw[3]]);
            let secret_key = i32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
            if process_id == 0 || sessions.contains_key(&process_id) {
                continue;
            }
            sessions.insert(
                process_id,
                Entry {
                    secret_key,
                    slot: slot.clone(),
                },
            );
            return Registration {
                registry: self.clone(),
                process_id,
                secret_key,
                slot,
            };
        }
    }

    /// The backend to cancel for a client's key, if it matches.
    pub fn lookup(&self, process_id: i32, secret_key: i32) -> Option<BackendKey> {
        let sessions = self.sessions.lock().expect("cancel registry lock");
        let e = sessions.get(&process_id)?;
        let ok =
            crate::scram::constant_time_eq(&e.secret_key.to_be_bytes(), &secret_key.to_be_bytes());
        if !ok {
            return None;
        }
        let key = e.slot.lock().expect("cancel slot lock").clone();
        key
    }
}

/// Sends a `CancelRequest` to the backend.
pub async fn forward(key: &BackendKey, timeout: Duration) -> std::io::Result<()> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(&key.addr).await?;
        let mut out = BytesMut::new();
        wire::cancel_request(&mut out, key.process_id, key.secret_key);
        s.write_all(&out).await?;
        s.shutdown().await
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)?
}
