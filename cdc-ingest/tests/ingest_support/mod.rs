//! What the ingest tests do, once, for every server they run against:
//! real PostgreSQL (`cdc-ingest/tests/ingest_postgres.rs`) and `sextant dev`
//! (the root package's `tests/ingest_sextant.rs` includes this file by
//! path). Each scenario starts the service in-process with its own config,
//! talks to it with a real HTTP client (hyper), and checks the tables with
//! tokio-postgres: what a producer and a SQL user would see.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;

use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sextant_cdc_ingest::ingest::{Config, Service, ServiceHandle};

/// The token the harness writes to the tokens file when a scenario wants
/// auth.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts 200 and returns the counts.
    pub fn counts(&self) -> Value {
        assert_eq!(self.status, 200, "expected 200, got: {}", self.text());
        self.json()
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to the ingest service at {addr}: {e}"));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let request = builder
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("valid request");
    let response = sender.send_request(request).await.expect("HTTP response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("response body")
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// Where a scenario's requests go: address and token.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Endpoint {
    pub async fn post(&self, table: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.post_with(table, content_type, &[], body).await
    }

    pub async fn post_with(
        &self,
        table: &str,
        content_type: &str,
        extra: &[(&str, String)],
        body: impl Into<Vec<u8>>,
    ) -> Resp {
        let mut headers = vec![("content-type", content_type.to_owned())];
        if let Some(token) = &self.token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        headers.extend(extra.iter().cloned());
        request(
            self.addr,
            "POST",
            &format!("/v1/tables/{table}/events"),
            &headers,
            body.into(),
        )
        .await
    }

    pub async fn ndjson(&self, table: &str, events: &[Value]) -> Resp {
        self.post(table, "application/x-ndjson", ndjson(events))
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[], Vec::new()).await
    }
}

/// Events as NDJSON.
pub fn ndjson(events: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        serde_json::to_writer(&mut out, event).unwrap();
        out.push(b'\n');
    }
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A service started for one scenario, and a SQL connection to look with.
pub struct Ingest {
    pub endpoint: Endpoint,
    pub db: tokio_postgres::Client,
    handle: Option<ServiceHandle>,
    _dir: tempfile::TempDir,
}

impl Ingest {
    /// Starts the service with `config_toml` (no auth).
    pub async fn start(url: &str, config_toml: &str) -> Ingest {
        Ingest::start_inner(url, config_toml, false).await
    }

    /// Starts the service with a tokens file holding [`TOKEN`].
    pub async fn start_with_token(url: &str, config_toml: &str) -> Ingest {
        Ingest::start_inner(url, config_toml, true).await
    }

    async fn start_inner(url: &str, config_toml: &str, with_token: bool) -> Ingest {
        let dir = tempfile::tempdir().unwrap();
        let mut toml = config_toml.to_owned();
        if with_token {
            let tokens = dir.path().join("tokens");
            std::fs::write(&tokens, format!("# test producers\n{TOKEN}\n")).unwrap();
            toml = format!(
                "[auth]\ntokens_file = {:?}\n{toml}",
                tokens.display().to_string()
            );
        }
        let path = dir.path().join("ingest.toml");
        std::fs::write(&path, &toml).unwrap();
        let config = Config::load(url, &path).expect("valid test config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = Service::start(config, listener)
            .await
            .expect("service starts");
        let endpoint = Endpoint {
            addr: handle.local_addr(),
            token: with_token.then(|| TOKEN.to_owned()),
        };
        let (db, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to the database");
        tokio::spawn(connection);
        let ingest = Ingest {
            endpoint,
            db,
            handle: Some(handle),
            _dir: dir,
        };
        ingest.wait_healthy().await;
        ingest
    }

    /// Waits until the service has its database connection.
    pub async fn wait_healthy(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let health = self.endpoint.get("/healthz").await;
            if health.status == 200 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ingest never connected: {}",
                health.text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `id -> (payload, position)` of every row.
    pub async fn rows(&self, table: &str) -> BTreeMap<String, (Value, i64)> {
        let rows = self
            .db
            .query(
                &format!("SELECT id, CAST(payload AS text), position FROM {table}"),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("read {table}: {e}"));
        rows.iter()
            .map(|row| {
                let payload: String = row.get(1);
                (
                    row.get::<_, String>(0),
                    (
                        serde_json::from_str(&payload).unwrap(),
                        row.get::<_, i64>(2),
                    ),
                )
            })
            .collect()
    }

    pub async fn shutdown(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.expect("clean shutdown");
        }
    }
}

/// `{"applied": a, "skipped_stale": s, "deleted": d, "truncated": t, "ignored": i}`.
pub fn counts(a: u64, s: u64, d: u64, t: u64, i: u64) -> Value {
    json!({"applied": a, "skipped_stale": s, "deleted": d, "truncated": t, "ignored": i})
}

/// Plain events: object, array and NDJSON; updates by position; extra
/// columns; a table created on first use with the default shape.
pub async fn plain_events(url: &str) {
    let ingest = Ingest::start(
        url,
        r#"
        [tables.plain_orders]
        create = true
        columns.amount = { path = "amount", type = "numeric" }
        columns.placed_at = { path = "ts_ms", type = "timestamptz" }
        columns.source = { path = "source" }
        "#,
    )
    .await;
    let ep = &ingest.endpoint;
    let one = ep
        .post(
            "plain_orders",
            "application/json",
            json!({"id": "a", "ts_ms": 1_700_000_000_000_i64, "amount": "12.50", "status": "new"})
                .to_string(),
        )
        .await;
    assert_eq!(one.counts(), counts(1, 0, 0, 0, 0));
    let many = ep
        .post(
            "plain_orders",
            "application/json; charset=utf-8",
            json!([
                {"id": "b", "ts_ms": 1_700_000_000_001_i64, "amount": 3},
                {"id": 7, "ts_ms": 1_700_000_000_002_i64, "source": {"lsn": 55}},
                null
            ])
            .to_string(),
        )
        .await;
    assert_eq!(many.counts(), counts(2, 0, 0, 0, 1));
    let update = ep
        .ndjson(
            "plain_orders",
            &[json!({"id": "a", "ts_ms": 1_700_000_000_005_i64, "status": "paid", "amount": 13})],
        )
        .await;
    assert_eq!(update.counts(), counts(1, 0, 0, 0, 0));

    let rows = ingest.rows("plain_orders").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows["a"].0["status"], "paid");
    assert_eq!(rows["a"].1, 1_700_000_000_005);
    // source.lsn is the position when present.
    assert_eq!(rows["7"].1, 55);
    let extra = ingest
        .db
        .query_one(
            "SELECT CAST(amount AS text), CAST(placed_at = CAST('2023-11-14T22:13:20.005Z' AS timestamptz) AS text), \
             CAST(source AS text) FROM plain_orders WHERE id = 'a'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(extra.get::<_, String>(0), "13");
    assert_eq!(extra.get::<_, String>(1), "true");
    assert_eq!(extra.get::<_, Option<String>>(2), None);
    let source: String = ingest
        .db
        .query_one(
            "SELECT CAST(source AS text) FROM plain_orders WHERE id = '7'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        serde_json::from_str::<Value>(&source).unwrap(),
        json!({"lsn": 55})
    );

    // gzip bodies.
    let body = ndjson(&[json!({"id": "g", "ts_ms": 1, "zipped": true})]);
    let zipped = ep
        .post_with(
            "plain_orders",
            "application/x-ndjson",
            &[("content-encoding", "gzip".to_owned())],
            gzip(&body),
        )
        .await;
    assert_eq!(zipped.counts(), counts(1, 0, 0, 0, 0));
    assert_eq!(ingest.rows("plain_orders").await["g"].0["zipped"], true);
    ingest.shutdown().await;
}

/// Debezium envelopes: c/r/u upsert after, d deletes by before (or key),
/// t truncates only where allowed, tombstones ignored; with and without
/// the schema/payload wrapper.
pub async fn debezium(url: &str) {
    let ingest = Ingest::start(
        url,
        r#"
        [defaults]
        create = true
        [tables.dbz_customers]
        format = "debezium"
        allow_truncate = true
        "#,
    )
    .await;
    let ep = &ingest.endpoint;
    let wrap = |payload: Value| json!({"schema": {"type": "struct"}, "payload": payload});
    let events = [
        wrap(
            json!({"op": "c", "before": null, "after": {"id": 1, "name": "ann"}, "source": {"lsn": 10}, "ts_ms": 1}),
        ),
        json!({"op": "r", "before": null, "after": {"id": 2, "name": "bob"}, "source": {"lsn": 11}, "ts_ms": 2}),
        json!({"op": "r", "before": null, "after": {"id": 3, "name": "cy"}, "source": {"lsn": 11}, "ts_ms": 2}),
        json!({"op": "u", "before": {"id": 1}, "after": {"id": 1, "name": "anne"}, "source": {"lsn": 12}, "ts_ms": 3}),
        json!({"op": "d", "before": {"id": 2, "name": "bob"}, "after": null, "source": {"lsn": 13}, "ts_ms": 4}),
        Value::Null,
        wrap(Value::Null),
    ];
    let first = ep.ndjson("dbz_customers", &events).await;
    // id 1: c then u (one applied, one stale); id 2: r then d; id 3: r.
    assert_eq!(first.counts(), counts(2, 2, 1, 0, 2));
    let rows = ingest.rows("dbz_customers").await;
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["1", "3"]);
    assert_eq!(rows["1"], (json!({"id": 1, "name": "anne"}), 12));

    // A delete by the message key when before is null.
    let by_key = ep
        .ndjson(
            "dbz_customers",
            &[json!({"op": "d", "before": null, "key": {"id": 3}, "source": {"lsn": 14}})],
        )
        .await;
    assert_eq!(by_key.counts(), counts(0, 0, 1, 0, 0));
    assert_eq!(ingest.rows("dbz_customers").await.len(), 1);

    let truncate = ep
        .ndjson(
            "dbz_customers",
            &[
                json!({"op": "t", "source": {"lsn": 20}}),
                json!({"op": "c", "after": {"id": 9, "name": "new"}, "source": {"lsn": 21}}),
            ],
        )
        .await;
    assert_eq!(truncate.counts(), counts(1, 0, 0, 1, 0));
    assert_eq!(
        ingest
            .rows("dbz_customers")
            .await
            .keys()
            .collect::<Vec<_>>(),
        ["9"]
    );

    // Truncate is refused where the table does not allow it; nothing of
    // that request is applied.
    let refused = ep
        .ndjson(
            "dbz_other",
            &[
                json!({"op": "c", "after": {"id": 1}, "source": {"lsn": 1}}),
                json!({"op": "t", "source": {"lsn": 2}}),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["line"], 2);
    assert_eq!(refused.json()["field"], "op");
    assert!(
        refused.text().contains("allow_truncate"),
        "{}",
        refused.text()
    );
    ingest.shutdown().await;
}

/// Every key's versions, shuffled, split into requests, each sent twice,
/// four requests at a time: the table ends at the newest version of each
/// key (deleted keys absent), and replaying everything changes nothing.
pub async fn out_of_order_and_duplicates(url: &str) {
    let ingest = Ingest::start(
        url,
        r#"
        [batch]
        wait = "20ms"
        [tables.ooo_events]
        create = true
        "#,
    )
    .await;
    let keys = 30_u64;
    let mut events = Vec::new();
    let mut newest: BTreeMap<String, (i64, Option<Value>)> = BTreeMap::new();
    for k in 0..keys {
        let versions = 4 + k % 3;
        for v in 1..=versions {
            let position = (v * 1_000 + k) as i64;
            let delete = (k % 5 == 0 && v == versions) || (k % 7 == 3 && v == 2);
            let event = if delete {
                json!({"op": "d", "before": {"id": format!("k{k}")}, "after": null, "source": {"lsn": position}})
            } else {
                json!({"op": if v == 1 { "c" } else { "u" }, "before": null,
                       "after": {"id": format!("k{k}"), "v": v, "pad": "x".repeat((k * 7 % 50) as usize)},
                       "source": {"lsn": position}})
            };
            let after = (!delete).then(|| event["after"].clone());
            let slot = newest.entry(format!("k{k}")).or_insert((i64::MIN, None));
            if position > slot.0 {
                *slot = (position, after);
            }
            events.push(event);
        }
    }
    // A fixed shuffle (xorshift) so a failure replays.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..events.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        events.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    let mut requests = Vec::new();
    let mut rest = &events[..];
    while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = ((seed % 15) as usize + 1).min(rest.len());
        requests.push(ndjson(&rest[..n]));
        rest = &rest[n..];
    }
    let sends: Vec<Vec<u8>> = requests
        .iter()
        .flat_map(|r| [r.clone(), r.clone()])
        .collect();

    let mut handled = 0;
    for group in sends.chunks(4) {
        let tasks: Vec<_> = group
            .iter()
            .map(|body| {
                let ep = ingest.endpoint.clone();
                let body = body.clone();
                tokio::spawn(
                    async move { ep.post("ooo_events", "application/x-ndjson", body).await },
                )
            })
            .collect();
        for task in tasks {
            let c = task.await.unwrap().counts();
            handled += c["applied"].as_u64().unwrap()
                + c["skipped_stale"].as_u64().unwrap()
                + c["deleted"].as_u64().unwrap();
        }
    }
    assert_eq!(
        handled,
        2 * events.len() as u64,
        "every event counted once per send"
    );

    let expected = surviving_rows(&newest);
    assert!(expected.len() < keys as usize, "some keys end deleted");
    assert_eq!(ingest.rows("ooo_events").await, expected);
    replay_changes_nothing(&ingest, "ooo_events", &events, &expected).await;
    ingest.shutdown().await;
}

/// The rows a table ends with, given each key's newest event: its position
/// and its row image, none for a delete.
fn surviving_rows(
    newest: &BTreeMap<String, (i64, Option<Value>)>,
) -> BTreeMap<String, (Value, i64)> {
    newest
        .iter()
        .filter_map(|(k, (position, after))| after.clone().map(|a| (k.clone(), (a, *position))))
        .collect()
}

/// Replaying `events`, all in one request, skips each as stale and leaves
/// `table` as `expected`.
async fn replay_changes_nothing(
    ingest: &Ingest,
    table: &str,
    events: &[Value],
    expected: &BTreeMap<String, (Value, i64)>,
) {
    let replay = ingest
        .endpoint
        .post(table, "application/x-ndjson", ndjson(events))
        .await
        .counts();
    assert_eq!(replay["applied"], 0, "{replay}");
    assert_eq!(replay["deleted"], 0, "{replay}");
    assert_eq!(replay["skipped_stale"], events.len() as u64);
    assert_eq!(&ingest.rows(table).await, expected);
}

/// Several writers at once (`batch.writers = 3`), every request in flight
/// together, all on a dozen keys: upserts of one key in concurrent batches
/// (row-lock waits on PostgreSQL, first-committer-wins retries on Sextant)
/// and deletes among them. Each key ends at its newest event, every event
/// is counted once, and a replay changes nothing.
pub async fn concurrent_writers(url: &str) {
    let ingest = Ingest::start(
        url,
        r#"
        [batch]
        writers = 3
        [tables.busy_events]
        create = true
        "#,
    )
    .await;
    let keys = 12_u64;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut requests: Vec<Vec<Value>> = Vec::new();
    let mut newest: BTreeMap<String, (i64, Option<Value>)> = BTreeMap::new();
    let mut position = 0_i64;
    for _ in 0..24 {
        let mut events = Vec::new();
        let mut used = std::collections::BTreeSet::new();
        for _ in 0..10 {
            let k = next() % keys;
            // Positions are unique, in no order across requests.
            position += 1;
            let at = (next() % 1_000_000) as i64 * 1_000 + position;
            if !used.insert(k) {
                continue;
            }
            let delete = next() % 6 == 0;
            let event = if delete {
                json!({"op": "d", "before": {"id": format!("k{k}")}, "after": null, "source": {"lsn": at}})
            } else {
                json!({"op": "u", "before": null, "after": {"id": format!("k{k}"), "at": at},
                       "source": {"lsn": at}})
            };
            let after = (!delete).then(|| event["after"].clone());
            let slot = newest.entry(format!("k{k}")).or_insert((i64::MIN, None));
            if at > slot.0 {
                *slot = (at, after);
            }
            events.push(event);
        }
        requests.push(events);
    }
    let total: usize = requests.iter().map(Vec::len).sum();
    let tasks: Vec<_> = requests
        .iter()
        .map(|events| {
            let ep = ingest.endpoint.clone();
            let body = ndjson(events);
            tokio::spawn(async move { ep.post("busy_events", "application/x-ndjson", body).await })
        })
        .collect();
    let mut handled = 0;
    for task in tasks {
        let c = task.await.unwrap().counts();
        handled += c["applied"].as_u64().unwrap()
            + c["skipped_stale"].as_u64().unwrap()
            + c["deleted"].as_u64().unwrap();
    }
    assert_eq!(handled, total as u64, "every event counted once");
    let expected = surviving_rows(&newest);
    assert_eq!(ingest.rows("busy_events").await, expected);
    replay_changes_nothing(&ingest, "busy_events", &requests.concat(), &expected).await;
    ingest.shutdown().await;
}

/// Malformed JSON at line N, a missing field, a value the database
/// refuses: 400 naming line and field, and nothing of the request applied;
/// a good request batched with a bad one still commits.
pub async fn malformed_input(url: &str) {
    let ingest = Ingest::start(
        url,
        r#"
        [batch]
        wait = "200ms"
        [tables.bad_input]
        create = true
        columns.at = { path = "at", type = "timestamptz" }
        "#,
    )
    .await;
    let ep = &ingest.endpoint;
    let seed = ep
        .ndjson(
            "bad_input",
            &[json!({"id": "a", "ts_ms": 1, "v": "original"})],
        )
        .await;
    assert_eq!(seed.counts(), counts(1, 0, 0, 0, 0));

    let body = concat!(
        "{\"id\": \"a\", \"ts_ms\": 2, \"v\": \"changed\"}\n",
        "{\"id\": \"b\", \"ts_ms\": 2}\n",
        "\n",
        "{\"id\": \"c\", \"ts_ms\": 2,\n",
        "{\"id\": \"d\", \"ts_ms\": 2}\n",
    );
    let bad = ep.post("bad_input", "application/x-ndjson", body).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["line"], 4, "{}", bad.text());
    assert!(
        bad.text().contains("line 4: malformed JSON"),
        "{}",
        bad.text()
    );

    let missing = ep
        .ndjson(
            "bad_input",
            &[
                json!({"id": "a", "ts_ms": 3, "v": "changed"}),
                json!({"ts_ms": 3}),
            ],
        )
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text());
    assert_eq!(missing.json()["line"], 2);
    assert_eq!(missing.json()["field"], "id");

    let array = ep
        .post(
            "bad_input",
            "application/json",
            json!([{"id": "a", "ts_ms": 4}, {"id": "b"}]).to_string(),
        )
        .await;
    assert_eq!(array.status, 400, "{}", array.text());
    assert_eq!(array.json()["event"], 2);
    assert_eq!(array.json()["field"], "source.lsn, ts_ms");

    let syntax = ep
        .post(
            "bad_input",
            "application/json",
            "[{\"id\": \"a\",\n\"ts_ms\": }]",
        )
        .await;
    assert_eq!(syntax.status, 400);
    assert_eq!(syntax.json()["line"], 2);

    let wrong_type = ep
        .post("bad_input", "text/plain", "{\"id\": \"a\", \"ts_ms\": 5}")
        .await;
    assert_eq!(wrong_type.status, 415, "{}", wrong_type.text());

    // The database refuses a timestamp; the request batched with it commits.
    let bad_ep = ep.clone();
    let bad_cast = tokio::spawn(async move {
        bad_ep
            .ndjson(
                "bad_input",
                &[
                    json!({"id": "a", "ts_ms": 6, "v": "changed"}),
                    json!({"id": "e", "ts_ms": 6, "at": "not a time"}),
                ],
            )
            .await
    });
    let good_ep = ep.clone();
    let good = tokio::spawn(async move {
        good_ep
            .ndjson(
                "bad_input",
                &[json!({"id": "f", "ts_ms": 6, "at": "2024-05-01T10:00:00Z"})],
            )
            .await
    });
    let (bad_cast, good) = (bad_cast.await.unwrap(), good.await.unwrap());
    assert_eq!(bad_cast.status, 400, "{}", bad_cast.text());
    assert!(
        bad_cast.text().contains("database refused"),
        "{}",
        bad_cast.text()
    );
    assert_eq!(good.counts(), counts(1, 0, 0, 0, 0));

    let rows = ingest.rows("bad_input").await;
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["a", "f"]);
    assert_eq!(
        rows["a"],
        (json!({"id": "a", "ts_ms": 1, "v": "original"}), 1)
    );
    ingest.shutdown().await;
}

/// Bodies over the limit, as sent or after gzip, and requests with more
/// events than the queue holds: 413.
pub async fn oversized(url: &str) {
    let ingest = Ingest::start(
        url,
        r#"
        [limits]
        body_bytes_max = 4096
        queue_events_max = 50
        [tables.big_input]
        create = true
        "#,
    )
    .await;
    let ep = &ingest.endpoint;
    let big: Vec<Value> = (0..40)
        .map(|i| json!({"id": format!("k{i}"), "ts_ms": 1, "pad": "y".repeat(200)}))
        .collect();
    let body = ndjson(&big);
    assert!(body.len() > 4096);
    let plain = ep
        .post("big_input", "application/x-ndjson", body.clone())
        .await;
    assert_eq!(plain.status, 413, "{}", plain.text());
    assert!(plain.text().contains("body_bytes_max"), "{}", plain.text());

    let zipped = gzip(&body);
    assert!(zipped.len() < 4096, "compresses below the limit");
    let bomb = ep
        .post_with(
            "big_input",
            "application/x-ndjson",
            &[("content-encoding", "gzip".to_owned())],
            zipped,
        )
        .await;
    assert_eq!(bomb.status, 413, "{}", bomb.text());

    let many: Vec<Value> = (0..60).map(|i| json!({"id": i, "ts_ms": 1})).collect();
    let too_many = ep.ndjson("big_input", &many).await;
    assert_eq!(too_many.status, 413, "{}", too_many.text());

    let fits = ep.ndjson("big_input", &many[..50]).await;
    assert_eq!(fits.counts(), counts(50, 0, 0, 0, 0));
    ingest.shutdown().await;
}

/// Bearer tokens: none or a wrong one is 401 and applies nothing.
pub async fn auth(url: &str) {
    let ingest = Ingest::start_with_token(url, "[tables.auth_t]\ncreate = true\n").await;
    let event = json!({"id": "a", "ts_ms": 1}).to_string();
    let mut anonymous = ingest.endpoint.clone();
    anonymous.token = None;
    let none = anonymous
        .post("auth_t", "application/json", event.clone())
        .await;
    assert_eq!(none.status, 401, "{}", none.text());
    assert!(none.headers.contains_key("www-authenticate"));
    anonymous.token = Some("test-token-0123456789abcdeX".into());
    let wrong = anonymous
        .post("auth_t", "application/json", event.clone())
        .await;
    assert_eq!(wrong.status, 401);
    let basic = anonymous
        .post_with(
            "auth_t",
            "application/json",
            &[("authorization", format!("Basic {TOKEN}"))],
            event.clone(),
        )
        .await;
    assert_eq!(basic.status, 401);
    let exists: i64 = ingest
        .db
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'auth_t'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(exists, 0, "a refused request creates nothing");
    let ok = ingest
        .endpoint
        .post("auth_t", "application/json", event)
        .await;
    assert_eq!(ok.counts(), counts(1, 0, 0, 0, 0));
    ingest.shutdown().await;
}

/// A missing table without `create` is 404; with it, the default shape.
/// Health, metrics and the OpenAPI document are served.
pub async fn tables_and_operations(url: &str) {
    let ingest = Ingest::start(url, "[tables.made_here]\ncreate = true\n").await;
    let ep = &ingest.endpoint;
    let missing = ep
        .post(
            "not_there",
            "application/json",
            json!({"id": "a", "ts_ms": 1}).to_string(),
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text());
    let bad_name = ep
        .post(
            "Not-A-Name",
            "application/json",
            json!({"id": "a", "ts_ms": 1}).to_string(),
        )
        .await;
    assert_eq!(bad_name.status, 400);

    let made = ep
        .post(
            "made_here",
            "application/json",
            json!({"id": "a", "ts_ms": 1}).to_string(),
        )
        .await;
    assert_eq!(made.counts(), counts(1, 0, 0, 0, 0));
    let shape: Vec<(String, String, String)> = ingest
        .db
        .query(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_name = 'made_here' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want = [
        ("id", "text", "NO"),
        ("payload", "jsonb", "NO"),
        ("position", "bigint", "YES"),
        ("ingested_at", "timestamp with time zone", "NO"),
    ];
    assert_eq!(
        shape,
        want.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    );

    let health = ep.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["database"], "up");
    let metrics = ep.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("cdc_ingest_events_total{outcome=\"Applied\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("cdc_ingest_rejects_total{reason=\"TableNotFound\"} 1"),
        "{text}"
    );
    assert!(text.contains("cdc_ingest_commit_seconds_bucket"), "{text}");
    assert!(text.contains("cdc_ingest_batch_events_count 1"), "{text}");
    assert!(text.contains("cdc_ingest_queue_events 0"), "{text}");
    let openapi = ep.get("/openapi.json").await;
    assert_eq!(openapi.status, 200);
    assert!(openapi.json()["paths"]["/v1/tables/{table}/events"]["post"].is_object());
    ingest.shutdown().await;
}

/// SigV4-signed requests against an IAM file in the proxy's format: a
/// signed request is applied, a tampered or unauthorized one is 401.
pub async fn sigv4_auth(url: &str) {
    use sextant_cdc_ingest::ingest::iam::Signer;
    let dir = tempfile::tempdir().unwrap();
    let iam_path = dir.path().join("iam.toml");
    std::fs::write(
        &iam_path,
        r#"
region = "eu-central-1"
account = "123456789012"
cluster_id = "dev"
[[iam_users]]
name = "producer"
access_keys = [{ id = "AKIAPRODUCEREXAMPLE1", secret = "producer-secret-0123456789" }]
policies = ['{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sextant-ingest:PutEvents", "Resource": "arn:aws:sextant-ingest:eu-central-1:123456789012:table:dev/signed_*"}}']
"#,
    )
    .unwrap();
    let ingest = Ingest::start(
        url,
        &format!(
            "[auth]\niam_file = {:?}\n[defaults]\ncreate = true\n",
            iam_path.display().to_string()
        ),
    )
    .await;
    let ep = &ingest.endpoint;
    let signer = Signer {
        key_id: "AKIAPRODUCEREXAMPLE1",
        secret: "producer-secret-0123456789",
        session_token: None,
        region: "eu-central-1",
    };
    let host = ep.addr.to_string();
    let signed = |table: &str, body: &[u8]| {
        signer.sign(
            "POST",
            &format!("/v1/tables/{table}/events"),
            &[("content-type", "application/x-ndjson"), ("host", &host)],
            body,
            std::time::SystemTime::now(),
        )
    };
    let post = |table: String, headers: Vec<(String, String)>, body: Vec<u8>| async move {
        let extra: Vec<(&str, String)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        ep.post_with(&table, "application/x-ndjson", &extra, body)
            .await
    };
    let body = ndjson(&[json!({"id": "a", "ts_ms": 1})]);

    let ok = post(
        "signed_events".into(),
        signed("signed_events", &body),
        body.clone(),
    )
    .await;
    assert_eq!(ok.counts(), counts(1, 0, 0, 0, 0));

    let other = ndjson(&[json!({"id": "b", "ts_ms": 1})]);
    let tampered = post(
        "signed_events".into(),
        signed("signed_events", &body),
        other,
    )
    .await;
    assert_eq!(tampered.status, 401, "{}", tampered.text());
    assert!(
        tampered.text().contains("signature does not match"),
        "{}",
        tampered.text()
    );

    let denied = post(
        "plain_events".into(),
        signed("plain_events", &body),
        body.clone(),
    )
    .await;
    assert_eq!(denied.status, 401, "{}", denied.text());
    assert!(denied.text().contains("not allowed"), "{}", denied.text());

    let bearer = post(
        "signed_events".into(),
        vec![("authorization".into(), format!("Bearer {TOKEN}"))],
        body.clone(),
    )
    .await;
    assert_eq!(bearer.status, 401);
    assert_eq!(ingest.rows("signed_events").await.len(), 1);
    ingest.shutdown().await;
}
