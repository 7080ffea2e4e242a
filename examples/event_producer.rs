//! A small event producer for `sextant ingest`: posts generated change
//! events as NDJSON batches, retrying on 429 and 503 after `Retry-After`
//! (safe: the service skips events it already applied), and prints events
//! per second and request latency percentiles. `benches/ingest.sh` uses it
//! as its load generator.
//!
//! ```text
//! cargo run --example event_producer -- --url http://127.0.0.1:8080 \
//!     --table events --events 10000 --batch 100
//! ```
//!
//! `--copy-file F` writes the same events as a PostgreSQL COPY text file
//! (id, payload, position) instead of posting them, for comparison with
//! `COPY … FROM STDIN`.

use std::io::Write as _;
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// Most attempts per request before the producer gives up.
const ATTEMPTS_MAX: u32 = 100;

#[derive(Parser, Debug)]
struct Args {
    /// The ingest service, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Target table.
    #[arg(long, default_value = "events")]
    table: String,
    /// Events in total.
    #[arg(long, default_value_t = 10_000)]
    events: u64,
    /// Events per request.
    #[arg(long, default_value_t = 100)]
    batch: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: u64,
    /// Approximate bytes per event.
    #[arg(long, default_value_t = 500)]
    event_bytes: usize,
    /// Distinct keys (0: every event has its own key).
    #[arg(long, default_value_t = 0)]
    keys: u64,
    /// Send Debezium envelopes instead of plain events.
    #[arg(long)]
    debezium: bool,
    /// Gzip request bodies.
    #[arg(long)]
    gzip: bool,
    /// Bearer token.
    #[arg(long, env = "SEXTANT_INGEST_TOKEN")]
    token: Option<String>,
    /// Write the events as a COPY text file here instead of posting.
    #[arg(long)]
    copy_file: Option<std::path::PathBuf>,
}

/// The row image of event `n`, padded to about `bytes`.
fn row(n: u64, args: &Args) -> serde_json::Value {
    let key = if args.keys == 0 { n } else { n % args.keys };
    let statuses = ["new", "paid", "shipped", "delivered", "returned"];
    let mut row = serde_json::json!({
        "id": format!("ev-{key:012}"),
        "ts_ms": 1_700_000_000_000_u64 + n,
        "customer": format!("cust-{:05}", n.wrapping_mul(7919) % 10_000),
        "status": statuses[(n % 5) as usize],
        "amount": (n % 100_000) as f64 / 100.0,
        "items": [{"sku": format!("sku-{}", n % 977), "qty": 1 + n % 4}],
        "note": "",
    });
    let pad = args.event_bytes.saturating_sub(row.to_string().len());
    row["note"] = "x".repeat(pad).into();
    row
}

fn event(n: u64, args: &Args) -> serde_json::Value {
    let row = row(n, args);
    if args.debezium {
        serde_json::json!({"op": "c", "before": null, "after": row, "source": {"lsn": n + 1}})
    } else {
        row
    }
}

fn write_copy_file(args: &Args, path: &std::path::Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for n in 0..args.events {
        let row = row(n, args);
        let payload = row.to_string().replace('\\', "\\\\");
        writeln!(
            out,
            "{}\t{payload}\t{}",
            row["id"].as_str().unwrap(),
            row["ts_ms"]
        )?;
    }
    out.flush()
}

struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>,
}

async fn connect(authority: &str) -> Result<Conn, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(Conn { sender })
}

/// Posts one body until it is accepted; returns the latency of the
/// successful attempt.
async fn post(
    conn: &mut Option<Conn>,
    authority: &str,
    path: &str,
    args: &Args,
    body: bytes::Bytes,
) -> Result<Duration, String> {
    for _ in 0..ATTEMPTS_MAX {
        if conn.as_ref().is_none_or(|c| c.sender.is_closed()) {
            *conn = Some(
                connect(authority)
                    .await
                    .map_err(|e| format!("connect: {e}"))?,
            );
        }
        let c = conn.as_mut().expect("connected above");
        let mut request = hyper::Request::post(path)
            .header("host", authority)
            .header("content-type", "application/x-ndjson");
        if args.gzip {
            request = request.header("content-encoding", "gzip");
        }
        if let Some(token) = &args.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(body.clone()))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        if c.sender.ready().await.is_err() {
            *conn = None;
            continue;
        }
        let response = match c.sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("request failed ({e}); retrying");
                *conn = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let text = response
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        match status.as_u16() {
            200 => return Ok(started.elapsed()),
            429 | 503 => {
                tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
            }
            other => return Err(format!("HTTP {other}: {text}")),
        }
    }
    Err(format!("gave up after {ATTEMPTS_MAX} attempts"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = std::sync::Arc::new(Args::parse());
    if let Some(path) = &args.copy_file {
        write_copy_file(&args, path)?;
        println!("wrote {} events to {}", args.events, path.display());
        return Ok(());
    }
    let authority = args
        .url
        .strip_prefix("http://")
        .ok_or("--url must start with http://")?
        .trim_end_matches('/')
        .to_owned();
    let path = format!("/v1/tables/{}/events", args.table);
    assert!(
        args.batch > 0 && args.concurrency > 0,
        "--batch and --concurrency must be above 0"
    );
    let requests = args.events.div_ceil(args.batch);

    // Bodies are built before the clock starts.
    let mut bodies = Vec::with_capacity(requests as usize);
    for r in 0..requests {
        let mut body = Vec::new();
        for n in r * args.batch..((r + 1) * args.batch).min(args.events) {
            serde_json::to_writer(&mut body, &event(n, &args))?;
            body.push(b'\n');
        }
        if args.gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&body)?;
            body = gz.finish()?;
        }
        bodies.push(bytes::Bytes::from(body));
    }
    let bodies = std::sync::Arc::new(bodies);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let (args, bodies, authority, path) = (
            args.clone(),
            bodies.clone(),
            authority.clone(),
            path.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = None;
            let mut latencies = Vec::new();
            let mut r = worker;
            while r < bodies.len() as u64 {
                let body = bodies[r as usize].clone();
                latencies.push(post(&mut conn, &authority, &path, &args, body).await?);
                r += args.concurrency;
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "events={} batch={} concurrency={} seconds={:.3} events_per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
        args.events,
        args.batch,
        args.concurrency,
        elapsed.as_secs_f64(),
        args.events as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
    Ok(())
}
