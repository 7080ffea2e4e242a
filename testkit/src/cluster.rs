//! Nodes on a private Docker network, and the faults a test inflicts on them.
//!
//! A [`Cluster`] is one user-defined bridge network with a unique name plus a
//! host temp dir. Each [`Node`] is one container on that network, named
//! `<cluster>-<node>`; Docker's embedded DNS resolves that name for the other
//! containers, so it is the address to put in a `cluster.toml` that a
//! containerised client reads. Ports a [`NodeSpec`] lists are published on
//! random host ports for the test process itself.
//!
//! Each node's data dir (`/data` inside) is a bind mount of
//! `<cluster temp dir>/<node>`, so it survives stop, kill and restart of the
//! container, and the test can read it from the host.
//!
//! # Faults, and what each looks like from outside
//!
//! | call | inside | seen by peers and by the host |
//! |---|---|---|
//! | [`Node::stop`] | `SIGTERM`, `SIGKILL` after [`STOP_GRACE_S`] | connections refused |
//! | [`Node::kill`] | `SIGKILL` | connections refused |
//! | [`Node::pause`] | all processes frozen | TCP handshakes still complete (the kernel does them), requests hang |
//! | [`Node::disconnect`] | the node's network interface is removed | peers cannot resolve or reach it; the published ports stop answering |
//!
//! Publishing goes through testcontainers, which binds the host side on all
//! interfaces (0.25 has no host-IP option); [`Node::host_addr`] hands out the
//! `127.0.0.1` side. After a restart Docker may pick new host ports, so ask
//! [`Node::host_port`] again rather than keeping an old one.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use testcontainers::core::wait::ExitWaitStrategy;
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, CopyDataSource, GenericImage, ImageExt};

use crate::docker;
use crate::image::{SextantImage, BINARY_IN_IMAGE};
use crate::{Error, Result};

/// Seconds [`Node::stop`] gives the process between `SIGTERM` and `SIGKILL`.
/// A storage node flushes and exits well within this; a process that ignores
/// `SIGTERM` (PID 1 without a handler does) costs the test this long.
pub const STOP_GRACE_S: i32 = 10;

/// Default bound on a node becoming ready (its log line appearing), or a
/// one-shot [`Cluster::run`] exiting. Debug builds of the whole cluster start
/// in well under this on the 2-core dev machines.
pub const STARTUP_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// How often polling loops (log line after restart, exit after kill) look.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Upper bound on a container leaving the running state after `SIGKILL`.
const KILL_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest node name; container names are `<cluster>-<node>` and must stay
/// readable in `docker ps` and valid as DNS labels (63 bytes).
const NODE_NAME_LEN_MAX: usize = 32;

/// What a one-shot command printed and how it ended; also what
/// [`Node::exec`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The exit code.
    pub exit_code: i64,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl RunOutput {
    /// Whether the command exited with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

#[derive(Debug, Clone)]
enum FileSource {
    Path(PathBuf),
    Contents(Vec<u8>),
}

/// How to run one container: the arguments to `/sextant`, environment, ports
/// to publish, files to copy in and when it counts as started.
#[derive(Debug, Clone)]
#[must_use]
pub struct NodeSpec {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    ports: Vec<u16>,
    files: Vec<(FileSource, String)>,
    ready_log: Option<String>,
    startup_timeout: Duration,
    data_path: String,
}

impl NodeSpec {
    /// Describes a node called `name` (ASCII letters, digits and `-`), with
    /// no arguments, no published ports and its data dir at `/data`.
    pub fn new(name: impl Into<String>) -> NodeSpec {
        let name = name.into();
        assert!(!name.is_empty(), "node name must not be empty");
        assert!(
            name.len() <= NODE_NAME_LEN_MAX,
            "node name {name:?} is longer than {NODE_NAME_LEN_MAX} bytes"
        );
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "node name {name:?} may hold only ASCII letters, digits and '-'"
        );
        NodeSpec {
            name,
            args: Vec::new(),
            env: Vec::new(),
            ports: Vec::new(),
            files: Vec::new(),
            ready_log: None,
            startup_timeout: STARTUP_TIMEOUT_DEFAULT,
            data_path: "/data".to_owned(),
        }
    }

    /// Appends one argument to the `/sextant` command line.
    pub fn arg(mut self, arg: impl Into<String>) -> NodeSpec {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments to the `/sextant` command line.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> NodeSpec {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> NodeSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Publishes a TCP port the node listens on to a random host port.
    pub fn port(mut self, container_port: u16) -> NodeSpec {
        self.ports.push(container_port);
        self
    }

    /// Copies a host file into the container before it starts.
    pub fn file(
        mut self,
        host_path: impl Into<PathBuf>,
        container_path: impl Into<String>,
    ) -> NodeSpec {
        self.files
            .push((FileSource::Path(host_path.into()), container_path.into()));
        self
    }

    /// Writes `contents` to a file in the container before it starts, say a
    /// generated `cluster.toml`.
    pub fn file_contents(
        mut self,
        contents: impl Into<Vec<u8>>,
        container_path: impl Into<String>,
    ) -> NodeSpec {
        self.files
            .push((FileSource::Contents(contents.into()), container_path.into()));
        self
    }

    /// Counts the node as started once `message` appears on its stdout or
    /// stderr; also after every [`Node::start`]. Without it, a node counts as
    /// started as soon as its process does.
    pub fn wait_for_log(mut self, message: impl Into<String>) -> NodeSpec {
        self.ready_log = Some(message.into());
        self
    }

    /// Bounds the wait for the ready log line, or for a one-shot run to exit.
    pub fn startup_timeout(mut self, timeout: Duration) -> NodeSpec {
        self.startup_timeout = timeout;
        self
    }

    /// Mounts the node's host data dir at `path` instead of `/data`.
    pub fn data_path(mut self, path: impl Into<String>) -> NodeSpec {
        self.data_path = path.into();
        self
    }
}

/// What outlives every node: the network and the data dirs. Dropped after
/// the last [`Node`], so the network is empty when it is removed.
#[derive(Debug)]
struct Shared {
    name: String,
    root: Option<tempfile::TempDir>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if docker::keep_resources() {
            if let Some(root) = self.root.take() {
                eprintln!(
                    "sextant-testkit: keeping network {} and data dir {}",
                    self.name,
                    root.keep().display()
                );
            }
            return;
        }
        docker::run_blocking(
            &format!("remove network {}", self.name),
            &["network", "rm", &self.name],
        );
    }
}

/// One private Docker network, and the nodes started on it.
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<Shared>,
    image: SextantImage,
}

impl Cluster {
    /// Creates a network with a unique name for nodes running `image`. Also
    /// removes what dead test processes left behind (once per process).
    pub async fn new(image: &SextantImage) -> Result<Cluster> {
        static CLUSTERS_CREATED: AtomicU32 = AtomicU32::new(0);

        docker::ensure_available().await?;
        docker::sweep_stale_once().await?;

        // pid plus a counter is unique among live processes on this host; the
        // clock bits keep a name from a dead process (whose leftovers another
        // host's sweep would not touch) from colliding.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{}{}-{}-{:04x}",
            docker::CLUSTER_PREFIX,
            std::process::id(),
            CLUSTERS_CREATED.fetch_add(1, Ordering::Relaxed),
            nanos & 0xffff
        );
        let root = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .map_err(Error::io("create the cluster data dir"))?;
        let owner = format!("{}={}", docker::OWNER_LABEL, docker::owner());
        docker::run(
            &format!("create network {name}"),
            &["network", "create", "--label", &owner, &name],
        )
        .await?;
        Ok(Cluster {
            shared: Arc::new(Shared {
                name,
                root: Some(root),
            }),
            image: image.clone(),
        })
    }

    /// The network's name, which is also the prefix of every container name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The host dir holding each node's data dir (as `<node name>/`).
    pub fn root(&self) -> &Path {
        self.shared
            .root
            .as_ref()
            .expect("root is taken only when Shared drops")
            .path()
    }

    /// Writes a file under [`Cluster::root`], say a `cluster.toml` for a
    /// client on the host, and returns its path.
    pub fn write_file(
        &self,
        relative: impl AsRef<Path>,
        contents: impl AsRef<[u8]>,
    ) -> Result<PathBuf> {
        let path = self.root().join(relative);
        std::fs::write(&path, contents).map_err(Error::io(format!("write {}", path.display())))?;
        Ok(path)
    }

    /// Starts a long-lived node and waits until it is ready (see
    /// [`NodeSpec::wait_for_log`]).
    pub async fn start(&self, spec: NodeSpec) -> Result<Node> {
        let container_name = format!("{}-{}", self.shared.name, spec.name);
        let data_dir = self.root().join(&spec.name);
        std::fs::create_dir_all(&data_dir)
            .map_err(Error::io(format!("create data dir {}", data_dir.display())))?;

        let mut image = self.image.generic();
        for port in &spec.ports {
            image = image.with_exposed_port(port.tcp());
        }
        if let Some(message) = &spec.ready_log {
            image = image.with_wait_for(WaitFor::message_on_either_std(message));
        }
        let request = self
            .request(image, &container_name, &spec)
            .with_mount(Mount::bind_mount(
                data_dir.to_string_lossy(),
                spec.data_path.as_str(),
            ));
        let container = match request.start().await {
            Ok(container) => container,
            Err(e) => return Err(start_failed(&container_name, e).await),
        };
        Ok(Node {
            container,
            hostname: container_name,
            data_dir,
            ready_log: spec.ready_log,
            startup_timeout: spec.startup_timeout,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Runs a one-shot container on the network, say
    /// `sextant bench volume --cluster FILE`, waits for it to exit, and
    /// returns its output. A non-zero exit is not an error here: the caller
    /// reads [`RunOutput::exit_code`]. The container is removed afterwards,
    /// so the name may be reused.
    pub async fn run(&self, spec: NodeSpec) -> Result<RunOutput> {
        let container_name = format!("{}-{}", self.shared.name, spec.name);
        let image = self.image.generic().with_wait_for(WaitFor::exit(
            ExitWaitStrategy::new().with_poll_interval(POLL_INTERVAL),
        ));
        let request = self.request(image, &container_name, &spec);
        let container = match request.start().await {
            Ok(container) => container,
            Err(e) => return Err(start_failed(&container_name, e).await),
        };
        let action = |what: &str| format!("{what} of one-shot container {container_name}");
        let stdout = container
            .stdout_to_vec()
            .await
            .map_err(Error::tc(action("read stdout")))?;
        let stderr = container
            .stderr_to_vec()
            .await
            .map_err(Error::tc(action("read stderr")))?;
        let exit_code = container
            .exit_code()
            .await
            .map_err(Error::tc(action("read the exit code")))?
            .ok_or_else(|| Error::Timeout {
                what: action("the exit code"),
                waited: spec.startup_timeout,
            })?;
        Ok(RunOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    fn request(
        &self,
        image: GenericImage,
        container_name: &str,
        spec: &NodeSpec,
    ) -> testcontainers::ContainerRequest<GenericImage> {
        let mut request = image
            .with_container_name(container_name)
            .with_network(self.shared.name.as_str())
            .with_label(docker::OWNER_LABEL, docker::owner())
            .with_startup_timeout(spec.startup_timeout)
            .with_cmd(spec.args.iter().cloned());
        for (key, value) in &spec.env {
            request = request.with_env_var(key, value);
        }
        for (source, target) in &spec.files {
            let source = match source {
                FileSource::Path(path) => CopyDataSource::File(path.clone()),
                FileSource::Contents(bytes) => CopyDataSource::Data(bytes.clone()),
            };
            request = request.with_copy_to(target, source);
        }
        request
    }
}

/// Wraps a failed start with the container's last log lines, which usually
/// say why (a bad flag, a panic). testcontainers removes the container when
/// the start fails, so the logs may already be gone.
async fn start_failed(container_name: &str, e: testcontainers::TestcontainersError) -> Error {
    let logs = docker::run_output("read logs", &["logs", "--tail", "40", container_name])
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .filter(|logs| !logs.trim().is_empty())
        .map(|logs| format!("; its last log lines:\n{logs}"))
        .unwrap_or_default();
    Error::tc(format!("start container {container_name}{logs}"))(e)
}

/// One running (or stopped, killed, paused, disconnected) container.
/// Dropping it removes the container; its data dir stays until the cluster
/// goes.
#[derive(Debug)]
pub struct Node {
    // Dropped first: the container must be gone before `shared` removes the
    // network.
    container: ContainerAsync<GenericImage>,
    hostname: String,
    data_dir: PathBuf,
    ready_log: Option<String>,
    startup_timeout: Duration,
    shared: Arc<Shared>,
}

impl Node {
    /// The container's name, which other containers on the network resolve.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// `<hostname>:<port>`, the address other containers use.
    pub fn addr(&self, container_port: u16) -> String {
        format!("{}:{container_port}", self.hostname)
    }

    /// The container id.
    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// The host dir mounted as the node's data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The host port a published container port is mapped to. Ask again
    /// after a restart: Docker may have picked another.
    pub async fn host_port(&self, container_port: u16) -> Result<u16> {
        self.container
            .get_host_port_ipv4(container_port.tcp())
            .await
            .map_err(Error::tc(format!(
                "look up the host port of {}",
                self.addr(container_port)
            )))
    }

    /// `127.0.0.1:<host port>`, the address the test process uses.
    pub async fn host_addr(&self, container_port: u16) -> Result<SocketAddr> {
        let port = self.host_port(container_port).await?;
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Stops the node gracefully: `SIGTERM`, then `SIGKILL` after
    /// [`STOP_GRACE_S`]. Returns once the container has stopped.
    pub async fn stop(&self) -> Result<()> {
        self.container
            .stop_with_timeout(Some(STOP_GRACE_S))
            .await
            .map_err(Error::tc(format!("stop {}", self.hostname)))
    }

    /// Kills the node with `SIGKILL`: no flush, no goodbye. Returns once the
    /// container has stopped.
    pub async fn kill(&self) -> Result<()> {
        docker::run(
            &format!("kill {}", self.hostname),
            &["kill", "--signal", "KILL", self.id()],
        )
        .await?;
        let deadline = Instant::now() + KILL_TIMEOUT;
        while self.is_running().await? {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} to stop after SIGKILL", self.hostname),
                    waited: KILL_TIMEOUT,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Ok(())
    }

    /// Starts the stopped or killed node again, with the same arguments and
    /// data dir, and waits until it is ready: until its ready log line (if
    /// any) appears once more than before.
    pub async fn start(&self) -> Result<()> {
        let seen_before = match &self.ready_log {
            Some(message) => self.log_count(message).await?,
            None => 0,
        };
        self.container
            .start()
            .await
            .map_err(Error::tc(format!("start {} again", self.hostname)))?;
        let Some(message) = &self.ready_log else {
            return Ok(());
        };
        let deadline = Instant::now() + self.startup_timeout;
        loop {
            if self.log_count(message).await? > seen_before {
                return Ok(());
            }
            if !self.is_running().await? {
                return Err(Error::Timeout {
                    what: format!(
                        "{} to log {message:?} after restart; it exited instead. Logs:\n{}",
                        self.hostname,
                        self.logs().await?
                    ),
                    waited: self.startup_timeout,
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} to log {message:?} after restart", self.hostname),
                    waited: self.startup_timeout,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Freezes every process of the node (cgroup freezer). The kernel still
    /// completes TCP handshakes to its listening sockets; nothing is answered.
    pub async fn pause(&self) -> Result<()> {
        self.container
            .pause()
            .await
            .map_err(Error::tc(format!("pause {}", self.hostname)))
    }

    /// Thaws a paused node.
    pub async fn unpause(&self) -> Result<()> {
        self.container
            .unpause()
            .await
            .map_err(Error::tc(format!("unpause {}", self.hostname)))
    }

    /// Takes the node off the cluster network: peers can neither resolve nor
    /// reach it, and its published ports stop answering. The process keeps
    /// running.
    pub async fn disconnect(&self) -> Result<()> {
        docker::run(
            &format!("disconnect {} from the network", self.hostname),
            &["network", "disconnect", &self.shared.name, self.id()],
        )
        .await
        .map(|_| ())
    }

    /// Puts a disconnected node back on the network, under the same name
    /// (its IP address may change).
    pub async fn reconnect(&self) -> Result<()> {
        docker::run(
            &format!("reconnect {} to the network", self.hostname),
            &["network", "connect", &self.shared.name, self.id()],
        )
        .await
        .map(|_| ())
    }

    /// Runs `/sextant <args>` inside the running node, say a client probing a
    /// peer from within the network, and returns its output and exit code.
    pub async fn exec(&self, args: impl IntoIterator<Item = impl AsRef<str>>) -> Result<RunOutput> {
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut argv = vec!["exec", self.id(), BINARY_IN_IMAGE];
        argv.extend(args.iter().map(String::as_str));
        let output = docker::run_output(&format!("exec in {}", self.hostname), &argv).await?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let exit_code = match output.status.code() {
            Some(code) => i64::from(code),
            None => {
                return Err(Error::Command {
                    action: format!("exec in {}", self.hostname),
                    command: format!("docker {}", argv.join(" ")),
                    status: output.status.to_string(),
                    stderr,
                })
            }
        };
        Ok(RunOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        })
    }

    /// Everything the node has written so far, across restarts: stdout,
    /// then stderr.
    pub async fn logs(&self) -> Result<String> {
        let action = || format!("read the logs of {}", self.hostname);
        let stdout = self
            .container
            .stdout_to_vec()
            .await
            .map_err(Error::tc(action()))?;
        let stderr = self
            .container
            .stderr_to_vec()
            .await
            .map_err(Error::tc(action()))?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ))
    }

    async fn log_count(&self, message: &str) -> Result<usize> {
        Ok(self.logs().await?.matches(message).count())
    }

    /// Whether the container's process is running (a paused one is).
    pub async fn is_running(&self) -> Result<bool> {
        self.container
            .is_running()
            .await
            .map_err(Error::tc(format!("inspect {}", self.hostname)))
    }

    /// Waits for the node's process to exit by itself and returns its exit
    /// code.
    pub async fn wait_for_exit(&self, timeout: Duration) -> Result<i64> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running().await? {
                if let Some(code) = self.container.exit_code().await.map_err(Error::tc(format!(
                    "read the exit code of {}",
                    self.hostname
                )))? {
                    return Ok(code);
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} to exit", self.hostname),
                    waited: timeout,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}
