//! The storage node server end to end: in-process nodes on loopback with
//! temporary data directories, driven over the real protocol.
//!
//! Covers the node's acceptance criteria: acks carry a durable SCL; a restart
//! keeps every acknowledged record and the epoch; a damaged log entry is
//! detected on load and the page is not served until gossip refills it; a
//! damaged base image is repaired from a peer; a damaged meta refuses the
//! segment; malformed and oversized frames are answered and the connection
//! closed without touching data; stale epochs are fenced; gossip fills a node
//! that missed appends while down; compaction survives a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use sextant_storage::net::Peer;
use sextant_storage::node::{self, NodeConfig, NodeHandle};
use sextant_storage::types::{
    Epoch, LogRecord, Lsn, NodeId, PageId, PgId, RecordBody, FLAG_CPL, PAGE_SIZE,
};
use sextant_storage::wire::{
    ErrorCode, Frame, Message, Replica, FRAME_HEADER_BYTES, FRAME_MAGIC, FRAME_PAYLOAD_MAX,
    PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PG: PgId = PgId(0);
const PAGES: u64 = 16;
const GOSSIP: Duration = Duration::from_millis(20);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(15);

fn config(dir: &Path, id: u32, listen: SocketAddr) -> NodeConfig {
    let mut c = NodeConfig::new(listen, format!("az-{}", id % 3), dir, NodeId(id));
    c.gossip_interval = GOSSIP;
    // GC on every maintenance pass, so the tests see the horizon move soon.
    c.gc_interval = GOSSIP * 5;
    c.metrics = Some("127.0.0.1:0".parse().expect("addr"));
    c
}

/// Some in-process nodes hosting replicas of PG 0.
struct Cluster {
    _tmp: tempfile::TempDir,
    dirs: Vec<PathBuf>,
    addrs: Vec<SocketAddr>,
    nodes: Vec<Option<NodeHandle>>,
    retention: Duration,
}

impl Cluster {
    async fn new(n: u32) -> Cluster {
        Cluster::with_retention(n, node::DEFAULT_LOG_RETENTION).await
    }

    async fn with_retention(n: u32, retention: Duration) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut c = Cluster {
            dirs: Vec::new(),
            addrs: Vec::new(),
            nodes: Vec::new(),
            _tmp: tmp,
            retention,
        };
        for i in 0..n {
            let dir = c._tmp.path().join(format!("node{}", i + 1));
            let mut cfg = config(&dir, i + 1, "127.0.0.1:0".parse().expect("addr"));
            cfg.log_retention = retention;
            let h = node::start(cfg).await.expect("start node");
            c.addrs.push(h.addr());
            c.dirs.push(dir);
            c.nodes.push(Some(h));
        }
        c
    }

    fn replicas(&self) -> Vec<Replica> {
        self.addrs
            .iter()
            .enumerate()
            .map(|(i, a)| Replica {
                node: NodeId(i as u32 + 1),
                addr: a.to_string(),
                az: format!("az-{}", (i + 1) % 3),
            })
            .collect()
    }

    fn peer(&self, i: usize) -> Peer {
        Peer::new(self.addrs[i].to_string())
    }

    /// Creates PG 0 on every node and opens epoch 1 at LSN 0.
    async fn create_segment(&self) {
        for i in 0..self.addrs.len() {
            let p = self.peer(i);
            let r = call(
                &p,
                Message::CreateSegment {
                    pg: PG,
                    pages_per_pg: PAGES,
                    replicas: self.replicas(),
                },
            )
            .await;
            assert_eq!(r, Message::Ok);
            // Idempotent.
            let r = call(
                &p,
                Message::CreateSegment {
                    pg: PG,
                    pages_per_pg: PAGES,
                    replicas: self.replicas(),
                },
            )
            .await;
            assert_eq!(r, Message::Ok);
            let r = call(
                &p,
                Message::Truncate {
                    pg: PG,
                    epoch: Epoch(1),
                    above: Lsn::ZERO,
                },
            )
            .await;
            assert!(matches!(r, Message::AppendAck { .. }), "{r:?}");
        }
    }

    async fn stop(&mut self, i: usize) {
        self.nodes[i].take().expect("node running").shutdown().await;
    }

    async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} still running");
        let mut cfg = config(&self.dirs[i], i as u32 + 1, self.addrs[i]);
        cfg.log_retention = self.retention;
        self.nodes[i] = Some(node::start(cfg).await.expect("restart node"));
    }

    fn metrics_addr(&self, i: usize) -> SocketAddr {
        self.nodes[i]
            .as_ref()
            .expect("running")
            .metrics_addr()
            .expect("metrics on")
    }

    fn seg_dir(&self, i: usize) -> PathBuf {
        self.dirs[i].join("pg-00000000")
    }
}

async fn call(peer: &Peer, msg: Message) -> Message {
    peer.request(msg, REQUEST_TIMEOUT).await.expect("request")
}

/// A delta of 16 bytes of `fill` at `offset` of `page`, epoch 1.
fn delta(lsn: u64, prev: u64, page: u64, offset: u16, fill: u8) -> LogRecord {
    LogRecord {
        lsn: Lsn(lsn),
        epoch: Epoch(1),
        page: PageId(page),
        pg_prev_lsn: Lsn(prev),
        vol_prev_lsn: Lsn(lsn - 1),
        flags: FLAG_CPL,
        body: RecordBody::Delta {
            offset,
            bytes: Bytes::from(vec![fill; 16]),
        },
    }
}

fn image(lsn: u64, page: u64, fill: u8) -> LogRecord {
    LogRecord {
        body: RecordBody::Image(Bytes::from(vec![fill; PAGE_SIZE])),
        ..delta(lsn, lsn - 1, page, 0, 0)
    }
}

fn append(epoch: u64, vdl: u64, pgmrpl: u64, records: Vec<LogRecord>) -> Message {
    let pg_tail = records
        .iter()
        .map(|r| r.lsn)
        .filter(|l| l.0 <= vdl)
        .max()
        .unwrap_or(Lsn(vdl));
    Message::Append {
        pg: PG,
        epoch: Epoch(epoch),
        vdl: Lsn(vdl),
        pg_tail,
        pgmrpl: Lsn(pgmrpl),
        records,
    }
}

async fn get_page(peer: &Peer, page: u64, lsn: u64) -> Message {
    call(
        peer,
        Message::GetPage {
            pg: PG,
            page: PageId(page),
            lsn: Lsn(lsn),
            epoch: Epoch(1),
        },
    )
    .await
}

fn page_image(reply: &Message) -> &[u8] {
    match reply {
        Message::Page { image, .. } => image,
        other => panic!("expected a page, got {other:?}"),
    }
}

/// Polls until `f` holds, failing after `WAIT`.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read metrics");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or(0.0)
}

/// Offsets in `path` where `needle` occurs.
fn find_all(path: &Path, needle: &[u8]) -> Vec<usize> {
    let data = std::fs::read(path).expect("read file");
    data.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn flip_byte(path: &Path, offset: usize) {
    let mut data = std::fs::read(path).expect("read file");
    data[offset] ^= 0x5a;
    std::fs::write(path, data).expect("write file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_acks_carry_the_durable_scl() {
    let c = Cluster::new(1).await;
    c.create_segment().await;
    let p = c.peer(0);
    let r = call(
        &p,
        append(
            1,
            0,
            0,
            vec![
                delta(1, 0, 1, 0, 1),
                delta(2, 1, 2, 0, 2),
                delta(3, 2, 1, 16, 3),
            ],
        ),
    )
    .await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(3)
        }
    );
    // A hole at 4 stops the SCL; filling it closes the gap.
    let r = call(&p, append(1, 0, 0, vec![delta(5, 4, 3, 0, 5)])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(3)
        }
    );
    let r = call(&p, append(1, 0, 0, vec![delta(4, 3, 3, 0, 4)])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(5)
        }
    );
    // A resent batch is harmless.
    let r = call(&p, append(1, 0, 0, vec![delta(4, 3, 3, 0, 4)])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(5)
        }
    );

    // Many appends in flight on one connection all complete with their SCL.
    let mut tasks = Vec::new();
    for lsn in 6..106u64 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            call(
                &p,
                append(
                    1,
                    0,
                    0,
                    vec![delta(lsn, lsn - 1, lsn % PAGES, 0, lsn as u8)],
                ),
            )
            .await
        }));
    }
    for t in tasks {
        assert!(matches!(t.await.expect("task"), Message::AppendAck { .. }));
    }
    let r = call(&p, append(1, 0, 0, vec![])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(105)
        }
    );

    let page = get_page(&p, 1, 3).await;
    assert_eq!(
        &page_image(&page)[..32],
        &[[1u8; 16], [3u8; 16]].concat()[..]
    );
    assert_eq!(
        get_page(&p, 1, 200).await,
        Message::NotYet { scl: Lsn(105) }
    );
    // A page of another PG is refused, not served as zeros.
    assert!(matches!(
        get_page(&p, PAGES + 1, 3).await,
        Message::Error {
            code: ErrorCode::Invalid,
            ..
        }
    ));
    // Unknown PG.
    let r = call(
        &p,
        Message::GetPage {
            pg: PgId(9),
            page: PageId(9 * PAGES),
            lsn: Lsn(1),
            epoch: Epoch(1),
        },
    )
    .await;
    assert!(
        matches!(
            r,
            Message::Error {
                code: ErrorCode::UnknownSegment,
                ..
            }
        ),
        "{r:?}"
    );

    let text = scrape(c.metrics_addr(0)).await;
    assert_eq!(metric(&text, "storage_records_received_total"), 106.0);
    assert!(metric(&text, "storage_fsync_seconds_count") >= 1.0);
    assert_eq!(metric(&text, "storage_segment_scl_lsn{pg=\"0\"}"), 105.0);
    assert_eq!(
        metric(&text, "storage_errors_total{code=\"UnknownSegment\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_acknowledged_records_and_epoch() {
    let mut c = Cluster::new(1).await;
    c.create_segment().await;
    let p = c.peer(0);
    let mut lsn = 0;
    for round in 0..20u64 {
        let recs: Vec<_> = (0..5)
            .map(|_| {
                lsn += 1;
                delta(lsn, lsn - 1, lsn % PAGES, (round * 16) as u16, lsn as u8)
            })
            .collect();
        let r = call(&p, append(1, lsn - 5, 0, recs)).await;
        assert_eq!(
            r,
            Message::AppendAck {
                pg: PG,
                scl: Lsn(lsn)
            }
        );
    }
    let before: Vec<Message> = futures_pages(&p, lsn).await;
    let r = call(
        &p,
        Message::SetEpoch {
            pg: PG,
            epoch: Epoch(2),
        },
    )
    .await;
    let Message::EpochSet {
        scl,
        max_lsn,
        history,
        ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!((scl, max_lsn), (Lsn(lsn), Lsn(lsn)));
    assert_eq!(history.len(), 1);

    // Dropping the handle stops the node; starting again waits for it.
    drop(c.nodes[0].take());
    c.restart(0).await;
    let p = c.peer(0);
    assert_eq!(futures_pages(&p, lsn).await, before);
    let r = call(&p, append(1, 0, 0, vec![delta(lsn + 1, lsn, 1, 0, 1)])).await;
    assert!(
        matches!(
            r,
            Message::Error {
                code: ErrorCode::StaleEpoch,
                epoch: Epoch(2),
                ..
            }
        ),
        "{r:?}"
    );
    let r = call(&p, Message::ListSegments).await;
    let Message::Segments(infos) = r else {
        panic!("{r:?}")
    };
    assert_eq!(infos.len(), 1);
    assert_eq!(
        (infos[0].epoch, infos[0].scl, infos[0].pages_per_pg),
        (Epoch(2), Lsn(lsn), PAGES)
    );
    assert_eq!(infos[0].replicas, c.replicas());
}

async fn futures_pages(p: &Peer, lsn: u64) -> Vec<Message> {
    let mut out = Vec::new();
    for page in 0..PAGES {
        out.push(get_page(p, page, lsn).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_epoch_is_fenced_after_set_epoch() {
    let c = Cluster::new(1).await;
    c.create_segment().await;
    let p = c.peer(0);
    let r = call(
        &p,
        append(
            1,
            0,
            0,
            vec![
                delta(1, 0, 1, 0, 1),
                delta(2, 1, 1, 0, 2),
                delta(3, 2, 1, 0, 3),
            ],
        ),
    )
    .await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(3)
        }
    );
    let r = call(
        &p,
        Message::SetEpoch {
            pg: PG,
            epoch: Epoch(2),
        },
    )
    .await;
    assert!(
        matches!(
            r,
            Message::EpochSet {
                scl: Lsn(3),
                max_lsn: Lsn(3),
                ..
            }
        ),
        "{r:?}"
    );
    let r = call(&p, append(1, 0, 0, vec![delta(4, 3, 1, 0, 4)])).await;
    assert!(
        matches!(
            r,
            Message::Error {
                code: ErrorCode::StaleEpoch,
                epoch: Epoch(2),
                ..
            }
        ),
        "{r:?}"
    );
    let r = call(
        &p,
        Message::SetEpoch {
            pg: PG,
            epoch: Epoch(1),
        },
    )
    .await;
    assert!(
        matches!(
            r,
            Message::Error {
                code: ErrorCode::StaleEpoch,
                epoch: Epoch(2),
                ..
            }
        ),
        "{r:?}"
    );
    // The new writer must teach the segment where epoch 2 starts first.
    let mut rec = delta(3, 2, 1, 0, 9);
    rec.epoch = Epoch(2);
    let r = call(&p, append(2, 0, 0, vec![rec.clone()])).await;
    assert!(
        matches!(
            r,
            Message::Error {
                code: ErrorCode::EpochBehind,
                epoch: Epoch(2),
                ..
            }
        ),
        "{r:?}"
    );
    // Recovery keeps up to 2: record 3 of epoch 1 is void and its LSN reused.
    let r = call(
        &p,
        Message::Truncate {
            pg: PG,
            epoch: Epoch(2),
            above: Lsn(2),
        },
    )
    .await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(2)
        }
    );
    let r = call(&p, append(2, 0, 0, vec![rec])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(3)
        }
    );
    assert_eq!(page_image(&get_page(&p, 1, 3).await)[0], 9);
    let r = call(
        &p,
        Message::ReadLog {
            pg: PG,
            after: Lsn(1),
            bytes_max: u32::MAX,
        },
    )
    .await;
    let Message::Log {
        tail,
        scl,
        records,
        more,
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!((tail, scl, more), (Lsn(1), Lsn(3), false));
    assert_eq!(
        records
            .iter()
            .map(|r| (r.lsn.0, r.epoch.0))
            .collect::<Vec<_>>(),
        vec![(2, 1), (3, 2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_fills_a_node_that_missed_appends_while_down() {
    let mut c = Cluster::new(3).await;
    c.create_segment().await;
    c.stop(2).await;
    let mut lsn = 0;
    for _ in 0..10 {
        let recs: Vec<_> = (0..3)
            .map(|_| {
                lsn += 1;
                delta(lsn, lsn - 1, lsn % PAGES, (lsn % 100) as u16, lsn as u8)
            })
            .collect();
        for i in 0..2 {
            let r = call(&c.peer(i), append(1, lsn - 3, 0, recs.clone())).await;
            assert_eq!(
                r,
                Message::AppendAck {
                    pg: PG,
                    scl: Lsn(lsn)
                }
            );
        }
    }
    let expect = futures_pages(&c.peer(0), lsn).await;
    c.restart(2).await;
    let p = c.peer(2);
    eventually("gossip to fill node 3", || async {
        matches!(get_page(&p, 1, lsn).await, Message::Page { .. })
    })
    .await;
    assert_eq!(futures_pages(&p, lsn).await, expect);
    let text = scrape(c.metrics_addr(2)).await;
    assert_eq!(
        metric(&text, "storage_gossip_repaired_records_total"),
        lsn as f64
    );
    // And what it learned survives its own restart.
    c.stop(2).await;
    c.stop(0).await;
    c.stop(1).await;
    c.restart(2).await;
    assert_eq!(futures_pages(&c.peer(2), lsn).await, expect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_record_is_not_served_until_gossip_refills_it() {
    let mut c = Cluster::new(2).await;
    c.create_segment().await;
    // Record 3 carries a marker no other entry has.
    let recs = vec![
        delta(1, 0, 1, 0, 0x11),
        delta(2, 1, 2, 0, 0x22),
        delta(3, 2, 1, 100, 0xC3),
        delta(4, 3, 2, 0, 0x44),
    ];
    for i in 0..2 {
        let r = call(&c.peer(i), append(1, 0, 0, recs.clone())).await;
        assert_eq!(
            r,
            Message::AppendAck {
                pg: PG,
                scl: Lsn(4)
            }
        );
    }
    let good = get_page(&c.peer(0), 1, 4).await;
    c.stop(0).await;
    c.stop(1).await;
    let log = c.seg_dir(0).join("log.0");
    let hits = find_all(&log, &[0xC3; 16]);
    assert_eq!(hits.len(), 1);
    flip_byte(&log, hits[0] + 5);

    c.restart(0).await;
    let p = c.peer(0);
    // The damaged node sees the hole: no read at or above record 3.
    assert_eq!(get_page(&p, 1, 4).await, Message::NotYet { scl: Lsn(2) });
    assert_eq!(get_page(&p, 1, 3).await, Message::NotYet { scl: Lsn(2) });
    assert!(matches!(get_page(&p, 1, 2).await, Message::Page { .. }));
    let text = scrape(c.metrics_addr(0)).await;
    assert_eq!(metric(&text, "storage_corrupt_entries_total"), 1.0);

    c.restart(1).await;
    eventually("gossip to refill the damaged record", || async {
        get_page(&p, 1, 4).await == good
    })
    .await;
    let text = scrape(c.metrics_addr(0)).await;
    assert_eq!(metric(&text, "storage_gossip_repaired_records_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_frames_are_refused_and_data_is_intact() {
    let c = Cluster::new(1).await;
    c.create_segment().await;
    let p = c.peer(0);
    let r = call(&p, append(1, 0, 0, vec![delta(1, 0, 1, 0, 7)])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(1)
        }
    );
    let addr = c.addrs[0];

    // Bad magic: no trustworthy req_id.
    let mut garbage = vec![0xEEu8; FRAME_HEADER_BYTES];
    garbage.extend_from_slice(b"more garbage");
    let (req_id, code) = raw_exchange(addr, &garbage).await;
    assert_eq!((req_id, code), (0, ErrorCode::Malformed));

    // Oversized: refused from the header, before the payload is read.
    let mut h = BytesMut::new();
    h.put_u32(FRAME_MAGIC);
    h.put_u8(PROTOCOL_VERSION);
    h.put_u8(2);
    h.put_u16(0);
    h.put_u64(77);
    h.put_u32(FRAME_PAYLOAD_MAX as u32 + 1);
    h.put_u32(0);
    h.put_slice(&[0u8; 4096]);
    assert_eq!(raw_exchange(addr, &h).await, (77, ErrorCode::TooLarge));

    // Another protocol version.
    let mut v = Frame {
        req_id: 5,
        msg: Message::ListSegments,
    }
    .to_bytes()
    .to_vec();
    v[4] = PROTOCOL_VERSION + 1;
    assert_eq!(
        raw_exchange(addr, &v).await.1,
        ErrorCode::UnsupportedVersion
    );

    // A valid-looking append whose payload checksum fails is not applied.
    let frame = Frame {
        req_id: 42,
        msg: append(1, 0, 0, vec![delta(2, 1, 1, 0, 8)]),
    };
    let mut raw = frame.to_bytes().to_vec();
    let last = raw.len() - 3;
    raw[last] ^= 0xFF;
    // A good request after the bad one in the same write is never read.
    raw.extend_from_slice(
        &Frame {
            req_id: 43,
            msg: append(1, 0, 0, vec![delta(2, 1, 1, 0, 8)]),
        }
        .to_bytes(),
    );
    assert_eq!(raw_exchange(addr, &raw).await, (42, ErrorCode::Malformed));

    assert_eq!(get_page(&p, 1, 2).await, Message::NotYet { scl: Lsn(1) });
    assert_eq!(page_image(&get_page(&p, 1, 1).await)[..16], [7u8; 16]);
    let text = scrape(c.metrics_addr(0)).await;
    assert_eq!(
        metric(&text, "storage_errors_total{code=\"Malformed\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, "storage_errors_total{code=\"TooLarge\"}"),
        1.0
    );
}

/// Sends raw bytes, expects one error frame back and then the connection
/// closed. Returns the reply's req_id and code.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> (u64, ErrorCode) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut buf = BytesMut::new();
    let frame = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            if let Some(f) = Frame::decode_from(&mut buf).expect("a well-formed reply") {
                return f;
            }
            let n = s.read_buf(&mut buf).await.expect("read");
            assert!(n > 0, "connection closed before the error reply");
        }
    })
    .await
    .expect("reply in time");
    let Message::Error { code, .. } = frame.msg else {
        panic!("expected an error, got {:?}", frame.msg)
    };
    let mut rest = Vec::new();
    let n = tokio::time::timeout(REQUEST_TIMEOUT, s.read_to_end(&mut rest))
        .await
        .expect("close in time");
    assert!(n.is_ok(), "{n:?}");
    assert!(
        rest.is_empty() && buf.is_empty(),
        "nothing after the error reply"
    );
    (frame.req_id, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_and_restart_keep_pages_readable() {
    let mut c = Cluster::with_retention(2, Duration::ZERO).await;
    c.create_segment().await;
    // 160 full images over 4 pages: about 1.3 MiB of log, mostly dead once
    // the minimum read point passes them.
    let mut lsn = 0;
    for _ in 0..40 {
        let recs: Vec<_> = (0..4)
            .map(|_| {
                lsn += 1;
                image(lsn, lsn % 4, lsn as u8)
            })
            .collect();
        for i in 0..2 {
            let r = call(&c.peer(i), append(1, lsn - 4, 0, recs.clone())).await;
            assert_eq!(
                r,
                Message::AppendAck {
                    pg: PG,
                    scl: Lsn(lsn)
                }
            );
        }
    }
    let top = lsn;
    let r = call(&c.peer(0), append(1, top, top, vec![])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(top)
        }
    );
    let r = call(&c.peer(1), append(1, top, top, vec![])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(top)
        }
    );
    let dir = c.seg_dir(0);
    eventually("compaction to log.1", || async {
        dir.join("log.1").exists() && !dir.join("log.0").exists()
    })
    .await;
    let expect = futures_pages(&c.peer(0), top).await;
    for page in 0..4u64 {
        let newest = (1..=top).rev().find(|l| l % 4 == page).expect("a record");
        assert_eq!(page_image(&expect[page as usize])[0], newest as u8);
    }
    assert!(std::fs::metadata(dir.join("log.1")).expect("log.1").len() < 100 * 1024);
    // More after compaction, into the new generation.
    let r = call(
        &c.peer(0),
        append(1, top, top, vec![delta(top + 1, top, 2, 8, 0xAB)]),
    )
    .await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(top + 1)
        }
    );

    c.stop(0).await;
    c.restart(0).await;
    let p = c.peer(0);
    assert_eq!(futures_pages(&p, top).await, expect);
    assert_eq!(
        page_image(&get_page(&p, 2, top + 1).await)[8..24],
        [0xAB; 16]
    );
    assert!(matches!(get_page(&p, 2, 3).await, Message::TooOld { .. }));

    // A damaged base image: the page is lost until repaired from the peer.
    let base_fill = [(top - 1) as u8; 64]; // page 3's newest image at the horizon
    c.stop(0).await;
    c.stop(1).await;
    let log = dir.join("log.1");
    let hits = find_all(&log, &base_fill);
    assert!(!hits.is_empty());
    flip_byte(&log, hits[0] + 10);
    c.restart(0).await;
    let p = c.peer(0);
    assert!(matches!(get_page(&p, 3, top).await, Message::NotYet { .. }));
    assert_eq!(get_page(&p, 1, top).await, expect[1]);
    c.restart(1).await;
    let b = c.peer(1);
    eventually("repair of the lost page", || async {
        let a = get_page(&p, 3, top + 1).await;
        matches!(a, Message::Page { .. }) && a == get_page(&b, 3, top + 1).await
    })
    .await;
    assert_eq!(
        page_image(&get_page(&p, 3, top + 1).await)[0],
        (top - 1) as u8
    );
    let text = scrape(c.metrics_addr(0)).await;
    assert_eq!(metric(&text, "storage_repaired_pages_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_meta_refuses_the_segment() {
    let mut c = Cluster::new(1).await;
    c.create_segment().await;
    let r = call(&c.peer(0), append(1, 0, 0, vec![delta(1, 0, 1, 0, 1)])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(1)
        }
    );
    c.stop(0).await;
    let meta = c.seg_dir(0).join("meta");
    flip_byte(&meta, 12);
    c.restart(0).await;
    let p = c.peer(0);
    let r = get_page(&p, 1, 1).await;
    assert!(
        matches!(&r, Message::Error { code: ErrorCode::Internal, message, .. } if message.contains("refused")),
        "{r:?}"
    );
    assert_eq!(
        call(&p, Message::ListSegments).await,
        Message::Segments(vec![])
    );
    let r = call(
        &p,
        Message::CreateSegment {
            pg: PG,
            pages_per_pg: PAGES,
            replicas: c.replicas(),
        },
    )
    .await;
    assert!(
        matches!(
            r,
            Message::Error {
                code: ErrorCode::Internal,
                ..
            }
        ),
        "{r:?}"
    );
    // Nothing was written over the damaged files.
    let mut data = std::fs::read(&meta).expect("meta");
    data[12] ^= 0x5a;
    assert!(sextant_storage::node::format::decode_meta(&data).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_cut_and_appends_continue() {
    let mut c = Cluster::new(1).await;
    c.create_segment().await;
    let p = c.peer(0);
    let r = call(
        &p,
        append(1, 0, 0, vec![delta(1, 0, 1, 0, 1), delta(2, 1, 1, 16, 2)]),
    )
    .await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(2)
        }
    );
    c.stop(0).await;
    // A crash in the middle of writing record 3: half an entry where the
    // log ends (in the zeros the file is grown by ahead of the log).
    let log = c.seg_dir(0).join("log.0");
    let data = std::fs::read(&log).expect("log");
    let good_len = sextant_storage::node::format::scan_log(&data).valid_len;
    assert!(data[good_len as usize..].iter().all(|b| *b == 0));
    let mut torn = BytesMut::new();
    sextant_storage::node::format::encode_entry(
        &sextant_storage::segment::LogEntry::Record {
            received_ms: 0,
            record: delta(3, 2, 1, 32, 3),
        },
        &mut torn,
    );
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .expect("open");
        f.write_all_at(&torn[..torn.len() / 2], good_len)
            .expect("tear");
    }

    c.restart(0).await;
    let p = c.peer(0);
    assert_eq!(std::fs::metadata(&log).expect("log").len(), good_len);
    assert_eq!(get_page(&p, 1, 3).await, Message::NotYet { scl: Lsn(2) });
    let r = call(&p, append(1, 0, 0, vec![delta(3, 2, 1, 32, 3)])).await;
    assert_eq!(
        r,
        Message::AppendAck {
            pg: PG,
            scl: Lsn(3)
        }
    );
    c.stop(0).await;
    c.restart(0).await;
    let page = get_page(&c.peer(0), 1, 3).await;
    assert_eq!(
        &page_image(&page)[..48],
        &[[1u8; 16], [2u8; 16], [3u8; 16]].concat()[..]
    );
}
