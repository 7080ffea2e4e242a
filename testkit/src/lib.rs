//! Container test harness: runs the `sextant` binary as nodes on a private
//! Docker network and injects faults into them.
//!
//! # Why it exists
//!
//! The simulation tests prove the quorum protocol in virtual time; they cannot
//! show that the real binary survives a real `SIGKILL`, a frozen process or a
//! cut network link. Container tests do that (DESIGN.md §7). Every such test
//! needs the same few things, so they live here once: an image built from the
//! binary under test, a network of its own, nodes with data that outlives a
//! restart, the fault operations, and cleanup that also runs when a test
//! panics.
//!
//! # What it assumes
//!
//! * A Docker engine on this host, reachable the usual way (`DOCKER_HOST` or
//!   `/var/run/docker.sock`), and the `docker` CLI on `PATH`. If either is
//!   missing every entry point returns [`Error::DockerUnavailable`]: container
//!   tests **fail, they never skip**, because a skipped fault test looks like a
//!   passing one.
//! * No image registry. Nothing is pulled: [`SextantImage::build`] makes a
//!   `FROM scratch` image holding only the binary, the shared libraries that
//!   `ldd` lists for it (at the same absolute paths, the dynamic loader
//!   included) and an empty `/tmp`. The entry point is `/sextant`, whatever
//!   the binary was called on the host.
//! * The engine runs on this host, so a host temp dir can be bind-mounted as a
//!   node's data dir, and the tests run as a user who may delete what the
//!   containers (running as root) wrote there. Both hold on the dev machines
//!   and in CI.
//! * testcontainers 0.25 (bollard 0.19) works with the engine here, Docker
//!   20.10 (API 1.41), only because bollard sends unversioned request paths
//!   and the engine then uses its own version; the CLI negotiates. Check this
//!   before moving testcontainers to a newer version.
//! * Tests are `async` on a tokio runtime, preferably
//!   `#[tokio::test(flavor = "multi_thread")]`: dropping a [`Node`] removes its
//!   container through testcontainers, which needs a runtime to do it.
//!
//! # How the pieces fit
//!
//! * [`SextantImage`] builds the image once per binary content (the tag is a
//!   hash of the binary and its libraries, `sextant-test:<hash>`), through
//!   testcontainers' [`GenericBuildableImage`](testcontainers::GenericBuildableImage).
//! * [`Cluster`] owns one user-defined network with a unique name and a temp
//!   dir holding every node's data. Containers on the network reach each other
//!   by container name ([`Node::hostname`], [`Node::addr`]).
//! * [`Cluster::start`] runs a long-lived [`Node`] from a [`NodeSpec`]; its
//!   exposed ports are published on random host ports, and
//!   [`Node::host_addr`] gives `127.0.0.1:<port>` for the test process.
//!   [`Cluster::run`] runs a one-shot command (say `sextant bench volume`) to
//!   completion and returns its output.
//! * Faults: [`Node::stop`] / [`Node::start`] (graceful), [`Node::kill`]
//!   (`SIGKILL`), [`Node::pause`] / [`Node::unpause`] (cgroup freezer: the
//!   kernel still completes TCP handshakes, but nothing is answered),
//!   [`Node::disconnect`] / [`Node::reconnect`] (the container leaves the
//!   network: peers and the published ports both lose it). Data under the
//!   node's data dir survives all of them.
//!
//! Container creation, image builds, logs and pause go through testcontainers;
//! what its 0.25 API lacks (kill, network create/connect/disconnect, exec with
//! its exit code) goes through the `docker` CLI, see [`docker`].
//!
//! # Cleanup
//!
//! Dropping a [`Node`] removes its container; dropping the last of a
//! [`Cluster`] and its nodes removes the network and the data dir. Drops run
//! while a panicking test unwinds, so a failed assertion leaves nothing
//! behind. A process that dies without unwinding (`SIGKILL`, abort) leaves its
//! containers; every container and network carries a `sextant.testkit.owner`
//! label, and the first [`Cluster::new`] of a later process removes those
//! (and the data dirs) whose owning process on this host is gone. Set
//! `TESTCONTAINERS_COMMAND=keep` to keep containers, network and data for a
//! post-mortem; that also stops the sweep, so clean up by hand afterwards
//! (`docker rm -f $(docker ps -aq --filter label=sextant.testkit.owner)`, then
//! the same for `docker network`).
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//!
//! use sextant_testkit::{Cluster, NodeSpec, SextantImage};
//!
//! # async fn example() -> sextant_testkit::Result<()> {
//! // In the root package's tests: Path::new(env!("CARGO_BIN_EXE_sextant")).
//! let image = SextantImage::build(Path::new("target/debug/sextant")).await?;
//! let cluster = Cluster::new(&image).await?;
//! let s1 = cluster
//!     .start(
//!         NodeSpec::new("s1")
//!             .args(["storage", "--listen", "0.0.0.0:7100", "--az", "az-a"])
//!             .args(["--data", "/data", "--node-id", "1"])
//!             .port(7100)
//!             .wait_for_log("listening"),
//!     )
//!     .await?;
//! let from_host = s1.host_addr(7100).await?; // 127.0.0.1:<random>
//! let from_peers = s1.addr(7100); // "<container name>:7100"
//! s1.kill().await?;
//! s1.start().await?; // same container, same /data
//! # let _ = (from_host, from_peers);
//! # Ok(())
//! # }
//! ```

pub mod cluster;
pub mod docker;
mod error;
pub mod image;
pub mod postgres;

pub use cluster::{Cluster, Node, NodeSpec, RunOutput};
pub use error::{Error, Result};
pub use image::SextantImage;
