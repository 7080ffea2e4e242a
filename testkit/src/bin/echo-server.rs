//! A stand-in for `sextant`, for testing the harness itself.
//!
//! The harness must be testable before (and independently of) the real
//! binary, so this one does the least a node does: it listens, answers, keeps
//! state in its data dir across restarts, and shuts down on `SIGTERM` (as PID
//! 1 in a container nothing else would stop it). The image puts it at
//! `/sextant` like the real one.
//!
//! ```text
//! echo-server serve --listen ADDR [--data DIR]   echo each line back
//! echo-server probe ADDR [--timeout-ms N]        exit 0 if ADDR echoes
//! ```
//!
//! `serve` counts its starts in `DIR/boots` and logs `boot N` and then
//! `listening on ADDR`, which tests wait for.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Default bound on one probe: connect, send, read the echo.
const PROBE_TIMEOUT_DEFAULT_MS: u64 = 2_000;

/// Longest line echoed; a longer one closes the connection.
const LINE_LEN_MAX: usize = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let result = match args.first().map(String::as_str) {
        Some("serve") => runtime.block_on(serve(&args[1..])),
        Some("probe") => runtime.block_on(probe(&args[1..])),
        _ => Err(
            "usage: echo-server serve --listen ADDR [--data DIR] | probe ADDR [--timeout-ms N]"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

async fn serve(args: &[String]) -> Result<(), String> {
    let listen = flag(args, "--listen").ok_or("serve needs --listen ADDR")?;
    if let Some(data) = flag(args, "--data") {
        let boots = count_boot(Path::new(data))
            .map_err(|e| format!("failed to count boot in {data}: {e}"))?;
        println!("boot {boots}");
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("failed to listen on {listen}: {e}"))?;
    println!("listening on {listen}");
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("failed to install the SIGTERM handler: {e}"))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => { tokio::spawn(echo(stream)); }
                Err(e) => eprintln!("failed to accept: {e}"),
            },
            _ = sigterm.recv() => {
                println!("shutting down");
                return Ok(());
            }
        }
    }
}

/// Increments and returns the boot counter in `dir/boots`, durably: write a
/// temp file, fsync, rename.
fn count_boot(dir: &Path) -> std::io::Result<u64> {
    let path = dir.join("boots");
    let boots = match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().parse::<u64>().unwrap_or(0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    } + 1;
    let tmp = dir.join("boots.tmp");
    let file = std::fs::File::create(&tmp)?;
    std::io::Write::write_all(&mut &file, format!("{boots}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(boots)
}

async fn echo(stream: TcpStream) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(n) if n > LINE_LEN_MAX => return,
            Ok(_) => {
                if write.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn probe(args: &[String]) -> Result<(), String> {
    let addr = args.first().ok_or("probe needs ADDR")?;
    let timeout_ms = match flag(args, "--timeout-ms") {
        Some(ms) => ms
            .parse()
            .map_err(|e| format!("bad --timeout-ms {ms}: {e}"))?,
        None => PROBE_TIMEOUT_DEFAULT_MS,
    };
    let attempt = async {
        let stream = TcpStream::connect(addr.as_str())
            .await
            .map_err(|e| format!("failed to connect to {addr}: {e}"))?;
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"probe\n")
            .await
            .map_err(|e| format!("failed to send to {addr}: {e}"))?;
        let mut reply = String::new();
        BufReader::new(read)
            .read_line(&mut reply)
            .await
            .map_err(|e| format!("failed to read from {addr}: {e}"))?;
        if reply == "probe\n" {
            Ok(())
        } else {
            Err(format!("{addr} answered {reply:?}"))
        }
    };
    tokio::time::timeout(Duration::from_millis(timeout_ms), attempt)
        .await
        .map_err(|_| format!("{addr} did not echo within {timeout_ms} ms"))?
}
