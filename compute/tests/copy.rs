//! COPY FROM STDIN and COPY TO STDOUT end to end, with real clients:
//! tokio-postgres's `copy_in`/`copy_out` (the extended protocol) and psql's
//! `\copy` and inline `COPY ... FROM STDIN` (the simple protocol), over six
//! in-process storage nodes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::server::Server;
use futures_util::{SinkExt, StreamExt};
use tokio_postgres::Client;

fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_owned())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

fn db_error(e: &tokio_postgres::Error) -> &tokio_postgres::error::DbError {
    e.as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {e}"))
}

/// Sends `chunks` through COPY FROM STDIN and returns the row count.
async fn copy_in(c: &Client, sql: &str, chunks: &[&[u8]]) -> Result<u64, tokio_postgres::Error> {
    let sink = c.copy_in(sql).await?;
    futures_util::pin_mut!(sink);
    for chunk in chunks {
        sink.send(Bytes::copy_from_slice(chunk)).await?;
    }
    sink.finish().await
}

/// Everything COPY TO STDOUT sends, and the number of CopyData messages.
async fn copy_out(c: &Client, sql: &str) -> (Vec<u8>, usize) {
    let stream = c
        .copy_out(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    futures_util::pin_mut!(stream);
    let (mut out, mut messages) = (Vec::new(), 0);
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
        messages += 1;
    }
    (out, messages)
}

async fn count(c: &Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Runs psql with `args` and `stdin`, returning (success, stdout, stderr).
async fn psql(s: &Server, args: &[&str], stdin: &[u8]) -> (bool, String, String) {
    let mut all = vec!["-X".to_owned(), "-At".to_owned(), s.conninfo()];
    all.extend(args.iter().map(|a| a.to_string()));
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("psql")
            .args(&all)
            .env("PGPASSWORD", "sextant")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run psql (is postgresql-client installed?)");
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// Values that exercise every escape: NULL, tab, newline, carriage
/// return, backslash, quotes, the delimiters, non-ASCII, and jsonb.
const TRICKY: &[(Option<&str>, Option<&str>)] = &[
    (Some("plain"), Some(r#"{"a": 1}"#)),
    (None, None),
    (Some(""), Some("[]")),
    (Some("tab\there"), Some(r#"{"k": "tab\there"}"#)),
    (Some("new\nline\r\nand cr"), Some(r#"{"nl": "a\nb"}"#)),
    (
        Some("back\\slash \\N \\."),
        Some(r#"{"bs": "\\", "q": "\""}"#),
    ),
    (Some("quote \" and 'single', comma"), Some(r#""a string""#)),
    (Some("\\."), Some("null")),
    (Some("ünïcödé ✓ 日本 🚀"), Some(r#"{"ü": "日本"}"#)),
    (Some("\\N"), Some("1.50")),
];

async fn load_tricky(c: &Client) {
    c.batch_execute("CREATE TABLE tricky (k int PRIMARY KEY, t text, j jsonb)")
        .await
        .unwrap();
    for (i, (t, j)) in TRICKY.iter().enumerate() {
        c.execute(
            "INSERT INTO tricky VALUES ($1, $2, $3::text::jsonb)",
            &[&(i as i32), t, j],
        )
        .await
        .unwrap();
    }
}

async fn tricky_rows(c: &Client, table: &str) -> Vec<(i32, Option<String>, Option<String>)> {
    c.query(
        &format!("SELECT k, t, j::text FROM {table} ORDER BY k"),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricky_values_round_trip_in_text_and_csv() {
    let s = Server::start().await;
    let c = s.connect().await;
    load_tricky(&c).await;
    let want = tricky_rows(&c, "tricky").await;

    // Text: PostgreSQL's escapes, one CopyData per row.
    let (text, messages) = copy_out(&c, "COPY tricky TO STDOUT").await;
    assert_eq!(messages, TRICKY.len());
    let text_s = String::from_utf8(text.clone()).unwrap();
    assert!(
        text_s.starts_with("0\tplain\t{\"a\": 1}\n1\t\\N\t\\N\n2\t\t[]\n3\ttab\\there\t"),
        "{text_s}"
    );
    assert!(text_s.contains("4\tnew\\nline\\r\\nand cr\t"), "{text_s}");
    assert!(
        text_s.contains("5\tback\\\\slash \\\\N \\\\.\t"),
        "{text_s}"
    );
    assert!(text_s.contains("9\t\\\\N\t1.50\n"), "{text_s}");
    c.batch_execute("CREATE TABLE t2 (k int PRIMARY KEY, t text, j jsonb)")
        .await
        .unwrap();
    // Fed in 7-byte pieces, so records and escapes span CopyData messages.
    let pieces: Vec<&[u8]> = text.chunks(7).collect();
    let n = copy_in(&c, "COPY t2 FROM STDIN", &pieces).await.unwrap();
    assert_eq!(n, TRICKY.len() as u64);
    assert_eq!(tricky_rows(&c, "t2").await, want);

    // CSV with a header: quotes where needed, NULL unquoted and empty.
    let (csv, _) = copy_out(&c, "COPY tricky TO STDOUT (FORMAT csv, HEADER)").await;
    let csv_s = String::from_utf8(csv.clone()).unwrap();
    assert!(
        csv_s.starts_with("k,t,j\n0,plain,\"{\"\"a\"\": 1}\"\n1,,\n2,\"\",[]\n"),
        "{csv_s}"
    );
    assert!(csv_s.contains("4,\"new\nline\r\nand cr\","), "{csv_s}");
    assert!(csv_s.contains("7,\\.,null\n"), "{csv_s}");
    c.batch_execute("CREATE TABLE t3 (k int PRIMARY KEY, t text, j jsonb)")
        .await
        .unwrap();
    let pieces: Vec<&[u8]> = csv.chunks(5).collect();
    copy_in(
        &c,
        "COPY t3 FROM STDIN WITH (FORMAT csv, HEADER MATCH)",
        &pieces,
    )
    .await
    .unwrap();
    assert_eq!(tricky_rows(&c, "t3").await, want);

    // Other delimiters, NULL strings and quotes, old and new syntax.
    let (semi, _) = copy_out(
        &c,
        "COPY tricky (k, t) TO STDOUT WITH CSV DELIMITER ';' NULL 'NULL' QUOTE '''' FORCE QUOTE t",
    )
    .await;
    let semi_s = String::from_utf8(semi.clone()).unwrap();
    assert!(semi_s.starts_with("0;'plain'\n1;NULL\n2;''\n"), "{semi_s}");
    assert!(
        semi_s.contains("6;'quote \" and ''single'', comma'\n"),
        "{semi_s}"
    );
    c.batch_execute("CREATE TABLE t4 (k int PRIMARY KEY, t text)")
        .await
        .unwrap();
    copy_in(
        &c,
        "COPY t4 FROM STDIN (FORMAT csv, DELIMITER ';', NULL 'NULL', QUOTE '''')",
        &[&semi],
    )
    .await
    .unwrap();
    let got: Vec<(i32, Option<String>)> = c
        .query("SELECT k, t FROM t4 ORDER BY k", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want_kt: Vec<(i32, Option<String>)> =
        want.iter().map(|(k, t, _)| (*k, t.clone())).collect();
    assert_eq!(got, want_kt);

    // A query's rows, and a column list.
    let (q, _) = copy_out(
        &c,
        "COPY (SELECT k, j->>'a' AS a FROM tricky WHERE k < 2 ORDER BY k) TO STDOUT (FORMAT csv, HEADER true, FORCE_QUOTE *)",
    )
    .await;
    // FORCE_QUOTE quotes every value but NULL.
    assert_eq!(String::from_utf8(q).unwrap(), "k,a\n\"0\",\"1\"\n\"1\",\n");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_input_escapes_defaults_and_column_lists() {
    let s = Server::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE e (id int PRIMARY KEY, a text, b int DEFAULT 42, u uuid DEFAULT gen_random_uuid(), n int NOT NULL DEFAULT 1)",
    )
    .await
    .unwrap();
    // Octal and hex escapes, an escaped delimiter, CRLF line ends, `\.`.
    let data =
        b"1\t\\101\\x42\\x4a \\\\ \\t|\\\t\r\n2\t\\N\r\n\\.\r\nignored after the end marker\n";
    assert_eq!(
        copy_in(&c, "COPY e (id, a) FROM STDIN", &[data])
            .await
            .unwrap(),
        2
    );
    let rows = c
        .query("SELECT id, a, b, n, u IS NOT NULL FROM e ORDER BY id", &[])
        .await
        .unwrap();
    let got: Vec<(i32, Option<String>, i32, i32, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Some("ABJ \\ \t|\t".to_owned()), 42, 1, true),
            (2, None, 42, 1, true),
        ]
    );
    let uuids: Vec<String> = c
        .query("SELECT u::text FROM e", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_ne!(uuids[0], uuids[1], "a volatile default per row");
    // FORCE_NOT_NULL and FORCE_NULL.
    c.batch_execute("CREATE TABLE f (k int PRIMARY KEY, a text, b text)")
        .await
        .unwrap();
    copy_in(
        &c,
        "COPY f FROM STDIN (FORMAT csv, FORCE_NOT_NULL (a), FORCE_NULL (b))",
        &[b"1,,\"\"\n2,\"\",\n"],
    )
    .await
    .unwrap();
    let got: Vec<(Option<String>, Option<String>)> = c
        .query("SELECT a, b FROM f ORDER BY k", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        got,
        vec![(Some(String::new()), None), (Some(String::new()), None)]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_leaves_nothing_behind() {
    let s = Server::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (k int PRIMARY KEY, v int NOT NULL, j jsonb)")
        .await
        .unwrap();
    // 3,000 good rows (several batches) before the bad one.
    let mut good = Vec::new();
    for i in 0..3000 {
        good.extend_from_slice(format!("{i}\t{i}\t{{\"i\": {i}}}\n").as_bytes());
    }
    let cases: &[(&[u8], &str, &str, &str)] = &[
        (
            b"x\t1\t{}\n",
            "22P02",
            "invalid input syntax for type integer: \"x\"",
            "COPY t, line 3001, column k: \"x\"",
        ),
        (
            b"9999\t1\tnotjson\n",
            "22P02",
            "invalid input syntax for type json",
            "COPY t, line 3001, column j: \"notjson\"",
        ),
        (
            b"9999\t1\n",
            "22P04",
            "missing data for column \"j\"",
            "COPY t, line 3001: \"9999\t1\"",
        ),
        (
            b"9999\t1\t{}\textra\n",
            "22P04",
            "extra data after last expected column",
            "COPY t, line 3001: \"9999\t1\t{}\textra\"",
        ),
        (
            b"9999\t\\N\t{}\n",
            "23502",
            "null value in column \"v\" of relation \"t\" violates not-null constraint",
            "COPY t, line 3001: \"9999\t\\N\t{}\"",
        ),
        (
            b"17\t1\t{}\n",
            "23505",
            "duplicate key value violates unique constraint \"t_pkey\"",
            "COPY t, line 3001",
        ),
        (
            b"9999\t1\t{}\r\n",
            "22P04",
            "literal carriage return found in data",
            "COPY t, line 3001",
        ),
        (
            b"9999\t\xff\t{}\n",
            "22021",
            "invalid byte sequence for encoding \"UTF8\": 0xff",
            "COPY t, line 3001",
        ),
    ];
    for (bad, want_code, message, context) in cases {
        let e = copy_in(&c, "COPY t FROM STDIN", &[&good, bad, b"10000\t1\t{}\n"])
            .await
            .unwrap_err();
        assert_eq!(code(&e), *want_code, "{e:?}");
        let db = db_error(&e);
        assert_eq!(db.message(), *message);
        assert_eq!(db.where_(), Some(*context));
        assert_eq!(count(&c, "t").await, 0, "nothing of a failed COPY remains");
    }
    // A client that gives up sends CopyFail.
    {
        let sink = c.copy_in::<_, Bytes>("COPY t FROM STDIN").await.unwrap();
        futures_util::pin_mut!(sink);
        sink.send(Bytes::from(good.clone())).await.unwrap();
        // Dropped without finish: tokio-postgres sends CopyFail.
    }
    assert_eq!(count(&c, "t").await, 0);
    // Errors before any data: no table, bad column, bad options. (Through
    // the simple protocol: after an Execute fails, tokio-postgres's
    // copy_in sends CopyFail and a second Sync, and with PostgreSQL too
    // takes the extra ReadyForQuery for the next request's.)
    for (sql, want) in [
        ("COPY nope FROM STDIN", "42P01"),
        ("COPY t (k, nope) FROM STDIN", "42703"),
        ("COPY t (k, k) FROM STDIN", "42701"),
        ("COPY t FROM STDIN (DELIMITER 'a')", "22023"),
        ("COPY t FROM '/etc/passwd'", "0A000"),
    ] {
        let e = c.simple_query(sql).await.unwrap_err();
        assert_eq!(code(&e), want, "{sql}");
    }
    let e = copy_in(&c, "COPY nope FROM STDIN", &[]).await.unwrap_err();
    assert_eq!(code(&e), "42P01");
    let c = s.connect().await;
    // The connection is still usable, and a good COPY works.
    assert_eq!(
        copy_in(&c, "COPY t FROM STDIN", &[&good]).await.unwrap(),
        3000
    );
    assert_eq!(count(&c, "t").await, 3000);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_inside_a_transaction_block() {
    let s = Server::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (k int PRIMARY KEY, v text)")
        .await
        .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    c.execute("INSERT INTO t VALUES (0, 'zero')", &[])
        .await
        .unwrap();
    copy_in(&c, "COPY t FROM STDIN", &[b"1\tone\n2\ttwo\n"])
        .await
        .unwrap();
    assert_eq!(count(&c, "t").await, 3, "later statements see the rows");
    // COPY TO sees the block's own rows too.
    let (out, _) = copy_out(&c, "COPY t TO STDOUT").await;
    assert_eq!(out, b"0\tzero\n1\tone\n2\ttwo\n");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&c, "t").await, 0);

    c.batch_execute("BEGIN").await.unwrap();
    copy_in(&c, "COPY t FROM STDIN", &[b"1\tone\n"])
        .await
        .unwrap();
    let e = copy_in(&c, "COPY t FROM STDIN", &[b"2\ttwo\nbad\tthree\n"])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22P02");
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(code(&e), "25P02", "the block failed");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&c, "t").await, 0);

    c.batch_execute("BEGIN").await.unwrap();
    copy_in(&c, "COPY t FROM STDIN", &[b"1\tone\n"])
        .await
        .unwrap();
    c.batch_execute("COMMIT").await.unwrap();
    assert_eq!(count(&c, "t").await, 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_rows() {
    let s = Server::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE events (id text PRIMARY KEY, payload jsonb, pos bigint, at timestamptz)",
    )
    .await
    .unwrap();
    c.batch_execute("CREATE INDEX events_site ON events ((payload->>'site'))")
        .await
        .unwrap();
    const N: u64 = 100_000;
    let sink = c
        .copy_in::<_, Bytes>("COPY events FROM STDIN")
        .await
        .unwrap();
    futures_util::pin_mut!(sink);
    let mut buf = Vec::new();
    for i in 0..N {
        buf.extend_from_slice(
            format!(
                "ev-{i:07}\t{{\"site\": \"s{}\", \"seq\": {i}, \"tags\": [\"a\", \"b\"]}}\t{i}\t2024-01-01 00:00:00+00\n",
                i % 10
            )
            .as_bytes(),
        );
        // Uneven messages, so records span them.
        if buf.len() > 60_000 + (i as usize % 7) * 1000 {
            sink.send(Bytes::from(std::mem::take(&mut buf)))
                .await
                .unwrap();
        }
    }
    sink.send(Bytes::from(buf)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), N);
    assert_eq!(count(&c, "events").await, N as i64);
    let r = c
        .query_one(
            "SELECT payload->>'seq', pos FROM events WHERE id = 'ev-0054321'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, Option<String>>(0).as_deref(), Some("54321"));
    assert_eq!(r.get::<_, i64>(1), 54321);
    let r = c
        .query_one(
            "SELECT count(*) FROM events WHERE payload->>'site' = 's3'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), (N / 10) as i64);
    let (out, messages) = copy_out(&c, "COPY events (id, pos) TO STDOUT").await;
    assert_eq!(messages, N as usize);
    assert!(out.starts_with(b"ev-0000000\t0\nev-0000001\t1\n"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_copy_from_files_and_to_stdout() {
    let s = Server::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE p (id int PRIMARY KEY, name text, doc jsonb)")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.csv");
    let mut csv = String::from("id,name,doc\n");
    for i in 0..2500 {
        csv.push_str(&format!(
            "{i},\"name, {i}\nline two\",\"{{\"\"n\"\": {i}}}\"\n"
        ));
    }
    std::fs::write(&file, &csv).unwrap();
    let (ok, out, err) = psql(
        &s,
        &[
            "-c",
            &format!("\\copy p from '{}' csv header", file.display()),
        ],
        b"",
    )
    .await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "COPY 2500");
    assert_eq!(count(&c, "p").await, 2500);

    let (ok, out, err) = psql(
        &s,
        &[
            "-c",
            "\\copy (select id, name, doc->>'n' from p where id < 2 order by id) to stdout csv",
        ],
        b"",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "0,\"name, 0\nline two\",0\n1,\"name, 1\nline two\",1\n"
    );

    // Inline data through psql's stdin, then the rest of the query string.
    c.batch_execute("CREATE TABLE q (k int, v text)")
        .await
        .unwrap();
    let (ok, out, err) = psql(
        &s,
        &["-c", "COPY q FROM STDIN; SELECT count(*), max(v) FROM q"],
        b"1\ta\n2\tb\n\\.\n",
    )
    .await;
    assert!(ok, "{out}{err}");
    assert_eq!(out, "COPY 2\n2|b\n");
    // A script with COPY data inline, as pg_dump writes it.
    let script =
        "COPY q (k, v) FROM stdin;\n3\tc\n4\t\\N\n\\.\nSELECT count(*) FROM q WHERE v IS NULL;\n";
    let (ok, out, err) = psql(&s, &["-v", "ON_ERROR_STOP=1", "-f", "-"], script.as_bytes()).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out, "COPY 2\n1\n");
    // An error reports PostgreSQL's CONTEXT line.
    let (ok, _, err) = psql(&s, &["-c", "COPY q FROM STDIN"], b"5\tx\nfive\ty\n").await;
    assert!(!ok);
    assert!(
        err.contains("invalid input syntax for type integer: \"five\"")
            && err.contains("CONTEXT:  COPY q, line 2, column k: \"five\""),
        "{err}"
    );
    assert_eq!(count(&c, "q").await, 4);
    tokio::time::timeout(Duration::from_secs(15), s.stop())
        .await
        .unwrap();
}
