//! `psql` against `sextant dev`: what a user does first. The binary runs as a
//! process (six storage nodes and the writer), psql connects with the
//! printed credentials, and SIGTERM stops the whole cluster cleanly.
//!
//! `sextant compute` gets the same treatment over storage processes, with
//! its admin endpoint.
//!
//! Needs `psql` on the PATH (Debian's `postgresql-client`).

mod support;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{
    free_port, free_port_range, sextant_bin, sigterm_and_wait, spawn_compute, wait_for_port,
    ChildGuard,
};

fn psql(port: u16, args: &[&str]) -> std::process::Output {
    Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "sextant",
            "-d",
            "sextant",
        ])
        .args(args)
        .env("PGPASSWORD", "sextant")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql (is postgresql-client installed?)")
}

#[test]
fn psql_runs_a_query_against_sextant_dev_and_sigterm_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let reader_port = free_port();
    let storage_port = free_port_range();
    let log = dir.path().join("dev.log");
    let mut child = ChildGuard(
        Command::new(sextant_bin())
            .arg("dev")
            .arg("--data")
            .arg(dir.path().join("data"))
            .args([
                "--port",
                &port.to_string(),
                "--storage-port",
                &storage_port.to_string(),
            ])
            .args([
                "--reader-port",
                &reader_port.to_string(),
                "--http-port",
                &free_port().to_string(),
            ])
            .env("SEXTANT_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn sextant dev"),
    );
    wait_for_port(&mut child, port, &log);

    let out = psql(port, &["-c", "select 1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psql failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[0].trim(), "?column?", "{stdout}");
    assert!(
        lines[1].chars().all(|c| c == '-') && !lines[1].is_empty(),
        "{stdout}"
    );
    assert_eq!(lines[2].trim(), "1", "{stdout}");
    assert_eq!(lines[3], "(1 row)", "{stdout}");

    // The reader endpoint follows the writer.
    wait_for_port(&mut child, reader_port, &log);
    psql_ok(
        port,
        &[
            "-c",
            "CREATE TABLE seen (a int PRIMARY KEY)",
            "-c",
            "INSERT INTO seen VALUES (42)",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while psql(reader_port, &["-At", "-c", "SELECT a FROM seen"]).stdout != b"42\n" {
        assert!(Instant::now() < deadline, "the reader never saw the row");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A wrong password is refused with PostgreSQL's message.
    let bad = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "sextant",
            "-d",
            "sextant",
            "-c",
            "select 1",
        ])
        .env("PGPASSWORD", "not-the-password")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("password authentication failed for user \"sextant\""),
        "{stderr}"
    );

    // The dev IAM identity: a token made by `sextant token` from
    // DATA/dev-credentials.env logs in as sextant through the proxy, over
    // TLS verified against the dev certificate.
    let data = dir.path().join("data");
    let env = std::fs::read_to_string(data.join("dev-credentials.env")).unwrap();
    let mut token_cmd = Command::new(sextant_bin());
    token_cmd.args(["token", "--host", "127.0.0.1", "--port", &port.to_string()]);
    token_cmd.args(["--user", "sextant", "--region", "us-east-1"]);
    for line in env.lines().filter(|l| !l.starts_with('#')) {
        if let Some((k, v)) = line.split_once('=') {
            token_cmd.env(k, v);
        }
    }
    let token = token_cmd.output().unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let cert = data.join("tls").join("proxy.crt");
    let with_token = Command::new("psql")
        .arg("-XAt")
        .arg(format!(
            "host=127.0.0.1 port={port} user=sextant dbname=sextant sslmode=verify-full sslrootcert={}",
            cert.display()
        ))
        .args(["-c", "SELECT current_user"])
        .env("PGPASSWORD", &token)
        .output()
        .unwrap();
    assert!(
        with_token.status.success(),
        "{}",
        String::from_utf8_lossy(&with_token.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&with_token.stdout).trim(),
        "sextant"
    );

    let status = sigterm_and_wait(&mut child);
    let mut banner = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut banner)
        .unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "sextant dev exited with {status}; log:\n{log_text}"
    );
    assert!(
        banner.contains(&format!(
            "psql \"postgres://sextant:sextant@127.0.0.1:{port}/sextant\""
        )),
        "banner lacks the psql line:\n{banner}"
    );
    assert!(
        banner.contains(&format!(
            "Reader endpoint (one reader): 127.0.0.1:{reader_port}"
        )),
        "banner lacks the reader:\n{banner}"
    );
    assert!(!log_text.contains("ERROR"), "errors logged:\n{log_text}");
}

/// GET over plain HTTP/1.1; returns the body.
fn start_dev(data: &Path, port: u16, storage_port: u16, log: &Path) -> ChildGuard {
    let mut child = ChildGuard(
        Command::new(sextant_bin())
            .arg("dev")
            .arg("--data")
            .arg(data)
            .args([
                "--port",
                &port.to_string(),
                "--storage-port",
                &storage_port.to_string(),
            ])
            .args([
                "--reader-port",
                &free_port().to_string(),
                "--http-port",
                &free_port().to_string(),
            ])
            .env("SEXTANT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("spawn sextant dev"),
    );
    wait_for_port(&mut child, port, log);
    child
}

fn psql_ok(port: u16, args: &[&str]) -> String {
    let out = psql(port, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "psql {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The README's CDC session, then a restart on the same data directory:
/// every committed row and every DDL statement is still there, and psql's
/// meta-commands describe the table as PostgreSQL would.
#[test]
fn cdc_table_survives_a_restart_and_psql_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let storage_port = free_port_range();
    let log = dir.path().join("dev.log");
    let mut child = start_dev(&data, port, storage_port, &log);
    psql_ok(
        port,
        &[
            "-c",
            "CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint, \
             ingested_at timestamptz NOT NULL DEFAULT now())",
            "-c",
            "CREATE INDEX events_site ON events ((payload->>'site_id'))",
            "-c",
            "CREATE INDEX events_temp ON events (((payload->>'temp')::float))",
            "-c",
            r#"INSERT INTO events (id, payload, position) VALUES
               ('e1', '{"site_id": "s1", "temp": 21.5}', 1),
               ('e2', '{"site_id": "s2", "temp": 19}', 2),
               ('e3', '{"site_id": "s1", "temp": 23.25}', 3)"#,
        ],
    );
    let status = sigterm_and_wait(&mut child);
    assert!(status.success(), "first run exited with {status}");

    let mut child = start_dev(&data, port, storage_port, &log);
    let rows = psql_ok(
        port,
        &[
            "-At",
            "-c",
            "SELECT id, payload->>'temp' FROM events WHERE payload->>'site_id' = 's1' ORDER BY id",
        ],
    );
    assert_eq!(rows, "e1|21.5\ne3|23.25\n");
    let plan = psql_ok(
        port,
        &[
            "-At",
            "-c",
            "EXPLAIN SELECT id FROM events WHERE payload->>'site_id' = 's1'",
        ],
    );
    assert!(
        plan.starts_with("Index Scan using events_site on events"),
        "{plan}"
    );

    let d = psql_ok(port, &["-c", "\\d events"]);
    for line in [
        "Table \"public.events\"",
        " id          | text                     |           | not null | ",
        " payload     | jsonb                    |           | not null | ",
        " position    | bigint                   |           |          | ",
        " ingested_at | timestamp with time zone |           | not null | now()",
        "    \"events_pkey\" PRIMARY KEY, btree (id)",
        "    \"events_site\" btree ((payload ->> 'site_id'::text))",
        "    \"events_temp\" btree (((payload ->> 'temp'::text)::double precision))",
    ] {
        assert!(d.contains(line), "\\d events lacks {line:?}:\n{d}");
    }
    let dt = psql_ok(port, &["-c", "\\dt"]);
    assert!(
        dt.lines().any(|l| l
            .split('|')
            .map(str::trim)
            .eq(["public", "events", "table", "sextant"])),
        "{dt}"
    );
    let di = psql_ok(port, &["-c", "\\di"]);
    for ix in ["events_pkey", "events_site", "events_temp"] {
        assert!(di.contains(ix), "{di}");
    }
    let dn = psql_ok(port, &["-c", "\\dn"]);
    assert!(dn.contains(" public "), "{dn}");
    let l = psql_ok(port, &["-c", "\\l"]);
    assert!(l.contains(" sextant | sextant | UTF8"), "{l}");
    let df = psql_ok(port, &["-c", "\\df"]);
    assert!(df.contains("(0 rows)"), "{df}");
    let x = psql_ok(
        port,
        &[
            "-c",
            "\\x on",
            "-c",
            "SELECT id, position FROM events WHERE id = 'e2'",
        ],
    );
    assert!(
        x.contains("-[ RECORD 1 ]") && x.contains("position | 2"),
        "{x}"
    );
    let timing = psql_ok(
        port,
        &["-c", "\\timing on", "-c", "SELECT count(*) FROM events"],
    );
    assert!(
        timing.contains("Time: ") && timing.contains("     3"),
        "{timing}"
    );

    let status = sigterm_and_wait(&mut child);
    assert!(status.success(), "second run exited with {status}");
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[test]
fn sextant_compute_serves_psql_and_its_admin_endpoint() {
    let storage = support::ProcCluster::start("512KiB");
    let port = free_port();
    let admin = format!("127.0.0.1:{}", free_port());
    let log = storage.dir.path().join("compute.log");
    let mut child = ChildGuard(
        Command::new(sextant_bin())
            .args([
                "compute",
                "--role",
                "writer",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--admin",
                &admin,
                "--buffer-pool",
                "4MiB",
            ])
            .arg("--cluster")
            .arg(&storage.cluster_file)
            .env("SEXTANT_COMPUTE_PASSWORD", "s3cret")
            .env("SEXTANT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn sextant compute"),
    );
    wait_for_port(&mut child, port, &log);

    let out = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "sextant",
            "-d",
            "sextant",
        ])
        .args([
            "-c",
            "CREATE TABLE t (id int PRIMARY KEY)",
            "-c",
            "INSERT INTO t VALUES (1), (2)",
            "-c",
            "SELECT count(*) FROM t",
        ])
        .env("PGPASSWORD", "s3cret")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["CREATE TABLE", "INSERT 0 2", "2"],
        "{stdout}"
    );

    let health: serde_json::Value = serde_json::from_str(&http_get(&admin, "/health")).unwrap();
    assert_eq!(health["role"], "writer", "{health}");
    assert!(health["epoch"].as_u64().unwrap() >= 1, "{health}");
    assert!(health["vdl"].as_u64().unwrap() > 0, "{health}");
    let metrics = http_get(&admin, "/metrics");
    assert!(metrics.contains("compute_connections_total 1"), "{metrics}");
    assert!(metrics.contains("compute_vdl_lsn"), "{metrics}");
    // The pool is the size --buffer-pool gave, and the queries read through it.
    assert!(
        metrics.contains("compute_buffer_pool_capacity_bytes 4194304"),
        "{metrics}"
    );
    assert!(
        metrics.contains("compute_buffer_pool_hits_total"),
        "{metrics}"
    );

    let status = sigterm_and_wait(&mut child);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "sextant compute exited with {status}; log:\n{log_text}"
    );
    assert!(!log_text.contains("ERROR"), "errors logged:\n{log_text}");
}

#[test]
fn sextant_compute_reader_follows_the_writer_and_refuses_writes() {
    let storage = support::ProcCluster::start("512KiB");
    let (wport, rport) = (free_port(), free_port());
    let (wadmin, radmin) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let redo = format!("127.0.0.1:{}", free_port());
    // The writer's and the reader's entries: the reader finds the writer's
    // redo stream here.
    let mut toml = std::fs::read_to_string(&storage.cluster_file).unwrap();
    toml += &format!(
        "[[compute]]\nid = \"writer-1\"\naddr = \"127.0.0.1:{wport}\"\nadmin = \"{wadmin}\"\nrole = \"writer\"\nredo = \"{redo}\"\n\
         [[compute]]\nid = \"reader-1\"\naddr = \"127.0.0.1:{rport}\"\nadmin = \"{radmin}\"\nrole = \"reader\"\n"
    );
    std::fs::write(&storage.cluster_file, toml).unwrap();
    let wlog = storage.dir.path().join("writer.log");
    let rlog = storage.dir.path().join("reader.log");
    let mut writer = spawn_compute(&storage.cluster_file, "writer", wport, &wadmin, &wlog);
    wait_for_port(&mut writer, wport, &wlog);
    psql_ok(
        wport,
        &[
            "-c",
            "CREATE TABLE t (id int PRIMARY KEY, v text)",
            "-c",
            "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
        ],
    );
    let mut reader = spawn_compute(&storage.cluster_file, "reader", rport, &radmin, &rlog);
    wait_for_port(&mut reader, rport, &rlog);
    assert_eq!(
        psql_ok(rport, &["-At", "-c", "SELECT id, v FROM t ORDER BY id"]),
        "1|one\n2|two\n"
    );
    // A commit on the writer shows on the reader once its read point passes it.
    psql_ok(wport, &["-c", "INSERT INTO t VALUES (3, 'three')"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = psql_ok(rport, &["-At", "-c", "SELECT count(*) FROM t"]);
        if n.trim() == "3" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reader never saw the third row"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = psql(rport, &["-c", "INSERT INTO t VALUES (4, 'four')"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR:  cannot execute INSERT in a read-only transaction"),
        "{stderr}"
    );
    let out = psql(
        rport,
        &["-v", "VERBOSITY=verbose", "-c", "CREATE TABLE u (a int)"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("25006: cannot execute CREATE TABLE in a read-only transaction"),
        "{stderr}"
    );

    let status = psql_ok(
        wport,
        &[
            "-At",
            "-c",
            "SELECT server_id, role FROM sextant_replica_status() ORDER BY role DESC",
        ],
    );
    assert_eq!(status, "writer-1|writer\nreader-1|reader\n");
    let health: serde_json::Value = serde_json::from_str(&http_get(&radmin, "/health")).unwrap();
    assert_eq!(health["role"], "reader", "{health}");
    assert!(health["read_point"].as_u64().unwrap() > 0, "{health}");
    let metrics = http_get(&radmin, "/metrics");
    for name in [
        "compute_read_point_lsn",
        "compute_replica_lag_lsn",
        "compute_replica_lag_ms",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    let metrics = http_get(&wadmin, "/metrics");
    assert!(metrics.contains("compute_replica_readers 1"), "{metrics}");

    for (child, log) in [(&mut reader, &rlog), (&mut writer, &wlog)] {
        let status = sigterm_and_wait(child);
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(status.success(), "exited with {status}; log:\n{text}");
        assert!(!text.contains("ERROR"), "errors logged:\n{text}");
    }
}

fn http_post(addr: &str, path: &str) -> (u16, String) {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let code = response
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// `sextant dev --readers 2` gives every compute node an admin endpoint
/// (listed in `DATA/cluster.toml`). Promoting a reader there makes it the
/// writer on its own port; the other reader follows the new writer by
/// itself, the old writer is fenced, and the proxy's writer endpoint moves
/// to the new writer.
#[test]
fn dev_promotion_moves_the_other_reader_to_the_new_writer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("dev.log");
    let (port, reader_port) = (free_port(), free_port_range());
    let mut child = ChildGuard(
        Command::new(sextant_bin())
            .arg("dev")
            .arg("--data")
            .arg(&data)
            .args(["--port", &port.to_string()])
            .args(["--reader-port", &reader_port.to_string(), "--readers", "2"])
            .args(["--storage-port", &free_port_range().to_string()])
            .args(["--http-port", &free_port().to_string()])
            .env("SEXTANT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn sextant dev"),
    );
    wait_for_port(&mut child, port, &log);
    wait_for_port(&mut child, reader_port, &log);
    let cluster =
        sextant_storage::cluster::Cluster::load(&data.join("cluster.toml")).expect("cluster file");
    let admin = |name: &str| {
        cluster
            .compute
            .iter()
            .find(|c| c.id == name)
            .and_then(|c| c.admin.clone())
            .unwrap_or_else(|| panic!("no admin address for {name} in {:?}", cluster.compute))
    };
    // Each compute node's own SQL port (clients normally use the proxy).
    let sql_port = |name: &str| -> u16 {
        let c = cluster.compute.iter().find(|c| c.id == name).unwrap();
        c.addr.rsplit(':').next().unwrap().parse().unwrap()
    };
    let health = |name: &str| -> serde_json::Value {
        serde_json::from_str(&http_get(&admin(name), "/health")).unwrap()
    };
    assert_eq!(health("writer-1")["role"], "writer");
    assert_eq!(health("reader-2")["role"], "reader");

    psql_ok(port, &["-c", "CREATE TABLE t (k int PRIMARY KEY, v text)"]);
    psql_ok(port, &["-c", "INSERT INTO t VALUES (1, 'before')"]);
    let (code, body) = http_post(&admin("reader-1"), "/promote");
    assert_eq!(code, 200, "{body}");
    assert_eq!(health("reader-1")["role"], "writer");

    // The promoted reader takes writes on its own port; the other reader
    // sees them, so it follows the new writer.
    psql_ok(
        sql_port("reader-1"),
        &["-c", "INSERT INTO t VALUES (2, 'after promotion')"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = psql(
            sql_port("reader-2"),
            &["-At", "-c", "SELECT v FROM t ORDER BY k"],
        );
        let seen = String::from_utf8_lossy(&out.stdout).into_owned();
        if seen == "before\nafter promotion\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reader-2 never saw the new writer's row (saw {seen:?}); log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(health("reader-2")["role"], "reader");

    // The old writer is fenced: a write fails with 25006 and it steps down.
    let out = psql(
        sql_port("writer-1"),
        &[
            "-v",
            "VERBOSITY=verbose",
            "-c",
            "INSERT INTO t VALUES (3, 'stale')",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("25006"), "{err}");
    assert_eq!(health("writer-1")["role"], "fenced");

    // The proxy's writer endpoint follows the promotion: writes through it
    // land on reader-1, now the writer.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = psql(
            port,
            &["-c", "INSERT INTO t VALUES (4, 'through the proxy')"],
        );
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy never moved to the new writer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(psql_ok(
        sql_port("reader-1"),
        &["-At", "-c", "SELECT v FROM t WHERE k = 4"]
    )
    .contains("through the proxy"));
    assert!(sigterm_and_wait(&mut child).success());
}

#[test]
fn a_buffer_pool_size_out_of_range_is_refused_with_its_limits() {
    for (cmd, size) in [("compute", "1MiB"), ("dev", "2TiB"), ("dev", "lots")] {
        let out = Command::new(sextant_bin())
            .args([cmd, "--buffer-pool", size])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd} {size}: {stderr}");
        assert!(
            stderr.contains("invalid value") && stderr.contains("--buffer-pool"),
            "{cmd} {size}: {stderr}"
        );
    }
}
