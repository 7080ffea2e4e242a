//! Helpers for tests that run real `sextant` processes: a six-node storage
//! cluster on loopback whose nodes can be killed (SIGKILL) and restarted on
//! the same ports and data directories.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sextant_storage::cluster::Cluster;
use sextant_storage::net::Peer;
use sextant_storage::types::{Lsn, PgId};
use sextant_storage::wire::Message;

/// The binary under test.
pub fn sextant_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sextant")
}

/// A port that is free now and that no other call in this process has
/// handed out or will hand out.
///
/// Ports come from a per-process sequence below the kernel's ephemeral range
/// (32768 and up), not from `bind(0)`: a node killed by one test frees its
/// port, and an ephemeral pick by a test running beside it could land on
/// that port and put a stranger where the first test's cluster expects its
/// node (which would then take part in that cluster's quorum).
pub fn free_port() -> u16 {
    take_ports(1)
}

/// Twelve consecutive free ports (six storage nodes and their metrics),
/// by the same rules as [`free_port`].
pub fn free_port_range() -> u16 {
    take_ports(12)
}

/// The first of `n` consecutive ports, each free when checked, taken from
/// this process's sequence in 10000..32000. The sequence starts at an
/// offset drawn from the process id so that test binaries running at once
/// (rare under `cargo test`) seldom meet.
fn take_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..2_000 {
        let offset = NEXT.fetch_add(u32::from(n), Ordering::Relaxed) % SPAN;
        if offset + u32::from(n) > SPAN {
            continue;
        }
        let base = u16::try_from(LOW + offset).expect("below 32000");
        let free = (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no {n} consecutive free ports in {LOW}..{}", LOW + SPAN);
}

/// One storage node process.
pub struct NodeProc {
    pub id: u32,
    pub az: String,
    pub addr: String,
    pub data: PathBuf,
    child: Option<Child>,
}

impl NodeProc {
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Six storage processes, two per AZ, with a cluster file.
pub struct ProcCluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeProc>,
    pub cluster_file: PathBuf,
    /// Flags every node is started with, after the ones it needs.
    extra_args: Vec<String>,
}

impl ProcCluster {
    /// Starts six nodes and waits until each accepts connections.
    pub fn start(segment_size: &str) -> ProcCluster {
        Self::start_with(segment_size, &[])
    }

    /// Like [`ProcCluster::start`], each node also given `extra_args`.
    pub fn start_with(segment_size: &str, extra_args: &[&str]) -> ProcCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        let mut toml = format!("segment_size = \"{segment_size}\"\n");
        for i in 0..6u32 {
            let az = ["az-a", "az-b", "az-c"][(i / 2) as usize].to_string();
            let addr = format!("127.0.0.1:{}", free_port());
            toml += &format!(
                "[[storage]]\nid = {}\naddr = \"{addr}\"\naz = \"{az}\"\n",
                i + 1
            );
            nodes.push(NodeProc {
                id: i + 1,
                az,
                addr,
                data: dir.path().join(format!("node-{}", i + 1)),
                child: None,
            });
        }
        let cluster_file = dir.path().join("cluster.toml");
        std::fs::write(&cluster_file, toml).unwrap();
        let mut c = ProcCluster {
            dir,
            nodes,
            cluster_file,
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
        };
        for i in 0..6 {
            c.spawn(i);
        }
        for i in 0..6 {
            c.wait_listening(i);
        }
        c
    }

    pub fn cluster(&self) -> Cluster {
        Cluster::load(&self.cluster_file).unwrap()
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("node-{}.log", self.nodes[i].id))
    }

    fn spawn(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let n = &mut self.nodes[i];
        let child = Command::new(sextant_bin())
            .args([
                "storage",
                "--listen",
                &n.addr,
                "--az",
                &n.az,
                "--node-id",
                &n.id.to_string(),
            ])
            .arg("--data")
            .arg(&n.data)
            .args(["--gossip-interval", "50ms"])
            .args(&self.extra_args)
            .env("SEXTANT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sextant storage");
        n.child = Some(child);
    }

    fn wait_listening(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.nodes[i].addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "node {} never listened; log:\n{}",
                self.nodes[i].id,
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts a killed node again on the same port and data.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} is running");
        self.spawn(i);
        self.wait_listening(i);
    }

    pub fn data_dir(&self, i: usize) -> &Path {
        &self.nodes[i].data
    }

    /// SCL of `pg` on node `i`, asked directly.
    pub async fn scl(&self, i: usize, pg: PgId) -> Option<Lsn> {
        let peer = Peer::new(self.nodes[i].addr.clone());
        match peer
            .request(Message::ListSegments, Duration::from_secs(2))
            .await
        {
            Ok(Message::Segments(infos)) => infos.iter().find(|s| s.pg == pg).map(|s| s.scl),
            _ => None,
        }
    }
}

impl Drop for ProcCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// A `sextant compute` process on loopback, logging to `log`.
pub fn spawn_compute(cluster_file: &Path, role: &str, port: u16, admin: &str, log: &Path) -> Child {
    Command::new(sextant_bin())
        .args(["compute", "--role", role])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--admin", admin])
        .arg("--cluster")
        .arg(cluster_file)
        .env("SEXTANT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn sextant compute")
}

/// Waits until `port` accepts connections; panics with the log if the
/// process exits first or 90 s pass.
pub fn wait_for_port(child: &mut Child, port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the process exited with {status}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "never listened on {port}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is killed when the guard drops, so a test that
/// panics halfway leaves no `sextant dev` running behind it.
pub struct ChildGuard(pub Child);

impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `sextant dev` on free ports in a temporary directory, stopped with
/// SIGTERM when dropped. It can be killed and started again on the same
/// ports and data.
pub struct Dev {
    child: Option<Child>,
    /// The writer endpoint's port.
    pub port: u16,
    storage_port: u16,
    args: Vec<String>,
    /// Its log (stderr, appended to across restarts).
    pub log: PathBuf,
    dir: tempfile::TempDir,
}

impl Dev {
    /// Starts it and waits until the writer endpoint listens.
    pub fn start() -> Dev {
        Dev::start_with(&[])
    }

    /// [`Dev::start`] with more `sextant dev` arguments (and `SEXTANT_LOG`
    /// at `warn` when they set nothing else).
    pub fn start_with(args: &[&str]) -> Dev {
        let dir = tempfile::tempdir().unwrap();
        let mut dev = Dev {
            child: None,
            port: free_port(),
            storage_port: free_port_range(),
            args: args.iter().map(|a| a.to_string()).collect(),
            log: dir.path().join("dev.log"),
            dir,
        };
        dev.spawn();
        dev
    }

    /// The writer endpoint's URL.
    pub fn url(&self) -> String {
        format!("postgres://sextant:sextant@127.0.0.1:{}/sextant", self.port)
    }

    /// Starts the process (again) on the same ports and data.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(sextant_bin())
            .arg("dev")
            .arg("--data")
            .arg(self.dir.path().join("data"))
            .args(["--port", &self.port.to_string()])
            .args(["--storage-port", &self.storage_port.to_string()])
            .args(["--reader-port", &free_port().to_string()])
            .args(["--http-port", &free_port().to_string()])
            .args(&self.args)
            .env("SEXTANT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.log)
                    .unwrap(),
            )
            .spawn()
            .expect("spawn sextant dev");
        wait_for_port(&mut child, self.port, &self.log);
        self.child = Some(child);
    }

    /// SIGKILL: the writer vanishes mid-connection.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = sigterm_and_wait(&mut child);
        }
        // A failing test shows what the server said: its log goes with
        // the temporary directory.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of the sextant dev log ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Sends SIGTERM and waits up to 30 s for the exit (then kills, and
/// panics).
pub fn sigterm_and_wait(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
