//! Framed, multiplexed connections to a storage node.
//!
//! A [`Peer`] is the one client-side handle to a node: requests from many tasks
//! share one TCP connection, each tagged with its own `req_id`, and replies are
//! routed back by that id. The connection is opened on first use and reopened
//! after a failure; a request in flight when the connection dies fails with
//! [`NetError::Disconnected`] and the caller decides whether to resend (storage
//! requests are idempotent). Used by the volume client and by gossip between
//! segment replicas.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::wire::{Frame, Message, WireError, FRAME_HEADER_BYTES};

/// Requests queued on one connection before senders wait.
pub const OUTBOUND_QUEUE_MAX: usize = 1024;
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Could not connect.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The node's address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The connection closed before the reply came.
    #[error("connection to {0} closed")]
    Disconnected(String),
    /// No reply within the deadline.
    #[error("request to {0} timed out")]
    Timeout(String),
    /// The node sent something undecodable.
    #[error("bad frame from {addr}: {source}")]
    Protocol {
        /// The node's address.
        addr: String,
        /// The cause.
        source: WireError,
    },
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Message>>>>;

struct Conn {
    tx: mpsc::Sender<Frame>,
    pending: Pending,
    dead: Arc<std::sync::atomic::AtomicBool>,
}

/// A client handle to one storage node. Cheap to clone.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<PeerInner>,
}

struct PeerInner {
    addr: String,
    next_id: AtomicU64,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

impl Peer {
    /// A handle to the node at `addr`; nothing is opened yet.
    pub fn new(addr: impl Into<String>) -> Peer {
        Peer {
            inner: Arc::new(PeerInner {
                addr: addr.into(),
                next_id: AtomicU64::new(1),
                conn: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The node's address.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// Sends `msg` and waits up to `timeout` for the reply.
    pub async fn request(&self, msg: Message, timeout: Duration) -> Result<Message, NetError> {
        let addr = &self.inner.addr;
        let fut = async {
            let req_id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let (reply_tx, reply_rx) = oneshot::channel();
            let tx = {
                let mut guard = self.inner.conn.lock().await;
                let alive = guard
                    .as_ref()
                    .is_some_and(|c| !c.tx.is_closed() && !c.dead.load(Ordering::Acquire));
                if !alive {
                    *guard = Some(self.connect().await?);
                }
                let conn = guard.as_ref().expect("connected above");
                conn.pending
                    .lock()
                    .expect("pending map")
                    .insert(req_id, reply_tx);
                conn.tx.clone()
            };
            if tx.send(Frame { req_id, msg }).await.is_err() {
                return Err(NetError::Disconnected(addr.clone()));
            }
            reply_rx
                .await
                .map_err(|_| NetError::Disconnected(addr.clone()))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(NetError::Timeout(addr.clone())),
        }
    }

    /// Drops the current connection, failing requests in flight.
    pub async fn disconnect(&self) {
        self.inner.conn.lock().await.take();
    }

    async fn connect(&self) -> Result<Conn, NetError> {
        let addr = self.inner.addr.clone();
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(NetError::Connect { addr, source }),
            Err(_) => {
                return Err(NetError::Connect {
                    addr,
                    source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
                })
            }
        };
        stream.set_nodelay(true).ok();
        let (rd, mut wr) = stream.into_split();
        // Replies are small and come in bursts: read them from a buffer
        // rather than with two system calls each.
        let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, rd);
        let (tx, mut rx) = mpsc::channel::<Frame>(OUTBOUND_QUEUE_MAX);
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));

        // Writer: batches whatever is queued into one write.
        tokio::spawn(async move {
            let mut buf = BytesMut::new();
            while let Some(frame) = rx.recv().await {
                frame.encode(&mut buf);
                while let Ok(more) = rx.try_recv() {
                    more.encode(&mut buf);
                    if buf.len() > 1 << 20 {
                        break;
                    }
                }
                if wr.write_all(&buf).await.is_err() {
                    return;
                }
                buf.clear();
            }
        });

        // Reader: routes replies; on any failure drops every waiter.
        let pending_rd = pending.clone();
        let addr_rd = addr.clone();
        let dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let dead_rd = dead.clone();
        tokio::spawn(async move {
            let mut header = [0u8; FRAME_HEADER_BYTES];
            loop {
                if rd.read_exact(&mut header).await.is_err() {
                    break;
                }
                let len = match Frame::check_header(&header) {
                    Ok(len) => len,
                    Err(e) => {
                        tracing::warn!(addr = %addr_rd, "failed to read frame header: {e}");
                        break;
                    }
                };
                let mut payload = vec![0u8; len];
                if rd.read_exact(&mut payload).await.is_err() {
                    break;
                }
                match Frame::decode(&header, payload.into()) {
                    Ok(frame) => {
                        let waiter = pending_rd
                            .lock()
                            .expect("pending map")
                            .remove(&frame.req_id);
                        if let Some(w) = waiter {
                            let _ = w.send(frame.msg);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(addr = %addr_rd, "failed to decode frame: {e}");
                        break;
                    }
                }
            }
            dead_rd.store(true, Ordering::Release);
            pending_rd.lock().expect("pending map").clear();
        });
        Ok(Conn { tx, pending, dead })
    }
}
