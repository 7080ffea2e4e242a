//! The `docker` command line, for what testcontainers 0.25 does not offer.
//!
//! testcontainers covers image builds and the container lifecycle, but has no
//! `kill`, no network create/connect/disconnect, and its exec has no cheap way
//! to get an exit code together with both output streams. The CLI has all of
//! them, negotiates the API version with whatever engine is installed, and its
//! failures read well in a test log, so those operations shell out to it.
//!
//! This module also owns the two process-wide chores: probing once that an
//! engine is reachable ([`ensure_available`]), and removing what earlier test
//! processes left behind when they died without unwinding (the owner label).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::{Error, Result};

/// Label on every container and network the harness creates. Its value names
/// the creating process as `<hostname>:<pid>:<start time>`, so a later process
/// can tell whether the owner is still alive (a bare pid could be reused).
pub const OWNER_LABEL: &str = "sextant.testkit.owner";

/// Label on every image the harness builds, so old ones can be pruned.
pub const IMAGE_LABEL: &str = "sextant.testkit";

/// Upper bound for one ordinary CLI call. Image builds are not bounded by it.
/// Creating a container or removing one with a stuck process can take several
/// seconds on a loaded machine; a minute means the engine is wedged.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Images and build cache the harness made that no container uses are pruned
/// once they are this old. Every binary change makes a new image the size of
/// the binary, and the dev machines have seen their disk fill up.
pub const PRUNE_AFTER: &str = "24h";

/// Runs `docker <args>` and returns its stdout, trimmed. `action` says what
/// the harness was doing, for the error.
pub async fn run(action: &str, args: &[&str]) -> Result<String> {
    let output = run_output(action, args).await?;
    check(action, args, output)
}

/// Runs `docker <args>` and returns its raw output, whatever its exit status.
pub async fn run_output(action: &str, args: &[&str]) -> Result<Output> {
    let mut command = tokio::process::Command::new("docker");
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match tokio::time::timeout(CLI_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::DockerUnavailable {
            reason: "the `docker` CLI is not on PATH".to_owned(),
        }),
        Ok(Err(e)) => Err(Error::io(format!("{action}: run `{}`", command_line(args)))(e)),
        Err(_) => Err(Error::Timeout {
            what: format!("`{}` to {action}", command_line(args)),
            waited: CLI_TIMEOUT,
        }),
    }
}

/// Runs `docker <args>` without a runtime, for `Drop` impls. Best effort:
/// failures are printed, since a drop cannot return them and a leftover
/// resource should be visible in the test log.
pub fn run_blocking(action: &str, args: &[&str]) {
    let output = std::process::Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "sextant-testkit: failed to {action}: `{}` {}: {}",
            command_line(args),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) => eprintln!(
            "sextant-testkit: failed to {action}: run `{}`: {e}",
            command_line(args)
        ),
    }
}

fn check(action: &str, args: &[&str], output: Output) -> Result<String> {
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if looks_unreachable(&stderr) {
        return Err(Error::DockerUnavailable {
            reason: format!("`{}` could not reach it: {stderr}", command_line(args)),
        });
    }
    Err(Error::Command {
        action: action.to_owned(),
        command: command_line(args),
        status: output.status.to_string(),
        stderr,
    })
}

fn looks_unreachable(stderr: &str) -> bool {
    stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("Is the docker daemon running")
        || stderr.contains("permission denied while trying to connect")
}

fn command_line(args: &[&str]) -> String {
    let mut line = String::from("docker");
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

/// Checks, once per process, that the `docker` CLI is installed and reaches
/// an engine. Every other entry point calls this first, so a machine without
/// Docker fails with [`Error::DockerUnavailable`] and a sentence saying so,
/// not with a connection error deep inside a test.
pub async fn ensure_available() -> Result<()> {
    static PROBE: OnceCell<Result<String, String>> = OnceCell::const_new();
    let probe = PROBE
        .get_or_init(|| async {
            let args = ["version", "--format", "{{.Server.Version}}"];
            match run_output("probe the Docker engine", &args).await {
                Ok(output) if output.status.success() => {
                    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
                }
                Ok(output) => Err(format!(
                    "`docker version` could not reach it: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(Error::DockerUnavailable { reason }) => Err(reason),
                Err(e) => Err(format!("probing it failed: {e}")),
            }
        })
        .await;
    match probe {
        Ok(_version) => Ok(()),
        Err(reason) => Err(Error::DockerUnavailable {
            reason: reason.clone(),
        }),
    }
}

/// The value of [`OWNER_LABEL`] for this process.
pub fn owner() -> &'static str {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        format!(
            "{}:{pid}:{}",
            hostname(),
            process_start_time(pid).unwrap_or(0)
        )
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The start time of a process in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), or `None` if there is no such process.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces, so
    // count fields from the last ')'; field 3 is the first after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Whether the process an owner label names is gone. Labels from another
/// host (another pid namespace sharing this engine) are never judged dead:
/// their owners cannot be seen from here.
fn owner_is_dead(label: &str) -> bool {
    let mut parts = label.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    process_start_time(pid) != Some(start)
}

/// Removes, once per process, the containers, networks and data dirs whose
/// owning process on this host has died without cleaning up.
pub async fn sweep_stale_once() -> Result<()> {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    if keep_resources() {
        // Kept resources are there to be looked at, including those of
        // earlier runs.
        return Ok(());
    }
    SWEPT
        .get_or_try_init(|| async {
            let filter = format!("label={OWNER_LABEL}");
            let format = format!("{{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}");
            let containers = run(
                "list leftover test containers",
                &["ps", "--all", "--filter", &filter, "--format", &format],
            )
            .await?;
            for id in dead_owned(&containers) {
                run(
                    "remove a leftover test container",
                    &["rm", "--force", "--volumes", id],
                )
                .await?;
            }
            let networks = run(
                "list leftover test networks",
                &["network", "ls", "--filter", &filter, "--format", &format],
            )
            .await?;
            for id in dead_owned(&networks) {
                run("remove a leftover test network", &["network", "rm", id]).await?;
            }
            remove_dead_data_dirs();
            Ok(())
        })
        .await
        .map(|_| ())
}

/// Prefix of cluster names, and so of their data dirs in the temp dir:
/// `sxt-<pid>-...`.
pub const CLUSTER_PREFIX: &str = "sxt-";

/// Removes cluster data dirs in the temp dir whose creating process no longer
/// exists. Only the pid is in the name, so a dir whose pid was reused is kept
/// until that process goes too; that errs on the side of keeping data.
fn remove_dead_data_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(CLUSTER_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if process_start_time(pid).is_none() {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                eprintln!(
                    "sextant-testkit: failed to remove leftover data dir {}: {e}",
                    entry.path().display()
                );
            }
        }
    }
}

fn dead_owned(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, owner)| owner_is_dead(owner))
        .map(|(id, _)| id)
        .collect()
}

/// Whether testcontainers was told to keep containers (`TESTCONTAINERS_COMMAND=keep`);
/// the harness then keeps networks and data dirs too.
pub fn keep_resources() -> bool {
    std::env::var("TESTCONTAINERS_COMMAND").is_ok_and(|v| v == "keep")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive() {
        assert!(!owner_is_dead(owner()), "owner {} judged dead", owner());
    }

    #[test]
    fn owner_with_wrong_start_time_is_dead() {
        let pid = std::process::id();
        let start = process_start_time(pid).expect("own /proc/self/stat is readable");
        let label = format!("{}:{pid}:{}", hostname(), start + 1);
        assert!(owner_is_dead(&label), "{label} judged alive");
    }

    #[test]
    fn foreign_or_garbled_owners_are_left_alone() {
        assert!(!owner_is_dead("some-other-host:1:1"));
        assert!(!owner_is_dead("garbage"));
        assert!(!owner_is_dead(&format!("{}:notapid:1", hostname())));
    }
}
