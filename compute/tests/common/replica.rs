//! A writer with its redo stream and read replicas, each serving the
//! Postgres protocol, over six in-process storage nodes; and a TCP relay
//! that can partition a reader from the writer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sextant_compute::engine::{Engine, EngineConfig};
use sextant_compute::replica::follower::{Follower, FollowerConfig};
use sextant_compute::replica::hub::{HubConfig, RedoHub};
use sextant_compute::server;
use sextant_compute::sql::session::{Database, DatabaseConfig};
use sextant_storage::types::Lsn;
use sextant_storage::volume::VolumeConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

fn db_config() -> DatabaseConfig {
    DatabaseConfig {
        database: "sextant".into(),
        users: vec![("sextant".into(), "sextant".into())],
    }
}

pub fn engine_config() -> EngineConfig {
    EngineConfig {
        pool_bytes: 8 << 20,
        txn_memory_bytes: 1 << 20,
        txn_bytes_max: 64 << 20,
        volume: VolumeConfig {
            request_timeout: Duration::from_millis(500),
            page_read_timeout: Duration::from_millis(500),
            recovery_list_wait: Duration::from_millis(300),
            ..VolumeConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// A Postgres protocol listener over one database.
pub struct Pg {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Pg {
    pub async fn serve(db: Arc<Database>) -> Pg {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server::serve(listener, db, None, async move {
                let _ = stopped.await;
            })
            .await
            .expect("server ran");
        });
        Pg {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn connect(&self) -> Client {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.addr.port())
            .user("sextant")
            .password("sextant")
            .dbname("sextant")
            .connect_timeout(Duration::from_secs(10));
        let (client, conn) = c.connect(NoTls).await.expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("server stopped in time")
            .unwrap();
    }
}

pub struct Writer {
    pub engine: Engine,
    pub hub: RedoHub,
    pub redo_addr: SocketAddr,
    pub pg: Pg,
    _serve: JoinHandle<()>,
}

pub struct Reader {
    pub follower: Follower,
    pub db: Arc<Database>,
    pub pg: Pg,
}

impl Reader {
    /// Waits until the reader's read point passes `lsn`.
    pub async fn catch_up_to(&self, lsn: Lsn) {
        assert!(
            self.follower.wait_for(lsn, Duration::from_secs(20)).await,
            "reader at {} did not reach {lsn}",
            self.follower.read_point()
        );
    }

    pub async fn stop(self) {
        self.pg.stop().await;
        drop(self.follower);
    }
}

pub async fn writer(storage: &super::Storage, hub_cfg: HubConfig) -> Writer {
    writer_with(storage, hub_cfg, engine_config()).await
}

pub async fn writer_with(
    storage: &super::Storage,
    hub_cfg: HubConfig,
    cfg: EngineConfig,
) -> Writer {
    let engine = tokio::time::timeout(
        Duration::from_secs(20),
        Engine::open(storage.cluster.clone(), cfg),
    )
    .await
    .expect("engine opened in time")
    .expect("engine opened");
    let hub = RedoHub::attach(&engine, "writer".into(), hub_cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redo_addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(hub.clone().serve(listener));
    let db = Database::new(engine.clone(), db_config());
    db.set_status_source(Arc::new(hub.clone()));
    let pg = Pg::serve(db).await;
    Writer {
        engine,
        hub,
        redo_addr,
        pg,
        _serve: serve,
    }
}

/// A reader following the redo stream at `redo` (the writer's, or a relay's).
pub async fn reader(storage: &super::Storage, redo: SocketAddr, name: &str) -> Reader {
    reader_with(storage, redo, name, engine_config()).await
}

pub async fn reader_with(
    storage: &super::Storage,
    redo: SocketAddr,
    name: &str,
    cfg: EngineConfig,
) -> Reader {
    let mut fcfg = FollowerConfig::new(redo.to_string(), name.into());
    fcfg.silence_max = Duration::from_millis(500);
    fcfg.reconnect_backoff_max = Duration::from_millis(100);
    let follower = tokio::time::timeout(
        Duration::from_secs(20),
        Follower::start(storage.cluster.clone(), cfg, fcfg),
    )
    .await
    .expect("reader started in time")
    .expect("reader started");
    let db = Database::new(follower.engine().clone(), db_config());
    db.set_status_source(follower.status_source());
    let pg = Pg::serve(db.clone()).await;
    Reader { follower, db, pg }
}

/// A TCP relay to `target` that can stop forwarding (a partition: bytes
/// sit in socket buffers, nothing is lost or refused) and resume.
pub struct Relay {
    pub addr: SocketAddr,
    paused: Arc<AtomicBool>,
    _task: JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let paused = Arc::new(AtomicBool::new(false));
        let p = paused.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if p.load(Ordering::SeqCst) {
                    // Partitioned: the connection goes nowhere.
                    let p = p.clone();
                    tokio::spawn(async move {
                        while p.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        drop(client);
                    });
                    continue;
                }
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, p.clone()));
                tokio::spawn(pump(sr, cw, p.clone()));
            }
        });
        Relay {
            addr,
            paused,
            _task: task,
        }
    }

    pub fn partition(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if paused.load(Ordering::SeqCst) {
            // A partition that lasts: once healed, this connection is dead
            // (as a real one would be after its peer timed out).
            while paused.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            return;
        }
        let n = match tokio::time::timeout(Duration::from_millis(20), from.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_) => continue,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
