//! Six in-process storage nodes on loopback, for engine tests.
#![allow(dead_code)]

pub mod replica;
pub mod server;

use std::time::Duration;

use sextant_compute::engine::{Engine, EngineConfig};
use sextant_storage::cluster::Cluster;
use sextant_storage::node::{self, NodeConfig, NodeHandle};
use sextant_storage::types::NodeId;
use sextant_storage::volume::VolumeConfig;

pub struct Storage {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Option<NodeHandle>>,
    pub cluster: Cluster,
    configs: Vec<NodeConfig>,
}

impl Storage {
    /// Six nodes, 2 per AZ, 512 KiB segments (64 pages per PG) so tests
    /// cross protection groups quickly.
    pub async fn start() -> Storage {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        let mut configs = Vec::new();
        let mut toml = String::from("segment_size = \"512KiB\"\n");
        for i in 0..6u32 {
            let az = ["az-a", "az-b", "az-c"][(i / 2) as usize];
            let mut cfg = NodeConfig::new(
                "127.0.0.1:0".parse().unwrap(),
                az.to_string(),
                dir.path().join(format!("n{i}")),
                NodeId(i + 1),
            );
            cfg.gossip_interval = Duration::from_millis(50);
            cfg.gc_interval = Duration::from_millis(250);
            let h = node::start(cfg.clone()).await.unwrap();
            cfg.listen = h.addr();
            toml += &format!(
                "[[storage]]\nid = {}\naddr = \"{}\"\naz = \"{az}\"\n",
                i + 1,
                h.addr()
            );
            nodes.push(Some(h));
            configs.push(cfg);
        }
        let cluster = Cluster::parse(&toml).unwrap();
        Storage {
            dir,
            nodes,
            cluster,
            configs,
        }
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(h) = self.nodes[i].take() {
            h.shutdown().await;
        }
    }

    pub async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none());
        self.nodes[i] = Some(node::start(self.configs[i].clone()).await.unwrap());
    }

    pub async fn engine(&self) -> Engine {
        self.engine_with(engine_config()).await
    }

    pub async fn engine_with(&self, cfg: EngineConfig) -> Engine {
        tokio::time::timeout(
            Duration::from_secs(20),
            Engine::open(self.cluster.clone(), cfg),
        )
        .await
        .expect("engine opened in time")
        .expect("engine opened")
    }
}

/// Six fresh nodes, an engine on them, and a SQL session as the superuser
/// `sextant` of database `sextant`; keep the storage alive as long as the
/// session.
pub async fn sql_session() -> (Storage, sextant_compute::sql::session::Session) {
    use sextant_compute::sql::session::{Database, DatabaseConfig};
    let storage = Storage::start().await;
    let engine = storage.engine().await;
    let db = Database::new(
        engine,
        DatabaseConfig {
            database: "sextant".into(),
            users: vec![("sextant".into(), "sextant".into())],
        },
    );
    let s = db.session("sextant", "sextant");
    (storage, s)
}

/// The result of the last statement of `sql`; panics on an error.
/// `sql` with `events` made `events_plain`: tests that check an indexed
/// `events` against the same rows in a table without indexes (whose
/// answers come from the table alone).
pub fn plain(sql: &str) -> String {
    sql.replace("events", "events_plain")
}

/// Runs `sql` on `events` and on `events_plain` (see [`plain`]).
pub async fn both(s: &mut sextant_compute::sql::session::Session, sql: &str) {
    run(s, sql).await;
    run(s, &plain(sql)).await;
}

pub async fn run(
    s: &mut sextant_compute::sql::session::Session,
    sql: &str,
) -> sextant_compute::sql::session::QueryResult {
    let mut r = s.simple_query(sql).await;
    r.pop()
        .unwrap()
        .unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message))
}

/// The rows of a result, as text (`None` for NULL); panics on a result
/// without rows.
pub fn rows(r: &sextant_compute::sql::session::QueryResult) -> Vec<Vec<Option<String>>> {
    match r {
        sextant_compute::sql::session::QueryResult::Rows { rows, .. } => rows.clone(),
        other => panic!("no rows: {other:?}"),
    }
}

/// The rows `sql` returns as `a|b` lines, NULL spelled `∅`.
pub async fn q(s: &mut sextant_compute::sql::session::Session, sql: &str) -> Vec<String> {
    match run(s, sql).await {
        sextant_compute::sql::session::QueryResult::Rows { rows, .. } => rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| v.unwrap_or_else(|| "∅".into()))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect(),
        other => panic!("{sql}: no rows: {other:?}"),
    }
}

/// The engine tests' configuration: a small pool, and a small memory
/// budget so that multi-row transactions spill to disk.
pub fn engine_config() -> EngineConfig {
    EngineConfig {
        pool_bytes: 8 << 20,
        txn_memory_bytes: 32 << 10,
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
