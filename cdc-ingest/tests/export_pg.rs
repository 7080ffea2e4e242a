//! The export library against real PostgreSQL, for what the binary's
//! scenarios (`tests/export.rs` in the root package) do not reach: a table
//! wider than one `json_build_object` call, without a primary key, with a
//! `json` column holding newlines and a `timestamp` (no zone) time column;
//! NDJSON rows are compared with PostgreSQL's own `row_to_json`. And a
//! second exporter of the same table into the same directory is refused.

use std::sync::Arc;
use std::time::Duration;

use sextant_cdc_ingest::export::metrics::ExportMetrics;
use sextant_cdc_ingest::export::sql::{Format, TableName};
use sextant_cdc_ingest::export::window::{Period, UnixTime};
use sextant_cdc_ingest::export::{self, ExportConfig, ExportError, Exporter};
use sextant_testkit::postgres::RealPostgres;
use tokio_postgres::NoTls;

fn config(url: &str, table: &str, out: &std::path::Path, format: Format) -> ExportConfig {
    ExportConfig {
        database_url: url.to_owned(),
        table: TableName::parse(table).unwrap(),
        time_column: "ts".into(),
        every: Period::new(Duration::from_secs(3600)).unwrap(),
        format,
        gzip: false,
        out: out.to_owned(),
        since: Some(UnixTime::parse("2024-01-01T00:00:00Z").unwrap()),
        until: Some(UnixTime::parse("2024-01-01T02:00:00Z").unwrap()),
        grace: Duration::ZERO,
        progress_every: Duration::from_secs(3600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_keyless_tables_match_row_to_json_and_one_exporter_per_table() {
    let pg = RealPostgres::start().expect("start PostgreSQL");
    let (client, conn) = tokio_postgres::connect(&pg.url(), NoTls).await.unwrap();
    tokio::spawn(conn);
    // 60 columns: ts, a json column, then ints and texts; no primary key,
    // and two identical rows.
    let mut cols = vec!["ts timestamp NOT NULL".to_string(), "doc json".into()];
    let mut vals = vec![];
    for i in 0..58 {
        cols.push(if i % 2 == 0 {
            format!("n{i} int4")
        } else {
            format!("s{i} text")
        });
    }
    for (row, ts) in [
        (1, "2024-01-01 00:59:59.999999"),
        (2, "2024-01-01 00:00:00"),
        (2, "2024-01-01 00:00:00"),
        (3, "2024-01-01 01:00:00"),
    ] {
        let mut v = vec![
            format!("'{ts}'"),
            format!("E'{{\"row\" :\\n {row}, \"b\": [1,\\t2]}}'"),
        ];
        for i in 0..58 {
            v.push(if i % 2 == 0 {
                format!("{}", row * 100 + i)
            } else {
                format!("'r{row} \"c{i}\"'")
            });
        }
        vals.push(format!("({})", v.join(", ")));
    }
    client
        .batch_execute(&format!(
            "CREATE TABLE wide ({}); INSERT INTO wide VALUES {};",
            cols.join(", "),
            vals.join(", ")
        ))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&pg.url(), "wide", dir.path(), Format::Ndjson);
    let metrics = Arc::new(ExportMetrics::new());

    // While one exporter holds the table's lock, another is refused.
    let holder = Exporter::open(cfg.clone(), metrics.clone(), Box::new(|_| {}))
        .await
        .unwrap();
    match Exporter::open(cfg.clone(), metrics.clone(), Box::new(|_| {})).await {
        Err(e @ ExportError::Locked { .. }) => {
            assert!(e.to_string().contains("another sextant export"), "{e}")
        }
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second exporter of the same table was allowed"),
    }
    drop(holder);

    let n = export::run_once(cfg, metrics.clone(), Box::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(n, 2);
    for (h, start, end) in [
        (0, "2024-01-01 00:00:00", "2024-01-01 01:00:00"),
        (1, "2024-01-01 01:00:00", "2024-01-01 02:00:00"),
    ] {
        let name = format!("wide_20240101T0{h}0000Z_20240101T0{}0000Z.ndjson", h + 1);
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let got: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let want: Vec<serde_json::Value> = client
            .query(
                &format!(
                    "SELECT row_to_json(w)::text FROM (SELECT ts, doc::jsonb AS doc, {} FROM wide) w \
                     WHERE ts >= '{start}' AND ts < '{end}' ORDER BY ts",
                    cols[2..]
                        .iter()
                        .map(|c| c.split(' ').next().unwrap())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
            .collect();
        assert_eq!(got, want, "window {h}");
        // Keys in column order.
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("{\"ts\" : \"2024-01-01T0"), "{first}");
        assert!(first.find("\"n0\"").unwrap() < first.find("\"s57\"").unwrap());
    }
    let m = metrics.encode(UnixTime::parse("2024-01-01T02:00:00Z").unwrap());
    assert!(m.contains("export_rows_total 4"), "{m}");
}
