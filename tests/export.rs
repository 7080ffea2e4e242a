//! `sextant export` as a user runs it, against real PostgreSQL and against
//! the reader endpoint of `sextant dev`: the same scenarios, one server of
//! each kind.
//!
//! * windows `[start, end)`: a row at exactly `end` is in the next window,
//!   empty windows still get a file, CSV and NDJSON parsed back equal the
//!   table, gzip holds the same bytes;
//! * catch-up after downtime exports the missed windows in order, a rerun
//!   adds nothing, and a fresh export gives byte-identical files;
//! * a run killed in the middle of a file leaves no file under its final
//!   name and no checkpoint for it; the next run completes it;
//! * bad input (unknown table or column, unreachable endpoint, a file that
//!   cannot grow) fails with a clear message and a non-zero exit, leaving
//!   the checkpoint as it was and no partial file;
//! * as a scheduler it exports windows as they close and serves /metrics,
//!   and SIGTERM stops it.
//!
//! Needs PostgreSQL 15's server (Debian's `postgresql`) and `psql`.

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sextant_testkit::postgres::RealPostgres;
use support::{free_port, free_port_range, sextant_bin};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A server to export from: where to write the test's rows, and where the
/// exporter reads (the same for PostgreSQL, the reader for Sextant).
struct Source {
    name: &'static str,
    writer_url: String,
    reader_url: String,
}

/// A `sextant dev` process, stopped on drop.
struct Dev {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev() -> (Dev, Source) {
    let dir = tempfile::tempdir().unwrap();
    let (port, reader_port) = (free_port(), free_port());
    let log = dir.path().join("dev.log");
    let child = Command::new(sextant_bin())
        .arg("dev")
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--port", &port.to_string()])
        .args(["--reader-port", &reader_port.to_string()])
        .args(["--http-port", &free_port().to_string()])
        .args(["--storage-port", &free_port_range().to_string()])
        .env("SEXTANT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn sextant dev");
    let mut dev = Dev {
        child,
        log,
        _dir: dir,
    };
    for p in [port, reader_port] {
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            if let Some(status) = dev.child.try_wait().unwrap() {
                panic!("sextant dev exited with {status}:\n{}", dev.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "sextant dev never listened on {p}:\n{}",
                dev.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let url = |p: u16| format!("postgres://sextant:sextant@127.0.0.1:{p}/sextant");
    let source = Source {
        name: "sextant reader",
        writer_url: url(port),
        reader_url: url(reader_port),
    };
    (dev, source)
}

impl Dev {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    client
}

/// Waits until the exporter's server sees `n` rows in `table` (a reader
/// trails its writer; the scenarios export data from the past, whose
/// windows closed long ago).
async fn wait_rows(src: &Source, table: &str, n: i64) {
    let reader = connect(&src.reader_url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got: i64 = match reader
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
        {
            Ok(r) => r.get(0),
            Err(_) => -1, // the table may not have reached the reader yet
        };
        if got == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: the reader has {got} rows of {table}, not {n}",
            src.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn export_cmd(url: &str, table: &str, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(sextant_bin());
    c.args(["export", "--database-url", url, "--table", table]);
    if !extra.contains(&"--time-column") {
        c.args(["--time-column", "ts"]);
    }
    c.arg("--out")
        .arg(out)
        .args(extra)
        .env("SEXTANT_LOG", "info");
    c
}

/// Runs `sextant export --once` to completion.
fn export(url: &str, table: &str, out: &Path, extra: &[&str]) -> Output {
    export_cmd(url, table, out, extra)
        .arg("--once")
        .output()
        .expect("run sextant export")
}

fn export_ok(src: &Source, table: &str, out: &Path, extra: &[&str]) -> String {
    let o = export(&src.reader_url, table, out, extra);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{}: export failed:\n{stderr}", src.name);
    stderr
}

fn export_fails(url: &str, table: &str, out: &Path, extra: &[&str], wanted: &str) {
    let o = export(url, table, out, extra);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "export succeeded:\n{stderr}");
    assert!(stderr.contains(wanted), "error lacks {wanted:?}:\n{stderr}");
}

/// The directory's entries, sorted (dot-files included, the lock file not).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    names.sort();
    names
}

fn window_files(dir: &Path, table: &str) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(&format!("{table}_")))
        .collect()
}

fn checkpoint_end(dir: &Path, table: &str) -> Option<String> {
    let text = std::fs::read(dir.join(format!("{table}.checkpoint.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    Some(v["last_window_end"].as_str().unwrap().to_owned())
}

/// `TABLE_2024010TH0000Z_...` for hour `h` of 2024-01-01.
fn hour_file(table: &str, h: u32, ext: &str) -> String {
    format!(
        "{table}_20240101T{h:02}0000Z_20240101T{:02}0000Z.{ext}",
        h + 1
    )
}

/// Parses CSV as PostgreSQL writes it: an unquoted empty field is NULL, a
/// quoted one is a string.
fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let (mut quoted, mut in_quotes) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => {
                in_quotes = !in_quotes;
                quoted = true;
            }
            ',' if !in_quotes => {
                row.push((quoted || !field.is_empty()).then(|| std::mem::take(&mut field)));
                quoted = false;
            }
            '\n' if !in_quotes => {
                row.push((quoted || !field.is_empty()).then(|| std::mem::take(&mut field)));
                quoted = false;
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    assert!(
        row.is_empty() && field.is_empty(),
        "CSV does not end a line"
    );
    rows
}

/// The table's rows in `[start, end)` as text, with the column names first.
async fn table_text(c: &Client, table: &str, start: &str, end: &str) -> Vec<Vec<Option<String>>> {
    let q = format!(
        "SELECT * FROM {table} WHERE ts >= '{start}'::timestamptz AND ts < '{end}'::timestamptz \
         ORDER BY ts, id"
    );
    let mut out = Vec::new();
    for m in c.simple_query(&q).await.unwrap() {
        match m {
            SimpleQueryMessage::RowDescription(cols) if out.is_empty() => {
                out.push(cols.iter().map(|c| Some(c.name().to_owned())).collect())
            }
            SimpleQueryMessage::Row(r) => {
                out.push((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => {}
        }
    }
    out
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Rows on both sides of each boundary, an empty window, and values that
/// need quoting or escaping; CSV, NDJSON and gzip compared with the table.
async fn windows_and_formats(src: &Source) {
    let w = connect(&src.writer_url).await;
    w.batch_execute(
        "CREATE TABLE ev (id int8 PRIMARY KEY, ts timestamptz NOT NULL, name text, \
           payload jsonb, amount numeric, tags text[]);
         INSERT INTO ev VALUES
           (1, '2024-01-01 00:00:00+00', 'start', '{\"k\": \"v\", \"n\": [1, 2]}', 1.50, '{a,b}'),
           (2, '2024-01-01 00:59:59.999999+00', E'comma, \"quote\"\\nnewline \\\\', NULL, NULL, NULL),
           (3, '2024-01-01 01:00:00+00', '', '\"s\"', -3, '{}'),
           (4, '2024-01-01 03:00:00.5+00', NULL, '{\"deep\": {\"x\": [true, null]}}', 0, '{\"x y\"}');",
    )
    .await
    .unwrap();
    wait_rows(src, "ev", 4).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("csv");
    let range = [
        "--since",
        "2024-01-01T00:00:00Z",
        "--until",
        "2024-01-01T04:00:00Z",
    ];
    export_ok(src, "ev", &csv, &range);
    let files: Vec<String> = (0..4).map(|h| hour_file("ev", h, "csv")).collect();
    let mut expect_listing = files.clone();
    expect_listing.push("ev.checkpoint.json".into());
    expect_listing.sort();
    assert_eq!(listing(&csv), expect_listing, "{}", src.name);
    assert_eq!(
        checkpoint_end(&csv, "ev").as_deref(),
        Some("2024-01-01T04:00:00Z")
    );
    let ids_per_window: [&[&str]; 4] = [&["1", "2"], &["3"], &[], &["4"]];
    for (h, file) in files.iter().enumerate() {
        let text = std::fs::read_to_string(csv.join(file)).unwrap();
        let parsed = parse_csv(&text);
        let start = format!("2024-01-01 {h:02}:00:00+00");
        let end = format!("2024-01-01 {:02}:00:00+00", h + 1);
        let want = table_text(&w, "ev", &start, &end).await;
        assert_eq!(parsed[0], want[0], "{}: header of {file}", src.name);
        assert_eq!(parsed, want, "{}: {file}", src.name);
        let ids: Vec<&str> = parsed[1..]
            .iter()
            .map(|r| r[0].as_deref().unwrap())
            .collect();
        assert_eq!(ids, ids_per_window[h], "{}: rows of {file}", src.name);
    }
    // The empty string and NULL stay apart, and a quoted newline is data.
    let first = parse_csv(&std::fs::read_to_string(csv.join(&files[0])).unwrap());
    assert_eq!(first[2][2].as_deref(), Some("comma, \"quote\"\nnewline \\"));
    assert_eq!(first[2][3], None);

    // gzip: the same bytes, compressed.
    let gz = dir.path().join("gz");
    export_ok(
        src,
        "ev",
        &gz,
        &[&range[..], &["--compress", "gzip"]].concat(),
    );
    for f in &files {
        assert_eq!(
            gunzip(&gz.join(format!("{f}.gz"))),
            std::fs::read(csv.join(f)).unwrap(),
            "{}: {f}.gz",
            src.name
        );
    }

    // NDJSON: one object per row, keys in column order, jsonb embedded.
    let nd = dir.path().join("nd");
    export_ok(
        src,
        "ev",
        &nd,
        &[&range[..], &["--format", "ndjson"]].concat(),
    );
    let all: Vec<serde_json::Value> = (0..4)
        .flat_map(|h| {
            let text = std::fs::read_to_string(nd.join(hour_file("ev", h, "ndjson"))).unwrap();
            text.lines()
                .map(|l| {
                    assert!(l.starts_with("{\"id\" : "), "{}: key order: {l}", src.name);
                    serde_json::from_str(l).unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let want = serde_json::json!([
        {"id": 1, "ts": "2024-01-01T00:00:00+00:00", "name": "start",
         "payload": {"k": "v", "n": [1, 2]}, "amount": 1.5, "tags": ["a", "b"]},
        {"id": 2, "ts": "2024-01-01T00:59:59.999999+00:00", "name": "comma, \"quote\"\nnewline \\",
         "payload": null, "amount": null, "tags": null},
        {"id": 3, "ts": "2024-01-01T01:00:00+00:00", "name": "", "payload": "s", "amount": -3,
         "tags": []},
        {"id": 4, "ts": "2024-01-01T03:00:00.5+00:00", "name": null,
         "payload": {"deep": {"x": [true, null]}}, "amount": 0, "tags": ["x y"]},
    ]);
    assert_eq!(serde_json::Value::Array(all), want, "{}: NDJSON", src.name);
    assert_eq!(
        std::fs::read(nd.join(hour_file("ev", 2, "ndjson"))).unwrap(),
        b"",
        "{}: an empty window is an empty file",
        src.name
    );
}

/// Catch-up after downtime, reruns that add nothing, and byte-identical
/// files from a fresh export.
async fn catch_up_and_reruns(src: &Source) {
    let w = connect(&src.writer_url).await;
    w.batch_execute(
        "CREATE TABLE cu (id int8 PRIMARY KEY, ts timestamptz NOT NULL, v jsonb);
         INSERT INTO cu VALUES (1, '2024-01-01 00:10:00+00', '{\"a\": 1}'),
                               (2, '2024-01-01 01:20:00+00', '[1, \"two\"]');",
    )
    .await
    .unwrap();
    wait_rows(src, "cu", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    let opts = ["--format", "ndjson", "--compress", "gzip"];
    let since = ["--since", "2024-01-01T00:00:00Z"];
    let until = |h: u32| format!("2024-01-01T{h:02}:00:00Z");
    export_ok(
        src,
        "cu",
        &out,
        &[&opts[..], &since, &["--until", &until(2)]].concat(),
    );
    assert_eq!(window_files(&out, "cu").len(), 2);
    assert_eq!(checkpoint_end(&out, "cu"), Some(until(2)));
    let before: Vec<(String, Vec<u8>)> = window_files(&out, "cu")
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(out.join(&f)).unwrap()))
        .collect();

    // Down for a while: rows arrive for later hours.
    w.batch_execute(
        "INSERT INTO cu VALUES (3, '2024-01-01 02:00:00+00', NULL),
                               (4, '2024-01-01 04:59:59+00', '{\"z\": [null]}');",
    )
    .await
    .unwrap();
    wait_rows(src, "cu", 4).await;
    let log = export_ok(
        src,
        "cu",
        &out,
        &[&opts[..], &["--until", &until(5)]].concat(),
    );
    let exported: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("exported window"))
        .collect();
    assert_eq!(exported.len(), 3, "{}: {log}", src.name);
    for (line, h) in exported.iter().zip(2..) {
        assert!(
            line.contains(&format!("[{}, {})", until(h), until(h + 1))),
            "{}: windows out of order:\n{log}",
            src.name
        );
    }
    assert_eq!(window_files(&out, "cu").len(), 5);
    assert_eq!(checkpoint_end(&out, "cu"), Some(until(5)));
    for (f, bytes) in &before {
        assert_eq!(&std::fs::read(out.join(f)).unwrap(), bytes, "{f} changed");
    }

    // Again: nothing new, nothing rewritten.
    let snapshot = |d: &Path| -> Vec<(String, Vec<u8>, SystemTime)> {
        listing(d)
            .into_iter()
            .map(|f| {
                let p = d.join(&f);
                let m = std::fs::metadata(&p).unwrap().modified().unwrap();
                (f, std::fs::read(p).unwrap(), m)
            })
            .collect()
    };
    let s1 = snapshot(&out);
    let log = export_ok(
        src,
        "cu",
        &out,
        &[&opts[..], &["--until", &until(5)]].concat(),
    );
    assert!(!log.contains("exported window"), "{}: {log}", src.name);
    assert_eq!(snapshot(&out), s1, "{}: a rerun changed files", src.name);

    // A fresh export of the same windows gives the same bytes.
    let fresh = dir.path().join("b");
    export_ok(
        src,
        "cu",
        &fresh,
        &[&opts[..], &since, &["--until", &until(5)]].concat(),
    );
    assert_eq!(listing(&fresh), listing(&out));
    for f in window_files(&out, "cu") {
        assert_eq!(
            std::fs::read(fresh.join(&f)).unwrap(),
            std::fs::read(out.join(&f)).unwrap(),
            "{}: {f} differs between runs",
            src.name
        );
    }
}

/// A run killed while a file is being written: nothing under the final
/// name, the checkpoint not advanced; the next run completes the window.
async fn killed_mid_file(src: &Source) {
    let rows = 5_000;
    let w = connect(&src.writer_url).await;
    w.batch_execute(&format!(
        "CREATE TABLE big (id int8 PRIMARY KEY, ts timestamptz NOT NULL, v text);
         INSERT INTO big SELECT g, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 millisecond',
                                'value ' || g FROM generate_series(1, {rows}) g;
         INSERT INTO big VALUES (0, '2024-01-01 01:30:00+00', 'next hour');"
    ))
    .await
    .unwrap();
    wait_rows(src, "big", rows + 1).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let range = [
        "--since",
        "2024-01-01T00:00:00Z",
        "--until",
        "2024-01-01T02:00:00Z",
    ];
    // A progress line per COPY chunk. Once the test stops reading them the
    // pipe fills and the exporter blocks inside the first window's file,
    // so the kill lands there whatever the machine's speed.
    let mut child = export_cmd(&src.reader_url, "big", &out, &range)
        .args(["--once", "--progress-every", "0s"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "{}: no progress line before exit:\n{seen}",
            src.name
        );
        seen += &line;
        if line.contains("rows/s") {
            break;
        }
    }
    let temp = out.join(format!(".{}.tmp", hour_file("big", 0, "csv")));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !temp.exists() {
        assert!(
            Instant::now() < deadline,
            "{}: nothing reached {temp:?}",
            src.name
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        listing(&out),
        vec![format!(".{}.tmp", hour_file("big", 0, "csv"))],
        "{}: after the kill only the temporary file may exist",
        src.name
    );

    export_ok(src, "big", &out, &range);
    let files = vec![hour_file("big", 0, "csv"), hour_file("big", 1, "csv")];
    assert_eq!(
        listing(&out),
        [vec!["big.checkpoint.json".to_string()], files.clone()].concat(),
        "{}",
        src.name
    );
    let first = std::fs::read_to_string(out.join(&files[0])).unwrap();
    assert_eq!(first.lines().count(), rows as usize + 1, "{}", src.name);
    let reference = dir.path().join("reference");
    export_ok(src, "big", &reference, &range);
    for f in &files {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(reference.join(f)).unwrap(),
            "{}: {f}",
            src.name
        );
    }
}

/// Clear errors, non-zero exits, the checkpoint untouched and no partial
/// file, including when a file cannot grow mid-window.
async fn bad_input(src: &Source) {
    let w = connect(&src.writer_url).await;
    w.batch_execute(
        "CREATE TABLE fd (id int8 PRIMARY KEY, ts timestamptz NOT NULL, v text);
         INSERT INTO fd VALUES (0, '2024-01-01 00:30:00+00', 'small');
         INSERT INTO fd SELECT g, '2024-01-01 01:00:00+00'::timestamptz + g * interval '1 second',
                               repeat('x', 100) FROM generate_series(1, 200) g;",
    )
    .await
    .unwrap();
    wait_rows(src, "fd", 201).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let range = [
        "--since",
        "2024-01-01T00:00:00Z",
        "--until",
        "2024-01-01T02:00:00Z",
    ];
    let url = &src.reader_url;

    export_fails(url, "nosuch", &out, &range, "table nosuch does not exist");
    export_fails(
        url,
        "fd",
        &out,
        &[&range[..], &["--time-column", "nope"]].concat(),
        "column \"nope\" does not exist in table fd (its columns: id, ts, v)",
    );
    export_fails(
        url,
        "fd",
        &out,
        &[&range[..], &["--time-column", "v"]].concat(),
        "the time column must be timestamp",
    );
    let nobody = format!(
        "postgres://sextant:sextant@127.0.0.1:{}/sextant",
        free_port()
    );
    export_fails(
        &nobody,
        "fd",
        &out,
        &range,
        "failed to connect to 127.0.0.1:",
    );
    assert_eq!(listing(&out), Vec::<String>::new(), "{}", src.name);

    // Files may not grow past 4 KiB: the first window fits, the second
    // (about 25 KiB) does not. With SIGXFSZ ignored the write fails with
    // EFBIG, as it would with ENOSPC on a full disk.
    let o = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 4; exec \"$@\"")
        .arg("bash")
        .arg(sextant_bin())
        .args([
            "export",
            "--database-url",
            url,
            "--table",
            "fd",
            "--time-column",
            "ts",
        ])
        .arg("--out")
        .arg(&out)
        .args(range)
        .arg("--once")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}: {stderr}", src.name);
    assert!(stderr.contains("File too large"), "{}: {stderr}", src.name);
    assert!(
        stderr.contains(".tmp"),
        "{}: names the file: {stderr}",
        src.name
    );
    assert_eq!(
        listing(&out),
        vec!["fd.checkpoint.json".to_string(), hour_file("fd", 0, "csv")],
        "{}",
        src.name
    );
    let checkpoint = std::fs::read(out.join("fd.checkpoint.json")).unwrap();
    assert_eq!(
        checkpoint_end(&out, "fd").as_deref(),
        Some("2024-01-01T01:00:00Z")
    );

    // An unreachable endpoint leaves the checkpoint as it was.
    export_fails(&nobody, "fd", &out, &range, "failed to connect");
    assert_eq!(
        std::fs::read(out.join("fd.checkpoint.json")).unwrap(),
        checkpoint
    );
    // Other settings than the checkpoint's are refused.
    export_fails(
        url,
        "fd",
        &out,
        &[&range[..], &["--every", "30m"]].concat(),
        "was written with --every (seconds) = 3600",
    );

    // With room again, the run completes.
    export_ok(src, "fd", &out, &range);
    assert_eq!(window_files(&out, "fd").len(), 2);
    let second = std::fs::read_to_string(out.join(hour_file("fd", 1, "csv"))).unwrap();
    assert_eq!(second.lines().count(), 201, "{}", src.name);
}

/// GET /metrics over plain HTTP/1.1.
fn get_metrics(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

fn metric(text: &str, name: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The long-lived scheduler: one-second windows exported as they close,
/// /metrics, SIGTERM.
async fn scheduler(src: &Source) {
    let w = connect(&src.writer_url).await;
    w.batch_execute(
        "CREATE TABLE live (id int8 PRIMARY KEY, ts timestamptz NOT NULL);
         INSERT INTO live VALUES (1, now() - interval '2 seconds');",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let since = humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(4));
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = export_cmd(&src.reader_url, "live", &out, &[])
        .args([
            "--every",
            "1s",
            "--grace",
            "0s",
            "--since",
            &since.to_string(),
        ])
        .args(["--metrics", &addr])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("export.log")).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(dir.path().join("export.log")).unwrap_or_default();
    // A row committed now lands in a window that closes within a second.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut inserted = false;
    let found = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}: the scheduler exited:\n{}",
            src.name,
            log()
        );
        assert!(
            Instant::now() < deadline,
            "{}: row 2 never exported:\n{}",
            src.name,
            log()
        );
        if !inserted && std::fs::metadata(&out).is_ok() && window_files(&out, "live").len() >= 3 {
            w.batch_execute("INSERT INTO live VALUES (2, now())")
                .await
                .unwrap();
            inserted = true;
        }
        let hit = std::fs::metadata(&out).is_ok().then(|| {
            window_files(&out, "live").into_iter().find(|f| {
                let t = std::fs::read_to_string(out.join(f)).unwrap_or_default();
                t.lines().any(|l| l.starts_with("2,"))
            })
        });
        if let Some(Some(f)) = hit {
            break f;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let row1 = window_files(&out, "live")
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(out.join(f))
                .unwrap()
                .contains("\n1,")
        })
        .count();
    assert_eq!(row1, 1, "{}: row 1 in exactly one window", src.name);
    // The metrics count a window once its checkpoint is written, a moment
    // after its file appears.
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        let m = get_metrics(&addr);
        if metric(&m, "export_rows_total") >= 2 || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(metric(&m, "export_rows_total") >= 2, "{}: {m}", src.name);
    let windows = metric(&m, "export_windows_total");
    assert!(windows >= 4, "{}: {m}", src.name);
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let end = metric(&m, "export_last_window_end_seconds");
    assert!(
        (now - 10..=now).contains(&end),
        "{}: {end} vs {now}\n{m}",
        src.name
    );
    assert!((0..=10).contains(&metric(&m, "export_lag_seconds")), "{m}");
    assert!(found.starts_with("live_"), "{found}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{}: SIGTERM ignored", src.name);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{}: {status}\n{}", src.name, log());
    assert!(
        listing(&out).iter().all(|n| !n.ends_with(".tmp")),
        "{}: {:?}",
        src.name,
        listing(&out)
    );
}

async fn all_scenarios(src: &Source) {
    let t = Instant::now();
    windows_and_formats(src).await;
    eprintln!("{}: windows and formats after {:?}", src.name, t.elapsed());
    catch_up_and_reruns(src).await;
    eprintln!("{}: catch-up and reruns after {:?}", src.name, t.elapsed());
    killed_mid_file(src).await;
    eprintln!("{}: killed mid-file after {:?}", src.name, t.elapsed());
    bad_input(src).await;
    eprintln!("{}: bad input after {:?}", src.name, t.elapsed());
    scheduler(src).await;
    eprintln!("{}: scheduler after {:?}", src.name, t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_from_real_postgres() {
    let pg = RealPostgres::start().expect("start PostgreSQL");
    let src = Source {
        name: "postgresql",
        writer_url: pg.url(),
        reader_url: pg.url(),
    };
    all_scenarios(&src).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_from_a_sextant_reader() {
    let (dev, src) = start_dev();
    all_scenarios(&src).await;
    drop(dev);
}
