//! A throwaway real PostgreSQL server for side-by-side tests.
//!
//! The proxy, the ingest service and the exporter speak only the Postgres
//! protocol, so their tests run them against real PostgreSQL (Debian's
//! `postgresql` package) as well as against Sextant. [`RealPostgres::start`]
//! makes a fresh cluster in a temp dir (`initdb`), starts `postgres` on a
//! free loopback port with SCRAM password authentication, and creates the
//! same database and superuser `sextant dev` has (`sextant`/`sextant`), so a
//! test can point one connection string at either server. Dropping it stops
//! the server (fast shutdown) and removes its files.
//!
//! PostgreSQL refuses to run as root; when the tests run as root (CI does),
//! `initdb` and `postgres` run as the `postgres` user through `runuser`.
//! A missing server is an error naming the package to install: tests that
//! need it fail, they never skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts PostgreSQL 15's server programs; `PG_BIN` overrides.
const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The superuser, password and database created in the server, the same as
/// `sextant dev`'s defaults.
pub const USER: &str = "sextant";
/// Password of [`USER`].
pub const PASSWORD: &str = "sextant";
/// Database owned by [`USER`].
pub const DATABASE: &str = "sextant";

/// Why the server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server programs are not installed.
    #[error(
        "PostgreSQL's server programs are not in {0} (install Debian's `postgresql` package, \
         or set PG_BIN): tests that compare with PostgreSQL fail, they never skip"
    )]
    NotInstalled(PathBuf),
    /// A step failed; the message says which and what it printed.
    #[error("failed to {action}: {detail}")]
    Step {
        /// What was being done.
        action: String,
        /// What went wrong (exit status and output, or the I/O error).
        detail: String,
    },
}

fn step(action: impl Into<String>, detail: impl std::fmt::Display) -> PgError {
    PgError::Step {
        action: action.into(),
        detail: detail.to_string(),
    }
}

/// A running PostgreSQL server on `127.0.0.1:port`.
pub struct RealPostgres {
    /// The port it listens on (loopback only).
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `pg_ctl`, which stops the server by its pid file (a signal to our
    /// child would reach `runuser`, which does not pass it on).
    pg_ctl: PathBuf,
    as_root: bool,
}

impl RealPostgres {
    /// initdb, start, wait until it accepts connections, create the
    /// `sextant` superuser and database. Takes a few seconds.
    pub fn start() -> Result<RealPostgres, PgError> {
        let bin = std::env::var_os("PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PG_BIN));
        if !bin.join("postgres").exists() {
            return Err(PgError::NotInstalled(bin));
        }
        let dir = tempfile::Builder::new()
            .prefix("sextant-realpg-")
            .tempdir()
            .map_err(|e| step("make a temp dir", e))?;
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| step("write the password file", e))?;
        let as_root = is_root();
        if as_root {
            chown_postgres(dir.path())?;
            chown_postgres(&pwfile)?;
        }
        let out = pg_command(&bin.join("initdb"), as_root)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-E",
                "UTF8",
                "--locale=C",
                "-A",
                "scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(|e| step("run initdb", e))?;
        if !out.status.success() {
            return Err(step(
                "initdb",
                format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
            ));
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("postgres.log"))
            .map_err(|e| step("create the server log", e))?;
        if as_root {
            chown_postgres(&dir.path().join("postgres.log"))?;
        }
        let child = pg_command(&bin.join("postgres"), as_root)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=on", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| step("start postgres", e))?;
        let mut server = RealPostgres {
            port,
            child: Some(child),
            dir,
            pg_ctl: bin.join("pg_ctl"),
            as_root,
        };
        server.wait_ready()?;
        // initdb made the superuser; the database of the same name is ours.
        let out = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", USER])
            .args(["-d", "postgres", "-c", "CREATE DATABASE sextant"])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .map_err(|e| step("run psql (install postgresql-client)", e))?;
        if !out.status.success() {
            return Err(step(
                "create database sextant",
                String::from_utf8_lossy(&out.stderr),
            ));
        }
        Ok(server)
    }

    /// `postgres://sextant:sextant@127.0.0.1:PORT/sextant`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> Result<(), PgError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(step(
                        "start postgres",
                        format!("it exited with {status}; log:\n{}", self.log()),
                    ));
                }
            }
            let ok = Command::new("psql")
                .args(["-X", "-q", "-At", "-h", "127.0.0.1"])
                .args(["-p", &self.port.to_string(), "-U", USER, "-d", "postgres"])
                .args(["-c", "SELECT 1"])
                .env("PGPASSWORD", PASSWORD)
                .env("PGCONNECT_TIMEOUT", "2")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(step(
                    "wait for postgres",
                    format!("not ready after 60 s; log:\n{}", self.log()),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RealPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fast shutdown: roll back open transactions, stop at once.
            let _ = pg_command(&self.pg_ctl, self.as_root)
                .arg("stop")
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "fast", "-w", "-t", "20"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_postgres(path: &Path) -> Result<(), PgError> {
    let status = Command::new("chown")
        .arg("postgres")
        .arg(path)
        .status()
        .map_err(|e| step("run chown", e))?;
    if !status.success() {
        return Err(step(
            format!("chown postgres {}", path.display()),
            format!("{status} (is there a `postgres` user? install Debian's `postgresql`)"),
        ));
    }
    Ok(())
}

fn pg_command(program: &Path, as_root: bool) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, PgError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| step("find a free port", e))
}
