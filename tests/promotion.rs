//! Promotion with real processes: six storage nodes, a writer and a reader
//! (`sextant compute`), psql clients upserting concurrently. The writer is
//! killed (SIGKILL) or paused (SIGSTOP) under the load, the reader is
//! promoted with `POST /promote` on its admin endpoint, and then: every
//! upsert psql saw acknowledged is there, the promoted node takes writes on
//! the same SQL port, and the paused writer, resumed with its stale epoch,
//! is fenced: it fails every write and reports `role: fenced`.
//!
//! Needs `psql` on the PATH (Debian's `postgresql-client`).

mod support;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{free_port, sextant_bin, spawn_compute, wait_for_port};

/// Upsert clients, each on its own keys.
const CLIENTS: i64 = 3;
/// Keys each client cycles through.
const KEYS_PER_CLIENT: i64 = 4;

fn psql(port: u16, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
        ])
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "sextant", "-d", "sextant", "-c", sql])
        .env("PGPASSWORD", "sextant")
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("run psql (is postgresql-client installed?)")
}

fn psql_ok(port: u16, sql: &str) -> String {
    let out = psql(port, sql);
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An HTTP request to the admin endpoint: status code and body.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let code = response[9..12].parse().expect("an HTTP status");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

fn health(addr: &str) -> serde_json::Value {
    let (code, body) = http(addr, "GET", "/health");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// What one client saw: per key, the last value acknowledged and the last
/// value tried.
#[derive(Default)]
struct Seen {
    acked: BTreeMap<i64, i64>,
    tried: BTreeMap<i64, i64>,
}

fn upsert_client(port: u16, client: i64, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut n = 0i64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = client * 1000 + n % KEYS_PER_CLIENT;
        seen.tried.insert(key, n);
        let sql = format!(
            "INSERT INTO kv VALUES ({key}, {n}) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v"
        );
        if psql(port, &sql).status.success() {
            seen.acked.insert(key, n);
        }
    }
    seen
}

#[derive(Clone, Copy, PartialEq)]
enum Stop {
    Kill,
    Pause,
}

fn promotion_under_load(stop_how: Stop) {
    let storage = support::ProcCluster::start("512KiB");
    let (wport, rport) = (free_port(), free_port());
    let (wadmin, radmin) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let (wredo, rredo) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut toml = std::fs::read_to_string(&storage.cluster_file).unwrap();
    toml += &format!(
        "[[compute]]\nid = \"writer-1\"\naddr = \"127.0.0.1:{wport}\"\nadmin = \"{wadmin}\"\nrole = \"writer\"\nredo = \"{wredo}\"\n\
         [[compute]]\nid = \"reader-1\"\naddr = \"127.0.0.1:{rport}\"\nadmin = \"{radmin}\"\nrole = \"reader\"\nredo = \"{rredo}\"\n"
    );
    std::fs::write(&storage.cluster_file, toml).unwrap();
    let wlog = storage.dir.path().join("writer.log");
    let rlog = storage.dir.path().join("reader.log");
    let mut writer = spawn_compute(&storage.cluster_file, "writer", wport, &wadmin, &wlog);
    wait_for_port(&mut writer, wport, &wlog);
    psql_ok(
        wport,
        "CREATE TABLE kv (id int8 PRIMARY KEY, v int8 NOT NULL)",
    );
    let mut reader = spawn_compute(&storage.cluster_file, "reader", rport, &radmin, &rlog);
    wait_for_port(&mut reader, rport, &rlog);
    assert_eq!(health(&radmin)["role"], "reader");
    // A writer refuses promotion.
    let (code, body) = http(&wadmin, "POST", "/promote");
    assert_eq!(code, 409, "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || upsert_client(wport, c, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    match stop_how {
        Stop::Kill => {
            signal(&writer, "-KILL");
            writer.wait().unwrap();
        }
        Stop::Pause => signal(&writer, "-STOP"),
    }
    let (code, body) = http(&radmin, "POST", "/promote");
    assert_eq!(
        code,
        200,
        "{body}\nreader log:\n{}",
        std::fs::read_to_string(&rlog).unwrap_or_default()
    );
    let promoted: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(promoted["role"], "writer", "{promoted}");
    let h = health(&radmin);
    assert_eq!(h["role"], "writer", "{h}");
    assert_eq!(h["epoch"], promoted["epoch"], "{h}");

    if stop_how == Stop::Pause {
        // Resumed with its stale epoch: storage rejects it, it steps down.
        signal(&writer, "-CONT");
    }
    stop.store(true, Ordering::SeqCst);
    let seen: Vec<Seen> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let acked: usize = seen.iter().map(|s| s.acked.len()).sum();
    assert!(
        acked > 0,
        "no upsert was acknowledged before the writer stopped"
    );

    // Every acknowledged upsert is on the new writer: each key holds its
    // last acknowledged value or a later one that was tried (a commit may
    // be durable without its acknowledgement having reached psql).
    let rows: BTreeMap<i64, i64> = psql_ok(rport, "SELECT id, v FROM kv ORDER BY id")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('|').unwrap();
            (k.parse().unwrap(), v.parse().unwrap())
        })
        .collect();
    for s in &seen {
        for (key, acked) in &s.acked {
            let got = rows.get(key).copied();
            let tried = s.tried[key];
            assert!(
                got.is_some_and(|v| v >= *acked && v <= tried),
                "key {key}: acknowledged {acked}, tried up to {tried}, promoted writer has {got:?}"
            );
        }
    }
    // `sextant status` shows the promoted writer and every PG's replicas.
    let out = Command::new(sextant_bin())
        .args(["status", "--cluster"])
        .arg(&storage.cluster_file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let status = String::from_utf8_lossy(&out.stdout);
    let line = |id: &str| {
        status
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in:\n{status}"))
            .to_owned()
    };
    assert!(line("reader-1").contains(" writer "), "{status}");
    assert!(
        line("reader-1").contains(&format!("epoch={}", promoted["epoch"])),
        "{status}"
    );
    if stop_how == Stop::Kill {
        assert!(line("writer-1").contains("unreachable"), "{status}");
    }
    let pg0 = line("pg 0:");
    assert_eq!(pg0.matches("scl=").count(), 6, "{status}");

    // The promoted node takes writes on the same SQL port.
    psql_ok(
        rport,
        "INSERT INTO kv VALUES (-1, -1) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v",
    );
    psql_ok(rport, "UPDATE kv SET v = v + 1 WHERE id = -1");
    assert_eq!(psql_ok(rport, "SELECT v FROM kv WHERE id = -1").trim(), "0");
    assert_eq!(psql_ok(rport, "SELECT pg_is_in_recovery()").trim(), "f");

    if stop_how == Stop::Pause {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = psql(wport, "INSERT INTO kv VALUES (-2, -2)");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!out.status.success(), "the fenced writer committed");
            if stderr.contains("25006: this writer was fenced by a newer writer") {
                break;
            }
            assert!(Instant::now() < deadline, "no fencing error: {stderr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let h = health(&wadmin);
        assert_eq!(h["role"], "fenced", "{h}");
        assert_eq!(h["fenced_by"], promoted["epoch"], "{h}");
        assert_eq!(
            psql_ok(rport, "SELECT count(*) FROM kv WHERE id = -2").trim(),
            "0"
        );
        signal(&writer, "-KILL");
        writer.wait().unwrap();
    }
    signal(&reader, "-TERM");
    let status = reader.wait().unwrap();
    assert!(status.success(), "promoted node exited with {status}");
}

#[test]
fn promotion_after_sigkill_of_the_writer_loses_no_acknowledged_upsert() {
    promotion_under_load(Stop::Kill);
}

#[test]
fn a_paused_writer_resumed_after_promotion_is_fenced() {
    promotion_under_load(Stop::Pause);
}
