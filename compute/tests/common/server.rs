//! The writer's Postgres protocol server over six in-process storage
//! nodes, for tests that talk to it with tokio-postgres or psql.

use std::net::SocketAddr;
use std::time::Duration;

use sextant_compute::server;
use sextant_compute::sql::session::{Database, DatabaseConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

pub struct Server {
    _storage: super::Storage,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn start() -> Server {
        let storage = super::Storage::start().await;
        let engine = storage.engine().await;
        let db = Database::new(
            engine,
            DatabaseConfig {
                database: "sextant".into(),
                users: vec![("sextant".into(), "sextant".into())],
            },
        );
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
        Server {
            _storage: storage,
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

    /// psql's connection string for this server.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=sextant dbname=sextant sslmode=disable",
            self.addr.port()
        )
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("server stopped in time")
            .unwrap();
    }
}
