//! The node's listeners: the storage protocol over TCP and `/metrics` over
//! HTTP.
//!
//! A connection carries many requests at once. The reader decodes frames and
//! spawns one task per request (at most [`IN_FLIGHT_PER_CONNECTION_MAX`] at a
//! time, which pushes back on the client by not reading); replies go through
//! one bounded queue to a writer that batches them into few writes. Requests
//! complete in any order, matched by `req_id`, so an append waiting for its
//! group fsync holds up no page read behind it.
//!
//! A malformed frame gets an `Error` reply (with the header's `req_id` when
//! the header could be trusted, else 0) and the connection is closed: after a
//! bad frame the byte stream cannot be resynchronized. Decoding happens
//! before any segment is touched, so a bad frame never reaches stored data.
//! Before closing, the node reads and discards what the client still sends
//! for a short while, so the kernel does not answer unread bytes with a
//! reset that would destroy the error reply in flight.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::Instrument;

use crate::metrics::NodeMetrics;
use crate::node::{handler, until_shutdown, Node};
use crate::types::Epoch;
use crate::wire::{Frame, Message, WireError, FRAME_HEADER_BYTES};

/// Requests of one connection being handled at once; the reader stops
/// reading while this many are in flight.
pub const IN_FLIGHT_PER_CONNECTION_MAX: usize = 1024;
/// Replies queued for one connection's writer.
const REPLY_QUEUE_MAX: usize = 1024;
/// Bytes of replies gathered into one write.
const WRITE_BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Read buffer of one connection.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// How long a connection closed for a malformed frame keeps draining input.
const LINGER: Duration = Duration::from_secs(1);
/// How many bytes it drains at most before closing anyway.
const LINGER_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors) before retrying.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long `/metrics` connections get to finish after shutdown.
const METRICS_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Accepts storage protocol connections until shutdown.
pub(crate) async fn accept_loop(node: Arc<Node>, listener: TcpListener) {
    let mut shutdown = node.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let span = tracing::info_span!("conn", node_id = %node.config.node_id, %peer);
                    let _ = node.spawn(serve_connection(node.clone(), stream).instrument(span));
                }
                Err(e) => {
                    tracing::warn!("failed to accept a connection: {e}");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            },
            _ = until_shutdown(&mut shutdown) => break,
        }
    }
}

enum Outcome {
    /// The client closed, or the connection broke: nothing to say.
    Closed,
    /// The node is stopping.
    Shutdown,
    /// A malformed frame was answered with an error; drain, then close.
    Malformed,
}

async fn serve_connection(node: Arc<Node>, stream: TcpStream) {
    stream.set_nodelay(true).ok();
    let (rd, wr) = stream.into_split();
    // Frames are small and come in bursts: read them from a buffer rather
    // than with two system calls each.
    let mut rd = BufReader::with_capacity(READ_BUFFER_BYTES, rd);
    let (tx, rx) = mpsc::channel::<Frame>(REPLY_QUEUE_MAX);
    let writer = tokio::spawn(write_replies(wr, rx, node.metrics.clone()).in_current_span());
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT_PER_CONNECTION_MAX));
    let mut shutdown = node.shutdown.clone();
    let outcome = loop {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        tokio::select! {
            read = rd.read_exact(&mut header) => if read.is_err() { break Outcome::Closed },
            _ = until_shutdown(&mut shutdown) => break Outcome::Shutdown,
        }
        let len = match Frame::check_header(&header) {
            Ok(len) => len,
            Err(e) => {
                // Only an oversized frame has a header worth trusting for its
                // req_id; bad magic or version may be anything.
                let req_id = match e {
                    WireError::TooLarge { .. } => Frame::header_req_id(&header),
                    _ => 0,
                };
                refuse_frame(&tx, req_id, &e).await;
                break Outcome::Malformed;
            }
        };
        let mut payload = vec![0u8; len];
        tokio::select! {
            read = rd.read_exact(&mut payload) => if read.is_err() { break Outcome::Closed },
            _ = until_shutdown(&mut shutdown) => break Outcome::Shutdown,
        }
        let frame = match Frame::decode(&header, payload.into()) {
            Ok(frame) => frame,
            Err(e) => {
                refuse_frame(&tx, Frame::header_req_id(&header), &e).await;
                break Outcome::Malformed;
            }
        };
        let permit = tokio::select! {
            p = in_flight.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = until_shutdown(&mut shutdown) => break Outcome::Shutdown,
        };
        let (node_task, tx) = (node.clone(), tx.clone());
        let _ = node.spawn(
            async move {
                let _permit = permit;
                let msg = handler::handle(&node_task, frame.msg).await;
                // A closed queue means the client is gone; its reply with it.
                let _ = tx
                    .send(Frame {
                        req_id: frame.req_id,
                        msg,
                    })
                    .await;
            }
            .in_current_span(),
        );
    };
    // The writer ends once every request task has sent its reply.
    drop(tx);
    if let Err(e) = writer.await {
        tracing::error!("connection writer failed: {e}");
    }
    if let Outcome::Malformed = outcome {
        linger(rd.get_mut()).await;
    }
}

async fn refuse_frame(tx: &mpsc::Sender<Frame>, req_id: u64, e: &WireError) {
    tracing::warn!("closing connection after a malformed frame: {e}");
    let msg = Message::error(e.code(), Epoch(0), e.to_string());
    let _ = tx.send(Frame { req_id, msg }).await;
}

/// Reads and drops what the client still sends, for a bounded time and size.
async fn linger(rd: &mut OwnedReadHalf) {
    let mut scratch = vec![0u8; 64 * 1024];
    let mut drained = 0usize;
    let deadline = tokio::time::sleep(LINGER);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            read = rd.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    drained += n;
                    if drained > LINGER_BYTES_MAX {
                        return;
                    }
                }
            },
            _ = &mut deadline => return,
        }
    }
}

async fn write_replies(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Frame>,
    metrics: Arc<NodeMetrics>,
) {
    let mut buf = BytesMut::new();
    let add = |frame: Frame, buf: &mut BytesMut| {
        if let Message::Error { code, .. } = &frame.msg {
            metrics.error(*code);
        }
        frame.encode(buf);
    };
    while let Some(frame) = rx.recv().await {
        add(frame, &mut buf);
        while buf.len() < WRITE_BATCH_BYTES_MAX {
            match rx.try_recv() {
                Ok(frame) => add(frame, &mut buf),
                Err(_) => break,
            }
        }
        if let Err(e) = wr.write_all(&buf).await {
            // The client went away; that is not the node's error.
            tracing::debug!("failed to write replies: {e}");
            return;
        }
        buf.clear();
    }
    let _ = wr.shutdown().await;
}

/// Serves `GET /metrics` until shutdown.
pub(crate) async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<NodeMetrics>,
    shutdown: watch::Receiver<bool>,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    );
    let mut graceful = shutdown.clone();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|s| *s).await;
    });
    // A scraper holding a keep-alive connection must not hold up shutdown.
    let mut hard = shutdown;
    let deadline = async move {
        let _ = hard.wait_for(|s| *s).await;
        tokio::time::sleep(METRICS_SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = serve => if let Err(e) = served { tracing::error!("metrics server failed: {e}") },
        _ = deadline => {}
    }
}
